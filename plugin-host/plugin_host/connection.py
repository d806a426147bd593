"""The connection file: where a running engine listens and the key its messages are signed with.

The engine writes it (0600) when it starts; clients read it to connect.  Its
folder is computed with the standard library so an editor's Python needs no
platformdirs.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass


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
