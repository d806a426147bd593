"""One-shot voices: which recipe renders a (kind, variant), how loud, and for how long at most."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import effects, impacts
from .dsp import fade_tail, normalise, rng_for, seconds, sharpen, stable_id
from .footsteps import STEP_LENGTH, SURFACES, step


@dataclass(frozen=True)
class Voice:
    """A one-shot whose attack lands exactly on absolute sample ``sample``."""

    sample: int
    kind: str
    variant: str  # "" or e.g. "slam" / "creak" for a door, "swish" for a whoosh
    strength: float  # 0..1
    x: float  # -1 left .. +1 right


@dataclass(frozen=True)
class Recipe:
    make: Callable[[np.random.Generator, float], np.ndarray]
    gain: float  # peak before panning at full strength (centre pan then gives -3 dBFS per channel at 1.0)
    max_seconds: float  # must stay under the backend's lookback, so every tail is rendered by every window

    @property
    def max_samples(self) -> int:
        return seconds(self.max_seconds)


def _surface(name: str):
    return lambda rng, strength: step(name, rng, strength)


RECIPES: dict[tuple[str, str], Recipe] = {
    ("impact_wood", ""): Recipe(impacts.wood, 1.0, 0.6),
    ("impact_metal", ""): Recipe(impacts.metal, 0.95, 3.6),
    ("impact_glass", ""): Recipe(impacts.glass, 0.9, 1.6),
    ("impact_stone", ""): Recipe(impacts.stone, 1.0, 0.7),
    ("impact_plastic", ""): Recipe(impacts.plastic, 0.9, 0.4),
    ("impact_soft", ""): Recipe(impacts.soft, 0.9, 0.5),
    ("punch", ""): Recipe(impacts.punch, 1.0, 0.5),
    ("door", "slam"): Recipe(effects.door_slam, 1.0, 1.1),
    ("door", "creak"): Recipe(effects.door_creak, 0.35, 1.2),
    ("splash", ""): Recipe(effects.splash, 0.85, 1.2),
    ("thunder", ""): Recipe(effects.thunder, 1.0, 3.9),
    ("whoosh", "swish"): Recipe(effects.swish, 0.45, 0.32),
    **{(f"footsteps_{s}", ""): Recipe(_surface(s), 0.6, STEP_LENGTH + 0.1) for s in SURFACES},
}


def render_voice(voice: Voice, seed: int) -> np.ndarray:
    """The mono one-shot for ``voice``: a pure function of (seed, kind, variant, sample, strength)."""
    recipe = RECIPES[(voice.kind, voice.variant)]
    rng = rng_for(seed, stable_id(voice.kind), stable_id(voice.variant), voice.sample)
    strength = float(np.clip(voice.strength, 0.0, 1.0))
    sound = recipe.make(rng, strength)[: recipe.max_samples]
    # Every recipe decays naturally; the fade makes sure the cut at max length is silent.
    sound = fade_tail(sound, max(seconds(0.03), sound.size // 4))
    return sharpen(normalise(sound, recipe.gain * (0.3 + 0.7 * strength)))
