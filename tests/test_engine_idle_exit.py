"""Engine lifetime for editors: an engine an adapter started stops itself when idle; a served one does not."""
from __future__ import annotations

import os
from collections import deque
from types import SimpleNamespace

import pytest

from foley_engine.engine.config import EngineConfig, add_serve_arguments, config_from_args
from foley_engine.engine.server import Engine

from blender_scenarios import python_params, run
from test_engine_backend import EngineProcess


def _parse(argv):
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return config_from_args(parser.parse_args(argv))


def test_idle_exit_is_off_unless_asked():
    assert _parse([]).idle_exit == 0
    assert _parse(["--idle-exit", "30"]).idle_exit == 1800
    assert _parse(["--idle-exit", "0.5"]).idle_exit == 30


def test_never_while_a_job_is_queued_or_running():
    eng = Engine(EngineConfig(idle_exit=60))
    eng.book = SimpleNamespace(queue=deque(), running=set())
    t0 = eng.last_busy
    assert not eng.idle_expired(t0 + 59)
    eng.book.queue.append("job1")
    assert not eng.idle_expired(t0 + 120)  # queued: busy, and the clock restarts
    eng.book.queue.clear()
    eng.book.running.add(("job1", 0))
    assert not eng.idle_expired(t0 + 500)
    eng.book.running.clear()
    assert not eng.idle_expired(t0 + 559) and eng.idle_expired(t0 + 560)
    served = Engine(EngineConfig())  # `foley engine serve` without --idle-exit
    served.book = SimpleNamespace(queue=deque(), running=set())
    assert not served.idle_expired(served.last_busy + 10 ** 6)


@pytest.mark.slow
def test_an_idle_engine_stops_itself_and_releases_its_connection_file(tmp_path):
    eng = EngineProcess(tmp_path / "idle", "--idle-exit", "0.03", backend="procedural").start()  # 1.8 s
    try:
        eng.proc.wait(timeout=60)
    finally:
        if eng.proc.poll() is None:
            eng.stop()
    assert eng.proc.returncode == 0 and not os.path.exists(eng.connection_file)
    with open(eng.log_path, encoding="utf-8", errors="replace") as f:
        assert "no job for 0.03 min (--idle-exit); stopping" in f.read()


def test_one_idle_exit_rule_for_every_adapter(monkeypatch):
    from otio_adapters.engine import EngineGenerator
    from plugin_host.process import EngineSpec, with_idle_exit

    assert EngineSpec(serve_args=("--backend", "procedural")).start_args == \
        ("--idle-exit", "30", "--backend", "procedural")
    assert with_idle_exit(("--idle-exit", "0")) == ("--idle-exit", "0")  # the user's choice stands
    assert with_idle_exit(("--idle-exit=0",)) == ("--idle-exit=0",)
    assert EngineGenerator(serve_args=("--backend", "procedural")).spec.start_args == \
        ("--idle-exit", "30", "--backend", "procedural")
    assert EngineGenerator(idle_exit_minutes=5).spec.start_args == ("--idle-exit", "5")

    import resolve_scripts.engine as resolve_engine
    from plugin_host import client

    seen = {}
    monkeypatch.setattr(client.EngineClient, "connect", classmethod(lambda cls, *a, **kw: seen.update(kw)))
    resolve_engine.connect(resolve_engine.EngineSpec(serve_args=("--backend", "hunyuan")), autostart=True)
    assert seen["serve_args"] == ("--idle-exit", "30", "--backend", "hunyuan") and seen["autostart"]


@pytest.mark.parametrize("python", python_params())
def test_blender_starts_engines_with_idle_exit(python, tmp_path):
    """The add-on's engine command and backend, as the arguments it starts an engine with (in Blender's own
    process: bpy stays out of the test's)."""
    out = run(python, "idle_exit_args", tmp_path, commands={
        "device": ["foley engine serve --device cuda:0", "hunyuan"],
        "kept": ["foley engine serve --idle-exit 0", ""]})
    assert out["device"] == ["--idle-exit", "30", "--device", "cuda:0", "--backend", "hunyuan"]
    assert out["kept"] == ["--idle-exit", "0"]  # the user's choice stands


def test_the_cli_passes_its_idle_exit():
    from foley_engine.cli import build_parser

    args = build_parser().parse_args(["otio", "fill", "in.otio", "-o", "out.otio", "--engine-idle-exit", "0"])
    assert args.engine_idle_exit == 0
    args = build_parser().parse_args(["otio", "fill", "in.otio", "-o", "out.otio"])
    assert args.engine_idle_exit == 30
