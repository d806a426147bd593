"""The ``mmaudio`` part of ``foley models download|verify`` (the ``models`` command itself is registered by
:mod:`..hunyuan.cli`, which hands ``mmaudio`` requests to these functions)."""
from __future__ import annotations

import json

from .files import DEFAULT_SIZE, SIZES

#: shown in ``--size`` help next to the hunyuan sizes
SIZE_HELP = f"mmaudio: {', '.join(SIZES)} (default {DEFAULT_SIZE}; small_16k ~6 GB in 16-bit)"


def cmd_download(args) -> int:
    from .store import download

    download(args.size or DEFAULT_SIZE, getattr(args, "models_dir", None) or None, source=args.source)
    return 0


def listing(models_dir, device: str) -> dict:
    """For ``foley models list``: the mmaudio folder, the released files in it, and per size whether it
    loads on ``device`` (or why not)."""
    from .backend import MMAudioBackend
    from .files import mmaudio_dir

    folder = mmaudio_dir(models_dir)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    loads = {}
    for size in SIZES:
        status = MMAudioBackend.availability(size=size, models_dir=models_dir, device=device)
        loads[size] = "loads" if status.ok else f"no: {status.reason}"
    return {"folder": str(folder), "device": device, "loads": loads,
            "installed": [{"name": str(p.relative_to(folder)), "path": str(p), "bytes": p.stat().st_size}
                          for p in files]}


def format_listing(found: dict) -> str:
    """:func:`listing` as the lines ``foley models list`` prints."""
    from ..hunyuan.checkpoints.layout import gib

    return "\n".join([f"mmaudio models folder: {found['folder']}"]
                     + [f"  {f['name']:<48} {gib(f['bytes']):>9}" for f in found["installed"]]
                     + (["  (nothing installed)"] if not found["installed"] else [])
                     + [f"mmaudio --size {size} on {found['device']}: {v}" for size, v in found["loads"].items()])


def cmd_verify(args) -> int:
    import importlib.util

    from ...errors import BackendError

    gone = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if gone:  # the files are compared with the model code, built by torch (CLIP by transformers)
        raise BackendError(f"foley models verify mmaudio needs {' and '.join(gone)} (pip install 'foley-engine[gpu]')")
    from ..hunyuan.checkpoints.verify import format_report
    from .store import verify_folder

    folder, sizes, checks = verify_folder(getattr(args, "models_dir", None) or None, args.size, hashes=args.sha256)
    if args.json:
        print(json.dumps({"folder": str(folder), "sizes": sizes, "ok": all(c.ok for c in checks),
                          "files": [c.to_dict() for c in checks]}))
    else:
        print(format_report(folder, sizes, checks, title="MMAudio"))
    return 0 if all(c.ok for c in checks) else 1
