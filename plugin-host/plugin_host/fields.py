"""Field checks for wire content: the one error type and the checkers every schema is built from.

The bottom of the wire stack: :mod:`.items` (one item's fields) and
:mod:`.schema` (each request's fields) are written with these, and
:mod:`.envelope` raises the same :class:`ProtocolError`, so a client sees one
kind of refusal whichever part was wrong.  Standard library only.
"""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from .timebase import TimeError, parse_number

#: the largest JSON integer accepted where a number is expected (18 digits)
MAX_EXACT_INT = 10**18 - 1
#: a path on the wire (media, output folder)
MAX_PATH_CHARS = 4096


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

    def within(self, name: str) -> "ProtocolError":
        """The same refusal with its field named inside ``name`` (``end`` -> ``items[3].end``)."""
        return ProtocolError(self.code, f"{name}.{self.field}" if self.field else name, self.message)


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON, NaN and infinities refused: how every frame is written and every size measured."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


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


def check_text(value: Any, name: str, *, limit: int) -> str:
    """A string of at most ``limit`` characters with no NUL."""
    if not isinstance(value, str):
        raise ProtocolError("schema", name, f"must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ProtocolError("schema", name, f"is {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise ProtocolError("schema", name, "contains a NUL character")
    return value


def check_integer(value: Any, name: str, *, lo: int, hi: int) -> int:
    """An integer (not a bool) within ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("schema", name, f"must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ProtocolError("range", name, f"must be between {lo} and {hi}")
    return value


def string_field(obj: dict, key: str, name: str, *, limit: int, required: bool = False, default: str = "") -> str:
    """``obj[key]`` checked by :func:`check_text`; ``default`` when absent (unless required)."""
    if key not in obj:
        if required:
            raise ProtocolError("schema", name, "is required")
        return default
    return check_text(obj[key], name, limit=limit)


def int_field(obj: dict, key: str, name: str, *, lo: int, hi: int, default: int) -> int:
    """``obj[key]`` checked by :func:`check_integer`; ``default`` when absent."""
    return check_integer(obj.get(key, default), name, lo=lo, hi=hi)


def refuse_unknown(obj: dict, allowed: tuple, prefix: str) -> None:
    """Refuse any key of ``obj`` not in ``allowed`` (a typo is an error, never silently ignored)."""
    for key in obj:
        if key not in allowed:
            raise ProtocolError("schema", f"{prefix}{key}", "unknown field")
