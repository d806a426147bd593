"""Atomic file writes: write beside the target, then rename over it, so a reader never sees half a file.

The one copy of the temp-file-then-rename rule for every package (the engine,
the adapters, the editors' scripts): the temporary file sits in the target's
folder (a rename across file systems would not be atomic), is hidden and
named after the target (``.take.otio.1a2b3c4d.partial.otio``; the extension is
kept so writers that pick a format by it still can), and is removed when the
write fails or is interrupted.  Standard library only.
"""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from typing import Any, Iterator, Union


@contextmanager
def atomic_path(path: Union[str, os.PathLike], *, suffix: str = "", private: bool = False) -> Iterator[str]:
    """A new empty temporary file beside ``path`` to write by name; renamed over ``path`` when the block ends.

    ``suffix`` ends the temporary name (an extension a writer needs); ``private``
    creates it readable by its owner only (0600, for keys), else with the
    usual permissions (the umask's).  On any exception it is deleted and the
    target is left as it was.
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.partial{suffix}")
        try:
            os.close(os.open(tmp, flags, 0o600 if private else 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_atomic(path: Union[str, os.PathLike], data: Union[str, bytes], *, private: bool = False) -> None:
    """Write ``data`` (text as UTF-8 with ``\\n`` line ends, or bytes) to ``path`` atomically."""
    with atomic_path(path, private=private) as tmp:
        if isinstance(data, str):
            with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                f.write(data)
        else:
            with open(tmp, "wb") as f:
                f.write(data)


def write_json_atomic(path: Union[str, os.PathLike], obj: Any, *, private: bool = False, **dump_options) -> None:
    """Write ``obj`` as JSON (``json.dump`` options such as ``indent``), ending in a newline, atomically."""
    write_atomic(path, json.dumps(obj, **dump_options) + "\n", private=private)
