"""Write the menu scripts into Resolve's per-user Scripts/Edit folder, or take them out again.

Each entry is written from one template (``menu_script.py.in``) with its title
and command, pointing at a ``foley_resolve.json`` beside it,
which records where the Foley packages live and how to start the engine, so
Resolve's own Python finds them (it must be the same Python version: pyzmq
and OpenTimelineIO are compiled for it).
"""
from __future__ import annotations

import json
import os
import sys
import sysconfig
from typing import Optional

import plugin_host
from plugin_host.atomic import write_atomic, write_json_atomic

HERE = os.path.dirname(os.path.abspath(__file__))
#: the one menu script, filled in per entry (package data: see pyproject.toml)
TEMPLATE = os.path.join(HERE, "menu_script.py.in")
CONFIG_NAME = "foley_resolve.json"
#: each menu entry (its file name is its title in Resolve's menu) and the command it runs
MENU_COMMANDS = {
    "Foley – Generate for Current Clip": "current",
    "Foley – Auto-fill Flagged Clips": "flagged",
    "Foley – Fill In_Out Range": "range",
    "Foley – Regenerate Range": "regenerate",
}
MENU_SCRIPTS = tuple(f"{title}.py" for title in MENU_COMMANDS)


def scripts_dir(platform: str = sys.platform, environ: Optional[dict] = None, home: Optional[str] = None) -> str:
    """Resolve's per-user Fusion/Scripts/Edit folder (listed under Workspace › Scripts on the Edit page)."""
    environ = os.environ if environ is None else environ
    home = home or os.path.expanduser("~")
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "Blackmagic Design", "DaVinci Resolve", "Fusion",
                            "Scripts", "Edit")
    if platform.startswith("win"):
        appdata = environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return os.path.join(appdata, "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts", "Edit")
    return os.path.join(home, ".local", "share", "DaVinciResolve", "Fusion", "Scripts", "Edit")


def config(output: Optional[str] = None) -> dict:
    """Where Resolve's Python finds the packages, and how it starts the engine."""
    # This package's folder and the plug-in package's (a distribution of its own: another folder in a checkout).
    paths = [os.path.dirname(HERE)]
    for path in (os.path.dirname(os.path.dirname(os.path.abspath(plugin_host.__file__))),
                 *(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))):
        if path not in paths:
            paths.append(path)
    data = {"paths": paths, "engine_command": [sys.executable, "-m", "foley_engine.cli"],
            "python": ".".join(map(str, sys.version_info[:2]))}
    if output:
        data["output"] = os.path.abspath(output)
    return data


def install(dest: Optional[str] = None, output: Optional[str] = None) -> list[str]:
    """Write the menu scripts and their config into ``dest``; the paths written."""
    dest = os.path.abspath(dest or scripts_dir())
    os.makedirs(dest, exist_ok=True)
    config_path = os.path.join(dest, CONFIG_NAME)
    written = []
    write_json_atomic(config_path, config(output), indent=2)
    written.append(config_path)
    for title, command in MENU_COMMANDS.items():
        path = os.path.join(dest, f"{title}.py")
        write_atomic(path, menu_script(title, command, config_path))
        written.append(path)
    return written


def menu_script(title: str, command: str, config_path: str) -> str:
    """The text of one menu entry: the template with its title, command and config filled in."""
    with open(TEMPLATE, encoding="utf-8") as f:
        text = f.read()
    # json.dumps writes valid Python string literals, backslashes of Windows paths included.
    for field, value in (("__TITLE__", title), ("__COMMAND__", json.dumps(command)),
                         ("__CONFIG_FILE__", json.dumps(config_path))):
        if field not in text:
            raise RuntimeError(f"{TEMPLATE}: has no {field} to fill in")
        text = text.replace(field, value)
    return text


def uninstall(dest: Optional[str] = None) -> list[str]:
    """Remove what :func:`install` wrote; the paths removed."""
    dest = os.path.abspath(dest or scripts_dir())
    removed = []
    for name in MENU_SCRIPTS + (CONFIG_NAME,):
        path = os.path.join(dest, name)
        if os.path.isfile(path):
            os.unlink(path)
            removed.append(path)
    return removed
