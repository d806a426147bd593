"""The HunyuanVideo-Foley benchmark scripts run (tiny models, CPU): the GPU plans loop and the fp8 error figures."""
from __future__ import annotations

import json
import os
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("diffusers")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import hunyuan_fp8  # noqa: E402
import hunyuan_gpu  # noqa: E402


def test_plans_dry_run_writes_one_row_per_plan(tmp_path, capsys):
    out = tmp_path / "plans.json"
    assert hunyuan_gpu.main(["--plans", "--dry-run", "--sizes", "xl", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["dry_run"] and data["extrapolated"]["window_from_steps"] == [1, 3]
    rows = data["plans"]
    assert [(r["weights"], r["offload"]) for r in rows] == [("bf16", "none"), ("bf16", "blocks:1"), ("fp8", "model")]
    for row in rows:
        assert row["seconds_per_window"] > 0 and row["predicted_peak_bytes"] > 0 and row["measured_peak_bytes"] > 0
        assert row["video_windows"] == 299  # 5 minutes of 2-s windows with 1-s overlap
    printed = capsys.readouterr().out
    assert "extrapolated" in printed and "XL fp8" in printed


def test_plans_out_of_budget_are_listed_as_skipped(tmp_path):
    out = tmp_path / "plans.json"
    assert hunyuan_gpu.main(["--plans", "--dry-run", "--sizes", "xl", "--budget", "0", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["plans"]
    assert len(rows) == 3 and all(r["error"].startswith("skipped") for r in rows)


def test_fp8_error_figures_on_the_tiny_model():
    variants = [v for v in hunyuan_fp8.VARIANTS if v[0] in ("fp8 per-channel", "fp8 per-channel, MLPs in bf16")]
    rows = hunyuan_fp8.tiny_model_errors(steps=2, seconds=1, variants=variants)
    floor, measured = rows[0], {r["variant"]: r for r in rows[1:]}
    assert "float32" in floor["variant"] and floor["decoded_snr_db"] > 0
    channel = measured["fp8 per-channel"]
    assert len(channel["velocity_relative_error_per_step"]) == 2
    assert channel["velocity_relative_error_max"] < 0.05 and channel["decoded_snr_db"] > 10
    assert measured["fp8 per-channel, MLPs in bf16"]["xxl_dit_gb"] > channel["xxl_dit_gb"]
