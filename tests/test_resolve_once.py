"""An item is resolved once, at submit: the worker, ``generate_to_file`` and the scheduler probe nothing.

The engine's submit path (:func:`~foley_engine.engine.submit.resolve_items`) probes the media and
resolves the range into a :class:`~foley_engine.job.ResolvedItem`, journalled as a dict; the worker
reads it back typed and generates from it.  Here every probe and every range resolution after submit
raises, and the worker still writes the exact WAV the in-process path writes.
"""
import json
import os
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

import foley_engine.job as job_module
import foley_engine.media.probe as probe_module
from foley_engine.engine.submit import Limits, resolve_items
from foley_engine.engine.worker import Worker
from foley_engine.generate import generate_to_file
from foley_engine.job import ResolvedItem
from foley_engine.longform.scheduler import LongformScheduler
from foley_engine.media.probe import MediaInfo, probe
from plugin_host.items import Item, Result

from test_engine_backend import PulseBackend


class Recorder:
    """Stands in for the worker's stdout channel: keeps what the worker reports."""

    def __init__(self):
        self.sent = []

    def send(self, msg: dict) -> None:
        self.sent.append(json.loads(json.dumps(msg)))  # what would cross the pipe

    def close(self) -> None:
        pass


@pytest.fixture
def no_second_look(monkeypatch):
    """``arm()``: from then on, opening media to probe it or resolving a range fails the test."""
    calls = []

    def refuse(what):
        def fail(*args, **kwargs):
            calls.append(what)
            raise AssertionError(f"{what} after submit")
        return fail

    def arm():
        # probe() opens the file through this module global, whoever imported probe itself
        monkeypatch.setattr(probe_module, "open_container", refuse("probe"))
        monkeypatch.setattr(job_module, "resolve", refuse("resolve"))
        monkeypatch.setattr(job_module, "media_range", refuse("media_range"))
        return calls

    return arm


def journalled(clip, tmp_path, **fields) -> dict:
    """One item through the engine's submit path, as the journal stores it (JSON and back)."""
    (spec,) = resolve_items([Item(clip, **fields)], str(tmp_path), "job1", Limits(sample_rate=48000, channels=1))
    return json.loads(json.dumps(spec))


def test_the_journal_holds_the_resolution_and_reads_back_typed(clip_2997, tmp_path):
    spec = journalled(clip_2997.path, tmp_path, start=Fraction(1, 3), speed=Fraction(5, 4), prompt="glass")
    info = probe(clip_2997.path)
    resolved = ResolvedItem.from_journal(spec, 48000)
    assert resolved.info == info and isinstance(resolved.info, MediaInfo)
    assert (resolved.media_range.start, resolved.media_range.end) == (Fraction(1, 3), info.duration)
    assert resolved.out_path == spec["out_path"] and os.path.dirname(resolved.out_path) == str(tmp_path)
    # the output of an item at speed 5/4 lasts duration / speed, on the one rounding rule
    assert (resolved.first_sample, resolved.stop_sample) == (16000, 16000 + round((info.duration - Fraction(1, 3))
                                                                                   * 48000 * Fraction(4, 5)))
    assert resolved.request == Item(clip_2997.path, Fraction(1, 3), info.duration, speed=Fraction(5, 4),
                                    prompt="glass")
    # the top-level fields stay the item's wire form (what `foley engine jobs` and the job book read)
    assert spec["start"] == "1/3" and spec["end"] == str(info.duration) and spec["speed"] == "5/4"


def test_the_worker_generates_from_the_journal_without_probing_or_resolving(clip_2997, tmp_path, no_second_look):
    spec = journalled(clip_2997.path, tmp_path, start=Fraction(1, 2), end=Fraction(7), seed=4)
    reference = generate_to_file(Item(clip_2997.path, Fraction(1, 2), Fraction(7), seed=4), PulseBackend(),
                                 str(tmp_path / "ref.wav"))  # in process: resolved there, once
    calls = no_second_look()
    channel = Recorder()
    Worker(channel, PulseBackend()).run({"type": "run", "key": "job1/0/1", "index": 0, "spec": spec})
    done = channel.sent[-1]
    assert done["type"] == "done", done
    result = Result.from_wire(done["result"])
    assert result.path == spec["out_path"] and result.problem(Item(clip_2997.path, Fraction(1, 2), Fraction(7))) is None
    assert result.num_samples == reference.num_samples == 312000 and result.start_sample == 24000
    assert np.array_equal(sf.read(result.path)[0], sf.read(reference.path)[0])
    assert calls == []


def test_the_scheduler_takes_the_resolution_as_it_is(clip_24, tmp_path, no_second_look):
    spec = journalled(clip_24.path, tmp_path, start=Fraction(1), end=Fraction(4))
    resolved = ResolvedItem.from_journal(spec, 48000)
    calls = no_second_look()
    scheduler = LongformScheduler(PulseBackend())
    spans = list(scheduler.spans(resolved))
    assert sum(s.audio.shape[0] for s in spans) == resolved.num_samples == 144000
    assert [w for w, _ in scheduler.requests(resolved)] == scheduler.plan(resolved)
    assert calls == []


def test_a_resolution_at_another_rate_is_refused(clip_24, tmp_path):
    resolved = ResolvedItem.from_journal(journalled(clip_24.path, tmp_path, end=Fraction(1)), 48000)

    class Slow(PulseBackend):
        sample_rate = 44100

    with pytest.raises(ValueError, match="resolved at 48000 Hz for a 44100 Hz backend"):
        LongformScheduler(Slow()).resolved(resolved)


def test_a_resolution_guessed_at_another_rate_is_redone_from_the_journal_without_probing(
        clip_24, tmp_path, monkeypatch):
    """An item submitted before the worker said its rate was resolved at the engine's 48 kHz guess."""
    spec = journalled(clip_24.path, tmp_path, start=Fraction(1), end=Fraction(2))
    monkeypatch.setattr(probe_module, "open_container", lambda *a: pytest.fail("probed after submit"))
    resolved = ResolvedItem.from_journal(spec, 44100)
    assert (resolved.sample_rate, resolved.first_sample, resolved.num_samples) == (44100, 44100, 44100)


def test_a_spec_from_an_older_engine_is_resolved_once_when_it_resumes(clip_24, tmp_path):
    """Jobs journalled before the resolution was stored carry none: the worker resolves them then."""
    spec = journalled(clip_24.path, tmp_path, start=Fraction(1), end=Fraction(2))
    del spec["resolved"]
    resolved = ResolvedItem.from_journal(spec, 48000)
    assert (resolved.first_sample, resolved.num_samples, resolved.info) == (48000, 48000, probe(clip_24.path))


def test_media_removed_after_submit_fails_the_item_cleanly(clip_24, tmp_path):
    """The documented behaviour: the worker decodes the file it was given; gone, the item fails
    with the decoder's one-line error and nothing is left at its output path."""
    media = tmp_path / "gone.mp4"
    media.write_bytes(open(clip_24.path, "rb").read())
    spec = journalled(str(media), tmp_path, start=Fraction(1), end=Fraction(3))
    media.unlink()
    channel = Recorder()
    Worker(channel, PulseBackend()).run({"type": "run", "key": "job1/0/1", "index": 0, "spec": spec})
    report = channel.sent[-1]
    assert report["type"] == "error" and report["code"] == "media" and "no such file" in report["message"]
    assert not os.path.exists(spec["out_path"])
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".partial")]


def test_generate_through_the_engine_probes_nothing_itself(clip_24, engines, tmp_path, monkeypatch, capsys):
    """`foley generate --engine` leaves probing and resolving to the engine (unless SMPTE --in/--out
    need the media's own timecode); in process, the one probe is the command's."""
    from foley_engine.cli import main

    eng = engines(tmp_path / "engine", backend="procedural")
    opened = []
    real_open = probe_module.open_container
    monkeypatch.setattr(probe_module, "open_container", lambda path: opened.append(path) or real_open(path))
    out = tmp_path / "via.wav"
    assert main(["generate", clip_24.path, "-o", str(out), "--in", "1", "--out", "2.5", "--engine",
                 "--connection-file", eng.connection_file]) == 0
    assert opened == [] and sf.info(str(out)).frames == 72000
    assert main(["generate", clip_24.path, "-o", str(tmp_path / "tc.wav"), "--in", "00:10:00:12", "--out", "2.5",
                 "--engine", "--connection-file", eng.connection_file]) == 0
    assert opened == [clip_24.path]  # SMPTE: the media's start timecode 00:10:00:00 is read once
    assert sf.info(str(tmp_path / "tc.wav")).frames == 96000
    assert main(["generate", clip_24.path, "-o", str(tmp_path / "local.wav"), "--in", "1", "--out", "2.5"]) == 0
    assert opened == [clip_24.path] * 2  # in process: probed once, for the one resolution
    capsys.readouterr()
