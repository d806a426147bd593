"""``foley models ...``: download, list, check and plan the memory of neural backend weights.

Registered under the ``foley_engine.commands`` entry-point group.  The
backend's ``foley generate`` options are declared on
:class:`~.backend.HunyuanBackend` itself (``options``).
"""
from __future__ import annotations

import json
import os

from ..mmaudio.cli import SIZE_HELP as MMAUDIO_SIZE_HELP
from ..mmaudio.files import SIZES as MMAUDIO_SIZES
from .backend import SIZES


def _models_dir(args):
    return getattr(args, "models_dir", None) or None


def cmd_download(args) -> int:
    from .checkpoints.store import download

    if args.backend == "mmaudio":
        from ..mmaudio.cli import cmd_download as mmaudio_download

        return mmaudio_download(args)
    if args.backend != "hunyuan":
        from ...errors import BackendError

        raise BackendError(f"no downloadable models for backend {args.backend!r} (known: hunyuan, mmaudio)")
    download(args.size or "xxl", _models_dir(args), source=args.source)
    return 0


def cmd_list(args) -> int:
    from .backend import HunyuanBackend
    from .checkpoints.layout import hunyuan_dir
    from .checkpoints.store import format_listing, installed

    device = args.device or "cuda:0"
    checks = []
    for size in SIZES:
        status = HunyuanBackend.availability(size=size, models_dir=_models_dir(args), device=device,
                                             offload=args.offload, weights=args.weights)
        checks.append((size, "loads" if status.ok else f"no: {status.reason}"))
    from ..mmaudio.cli import format_listing as format_mmaudio, listing as mmaudio_listing

    other = mmaudio_listing(_models_dir(args), args.device or "auto")
    if args.json:
        items = [{"name": i.name, "path": str(i.path), "bytes": i.bytes} for i in installed(_models_dir(args))]
        print(json.dumps({"folder": str(hunyuan_dir(_models_dir(args))), "installed": items,
                          "device": device, "loads": {size: verdict for size, verdict in checks},
                          "mmaudio": other}))
    else:
        print(format_listing(_models_dir(args), device, checks))
        print(format_mmaudio(other))
    return 0


def cmd_verify(args) -> int:
    import importlib.util

    from ...errors import BackendError

    if args.backend == "mmaudio":
        from ..mmaudio.cli import cmd_verify as mmaudio_verify

        return mmaudio_verify(args)
    if importlib.util.find_spec("torch") is None:  # the files are compared with the model code, built by torch
        raise BackendError("foley models verify needs torch (pip install 'foley-engine[gpu]')")
    from .checkpoints.verify import format_report, verify_folder

    folder, sizes, checks = verify_folder(_models_dir(args), args.size, sha256=args.sha256)
    if args.json:
        print(json.dumps({"folder": str(folder), "sizes": sizes, "ok": all(c.ok for c in checks),
                          "files": [c.to_dict() for c in checks]}))
    else:
        print(format_report(folder, sizes, checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_plan(args) -> int:
    """Every (size, weights, offload, window) combination with its predicted peak, need and relative speed."""
    import importlib.util

    from ...errors import BackendError

    if importlib.util.find_spec("torch") is None:  # the weights are counted from the model code, built by torch
        raise BackendError("foley models plan needs torch (pip install 'foley-engine[gpu]')")
    from . import memory as planner

    budget = planner.parse_memory(args.vram) if args.vram else None
    sizes = SIZES if args.size in (None, "all") else (args.size,)
    plans = [p for size in sizes for p in planner.candidates(size, budget)]
    best = {}
    if budget is not None:
        for size in sizes:
            try:
                best[size] = planner.choose(size, budget)
            except BackendError as exc:
                best[size] = exc
    if args.json:
        print(json.dumps({"vram_bytes": budget, "cuda_reserve_bytes": planner.CUDA_RESERVE,
                          "assumptions": planner.ASSUMED, "predicted": True,
                          "plans": [dict(p.to_dict(), fits=p.fits(budget) if budget is not None else None)
                                    for p in plans],
                          "choice": {s: (b.to_dict() if isinstance(b, planner.Plan) else str(b))
                                     for s, b in best.items()}}))
        return 0
    print(planner.format_table(plans, budget))
    for size, choice in best.items():
        verdict = choice.describe() if isinstance(choice, planner.Plan) else str(choice)
        print(f"--memory auto with {args.vram}, {size.upper()}: {verdict}")
    return 0


def register(subparsers) -> None:
    models_help = "models folder (default: $FOLEY_MODELS_DIR or the per-user data folder)"
    models = subparsers.add_parser("models", help="download, list and verify neural backend weights")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True

    dl = msub.add_parser("download", help="fetch a backend's weights (resumable)")
    dl.add_argument("backend", choices=["hunyuan", "mmaudio"], help="which backend's weights")
    dl.add_argument("--size", choices=SIZES + MMAUDIO_SIZES,
                    help=f"model size; hunyuan: xxl ~20 GB VRAM, xl ~16 GB (default xxl); {MMAUDIO_SIZE_HELP}")
    dl.add_argument("--models-dir", default=os.environ.get("FOLEY_MODELS_DIR"), metavar="DIR", help=models_help)
    dl.add_argument("--from", dest="source", metavar="DIR",
                    help="copy from a local folder laid out like <models>/<backend> instead of the hub (offline installs)")
    dl.set_defaults(func=cmd_download)

    ls = msub.add_parser("list", help="what is installed, sizes, where, and whether it loads on a device")
    ls.add_argument("--models-dir", default=os.environ.get("FOLEY_MODELS_DIR"), metavar="DIR", help=models_help)
    ls.add_argument("--device", help="device to check (default cuda:0)")
    ls.add_argument("--offload", nargs="?", const="model", default=None, metavar="MODE",
                    help="check the memory needed with this offload (model when given alone; blocks[:N])")
    ls.add_argument("--weights", choices=("bf16", "fp8"), help="check the memory needed with these DiT weights")
    ls.add_argument("--json", action="store_true",
                    help="print one JSON object: folder, installed (name, path, bytes), device, and loads "
                         "(size -> whether it loads here, or why not)")
    ls.set_defaults(func=cmd_list)

    vf = msub.add_parser("verify", help="check an installed (or half-downloaded) models folder against the model "
                                        "code, reading only each file's index; exit 1 when something is wrong")
    vf.add_argument("backend", nargs="?", default="hunyuan", choices=["hunyuan", "mmaudio"],
                    help="which backend's weights")
    vf.add_argument("--size", choices=SIZES + MMAUDIO_SIZES + ("all",),
                    help="size to check (default: each size whose DiT file is there, else xxl)")
    vf.add_argument("--models-dir", default=os.environ.get("FOLEY_MODELS_DIR"), metavar="DIR", help=models_help)
    vf.add_argument("--sha256", action="store_true", help="also hash the released files (reads every byte; "
                                                          "mmaudio: MD5, the sums its authors publish)")
    vf.add_argument("--json", action="store_true",
                    help="print one JSON object: the folder, the sizes checked, ok, and each file's check")
    vf.set_defaults(func=cmd_verify)

    pl = msub.add_parser("plan", help="which size / weights / offload / window combinations fit a GPU, with the "
                                      "predicted peak memory and relative speed (nothing is loaded)")
    pl.add_argument("backend", nargs="?", default="hunyuan", choices=["hunyuan"], help="which backend")
    pl.add_argument("--vram", metavar="SIZE",
                    help="the card's memory, e.g. 8GB (GB as printed on cards, i.e. GiB); marks what fits and "
                         "picks what --memory auto would")
    pl.add_argument("--size", choices=SIZES + ("all",), help="one size (default: both)")
    pl.add_argument("--json", action="store_true", help="print one JSON object: every plan, and the choice")
    pl.set_defaults(func=cmd_plan)
