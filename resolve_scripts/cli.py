"""``foley resolve install|uninstall``: the Workspace › Scripts entries for DaVinci Resolve."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    resolve = subparsers.add_parser("resolve", help="install the DaVinci Resolve Workspace › Scripts entries")
    sub = resolve.add_subparsers(dest="resolve_command", metavar="RESOLVE_COMMAND")
    sub.required = True
    p = sub.add_parser("install", help="copy the Foley scripts into Resolve's Scripts/Edit folder")
    p.add_argument("--dest", help="install here instead of Resolve's per-user Scripts/Edit folder")
    p.add_argument("--output", help="folder for the generated WAVs (default ~/Foley/Resolve)")
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("uninstall", help="remove the Foley scripts from Resolve's Scripts/Edit folder")
    p.add_argument("--dest", help="the folder given to `install --dest`")
    p.set_defaults(func=cmd_uninstall)


def cmd_install(args) -> int:
    from .install import install

    try:
        written = install(args.dest, args.output)
    except OSError as exc:
        print(f"foley: error: cannot install the Resolve scripts: {exc}", file=sys.stderr)
        return 2
    import os

    print(f"installed {len(written) - 1} Resolve scripts in {os.path.dirname(written[0])}")
    print("in Resolve (restart it first): Workspace › Scripts › Foley – ...")
    print("remove them with: foley resolve uninstall" + (f" --dest {args.dest}" if args.dest else ""))
    return 0


def cmd_uninstall(args) -> int:
    from .install import uninstall

    try:
        removed = uninstall(args.dest)
    except OSError as exc:
        print(f"foley: error: cannot remove the Resolve scripts: {exc}", file=sys.stderr)
        return 2
    if removed:
        print(f"removed {len(removed)} file(s)")
    else:
        print("nothing to remove: the Resolve scripts are not installed there")
    return 0
