"""Resolve markers both ways (issue 22), against the fake of the documented API (tests/fake_resolve.py):
``foley:`` timeline and clip markers split a clip into prompt parts on exact frames, and the engine's
events come back as timeline markers that a re-run replaces without touching the user's."""
from __future__ import annotations

from fractions import Fraction

import pytest

import resolve_scripts.foley_resolve as fr
from otio_adapters.timemath import to_index
from resolve_helpers import MARKER_RATES, SR, ScriptedUI, StubEngine, build_cut, expected_range
from resolve_scripts.engine import EngineSpec
from resolve_scripts.foley_resolve import Options, run
from resolve_scripts.markers import SPOT_TAG

#: Resolve versions under test: 18.5 (whole WAV frames), 19.1 free (no UIManager), 21.x
VERSIONS = [((18, 5, 0), True), ((19, 1, 0), False), ((21, 0, 2), True)]
VERSION_IDS = ["18.5", "19.1-free", "21.0"]


def options(tmp_path):
    return Options(EngineSpec(connection_file=str(tmp_path / "no-engine.json")), out_root=str(tmp_path / "out"))


def with_engine(monkeypatch, **kw) -> StubEngine:
    stub = StubEngine(**kw)
    monkeypatch.setattr(fr, "connect", lambda spec, autostart: stub)
    return stub


def mark_up(tl, clips):
    """On clip A (record +10..+70, left offset 12): a clip range marker ``foley: rain`` over record
    +15..+25 (clip offset 17, 10 frames), a timeline point marker ``foley: glass breaks`` at +40 (note),
    and the user's own markers (not prompts) on the clip and the timeline."""
    a = clips["A"]
    a.markers[17] = {"color": "Blue", "duration": 10.0, "note": "", "name": "foley: rain on a tin roof",
                     "customData": ""}
    a.markers[30] = {"color": "Green", "duration": 1.0, "note": "too loud?", "name": "director", "customData": ""}
    tl.markers[40] = {"color": "Red", "duration": 1.0, "note": "FOLEY: glass breaks", "name": "Marker 1",
                      "customData": ""}
    tl.markers[50] = {"color": "Yellow", "duration": 1.0, "note": "check sync", "name": "mine", "customData": ""}


@pytest.mark.parametrize("version,studio", VERSIONS, ids=VERSION_IDS)
@pytest.mark.parametrize("rate", list(MARKER_RATES))
def test_marker_prompts_split_the_clip_into_parts_on_exact_frames(rate, version, studio, tmp_path, monkeypatch):
    engine = with_engine(monkeypatch)
    tl, resolve, clips = build_cut(tmp_path, rate, version=version)
    resolve.studio = studio
    mark_up(tl, clips)
    users = {f: dict(m) for f, m in tl.markers.items()}, {f: dict(m) for f, m in clips["A"].markers.items()}
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI({"prompt": "footsteps"}), options(tmp_path))
    assert report.error is None and not report.skipped and not report.warnings, report.summary()

    s = tl.start_frame
    one_shot = to_index(Fraction(1), tl.rate)  # 24, 25 or 30 frames
    bounds = [10, 15, 25, 40, min(40 + one_shot, 70), 70]
    prompts = ["footsteps", "rain on a tin roof", "footsteps", "footsteps, glass breaks", "footsteps"]
    if bounds[-2] == 70:  # at 29.97 the one-shot reaches the clip's end
        bounds, prompts = bounds[:-1], prompts[:-1]
    assert [i["prompt"] for i in engine.items] == prompts
    assert [i["record_start"]["frame"] for i in engine.items] == [s + b for b in bounds[:-1]]
    # The parts tile the clip's media range exactly: each starts where the last ended, from A's first
    # sample to its last, and each has the samples of its own record frames.
    whole = expected_range(tl, clips["A"])
    assert engine.items[0]["start"] == whole[0] and engine.items[-1]["end"] == whole[1]
    assert all(x["end"] == y["start"] for x, y in zip(engine.items, engine.items[1:]))
    for item, a, b in zip(engine.items, bounds, bounds[1:]):
        n = to_index(Fraction(item["end"]), SR) - to_index(Fraction(item["start"]), SR)
        assert n == to_index(Fraction(b, tl.rate), SR) - to_index(Fraction(a, tl.rate), SR)
    # Each part lands on its own record frame, on one Foley track.
    appended = resolve.project.media_pool.appended
    assert [i["recordFrame"] for i in appended] == [s + b for b in bounds[:-1]]
    if version >= (19, 0, 3):
        assert {i["trackIndex"] for i in appended} == {2}
    else:  # whole WAV frames: a part's silent tail (< 1/24 s) may reach into the next, which then goes a track up
        assert {i["trackIndex"] for i in appended} <= {2, 3}
    assert len(report.placed) == len(prompts)
    # A re-run gives the same parts, replaces our clips, and the user's markers are as they were.
    report = run(resolve, "current", ScriptedUI({"prompt": "footsteps"}), options(tmp_path))
    assert report.error is None and report.replaced == len(prompts), report.summary()
    assert [i["prompt"] for i in engine.items[len(prompts):]] == prompts
    assert [[i["start"], i["end"]] for i in engine.items[len(prompts):]] == \
        [[i["start"], i["end"]] for i in engine.items[:len(prompts)]]
    assert ({f: dict(m) for f, m in tl.markers.items()}, {f: dict(m) for f, m in clips["A"].markers.items()}) == users
    assert sum(len(tl.GetItemListInTrack("audio", t)) for t in range(2, tl.GetTrackCount("audio") + 1)) == len(prompts)


def test_a_foley_marker_note_is_a_range_prompt_not_the_clips_prompt(tmp_path, monkeypatch):
    """Auto-fill takes a clip's plain marker note as its prompt; a ``foley:`` note is a prompt for its range."""
    engine = with_engine(monkeypatch)
    tl, resolve, clips = build_cut(tmp_path, "25")
    clips["C"].markers[6]["note"] = "foley: glass breaks"  # C: record +30..+54, left offset 5: marker at +31
    report = run(resolve, "flagged", ScriptedUI({"colour": "Red", "prompt": "room tone"}), options(tmp_path))
    assert report.error is None, report.summary()
    assert [(i["prompt"], i["record_start"]["frame"] - tl.start_frame) for i in engine.items] == \
        [("room tone", 30), ("room tone, glass breaks", 31)]


def test_a_marker_range_on_the_timeline_replaces_the_prompt_across_two_clips(tmp_path, monkeypatch):
    engine = with_engine(monkeypatch)
    tl, resolve, clips = build_cut(tmp_path, "23.976")
    tl.markers[60] = {"color": "Blue", "duration": 20.0, "note": "", "name": "foley: rain", "customData": ""}
    tl.marks = {"in": 0, "out": 105}
    report = run(resolve, "range", ScriptedUI({"prompt": "steps"}), options(tmp_path))
    assert report.error is None, report.summary()
    got = sorted((i["record_start"]["track"], i["record_start"]["frame"] - tl.start_frame, i["prompt"])
                 for i in engine.items)
    assert got == [(1, 10, "steps"), (1, 60, "rain"), (1, 70, "rain"), (1, 80, "steps"), (2, 30, "steps")]


def spot_events(tl, frames: dict) -> list:
    """Events at clip A's record frames (+10 + k is media frame 12 + k), as the engine reports them."""
    return [(kind, Fraction(12 + k - 10, tl.rate)) for k, kinds in frames.items() for kind in kinds]


@pytest.mark.parametrize("version,studio", VERSIONS, ids=VERSION_IDS)
@pytest.mark.parametrize("rate", list(MARKER_RATES))
def test_spotted_events_become_timeline_markers_and_reruns_replace_only_ours(rate, version, studio, tmp_path,
                                                                             monkeypatch):
    tl, resolve, clips = build_cut(tmp_path, rate, version=version)
    resolve.studio = studio
    events = spot_events(tl, {20: ["impact", "cut"], 33: ["footstep"], 45: ["flash"], 69: ["footstep"]})
    engine = with_engine(monkeypatch, events=events + [("impact", Fraction(200, tl.rate))])  # outside A
    tl.markers[45] = {"color": "Yellow", "duration": 1.0, "note": "", "name": "mine", "customData": ""}
    tl.markers[100] = {"color": "Cream", "duration": 3.0, "note": "", "name": "also mine", "customData": ""}
    users = {f: dict(tl.markers[f]) for f in (45, 100)}
    tl.playhead = tl.start_frame + 20
    ui = ScriptedUI({"prompt": "footsteps", "spot": "Yes"})
    report = run(resolve, "current", ui, options(tmp_path))
    assert report.error is None, report.summary()
    assert "3 event marker(s) written; 1 event(s) not marked: a marker of yours is on that frame" in report.warnings
    ours = {f: m for f, m in tl.markers.items() if m["customData"].startswith(SPOT_TAG)}
    assert {f: (m["name"], m["color"], m["duration"]) for f, m in ours.items()} == {
        20: ("impact, cut", "Red", 1.0), 33: ("footstep", "Green", 1.0), 69: ("footstep", "Green", 1.0)}
    assert len({m["customData"] for m in ours.values()}) == 3  # unique: DeleteMarkerByCustomData takes the first
    assert {f: tl.markers[f] for f in (45, 100)} == users

    # A re-run with a moved event: our markers there are replaced, the user's are untouched.
    engine.events = spot_events(tl, {21: ["impact"], 33: ["footstep"]})
    report = run(resolve, "current", ui, options(tmp_path))
    assert report.error is None, report.summary()
    assert "2 event marker(s) written, 3 earlier one(s) removed" in report.warnings
    ours = {f: m["name"] for f, m in tl.markers.items() if m["customData"].startswith(SPOT_TAG)}
    assert ours == {21: "impact", 33: "footstep"}
    assert {f: tl.markers[f] for f in (45, 100)} == users
    # Running it once more changes nothing (idempotent).
    before = {f: dict(m) for f, m in tl.markers.items()}
    run(resolve, "current", ui, options(tmp_path))
    assert {f: dict(m) for f, m in tl.markers.items()} == before


def test_without_spot_no_marker_is_written(tmp_path, monkeypatch):
    tl, resolve, clips = build_cut(tmp_path, "25")
    with_engine(monkeypatch, events=spot_events(tl, {20: ["impact"]}))
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI({"prompt": "x"}), options(tmp_path))
    assert report.error is None and tl.markers == {}, report.summary()


def test_a_file_without_events_is_named_not_spotted(tmp_path, monkeypatch):
    tl, resolve, clips = build_cut(tmp_path, "25")
    with_engine(monkeypatch)  # no sidecars
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI({"prompt": "x", "spot": "yes"}), options(tmp_path))
    assert report.error is None
    assert report.warnings[0] == "0 event marker(s) written"
    assert report.warnings[1].endswith("no event list beside it (made by an older engine?): not spotted")
