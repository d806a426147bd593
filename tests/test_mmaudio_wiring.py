"""MMAudio through every front door: ``foley generate`` (in process and ``--engine``), the engine's worker
slots, ``foley batch``, ``foley backends`` and ``foley models download|verify``.

Random *tiny* weights in the released file layout (``tests/mmaudio_tiny.py``) keep CI fast: the output is
noise-like, but its length, placement and seams are what a real model's would be.  Full-size CPU timings
are in ``benchmarks/mmaudio_cpu.py``.
"""
from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from foley_engine.backends.mmaudio.files import LICENCE_LINE, mmaudio_dir  # noqa: E402
from foley_engine.cli import main  # noqa: E402
from foley_engine.lab.samples import make_sample_video  # noqa: E402
from foley_engine.lab.seams import check_seams, seams_from_windows  # noqa: E402
from mmaudio_tiny import make_tiny_models  # noqa: E402


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmaudio_wiring_models")
    make_tiny_models(root, size="small_16k", seed=1)
    return root


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """Two minutes of real H.264 (PyAV) at 29.97 fps, impacts every 3 s."""
    path = tmp_path_factory.mktemp("mmaudio_film") / "film.mp4"
    return make_sample_video(str(path), duration=Fraction(120), fps=Fraction(30000, 1001), width=96, height=54,
                             impacts_every=Fraction(3), impact_offset=Fraction(1, 2), crf=35)


@pytest.mark.slow
def test_foley_generate_two_minutes_exact_length_and_seams(models_dir, film, tmp_path, capsys):
    out = tmp_path / "film.wav"
    code = main(["generate", film.path, "--backend", "mmaudio", "--size", "small_16k", "--device", "cpu",
                 "--models-dir", str(models_dir), "--steps", "1", "--guidance", "0", "--prompt", "footsteps",
                 "--seed", "3", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count(LICENCE_LINE) == 1  # the weights' licence, said once
    data, sr = sf.read(str(out), dtype="float32", always_2d=True)
    from foley_engine.backends.registry import load_backend
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler

    backend = load_backend("mmaudio", models_dir=str(models_dir), size="small_16k", device="cpu")
    scheduler = LongformScheduler(backend)
    resolved, windows = scheduler.resolved(Job(film.path)), scheduler.plan(Job(film.path))
    backend.close()
    assert sr == 48000 and data.shape == (resolved.num_samples, 1)  # exactly the media's samples, mono
    assert abs(resolved.num_samples - 120 * 48000) <= 48000 // 25 and np.all(np.isfinite(data))
    assert len(windows) >= 16 and all(w.num_samples <= 8 * 48000 for w in windows)
    reports = check_seams(data, 48000, seams_from_windows(windows, windows[0].start))
    assert len(reports) == len(windows) - 1
    assert all(r.gap_ms == 0 for r in reports)


def test_engine_and_batch_run_mmaudio(engines, models_dir, tmp_path, capsys):
    """A warm engine slot holds the backend; `foley generate --engine` and `foley batch` both go through it."""
    clip = make_sample_video(str(tmp_path / "shot.mp4"), duration=Fraction(9), fps=Fraction(25), width=64, height=48)
    engine = engines(tmp_path / "engine", "--device", "cpu", "--option", f"models_dir={models_dir}",
                     "--option", "size=small_16k", backend="mmaudio")
    assert engine.status()["worker"]["state"] in ("ready", "busy")
    out = tmp_path / "shot.wav"
    code = main(["generate", clip.path, "--backend", "mmaudio", "--engine", "--connection-file",
                 engine.connection_file, "--steps", "1", "--guidance", "0", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    data, sr = sf.read(str(out), always_2d=True)
    assert (sr, data.shape) == (48000, (9 * 48000, 1))
    from test_batch import batch

    season = tmp_path / "season"
    season.mkdir()
    shutil.copy(clip.path, season / "a.mp4")
    assert batch(str(season), "--out", str(tmp_path / "out"), "--connection-file", engine.connection_file,
                 "--no-autostart", "--prompt", "rain") == 0
    doc = json.loads((tmp_path / "out" / "foley-batch-summary.json").read_text())
    assert doc["engine"]["backend"] == "mmaudio" and doc["totals"]["done"] == 1
    assert sf.info(doc["items"][0]["output"]).frames == 9 * 48000


def test_backends_lists_every_licence(capsys):
    assert main(["backends", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "CC-BY-NC 4.0" in rows["mmaudio"]["licence"] and "MIT" in rows["mmaudio"]["licence"]
    assert "Tencent Hunyuan Community License" in rows["hunyuan"]["licence"]
    assert all(w in rows["hunyuan"]["licence"] for w in ("EU", "UK", "South Korea"))
    assert rows["procedural"]["licence"]
    assert main(["backends"]) == 0
    text = capsys.readouterr().out
    assert text.count("licence:") == len(rows)


def test_unavailable_without_weights_says_how_to_fetch(tmp_path, capsys):
    from foley_engine.backends.registry import find_backend, availability

    status = availability(find_backend("mmaudio"), models_dir=str(tmp_path), size="small_16k", device="cpu")
    assert not status.ok and "foley models download mmaudio --size small_16k" in status.reason
    capsys.readouterr()
    film = make_sample_video(str(tmp_path / "a.mp4"), duration=Fraction(1), fps=Fraction(25), width=32, height=32)
    code = main(["generate", film.path, "--backend", "mmaudio", "--size", "xxl", "--models-dir", str(tmp_path),
                 "-o", str(tmp_path / "a.wav")])
    assert code == 2 and "unknown MMAudio size 'xxl'" in capsys.readouterr().err
    assert not (tmp_path / "a.wav").exists()


def test_models_verify_reads_indexes_and_names_problems(models_dir, tmp_path, capsys):
    assert main(["models", "verify", "mmaudio", "--size", "small_16k", "--models-dir", str(models_dir)]) == 0
    assert "MMAudio SMALL_16K: every file is complete" in capsys.readouterr().out
    broken = tmp_path / "broken"
    shutil.copytree(mmaudio_dir(models_dir), mmaudio_dir(broken))
    net = mmaudio_dir(broken) / "weights" / "mmaudio_small_16k.pth"
    state = torch.load(net, weights_only=True)
    del state["final_layer.conv.weight"]
    torch.save(state, net)
    os.remove(mmaudio_dir(broken) / "ext_weights" / "v1-16.pth")
    assert main(["models", "verify", "mmaudio", "--size", "small_16k", "--models-dir", str(broken), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_name = {f["name"]: f for f in doc["files"]}
    assert "final_layer.conv.weight" in " ".join(by_name["weights/mmaudio_small_16k.pth"]["problems"])
    assert by_name["ext_weights/v1-16.pth"]["status"] == "missing"


def test_models_download_from_a_local_mirror(models_dir, tmp_path, capsys):
    target = tmp_path / "fresh"
    assert main(["models", "download", "mmaudio", "--size", "small_16k", "--models-dir", str(target),
                 "--from", str(mmaudio_dir(models_dir))]) == 0
    assert "ready in" in capsys.readouterr().out
    assert main(["models", "verify", "mmaudio", "--size", "small_16k", "--models-dir", str(target)]) == 0


def test_loading_refuses_a_file_of_another_size():
    """A file whose shapes are medium_44k's under the small_16k name is refused, naming what it holds."""
    from foley_engine.backends.mmaudio.checkpoints import CheckpointError, network_config_for
    from foley_engine.backends.mmaudio.models.network import MMAudioNetwork, NetworkConfig

    with torch.device("meta"):
        state = MMAudioNetwork(NetworkConfig.released("medium_44k")).state_dict()
    with pytest.raises(CheckpointError, match="holds the medium_44k network, but size small_16k"):
        network_config_for(state, "small_16k")
    assert network_config_for(state, "medium_44k") == NetworkConfig.released("medium_44k")


def test_models_list_shows_mmaudio_files_and_what_loads(models_dir, capsys):
    assert main(["models", "list", "--models-dir", str(models_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "mmaudio --size small_16k on cpu: loads" in out and "mmaudio --size large_44k_v2 on cpu: no" in out
    assert "weights/mmaudio_small_16k.pth" in out
    assert main(["models", "list", "--models-dir", str(models_dir), "--device", "cpu", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mmaudio"]["loads"]["small_16k"] == "loads"
    assert any(f["name"] == "weights/mmaudio_small_16k.pth" for f in doc["mmaudio"]["installed"])


@pytest.mark.parametrize("name", ["hunyuan", "mmaudio"])
def test_both_diffusion_backends_refuse_zero_steps_and_fill_defaults(name, tmp_path):
    """One rule for both (backends/gpu.sampling): defaults when not given, at least one step."""
    from foley_engine.backends.registry import backend_class
    from foley_engine.errors import BackendError

    cls = backend_class(name)
    with pytest.raises(BackendError, match="steps must be at least 1, got 0"):
        cls(models_dir=str(tmp_path), device="cpu", steps=0)
    from foley_engine.backends.gpu import sampling

    assert sampling("7", "2.5", 50, 4.5) == (7, 2.5) and sampling(None, None, 25, 4.5) == (25, 4.5)
