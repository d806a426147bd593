"""The engine wire protocol: signed JSON messages in ZeroMQ multipart frames.

Modelled on the Jupyter kernel protocol::

    [routing ids...] b"<IDS|MSG>" signature header parent_header content

``signature`` is the hex HMAC-SHA256 of the three JSON frames under the key
from the connection file.  Every header carries a message id (for replies
and replay protection), a session id, an ISO time and the protocol version.
JSON only, never pickle; times are exact: strings such as ``"12.5"`` or
``"1001/30000"`` (floats are refused for media times).

This module is imported by the thin client, so it uses the standard library
only (and knows nothing of zmq sockets: it turns frames into messages).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any, Optional

# Exact time is part of the wire's contract; its rules live in plugin_host.timebase
# (re-exported here for code written against this module).
from .timebase import TimeError, exact_rate, parse_number, round_half_away, to_index  # noqa: F401

PROTOCOL_VERSION = "1.0"
DELIMITER = b"<IDS|MSG>"
#: hard limit on one message, enforced by the socket (ZMQ_MAXMSGSIZE) and on receipt
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: messages older than this are refused, so the replay guard need only remember this long
REPLAY_WINDOW_S = 300.0
#: clock skew tolerated for messages that claim to come from the future
FUTURE_SKEW_S = 60.0

REQUEST_TYPES = ("hello", "submit", "cancel", "status", "jobs", "job", "shutdown", "heartbeat")
#: ``retry``: an item runs again after its worker (or the engine) died; the spans a client already has are
#: not sent again, so adapters that place spans never count one twice
EVENT_TYPES = ("accepted", "progress", "span", "retry", "item", "done", "failed", "cancelled")
TERMINAL_EVENTS = ("done", "failed", "cancelled")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
WAV_FORMATS = ("pcm24", "pcm16", "float")

#: header and parent header frames (a few hundred bytes in practice)
MAX_HEADER_BYTES = 64 * 1024
#: nesting of JSON arrays and objects in any frame (items nest 4 deep; record_start is the adapter's)
MAX_JSON_DEPTH = 32
#: the largest JSON integer accepted where a number is expected (18 digits)
MAX_EXACT_INT = 10**18 - 1

MAX_ITEMS = 1000
MAX_PROMPT_CHARS = 2000
MAX_PATH_CHARS = 4096
MAX_OPTIONS = 32
MAX_RECORD_START_BYTES = 1024


class ProtocolError(Exception):
    """A message that cannot be accepted; ``field`` names the offending part."""

    def __init__(self, code: str, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.code = code
        self.field = field
        self.message = message
        #: the sender's header, once its signature was verified (to address the error reply)
        self.header: dict = {}

    def to_content(self) -> dict:
        return {"status": "error", "code": self.code, "field": self.field, "message": str(self)}


@dataclass
class Message:
    msg_type: str
    content: dict
    header: dict
    parent: dict = field(default_factory=dict)
    #: ZeroMQ routing frames (ROUTER side), kept to address the reply
    identities: list = field(default_factory=list)

    @property
    def msg_id(self) -> str:
        return self.header.get("msg_id", "")

    @property
    def parent_id(self) -> str:
        return self.parent.get("msg_id", "") if self.parent else ""


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class Session:
    """Signs outgoing and verifies incoming messages with one key."""

    def __init__(self, key: bytes, session_id: Optional[str] = None):
        if isinstance(key, str):
            key = key.encode("ascii")
        if not key:
            raise ValueError("an empty key would leave messages unsigned")
        self.key = key
        self.session_id = session_id or uuid.uuid4().hex

    def sign(self, *parts: bytes) -> bytes:
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode("ascii")

    def header(self, msg_type: str) -> dict:
        return {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "session": self.session_id,
            "date": _now_iso(),
            "version": PROTOCOL_VERSION,
        }

    def serialize(self, msg_type: str, content: dict, parent: Optional[dict] = None,
                  identities: Optional[list] = None) -> tuple[list[bytes], dict]:
        """Frames for one message, and its header (whose ``msg_id`` replies will name)."""
        header = self.header(msg_type)
        h, p, c = _dumps(header), _dumps(parent or {}), _dumps(content)
        return list(identities or []) + [DELIMITER, self.sign(h, p, c), h, p, c], header

    def deserialize(self, frames: list[bytes], *, verify: bool = True) -> Message:
        """Parse and check frames; raises :class:`ProtocolError` naming the bad part.

        Jupyter's order: sizes first, then the signature over the raw bytes, and
        only then is any JSON parsed (with bounded nesting), so an unsigned message
        costs one HMAC and can never reach the parser.
        """
        try:
            split = frames.index(DELIMITER)
        except ValueError:
            raise ProtocolError("frames", "frames", "no <IDS|MSG> delimiter; not an engine message") from None
        identities, body = frames[:split], frames[split + 1:]
        if len(body) != 4:
            raise ProtocolError("frames", "frames", f"expected 4 frames after the delimiter, got {len(body)}")
        if sum(len(f) for f in body) > MAX_MESSAGE_BYTES:
            raise ProtocolError("size", "frames", f"message is over {MAX_MESSAGE_BYTES} bytes")
        signature, h, p, c = body
        for frame, name in ((h, "header"), (p, "parent_header")):
            if len(frame) > MAX_HEADER_BYTES:
                raise ProtocolError("size", name, f"is over {MAX_HEADER_BYTES} bytes")
        if verify and (len(signature) != 64 or not hmac.compare_digest(signature, self.sign(h, p, c))):
            raise ProtocolError("signature", "signature", "bad signature (wrong key, or the message was altered)")
        header = _loads_object(h, "header")
        try:
            _check_header(header)
            parent = _loads_object(p, "parent_header")
            content = _loads_object(c, "content")
        except ProtocolError as exc:
            if verify:
                exc.header = {k: header[k] for k in ("msg_id", "msg_type", "session")
                              if isinstance(header.get(k), str) and len(header[k]) <= 128}
            raise
        return Message(header["msg_type"], content, header, parent, identities)


def _loads_object(data: bytes, name: str) -> dict:
    _check_nesting(data, name)
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise ProtocolError("json", name, f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("json", name, f"not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(obj, dict):
        raise ProtocolError("schema", name, f"must be a JSON object, got {type(obj).__name__}")
    return obj


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _check_nesting(data: bytes, name: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_JSON_DEPTH`, before the recursive parser sees it.

    Strings are cut out and everything but brackets deleted by C-level passes
    (``re.sub``, ``bytes.translate``), so only the brackets are walked in Python.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return  # cannot be deeper than the number of openers
    depth = 0
    for byte in _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
        if byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ProtocolError("json", name, f"nested deeper than {MAX_JSON_DEPTH} levels")
        else:
            depth -= 1


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _check_header(header: dict) -> None:
    for key in ("msg_id", "msg_type", "session", "date", "version"):
        value = header.get(key)
        if not isinstance(value, str) or not value or len(value) > 128:
            raise ProtocolError("schema", f"header.{key}", "missing, or not a short string")
    if header["version"].split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
        raise ProtocolError(
            "version", "header.version",
            f"protocol {header['version']} is not compatible with this engine's {PROTOCOL_VERSION}",
        )
    message_time(header)


def message_time(header: dict) -> float:
    try:
        return datetime.fromisoformat(header["date"]).timestamp()
    except (KeyError, ValueError, TypeError):
        raise ProtocolError("schema", "header.date", "not an ISO 8601 time") from None


class ReplayGuard:
    """Refuses a message id seen before, or a message too old to remember."""

    def __init__(self, window: float = REPLAY_WINDOW_S):
        self.window = window
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, header: dict, now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        while self._seen and next(iter(self._seen.values())) < now - self.window:
            self._seen.popitem(last=False)
        sent = message_time(header)
        if sent < now - self.window:
            raise ProtocolError("replay", "header.date", f"message is older than {int(self.window)} s (replayed?)")
        if sent > now + FUTURE_SKEW_S:
            raise ProtocolError("replay", "header.date", "message is dated in the future")
        if header["msg_id"] in self._seen:
            raise ProtocolError("replay", "header.msg_id", "message id already seen (replayed message)")
        self._seen[header["msg_id"]] = now


# ------------------------------------------------------------------ content schemas


def parse_exact(value: Any, name: str) -> Fraction:
    """An exact non-negative number (a time, a speed) from a JSON string or integer.

    Strings hold a decimal or a fraction (``"12.5"``, ``"1001/30000"``).
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise ProtocolError("schema", name, 'give exact values as strings such as "12.5" or "1001/30000", not floats')
    if isinstance(value, int):
        if abs(value) > MAX_EXACT_INT:
            raise ProtocolError("range", name, f"is out of range (at most {MAX_EXACT_INT})")
        t = Fraction(value)
    elif isinstance(value, str):
        try:
            t = parse_number(value, name)
        except TimeError as exc:
            raise ProtocolError("schema", name, str(exc).split(": ", 1)[-1]) from None
    else:
        raise ProtocolError("schema", name, 'must be a string such as "12.5" or "1001/30000"')
    if t < 0:
        raise ProtocolError("range", name, f"must not be negative, got {value}")
    return t


def _string(obj: dict, key: str, name: str, *, limit: int, required: bool = False, default: str = "") -> str:
    if key not in obj:
        if required:
            raise ProtocolError("schema", name, "is required")
        return default
    value = obj[key]
    if not isinstance(value, str):
        raise ProtocolError("schema", name, f"must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ProtocolError("schema", name, f"is {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise ProtocolError("schema", name, "contains a NUL character")
    return value


def _int(obj: dict, key: str, name: str, *, lo: int, hi: int, default: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("schema", name, f"must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ProtocolError("range", name, f"must be between {lo} and {hi}")
    return value


def _no_extra(obj: dict, allowed: tuple, prefix: str) -> None:
    for key in obj:
        if key not in allowed:
            raise ProtocolError("schema", f"{prefix}{key}", "unknown field")


def _job_id(content: dict) -> str:
    job_id = _string(content, "job_id", "job_id", limit=64, required=True)
    if not job_id or not all(c in "0123456789abcdef" for c in job_id):
        raise ProtocolError("schema", "job_id", "not a job id")
    return job_id


def check_request(msg_type: str, content: dict) -> dict:
    """Validate a request's content; returns the normalised content (a submit's items as typed ``Item`` s)."""
    if msg_type not in REQUEST_TYPES:
        raise ProtocolError("unknown_type", "header.msg_type", f"unknown message type {msg_type[:40]!r}")
    if msg_type == "hello":
        _no_extra(content, ("version", "client"), "")
        version = _string(content, "version", "version", limit=32, required=True)
        return {"version": version, "client": _string(content, "client", "client", limit=200)}
    if msg_type == "submit":
        from .items import Item  # items builds on the field checks above

        _no_extra(content, ("items", "out_dir", "submit_id"), "")
        items = content.get("items")
        if not isinstance(items, list) or not items:
            raise ProtocolError("schema", "items", "must be a non-empty list")
        if len(items) > MAX_ITEMS:
            raise ProtocolError("schema", "items", f"has {len(items)} entries; the limit is {MAX_ITEMS}")
        out_dir = _string(content, "out_dir", "out_dir", limit=MAX_PATH_CHARS, required=True)
        if not os.path.isabs(out_dir):
            raise ProtocolError("schema", "out_dir", "must be an absolute path")
        submit_id = _string(content, "submit_id", "submit_id", limit=64)
        return {
            # Typed once here; the engine resolves these objects, never their wire form again.
            "items": [Item.from_wire(item, f"items[{i}]") for i, item in enumerate(items)],
            "out_dir": out_dir,
            "submit_id": submit_id,
        }
    if msg_type == "cancel":
        _no_extra(content, ("job_id",), "")
        return {"job_id": _job_id(content)}
    if msg_type == "job":
        _no_extra(content, ("job_id", "watch", "since"), "")
        watch = content.get("watch", False)
        if not isinstance(watch, bool):
            raise ProtocolError("schema", "watch", "must be true or false")
        since = _int(content, "since", "since", lo=0, hi=2**62, default=0)
        return {"job_id": _job_id(content), "watch": watch, "since": since}
    if msg_type == "jobs":
        _no_extra(content, ("limit", "state"), "")
        state = _string(content, "state", "state", limit=16)
        if state and state not in JOB_STATES:
            raise ProtocolError("schema", "state", f"must be one of {', '.join(JOB_STATES)}")
        return {"limit": _int(content, "limit", "limit", lo=1, hi=10000, default=100), "state": state}
    _no_extra(content, (), "")
    return {}


# ------------------------------------------------------------------ connection file


@dataclass(frozen=True)
class ConnectionInfo:
    endpoint: str
    key: str
    pid: int
    version: str
    path: str = ""

    def to_json(self) -> dict:
        return {"endpoint": self.endpoint, "key": self.key, "pid": self.pid, "version": self.version,
                "signature_scheme": "hmac-sha256", "transport": self.endpoint.split(":", 1)[0]}


def engine_dir() -> str:
    """The user's runtime folder for the engine (connection file, autostart log).

    Computed with the standard library (the client may not import
    platformdirs); the same rule as platformdirs' user runtime/data dirs.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
        return os.path.join(base, "foley-engine")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support/foley-engine")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "foley-engine")
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data, "foley-engine")


def default_connection_file() -> str:
    """``$FOLEY_ENGINE_CONNECTION`` if set, else ``engine.json`` in :func:`engine_dir`."""
    return os.environ.get("FOLEY_ENGINE_CONNECTION") or os.path.join(engine_dir(), "engine.json")


def read_connection_file(path: str) -> ConnectionInfo:
    """Raises FileNotFoundError when absent and ValueError when unreadable."""
    with open(path, "r", encoding="utf-8") as f:
        try:
            data = json.load(f)
            return ConnectionInfo(str(data["endpoint"]), str(data["key"]), int(data["pid"]), str(data["version"]), path)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not an engine connection file ({exc})") from None

