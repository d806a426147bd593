"""``foley models ...`` and the HunyuanVideo-Foley options of ``foley generate``.

Imported by :mod:`foley_engine.cli`, which calls ``register(subparsers, generate_parser)``.
Generate options are stored as ``backend_opt_<name>`` (None when not given),
so the core CLI can pass them on to ``load_backend`` without knowing them.
"""
from __future__ import annotations

import json
import os

OPTION_PREFIX = "backend_opt_"
SIZES = ("xxl", "xl")


def backend_options(args) -> dict:
    """The ``backend_opt_*`` values that were given, keyed by backend option name."""
    return {k[len(OPTION_PREFIX):]: v for k, v in vars(args).items() if k.startswith(OPTION_PREFIX) and v is not None}


def _models_dir(args):
    return getattr(args, "models_dir", None) or None


def cmd_download(args) -> int:
    from .loading import download

    if args.backend != "hunyuan":
        from ...errors import BackendError

        raise BackendError(f"no downloadable models for backend {args.backend!r} (known: hunyuan)")
    download(args.size, _models_dir(args), source=args.source)
    return 0


def cmd_list(args) -> int:
    from . import loading
    from .backend import HunyuanBackend

    device = args.device or "cuda:0"
    checks = []
    for size in SIZES:
        status = HunyuanBackend.availability(size=size, models_dir=_models_dir(args), device=device,
                                             offload=args.offload)
        checks.append((size, "loads" if status.ok else f"no: {status.reason}"))
    if args.json:
        items = [{"name": i.name, "path": str(i.path), "bytes": i.bytes} for i in loading.installed(_models_dir(args))]
        print(json.dumps({"folder": str(loading.hunyuan_dir(_models_dir(args))), "installed": items,
                          "device": device, "loads": {size: verdict for size, verdict in checks}}))
    else:
        print(loading.format_listing(_models_dir(args), device, checks))
    return 0


def cmd_verify(args) -> int:
    import importlib.util

    from ...errors import BackendError

    if importlib.util.find_spec("torch") is None:  # the files are compared with the model code, built by torch
        raise BackendError("foley models verify needs torch (pip install 'foley-engine[gpu]')")
    from .verify import format_report, verify_folder

    folder, sizes, checks = verify_folder(_models_dir(args), args.size, sha256=args.sha256)
    if args.json:
        print(json.dumps({"folder": str(folder), "sizes": sizes, "ok": all(c.ok for c in checks),
                          "files": [c.to_dict() for c in checks]}))
    else:
        print(format_report(folder, sizes, checks))
    return 0 if all(c.ok for c in checks) else 1


def register(subparsers, generate_parser=None) -> None:
    models_help = "models folder (default: $FOLEY_MODELS_DIR or the per-user data folder)"
    models = subparsers.add_parser("models", help="download, list and verify neural backend weights")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True

    dl = msub.add_parser("download", help="fetch a backend's weights (resumable)")
    dl.add_argument("backend", choices=["hunyuan"], help="which backend's weights")
    dl.add_argument("--size", default="xxl", choices=SIZES, help="model size (xxl ~20 GB VRAM, xl ~16 GB; default xxl)")
    dl.add_argument("--models-dir", default=os.environ.get("FOLEY_MODELS_DIR"), metavar="DIR", help=models_help)
    dl.add_argument("--from", dest="source", metavar="DIR",
                    help="copy from a local folder laid out like <models>/hunyuan instead of the hub (offline installs)")
    dl.set_defaults(func=cmd_download)

    ls = msub.add_parser("list", help="what is installed, sizes, where, and whether it loads on a device")
    ls.add_argument("--models-dir", default=os.environ.get("FOLEY_MODELS_DIR"), metavar="DIR", help=models_help)
    ls.add_argument("--device", help="device to check (default cuda:0)")
    ls.add_argument("--offload", action="store_true", help="check the memory needed with --offload")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    vf = msub.add_parser("verify", help="check an installed (or half-downloaded) models folder against the model "
                                        "code, reading only each file's index; exit 1 when something is wrong")
    vf.add_argument("backend", nargs="?", default="hunyuan", choices=["hunyuan"], help="which backend's weights")
    vf.add_argument("--size", choices=SIZES + ("all",),
                    help="size to check (default: each size whose DiT file is there, else xxl)")
    vf.add_argument("--models-dir", default=os.environ.get("FOLEY_MODELS_DIR"), metavar="DIR", help=models_help)
    vf.add_argument("--sha256", action="store_true", help="also hash the released files (reads every byte)")
    vf.add_argument("--json", action="store_true")
    vf.set_defaults(func=cmd_verify)

    if generate_parser is not None:
        g = generate_parser.add_argument_group("hunyuan backend")
        g.add_argument("--size", dest=OPTION_PREFIX + "size", choices=SIZES, help="HunyuanVideo-Foley size (default xxl)")
        g.add_argument("--models-dir", dest=OPTION_PREFIX + "models_dir", metavar="DIR", help=models_help)
        g.add_argument("--offload", dest=OPTION_PREFIX + "offload", action="store_true", default=None,
                       help="keep idle components in CPU memory (for 16-24 GB cards; slower)")
        g.add_argument("--steps", dest=OPTION_PREFIX + "steps", type=int, metavar="N", help="sampling steps (default 50)")
        g.add_argument("--guidance", dest=OPTION_PREFIX + "guidance", type=float, metavar="SCALE",
                       help="classifier-free guidance scale (default 4.5; 1 disables)")
        g.add_argument("--continuity", dest=OPTION_PREFIX + "continuity", choices=["inpaint", "crossfade"],
                       help="how windows continue each other (default inpaint; crossfade when the VAE file "
                            "has no encoder)")
        g.add_argument("--onnx", dest=OPTION_PREFIX + "onnx", action="store_true", default=None,
                       help="run the visual encoders with ONNX Runtime (exported once, checked against PyTorch)")
