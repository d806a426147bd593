"""The add-on installed from the built zip (its own pyzmq wheel, nothing else) fills a strip, in bpy 4.5 and 5.0.

bpy 4.5 is this environment's; another ``bpy`` runs from the Python named in ``FOLEY_BPY_PYTHONS``
(``os.pathsep``-separated interpreters, e.g. a venv with ``bpy==5.0.*``).  Each runs
``tests/blender_zip_smoke.py`` in a fresh process against one engine of this environment.
"""
from __future__ import annotations

import json
import os
import subprocess
from fractions import Fraction

import pytest
import soundfile as sf

from foley_engine.lab.samples import make_sample_video

from blender_scenarios import python_params
from test_engine_backend import EngineProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "tests", "blender_zip_smoke.py")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from blender_addon import build

    try:
        return build.build(str(tmp_path_factory.mktemp("dist")), wheels=True,
                           cache=os.path.join(ROOT, "build", "blender-wheels"))
    except (SystemExit, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot download the pyzmq wheels here: {exc}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("zip-engine"), backend="procedural").start()
    yield eng
    eng.stop()


@pytest.mark.slow
@pytest.mark.parametrize("python", python_params())
def test_installed_zip_fills_a_strip(python, built, engine, tmp_path):
    video = make_sample_video(str(tmp_path / "c25.mp4"), duration=2, fps=Fraction(25), width=160, height=90)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"), PYTHONPATH="")
    proc = subprocess.run([python, SMOKE, built, engine.connection_file, video.path, str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(lines[-1])
    assert out["result"] == ["FINISHED"] and out["sounds"] == 1, out
    assert os.sep + "extensions" + os.sep in out["zmq"], out  # the wheel Blender installed from the zip
    info = sf.info(out["sound_path"])
    assert info.samplerate == 48000 and info.frames == 96000  # 50 frames at 25 fps, the whole strip
