"""Worker slots: where the engine's items run.

A slot is one place that holds a warm backend and runs one item at a time:

* a **local** slot is a worker process on this machine (``--slots N``, or one per
  GPU with ``--devices cuda:0,cuda:1``; each sees only its own GPU through
  ``CUDA_VISIBLE_DEVICES``, so the backend inside always uses ``cuda:0``);
* a **ray** slot is also a worker process on this machine, but its backend is a Ray
  actor placed by Ray on a cluster node (``--ray-address``, see
  :mod:`foley_engine.engine.ray_slots`).  Decoding, analysis, stitching and the
  WAV writer stay in the local process, so the bytes written are the same.

Both speak the worker's JSON-lines protocol, so the supervisor treats them alike.
This module only plans the slots; it never imports Ray.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .config import EngineConfig


class SlotLost(Exception):
    """A ray slot's actor (or its node) died while generating: the item must run again elsewhere."""


@dataclass(frozen=True)
class SlotSpec:
    """What one slot is: its number, where it runs and how its worker is started."""

    index: int
    kind: str  # "local" or "ray"
    #: the device as the user named it ("cuda:1", "cpu"); None = the backend's default
    device: Optional[str] = None
    #: extra environment of the worker process (CUDA_VISIBLE_DEVICES for a local GPU slot)
    env: dict = field(default_factory=dict)
    #: backend options of this slot (the configured ones, with the device the worker sees)
    options: dict = field(default_factory=dict)
    #: extra fields of the worker's init message (the Ray connection for a ray slot)
    init: dict = field(default_factory=dict)

    def describe(self) -> dict:
        out = {"slot": self.index, "kind": self.kind, "device": self.device}
        if self.env.get("CUDA_VISIBLE_DEVICES") is not None:
            out["cuda_visible_devices"] = self.env["CUDA_VISIBLE_DEVICES"]
        return out


def local_slot(index: int, device: Optional[str], options: dict) -> SlotSpec:
    options = dict(options)
    env: dict = {}
    if device is not None and device.startswith("cuda:"):
        # The worker sees only its own GPU, renumbered cuda:0 (a backend that allocates on
        # "the current device" cannot touch a neighbour's).
        env["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1]
        options["device"] = "cuda:0"
    elif device is not None:
        options["device"] = device
    return SlotSpec(index, "local", device, env, options)


def plan_slots(config: EngineConfig) -> list[SlotSpec]:
    """The engine's slots: local worker processes, or Ray-backed ones with ``ray_address``."""
    options = dict(config.options)
    if config.ray_address:
        device = options.get("device")
        n = config.slots or 1
        env = dict(config.ray_env)
        return [SlotSpec(i, "ray", device, env, options, {"ray": ray_init(config, device)}) for i in range(n)]
    if config.devices:
        n = config.slots or len(config.devices)
        return [local_slot(i, config.devices[i % len(config.devices)], options) for i in range(n)]
    return [local_slot(i, None, options) for i in range(config.slots or 1)]


def ray_init(config: EngineConfig, device: Optional[str]) -> dict:
    """The Ray part of a ray slot's init message (what the actor asks Ray for, and where Ray is)."""
    gpus = config.ray_gpus_per_slot
    if gpus is None:
        gpus = 1.0 if (device or "").startswith("cuda") else 0.0
    return {
        "address": config.ray_address,
        "num_gpus": gpus,
        "num_cpus": config.ray_cpus_per_slot,
        "namespace": config.ray_namespace,
        "connect_timeout": config.ray_connect_timeout,
        "actors": config.ray_actors_per_slot,
    }
