"""Ray-backed slots: the backend is a Ray actor on a cluster node; everything else stays here.

Imported only by a worker process started for a ray slot (``foley engine serve
--ray-address ...``); the engine process and the default path never import it,
nor Ray.

A ray slot's worker process runs the same long-form scheduler as a local one
(decoding, analysis, window planning, stitching, the atomic WAV writer) with a
:class:`RemoteBackend` whose ``generate`` is a call on an actor that holds the
real backend warm on one GPU (``num_gpus=1``) or a CPU share.  A window request
is a function of the media and the job alone, and the stitcher and writer are the
local ones, so the bytes written are the ones a single local worker writes.

Retries and cancel are the engine's, not Ray's: the actor is created with
``max_restarts=0`` and ``max_task_retries=0``.  When the actor or its node dies
mid-item, :meth:`RemoteBackend.generate` raises :class:`SlotLost`; the worker
exits with :data:`~.worker_process.SLOT_LOST_EXIT`, the supervisor reports the
item lost, the job book requeues it (the journal counts the attempt) and the slot
starts again with a new actor wherever Ray places it.  A slot that cannot reach
the cluster, or whose actor cannot load, reports a fatal error within
``connect_timeout`` seconds instead of hanging.
"""
from __future__ import annotations

import os
import socket
import threading
from fractions import Fraction
import numpy as np
import ray

from foley_engine.backends.base import Backend, WindowRequest
from foley_engine.errors import FoleyError

from .memory import gpu_memory, process_rss
from .slots import SlotLost

#: the Ray versions this module is tested with (pyproject's ``ray`` extra pins the same range)
SUPPORTED_RAY = ">=2.60,<2.61"


class ClusterUnavailable(FoleyError):
    code = "cluster"


class BackendActor:
    """Holds one warm backend on whatever Ray placed it on (made remote by :func:`actor_class`)."""

    def __init__(self, backend: str, options: dict):
        from foley_engine.backends.registry import load_backend

        self.backend = load_backend(backend, **options)

    def describe(self) -> dict:
        b = self.backend
        ctx = ray.get_runtime_context()
        return {
            "backend": b.describe(),
            "attributes": {
                "name": b.name, "sample_rate": b.sample_rate, "channels": b.channels,
                "native_window": str(b.native_window) if b.native_window else None,
                "overlap": str(b.overlap), "lookback": str(b.lookback), "frame_specs": tuple(b.frame_specs),
                "device": b.device, "independent_windows": bool(getattr(b, "independent_windows", False)),
                "loudness_target": getattr(b, "loudness_target", None), "stems": getattr(b, "stems", "none"),
            },
            "remote": {
                "host": socket.gethostname(), "node_ip": ray.util.get_node_ip_address(),
                "node_id": ctx.get_node_id(), "actor_id": ctx.get_actor_id(), "pid": os.getpid(),
                "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "rss": process_rss(), "gpu": gpu_memory(), "torch_threads": _torch_threads(),
            },
        }

    def generate(self, request: WindowRequest):
        return self.backend.generate(request)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        self.backend.close()


def _torch_threads():
    """torch's intra-op thread count in this actor (None when torch is not loaded): on a CPU a neural
    backend's sums follow it, so its bytes equal a local run's with the same count."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def connect(address: str, namespace: str, timeout: float) -> None:
    """``ray.init`` at exactly ``address`` (never a bare init that could join a stale cluster)."""
    if not address:
        raise ClusterUnavailable("no Ray address given")
    if not ray.__version__.startswith("2.60."):
        import sys

        sys.stderr.write(f"foley worker: warning: Ray {ray.__version__} is untested (supported: {SUPPORTED_RAY})\n")
    done = threading.Event()
    failure: list = []

    def init() -> None:
        try:
            ray.init(address=address, namespace=namespace, log_to_driver=False, logging_level="WARNING",
                     configure_logging=False, include_dashboard=False)
        except Exception as exc:  # noqa: BLE001 - reported as one line below
            failure.append(exc)
        finally:
            done.set()

    # ray.init against a vanished cluster retries for a long time: bound it.
    threading.Thread(target=init, name="ray-init", daemon=True).start()
    if not done.wait(timeout):
        raise ClusterUnavailable(f"cannot reach the Ray cluster at {address} within {timeout:g} s")
    if failure:
        exc = failure[0]
        raise ClusterUnavailable(f"cannot reach the Ray cluster at {address}: {type(exc).__name__}: {exc}")


class RemoteBackend(Backend):
    """A backend whose windows are generated by a Ray actor; looks like the real one to the scheduler."""

    def __init__(self, backend: str, options: dict, ray_config: dict):
        timeout = float(ray_config.get("connect_timeout") or 60.0)
        connect(ray_config.get("address", ""), ray_config.get("namespace") or "foley-engine", timeout)
        num_gpus = float(ray_config.get("num_gpus") or 0)
        options = dict(options)
        if num_gpus and str(options.get("device", "")).startswith("cuda"):
            options["device"] = "cuda:0"  # Ray sets CUDA_VISIBLE_DEVICES to the actor's own GPU(s)
        remote_cls = ray.remote(BackendActor).options(
            num_gpus=num_gpus, num_cpus=float(ray_config.get("num_cpus", 1.0)),
            # Retries are the engine's (the journal counts attempts), never Ray's.
            max_restarts=0, max_task_retries=0,
        )
        # K actors per slot: the windows of one item fan out over them when the backend's windows
        # are independent (else the first does all the work).
        self.actors = [remote_cls.remote(backend, options) for _ in range(max(1, int(ray_config.get("actors", 1))))]
        self.actor = self.actors[0]
        try:
            infos = ray.get([a.describe.remote() for a in self.actors], timeout=timeout)
            info = infos[0]
        except ray.exceptions.GetTimeoutError:
            for a in self.actors:
                ray.kill(a)
            raise ClusterUnavailable(
                f"no Ray node took a {backend!r} actor (num_gpus={num_gpus:g}, "
                f"num_cpus={ray_config.get('num_cpus', 1.0):g}) within {timeout:g} s") from None
        except ray.exceptions.RayActorError as exc:
            raise ClusterUnavailable(f"the {backend!r} actor failed to load: {_first_line(exc)}") from None
        a = info["attributes"]
        self.name = a["name"]
        self.sample_rate = a["sample_rate"]
        self.channels = a["channels"]
        self.native_window = Fraction(a["native_window"]) if a["native_window"] else None
        self.overlap = Fraction(a["overlap"])
        self.lookback = Fraction(a["lookback"])
        self.frame_specs = tuple(a["frame_specs"])
        self.device = a["device"]
        self.independent_windows = a["independent_windows"]
        # Finishing (the loudness pass) runs here, on the engine's node: same target, same bytes.
        self.loudness_target = a["loudness_target"]
        # How the real backend makes stems (the set is assembled here, like a local slot's).
        self.stems = a.get("stems", "none")
        self.registry_name = backend
        self.remote = dict(info["remote"], actors=len(self.actors))
        if len(infos) > 1:
            self.remote["fan_out"] = [i["remote"] for i in infos]
        self._describe = dict(info["backend"], remote=self.remote)
        self._next = 0

    @property
    def width(self) -> int:
        """Windows of one item generated at once (a :class:`~foley_engine.longform.scheduler.WindowPool`)."""
        return len(self.actors) if self.independent_windows else 1

    def generate(self, request: WindowRequest):
        return self._get(self.actor.generate.remote(request))

    def loudness_target_for(self, prompt: str, negative_prompt: str = "", stem: str | None = None) -> float | None:
        """The real backend class's rule where it is a class method (the procedural beds), else its target."""
        import inspect

        from foley_engine.backends.registry import backend_class

        cls = backend_class(self.registry_name)
        if isinstance(inspect.getattr_static(cls, "loudness_target_for", None), classmethod):
            return cls.loudness_target_for(prompt, negative_prompt, stem) if stem else \
                cls.loudness_target_for(prompt, negative_prompt)
        return self.loudness_target

    def prompt_warnings(self, prompt: str, negative_prompt: str = "") -> list[str]:
        """The real backend class's warnings (a class method: no actor round trip)."""
        from foley_engine.backends.registry import prompt_warnings

        return prompt_warnings(self.registry_name, prompt, negative_prompt)

    def wants_people(self, prompt: str, negative_prompt: str = "") -> bool:
        """The real backend class's answer, so a Ray slot runs the pose model exactly when a local one does."""
        from foley_engine.backends.registry import backend_class

        return bool(backend_class(self.registry_name).wants_people(prompt, negative_prompt))

    def submit(self, request: WindowRequest) -> "_RemoteWindow":
        actor = self.actors[self._next % len(self.actors)]
        self._next += 1
        return _RemoteWindow(self, actor.generate.remote(request))

    def _get(self, ref):
        try:
            # A copy: arrays from Ray's object store are read-only, and the stitcher blends in place.
            return np.array(ray.get(ref))
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError,
                ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError, ray.exceptions.WorkerCrashedError) \
                as exc:
            raise SlotLost(f"its Ray actor on {self.remote.get('node_ip')} was lost: {_first_line(exc)}") from None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if cause is not None:
                raise cause from None  # the backend's own error, as a local backend would raise it
            raise

    def describe(self) -> dict:
        return dict(self._describe)

    def close(self) -> None:
        try:
            ray.get([a.close.remote() for a in self.actors], timeout=10)
        except Exception:  # noqa: BLE001 - the actors are going anyway
            pass
        for a in self.actors:
            ray.kill(a)


class _RemoteWindow:
    """One window in flight on an actor (the scheduler's future)."""

    def __init__(self, backend: RemoteBackend, ref):
        self.backend, self.ref = backend, ref

    def result(self):
        return self.backend._get(self.ref)

    def cancel(self) -> None:
        try:
            ray.cancel(self.ref)
        except Exception:  # noqa: BLE001 - finished or gone: nothing to give up
            pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_remote(init: dict) -> RemoteBackend:
    return RemoteBackend(init["backend"], init.get("options") or {}, init["ray"])
