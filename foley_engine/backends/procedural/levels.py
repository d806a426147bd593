"""How loud a finished procedural stem is made: by what it holds.

Dialogue-level -23 LUFS (EBU R 128) suits Foley with hits, steps and movement.  An ambience
on its own is a background: normalised to -23 LUFS, 10 s of steady rain or room air peaks
near -10 dBFS, as loud as speech, and a user has to pull it down by ear.  So a stem of beds
only aims lower, the way a mix sits backgrounds under dialogue:

| the mix holds                          | target   |
|----------------------------------------|----------|
| any one-shot or motion kind            | -23 LUFS |
| ambience beds only (rain, wind, ...)   | -33 LUFS (10 LU under dialogue) |
| room tone only                         | -43 LUFS (20 LU under: air, barely there) |
| nothing known (the default: room tone and soft thuds on hits) | -33 LUFS |

A job's own ``loudness`` (``--loudness``) always wins; this is the default only.
"""
from __future__ import annotations

from ...loudness import DEFAULT_TARGET_LUFS
from .vocabulary import BED, KINDS

BEDS_LUFS = DEFAULT_TARGET_LUFS - 10
ROOM_TONE_LUFS = DEFAULT_TARGET_LUFS - 20


def target_for_mix(mix: dict[str, float], recognised: bool = True) -> float:
    """The default loudness target (LUFS) for a stem of these kinds (``parse_prompt``'s result);
    ``recognised=False``: the prompt named nothing, ``mix`` is the fallback."""
    if not recognised:
        # The default bed is mostly room tone (soft thuds only on the picture's hits): level it as a bed.
        return BEDS_LUFS
    kinds = {k for k, weight in mix.items() if weight > 0}
    if not kinds or any(KINDS[k].family != BED for k in kinds):
        return DEFAULT_TARGET_LUFS
    return ROOM_TONE_LUFS if kinds == {"room_tone"} else BEDS_LUFS
