"""Heel strikes from body landmarks: when a moving foot arrives where it then stays.

A step sounds when the swinging foot lands.  In the picture that is the moment the foot *stops*
and its height bottoms out: from then on (the stance) it stays put while the body passes over it.
The rule here works on positions, not on frame-to-frame speeds (a landmark jitters by about 1 % of
the figure, which at 25 fps is as fast as a slow foot):

1. every ``stride`` frames (coarse, :func:`coarse_stride`) the pose model places the feet;
2. a foot that moved more than :data:`SWING` figure heights between two coarse samples is
   swinging; one that then moves less than :data:`STOP` is standing;
3. the strike is the first frame, between the start of the last swinging interval and now, from
   which the foot stays within :data:`STOP` of where it stands now (found by bisection over the
   buffered frames: ~log2(2*stride) extra pose runs per step, not one per frame).

Positions are in figure heights (:meth:`~.pose.Figure.height`), so a distant walker and a close one
are judged alike.  When the feet are out of the picture, the hips still bounce once per step (the
body is lowest just after each heel strike): :class:`BounceSteps` gives those as steps tagged
``"bounce"``: a cadence, not the feet, which the result's warnings say.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

from .events import Onset, first_arrival
from .pose import SIDES, Figure

#: coarse pose samples per second: fast enough that a swing (~0.4 s) spans two of them
COARSE_RATE = 8
#: between two coarse samples a foot that moved this far (figure heights) is swinging ...
SWING = 0.06
#: ... and one that moved less than this is standing (jitter is ~0.01-0.02)
STOP = 0.035
#: a second strike of the same foot this soon is the same step seen twice (seconds)
MIN_STEP_GAP = Fraction(1, 4)
#: the hips must bounce this much (figure heights) for a bounce to count as a step
BOUNCE_MIN = 0.008


def coarse_stride(fps: Optional[Fraction]) -> int:
    """Frames between coarse pose samples at ``fps`` (1 for slow footage)."""
    if not fps:
        return 1
    return max(1, round(Fraction(fps) / COARSE_RATE))


def strength(figure: Figure) -> float:
    """Loudness from the figure's size: a walker filling the picture is full strength."""
    return max(0.15, min(1.0, 0.2 + figure.height()))


def _distance(a: tuple[float, float], b: tuple[float, float], scale: float) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 / scale


@dataclass
class _Foot:
    side: int
    swing_from: Optional[int] = None  # frame index where the last swinging interval began
    last_strike: Optional[Fraction] = None


class HeelStrikes:
    """Per-foot swing/stance state over coarse samples; asks ``figure_at(index)`` for refinement.

    ``figure_at`` returns the figure at a frame index that is still buffered (or None); ``pts_at``
    its exact presentation time.
    """

    def __init__(self, figure_at: Callable[[int], Optional[Figure]], pts_at: Callable[[int], Fraction]):
        self._figure_at = figure_at
        self._pts_at = pts_at
        self._feet = [_Foot(0), _Foot(1)]

    def reset(self) -> None:
        for foot in self._feet:
            foot.swing_from = None

    def coarse(self, prev: int, prev_fig: Figure, cur: int, cur_fig: Figure, oldest: int) -> list[Onset]:
        """Two consecutive coarse samples of a figure whose feet are visible in both."""
        out = []
        scale = cur_fig.height()
        for foot in self._feet:
            moved = _distance(prev_fig.foot(foot.side), cur_fig.foot(foot.side), scale)
            if moved >= SWING:
                if foot.swing_from is None:
                    foot.swing_from = prev
            elif moved < STOP and foot.swing_from is not None:
                onset = self._strike(foot, max(foot.swing_from, oldest), cur, cur_fig, scale)
                foot.swing_from = None
                if onset is not None:
                    out.append(onset)
        return out

    def _strike(self, foot: _Foot, lo: int, hi: int, hi_fig: Figure, scale: float) -> Optional[Onset]:
        """The first frame in (lo, hi] from which the foot stays where it stands at ``hi``."""
        stand = hi_fig.foot(foot.side)

        def arrived(i: int) -> bool:
            fig = self._figure_at(i)
            return fig is not None and fig.feet_visible() and _distance(fig.foot(foot.side), stand, scale) < STOP

        b = first_arrival(lo, hi, arrived)
        fig = self._figure_at(b) or hi_fig
        t = self._pts_at(b)
        if foot.last_strike is not None and t - foot.last_strike < MIN_STEP_GAP:
            return None
        foot.last_strike = t
        x, y = fig.foot(foot.side)
        return Onset(t, "footstep", strength(fig), 2 * x - 1, y=2 * y - 1, tag=SIDES[foot.side])


class BounceSteps:
    """Steps from the hips' vertical bounce when the feet are out of the picture.

    Works on the coarse samples: a sample whose hips are lower (larger y) than both neighbours by
    at least :data:`BOUNCE_MIN` figure heights is a step (the body is lowest in the double support
    right after a heel strike).  Coarse, so within one coarse stride of the true strike.
    """

    def __init__(self):
        self._recent: list[tuple[Fraction, Figure]] = []
        self._last: Optional[Fraction] = None

    def reset(self) -> None:
        self._recent.clear()

    def add(self, t: Fraction, fig: Figure) -> list[Onset]:
        self._recent = (self._recent + [(t, fig)])[-3:]
        if len(self._recent) < 3:
            return []
        (_, a), (tb, b), (_, c) = self._recent
        scale = b.height()
        ya, yb, yc = a.hips()[1], b.hips()[1], c.hips()[1]
        if min(yb - ya, yb - yc) < BOUNCE_MIN * scale:
            return []
        if self._last is not None and tb - self._last < MIN_STEP_GAP:
            return []
        self._last = tb
        x, y = b.hips()
        return [Onset(tb, "footstep", 0.7 * strength(b), 2 * x - 1, y=2 * y - 1, tag="bounce")]
