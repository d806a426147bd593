"""The `foley` commands through a real engine: serve, status, jobs, stop, generate --engine, autostart."""
import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from plugin_host.client import EngineClient

from test_engine_backend import PULSE, EngineProcess, make_clip, pid_alive, wait_for


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=3)


def foley(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "foley_engine.cli", *args], capture_output=True, text=True,
                          env=EngineProcess.env(), timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_serve_refuses_a_second_engine_and_status_jobs_stop(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine")
    second = subprocess.run([sys.executable, "-m", "foley_engine.engine.server", *engine.args], capture_output=True, text=True,
                            env=EngineProcess.env(), timeout=30)
    assert second.returncode == 3 and "already running" in second.stderr
    conn = ["--connection-file", engine.connection_file]
    out = tmp_path / "cli.wav"
    gen = foley("generate", clip, "--engine", *conn, "--in", "0.5", "--out", "00:00:02.000", "-o", str(out),
                "--prompt", "steps")
    assert gen.stdout.startswith(f"wrote {out} (72000 samples at 48000 Hz, media 00:00:00.500-00:00:02.000")
    assert sf.info(str(out)).frames == 72000
    assert sorted(os.listdir(tmp_path)) == ["cli.wav", "cli.wav.foley.json", "engine"]
    bad = foley("generate", clip, "--engine", *conn, "--in", "2", "--out", "9", "-o", str(tmp_path / "x.wav"), check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("foley: error: ") and "beyond the end" in bad.stderr
    status = foley("engine", "status", *conn).stdout
    assert "backend  pulse" in status and "1 done" in status
    assert "done" in foley("engine", "jobs", *conn).stdout
    assert "stopped" in foley("engine", "stop", *conn).stdout
    assert engine.proc.wait(10) == 0 and not os.path.exists(engine.connection_file)
    gone = foley("engine", "status", *conn, check=False)
    assert gone.returncode == 2 and "no engine is running" in gone.stderr


def test_autostart_spawns_and_finds_the_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", EngineProcess.env()["PYTHONPATH"])
    conn = str(tmp_path / "run" / "engine.json")
    serve = ("--backend", PULSE, "--journal", str(tmp_path / "journal.sqlite"))
    with EngineClient.connect(conn, autostart=True, serve_args=serve, autostart_timeout=30) as eng:
        pid = eng.hello()["pid"]
        with EngineClient.connect(conn, autostart=True, serve_args=serve) as again:
            assert again.hello()["pid"] == pid  # found, not started twice
        eng.shutdown()
    wait_for(lambda: not pid_alive(pid), 20, "the engine to stop")



def test_generate_through_the_procedural_engine_matches_in_process(engines, tmp_path):
    from foley_engine.lab.samples import make_sample_video

    video = make_sample_video(str(tmp_path / "hits.mp4"), duration=6, fps=Fraction(24000, 1001), width=160,
                              height=90, impacts_every=Fraction(3, 2), impact_offset=Fraction(1, 2)).path
    engine = engines(tmp_path / "engine", backend="procedural")
    common = ["--prompt", "metal impacts, footsteps", "--seed", "4", "--in", "0.5", "--out", "5.5"]
    foley("generate", video, "-o", str(tmp_path / "local.wav"), *common)
    via = foley("generate", video, "--engine", "--connection-file", engine.connection_file,
                "-o", str(tmp_path / "engine.wav"), *common, "--json")
    result = json.loads(via.stdout)
    assert result["start"] == "1/2" and result["start_sample"] == 24000 and result["num_samples"] == 240000
    local, rate = sf.read(str(tmp_path / "local.wav"), dtype="int32")
    remote, _ = sf.read(str(tmp_path / "engine.wav"), dtype="int32")
    assert rate == 48000 and np.abs(local).max() > 0
    np.testing.assert_array_equal(local, remote)
