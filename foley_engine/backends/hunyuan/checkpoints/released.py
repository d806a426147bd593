"""Size and SHA-256 of the released checkpoint files, to tell a user when theirs differs.

A difference is a notice, never an error: a repacked or re-saved file (another
zip layout, safetensors, a newer upload) can be perfectly good, and whether it
loads is decided by its tensors, not its bytes.

Sources: the hub listing of ``tencent/HunyuanVideo-Foley`` as quoted by public
download scripts (the same sizes and hashes in two independent ones); not
re-computed here, since the weights cannot be downloaded on this project's
machines.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Optional

#: file name -> (bytes, sha256)
OFFICIAL = {
    "hunyuanvideo_foley.pth": (10_301_204_679, "2900021f8ee562a8175b2f1a3fafb06b9e9e848f11f4c6d4d5d72e126f7c0475"),
    "hunyuanvideo_foley_xl.pth": (5_854_140_970, "cf7e93dca93063942bc22b53d4fe888e9d9d5a1ad7977873b7b2c6b126cf00ca"),
    "synchformer_state_dict.pth": (950_058_171, "8aff082f2df5c3bc52759db0c865c7ee772ae6400b860d1b7e90413f2defb67c"),
    "vae_128d_48k.pth": (1_486_465_965, "07e6139ff33bd21ba8a7a7f40ed24aab13ac0d100cd686f8a9f3e03dc5251cb1"),
}


def size_notes(path: os.PathLike) -> list[str]:
    """A notice when a file under a released name is not the released size (cheap: no reading)."""
    path = Path(path)
    known = OFFICIAL.get(path.name)
    if known is None or not path.is_file():
        return []
    have = path.stat().st_size
    if have == known[0]:
        return []
    return [f"{have:,} bytes where the released {path.name} has {known[0]:,} (another version or a repack?)"]


def sha256(path: os.PathLike, progress: Optional[Callable[[int], None]] = None, chunk: int = 16 * 2**20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def sha256_notes(path: os.PathLike) -> list[str]:
    """A notice when a file under a released name does not hash to the released SHA-256 (reads it all)."""
    path = Path(path)
    known = OFFICIAL.get(path.name)
    if known is None or not path.is_file():
        return []
    have = sha256(path)
    return [] if have == known[1] else [f"SHA-256 {have[:16]}... is not the released {known[1][:16]}..."]
