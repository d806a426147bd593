"""People in the picture, streaming: footstep onsets at the frames where feet land.

Fed every decoded frame as a small RGB picture (:func:`pose_size`), in presentation order, it runs
the pose model only every few frames (:func:`~.footsteps.coarse_stride`) and, around a foot that
has just stopped, on a few of the frames it keeps (O(stride) pictures, never the video).  Onsets
come out at most ~3 strides after their frame, well inside the shot analyser's look-ahead, so the
scheduler sees them before it hands a window to the backend.

Only a prompt that asks for footsteps turns this on (the backend's ``wants_people``).  In shots where
the pose model finds nobody -- or everywhere, without the ``vision`` extra -- a foot seen settling
on the ground still makes a footstep (:mod:`.contacts`, tag ``"contact"``; the result's notes say
so); elsewhere the footsteps follow the motion.
"""
from __future__ import annotations

import bisect
from collections import deque
from fractions import Fraction
from typing import Callable, Optional

import numpy as np

from .contacts import TAG as CONTACT
from .contacts import GroundContacts
from .events import Onset
from .footsteps import BounceSteps, HeelStrikes, coarse_stride
from .pose import Figure, vision_missing

#: name of the decoder's frame grid that carries the pose pictures
PEOPLE_GRID = "people"
#: width of the picture the pose model sees (its networks take 224/256-pixel crops anyway)
POSE_WIDTH = 320
#: figures followed at once (each costs a pose run per sample while the one before it is found)
MAX_PEOPLE = 2
#: onsets of the shot analyser that are the picture changing (as cuts are): no foot lands in them
PICTURE_CHANGES = ("flash", "insert")
#: how long after its frame a ground contact is checked against the shot analyser's cuts and
#: inserts (it decides a picture 12 new pictures later: 0.5 s at 24 fps, 1.2 s at 10 fps)
SETTLE = Fraction(2)
#: a figure whose hips jump this far (figure heights) between coarse samples is another figure
#: (a cut, or the model switched person): foot states start again
JUMP = 0.5

PoseModel = Callable[[np.ndarray], Optional[Figure]]


def pose_size(width: int, height: int) -> tuple[int, int]:
    """The pose picture for a ``width`` x ``height`` video: POSE_WIDTH wide, aspect kept, even."""
    w = min(POSE_WIDTH, width)
    return w, max(2, round(w * height / width / 2) * 2)


class _Person:
    """One followed figure: its own pose model (tracking state), foot states and recent samples."""

    def __init__(self, pose: PoseModel, figure_at, pts_at):
        self.pose = pose
        self.figures: dict[int, Optional[Figure]] = {}
        self.prev: Optional[tuple[int, Figure]] = None
        self.strikes = HeelStrikes(figure_at, pts_at)
        self.bounce = BounceSteps()
        self.next_search = 0  # while not found: the frame index to look again


class PeopleTracker:
    """Push ``(pts, rgb)`` for every frame in order; get footstep :class:`Onset` s (exact PTS).

    Several people: the pose model follows one figure, so person *k* gets its own model, run on
    the picture with the figures of persons 0..k-1 painted out (their boxes filled with the
    picture's mean colour); person *k* is looked for only while person *k-1* is found.
    ``models`` None: no pose model (the extra is absent), only the ground contacts.  ``contacts``
    False: no ground contacts (the pose model alone).
    """

    def __init__(self, models: Optional[Callable[[], PoseModel]], fps: Optional[Fraction], max_people: int = 1,
                 contacts: bool = True):
        self.stride = coarse_stride(fps)
        self.fps = Fraction(fps) if fps else Fraction(25)
        self.contacts = GroundContacts(fps) if contacts else None
        self._unsettled: list[Onset] = []  # contacts not yet checked against late cuts and inserts
        self._frames: deque[tuple[int, Fraction, np.ndarray]] = deque(maxlen=3 * self.stride + 1)
        self._count = 0
        self._next_sample = 0  # frame index of the next coarse pose sample
        # ``models()`` makes one pose model per followed person (each keeps its own tracking state).
        self._people = [
            _Person(models(), lambda i, k=k: self._figure_at(k, i), self._pts_at)
            for k in range(max_people if models is not None else 0)
        ]
        #: counts for the result's notes and the benchmark
        self.pose_runs = 0
        self.bounce_steps = 0

    @classmethod
    def for_job(cls, wanted: bool, fps: Optional[Fraction]) -> Optional["PeopleTracker"]:
        """A tracker when the job wants footsteps: the real pose model if the extra is installed,
        and the ground contacts where it finds nobody (everywhere without the extra)."""
        if not wanted:
            return None
        if vision_missing():
            return cls(None, fps)
        from .pose import MediaPipePose

        return cls(MediaPipePose, fps, max_people=MAX_PEOPLE)

    def push(self, pts: Fraction, rgb: np.ndarray) -> list[Onset]:
        n = self._count
        self._count += 1
        self._frames.append((n, pts, rgb))
        oldest = self._frames[0][0]
        for person in self._people:
            for i in [i for i in person.figures if i < oldest]:
                del person.figures[i]
        out: list[Onset] = self.contacts.push(pts, rgb) if self.contacts is not None else []
        if not self._people or n < self._next_sample:
            return out
        found = True
        for k, person in enumerate(self._people):
            if not found or (person.prev is None and n < person.next_search):
                fig = None  # the one before is not found, or this one was not found just now
            else:
                fig = self._figure_at(k, n)
                # Nobody (more) in the picture: look half as often (someone walking in is found within ~1/4 s).
                person.next_search = n if fig is not None else n + 2 * self.stride
            found = fig is not None
            if found and person.prev is not None and self.contacts is not None:
                # Followed over two samples (one lone find can be a skeleton fitted to the street,
                # as in bikes' walker shot): this shot's steps are the pose model's.
                self.contacts.saw_figure()
            out.extend(self._sample(person, n, pts, fig, oldest))
        self._next_sample = n + (self.stride if self._people[0].prev is not None else 2 * self.stride)
        return sorted(out, key=lambda o: o.time)

    def feed(self, events, pts: Fraction, grid: dict) -> None:
        """Scheduler hook: take this frame's pose picture out of the decoder's ``grid`` and merge
        the footsteps it completes into ``events.onsets`` (kept in time order).

        A ground contact whose arrival straddles a cut, a flash or a brief insert is the picture
        changing, not a foot: the shot analyser decides those up to ~half a second later, so each
        contact is checked again at every frame for a while (:data:`SETTLE`) and taken out."""
        images = grid.pop(PEOPLE_GRID, None)
        if images:
            for onset in self.push(pts, images[0][1]):
                bisect.insort(events.onsets, onset, key=lambda o: o.time)
                if onset.tag == CONTACT:
                    self._unsettled.append(onset)
        if self._unsettled:
            self._settle(events, pts)

    def _settle(self, events, now: Fraction) -> None:
        changes = list(events.cuts) + [o.time for o in events.onsets if o.kind in PICTURE_CHANGES]
        keep = []
        for onset in self._unsettled:
            start = self.contacts.arrival_from.get(onset.time, onset.time)
            if any(start < c <= onset.time for c in changes):
                if onset in events.onsets:
                    events.onsets.remove(onset)
                self.contacts.forget(onset)
            elif now - onset.time < SETTLE:
                keep.append(onset)
        self._unsettled = keep

    @property
    def delay(self) -> Fraction:
        """How long after its frame a footstep is decided: the pose model's bisection looks at up to
        ~3 strides of later frames, a ground contact at the frames it must stay still for.  The
        scheduler reads and analyses this much past a range's end, so a strike just before the end
        is decided as it would be inside the whole film."""
        frames = self._frames.maxlen + self.stride if self._people else 0
        if self.contacts is not None:
            frames = max(frames, self.contacts.decided_after)
        return Fraction(frames) / self.fps

    def notes(self) -> list[str]:
        """Lines for the result's warnings about what the footsteps are based on."""
        lines = []
        if self.bounce_steps:
            lines.append(f"{self.bounce_steps} footsteps follow the body's bounce where the feet are out of frame "
                         "(a walking cadence, not the feet)")
        if self.contacts is not None and self.contacts.count:
            lines.append(f"{self.contacts.count} footsteps come from motion contacts: a foot seen settling on the "
                         "ground where no pose figure was found (tag 'contact')")
        return lines

    def close(self) -> None:
        for person in self._people:
            close = getattr(person.pose, "close", None)
            if close is not None:
                close()

    # ---------------------------------------------------------------- internals

    def _sample(self, person: _Person, n: int, pts: Fraction, fig: Optional[Figure], oldest: int) -> list[Onset]:
        prev, person.prev = person.prev, (None if fig is None else (n, fig))
        if fig is None or prev is None or self._jumped(prev[1], fig):
            person.strikes.reset()
            person.bounce.reset()
            return []
        if prev[1].feet_visible() and fig.feet_visible():
            person.bounce.reset()
            return person.strikes.coarse(prev[0], prev[1], n, fig, oldest)
        person.strikes.reset()
        steps = person.bounce.add(pts, fig)
        self.bounce_steps += len(steps)
        return steps

    @staticmethod
    def _jumped(a: Figure, b: Figure) -> bool:
        (ax, ay), (bx, by) = a.hips(), b.hips()
        return ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 > JUMP * b.height()

    def _frame(self, i: int) -> tuple[Fraction, np.ndarray]:
        oldest = self._frames[0][0]
        _, pts, rgb = self._frames[i - oldest]
        return pts, rgb

    def _pts_at(self, i: int) -> Fraction:
        return self._frame(i)[0]

    def _figure_at(self, k: int, i: int) -> Optional[Figure]:
        """Person ``k``'s figure in buffered frame ``i`` (persons before it painted out)."""
        person = self._people[k]
        if i not in person.figures:
            rgb = self._frame(i)[1]
            others = [f for f in (self._figure_at(j, i) for j in range(k)) if f is not None]
            person.figures[i] = person.pose(paint_out(rgb, others) if others else rgb)
            self.pose_runs += 1
        return person.figures[i]


def paint_out(rgb: np.ndarray, figures: list[Figure]) -> np.ndarray:
    """``rgb`` with each figure's box (its landmarks, padded by a tenth of its height) filled with
    the picture's mean colour, so the pose model's detector looks for someone else."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    fill = rgb.reshape(-1, rgb.shape[2]).mean(axis=0).astype(rgb.dtype)
    for fig in figures:
        x0, y0, x1, y1 = fig.box(pad=0.1)
        out[max(0, int(y0 * h)): max(0, int(np.ceil(y1 * h))), max(0, int(x0 * w)): max(0, int(np.ceil(x1 * w)))] = fill
    return out


def track_frames(frames, models: Optional[Callable[[], PoseModel]], fps: Optional[Fraction],
                 max_people: int = 1, contacts: bool = True) -> tuple[list[Onset], PeopleTracker]:
    """Footstep onsets of a whole sequence of ``(pts, rgb)`` (tests, benchmarks)."""
    tracker = PeopleTracker(models, fps, max_people, contacts=contacts)
    onsets: list[Onset] = []
    for pts, rgb in frames:
        onsets.extend(tracker.push(pts, rgb))
    return onsets, tracker
