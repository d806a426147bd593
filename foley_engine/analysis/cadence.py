"""Cadence: frames that show no new picture.

Frame-rate conversion (24 -> 25 repeats one frame a second), 2:3 pulldown,
VFR duplicates and freeze frames all *repeat* a picture.  A repeat is not
motion stopping: the picture simply did not change, and the motion resumes
where it left off.  Re-encoding makes repeats near-identical rather than
bit-identical, and a still CG shot can be as still as a repeat, so the test
is relative: the change collapses against the motion just before it, and
(decided later, once the next new picture is known) the motion comes back.
"""
from __future__ import annotations

from . import shots

#: a repeat changes less than this share of the motion of the last new frame...
REPEAT_RATIO = 0.3
#: ...and less than this mean grey change (~1 grey level): encoder noise on a copy
REPEAT_MAX_CHANGE = 0.004
#: a run of repeats longer than this is the picture stopping, not a held frame (seconds)
HOLD_LIMIT_SECONDS = 2
#: after one or two repeats (conversion cadence) the motion must come back to this share
#: of the level before them; after a longer run (a freeze) it must carry straight on
RESUME_RATIO = 0.35
FREEZE_RESUME_RATIO = 0.6
CADENCE_RUN = 2


def looks_repeated(change: float, level: float) -> bool:
    """Whether a frame whose mean grey change is ``change`` repeats the last new picture,
    given ``level``, the motion of that last new frame."""
    return change < REPEAT_MAX_CHANGE and change < REPEAT_RATIO * level


def motion_resumed(run: int, level_before: float, change_after: float) -> bool:
    """Whether the first new frame after ``run`` repeats continues the motion they interrupted.

    A short rest after a landing, then a slow lift, is a stop (an impact),
    not a freeze: after more than two repeats the motion must carry on at
    its old pace.  A run ended by a jump far beyond that pace ended in a cut:
    the picture had stopped, the shot changed."""
    ratio = RESUME_RATIO if run <= CADENCE_RUN else FREEZE_RESUME_RATIO
    jump = change_after >= shots.CUT_MIN_CHANGE and change_after > shots.CUT_RATIO * level_before
    return change_after >= ratio * level_before and not jump
