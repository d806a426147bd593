"""Ray actor slots against a real local Ray (one cluster for the whole file, fake GPUs).

The cluster is ``ray.cluster_utils.Cluster`` (a head node with 2 CPUs and 4 fake GPUs; one test adds
and removes a second node); one more test runs the engine's own private Ray (``--ray-address local``),
which is what it is about.  Engines connect to it with ``--ray-address``; the actors load the test
backends because the raylets inherit this process's PYTHONPATH.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import pytest

from test_engine_backend import HERE, make_clip, pid_alive, wait_for

ENV_PULSE = "scale_backends:EnvPulse"
ROOT = os.path.dirname(HERE)


def _maps_mention(pid: int, needle: str) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return needle in f.read()


def test_the_default_engine_never_imports_ray(engines, tmp_path):
    code = ("import sys; import foley_engine.cli, foley_engine.engine.server, foley_engine.engine.worker, "
            "foley_engine.engine.supervisor, foley_engine.engine.slots, foley_batch.cli; "
            "from foley_engine.engine.server import Engine; from foley_engine.engine.config import EngineConfig; "
            "Engine(EngineConfig(slots=2)); assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=os.pathsep.join((ROOT, HERE))))
    engine = engines(tmp_path / "e", "--slots", "2", backend=ENV_PULSE)
    slots = engine.status()["slots"]
    for pid in (engine.proc.pid, *(s["pid"] for s in slots)):
        assert not _maps_mention(pid, "_raylet"), f"process {pid} loaded Ray"


ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, ROOT, os.environ.get("PYTHONPATH")) if p)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 4, "include_dashboard": False})
    ray.init(address=c.address, log_to_driver=False, logging_level="WARNING")  # this test is a driver too
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=3)


def all_ready(engine):
    wait_for(lambda: all(s["state"] == "ready" for s in engine.status()["slots"]), 60, "every slot ready")
    return engine


def ray_engine(engines, folder, cluster, *args, backend=ENV_PULSE):
    return all_ready(engines(folder, "--ray-address", cluster.address, "--ray-gpus-per-slot", "1",
                             "--ray-cpus-per-slot", "0.1", "--ray-connect-timeout", "60", *args, backend=backend))


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def reference(engines, tmp_path, items):
    """The same items through one local worker: the bytes every ray run must write."""
    eng = engines(tmp_path / "ref", backend=ENV_PULSE)
    (tmp_path / "ref_out").mkdir()
    with eng.client(timeout=10) as c:
        results = c.submit(items, out_dir=str(tmp_path / "ref_out")).wait(timeout=120)
    eng.stop()
    return [file_bytes(r["path"]) for r in results]


def busy_slots(eng, n):
    def check():
        st = eng.status()
        return st if sum(1 for s in st["slots"] if s["current"]) >= n else None
    return check


def test_ray_slots_write_the_same_bytes_as_one_local_worker(engines, cluster, clip, tmp_path):
    items = [{"media": clip, "start": a, "end": b, "seed": i, "options": {"delay": 0.05}}
             for i, (a, b) in enumerate([("0", "3"), ("1/2", "2"), ("1", "29/10"), ("0", "1")])]
    want = reference(engines, tmp_path, items)
    engine = ray_engine(engines, tmp_path / "e", cluster, "--slots", "2")
    out = tmp_path / "out"
    out.mkdir()
    with engine.client(timeout=10) as eng:
        st = eng.status()
        slots = st["slots"]
        assert [s["kind"] for s in slots] == ["ray", "ray"]
        where = [s["where"] for s in slots]
        assert all(w["node_ip"] and w["pid"] and w["actor_id"] for w in where)
        assert len({w["cuda_visible_devices"] for w in where}) == 2  # one fake GPU each, placed by Ray
        assert all(len(w["gpu_ids"]) == 1 for w in where)
        results = eng.submit(items, out_dir=str(out)).wait(timeout=120)
    assert [file_bytes(r["path"]) for r in results] == want
    assert sum(s["items_run"] for s in engine.status()["slots"]) == len(items)


def test_finishing_and_warnings_match_one_machine_for_a_normalising_backend(engines, cluster, clip, tmp_path):
    """procedural normalises its stems (loudness_target) and reports unknown words: the engine's side
    of a ray slot must do both exactly as a local worker does."""
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.generate import generate_to_file
    from foley_engine.job import Job

    local = generate_to_file(Job(clip, Fraction(0), Fraction(2), "wood impacts, rian"), ProceduralBackend(),
                             str(tmp_path / "local.wav"))
    engine = ray_engine(engines, tmp_path / "e", cluster, backend="procedural")
    (tmp_path / "out").mkdir()
    with engine.client(timeout=10) as eng:
        (result,) = eng.submit([{"media": clip, "start": "0", "end": "2", "prompt": "wood impacts, rian"}],
                               out_dir=str(tmp_path / "out")).wait(timeout=120)
    assert file_bytes(result["path"]) == file_bytes(local.path)
    assert result["warnings"] == list(local.warnings) and any("'rian'" in w for w in result["warnings"])


def test_a_stems_and_takes_set_on_a_ray_slot_is_byte_identical_to_in_process(engines, cluster, clip, tmp_path):
    """Issue 21: the set (native procedural stems, derived take seeds, one gain for the set) assembled on the
    engine's side of a ray slot, each window rendered by the actor, writes the bytes of an in-process run."""
    from plugin_host.items import Item, Result

    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.generate import generate_to_file

    item = Item(clip, Fraction(0), Fraction(2), prompt="wood impacts, room tone", seed=4, stems="props,bg", takes=2)
    local = generate_to_file(item, ProceduralBackend(), str(tmp_path / "local.wav"))
    engine = ray_engine(engines, tmp_path / "e", cluster, backend="procedural")
    (tmp_path / "out").mkdir()
    with engine.client(timeout=10) as eng:
        (result,) = eng.submit([item.to_wire()], out_dir=str(tmp_path / "out")).wait(timeout=120)
    got = Result.from_wire(result)
    assert got.problem(item) is None and len(got.outputs) == 4
    assert [file_bytes(o.path) for o in got.outputs] == [file_bytes(o.path) for o in local.outputs]


def test_a_neural_backend_on_a_ray_slot_writes_the_bytes_of_an_in_process_run(engines, cluster, tmp_path):
    """Issue 24: mmaudio (tiny random weights in the released layout) on a ray slot, like every backend."""
    from mmaudio_tiny import make_tiny_models

    from foley_engine.backends.registry import load_backend
    from foley_engine.generate import generate_to_file
    from foley_engine.job import Job

    models = tmp_path / "models"
    make_tiny_models(models, size="small_16k", seed=1)
    shot = make_clip(str(tmp_path / "shot.mp4"), seconds=9)  # two windows: the seam is on the slot too
    backend = load_backend("mmaudio", models_dir=str(models), size="small_16k", device="cpu")
    options = {"steps": 1, "guidance": 0}
    # On a CPU a network's sums follow torch's thread count, and Ray gives an actor with a CPU share
    # below one OMP_NUM_THREADS=1 (docs/scale.md): the in-process reference runs with one thread too.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = generate_to_file(Job(shot, Fraction(0), Fraction(9), "rain", seed=3, options=options), backend,
                                 str(tmp_path / "local.wav"))
    finally:
        torch.set_num_threads(threads)
    engine = ray_engine(engines, tmp_path / "e", cluster, "--device", "cpu", "--option", f"models_dir={models}",
                        "--option", "size=small_16k", backend="mmaudio")
    (tmp_path / "out").mkdir()
    with engine.client(timeout=10) as eng:
        (result,) = eng.submit([{"media": shot, "start": "0", "end": "9", "prompt": "rain", "seed": 3,
                                 "options": options}], out_dir=str(tmp_path / "out")).wait(timeout=300)
        assert eng.status()["slots"][0]["where"]["torch_threads"] == 1
    assert file_bytes(result["path"]) == file_bytes(local.path)


def test_an_actor_killed_mid_item_reruns_it_to_identical_output(engines, cluster, clip, tmp_path):
    items = [{"media": clip, "seed": 21, "options": {"delay": 0.3}}]
    want = reference(engines, tmp_path, items)
    engine = ray_engine(engines, tmp_path / "e", cluster, "--slots", "1")
    out = tmp_path / "out"
    out.mkdir()
    with engine.client(timeout=10) as eng:
        job = eng.submit(items, out_dir=str(out))
        for event in job.events(timeout=60):
            if event.type == "span":
                break
        actor = eng.status()["slots"][0]["where"]["pid"]
        os.kill(actor, signal.SIGKILL)
        results = job.wait(timeout=120)
        st = eng.status()
        assert eng.job(job.job_id)["items"][0]["attempts"] == 2  # the journal's retry, not Ray's
    assert st["slots"][0]["restarts"] == 1 and "Ray actor was lost" in st["slots"][0]["last_exit"]
    assert st["slots"][0]["where"]["pid"] != actor
    assert file_bytes(results[0]["path"]) == want[0]
    name = os.path.basename(results[0]["path"])
    assert sorted(os.listdir(out)) == [name, name + ".foley.json"]  # the WAV and its sidecar; no partial file


def test_a_node_removed_mid_item_its_items_finish_elsewhere(engines, cluster, clip, tmp_path):
    items = [{"media": clip, "seed": 30 + i, "options": {"delay": 0.3}} for i in range(2)]
    want = reference(engines, tmp_path, items)
    # The head's 4 GPUs are taken, so Ray places both slots on the new node.
    hog = ray.remote(num_gpus=4, num_cpus=0)(type("Hog", (), {"ping": lambda self: 1})).remote()
    ray.get(hog.ping.remote())
    node = cluster.add_node(num_cpus=1, num_gpus=2)
    cluster.wait_for_nodes()
    engine = ray_engine(engines, tmp_path / "e", cluster, "--slots", "2")
    out = tmp_path / "out"
    out.mkdir()
    with engine.client(timeout=10) as eng:
        placed = {s["where"]["node_id"] for s in eng.status()["slots"]}
        assert placed == {node.node_id}
        job = eng.submit(items, out_dir=str(out))
        wait_for(busy_slots(eng, 2), 30, "both slots busy")
        ray.kill(hog)  # room on the head for the slots' next actors
        cluster.remove_node(node, allow_graceful=False)
        results = job.wait(timeout=180)
        st = eng.status()
    assert all(s["restarts"] >= 1 for s in st["slots"])
    assert {s["where"]["node_id"] for s in st["slots"]} == {cluster.head_node.node_id}
    assert [file_bytes(r["path"]) for r in results] == want


def test_cancel_on_a_ray_slot_stops_within_a_window(engines, cluster, clip, tmp_path):
    from plugin_host.client import JobCancelled

    engine = ray_engine(engines, tmp_path / "e", cluster, "--slots", "1")
    with engine.client(timeout=10) as eng:
        job = eng.submit([{"media": clip, "options": {"delay": 0.5}}], out_dir=str(tmp_path))
        for event in job.events(timeout=60):
            if event.type == "span":
                break
        t = time.monotonic()
        job.cancel()
        with pytest.raises(JobCancelled):
            job.wait(timeout=30)
        assert time.monotonic() - t < 3.0  # one 0.5-s window, plus slack for a loaded machine
    assert not [n for n in os.listdir(tmp_path) if n.endswith((".wav", ".partial"))]


def test_an_unreachable_cluster_fails_items_clearly_or_falls_back(engines, clip, tmp_path):
    from plugin_host.client import JobFailed

    from test_engine_backend import EngineProcess
    from plugin_host.client import RequestRejected

    dead = "127.0.0.1:1"
    engine = EngineProcess(tmp_path / "fail", "--ray-address", dead, "--ray-connect-timeout", "5", backend=ENV_PULSE)
    try:
        t = time.monotonic()
        engine.start(wait_ready=False)
        with engine.client(timeout=10) as eng:
            job = eng.submit([{"media": clip}], out_dir=str(tmp_path))  # queued while the slot connects
            with pytest.raises(JobFailed) as info:
                job.wait(timeout=60)
            assert info.value.code == "cluster" and "cannot reach the Ray cluster at 127.0.0.1:1" in str(info.value)
            assert time.monotonic() - t < 40  # never a hang
            with pytest.raises(RequestRejected) as refused:  # later submits are refused at once, with the reason
                eng.submit([{"media": clip}], out_dir=str(tmp_path))
            assert "Ray cluster" in str(refused.value)
    finally:
        engine.stop()

    fallback = engines(tmp_path / "fallback", "--ray-address", dead, "--ray-connect-timeout", "5",
                       "--ray-fallback", "local", "--slots", "2", backend=ENV_PULSE)
    with fallback.client(timeout=10) as eng:
        results = eng.submit([{"media": clip, "seed": 3}], out_dir=str(tmp_path)).wait(timeout=120)
        st = eng.status()
    assert [s["kind"] for s in st["slots"]] == ["local", "local"] and os.path.getsize(results[0]["path"]) > 44
    assert "falling back to 2 local slot(s)" in fallback.log()


def test_one_long_item_fans_its_windows_out_over_a_slots_actors(engines, cluster, clip, tmp_path):
    items = [{"media": clip, "seed": 12, "options": {"delay": 0.2}}]
    want = reference(engines, tmp_path, items)
    engine = ray_engine(engines, tmp_path / "e", cluster, "--slots", "1", "--ray-actors-per-slot", "3")
    out = tmp_path / "out"
    out.mkdir()
    with engine.client(timeout=10) as eng:
        where = eng.status()["slots"][0]["where"]
        assert where["actors"] == 3 and len({a["pid"] for a in where["fan_out"]}) == 3
        t = time.monotonic()
        results = eng.submit(items, out_dir=str(out)).wait(timeout=120)
        fanned = time.monotonic() - t
    assert file_bytes(results[0]["path"]) == want[0]
    # 4 windows of 0.2 s on 3 actors: about 2 rounds instead of 4 (loose: a shared 2-core machine)
    assert fanned < 4 * 0.2 + 1.5


def _descendants(pid: int) -> list:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_a_private_local_ray_runs_items_fails_clearly_when_it_vanishes_and_stops_with_the_engine(
        engines, clip, tmp_path):
    from plugin_host.client import JobFailed

    engine = all_ready(engines(tmp_path / "e", "--ray-address", "local", "--ray-local-cpus", "1",
                               "--ray-local-gpus", "2", "--slots", "2", "--ray-gpus-per-slot", "1",
                               "--ray-cpus-per-slot", "0.1", "--ray-connect-timeout", "10", backend=ENV_PULSE))
    log = engine.log()
    assert "private Ray started at" in log and "token authentication" in log
    head = int(log.split("private Ray started at ")[1].split("(pid ")[1].split(",")[0])
    with engine.client(timeout=10) as eng:
        assert [s["kind"] for s in eng.status()["slots"]] == ["ray", "ray"]
        results = eng.submit([{"media": clip, "seed": 4}], out_dir=str(tmp_path)).wait(timeout=120)
        assert os.path.getsize(results[0]["path"]) > 44
        # Now the whole cluster vanishes mid-item (GCS, raylet, actors; the head process stays).
        out = tmp_path / "second"
        out.mkdir()
        job = eng.submit([{"media": clip, "options": {"delay": 0.5}}], out_dir=str(out))
        for event in job.events(timeout=60):
            if event.type == "span":
                break
        t = time.monotonic()
        for pid in _descendants(head):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with pytest.raises(JobFailed) as info:
            job.wait(timeout=150)
        assert time.monotonic() - t < 120  # never a hang
        assert info.value.code == "cluster" and "cannot reach the Ray cluster" in str(info.value)
    assert not os.listdir(out)  # no half-written file
    engine.stop()
    wait_for(lambda: not pid_alive(head), 60, "the private Ray to stop with the engine")
