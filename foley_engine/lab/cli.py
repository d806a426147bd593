"""``foley bench soak`` and ``foley bench align``: the long-run benchmark from the command line.

The harness is :mod:`foley_engine.lab.soak`, imported only when a bench
command runs (every other ``foley`` command stays fast).  ``benchmarks/soak.py``
is :func:`main`, the same sub-commands without the ``foley`` in front.
"""
from __future__ import annotations

import argparse
import sys

from .videos import RESOLUTIONS


def add_soak_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--videos", type=int, default=12, help="number of videos (default 12)")
    p.add_argument("--minutes", type=float, help="length of every video (default: 3, 4, 5 minutes in turn)")
    p.add_argument("--resolution", default="1080p", choices=sorted(RESOLUTIONS), help="default 1080p")
    p.add_argument("--backend", default="procedural", help="backend to run (default procedural)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="backend option (repeatable)")
    p.add_argument("--in-process", action="store_true", help="run the backend in this process instead of an engine")
    p.add_argument("--align", action="store_true", help="apply the alignment pass to every window")
    p.add_argument("--inject-ms", type=float, default=0.0,
                   help="make every window's audio this late (in-process only; to test --align)")
    p.add_argument("--seed", type=int, default=0,
                   help="generation seed of every video (default 0; the same seed gives the same audio)")
    p.add_argument("--out", default="soak_results", help="folder for soak.json, soak.md and plots")
    p.add_argument("--media-dir", help="where test videos are made and reused (default OUT/media)")
    p.add_argument("--keep-audio", action="store_true", help="keep the generated WAV files")
    p.add_argument("--sample-interval", type=float, default=0.5, help="memory sampling period in seconds")
    p.add_argument("--repeat", type=int, default=1,
                   help="run the first and the last video this many times and take the best (default 1)")


def add_align_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inject-ms", type=float, default=60.0, help="lateness injected into every window (default 60)")
    p.add_argument("--alternate", action="store_true", help="alternate late and early from window to window")
    p.add_argument("--minutes", type=float, default=1.0, help="length of the test video (default 1)")
    p.add_argument("--resolution", default="360p", choices=sorted(RESOLUTIONS),
                   help="size of the test video (default 360p)")
    p.add_argument("--backend", default="procedural", help="backend to run, in this process (default procedural)")
    p.add_argument("--seed", type=int, default=0,
                   help="generation seed (default 0; the same seed gives the same audio)")
    p.add_argument("--out", default="align_results", help="folder for the test video and align.json")


def _harness():
    from . import soak

    return soak


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="long-run soak benchmark and alignment check")
    add_bench_commands(bench)


def add_bench_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", metavar="BENCH_COMMAND")
    sub.required = True
    soak = sub.add_parser("soak", help="serial long-run test through an engine: latency, memory, sync, seams")
    add_soak_arguments(soak)
    soak.set_defaults(func=lambda args: _harness().soak_main(args))
    align = sub.add_parser("align", help="alignment pass before/after on audio with known injected offsets")
    add_align_arguments(align)
    align.set_defaults(func=lambda args: _harness().align_main(args))


def main(argv=None) -> int:
    """``benchmarks/soak.py soak|align ...`` (``soak`` when no sub-command is given)."""
    parser = argparse.ArgumentParser(prog="benchmarks/soak.py", description="Long-run soak benchmark "
                                     "and alignment check (the same as `foley bench`).")
    add_bench_commands(parser)
    args = parser.parse_args(argv if argv is not None else (sys.argv[1:] or ["soak"]))
    return args.func(args)
