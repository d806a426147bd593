"""Which DaVinci Resolve is installed: asked of a running Resolve through external scripting.

``foley resolve install`` uses it to warn where menu scripts cannot run: the
free edition from 21.1 is reported to have no Python menu scripts any more.
The answer comes from the documented ``GetVersion``/``GetProductName``; when
Resolve is not running (or external scripting is off) the user can say
which one with ``--resolve-version`` and ``--edition``.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from .api import resolve_version, version_text

#: the first free version reported without Python menu scripts
FREE_WITHOUT_SCRIPTS = (21, 1, 0)

#: the scripting modules folder per OS (Resolve's scripting README)
_MODULES = {
    "darwin": "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting/Modules",
    "win": os.path.join(os.environ.get("PROGRAMDATA", r"C:\ProgramData"), "Blackmagic Design", "DaVinci Resolve",
                        "Support", "Developer", "Scripting", "Modules"),
    "linux": "/opt/resolve/Developer/Scripting/Modules",
}


@dataclass(frozen=True)
class Installed:
    version: tuple
    studio: bool

    def __str__(self) -> str:
        return f"DaVinci Resolve{' Studio' if self.studio else ''} {version_text(self.version)}"

    @property
    def menu_scripts_work(self) -> bool:
        return self.studio or self.version < FREE_WITHOUT_SCRIPTS


def describe(resolve) -> Installed:
    """Version and edition of a ``resolve`` object."""
    name = ""
    fn = getattr(resolve, "GetProductName", None)
    if fn is not None:
        name = str(fn() or "")
    return Installed(resolve_version(resolve), "studio" in name.lower())


def running_resolve(scriptapp: Optional[Callable] = None):
    """The running Resolve's ``resolve`` object through external scripting, or None."""
    if scriptapp is None:
        key = "win" if sys.platform.startswith("win") else ("darwin" if sys.platform == "darwin" else "linux")
        folder = os.environ.get("RESOLVE_SCRIPT_API")
        folder = os.path.join(folder, "Modules") if folder else _MODULES[key]
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.append(folder)
        try:
            scriptapp = importlib.import_module("DaVinciResolveScript").scriptapp
        except Exception:  # not installed here, or its library fails to load
            return None
    try:
        return scriptapp("Resolve")
    except Exception:
        return None


def parse_version(text: str) -> tuple:
    parts = [int(p) for p in text.strip().split(".") if p.isdigit()]
    if not parts or len(parts) != len(text.strip().split(".")):
        raise ValueError(f"not a Resolve version: {text!r} (use e.g. 21.1 or 19.0.3)")
    return tuple((parts + [0, 0, 0])[:3])


def installed(version: str = "", edition: str = "", scriptapp: Optional[Callable] = None) -> Optional[Installed]:
    """What the user said (``version``/``edition``), else what a running Resolve says, else None."""
    if version:
        return Installed(parse_version(version), edition != "free")
    resolve = running_resolve(scriptapp)
    if resolve is None:
        return None
    try:
        found = describe(resolve)
    except Exception:  # an answer we cannot read: as if not found
        return None
    return Installed(found.version, found.studio if not edition else edition == "studio")
