"""The ``foley`` command line: one parser, sub-commands found through entry points.

``foley generate`` and ``foley backends`` are the core's own.  Every other
sub-command (``engine``, ``models``, ``otio``, ``resolve``, ``bench``, or a
third party's) is a ``register(subparsers)`` function registered under the
entry-point group ``foley_engine.commands``, exactly as backends register
under ``foley_engine.backends``; the core names none of them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.metadata import entry_points
from typing import Optional

from plugin_host.timebase import TimeError

from . import __version__
from .errors import Cancelled, FoleyError
from .generate_cli import add_generate_parser
from .malloc_tuning import pin_mmap_threshold

COMMAND_GROUP = "foley_engine.commands"


def cmd_backends(args) -> int:
    from .backends.registry import availability, discover, licence_of, vocabularies

    if args.vocabulary:
        words = vocabularies()
        if args.json:
            print(json.dumps(words))
        for name, vocab in ([] if args.json else words.items()):
            print(f"{name}: " + (" ".join(vocab) if vocab is not None else "(free text)"))
        return 0

    rows = []
    for name, entry in sorted(discover().items()):
        status = availability(entry)
        rows.append({"name": name, "available": status.ok, "reason": status.reason, "origin": entry.origin,
                     "target": entry.target, "licence": licence_of(entry)})
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        mark = "yes" if row["available"] else "no "
        reason = f"  ({row['reason']})" if row["reason"] else ""
        print(f"{row['name']:<12} available: {mark}  [{row['origin']}]{reason}")
        print(f"{'':<12} licence: {row['licence'] or '(not declared)'}")
    return 0


def add_discovered_commands(sub) -> None:
    """Sub-commands other packages registered; one that fails to import is reported, not fatal."""
    seen = set()
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        if ep.name in seen:
            continue  # the same distribution seen twice on sys.path (an editable install and a checkout)
        seen.add(ep.name)
        try:
            register = ep.load()
        except ImportError as exc:
            sys.stderr.write(f"foley: sub-command {ep.name!r} is unavailable ({exc})\n")
            continue
        register(sub)


def build_parser(argv: Optional[list[str]] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foley", description="Synchronized Foley for video, at exact timecode.")
    parser.add_argument("--version", action="version", version=f"foley {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add_generate_parser(sub, argv)
    be = sub.add_parser("backends", help="list installed backends and whether each can run here")
    be.add_argument("--json", action="store_true",
                    help="print JSON: a list of {name, available, reason, origin, target, licence}; with --vocabulary, "
                         "an object of backend -> words (null: free text)")
    be.add_argument("--vocabulary", action="store_true", help="list the prompt words each backend understands")
    be.set_defaults(func=cmd_backends)
    # Other packages' sub-commands are imported only when the command asked for is not built in
    # (or for the overall help): importing them all costs every `foley generate` ~0.1 CPU second.
    if not (argv and argv[0] in sub.choices):
        add_discovered_commands(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    pin_mmap_threshold()  # flat memory over long videos (see foley_engine.malloc_tuning)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # `foley engine jobs | head`: the reader left; say nothing more, like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Cancelled as exc:
        signum = getattr(exc, "signum", None)
        print(f"foley: {exc}; no output written" if signum else "foley: cancelled; no output written",
              file=sys.stderr)
        return 128 + signum if signum else 130
    except (FoleyError, TimeError) as exc:
        print(f"foley: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("foley: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
