"""Find backends: built-ins plus entry points of the group ``foley_engine.backends``.

A third-party package registers ``name = "package.module:BackendClass"``
under that group in its own ``pyproject.toml``; nothing here changes.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Optional

from ..errors import BackendError
from .base import Availability, Backend

ENTRY_POINT_GROUP = "foley_engine.backends"

# Also listed in pyproject.toml; kept here so a source checkout works uninstalled.
BUILTIN = {
    "procedural": "foley_engine.backends.procedural:ProceduralBackend",
    "hunyuan": "foley_engine.backends.hunyuan:HunyuanBackend",
    "mmaudio": "foley_engine.backends.mmaudio:MMAudioBackend",
}


@dataclass(frozen=True)
class BackendEntry:
    name: str
    target: str  # "module:attr"
    origin: str  # "built-in" or the distribution that registered it

    def load_class(self) -> type[Backend]:
        module, _, attr = self.target.partition(":")
        try:
            obj = importlib.import_module(module)
        except ImportError as exc:
            raise BackendError(f"backend {self.name!r} cannot be imported: {exc}") from None
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


@lru_cache(maxsize=1)
def _registered() -> tuple:
    """The group's entry points, scanned once per process: the scan reads every installed
    distribution's metadata (~30 ms in a full environment) and a `foley generate` asks several
    times.  A backend installed while a process runs is seen after it restarts."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def discover() -> dict[str, BackendEntry]:
    found = {name: BackendEntry(name, target, "built-in") for name, target in BUILTIN.items()}
    for ep in _registered():
        dist = getattr(ep, "dist", None)
        origin = dist.name if dist is not None else "entry point"
        if ep.name in BUILTIN and ep.value == BUILTIN[ep.name]:
            continue
        found[ep.name] = BackendEntry(ep.name, ep.value, origin)
    return found


def availability(entry: BackendEntry, **options) -> Availability:
    try:
        cls = entry.load_class()
    except (BackendError, AttributeError) as exc:
        return Availability(False, str(exc))
    try:
        return cls.availability(**options)
    except Exception as exc:  # a plug-in's check must not break listing
        return Availability(False, f"availability check failed: {exc}")


def find_backend(name: str) -> BackendEntry:
    """A registered backend by name, or ``package.module:Class`` (a plug-in in development, tests)."""
    entries = discover()
    entry: Optional[BackendEntry] = entries.get(name)
    if entry is None and ":" in name:
        entry = BackendEntry(name, name, "module path")
    if entry is None:
        known = ", ".join(sorted(entries))
        raise BackendError(f"unknown backend {name!r} (installed: {known})")
    return entry


def backend_class(name: str) -> type[Backend]:
    try:
        return find_backend(name).load_class()
    except AttributeError as exc:
        raise BackendError(f"backend {name!r} cannot be loaded: {exc}") from None


def load_backend(name: str, **options) -> Backend:
    cls = backend_class(name)
    status = cls.availability(**options)
    if not status.ok:
        raise BackendError(f"backend {name!r} cannot run here: {status.reason}")
    return cls(**options)


def licence_of(entry: BackendEntry) -> str:
    """A backend's code and weights licence line (empty when it declares none or fails to import)."""
    try:
        return str(getattr(entry.load_class(), "licence", "") or "")
    except (BackendError, AttributeError):
        return ""


def prompt_warnings(name: str, prompt: str, negative_prompt: str = "") -> list[str]:
    """What backend ``name`` will not use of the prompts, without loading a model (class methods)."""
    try:
        return list(backend_class(name).prompt_warnings(prompt, negative_prompt))
    except (BackendError, AttributeError):
        return []


def vocabularies() -> dict[str, Optional[list[str]]]:
    """Backend name -> the words it understands (None: free text); backends that fail to import are left out."""
    out = {}
    for name, entry in sorted(discover().items()):
        try:
            out[name] = entry.load_class().vocabulary()
        except (BackendError, AttributeError):
            continue
    return out
