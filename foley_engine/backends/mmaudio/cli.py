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
