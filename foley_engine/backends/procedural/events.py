"""Where one-shots go: visual onsets and the walking rhythm become :class:`.voices.Voice` s.

- ``impact``/``flash`` onsets play one impact-family kind, chosen by weight
  from the prompt's impact kinds (a flash plays thunder if it is selected);
  with no impact kinds but footsteps selected, they play a footstep.
- ``start`` onsets play a door creak and/or a whoosh swish when selected.
- Footsteps also fall on the periodic peaks of motion energy.
Every choice hashes (seed, absolute sample), so windows agree.
"""
from __future__ import annotations

import numpy as np

from ...analysis import VisualEvents
from ...timebase import to_index
from .dsp import SR, fade_tail, hash64, seconds, stable_id, unit
from .motion import MotionTrack
from .vocabulary import FOOTSTEPS, IMPACT, KINDS
from .voices import Voice

_CHOOSE = stable_id("choose")
_ORDER = {name: i for i, name in enumerate(KINDS)}
#: an impact onset this soon after a motion step is that same step, not another one
IMPACT_AFTER_STEP = seconds(0.25)
#: a one-shot cut short by a shot cut fades out over this long, ending on the cut
CUT_FADE = seconds(0.005)


def _choose(kinds: list[str], mix: dict[str, float], seed: int, sample: int) -> str:
    """A weighted pick that depends only on (seed, sample)."""
    if len(kinds) == 1:
        return kinds[0]
    weights = np.array([mix[k] for k in kinds])
    u = unit(hash64(seed, _CHOOSE, sample)) * weights.sum()
    return kinds[min(len(kinds) - 1, int(np.searchsorted(np.cumsum(weights), u, side="right")))]


def place_voices(events: VisualEvents, mix: dict[str, float], seed: int, track: MotionTrack) -> list[Voice]:
    """Every one-shot the events call for, sorted by (sample, kind, variant): a fixed mixing order."""
    pool = [k for k in mix if KINDS[k].family == IMPACT]
    surfaces = [k for k in mix if KINDS[k].family == FOOTSTEPS]
    voices: list[Voice] = []
    steps = np.zeros(0, np.int64)
    if surfaces and track:
        frames = track.step_frames()
        if pool:
            # A crest that is an impact frame is the impact (a landing, a fall), not a step.
            hits = {to_index(o.time, SR) for o in events.onsets if o.kind in ("impact", "flash")}
            frames = np.asarray([f for f in frames if int(track.samples[f]) not in hits], np.int64)
        steps = track.samples[frames]
        for f, s in zip(frames, steps):
            voices.append(Voice(int(s), _choose(surfaces, mix, seed, int(s)), "", track.strength(f), float(track.x[f])))
    for onset in events.onsets:
        s = to_index(onset.time, SR)
        strength, x = float(onset.strength), float(onset.x)
        if onset.kind == "flash" and "thunder" in mix:
            voices.append(Voice(s, "thunder", "", strength, x))
        elif onset.kind in ("impact", "flash"):
            if pool:
                kind = _choose(pool, mix, seed, s)
                voices.append(Voice(s, kind, "slam" if kind == "door" else "", strength, x))
            elif surfaces:
                i = np.searchsorted(steps, s - IMPACT_AFTER_STEP, side="left")
                if i >= steps.size or steps[i] > s:
                    voices.append(Voice(s, _choose(surfaces, mix, seed, s), "", max(strength, 0.5), x))
        elif onset.kind == "start":
            if "door" in mix:
                voices.append(Voice(s, "door", "creak", strength, x))
            if "whoosh" in mix:
                voices.append(Voice(s, "whoosh", "swish", strength, x))
    voices.sort(key=lambda v: (v.sample, _ORDER[v.kind], v.variant))
    return voices


def stop_at_cut(sound: np.ndarray, at: int, cuts) -> np.ndarray:
    """``sound`` (sample 0 at absolute sample ``at``) ended at the first cut after it:
    a thud does not ring on into the next shot.  Cuts are frame PTS, so every window
    that sees the cut ends the sound on the same sample."""
    for cut in cuts:
        c = to_index(cut, SR)
        if at < c < at + sound.size:
            return fade_tail(sound[: c - at].copy(), CUT_FADE)
    return sound
