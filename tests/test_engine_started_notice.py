"""An engine started on the user's behalf outlives the command: one line says so (pid, when it stops,
`foley engine stop`), and the adapters' reports carry it."""
from __future__ import annotations

import argparse
import json
import os
import re

import opentimelineio as otio
import pytest

from foley_engine.cli import main
from plugin_host.client import EngineClient
from plugin_host.connection import read_connection_file
from plugin_host.process import EngineSpec, idle_exit_of, pid_alive, started_notice

NOTICE = re.compile(r"started a Foley engine \(pid (\d+)\) in the background; it stops itself after 30 minutes "
                    r"without a job; stop it now with `foley engine stop --connection-file (\S+)`")


def test_the_notice_says_pid_idle_exit_and_how_to_stop():
    assert started_notice(42, ("--idle-exit", "30")) == (
        "started a Foley engine (pid 42) in the background; it stops itself after 30 minutes without a job; "
        "stop it now with `foley engine stop`")
    assert "it keeps running; stop it now with `foley engine stop --connection-file /r/e.json`" in \
        started_notice(42, ("--idle-exit=0",), "/r/e.json")
    assert idle_exit_of(("--backend", "x", "--idle-exit", "2.5")) == 2.5 and idle_exit_of(()) is None


def _stop(connection_file: str, capsys) -> None:
    assert main(["engine", "stop", "--connection-file", connection_file]) == 0
    capsys.readouterr()


def test_an_autostarted_engine_prints_one_line_and_the_client_keeps_it(tmp_path, capsys):
    spec = EngineSpec(str(tmp_path / "run" / "engine.json"), serve_args=("--backend", "procedural"))
    with EngineClient.open(spec) as eng:
        started = eng.started
    err = capsys.readouterr().err.strip().splitlines()
    try:
        assert len(err) == 1 and err[0] == f"foley: {started}"
        m = NOTICE.fullmatch(started)
        assert m and int(m.group(1)) == read_connection_file(spec.connection_file).pid
        assert m.group(2) == spec.connection_file
        with EngineClient.open(spec) as again:  # it runs now: nothing was started, nothing said
            assert again.started is None
        assert capsys.readouterr().err == ""
    finally:
        pid = read_connection_file(spec.connection_file).pid
        _stop(spec.connection_file, capsys)  # the command the notice names stops it
    assert not pid_alive(pid) or not os.path.exists(spec.connection_file)


@pytest.mark.slow
def test_otio_fill_and_batch_report_the_engine_they_started(tmp_path, capsys, clip_24):
    from foley_batch.cli import register

    tl = otio.schema.Timeline("cut")
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    rt = lambda n: otio.opentime.RationalTime(n, 24)  # noqa: E731
    ref = otio.schema.ExternalReference(target_url=otio.url_utils.url_from_filepath(clip_24.path),
                                        available_range=otio.opentime.TimeRange(rt(0), rt(48)))
    track.append(otio.schema.Clip(name="shot", media_reference=ref, source_range=otio.opentime.TimeRange(rt(0), rt(24))))
    tl.tracks.append(track)
    src = str(tmp_path / "cut.otio")
    otio.adapters.write_to_file(tl, src)

    fill_engine = str(tmp_path / "fill" / "engine.json")
    try:
        assert main(["otio", "fill", src, "-o", str(tmp_path / "cut_foley.otio"), "--json",
                     "--connection-file", fill_engine]) == 0
        out, err = capsys.readouterr()
        report = json.loads(out)
        assert NOTICE.fullmatch(report["engine_started"]) and f"foley: {report['engine_started']}" in err
    finally:
        if os.path.exists(fill_engine):
            _stop(fill_engine, capsys)

    batch_engine = str(tmp_path / "batch" / "engine.json")
    parser = argparse.ArgumentParser(prog="foley")
    register(parser.add_subparsers())
    args = parser.parse_args(["batch", clip_24.path, "--out", str(tmp_path / "season"), "--connection-file",
                              batch_engine])
    try:
        assert args.func(args) == 0
        doc = json.loads((tmp_path / "season" / "foley-batch-summary.json").read_text())
        (notice,) = doc["engine_started"]
        assert NOTICE.fullmatch(notice) and f"foley: {notice}" in capsys.readouterr().err
        assert "The engine: started a Foley engine" in (tmp_path / "season" / "foley-batch-summary.md").read_text()
    finally:
        if os.path.exists(batch_engine):
            _stop(batch_engine, capsys)
