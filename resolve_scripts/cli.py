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
    p.add_argument("--resolve-version", default="", help="the Resolve you use (e.g. 21.1) when it is not running")
    p.add_argument("--edition", choices=("free", "studio"), default="", help="its edition (with --resolve-version)")
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("uninstall", help="remove the Foley scripts from Resolve's Scripts/Edit folder")
    p.add_argument("--dest", help="the folder given to `install --dest`")
    p.set_defaults(func=cmd_uninstall)


#: the way out where the menu scripts cannot run
OTIO_ROUTE = ("export the timeline (File › Export › Timeline…, OTIO or FCP 7 XML), run "
              "`foley otio fill cut.otio -o cut_foley.otio`, and import the result")


def cmd_install(args) -> int:
    from .api import MIN_VERSION
    from .detect import installed
    from .install import install

    try:
        found = installed(args.resolve_version, args.edition)
    except ValueError as exc:
        print(f"foley: error: {exc}", file=sys.stderr)
        return 2
    try:
        written = install(args.dest, args.output)
    except OSError as exc:
        print(f"foley: error: cannot install the Resolve scripts: {exc}", file=sys.stderr)
        return 2
    import os

    print(f"installed {len(written) - 1} Resolve scripts in {os.path.dirname(written[0])}")
    print("in Resolve (restart it first): Workspace › Scripts › Foley – ...")
    print("remove them with: foley resolve uninstall" + (f" --dest {args.dest}" if args.dest else ""))
    if found is None:
        print("note: could not ask Resolve for its version (it is not running with external scripting); the free "
              "edition from 21.1 has no Python menu scripts: there, " + OTIO_ROUTE)
    elif not found.menu_scripts_work:
        print(f"warning: {found} (free) no longer runs Python menu scripts, so these entries will not show; "
              + OTIO_ROUTE)
    elif found.version < MIN_VERSION:
        print(f"warning: {found} is too old for these scripts (they need 18.5 or later); " + OTIO_ROUTE)
    else:
        free_dialogs = not found.studio and found.version >= (19, 1, 0)  # no UIManager in free from 19.1
        print(f"found {found}: the menu scripts run there"
              + (" (free edition: no dialogs; answers come from 'Foley settings.json' beside them)"
                 if free_dialogs else ""))
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
