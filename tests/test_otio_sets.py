"""OTIO fill with stems and takes: named stem tracks, disabled alternate takes, the user's choice kept."""
from __future__ import annotations

import os
from fractions import Fraction
from urllib.parse import unquote, urlparse

import numpy as np
import opentimelineio as otio
import soundfile as sf

from plugin_host.items import Item
from plugin_host.timebase import to_index

from otio_adapters import FillOptions, fill
from otio_adapters.generator import Result
from otio_adapters.output_sets import is_set_track

from test_otio import RT, TR, gap, media, rt, vclip

SR = 48000
RATE = Fraction(24)


class FakeSetEngine:
    """One WAV per output of each request's set; each file's samples say which (take, stem) it is."""

    def __init__(self):
        self.requests = []

    def run(self, requests, out_dir, on_result=None):
        results = []
        for req in requests:
            self.requests.append(req)
            item = req.to_item()
            a, b = to_index(req.start, SR), to_index(req.end, SR)
            outputs = item.outputs(os.path.join(out_dir, f"item{len(self.requests):04d}.wav"))
            for o in outputs:
                level = o.take / 10 + (1 + ("", "feet", "props", "moves", "bg").index(o.stem)) / 100
                sf.write(o.path, np.full(b - a, level, np.float32), SR, subtype="FLOAT")
            res = Result(req.key, outputs[0].path, a, b - a, SR, "fake", f"job{len(self.requests)}", req.seed,
                         outputs=outputs)
            results.append(res)
            if on_result:
                on_result(res)
        return results


def timeline(folder):
    tl = otio.schema.Timeline("sets", global_start_time=RT(0, 24))
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    v.append(gap(12, RATE))
    v.append(vclip("A", media(folder, "a.mp4"), RATE, 30, 48))
    v.append(gap(5, RATE))
    v.append(vclip("B", media(folder, "b.mp4"), RATE, 10, 40))
    tl.tracks.append(v)
    return tl


def path_of(clip) -> str:
    return unquote(urlparse(clip.media_reference.target_url).path)


def layout(track):
    """(record start sample, file) of each clip."""
    out, pos = [], Fraction(0)
    for child in track:
        if isinstance(child, otio.schema.Clip):
            out.append((to_index(pos, SR), os.path.basename(path_of(child))))
        if not isinstance(child, otio.schema.Transition):
            pos += Fraction(child.trimmed_range().duration.to_seconds()).limit_denominator(10 ** 6)
    return out


def test_stems_on_named_tracks_and_takes_as_disabled_alternates(tmp_path):
    opts = FillOptions(out_dir=str(tmp_path / "wavs"), base_dir=str(tmp_path), stems=("feet", "bg"), takes=2)
    report = fill(timeline(str(tmp_path)), FakeSetEngine(), opts)
    assert report.ok, report.failed
    audio = [t for t in report.timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    assert [(t.name, t.enabled) for t in audio] == [
        ("Foley Feet", True), ("Foley BG", True), ("Foley Feet take 2", False), ("Foley BG take 2", False)]
    main = layout(audio[0])
    assert [f for _, f in main] == ["item0001_FOLEY_FEET.wav", "item0002_FOLEY_FEET.wav"]
    for track, suffix in zip(audio[1:], ("_FOLEY_BG", "_take2_FOLEY_FEET", "_take2_FOLEY_BG")):
        # Same record samples as the main track, each pointing at its own file of the set.
        assert [s for s, _ in layout(track)] == [s for s, _ in main]
        assert [f for _, f in layout(track)] == [f"item000{i}{suffix}.wav" for i in (1, 2)]
        assert all(os.path.isfile(path_of(c)) for c in track.find_clips())


def test_rerun_keeps_the_users_take_choice(tmp_path):
    opts = FillOptions(out_dir=str(tmp_path / "wavs"), base_dir=str(tmp_path), takes=3)
    engine = FakeSetEngine()
    first = fill(timeline(str(tmp_path)), engine, opts).timeline
    names = [t.name for t in first.tracks if t.kind == otio.schema.TrackKind.Audio]
    assert names == ["Foley", "Foley take 2", "Foley take 3"]
    # The user picks take 2: enables its track, disables take 1's.
    for t in first.tracks:
        if t.name in ("Foley", "Foley take 2"):
            t.enabled = t.name == "Foley take 2"
    again = fill(first, engine, opts)
    assert again.reused and not again.filled  # nothing regenerated
    state = {t.name: t.enabled for t in again.timeline.tracks if t.kind == otio.schema.TrackKind.Audio}
    assert state == {"Foley": False, "Foley take 2": True, "Foley take 3": False}
    forced = fill(again.timeline, engine, FillOptions(out_dir=opts.out_dir, base_dir=opts.base_dir, takes=3,
                                                      force=True))
    assert forced.filled
    state = {t.name: t.enabled for t in forced.timeline.tracks if t.kind == otio.schema.TrackKind.Audio}
    assert state == {"Foley": False, "Foley take 2": True, "Foley take 3": False}
    assert sum(is_set_track(t) for t in forced.timeline.tracks) == 2  # replaced, never duplicated


def test_engine_items_carry_the_set(tmp_path):
    engine = FakeSetEngine()
    fill(timeline(str(tmp_path)), engine, FillOptions(out_dir=str(tmp_path / "w"), base_dir=str(tmp_path),
                                                      stems=("props",), takes=2))
    item = engine.requests[0].to_item()
    assert isinstance(item, Item) and item.stems == ("props",) and item.takes == 2
