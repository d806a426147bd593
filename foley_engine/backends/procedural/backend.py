"""The procedural backend: prompt -> kinds, visual events -> synthesis, one window at a time."""
from __future__ import annotations

from fractions import Fraction
from typing import Optional

import numpy as np

from ...analysis import VisualEvents
from ...analysis.pose import vision_missing
from ...errors import BackendError
from ...loudness import DEFAULT_TARGET_LUFS
from ..base import STEMS_NATIVE, Backend, WindowRequest
from .beds import BEDS
from .dsp import SR, ControlGrid, pan_gains, soft_limit
from .events import place_voices, stop_at_cut
from .motion import MotionTrack, rustle, whoosh
from .levels import target_for_mix
from .vocabulary import (
    BED, FLASH, FOOTSTEPS, IMPACT, KINDS, MOTION, across_cuts, known_words, parse_prompt, recognises, unknown_words,
)
from .voices import RECIPES, render_voice

_MOTION = {"whoosh": whoosh, "rustle": rustle}


#: which stem each family of kinds belongs to (the synthesiser's own classes)
STEM_OF_FAMILY = {FOOTSTEPS: "feet", IMPACT: "props", FLASH: "props", MOTION: "moves", BED: "bg"}


def render(mix: dict[str, float], events: VisualEvents, seed: int, start: int, n: int,
           across_cuts: bool = False, stem: Optional[str] = None) -> np.ndarray:
    """Absolute samples ``[start, start+n)`` of the sound for ``mix`` (float32, (n, 2)).

    Every term is a pure function of the absolute sample index, the seed and
    the events near it, and terms are summed in a fixed order, so any window
    containing a sample computes the same value for it.  One-shots stop at the
    next shot cut (a new shot is a new place) unless ``across_cuts``; beds go on.

    ``stem`` keeps only the kinds of that class (:data:`STEM_OF_FAMILY`), scaled sample by
    sample by the gain the soft limiter gave the whole mix there, so the stems of one mix
    sum to it (to float rounding).  The whole mix is rendered either way: the limiter needs it.
    """
    if n == 0:
        return np.zeros((0, 2), np.float32)
    out = np.zeros((2, n))  # channel-major while mixing: contiguous rows are faster
    part = np.zeros((2, n)) if stem is not None else out
    grid = ControlGrid(start, n)
    track = MotionTrack(events)

    def mine(kind: str) -> bool:
        return stem is not None and STEM_OF_FAMILY[KINDS[kind].family] == stem

    for kind, weight in mix.items():
        layer = BEDS[kind] if kind in BEDS else _MOTION.get(kind)
        if layer is not None:
            sound = layer(seed, grid, track)
            if weight != 1.0:
                sound *= weight
            out += sound
            if mine(kind):
                part += sound
    end = start + n
    cuts = () if across_cuts else events.cuts
    for voice in place_voices(events, mix, seed, track):
        if voice.sample >= end or voice.sample + RECIPES[(voice.kind, voice.variant)].max_samples <= start:
            continue
        sound = stop_at_cut(render_voice(voice, seed) * mix[voice.kind], voice.sample, cuts)
        lo, hi = max(voice.sample, start), min(voice.sample + sound.size, end)
        if lo < hi:
            left, right = pan_gains(voice.x)
            piece = sound[lo - voice.sample: hi - voice.sample]
            for target in ((out, part) if mine(voice.kind) else (out,)):
                target[0, lo - start: hi - start] += piece * left
                target[1, lo - start: hi - start] += piece * right
    limited = soft_limit(out)
    if stem is not None:
        # The limiter's gain at each sample (1 below its knee), applied to this class alone.
        gain = np.divide(limited, out, out=np.ones_like(out), where=out != 0)
        limited = part * gain
    return np.ascontiguousarray(limited.T, dtype=np.float32)


class ProceduralBackend(Backend):
    """Physically inspired synthesis driven by visual events: CPU only, no weights, deterministic."""

    name = "procedural"
    description = "Instant CPU Foley: modal impacts, footsteps, whooshes and ambience beds driven by the picture"
    licence = "Apache-2.0 (this project); no weights"
    sample_rate = SR
    channels = 2
    native_window = Fraction(10)  # any length works; 10 s keeps memory low and the last window (the wait after decoding) short
    overlap = Fraction(1, 4)
    lookback = Fraction(4)  # longer than any one-shot (metal 3.6 s, thunder 3.9 s)
    frame_specs = ()
    #: a pure function of absolute time, the job seed and the visual events: windows may run in parallel
    independent_windows = True
    #: every kind belongs to one Foley class (STEM_OF_FAMILY): stems are rendered, not guessed
    stems = STEMS_NATIVE
    device = "cpu"
    #: finished stems are normalised to this (LUFS, BS.1770) unless the job says otherwise
    loudness_target = DEFAULT_TARGET_LUFS

    def __init__(self, **options):
        # Options such as device="cpu" are accepted and ignored: there is nothing to place.
        self.options = dict(options)

    @classmethod
    def vocabulary(cls) -> list[str]:
        return known_words()

    @classmethod
    def wants_people(cls, prompt: str, negative_prompt: str = "") -> bool:
        """Footsteps (footsteps, walking, running, ...) asked for with a positive gain."""
        return any(KINDS[k].family == FOOTSTEPS for k, gain in parse_prompt(prompt, negative_prompt).items() if gain > 0)

    @classmethod
    def prompt_warnings(cls, prompt: str, negative_prompt: str = "") -> list[str]:
        lines = []
        for which, text in (("prompt", prompt), ("negative prompt", negative_prompt)):
            for word, close, how in unknown_words(text):
                hint = ""
                if close:
                    hint = f"; {'closest in sound' if how == 'meaning' else 'did you mean'}: {', '.join(close)}"
                lines.append(f"{which}: {word!r} is not a word the procedural backend knows, ignored{hint}")
        if (prompt or "").strip() and not recognises(prompt):
            lines.append("prompt: no word of it is known, so the default plays: quiet room tone and soft thuds "
                         "on the picture's hits (see `foley backends --vocabulary`)")
        mix = parse_prompt(prompt, negative_prompt)
        if any(KINDS[k].family == FOOTSTEPS for k in mix) and vision_missing():  # the one check of the extra
            lines.append("footsteps follow the picture's motion (feet seen settling on the ground, else its walking "
                         "rhythm or a steady cadence), not a pose model: install foley-engine[vision] for one")
        return lines

    @classmethod
    def loudness_target_for(cls, prompt: str, negative_prompt: str = "", stem: Optional[str] = None) -> float:
        """Beds alone aim under dialogue level (see :mod:`.levels`); a stem by the kinds it holds."""
        mix = parse_prompt(prompt, negative_prompt)
        if stem:
            mix = {k: w for k, w in mix.items() if STEM_OF_FAMILY[KINDS[k].family] == stem}
        return target_for_mix(mix, recognises(prompt))

    def generate(self, request: WindowRequest) -> np.ndarray:
        if request.sample_rate != self.sample_rate:
            raise BackendError(f"procedural backend renders at {self.sample_rate} Hz, got a request at {request.sample_rate} Hz")
        mix = parse_prompt(request.prompt, request.negative_prompt)
        # job_seed, not the per-window seed: the output is a function of absolute time,
        # so overlapping windows must agree sample for sample.
        return render(mix, request.events, request.job_seed, request.start_sample, max(0, request.num_samples),
                      across_cuts(request.prompt), stem=request.stem)
