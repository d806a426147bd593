"""The loops that ambience beds are built from (registered with :func:`.textures.texture`).

Makers receive a generator and the loop length and must return a signal
that loops seamlessly: spectral noise (irfft is periodic) or
:func:`.textures.scatter` (circular convolution).
"""
from __future__ import annotations

import numpy as np

from .dsp import SR, burst, decay, fast_sin, seconds, shaped_noise, time_axis
from .modal import ping
from .textures import scatter, texture


def _noise(lo, hi, order=2.0, tilt=0.0):
    return lambda rng, n: shaped_noise(rng, n, lo, hi, order, tilt, periodic=True)


for _name, _args in {
    "wind_low": (30.0, 450.0, 2.0, -0.5),
    "wind_whistle_lo": (650.0, 950.0, 4.0, 0.0),
    "wind_whistle_hi": (1050.0, 1500.0, 4.0, 0.0),
    "ocean_low": (30.0, 500.0, 2.0, -0.5),
    "traffic_rumble": (25.0, 250.0, 2.0, -0.5),
    "traffic_near": (250.0, 5000.0, 1.5, -0.2),
    "traffic_far": (120.0, 1500.0, 2.0, -0.4),
    "room": (20.0, 2500.0, 1.0, -0.6),
    "fire_roar": (40.0, 500.0, 2.0, -0.3),
}.items():
    texture(_name)(_noise(*_args))


@texture("rain")
def _rain(rng, n):
    # Broadband hiss plus drops: each a tiny two-mode blip and a tick, hundreds per second.
    kernels = [ping(rng, 1500.0, 7000.0, seconds(0.03), (0.002, 0.008), modes=2)
               + burst(rng, seconds(0.03), 2000.0, 12000.0, 0.0006) * 0.5 for _ in range(8)]
    drops = scatter(rng, n, 350.0, kernels)
    drops /= np.sqrt(np.mean(drops * drops))
    return 0.85 * shaped_noise(rng, n, 300.0, 14000.0, 2.0, -0.25, periodic=True) + 0.5 * drops


@texture("rain_tin")
def _rain_tin(rng, n):
    # Drops on thin sheet metal ring: short inharmonic pings, plus the panel's low drumming.
    pings = [ping(rng, 1800.0, 7500.0, seconds(0.12), (0.02, 0.08), modes=4) for _ in range(10)]
    return scatter(rng, n, 120.0, pings) + 0.3 * shaped_noise(rng, n, 120.0, 400.0, periodic=True)


@texture("forest_air")
def _forest_air(rng, n):
    # Leaves crinkling in a breeze over soft, low air.
    crinkles = [burst(rng, seconds(0.008), 2000.0, 9000.0, 0.0015) for _ in range(8)]
    leaves = scatter(rng, n, 400.0, crinkles)
    leaves /= np.sqrt(np.mean(leaves * leaves))
    return leaves + 0.5 * shaped_noise(rng, n, 1500.0, 9000.0, periodic=True) \
        + 0.6 * shaped_noise(rng, n, 20.0, 2500.0, 1.0, -0.6, periodic=True)


@texture("ocean_wash")
def _ocean_wash(rng, n):
    fizz = [burst(rng, seconds(0.004), 3000.0, 12000.0, 0.0005) for _ in range(6)]
    return shaped_noise(rng, n, 400.0, 9000.0, tilt=-0.3, periodic=True) + 0.6 * scatter(rng, n, 800.0, fizz)


#: speech-like bands (first formant, second formant, presence) that babble voices mix
_SPEECH_BANDS = ((300.0, 600.0), (550.0, 1000.0), (1000.0, 1700.0), (1600.0, 2600.0), (2400.0, 3500.0))


@texture("babble")
def _babble(rng, n):
    """Twelve voices gated into syllables, each a different mix of speech bands: a murmur, no words.

    Voices share the band noises (a voice is its band weights and its syllable
    rhythm), so a loop costs five shaped noises instead of one per voice.
    """
    bands = [shaped_noise(rng, n, lo, hi, 2.0, periodic=True) for lo, hi in _SPEECH_BANDS]
    envelopes = np.zeros((len(bands), n))
    for _ in range(12):
        gate = np.zeros(n)
        pos = int(rng.integers(0, n))
        for _ in range(int(n / SR * 6)):
            length = seconds(rng.uniform(0.1, 0.28))
            idx = (pos + np.arange(length)) % n
            gate[idx] += fast_sin(np.pi * time_axis(length) * (SR / length)) ** 2 * rng.uniform(0.4, 1.0)
            pos += length + seconds(rng.uniform(0.02, 0.25) if rng.random() > 0.15 else rng.uniform(0.3, 0.8))
        weights = rng.uniform(0.1, 1.0, len(bands)) * np.array([1.0, 0.9, 0.6, 0.4, 0.2])
        envelopes += weights[:, None] * gate[None, :] * rng.uniform(0.3, 1.0)
    return sum(band * env for band, env in zip(bands, envelopes))


@texture("fire_crackle")
def _fire_crackle(rng, n):
    clicks = [burst(rng, seconds(0.01), 1000.0, 10000.0, rng.uniform(0.0005, 0.003)) for _ in range(6)]
    pops = [ping(rng, 300.0, 1500.0, seconds(0.04), (0.003, 0.01)) for _ in range(4)]
    sizzle = [burst(rng, seconds(0.003), 4000.0, 14000.0, 0.0003) for _ in range(4)]
    big = scatter(rng, n, 18.0, clicks + pops, amp=(0.3, 1.0))
    return big + 0.15 * scatter(rng, n, 300.0, sizzle)


def bubble_kernel(rng, n):
    """A small air bubble: a sine rising in pitch as it decays (pouring, dripping)."""
    t = time_axis(n)
    f = rng.uniform(400.0, 1600.0)
    rise = rng.uniform(0.2, 0.6)
    return np.sin(2 * np.pi * f * (t + rise * t * t / (2 * 0.02))) * decay(n, rng.uniform(0.006, 0.015))


@texture("pour")
def _pour(rng, n):
    bubbles = [bubble_kernel(rng, seconds(0.05)) for _ in range(10)]
    return scatter(rng, n, 250.0, bubbles) + 0.4 * shaped_noise(rng, n, 600.0, 6000.0, periodic=True)
