"""The engine process as an adapter sees it: how to start one, when it stops, whether a pid lives.

    spec = EngineSpec(connection_file=None, command=["/opt/foley/bin/foley"], serve_args=("--backend", "hunyuan"))
    with EngineClient.open(spec) as eng:       # connects, or starts `foley engine serve --idle-exit 30 ...`
        ...

Every adapter (``foley otio fill``, ``foley batch``, Resolve, Blender) reaches
its engine through an :class:`EngineSpec`, so an engine an adapter *starts*
follows one rule: it stops itself after :data:`IDLE_EXIT_MIN` minutes without
a job (``engine serve --idle-exit``), which frees the GPU once the editor is
closed.  An engine the user started by hand is never touched, and
``--idle-exit 0`` in the serve arguments keeps an autostarted one forever.

Standard library only (the client imports this module, never the reverse).
"""
from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from typing import Optional

#: minutes without a job after which an engine an adapter started stops itself
IDLE_EXIT_MIN = 30.0


def with_idle_exit(serve_args, minutes: float = IDLE_EXIT_MIN) -> tuple:
    """``serve_args`` plus ``--idle-exit MINUTES`` unless they set it already (the user's choice stands)."""
    serve_args = tuple(str(a) for a in serve_args)
    if any(a == "--idle-exit" or a.startswith("--idle-exit=") for a in serve_args):
        return serve_args
    return ("--idle-exit", f"{minutes:g}") + serve_args


@dataclass(frozen=True)
class EngineSpec:
    """How to reach an engine and, when none runs and ``autostart`` allows, how to start one."""

    #: the engine's connection file; None: the user's default one
    connection_file: Optional[str] = None
    #: argv that runs ``foley`` (an installer records it: Blender's and Resolve's Pythons are not the
    #: engine's); None: see :func:`plugin_host.client.engine_command`
    command: Optional[list] = None
    #: arguments after ``engine serve`` for an engine started here (``--backend``, ``--slots``, ...)
    serve_args: tuple = field(default=())
    autostart: bool = True
    #: the idle exit of an engine started here; 0 keeps it running
    idle_exit_minutes: float = IDLE_EXIT_MIN

    @property
    def start_args(self) -> tuple:
        """The serve arguments an engine started from this spec gets (with the idle exit)."""
        return with_idle_exit(self.serve_args, self.idle_exit_minutes)


def idle_exit_of(serve_args) -> Optional[float]:
    """The ``--idle-exit`` minutes in ``serve_args`` (None: not set, the engine's own default)."""
    args = [str(a) for a in serve_args]
    for i, a in enumerate(args):
        value = a.split("=", 1)[1] if a.startswith("--idle-exit=") else (
            args[i + 1] if a == "--idle-exit" and i + 1 < len(args) else None)
        if value is not None:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def started_notice(pid: int, serve_args=(), connection_file: Optional[str] = None) -> str:
    """The one line a user sees when an engine is started on their behalf: it outlives the command,
    so say which process it is, when it goes away by itself and how to stop it now."""
    minutes = idle_exit_of(serve_args)
    stop = "foley engine stop" + (f" --connection-file {shlex.quote(connection_file)}" if connection_file else "")
    if minutes is None or minutes <= 0:
        when = "it keeps running"
    else:
        when = f"it stops itself after {minutes:g} minutes without a job"
    return f"started a Foley engine (pid {pid}) in the background; {when}; stop it now with `{stop}`"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as alive; reap your own children)."""
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate it on Windows; timeouts decide there
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists but is someone else's
        return True
    return True
