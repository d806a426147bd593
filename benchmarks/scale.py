"""Scale-out figures: throughput with 1, 2, 4, 8 slots, scheduling efficiency on a mixed season, fan-out.

Run from the repo root:  .venv/bin/python benchmarks/scale.py [--quick] [--no-ray] [out.json]
(default benchmarks/out/scale.json).  Needs the ``ray`` extra for the Ray rows (else they are skipped).

* **throughput**: a uniform season (items of 30 s) through 1, 2, 4 and 8 warm slots, with the
  procedural backend (CPU-bound) and a simulated GPU backend (``scale_sim.SimulatedGPU``: 2 s of
  "model time" per 10-s window, as a sleep), as local worker processes and as Ray actors (a local Ray
  with fake GPUs, one per actor).  Speed-up is against 1 slot of the same kind; every output is
  checked byte for byte against the 1-slot local run.  Target: >= 90 % of ideal speed-up for the
  simulated GPU at 4 slots.
* **mixed season**: items of 5 s to 2 min on 4 slots, submitted as one job (the engine hands out the
  longest item first) and as one job per item in a shuffled order (first come, first served).
  Ideal makespan = max(total item time / slots, longest item), item times from the 1-slot run.
  Target: within 10 % of ideal.
* **fan-out** (Ray): one 2-minute item on one slot whose windows fan out over K actors.

Makespan is from submit to the job's last event, with the slots already warm.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests"), HERE, ROOT]
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, os.path.join(ROOT, "tests"), ROOT,
                                                       os.environ.get("PYTHONPATH")) if p)

from test_engine_backend import EngineProcess  # noqa: E402

from foley_engine.lab.samples import make_sample_video  # noqa: E402

SIM = "scale_sim:SimulatedGPU"
#: "model time" of the simulated GPU per 10-s window
SIM_SECONDS = 2.0
SLOTS = (1, 2, 4, 8)


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Bench:
    def __init__(self, work: str, ray_address: str = ""):
        self.work = work
        self.ray_address = ray_address
        self.n = 0

    def engine(self, backend: str, slots: int, ray: bool, *extra: str) -> EngineProcess:
        self.n += 1
        args = ["--slots", str(slots), "--max-jobs-per-worker", "100000", *extra]
        if ray:
            args += ["--ray-address", self.ray_address, "--ray-gpus-per-slot", "1", "--ray-cpus-per-slot", "0.1",
                     "--ray-connect-timeout", "120"]
        eng = EngineProcess(os.path.join(self.work, f"engine{self.n}"), *args, backend=backend).start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            st = eng.status()
            if st["backend"].get("error"):
                raise RuntimeError(st["backend"]["error"])
            if all(s["state"] == "ready" for s in st["slots"]):
                return eng
            time.sleep(0.2)
        raise RuntimeError(f"{slots} slot(s) not ready in 300 s:\n{eng.log()[-2000:]}")

    def run(self, eng: EngineProcess, items: list, one_job: bool = True) -> tuple[float, list]:
        out = tempfile.mkdtemp(dir=self.work)
        with eng.client(timeout=30) as c:
            t = time.perf_counter()
            jobs = [c.submit(items, out_dir=out)] if one_job else [c.submit([it], out_dir=out) for it in items]
            for _ in c.events_of(jobs):
                pass
            wall = time.perf_counter() - t
            results = [r for j in jobs for r in j.results()]
        return wall, results


def season_uniform(video: str, n: int, seconds: int = 30, **options) -> list:
    return [{"media": video, "start": str(k % 3 * 15), "end": str(k % 3 * 15 + seconds), "seed": k,
             "prompt": "footsteps, metal impacts", "options": dict(options)} for k in range(n)]


MIXED = (120, 90, 75, 60, 45, 40, 30, 25, 20, 15, 10, 10, 5, 5)


def season_mixed(video: str) -> list:
    return [{"media": video, "start": "0", "end": str(s), "seed": 100 + k, "prompt": "footsteps",
             "options": {"seconds_per_window": SIM_SECONDS}} for k, s in enumerate(MIXED)]


def throughput(bench: Bench, video: str, quick: bool, modes: list) -> list:
    rows = []
    reference: dict = {}
    for backend, label, items in (
        (SIM, "simulated GPU", season_uniform(video, 4 if quick else 8, seconds_per_window=SIM_SECONDS)),
        ("procedural", "procedural", season_uniform(video, 4 if quick else 8)),
    ):
        media = sum(Fraction(it["end"]) - Fraction(it["start"]) for it in items)
        for mode in modes:
            base = None
            for n in (SLOTS[:3] if quick else SLOTS):
                eng = bench.engine(backend, n, mode == "ray")
                try:
                    wall, results = bench.run(eng, items)
                finally:
                    eng.stop()
                hashes = [digest(r["path"]) for r in results]
                reference.setdefault(backend, hashes)
                base = base or wall
                row = {"backend": label, "slots_kind": mode, "slots": n, "items": len(items),
                       "media_seconds": float(media), "makespan_s": round(wall, 3),
                       "x_realtime": round(float(media) / wall, 2), "speedup": round(base / wall, 3),
                       "efficiency": round(base / wall / n, 3), "identical_to_1_local_slot": hashes == reference[backend]}
                rows.append(row)
                print(f"  {label:<14} {mode:<5} {n} slot(s): {wall:7.2f} s, {row['x_realtime']:6.1f}x real time, "
                      f"speed-up {row['speedup']:.2f} ({100 * row['efficiency']:.0f} % of ideal), "
                      f"identical {row['identical_to_1_local_slot']}", flush=True)
    return rows


def mixed(bench: Bench, video: str, modes: list) -> list:
    rows = []
    items = season_mixed(video)
    eng = bench.engine(SIM, 1, False)
    try:
        _, single = bench.run(eng, items)
    finally:
        eng.stop()
    times = [r["seconds"] for r in single]
    want = [digest(r["path"]) for r in single]
    n = 4
    ideal = max(sum(times) / n, max(times))
    shuffled = list(items)
    random.Random(16).shuffle(shuffled)
    for mode in modes:
        eng = bench.engine(SIM, n, mode == "ray")
        try:
            for order, one_job, these in (("longest first (one job)", True, items),
                                          ("shuffled, first come first served", False, shuffled)):
                wall, results = bench.run(eng, these, one_job=one_job)
                by_seed = {r["seed"]: digest(r["path"]) for r in results}
                identical = [by_seed[it["seed"]] for it in items] == want
                row = {"slots_kind": mode, "slots": n, "order": order, "items": len(items),
                       "item_seconds_sum": round(sum(times), 3), "longest_item_s": round(max(times), 3),
                       "ideal_makespan_s": round(ideal, 3), "makespan_s": round(wall, 3),
                       "vs_ideal": round(wall / ideal, 3), "identical_to_1_local_slot": identical}
                rows.append(row)
                print(f"  mixed season {mode:<5} {order:<34}: {wall:6.2f} s vs ideal {ideal:.2f} s "
                      f"({100 * (wall / ideal - 1):+.1f} %), identical {identical}", flush=True)
        finally:
            eng.stop()
    return rows


def fan_out(bench: Bench, video: str) -> list:
    rows = []
    item = [{"media": video, "start": "0", "end": "120", "seed": 5, "prompt": "footsteps",
             "options": {"seconds_per_window": SIM_SECONDS}}]
    base = want = None
    for k in (1, 2, 4):
        eng = bench.engine(SIM, 1, True, "--ray-actors-per-slot", str(k))
        try:
            wall, results = bench.run(eng, item)
        finally:
            eng.stop()
        h = digest(results[0]["path"])
        want = want or h
        base = base or wall
        rows.append({"actors": k, "windows": results[0]["windows"], "makespan_s": round(wall, 3),
                     "speedup": round(base / wall, 3), "identical": h == want})
        print(f"  fan-out: one 120-s item on {k} actor(s): {wall:6.2f} s, speed-up {base / wall:.2f}, "
              f"identical {h == want}", flush=True)
    return rows


def machine() -> str:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu or platform.processor() or platform.machine()}), no GPU, " \
           f"{platform.system()} {platform.release()}, Python {platform.python_version()}"


def table(title: str, rows: list, cols: list) -> str:
    lines = [title, "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick, no_ray = "--quick" in sys.argv, "--no-ray" in sys.argv
    out_path = args[0] if args else os.path.join(HERE, "out", "scale.json")
    work = tempfile.mkdtemp(prefix="scale-bench-")
    print(f"machine: {machine()}", flush=True)
    # Small frames: a slot's CPU work per window (decode, analysis) stays small beside the model time,
    # as with a real GPU model (which takes seconds per 10-s window) on a real engine host.
    video = make_sample_video(os.path.join(work, "season.mp4"), duration=121, fps=Fraction(24000, 1001),
                              width=160, height=90, impacts_every=Fraction(2), impact_offset=Fraction(1),
                              cuts=(Fraction(40), Fraction(83))).path
    modes = ["local"]
    ray_version = None
    if not no_ray:
        try:
            import ray
        except ImportError:
            print("ray is not installed: the Ray rows are skipped (pip install 'foley-engine[ray]')")
        else:
            ray_version = ray.__version__
            ctx = ray.init(address="local", num_cpus=os.cpu_count(), num_gpus=8, include_dashboard=False,
                           log_to_driver=False, logging_level="WARNING")
            modes.append("ray")
    bench = Bench(work, ctx.address_info["gcs_address"] if "ray" in modes else "")
    t0 = time.monotonic()
    load_before = list(os.getloadavg())
    print(f"load average before: {load_before}", flush=True)
    print("throughput (uniform season of 30-s items):", flush=True)
    rows = throughput(bench, video, quick, modes)
    print("mixed season on 4 slots:", flush=True)
    mix = mixed(bench, video, modes)
    fan = []
    if "ray" in modes:
        print("window fan-out over one slot's actors:", flush=True)
        fan = fan_out(bench, video)
    doc = {"machine": machine(), "ray": ray_version, "quick": quick, "seconds_per_sim_window": SIM_SECONDS,
           "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
           "throughput": rows, "mixed_season": mix, "fan_out": fan, "bench_seconds": round(time.monotonic() - t0)}
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
    print()
    print(table("throughput", rows, ["backend", "slots_kind", "slots", "makespan_s", "x_realtime", "speedup",
                                     "efficiency", "identical_to_1_local_slot"]))
    print()
    print(table("mixed season (simulated GPU, 4 slots)", mix, ["slots_kind", "order", "ideal_makespan_s",
                                                               "makespan_s", "vs_ideal", "identical_to_1_local_slot"]))
    if fan:
        print()
        print(table("fan-out (simulated GPU, one 120-s item, Ray)", fan,
                    ["actors", "windows", "makespan_s", "speedup", "identical"]))
    print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
