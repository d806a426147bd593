"""Struck objects by material, and a punch.

Each recipe takes a seeded generator and the hit strength (0..1) and returns
a mono one-shot whose sample 0 is the moment of contact.  Harder hits excite
higher modes (a hard mallet has a short contact time), which is what makes a
strong hit sound brighter, not just louder.
"""
from __future__ import annotations

import numpy as np

from .dsp import SR, burst, decay, fade_tail, glide_tone, grain_envelope, seconds, shaped_noise
from .modal import damping, modal, partials, ping


def _mallet(freqs: np.ndarray, strength: float, soft: float, hard: float) -> np.ndarray:
    """Mode excitation by contact hardness: a low-pass whose cutoff rises with strength."""
    cutoff = soft + (hard - soft) * strength
    return 1.0 / (1.0 + (freqs / cutoff) ** 2)


def _split(freqs, taus, amps, rng, detune=(0.0008, 0.004), level=0.6):
    """Pairs of nearly equal modes beat slowly: the shimmer of a real metal or glass object."""
    f2 = freqs * (1.0 + rng.uniform(*detune, freqs.size))
    return (np.concatenate([freqs, f2]), np.concatenate([taus, taus * 0.9]), np.concatenate([amps, amps * level]))


def wood(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A few modes between ~200 Hz and 2 kHz that die within a tenth of a second, plus a knock."""
    n = seconds(0.6)
    f0 = rng.uniform(190.0, 420.0)
    f = partials(rng, f0, [1.0, 2.42, 3.95, 5.61, 7.35, 9.8], 0.02)
    tau = damping(f, f0, rng.uniform(0.05, 0.1), 0.9)
    a = np.array([1.0, 0.75, 0.55, 0.4, 0.28, 0.18]) * rng.uniform(0.6, 1.0, 6) * _mallet(f, strength, 1200, 4000)
    body = modal(f, tau, a, n, rng.uniform(-0.4, 0.4, 6))
    click = burst(rng, n, 1500.0, 6000.0, 0.0015) * 0.35
    thump = glide_tone(n, 170.0, 95.0, 0.02, 0.03) * 0.45
    return body / max(1e-9, np.abs(body).max()) + click + thump


def metal(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Inharmonic partials (bar modes plus plate modes) that ring for seconds and beat."""
    n = seconds(3.6)
    f0 = rng.uniform(320.0, 800.0)
    ratios = np.concatenate([[1.0, 2.756, 5.404, 8.933, 13.345], np.sort(rng.uniform(1.4, 16.0, 9))])
    f = partials(rng, f0, ratios, 0.01)
    tau = damping(f, f0, rng.uniform(1.1, 1.8), 0.45)
    a = rng.uniform(0.4, 1.0, f.size) / (1.0 + 0.06 * np.arange(f.size)) * _mallet(f, strength, 4000, 14000)
    f, tau, a = _split(f, tau, a, rng)
    ring = modal(f, tau, a, n, rng.uniform(-0.5, 0.5, f.size))
    click = burst(rng, seconds(0.02), 2000.0, 12000.0, 0.001) * 0.4
    out = ring / max(1e-9, np.abs(ring).max())
    out[: click.size] += click
    return fade_tail(out, seconds(0.4))


def glass(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A very high clink; strong hits add a shatter: a noise burst and falling shards."""
    n = seconds(1.6)
    f0 = rng.uniform(1700.0, 3600.0)
    f = partials(rng, f0, [1.0, 2.32, 4.25, 6.63, 9.38], 0.015)
    tau = damping(f, f0, rng.uniform(0.35, 0.7), 0.6)
    a = np.array([1.0, 0.6, 0.45, 0.3, 0.2]) * _mallet(f, strength, 9000, 20000)
    f, tau, a = _split(f, tau, a, rng, (0.0005, 0.002))
    clink = modal(f, tau, a, n, rng.uniform(-0.3, 0.3, f.size))
    out = clink / max(1e-9, np.abs(clink).max())
    out[: seconds(0.02)] += burst(rng, seconds(0.02), 4000.0, 16000.0, 0.0008) * 0.5
    shatter = float(np.clip((strength - 0.3) / 0.5, 0.0, 1.0))
    if shatter > 0:
        out += burst(rng, n, 2500.0, 16000.0, 0.07) * 0.7 * shatter
        # Falling shards: a few tiny pings scattered over the next second, thinning out.
        count = int(6 + 20 * shatter)
        starts = (np.clip(rng.exponential(0.12, count) + 0.01, 0, 1.3) * SR).astype(int)
        gains = 0.5 * shatter * np.exp(-starts / SR / 0.4) * rng.uniform(0.3, 1.0, count)
        shards = [ping(rng, 3000.0, 11000.0, seconds(0.15), (0.01, 0.06)) for _ in range(3)]
        for i, (s, g) in enumerate(zip(starts, gains)):
            shard = shards[i % 3][: n - s]
            out[s: s + shard.size] += shard * g
    return out


def stone(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A heavy low thud with gritty, crumbly noise (stone, concrete, brick)."""
    n = seconds(0.7)
    thud = glide_tone(n, rng.uniform(130.0, 170.0), rng.uniform(48.0, 65.0), 0.03, 0.07)
    grit_env = decay(n, rng.uniform(0.04, 0.08)) * (0.35 + grain_envelope(rng, n, 900, 0.12, 0.0008))
    grit = shaped_noise(rng, n, 400.0, 6000.0, tilt=-0.3) * grit_env * (0.4 + 0.4 * strength)
    f = rng.uniform(250.0, 1400.0, 5)
    chips = modal(f, rng.uniform(0.012, 0.03, 5), rng.uniform(0.1, 0.3, 5), n)
    click = burst(rng, n, 1000.0, 8000.0, 0.0015) * 0.3
    return thud + grit + chips + click


def plastic(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Hollow and short: a box-like mode set with a cavity resonance and a bright tick."""
    n = seconds(0.4)
    f0 = rng.uniform(380.0, 850.0)
    f = partials(rng, f0, [1.0, 1.58, 2.62, 3.9, 5.15, 6.6], 0.03)
    tau = damping(f, f0, rng.uniform(0.03, 0.06), 0.6)
    a = np.array([1.0, 0.8, 0.6, 0.45, 0.3, 0.2]) * _mallet(f, strength, 2500, 8000)
    body = modal(f, tau, a, n, rng.uniform(-0.3, 0.3, 6))
    cavity = shaped_noise(rng, n, 900.0, 2200.0, order=3.0) * decay(n, 0.018) * 0.35
    click = burst(rng, n, 2500.0, 9000.0, 0.0012) * 0.45
    return body / max(1e-9, np.abs(body).max()) + cavity + click


def soft(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A neutral, muffled thud for unspecified impacts: never wrong, never distracting."""
    n = seconds(0.5)
    thud = glide_tone(n, rng.uniform(170.0, 210.0), rng.uniform(75.0, 95.0), 0.025, 0.06)
    f0 = rng.uniform(220.0, 380.0)
    f = partials(rng, f0, [1.0, 1.9, 2.8, 4.1], 0.03)
    body = modal(f, damping(f, f0, rng.uniform(0.03, 0.05), 0.7), [0.5, 0.35, 0.2, 0.1], n)
    noise = burst(rng, n, 200.0, 2500.0, 0.025) * 0.35
    click = burst(rng, n, 1000.0, 5000.0, 0.001) * 0.2 * (0.5 + strength)
    return thud + body + noise + click


def punch(rng: np.random.Generator, strength: float) -> np.ndarray:
    """Low chest thump (saturated falling sine) plus a skin slap and a fleshy mid body."""
    n = seconds(0.5)
    body = np.tanh(1.6 * glide_tone(n, rng.uniform(140.0, 180.0), rng.uniform(48.0, 60.0), 0.025, 0.085))
    slap = burst(rng, n, 1000.0, 6000.0, rng.uniform(0.007, 0.013), order=1.5) * (0.5 + 0.4 * strength)
    flesh = burst(rng, n, 180.0, 1000.0, 0.035) * 0.45
    return body + slap + flesh
