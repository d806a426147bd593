"""The message schema: which requests and events exist, and what each request may carry.

The envelope (:mod:`.envelope`) says a message is authentic and well formed;
this module says its content makes sense.  A submit's items are read by
:meth:`.items.Item.from_wire`, the one reader of wire items, so the engine
and every client agree on what an item is.
"""
from __future__ import annotations

import os

from .fields import MAX_PATH_CHARS, ProtocolError, int_field, refuse_unknown, string_field
from .items import Item

REQUEST_TYPES = ("hello", "submit", "cancel", "status", "jobs", "job", "shutdown", "heartbeat")
#: ``retry``: an item runs again after its worker (or the engine) died; the spans a client already has are
#: not sent again, so adapters that place spans never count one twice
EVENT_TYPES = ("accepted", "progress", "span", "retry", "item", "done", "failed", "cancelled")
TERMINAL_EVENTS = ("done", "failed", "cancelled")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")

MAX_ITEMS = 1000


def _job_id(content: dict) -> str:
    job_id = string_field(content, "job_id", "job_id", limit=64, required=True)
    if not job_id or not all(c in "0123456789abcdef" for c in job_id):
        raise ProtocolError("schema", "job_id", "not a job id")
    return job_id


def check_request(msg_type: str, content: dict) -> dict:
    """Validate a request's content; returns the normalised content (a submit's items as typed ``Item`` s)."""
    if msg_type not in REQUEST_TYPES:
        raise ProtocolError("unknown_type", "header.msg_type", f"unknown message type {msg_type[:40]!r}")
    if msg_type == "hello":
        refuse_unknown(content, ("version", "client"), "")
        version = string_field(content, "version", "version", limit=32, required=True)
        return {"version": version, "client": string_field(content, "client", "client", limit=200)}
    if msg_type == "submit":
        refuse_unknown(content, ("items", "out_dir", "submit_id"), "")
        items = content.get("items")
        if not isinstance(items, list) or not items:
            raise ProtocolError("schema", "items", "must be a non-empty list")
        if len(items) > MAX_ITEMS:
            raise ProtocolError("schema", "items", f"has {len(items)} entries; the limit is {MAX_ITEMS}")
        out_dir = string_field(content, "out_dir", "out_dir", limit=MAX_PATH_CHARS, required=True)
        if not os.path.isabs(out_dir):
            raise ProtocolError("schema", "out_dir", "must be an absolute path")
        submit_id = string_field(content, "submit_id", "submit_id", limit=64)
        return {
            # Typed once here; the engine resolves these objects, never their wire form again.
            "items": [Item.from_wire(item, f"items[{i}]") for i, item in enumerate(items)],
            "out_dir": out_dir,
            "submit_id": submit_id,
        }
    if msg_type == "cancel":
        refuse_unknown(content, ("job_id",), "")
        return {"job_id": _job_id(content)}
    if msg_type == "job":
        refuse_unknown(content, ("job_id", "watch", "since"), "")
        watch = content.get("watch", False)
        if not isinstance(watch, bool):
            raise ProtocolError("schema", "watch", "must be true or false")
        since = int_field(content, "since", "since", lo=0, hi=2**62, default=0)
        return {"job_id": _job_id(content), "watch": watch, "since": since}
    if msg_type == "jobs":
        refuse_unknown(content, ("limit", "state"), "")
        state = string_field(content, "state", "state", limit=16)
        if state and state not in JOB_STATES:
            raise ProtocolError("schema", "state", f"must be one of {', '.join(JOB_STATES)}")
        return {"limit": int_field(content, "limit", "limit", lo=1, hi=10000, default=100), "state": state}
    refuse_unknown(content, (), "")
    return {}
