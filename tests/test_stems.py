"""Stems and takes (issue 21): the typed fields, the output set, procedural stems summing to the mix,
stems by passes, levels, and the set landing together (in process and through a real engine)."""
from __future__ import annotations

import dataclasses
import os
import signal
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from plugin_host.fields import ProtocolError
from plugin_host.items import LOUDNESS_PRESETS, STEM_CLASSES, Item, Output, Result, output_set, stem_track_name

from foley_engine.backends.base import STEMS_BY_PASSES, Backend
from foley_engine.backends.procedural import ProceduralBackend
from foley_engine.cli import main
from foley_engine.errors import BackendError, Cancelled
from foley_engine.generate import generate_to_file
from foley_engine.job import stem_seed, take_seed
from foley_engine.loudness import LoudnessMeter

from test_engine_backend import PulseBackend, make_clip, wait_for

PROMPT = "footsteps on wood, door slams, whoosh, room tone"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=3)


def codes(path: str) -> np.ndarray:
    """A WAV's integer codes at 24 bits."""
    return sf.read(path, dtype="int32")[0] >> 8


def item(clip, **fields) -> Item:
    return Item(clip, Fraction(1, 2), Fraction(5, 2), prompt=PROMPT, seed=7, **fields)


# ---------------------------------------------------------------- the typed fields


def test_stems_are_checked_and_normalised_when_the_item_is_made():
    assert Item("a.mp4", stems="bg, feet").stems == ("feet", "bg")  # STEM_CLASSES order, each once
    assert Item("a.mp4", stems=["all"]).stems == STEM_CLASSES
    assert Item("a.mp4").stems == () and Item("a.mp4").takes == 1
    with pytest.raises(ProtocolError, match="'dialogue' is not a stem; use feet, props, moves, bg or all"):
        Item("a.mp4", stems="feet,dialogue")
    for bad in (0, 17, True, "2"):
        with pytest.raises(ProtocolError, match="takes"):
            Item("a.mp4", takes=bad)
    with pytest.raises(ProtocolError, match="loudness_per_stem"):
        Item("a.mp4", loudness_per_stem="yes")


def test_wire_round_trip_and_old_items_unchanged():
    it = Item("a.mp4", Fraction(1), Fraction(2), stems="all", takes=3, loudness_per_stem=True)
    wire = it.to_wire()
    assert wire["stems"] == list(STEM_CLASSES) and wire["takes"] == 3 and wire["loudness_per_stem"] is True
    assert Item.from_wire(wire) == it
    plain = Item("a.mp4").to_wire()
    assert not {"stems", "takes", "loudness_per_stem"} & set(plain)  # an older engine reads it as before
    with pytest.raises(ProtocolError, match=r"item.stems"):
        Item.from_wire({"media": "a.mp4", "stems": "voice"})


def test_naming_convention():
    names = [os.path.basename(o.path) for o in output_set("/x/shot_foley.wav", ("feet", "bg"), 2)]
    assert names == ["shot_foley_FOLEY_FEET.wav", "shot_foley_FOLEY_BG.wav",
                     "shot_foley_take2_FOLEY_FEET.wav", "shot_foley_take2_FOLEY_BG.wav"]
    assert [o.path for o in output_set("/x/a.wav", (), 3)] == ["/x/a.wav", "/x/a_take2.wav", "/x/a_take3.wav"]
    assert output_set("/x/a.wav") == (Output(1, "", "/x/a.wav"),)
    assert [stem_track_name(s) for s in ("",) + STEM_CLASSES] == \
        ["Foley", "Foley Feet", "Foley Props", "Foley Moves", "Foley BG"]


def test_result_carries_the_set_and_is_checked_against_the_item():
    it = Item("a.mp4", Fraction(0), Fraction(1), stems="feet,bg")
    outs = it.outputs("/o/a.wav")
    res = Result(0, outs[0].path, "a.mp4", Fraction(0), Fraction(1), 0, 48000, 48000, outputs=outs)
    back = Result.from_wire(res.to_wire())
    assert back.outputs == outs and back.problem(it) is None
    assert "1 file(s) where 2 stem(s) x 1 take(s)" in dataclasses.replace(back, outputs=()).problem(it)


def test_take_and_stem_seeds_are_documented_and_stable():
    assert take_seed(7, 1) == 7  # take 1 is today's output
    assert take_seed(7, 2) == int.from_bytes(__import__("hashlib").sha256(b"foley-take:7:2").digest()[:4], "big")
    assert len({take_seed(7, t) for t in range(1, 9)}) == 8
    assert stem_seed(7, "feet") != stem_seed(7, "bg")


def test_loudness_presets_carry_their_ceiling(clip, tmp_path, capsys):
    assert LOUDNESS_PRESETS["ebu-r128"] == ("-23", -1.0) and LOUDNESS_PRESETS["atsc-a85"] == ("-24", -2.0)
    code = main(["generate", clip, "-o", str(tmp_path / "a.wav"), "--in", "0", "--out", "1", "--prompt", "room tone",
                 "--loudness", "atsc-a85", "--json"])
    assert code == 0
    meter = LoudnessMeter(48000, 2)
    meter.add(sf.read(str(tmp_path / "a.wav"))[0])
    assert abs(meter.integrated() - -24) < 0.2 or meter.true_peak() <= -2.0 + 0.05


# ---------------------------------------------------------------- procedural stems


@pytest.fixture(scope="module")
def mixes(clip, tmp_path_factory):
    """One run without --stems and one with --stems all --takes 2, same item otherwise."""
    folder = tmp_path_factory.mktemp("sets")
    backend = ProceduralBackend()
    mix = generate_to_file(item(clip), backend, str(folder / "mix.wav"))
    full = generate_to_file(item(clip, stems="all", takes=2), backend, str(folder / "set.wav"))
    return folder, mix, full


def test_stems_sum_to_the_mix_at_pcm24(mixes):
    folder, mix, full = mixes
    assert [os.path.basename(o.path) for o in full.outputs] == \
        [f"set{t}_FOLEY_{c.upper()}.wav" for t in ("", "_take2") for c in STEM_CLASSES]
    assert os.listdir(folder) and not [n for n in os.listdir(folder) if n.endswith(".partial")]
    take1 = [o.path for o in full.outputs if o.take == 1]
    for path in take1:
        assert sf.info(path).frames == mix.num_samples  # exactly the range's samples
    total = sum(codes(p) for p in take1)
    assert np.abs(total - codes(mix.path)).max() <= 1  # within 1 LSB (the set's own sum is exact)
    # The stems are real parts: at least the doors (props) and the room tone (bg) sound alone.
    levels = {o.stem: np.abs(codes(o.path)).max() for o in full.outputs if o.take == 1}
    assert levels["props"] > 0 and levels["bg"] > 0


def test_takes_differ_and_take_one_is_todays_output(clip, mixes, tmp_path):
    folder, mix, full = mixes
    take2 = sum(codes(o.path) for o in full.outputs if o.take == 2)
    assert np.abs(take2 - codes(mix.path)).max() > 1000  # another variation, not the same sound
    plain = generate_to_file(item(clip, takes=2), ProceduralBackend(), str(tmp_path / "t.wav"))
    assert [os.path.basename(o.path) for o in plain.outputs] == ["t.wav", "t_take2.wav"]
    assert open(plain.outputs[0].path, "rb").read() == open(mix.path, "rb").read()  # byte for byte
    again = generate_to_file(item(clip, takes=2), ProceduralBackend(), str(tmp_path / "u.wav"))
    assert open(again.outputs[1].path, "rb").read() == open(plain.outputs[1].path, "rb").read()  # reproducible


def test_float_stems_sum_to_the_mix_to_rounding(clip, tmp_path):
    backend = ProceduralBackend()
    mix = generate_to_file(item(clip, format="float", loudness="off"), backend, str(tmp_path / "m.wav"))
    full = generate_to_file(item(clip, format="float", loudness="off", stems="all"), backend, str(tmp_path / "s.wav"))
    total = sum(sf.read(o.path, dtype="float64")[0] for o in full.outputs)
    np.testing.assert_allclose(total, sf.read(mix.path, dtype="float64")[0], atol=1e-6)


def test_one_gain_for_the_set_or_one_per_stem(clip, tmp_path):
    backend = ProceduralBackend()
    raw = generate_to_file(item(clip, format="float", loudness="off", stems="props,bg"), backend,
                           str(tmp_path / "raw.wav"))
    set_ = generate_to_file(item(clip, format="float", loudness="-30", stems="props,bg"), backend,
                            str(tmp_path / "set.wav"))
    ratios = []
    for a, b in zip(raw.outputs, set_.outputs):
        x, y = sf.read(a.path)[0], sf.read(b.path)[0]
        loud = np.abs(x) > 1e-3
        ratios.append(np.median(y[loud] / x[loud]))
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-4)  # the generator's balance is kept
    per = generate_to_file(item(clip, format="float", loudness="-30", stems="props,bg", loudness_per_stem=True),
                           backend, str(tmp_path / "per.wav"))
    for o in per.outputs:
        meter = LoudnessMeter(48000, 2)
        meter.add(sf.read(o.path)[0])
        assert meter.integrated() == pytest.approx(-30, abs=0.3) or meter.true_peak() == pytest.approx(-1, abs=0.1)


# ---------------------------------------------------------------- backends without native stems


class PassesBackend(PulseBackend):
    """A one-mix backend that makes stems by passes: records what each pass asked for."""

    stems = STEMS_BY_PASSES
    asked: list = []

    def generate(self, request):
        PassesBackend.asked.append((request.prompt, request.negative_prompt, request.job_seed, request.stem))
        return super().generate(request)


class MixOnlyBackend(PulseBackend):
    pass


def test_stems_by_passes_use_class_prompts_and_derived_seeds(clip, tmp_path):
    PassesBackend.asked = []
    it = Item(clip, Fraction(0), Fraction(1), prompt="a kitchen", negative_prompt="music", seed=3, stems="feet,bg")
    res = generate_to_file(it, PassesBackend(window="2"), str(tmp_path / "p.wav"))
    assert [o.stem for o in res.outputs] == ["feet", "bg"]
    feet, bg = PassesBackend.asked[0], PassesBackend.asked[-1]
    assert feet[0] == "footsteps, shoes on the ground, a kitchen" and feet[3] is None
    assert "background ambience" in feet[1] and feet[1].endswith("music") and "footsteps" not in feet[1]
    assert bg[0].startswith("background ambience") and (feet[2], bg[2]) == (stem_seed(3, "feet"), stem_seed(3, "bg"))


def test_a_backend_without_stems_is_refused_in_one_line_before_any_work(clip, tmp_path, capsys):
    it = Item(clip, Fraction(0), Fraction(1), stems="feet")
    with pytest.raises(BackendError, match=r"^backend 'pulse' cannot make stems .*run without --stems$"):
        generate_to_file(it, MixOnlyBackend(), str(tmp_path / "x.wav"))
    assert os.listdir(tmp_path) == []
    assert Backend.stems == "none" and ProceduralBackend.stems == "native"


def test_cancel_mid_set_leaves_nothing(clip, tmp_path):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3  # after the first pass, during the second

    with pytest.raises(Cancelled):
        generate_to_file(item(clip, stems="all"), ProceduralBackend(), str(tmp_path / "c.wav"), cancel=cancel)
    assert os.listdir(tmp_path) == []


def test_cli_stems_and_takes(clip, tmp_path, capsys):
    out = tmp_path / "shot.wav"
    code = main(["generate", clip, "-o", str(out), "--in", "0", "--out", "1", "--prompt", PROMPT,
                 "--stems", "all", "--takes", "3"])
    assert code == 0
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith(".wav"))
    assert sorted(os.listdir(tmp_path)) == sorted(names + [n + ".foley.json" for n in names])  # each with its sidecar
    assert len(names) == 12 and "shot_take3_FOLEY_BG.wav" in names and "shot_FOLEY_FEET.wav" in names
    assert {sf.info(str(tmp_path / n)).frames for n in names} == {48000}
    assert "and 11 more beside it" in capsys.readouterr().out
    assert main(["generate", clip, "-o", str(tmp_path / "z.wav"), "--stems", "voices"]) != 0
    assert "--stems" in capsys.readouterr().err


# ---------------------------------------------------------------- through a real engine


def test_engine_set_is_byte_identical_to_in_process(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", backend="procedural")
    out = tmp_path / "out"
    out.mkdir()
    it = item(clip, stems="feet,props,bg", takes=2)
    with engine.client() as eng:
        results = eng.submit([it.to_wire()], out_dir=str(out)).wait(timeout=120)
    res = Result.from_wire(results[0])
    assert res.problem(it) is None and len(res.outputs) == 6
    ref = generate_to_file(it, ProceduralBackend(), str(tmp_path / "ref.wav"))
    for theirs, ours in zip(res.outputs, ref.outputs):
        assert (theirs.take, theirs.stem) == (ours.take, ours.stem)
        assert open(theirs.path, "rb").read() == open(ours.path, "rb").read()


def test_killed_worker_mid_set_leaves_no_partial_set(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", backend="test_stems:PassesBackend")
    out = tmp_path / "out"
    out.mkdir()
    it = Item(clip, seed=5, stems="feet,bg", options={"delay": 0.3})
    with engine.client() as eng:
        worker = eng.status()["worker"]["pid"]
        job = eng.submit([it.to_wire()], out_dir=str(out))
        for event in job.events(timeout=30):
            if event.type == "span":
                break
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: (eng.status()["worker"] or {}).get("pid") not in (None, worker), what="a new worker")
        assert [n for n in os.listdir(out) if n.endswith(".wav")] == []  # nothing of the set landed
        results = job.wait(timeout=90)
    res = Result.from_wire(results[0])
    assert sorted(os.listdir(out)) == sorted(os.path.basename(o.path) + ext for o in res.outputs
                                             for ext in ("", ".foley.json"))  # no partials, each with its sidecar
    ref = generate_to_file(it, PassesBackend(), str(tmp_path / "ref.wav"))
    for theirs, ours in zip(res.outputs, ref.outputs):
        assert open(theirs.path, "rb").read() == open(ours.path, "rb").read()


def test_batch_stems_one_folder_per_stem_and_a_summary_naming_every_file(engines, clip, tmp_path, capsys):
    import json

    import opentimelineio as otio

    from test_batch import batch, timeline

    engine = engines(tmp_path / "engine", backend="procedural")
    cut = timeline(str(tmp_path / "cut.otio"), clip, frames=90)
    out = tmp_path / "out"
    args = [clip, cut, "--out", str(out), "--connection-file", engine.connection_file, "--no-autostart",
            "--prompt", PROMPT, "--stems", "feet,bg", "--takes", "2"]
    assert batch(*args) == 0, capsys.readouterr().err
    doc = json.loads((out / "foley-batch-summary.json").read_text())
    assert doc["totals"]["done"] == 3
    for it in doc["items"]:
        assert len(it["outputs"]) == 4
        for path in it["outputs"]:
            stem = "FEET" if path.endswith("_FOLEY_FEET.wav") else "BG"
            assert os.path.basename(os.path.dirname(path)) == f"FOLEY_{stem}" and os.path.getsize(path) > 44
    md = (out / "foley-batch-summary.md").read_text()
    assert all(os.path.basename(p) in md for it in doc["items"] for p in it["outputs"])
    assert sorted(n for n in os.listdir(out) if n.startswith("FOLEY_")) == ["FOLEY_BG", "FOLEY_FEET"]
    filled = otio.adapters.read_from_file(doc["timelines"][0]["output"])
    audio = [(t.name, t.enabled) for t in filled.tracks if t.kind == "Audio"]
    assert audio == [("Foley Feet", True), ("Foley BG", True), ("Foley Feet take 2", False),
                     ("Foley BG take 2", False)]
    assert all(os.path.isfile(otio.url_utils.filepath_from_url(c.media_reference.target_url))
               for t in filled.tracks if t.kind == "Audio" for c in t.find_clips())
    assert batch(*args) == 0  # resumed: every file of every set is still there, nothing generated again
    assert json.loads((out / "foley-batch-summary.json").read_text())["totals"]["skipped"] == 3


def test_generate_engine_writes_the_in_process_set(engines, clip, tmp_path, capsys):
    from foley_engine.backends.hunyuan.backend import HunyuanBackend

    assert HunyuanBackend.stems == "passes"  # one generation per stem with a class prompt
    engine = engines(tmp_path / "engine", backend="procedural")
    common = [clip, "--in", "0", "--out", "2", "--prompt", PROMPT, "--stems", "props,bg", "--takes", "2"]
    assert main(["generate", *common, "-o", str(tmp_path / "local.wav")]) == 0
    assert main(["generate", *common, "-o", str(tmp_path / "eng.wav"), "--engine", "--connection-file",
                 engine.connection_file]) == 0
    capsys.readouterr()
    for name in ("FOLEY_PROPS", "FOLEY_BG", "take2_FOLEY_PROPS", "take2_FOLEY_BG"):
        assert (tmp_path / f"eng_{name}.wav").read_bytes() == (tmp_path / f"local_{name}.wav").read_bytes()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".") or n.startswith("job")]
