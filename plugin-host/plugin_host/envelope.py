"""The signed envelope: ZeroMQ multipart frames <-> :class:`Message`, modelled on the Jupyter kernel protocol::

    [routing ids...] b"<IDS|MSG>" signature header parent_header content

``signature`` is the hex HMAC-SHA256 of the three JSON frames under the key
from the connection file (:mod:`.connection`).  Every header carries a message
id (for replies and replay protection), a session id, an ISO time and the
protocol version.  JSON only, never pickle.  What each message type may carry
is :mod:`.schema`'s job, not this module's.

Imported by the thin client, so it uses the standard library only (and knows
nothing of zmq sockets: it turns frames into messages).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from .fields import ProtocolError, json_bytes

PROTOCOL_VERSION = "1.0"
DELIMITER = b"<IDS|MSG>"
#: hard limit on one message: per frame by the socket (ZMQ_MAXMSGSIZE), for the whole multipart on receipt
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: frames in one message: routing ids (one per proxy hop), the delimiter and the four signed frames
MAX_FRAMES = 16
#: messages older than this are refused, so the replay guard need only remember this long
REPLAY_WINDOW_S = 300.0
#: clock skew tolerated for messages that claim to come from the future
FUTURE_SKEW_S = 60.0
#: header and parent header frames (a few hundred bytes in practice)
MAX_HEADER_BYTES = 64 * 1024
#: nesting of JSON arrays and objects in any frame (items nest 4 deep; record_start is the adapter's)
MAX_JSON_DEPTH = 32


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
        h, p, c = json_bytes(header), json_bytes(parent or {}), json_bytes(content)
        return list(identities or []) + [DELIMITER, self.sign(h, p, c), h, p, c], header

    def deserialize(self, frames: list[bytes], *, verify: bool = True) -> Message:
        """Parse and check frames; raises :class:`ProtocolError` naming the bad part.

        Jupyter's order: sizes first, then the signature over the raw bytes, and
        only then is any JSON parsed (with bounded nesting), so an unsigned message
        costs one HMAC and can never reach the parser.
        """
        check_frame_budget(len(frames), sum(len(f) for f in frames))
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


def check_frame_budget(count: int, total_bytes: int) -> None:
    """Refuse a multipart message over :data:`MAX_FRAMES` frames or :data:`MAX_MESSAGE_BYTES` in all.

    ZMQ_MAXMSGSIZE bounds each frame only, so a peer could send thousands of
    frames before the delimiter; a receiver calls this as each frame arrives
    (before keeping it), the way the signature is checked before any parsing.
    """
    if count > MAX_FRAMES:
        raise ProtocolError("size", "frames", f"message has more than {MAX_FRAMES} frames")
    if total_bytes > MAX_MESSAGE_BYTES:
        raise ProtocolError("size", "frames", f"message is over {MAX_MESSAGE_BYTES} bytes in all")


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
