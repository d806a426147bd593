"""The journal's disk fills (issue 20, item 7): the engine keeps serving, refuses new work with the reason,
finishes the running job and the client keeps its own output name.

Disk-full is injected (``tests/journal_full.py``: SQLite's own "database or disk is full" error on every
journal write after SIGUSR1), so the test needs no mount rights.
"""
import os
import signal
import subprocess
import sys

import pytest
import soundfile as sf

from plugin_host.client import RequestRejected

from test_engine_backend import EngineProcess, make_clip, wait_for


class FullJournalEngine(EngineProcess):
    server_module = "journal_full"


@pytest.fixture
def engine(tmp_path):
    eng = FullJournalEngine(tmp_path / "engine", "--option", "delay=1.5").start()
    yield eng
    eng.stop()


def foley(*args):
    return subprocess.Popen([sys.executable, "-m", "foley_engine.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=EngineProcess.env())


def running(engine):
    return engine.status()["queue"]["running"] is not None


def test_a_full_journal_during_a_job_keeps_the_engine_and_the_output_name(engine, tmp_path):
    clip = make_clip(str(tmp_path / "clip.mp4"), seconds=1)
    named = tmp_path / "my name.wav"
    gen = foley("generate", clip, "--engine", "--connection-file", engine.connection_file, "-o", str(named))
    wait_for(lambda: running(engine), 30, "the job running")
    os.kill(engine.proc.pid, signal.SIGUSR1)  # the disk fills while the job runs
    out, err = gen.communicate(timeout=60)
    assert gen.returncode == 0, err
    assert out.startswith(f"wrote {named}") and sf.info(str(named)).frames == 48048  # 30 frames at 29.97
    assert engine.proc.poll() is None, engine.log()
    status = engine.status()
    assert "cannot write its journal" in status["journal_error"]

    with engine.client() as eng, pytest.raises(RequestRejected) as refused:
        eng.submit([{"media": clip}], out_dir=str(tmp_path))
    assert refused.value.code == "journal" and "no new jobs" in str(refused.value)
    assert "OperationalError" not in str(refused.value)

    os.kill(engine.proc.pid, signal.SIGUSR2)  # room again: work is taken again
    with engine.client() as eng:
        [result] = eng.submit([{"media": clip, "end": "1/2"}], out_dir=str(tmp_path)).wait(timeout=60)
    assert os.path.isfile(result["path"])
    assert engine.status()["journal_error"] is None


def test_a_full_journal_before_a_submit_is_one_clear_line(engine, tmp_path):
    clip = make_clip(str(tmp_path / "clip.mp4"), seconds=1)
    os.kill(engine.proc.pid, signal.SIGUSR1)
    wait_for(lambda: True)
    gen = foley("generate", clip, "--engine", "--connection-file", engine.connection_file,
                "-o", str(tmp_path / "x.wav"))
    _, err = gen.communicate(timeout=60)
    assert gen.returncode != 0
    assert "cannot write its journal" in err and "OperationalError" not in err and "Traceback" not in err, err
    assert not os.path.exists(tmp_path / "x.wav")
    assert engine.proc.poll() is None
