"""Where one-shots go: visual onsets and the walking rhythm become :class:`.voices.Voice` s.

- ``impact`` (a hit), ``flash`` and ``insert`` (brief inserts) onsets play one
  impact-family kind, chosen by weight from the prompt's impact kinds (a flash
  plays thunder if it is selected; an insert also swishes with "whoosh"); with
  no impact kinds but footsteps selected, a hit plays a footstep.
- ``footstep`` onsets play the prompt's surface, panned to the foot: a pose model's heel
  strikes (tag left/right), and where it finds nobody, feet seen settling on the ground
  (tag ``contact``, analysis/contacts.py).
- ``start`` onsets play a door creak and/or a whoosh swish when selected.
- Without pose footsteps nearby, steps fall on the walking rhythm of the motion
  energy, else on a steady cadence while something moves (a fallback).
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
#: onsets that play one impact-family kind: hits, flashes, brief inserts
ONE_SHOT_KINDS = ("impact", "flash", "insert")
#: a motion-guessed step this close to a pose footstep is that footstep: dropped
POSE_STEP_REACH = seconds(0.3)
#: a hit this close to a pose footstep is the foot landing: it plays no second sound
FOOT_HIT_REACH = seconds(0.1)
#: a one-shot cut short by a shot cut fades out over this long, ending on the cut
CUT_FADE = seconds(0.005)


def _choose(kinds: list[str], mix: dict[str, float], seed: int, sample: int) -> str:
    """A weighted pick that depends only on (seed, sample)."""
    if len(kinds) == 1:
        return kinds[0]
    weights = np.array([mix[k] for k in kinds])
    u = unit(hash64(seed, _CHOOSE, sample)) * weights.sum()
    return kinds[min(len(kinds) - 1, int(np.searchsorted(np.cumsum(weights), u, side="right")))]


def _step_samples(events: VisualEvents, track: MotionTrack, pool: list[str]) -> np.ndarray:
    """Absolute samples of the footsteps the picture's motion suggests, where no pose
    footstep is near: the walking rhythm of the motion energy, else a steady cadence
    while things move (better than silence; the prompt warnings say so)."""
    if not track:
        return np.zeros(0, np.int64)
    frames = track.step_frames()
    frames = np.union1d(frames, track.cadence_frames(frames))
    samples = track.samples[frames]
    keep = np.ones(frames.size, bool)
    if pool:
        # A crest that is an impact frame is the impact (a landing, a fall), not a step.
        hits = {to_index(o.time, SR) for o in events.onsets if o.kind in ONE_SHOT_KINDS}
        keep &= np.array([int(s) not in hits for s in samples], bool)
    pose = np.array(sorted(to_index(o.time, SR) for o in events.onsets if o.kind == "footstep"), np.int64)
    if pose.size:
        # Steps from the pose model (feet seen landing) replace the motion's guesses near them.
        i = np.searchsorted(pose, samples)
        before, after = pose[np.clip(i - 1, 0, pose.size - 1)], pose[np.clip(i, 0, pose.size - 1)]
        keep &= np.minimum(np.abs(samples - before), np.abs(after - samples)) > POSE_STEP_REACH
    return frames[keep]


def place_voices(events: VisualEvents, mix: dict[str, float], seed: int, track: MotionTrack) -> list[Voice]:
    """Every one-shot the events call for, sorted by (sample, kind, variant): a fixed mixing order."""
    pool = [k for k in mix if KINDS[k].family == IMPACT]
    surfaces = [k for k in mix if KINDS[k].family == FOOTSTEPS]
    voices: list[Voice] = []
    steps = np.zeros(0, np.int64)
    if surfaces:
        frames = _step_samples(events, track, pool)
        steps = track.samples[frames] if frames.size else steps
        for f, s in zip(frames, steps):
            voices.append(Voice(int(s), _choose(surfaces, mix, seed, int(s)), "", track.strength(f), float(track.x[f])))
    feet = np.array(sorted(to_index(o.time, SR) for o in events.onsets if o.kind == "footstep"), np.int64)
    for onset in events.onsets:
        s = to_index(onset.time, SR)
        strength, x = float(onset.strength), float(onset.x)
        if onset.kind == "impact" and feet.size and np.min(np.abs(feet - s)) <= FOOT_HIT_REACH:
            continue  # a region stopping where a foot lands is that footstep, not a second sound
        if onset.kind == "footstep":
            if surfaces:
                voices.append(Voice(s, _choose(surfaces, mix, seed, s), "", max(strength, 0.4), x))
        elif onset.kind == "flash" and "thunder" in mix:
            voices.append(Voice(s, "thunder", "", strength, x))
        elif onset.kind in ONE_SHOT_KINDS:
            if pool:
                kind = _choose(pool, mix, seed, s)
                voices.append(Voice(s, kind, "slam" if kind == "door" else "", strength, x))
            elif surfaces and onset.kind == "impact":
                i = np.searchsorted(steps, s - IMPACT_AFTER_STEP, side="left")
                if i >= steps.size or steps[i] > s:
                    voices.append(Voice(s, _choose(surfaces, mix, seed, s), "", max(strength, 0.5), x))
            if onset.kind == "insert" and "whoosh" in mix:
                voices.append(Voice(s, "whoosh", "swish", strength, x))
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
