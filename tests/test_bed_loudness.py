"""A stem of ambience alone is not normalised to dialogue level: the default target depends on the mix
(foley_engine/backends/procedural/levels.py).  10 s of room tone at -23 LUFS peaked at -10.7 dBFS."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from foley_engine.backends.procedural import ProceduralBackend
from foley_engine.backends.procedural.levels import BEDS_LUFS, ROOM_TONE_LUFS, target_for_mix
from foley_engine.cli import main
from foley_engine.loudness import DEFAULT_TARGET_LUFS, LoudnessMeter


def _measure(path):
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    meter = LoudnessMeter(sr, x.shape[1])
    meter.add(x)
    return meter.integrated(), 20 * np.log10(np.abs(x).max())


def test_the_rule():
    assert target_for_mix({"room_tone": 1.0}) == ROOM_TONE_LUFS == -43.0
    assert target_for_mix({"rain": 1.0, "wind": 0.5}) == BEDS_LUFS == -33.0
    assert target_for_mix({"rain": 1.0, "door": 1.0}) == DEFAULT_TARGET_LUFS == -23.0
    assert target_for_mix({"room_tone": 1.0, "impact_soft": 1.0}, recognised=False) == BEDS_LUFS
    assert ProceduralBackend.loudness_target_for("footsteps on gravel") == -23.0
    assert ProceduralBackend.loudness_target_for("room tone") == -43.0
    assert ProceduralBackend.loudness_target_for("xyzzy") == -33.0  # nothing known: the default bed


@pytest.mark.parametrize("prompt,target,peak_below", [
    ("room tone", -43.0, -25.0),  # was -23 LUFS, peaking at -10.7 dBFS
    ("rain", -33.0, -12.0),
    ("wood impacts", -23.0, 0.0),  # Foley with hits stays at dialogue level
])
def test_generated_stems_land_on_their_target(clip_24, tmp_path, prompt, target, peak_below):
    out = tmp_path / "x.wav"
    assert main(["generate", clip_24.path, "--prompt", prompt, "-o", str(out)]) == 0
    loudness, peak = _measure(out)
    assert loudness == pytest.approx(target, abs=0.5) or (loudness < target and peak > -1.5)  # the ceiling won
    assert peak < peak_below


def test_the_users_loudness_still_wins(clip_24, tmp_path):
    out = tmp_path / "x.wav"
    assert main(["generate", clip_24.path, "--prompt", "room tone", "--loudness", "-23", "-o", str(out)]) == 0
    assert _measure(out)[0] == pytest.approx(-23.0, abs=0.5)


def test_a_background_stem_is_not_pushed_to_dialogue_level(clip_24, tmp_path):
    """Issue 21: with --loudness-per-stem the bg stem aims at the beds' level, the others at dialogue level;
    as a set (one gain) a beds-only prompt aims at the beds' level too."""
    assert ProceduralBackend.loudness_target_for("footsteps, rain", stem="bg") == BEDS_LUFS
    assert ProceduralBackend.loudness_target_for("footsteps, room tone", stem="bg") == ROOM_TONE_LUFS
    assert ProceduralBackend.loudness_target_for("footsteps, rain", stem="feet") == DEFAULT_TARGET_LUFS
    out = tmp_path / "s.wav"
    assert main(["generate", clip_24.path, "--prompt", "wood impacts, rain", "--stems", "props,bg",
                 "--loudness-per-stem", "-o", str(out)]) == 0
    assert _measure(tmp_path / "s_FOLEY_BG.wav")[0] == pytest.approx(BEDS_LUFS, abs=0.5)
    assert _measure(tmp_path / "s_FOLEY_PROPS.wav")[0] > BEDS_LUFS + 5
    out = tmp_path / "r.wav"
    assert main(["generate", clip_24.path, "--prompt", "rain", "--stems", "bg", "-o", str(out)]) == 0
    assert _measure(tmp_path / "r_FOLEY_BG.wav")[0] == pytest.approx(BEDS_LUFS, abs=0.5)
