"""Copy the menu scripts into Resolve's per-user Scripts/Edit folder, or take them out again.

The copies are rewritten to point at a ``foley_resolve.json`` beside them,
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

from plugin_host.atomic import write_atomic, write_json_atomic

HERE = os.path.dirname(os.path.abspath(__file__))
MENU_DIR = os.path.join(HERE, "menu")
CONFIG_NAME = "foley_resolve.json"
MENU_SCRIPTS = ("Foley – Generate for Current Clip.py", "Foley – Auto-fill Flagged Clips.py",
                "Foley – Fill In_Out Range.py")
_CONFIG_LINE = 'CONFIG_FILE = ""'


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
    package_root = os.path.dirname(HERE)
    paths = [package_root]
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
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
    for name in MENU_SCRIPTS:
        with open(os.path.join(MENU_DIR, name), encoding="utf-8") as f:
            text = f.read()
        if _CONFIG_LINE not in text:
            raise RuntimeError(f"{name}: has no {_CONFIG_LINE!r} line to point at the config")
        # json.dumps writes a valid Python string literal, backslashes of Windows paths included.
        text = text.replace(_CONFIG_LINE, f"CONFIG_FILE = {json.dumps(config_path)}", 1)
        path = os.path.join(dest, name)
        write_atomic(path, text)
        written.append(path)
    return written


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
