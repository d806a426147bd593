"""One-shots that are more than a struck material: door slam and creak, splash, thunder, swish.

Same contract as :mod:`.impacts`: ``recipe(rng, strength) -> mono``, sample 0
is the moment the visual event happens.
"""
from __future__ import annotations

import numpy as np

from .dsp import SR, burst, convolve, decay, fade_tail, fast_exp, fast_sin, glide_tone, seconds, shaped_noise, time_axis
from .modal import damping, modal, partials, ping


def _bumps(rng: np.random.Generator, n: int, count: int, when: tuple, width: tuple) -> np.ndarray:
    """A sum of Gaussian swells at random times (thunder rolls, water falling back)."""
    t = time_axis(n)
    env = np.zeros(n)
    for c, w, a in zip(rng.uniform(*when, count), rng.uniform(*width, count), rng.uniform(0.5, 1.0, count)):
        env += a * fast_exp(-0.5 * ((t - c) / w) ** 2)
    return env


def door_slam(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A heavy panel booming low, the latch snapping a moment later, a little frame rattle."""
    n = seconds(1.1)
    f0 = rng.uniform(70.0, 120.0)
    f = partials(rng, f0, [1.0, 1.93, 2.72, 3.61, 5.2, 6.8], 0.03)
    panel = modal(f, damping(f, f0, rng.uniform(0.12, 0.22), 0.7), [1.0, 0.7, 0.5, 0.35, 0.25, 0.15], n)
    out = panel / max(1e-9, np.abs(panel).max()) * 0.8
    out += glide_tone(n, 130.0, 50.0, 0.03, 0.09) * 0.8
    out += burst(rng, n, 800.0, 5000.0, 0.003) * 0.5
    latch = seconds(rng.uniform(0.008, 0.025))
    snap = ping(rng, 2000.0, 6500.0, seconds(0.12), (0.008, 0.03), modes=4) * 0.35
    snap += burst(rng, snap.size, 3000.0, 10000.0, 0.002) * 0.3
    out[latch: latch + snap.size] += snap[: n - latch]
    for s in rng.uniform(0.04, 0.12, int(rng.integers(2, 4))):
        r = ping(rng, 1500.0, 5000.0, seconds(0.06), (0.005, 0.02)) * 0.12
        i = seconds(s)
        out[i: i + r.size] += r
    return out


def door_creak(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Stick-slip friction of a hinge: a pulse train at a wandering rate through wood resonances."""
    n = seconds(rng.uniform(0.7, 1.2))
    t = time_axis(n)
    knots = rng.uniform(18.0, 70.0, 6)
    rate = np.interp(t, np.linspace(0.0, t[-1], knots.size), knots)
    # Local phase of the friction cycle inside this one-shot (not timeline time).
    cycles = np.floor(np.cumsum(rate) / SR)
    pulses = np.flatnonzero(np.diff(cycles, prepend=-1.0))
    train = np.zeros(n)
    swell = np.maximum(0.0, fast_sin(np.pi * np.minimum(1.0, t / t[-1]))) ** 0.6 * 0.7 + 0.3
    train[pulses] = swell[pulses] * rng.uniform(0.6, 1.0, pulses.size)
    kernel_f = np.exp(rng.uniform(np.log(350.0), np.log(1900.0), 4))
    kernel = modal(kernel_f, rng.uniform(0.006, 0.02, 4), [1.0, 0.8, 0.6, 0.5], seconds(0.06))
    return fade_tail(convolve(train, kernel), seconds(0.05))


def _bubble(rng: np.random.Generator, n: int) -> np.ndarray:
    """A resonating air bubble: a short sine whose pitch rises as it nears the surface."""
    t = time_axis(n)
    f = rng.uniform(500.0, 2500.0)
    rise = rng.uniform(0.3, 0.9)
    phase = 2 * np.pi * f * (t + rise * (t - 0.01 * (1.0 - fast_exp(t * -100.0))))
    return fast_sin(phase) * decay(n, rng.uniform(0.008, 0.02))


def splash(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Something hits water: a plunk, a spray of noise that falls back, and bubbles."""
    n = seconds(1.2)
    out = glide_tone(n, rng.uniform(380.0, 460.0), rng.uniform(150.0, 190.0), 0.02, 0.03) * 0.6
    env = decay(n, rng.uniform(0.07, 0.14)) + 0.2 * _bumps(rng, n, 2, (0.2, 0.4), (0.06, 0.12))
    out += shaped_noise(rng, n, 300.0, 8000.0, tilt=-0.3) * env * (0.4 + 0.3 * strength)
    blen = seconds(0.08)
    for s in np.sort(np.clip(rng.exponential(0.25, int(rng.integers(10, 26))) + 0.03, 0, 1.05)):
        i = seconds(s)
        b = _bubble(rng, min(blen, n - i)) * rng.uniform(0.1, 0.3)
        out[i: i + b.size] += b
    return fade_tail(out, seconds(0.1))


def thunder(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Lightning: a crack whose level follows the flash, then a long rolling rumble."""
    n = seconds(3.9)
    crack = burst(rng, seconds(0.5), 400.0, 9000.0, 0.06) * (0.3 + 0.6 * strength)
    rumble_env = decay(n, 1.2, attack=0.02) * 0.4 + _bumps(rng, n, int(rng.integers(3, 6)), (0.15, 2.6), (0.25, 0.7))
    out = shaped_noise(rng, n, 25.0, 260.0, order=3.0) * rumble_env
    out += shaped_noise(rng, n, 90.0, 900.0, order=3.0) * _bumps(rng, n, 3, (0.05, 1.5), (0.1, 0.4)) * 0.45
    out[: crack.size] += crack
    return fade_tail(out, seconds(0.6))


def swish(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A quick swish when something starts moving (the continuous whoosh follows motion)."""
    n = seconds(0.32)
    lo = rng.uniform(350.0, 700.0)
    return shaped_noise(rng, n, lo, lo * rng.uniform(4.0, 8.0), order=1.5) * decay(n, 0.07, attack=0.012)
