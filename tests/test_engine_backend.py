"""Helpers for the engine tests: a slow-able deterministic backend and a short clip.

The engine's worker loads ``test_engine_backend:PulseBackend`` by import
path (the tests put this folder on its PYTHONPATH).  Its output is a pure
function of the absolute sample index, the seed and the visual onsets, so a
run that was interrupted and retried must give identical samples.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np

from foley_engine.backends.base import Backend
from foley_engine.timebase import to_index

HERE = os.path.dirname(os.path.abspath(__file__))
PULSE = "test_engine_backend:PulseBackend"


class PulseBackend(Backend):
    name = "pulse"
    channels = 1
    overlap = Fraction(1, 4)

    def __init__(self, delay: str = "0", window: str = "1", **options):
        self.delay = float(delay)  # wall-clock seconds per window: makes mid-job faults easy to hit
        self.native_window = Fraction(window)
        self._hoard = []

    def generate(self, request):
        delay = float(request.options.get("delay", self.delay))  # per item, so one engine serves all tests
        if delay:
            time.sleep(delay)
        leak = int(request.options.get("leak_mb", 0))  # memory kept for good: the worker must be recycled
        if leak:
            self._hoard.append(np.ones(leak * 2**20 // 8))
        n = np.arange(request.start_sample, request.end_sample, dtype=np.int64)
        # Period 480 samples: exact in integers, independent of where a window starts.
        phase = ((n + request.job_seed) % 480).astype(np.float32) / 480.0
        audio = (0.1 * np.sin(2 * np.pi * phase)).astype(np.float32)[:, None]
        for onset in request.events.onsets:
            i = to_index(onset.time, request.sample_rate) - request.start_sample
            if 0 <= i < request.num_samples:
                audio[i] = 0.9
        return audio


class EngineProcess:
    """A real engine subprocess (``python -m foley_engine.engine.server``) in its own folder."""

    #: the module run as the engine (a test may run the engine under a fault injector)
    server_module = "foley_engine.engine.server"

    def __init__(self, folder, *args: str, backend: str = PULSE):
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.connection_file = os.path.join(self.folder, "engine.json")
        self.journal = os.path.join(self.folder, "journal.sqlite")
        self.log_path = os.path.join(self.folder, "engine.log")
        self.args = ["--backend", backend, "--connection-file", self.connection_file, "--journal", self.journal, *args]
        self.proc = None

    @staticmethod
    def env() -> dict:
        root = os.path.dirname(HERE)
        path = os.pathsep.join(p for p in (HERE, root, os.environ.get("PYTHONPATH")) if p)
        return dict(os.environ, PYTHONPATH=path)

    def start(self, wait_ready: bool = True) -> "EngineProcess":
        from plugin_host.client import EngineClient
        from plugin_host.connection import read_connection_file

        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", self.server_module, *self.args],
                                         stdout=log, stderr=log, env=self.env())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if read_connection_file(self.connection_file).pid == self.proc.pid:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        while wait_ready and time.monotonic() < deadline:
            with EngineClient.connect(self.connection_file, timeout=2) as eng:
                worker = eng.status()["worker"]
            if worker and worker["state"] == "ready":
                return self
            time.sleep(0.05)
        assert not wait_ready or time.monotonic() < deadline, self.log()
        return self

    def client(self, **kwargs):
        from plugin_host.client import EngineClient

        kwargs.setdefault("timeout", 3.0)
        return EngineClient.connect(self.connection_file, **kwargs)

    def status(self) -> dict:
        with self.client() as eng:
            return eng.status()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            with self.client(timeout=2, retries=1) as eng:
                eng.shutdown()
            self.proc.wait(20)
        except Exception:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def make_clip(path: str, seconds: int = 3, fps: Fraction = Fraction(30000, 1001)) -> str:
    """A small H.264 clip with a bright flash every second (an onset to hear)."""
    try:
        from foley_engine.lab.samples import make_sample_video
    except ImportError:
        make_sample_video = None
    if make_sample_video is not None:
        return make_sample_video(path, duration=seconds, fps=fps, width=160, height=90,
                                 impacts_every=Fraction(1), impact_offset=Fraction(1, 2)).path
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        frames = int(seconds * fps)
        for i in range(frames):
            t = Fraction(i) / fps
            level = 230 if (t % 1) >= Fraction(1, 2) and (t % 1) < Fraction(1, 2) + 1 / fps else 40
            img = np.full((90, 160, 3), level, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def test_pulse_backend_windows_agree(tmp_path):
    from foley_engine.generate import generate_to_file
    from foley_engine.job import Job
    import soundfile as sf

    clip = make_clip(str(tmp_path / "c.mp4"), seconds=2)
    a = generate_to_file(Job(clip, seed=3), PulseBackend(window="1"), str(tmp_path / "a.wav"), subtype="float")
    b = generate_to_file(Job(clip, seed=3), PulseBackend(window="3/2"), str(tmp_path / "b.wav"), subtype="float")
    assert a.windows > b.windows > 1
    np.testing.assert_allclose(sf.read(a.path)[0], sf.read(b.path)[0], atol=1e-6)


def raw_socket(engine):
    """A bare DEALER socket and a session with the engine's key: for sending hand-made frames."""
    import zmq

    from plugin_host.connection import read_connection_file

    from plugin_host.envelope import Session

    info = read_connection_file(engine.connection_file)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(info.endpoint)
    return sock, Session(info.key.encode())


def exchange(sock, session, frames, timeout=3.0):
    """Send frames and read one reply (None when nothing comes back within ``timeout``)."""
    sock.send_multipart(frames)
    if not sock.poll(timeout * 1000):
        return None
    return session.deserialize(sock.recv_multipart())
