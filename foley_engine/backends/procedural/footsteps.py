"""Footsteps by surface: a heel strike at sample 0 and a softer toe roll-over 55-95 ms later."""
from __future__ import annotations

import numpy as np

from .dsp import burst, decay, glide_tone, grain_envelope, seconds, shaped_noise
from .modal import damping, modal, partials

STEP_LENGTH = 0.9  # seconds, the longest surface (metal) included


def _wood(rng, n, toe):
    f0 = rng.uniform(110.0, 220.0) * (1.3 if toe else 1.0)
    f = partials(rng, f0, [1.0, 2.1, 3.3, 4.8, 6.9], 0.03)
    boards = modal(f, damping(f, f0, rng.uniform(0.025, 0.05), 0.8), [1.0, 0.7, 0.5, 0.3, 0.2], n)
    out = boards / max(1e-9, np.abs(boards).max()) * 0.7
    out += burst(rng, n, 1000.0, 5000.0, 0.002) * (0.5 if toe else 0.35)
    if not toe:
        out += glide_tone(n, 100.0, 70.0, 0.02, 0.025) * 0.6
    return out


def _concrete(rng, n, toe):
    out = burst(rng, n, 1000.0, 7000.0, rng.uniform(0.015, 0.03), order=1.5) * 0.6
    out *= 0.6 + 0.6 * grain_envelope(rng, n, 500, 0.04, 0.0006)
    if not toe:
        out += glide_tone(n, 120.0, 70.0, 0.015, 0.02) * 0.8
    return out


def _gravel(rng, n, toe):
    grains = grain_envelope(rng, n, rng.uniform(900, 1600), rng.uniform(0.08, 0.14), 0.0007)
    out = shaped_noise(rng, n, 1500.0, 9000.0) * grains * decay(n, 0.09) * 0.5
    if not toe:
        out += glide_tone(n, 90.0, 60.0, 0.02, 0.02) * 0.5
    return out


def _grass(rng, n, toe):
    crinkle = 0.3 + grain_envelope(rng, n, 600, rng.uniform(0.1, 0.18), 0.0015)
    out = shaped_noise(rng, n, 1500.0, 10000.0, tilt=-0.2) * crinkle * decay(n, 0.07, attack=0.003) * 0.5
    if not toe:
        out += glide_tone(n, 80.0, 60.0, 0.02, 0.015) * 0.15
    return out


def _snow(rng, n, toe):
    squeak = shaped_noise(rng, n, 900.0, 2200.0, order=3.0) * 0.5 + shaped_noise(rng, n, 700.0, 5000.0)
    grains = grain_envelope(rng, n, rng.uniform(1500, 2500), rng.uniform(0.12, 0.2), 0.0012)
    out = squeak * grains * decay(n, 0.1, attack=0.002) * 0.35
    if not toe:
        out += glide_tone(n, 85.0, 55.0, 0.03, 0.03) * 0.4
    return out


def _metal(rng, n, toe):
    f0 = rng.uniform(250.0, 500.0)
    f = partials(rng, f0, [1.0, 2.3, 3.7, 5.1, 6.8, 8.9], 0.02)
    tau = damping(f, f0, rng.uniform(0.08, 0.2), 0.4)
    ring = modal(f, tau, rng.uniform(0.4, 1.0, 6), n, rng.uniform(-0.4, 0.4, 6))
    out = ring / max(1e-9, np.abs(ring).max()) * 0.6
    out += burst(rng, n, 2000.0, 10000.0, 0.0015) * 0.4
    if not toe:
        out += glide_tone(n, 110.0, 65.0, 0.02, 0.025) * 0.6
    return out


SURFACES = {
    "wood": (_wood, 0.35),
    "concrete": (_concrete, 0.3),
    "gravel": (_gravel, 0.35),
    "grass": (_grass, 0.35),
    "snow": (_snow, 0.45),
    "metal": (_metal, STEP_LENGTH - 0.1),
}


def step(surface: str, rng: np.random.Generator, strength: float) -> np.ndarray:
    """One footstep on ``surface``: heel at sample 0, toe a moment later."""
    part, length = SURFACES[surface]
    toe_at = seconds(rng.uniform(0.055, 0.095))
    n = seconds(length)
    out = np.zeros(toe_at + n)
    heel = part(rng, n, False)
    out[:n] += heel / max(1e-9, np.abs(heel).max())
    toe = part(rng, n, True)
    out[toe_at:] += toe / max(1e-9, np.abs(toe).max()) * rng.uniform(0.4, 0.65) * (0.6 + 0.4 * strength)
    return out
