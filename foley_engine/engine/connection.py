"""The connection file: where the engine listens and the key that signs messages.

``serve`` holds an exclusive OS lock on ``<file>.lock`` for its whole life.
The OS drops the lock when the process dies, even by kill -9, so a lock we
can take means any connection file beside it is stale and is replaced; a lock
we cannot take means a live engine owns the file and we refuse to start.
"""
from __future__ import annotations

import json
import os
import secrets
import sys

from plugin_host.atomic import write_json_atomic
from plugin_host.connection import ConnectionInfo
from plugin_host.envelope import PROTOCOL_VERSION


class EngineAlreadyRunning(Exception):
    pass


def _lock(fd: int) -> bool:
    """Try to take an exclusive lock on ``fd``; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class ConnectionFile:
    """Claim, write and remove one engine's connection file."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.lock_path = self.path + ".lock"
        self._lock_fd = None
        self.stale_removed = False

    def claim(self) -> None:
        folder = os.path.dirname(self.path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _lock(fd):
            os.close(fd)
            owner = ""
            try:
                with open(self.path, encoding="utf-8") as f:
                    owner = f" (pid {json.load(f).get('pid')})"
            except (OSError, ValueError):
                pass
            raise EngineAlreadyRunning(f"an engine is already running on {self.path}{owner}; stop it with `foley engine stop`")
        self._lock_fd = fd
        if os.path.exists(self.path):
            # Left by an engine that died without cleaning up.
            os.unlink(self.path)
            self.stale_removed = True

    def write(self, endpoint: str, key: str) -> ConnectionInfo:
        info = ConnectionInfo(endpoint, key, os.getpid(), PROTOCOL_VERSION, self.path)
        # Private (0600) from its creation, so the key is never readable by others.
        write_json_atomic(self.path, info.to_json(), private=True, indent=1)
        return info

    def release(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                mine = json.load(f).get("pid") == os.getpid()
        except (OSError, ValueError):
            mine = False
        if mine:
            os.unlink(self.path)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def new_key() -> str:
    return secrets.token_hex(32)
