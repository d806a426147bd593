"""Engine figures: status round trip, engine vs in-process on a 60-s clip, 220 consecutive jobs.

Run from the repo root: .venv/bin/python benchmarks/engine.py [out.json]
(default benchmarks/out/engine.json).  In-process and engine runs of the
60-s clip alternate (which goes first alternates too), so a busy machine slows
both alike.  Targets: engine overhead <= 5 %, last-10/first-10 latency <= 1.03,
worker RSS growth <= 2 % from the end of warm-up (job 20) to job 220, one worker
throughout (no recycling).

Where the overhead goes: each engine run is split into the engine's own time
(submit until accepted: the one probe and resolution and the journal; dispatch;
the report back) and the worker's generation (the result's ``seconds``), which
runs the same ``generate_to_file`` as the in-process side.
"""
import json
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction

sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from test_engine_backend import EngineProcess  # noqa: E402

from foley_engine.backends.registry import load_backend  # noqa: E402
from foley_engine.generate import generate_to_file  # noqa: E402
from foley_engine.job import Job  # noqa: E402
from foley_engine.lab.samples import make_sample_video  # noqa: E402
from plugin_host.items import Item  # noqa: E402

PROMPT = "metal impacts, footsteps on wood"
JOBS = 220
WARMUP = 20
#: in-process / engine pairs of the 60-s clip (the first pair warms caches and is not counted)
PAIRS = 12


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    work = tempfile.mkdtemp(prefix="engine-bench-")
    video = make_sample_video(os.path.join(work, "sixty.mp4"), duration=60, fps=Fraction(24000, 1001),
                              width=320, height=180, impacts_every=Fraction(2), impact_offset=Fraction(1)).path
    backend = load_backend("procedural")
    engine = EngineProcess(os.path.join(work, "engine"), "--max-jobs-per-worker", "1000", backend="procedural").start()
    local, remote, first_span, accepted, worker_gen = [], [], [], [], []
    try:
        with engine.client() as eng:
            rtt = []
            for _ in range(1000):
                t = time.perf_counter()
                eng.status()
                rtt.append(time.perf_counter() - t)
            def in_process(k):
                t = time.perf_counter()
                generate_to_file(Job(video, prompt=PROMPT), backend, os.path.join(work, f"local{k}.wav"))
                local.append(time.perf_counter() - t)

            def through_engine(k):
                t = time.perf_counter()
                job = eng.submit([Item(video, prompt=PROMPT)], out_dir=work)
                accepted.append(time.perf_counter() - t)
                for event in job.events():
                    if event.type == "span" and len(first_span) == k:
                        first_span.append(time.perf_counter() - t)
                    if event.type == "item":
                        worker_gen.append(event.content["result"]["seconds"])
                remote.append(time.perf_counter() - t)
                job.results()

            for k in range(PAIRS):
                for run in ((in_process, through_engine) if k % 2 == 0 else (through_engine, in_process)):
                    run(k)
            lat, gen, rss = [], [], []
            worker_pid = eng.status()["worker"]["pid"]
            for k in range(JOBS):
                t = time.perf_counter()
                r = eng.submit([Item(video, Fraction(10), Fraction(15), prompt=PROMPT, seed=k)],
                               out_dir=work).wait()[0]
                lat.append(time.perf_counter() - t)
                gen.append(r["seconds"])
                os.unlink(r["path"])
                st = eng.status()
                assert st["worker"]["pid"] == worker_pid, "the worker was recycled or restarted"
                rss.append(st["worker"]["rss"])
    finally:
        engine.stop()
        backend.close()
    # the first of each warms caches
    local, remote, accepted, worker_gen = local[1:], remote[1:], accepted[1:], worker_gen[1:]
    pair_overhead = [(r / loc - 1) * 100 for r, loc in zip(remote, local)]
    own = [r - g for r, g in zip(remote, worker_gen)]  # engine wall time not spent generating
    first10, last10 = statistics.median(lat[:10]), statistics.median(lat[-10:])
    out = {
        "status_rtt_ms": {"p50": round(pct(rtt, 50) * 1e3, 3), "p99": round(pct(rtt, 99) * 1e3, 3)},
        "clip_60s": {"in_process_s": round(statistics.median(local), 3),
                     "engine_s": round(statistics.median(remote), 3),
                     "overhead_pct": round((statistics.median(remote) / statistics.median(local) - 1) * 100, 2),
                     "submit_to_first_span_s": round(statistics.median(first_span), 3),
                     "pairs": len(local),
                     "pair_overhead_pct_p25_p50_p75": [round(pct(pair_overhead, p), 2) for p in (25, 50, 75)],
                     "worker_generate_s": round(statistics.median(worker_gen), 3),
                     "engine_own_ms": round(statistics.median(own) * 1e3, 1),
                     "engine_own_pct": round(statistics.median(own) / statistics.median(local) * 100, 2),
                     "submit_accepted_ms": round(statistics.median(accepted) * 1e3, 1),
                     "worker_vs_in_process_pct": round((statistics.median(worker_gen) / statistics.median(local) - 1)
                                                       * 100, 2)},
        "jobs": {"count": JOBS, "first10_median_s": round(first10, 4), "last10_median_s": round(last10, 4),
                     "ratio": round(last10 / first10, 4),
                     "worker_generate_ratio": round(statistics.median(gen[-10:]) / statistics.median(gen[:10]), 4),
                     "worker_rss_after_job1_mib": round(rss[0] / 2**20, 2),
                     "worker_rss_after_warmup_mib": round(rss[WARMUP - 1] / 2**20, 2),
                     f"worker_rss_after_job{JOBS}_mib": round(rss[-1] / 2**20, 2),
                     "worker_rss_growth_from_job1_pct": round((rss[-1] / rss[0] - 1) * 100, 2),
                     "worker_rss_growth_after_warmup_pct": round((rss[-1] / rss[WARMUP - 1] - 1) * 100, 2),
                     "worker_rss_per_job_after_warmup_kib": round((rss[-1] - rss[WARMUP - 1]) / (JOBS - WARMUP) / 1024,
                                                                  2)},
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    clip, jobs = out["clip_60s"], out["jobs"]
    rows = [
        ("status round trip p50 / p99 (ms)", f"{out['status_rtt_ms']['p50']} / {out['status_rtt_ms']['p99']}", ""),
        ("60-s clip in-process / engine (s)", f"{clip['in_process_s']} / {clip['engine_s']}", ""),
        ("engine overhead (%)", clip["overhead_pct"], "<= 5"),
        (f"overhead per pair, p25 / p50 / p75 of {clip['pairs']} (%)",
         " / ".join(str(v) for v in clip["pair_overhead_pct_p25_p50_p75"]), ""),
        ("  engine's own time per job: submit..accepted / all (ms)",
         f"{clip['submit_accepted_ms']} / {clip['engine_own_ms']} ({clip['engine_own_pct']} %)", ""),
        ("  worker generation vs in-process (%)", clip["worker_vs_in_process_pct"], ""),
        ("submit to first span (s)", clip["submit_to_first_span_s"], ""),
        (f"{JOBS} jobs: last-10 / first-10 latency", jobs["ratio"], "<= 1.03"),
        (f"{JOBS} jobs, one worker: RSS growth after warm-up (%)", jobs["worker_rss_growth_after_warmup_pct"], "<= 2"),
        (f"{JOBS} jobs, one worker: RSS growth per job after warm-up (KiB)",
         jobs["worker_rss_per_job_after_warmup_kib"], ""),
    ]
    print("| figure | measured | target |\n|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "engine.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
