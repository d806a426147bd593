"""Ambience beds: steady textures plus sparse, seeded happenings on absolute time grids.

Each bed renders a (2, n) array for absolute samples ``[start, start+n)``.
Steady parts read :mod:`.textures` (left and right are different blocks, so
beds are wide and decorrelated).  Happenings (bird songs, passing cars,
drips, ocean swells) live on fixed grids of absolute cells: cell ``c``'s
content comes from hashing ``(seed, kind, c)``, and a window renders every
cell whose sound reaches into it.  Levels are RMS per channel in dBFS.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .bed_textures import bubble_kernel  # importing bed_textures also registers the loops
from .dsp import SR, ControlGrid, fast_sin, hash64, lfo, pan_gains, rng_for, seconds, stable_id, time_axis, unit
from .motion import MotionTrack
from .textures import read

BedRenderer = Callable[[int, ControlGrid, MotionTrack], np.ndarray]


def _db(level: float) -> float:
    return 10.0 ** (level / 20.0)


def _stereo(name: str, seed: int, grid: ControlGrid, curve=None) -> np.ndarray:
    """(2, n): two different stretches of a texture, so the bed is wide, times a gain curve."""
    out = np.empty((2, grid.n), np.float32)
    out[0] = read(name, seed, 0, grid.start, grid.n)
    out[1] = read(name, seed, 1, grid.start, grid.n)
    if curve is not None:
        out *= grid.upsample(curve) if np.ndim(curve) else curve
    return out


def _add_at(out: np.ndarray, start: int, at: int, sound: np.ndarray, x: float) -> None:
    """Add a mono ``sound`` whose sample 0 is absolute sample ``at``, panned to ``x``."""
    lo, hi = max(at, start), min(at + sound.size, start + out.shape[1])
    if lo < hi:
        left, right = pan_gains(x)
        piece = sound[lo - at: hi - at]
        out[0, lo - start: hi - start] += piece * left
        out[1, lo - start: hi - start] += piece * right


def _cells(start: int, n: int, cell: int, back: int, ahead: int = 0) -> range:
    """Grid cells whose happenings touch the window: a happening of cell ``c`` sounds
    from ``c*cell - ahead`` to ``(c+1)*cell + back`` at most."""
    return range((start - back) // cell - 1, (start + n - 1 + ahead) // cell + 1)


def _bump(dt: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """A smooth swell that is exactly zero beyond ``rise`` before and ``fall`` after its peak,
    so far-away happenings contribute exact zeros whichever window computes them."""
    u = np.where(dt < 0, np.clip(dt / rise, -1.0, 0.0), np.clip(dt / fall, 0.0, 1.0))
    return np.cos(0.5 * np.pi * u) ** 2


# ---------------------------------------------------------------- steady

def rain(seed, grid, track):
    """Broadband hiss with a dense patter of drops; nearly constant in level."""
    swell = 1.0 + 0.06 * lfo(grid.positions, seed, stable_id("rain"), (17.0, 31.0))
    return _stereo("rain", seed, grid, swell * _db(-24))


def rain_tin(seed, grid, track):
    """Rain on sheet metal: ringing pings and the roof's low drumming."""
    return _stereo("rain_tin", seed, grid, _db(-29))


def wind(seed, grid, track):
    """Low rumble in slow gusts; a howl that only sings in the strong gusts and wanders in pitch."""
    gust = 0.55 + 0.45 * lfo(grid.positions, seed, stable_id("wind"), (4.3, 7.9, 13.1))
    tone = 0.5 + 0.5 * lfo(grid.positions, seed, stable_id("wind.tone"), (5.7, 11.3))
    level = _db(-25)
    out = _stereo("wind_low", seed, grid, level * gust ** 1.2)
    out += _stereo("wind_whistle_lo", seed, grid, level * 0.35 * gust ** 2.5 * (1.0 - tone))
    out += _stereo("wind_whistle_hi", seed, grid, level * 0.35 * gust ** 2.5 * tone)
    return out


def crowd(seed, grid, track):
    """A murmur of many voices: speech-shaped noise gated into syllables."""
    swell = 0.85 + 0.15 * lfo(grid.positions, seed, stable_id("crowd"), (6.1, 14.3))
    return _stereo("babble", seed, grid, swell * _db(-28))


_HUM_PERIOD = SR // 50  # mains hum: 50 Hz is exactly 960 samples at 48 kHz


def _hum_table() -> np.ndarray:
    k = np.arange(_HUM_PERIOD) / _HUM_PERIOD
    return sum(a * np.sin(2 * np.pi * h * k) for h, a in ((1, 1.0), (2, 0.5), (3, 0.3)))


_HUM = _hum_table()


def room_tone(seed, grid, track):
    """Very quiet air with a faint mains hum: the sound of a room with nothing happening."""
    out = _stereo("room", seed, grid)
    offset = grid.start % _HUM_PERIOD
    hum = np.tile(_HUM * (_db(-64) / _db(-50)), (offset + grid.n) // _HUM_PERIOD + 1)[offset: offset + grid.n]
    out += hum
    out *= _db(-50)
    return out


def fire(seed, grid, track):
    """A flickering low roar with crackles and pops."""
    flicker = 0.65 + 0.35 * lfo(grid.positions, seed, stable_id("fire"), (0.7, 1.3, 2.9))
    out = _stereo("fire_roar", seed, grid, flicker * 0.7 * _db(-27))
    out += _stereo("fire_crackle", seed, grid, 0.6 * _db(-27))
    return out


def pour(seed, grid, track):
    """A stream of bubbles and splashy noise, a little louder when the picture moves."""
    boost = 0.7 + 0.5 * track.level_at(grid.positions)
    return _stereo("pour", seed, grid, boost * _db(-27))


# ------------------------------------------------------------ happenings

def forest(seed, grid, track):
    """Leaves in a breeze, quiet air, and bird songs from a few species dotted around."""
    kid = stable_id("forest")
    breeze = 0.6 + 0.4 * lfo(grid.positions, seed, kid, (5.3, 9.1))
    out = _stereo("forest_air", seed, grid, breeze * _db(-36))
    species = [_species(rng_for(seed, kid, -1, i)) for i in range(3)]
    cell = SR
    for c in _cells(grid.start, grid.n, cell, seconds(2.0)):
        rng = rng_for(seed, kid, c)
        for _ in range(rng.poisson(0.9)):
            sp = species[int(rng.integers(0, len(species)))]
            at = c * cell + int(rng.integers(0, cell))
            song = _song(rng, sp) * rng.uniform(0.05, 0.2)
            _add_at(out, grid.start, at, song, rng.uniform(-0.8, 0.8))
    return out


def _species(rng) -> dict:
    return {"f0": rng.uniform(2500.0, 5500.0), "note": rng.uniform(0.04, 0.12), "notes": int(rng.integers(2, 7)),
            "gap": rng.uniform(0.03, 0.09), "sweep": rng.uniform(-0.3, 0.5), "trill": rng.uniform(0.0, 40.0),
            "depth": rng.uniform(0.0, 0.08)}


def _song(rng, sp: dict) -> np.ndarray:
    """A phrase of chirps: each note a swept, trilled sine with a soft envelope.

    Real birds do not keep time: every note's length, gap, pitch and level
    wander a little (drawn from the cell's seeded generator, so still
    deterministic), or a phrase sounds like a metronome."""
    count = max(1, sp["notes"] + int(rng.integers(-1, 2)))
    notes = [seconds(sp["note"] * rng.uniform(0.8, 1.2)) for _ in range(count)]
    gaps = [seconds(sp["gap"] * rng.uniform(0.6, 1.5)) for _ in range(count)]
    out = np.zeros(sum(notes) + sum(gaps))
    f0 = sp["f0"] * rng.uniform(0.93, 1.07)
    at = 0
    for j, (note_n, gap_n) in enumerate(zip(notes, gaps)):
        t = time_axis(note_n)
        f = f0 * rng.uniform(0.97, 1.03) * (1.0 + sp["sweep"] * t / t[-1] * (1.0 if j % 2 == 0 else 0.7))
        f *= 1.0 + sp["depth"] * fast_sin(2 * np.pi * sp["trill"] * t)
        phase = 2 * np.pi * np.cumsum(f) / SR  # local to this note
        env = fast_sin(np.pi * t / t[-1]) ** 2 * rng.uniform(0.7, 1.0)
        out[at: at + note_n] = (fast_sin(phase) + 0.25 * fast_sin(2 * phase)) * env
        at += note_n + gap_n
    return out


def ocean(seed, grid, track):
    """A low roar that swells with each wave, then the foam washing up after the crest."""
    kid = stable_id("ocean")
    period = seconds(9.0)
    sec = grid.seconds
    swell, wash = np.zeros(sec.size), np.zeros(sec.size)
    for w in _cells(grid.start, grid.n, period, seconds(12.5), seconds(7.0)):
        rng = rng_for(seed, kid, w)
        crest = (w * period + int(rng.uniform(0.1, 0.5) * period)) / SR
        height = rng.uniform(0.5, 1.0)
        dt = sec - crest
        swell += height * _bump(dt, rng.uniform(4.0, 7.0), rng.uniform(6.0, 10.0))
        wash += height * _bump(dt - rng.uniform(0.5, 1.2), 1.2, rng.uniform(4.0, 6.5))
    out = _stereo("ocean_low", seed, grid, (0.35 + 0.65 * np.minimum(swell, 1.2)) * _db(-24))
    out += _stereo("ocean_wash", seed, grid, 0.6 * np.minimum(wash, 1.2) * _db(-24))
    return out


def traffic(seed, grid, track):
    """Distant rumble, and cars passing: brighter approaching, darker going away, panned across."""
    kid = stable_id("traffic")
    cell, half_max = seconds(2.5), seconds(4.5)
    sec = grid.seconds
    curves = np.zeros((4, sec.size))  # near L, near R, far L, far R
    for c in _cells(grid.start, grid.n, cell, half_max, half_max):
        rng = rng_for(seed, kid, c)
        if rng.random() > 0.55:
            continue
        centre = (c * cell + int(rng.integers(0, cell))) / SR
        half = rng.uniform(2.5, 4.5)
        direction = 1.0 if rng.random() < 0.5 else -1.0
        dt = sec - centre
        env = np.where(np.abs(dt) < half, np.cos(0.5 * np.pi * np.clip(dt / half, -1, 1)) ** 4, 0.0)
        env *= rng.uniform(0.4, 1.0)
        left, right = pan_gains(direction * np.clip(dt / (0.5 * half), -1.0, 1.0) * 0.9)
        approach = 1.0 / (1.0 + np.exp(np.clip(dt / 0.3, -50, 50)))
        curves += np.stack([env * approach * left, env * approach * right,
                            env * (1 - approach) * left, env * (1 - approach) * right])
    rumble = 0.8 + 0.2 * lfo(grid.positions, seed, kid, (11.0, 23.0))
    out = _stereo("traffic_rumble", seed, grid, rumble * _db(-31))
    if np.any(curves):
        curves *= _db(-17)
        near = read("traffic_near", seed, 0, grid.start, grid.n)
        far = read("traffic_far", seed, 0, grid.start, grid.n)
        for ch in range(2):
            out[ch] += near * grid.upsample(curves[ch]) + far * grid.upsample(curves[2 + ch])
    return out


def drip(seed, grid, track):
    """A leaking tap: plinks at a steady but irregular pace (+-25 %: an exact pace sounds
    like a clock), with two small room echoes."""
    kid = stable_id("drip")
    period = seconds(0.7 + 0.7 * unit(hash64(seed, kid)))
    length = seconds(0.25)
    out = np.zeros((2, grid.n), np.float32)
    for k in _cells(grid.start, grid.n, period, length + period, period):
        rng = rng_for(seed, kid, k)
        at = k * period + int(rng.uniform(-0.25, 0.25) * period)
        plink = np.zeros(length)
        blip = bubble_kernel(rng, seconds(0.05))
        for delay, gain in ((0, 1.0), (seconds(0.023), 0.3), (seconds(0.041), 0.18)):
            plink[delay: delay + blip.size] += blip[: length - delay] * gain
        _add_at(out, grid.start, at, plink * rng.uniform(0.1, 0.25), rng.uniform(-0.3, 0.3))
    return out


BEDS: dict[str, BedRenderer] = {
    "rain": rain, "rain_tin": rain_tin, "wind": wind, "forest": forest, "ocean": ocean, "traffic": traffic,
    "crowd": crowd, "room_tone": room_tone, "fire": fire, "drip": drip, "pour": pour,
}
