"""Engine settings and the `serve` command-line options that fill them."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from plugin_host.connection import engine_dir


@dataclass
class EngineConfig:
    backend: str = "procedural"
    options: dict = field(default_factory=dict)
    connection_file: str = ""
    journal: str = ""
    endpoint: str = "tcp://127.0.0.1:*"
    max_jobs_per_worker: int = 50
    #: recycle the worker when its RSS grew this much since the backend loaded
    max_worker_growth: int = 1024 * 1024 * 1024
    #: runs of one item that may be lost to a dying worker before the job fails
    max_attempts: int = 3
    #: a client silent this long is no longer sent events
    client_timeout: float = 10.0
    shutdown_grace: float = 15.0
    #: stop after this many seconds with no job queued or running (0: never); adapters that start an
    #: engine themselves pass 30 minutes, so a forgotten engine does not hold a GPU forever
    idle_exit: float = 0.0
    #: longest output one item may make, in seconds of audio
    max_duration: Fraction = Fraction(6 * 3600)
    #: when set, jobs may write only inside these folders (else anywhere but system folders)
    output_roots: tuple = ()
    #: seconds a submit's media may take to probe before the submit is refused
    probe_timeout: float = 30.0
    #: worker slots (0 = one per device in ``devices``, else 1)
    slots: int = 0
    #: one local slot per device ("cuda:0", "cuda:1"), each seeing only its GPU
    devices: list = field(default_factory=list)
    #: Ray cluster for remote slots ("HOST:PORT", or "local" for a private one); "" = local slots
    ray_address: str = ""
    #: GPUs each Ray actor asks for (None: 1 when the device is CUDA, else 0)
    ray_gpus_per_slot: Optional[float] = None
    ray_cpus_per_slot: float = 1.0
    #: actors per ray slot: the windows of one item fan out over them (backends with independent windows)
    ray_actors_per_slot: int = 1
    ray_namespace: str = "foley-engine"
    #: seconds a ray slot waits for the cluster and for its actor to load before giving up
    ray_connect_timeout: float = 60.0
    #: when the cluster cannot be reached: "fail" the items, or run them on "local" slots
    ray_fallback: str = "fail"
    #: resources of a private Ray (``ray_address="local"``); None = what Ray detects
    ray_local_cpus: Optional[float] = None
    ray_local_gpus: Optional[float] = None
    #: environment of ray slot workers (the private Ray's token); not a command-line option
    ray_env: dict = field(default_factory=dict)


def default_journal() -> str:
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("foley-engine", appauthor=False), "journal.sqlite")


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"want KEY=VALUE, got {text!r}")
    return key, value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="procedural", help="backend to keep warm (default procedural)")
    parser.add_argument("--device", help="device for neural backends, e.g. cuda:0")
    parser.add_argument("--option", action="append", type=key_value, metavar="KEY=VALUE",
                        help="backend option (repeatable)")
    parser.add_argument("--connection-file", help="default: $FOLEY_ENGINE_CONNECTION or engine.json in "
                        + engine_dir())
    parser.add_argument("--journal", help="job journal (SQLite); default: the user data folder")
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:*", help="ZeroMQ endpoint to bind (default: a free local port)")
    parser.add_argument("--max-jobs-per-worker", type=int, default=50, help="recycle the worker after this many jobs")
    parser.add_argument("--max-worker-growth-mb", type=int, default=1024,
                        help="recycle the worker when its memory grew this much since the backend loaded")
    parser.add_argument("--max-attempts", type=int, default=3, help="runs of one item before a dying worker fails the job")
    parser.add_argument("--client-timeout", type=float, default=10.0, help="seconds of client silence before its events stop")
    parser.add_argument("--idle-exit", type=float, default=0.0, metavar="MINUTES",
                        help="stop after this many minutes with no job queued or running (default 0: never; "
                        "engines started by an editor adapter use 30)")
    parser.add_argument("--max-duration", type=_max_duration, default=None, metavar="SECONDS",
                        help="refuse items whose output lasts longer (default $FOLEY_MAX_DURATION, else 21600 = 6 h)")
    parser.add_argument("--output-root", action="append", default=[], metavar="DIR",
                        help="write results only inside this folder (repeatable; default: anywhere the user can "
                        "write except system folders)")
    parser.add_argument("--probe-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="refuse a submit whose media cannot be read within this time (default 30)")
    scale = parser.add_argument_group("scale-out (docs/scale.md)")
    scale.add_argument("--slots", type=_slot_count, default=0, metavar="N",
                       help="worker slots running items side by side (default: one per --devices entry, else 1)")
    scale.add_argument("--devices", type=_devices, default=[], metavar="LIST",
                       help="one slot per device, e.g. cuda:0,cuda:1 (each slot sees only its GPU)")
    scale.add_argument("--ray-address", default="", metavar="HOST:PORT",
                       help="run the slots as Ray actors on this cluster ('local': a private single-node Ray "
                            "that the engine starts and stops); needs the ray extra")
    scale.add_argument("--ray-gpus-per-slot", type=float, default=None,
                       help="GPUs each actor asks Ray for (default 1 with a cuda device, else 0)")
    scale.add_argument("--ray-cpus-per-slot", type=float, default=1.0, help="CPUs each actor asks Ray for (default 1)")
    scale.add_argument("--ray-actors-per-slot", type=_slot_count, default=1, metavar="K",
                       help="actors (GPUs) per slot: the windows of one long item are generated on all K at "
                            "once when the backend's windows are independent (procedural; hunyuan with "
                            "--option continuity=crossfade); same bytes")
    scale.add_argument("--ray-connect-timeout", type=float, default=60.0,
                       help="seconds to reach the cluster and load an actor's backend before the slot gives up")
    scale.add_argument("--ray-local-cpus", type=float, default=None,
                       help="CPUs of the private Ray started by --ray-address local (default: all)")
    scale.add_argument("--ray-local-gpus", type=float, default=None,
                       help="GPUs of the private Ray (default: those Ray detects; more are fake, for testing)")
    scale.add_argument("--ray-fallback", choices=("fail", "local"), default="fail",
                       help="when the cluster cannot be reached: fail the items (default) or use local slots")


def _max_duration(text: str) -> Fraction:
    from ..media.wav import max_duration_arg  # imported when used: `foley` starts without soundfile

    return max_duration_arg(text)


def _slot_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a whole number of slots, got {text!r}") from None
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError(f"slots must be 1..256, got {n}")
    return n


def parse_devices(text: str) -> list[str]:
    """``cuda:0,cuda:1`` -> ["cuda:0", "cuda:1"]; ``ValueError`` names a bad entry."""
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise ValueError("no device given")
    for d in devices:
        kind, _, number = d.partition(":")
        if kind == "cuda" and not (number.isdigit()):
            raise ValueError(f"{d!r}: a CUDA device is cuda:N")
        if kind not in ("cuda", "cpu", "mps"):
            raise ValueError(f"{d!r}: devices are cuda:N, cpu or mps")
    return devices


def _devices(text: str) -> list:
    try:
        return parse_devices(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_from_args(args) -> EngineConfig:
    options = dict(args.option or [])
    if args.device:
        options["device"] = args.device
    return EngineConfig(
        backend=args.backend, options=options, connection_file=args.connection_file or "",
        journal=args.journal or "", endpoint=args.endpoint, max_jobs_per_worker=args.max_jobs_per_worker,
        max_worker_growth=args.max_worker_growth_mb * 1024 * 1024, max_attempts=args.max_attempts,
        client_timeout=args.client_timeout, idle_exit=max(0.0, getattr(args, "idle_exit", 0.0) or 0.0) * 60,
        max_duration=args.max_duration or _default_max_duration(),
        output_roots=tuple(os.path.abspath(r) for r in args.output_root or ()),
        probe_timeout=args.probe_timeout,
        slots=getattr(args, "slots", 0) or 0, devices=list(getattr(args, "devices", None) or []),
        ray_address=getattr(args, "ray_address", "") or "", ray_gpus_per_slot=getattr(args, "ray_gpus_per_slot", None),
        ray_cpus_per_slot=getattr(args, "ray_cpus_per_slot", 1.0),
        ray_connect_timeout=getattr(args, "ray_connect_timeout", 60.0),
        ray_actors_per_slot=getattr(args, "ray_actors_per_slot", 1),
        ray_fallback=getattr(args, "ray_fallback", "fail"),
        ray_local_cpus=getattr(args, "ray_local_cpus", None), ray_local_gpus=getattr(args, "ray_local_gpus", None),
    )


def _default_max_duration() -> Fraction:
    from foley_engine.media.wav import default_max_duration

    return default_max_duration()
