"""Hand contacts from hand landmarks: a hand that arrives fast and stops dead has struck something.

The model is MediaPipe Hands (``palm_detection_full.tflite`` + ``hand_landmark_full.tflite``,
Apache-2.0), which the ``mediapipe==0.10.14`` wheel of the ``vision`` extra carries: 21 points per
hand, up to two hands, on the CPU, offline.  Nothing here is imported by the default install.

The rule reads positions, like the heel strikes of :mod:`.footsteps` (landmarks jitter, so a
frame-to-frame speed alone says little):

1. every ``stride`` frames (:data:`COARSE_RATE` a second) the model places each hand (its centre:
   the mean of its 21 points; its size: wrist to middle-finger knuckle);
2. a hand that moved at least :data:`MOVE` hand sizes between two coarse samples is moving; one
   that then moved less than :data:`STOP` has stopped;
3. the contact frame is the first frame from which the hand stays within :data:`STOP` of where it
   stopped (bisection over the buffered frames: ~log2(stride) extra model runs);
4. it is a contact only if the hand arrived *fast*: its last step before that frame covers at
   least :data:`ABRUPT` of its mean speed over the movement.  A hand that slows down in mid-air
   (it reaches, turns a box, puts a cup in view) arrives with a small last step; a knock, a slap,
   a clap or a hand slammed on a table arrives at full speed and stops in one frame.

Two hands stopping together (within :data:`TOGETHER`) are one contact tagged ``"hands"`` (a clap);
one hand's is tagged ``"hand"``.  Each contact is an ``impact`` onset at the frame's exact PTS, at
the hand's position, with a strength from its speed in hand sizes per second.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

import numpy as np

from .events import Onset, first_arrival
from .pose import vision_missing

#: coarse model runs per second: a strike takes ~0.1-0.3 s, so its approach spans a sample or two
COARSE_RATE = 12
#: between two coarse samples a hand that moved this far (hand sizes) is moving ...
MOVE = 0.5
#: ... and one that moved less than this has stopped (landmark jitter is ~0.05)
STOP = 0.15
#: the last frame's step into the contact, as a share of the movement's mean step per frame
ABRUPT = 0.6
#: a last step longer than this (hand sizes in one frame) is a cut or the model switching hands
MAX_STEP = 1.5
#: a hand moving slower than this (hand sizes a second) makes no sound arriving anywhere
MIN_SPEED = 2.0
#: the same hand stopping again this soon is the same contact (seconds)
MIN_GAP = Fraction(1, 5)
#: two hands' contacts this close are one (a clap) (seconds)
TOGETHER = Fraction(1, 12)
#: a detection this far (hand sizes) from a hand of the last sample is another hand
SAME_HAND = 3.0
#: ...or one whose size differs by this factor (the model switched hands, or misjudged one)
SAME_SIZE = 1.4
#: wrist and middle-finger knuckle in MediaPipe's 21-point hand topology
WRIST, MIDDLE_KNUCKLE = 0, 9


@dataclass(frozen=True, eq=False)
class Hand:
    """One hand in one picture: ``points`` (21, 2) in pixels of the picture the model saw."""

    points: np.ndarray

    def centre(self) -> tuple[float, float]:
        p = self.points.mean(axis=0)
        return float(p[0]), float(p[1])

    def size(self) -> float:
        d = self.points[MIDDLE_KNUCKLE] - self.points[WRIST]
        return max(float(np.hypot(d[0], d[1])), 1.0)


HandModel = Callable[[np.ndarray], list]


class MediaPipeHands:
    """MediaPipe Hands on one RGB picture -> the :class:`Hand` s in it (at most two).

    Tracking mode (the landmarks of one picture place the crop for the next, the palm detector
    runs only when a hand is lost); the pictures handed in may skip frames or go back a few
    (refinement), which only moves that crop."""

    def __init__(self, max_hands: int = 2, min_confidence: float = 0.5):
        missing = vision_missing()
        if missing:
            raise ImportError(missing)
        import mediapipe as mp  # the optional extra: imported here only

        self._hands = mp.solutions.hands.Hands(
            static_image_mode=False, max_num_hands=max_hands, model_complexity=1,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)

    def __call__(self, rgb: np.ndarray) -> list[Hand]:
        result = self._hands.process(np.ascontiguousarray(rgb))
        if not result.multi_hand_landmarks:
            return []
        h, w = rgb.shape[:2]
        return [Hand(np.array([(p.x * w, p.y * h) for p in lm.landmark], np.float32))
                for lm in result.multi_hand_landmarks]

    def close(self) -> None:
        self._hands.close()


def hand_stride(fps: Optional[Fraction]) -> int:
    """Frames between coarse samples at ``fps`` (1 for slow footage)."""
    return max(1, round(Fraction(fps) / COARSE_RATE)) if fps else 1


@dataclass(eq=False)
class _Track:
    """One followed hand: where it was at the last coarse sample, and where its movement began."""

    frame: int
    pts: Fraction
    hand: Hand
    moving: Optional[tuple[int, Fraction, Hand]] = None  # (frame, pts, hand) of the movement's start
    last_contact: Optional[Fraction] = None


class HandContacts:
    """Push ``(pts, rgb)`` for every frame in order; get contact :class:`Onset` s (exact PTS).

    Keeps ``4 * stride + 1`` pictures for the refinement; a contact comes out once that span has
    passed after its frame (a second hand's contact, for a clap, can no longer join it)."""

    def __init__(self, model: HandModel, fps: Optional[Fraction]):
        self.model = model
        self.stride = hand_stride(fps)
        self._frames: deque[tuple[int, Fraction, np.ndarray]] = deque(maxlen=4 * self.stride + 1)
        self._hands: dict[int, list[Hand]] = {}  # model results by frame index (buffered frames)
        self._tracks: list[_Track] = []
        self._count = 0
        self._pending: list[list] = []  # [t, frame, strength, x, y, hands] of contacts not yet final
        self._size = (1, 1)  # picture width, height
        #: model runs so far (the benchmark's cost column)
        self.runs = 0

    def push(self, pts: Fraction, rgb: np.ndarray) -> list[Onset]:
        n = self._count
        self._count += 1
        self._size = (rgb.shape[1], rgb.shape[0])
        self._frames.append((n, pts, rgb))
        oldest = self._frames[0][0]
        for i in [i for i in self._hands if i < oldest]:
            del self._hands[i]
        if n % self.stride:
            return self._release()
        hands = self._hands_at(n)
        tracks = []
        for hand in hands:
            track = self._match(hand)
            if track is None:
                tracks.append(_Track(n, pts, hand))
                continue
            tracks.append(self._advance(track, n, pts, hand, oldest))
        self._tracks = tracks
        return self._release()

    def close(self) -> None:
        close = getattr(self.model, "close", None)
        if close is not None:
            close()

    # ---------------------------------------------------------------- internals

    def _hands_at(self, i: int) -> list[Hand]:
        if i not in self._hands:
            rgb = self._frames[i - self._frames[0][0]][2]
            self._hands[i] = list(self.model(rgb))
            self.runs += 1
        return self._hands[i]

    def _match(self, hand: Hand) -> Optional[_Track]:
        """The track of the last sample nearest to ``hand`` (within SAME_HAND sizes, and of about
        its size), taken out."""
        best, best_d = None, SAME_HAND
        cx, cy = hand.centre()
        for track in self._tracks:
            tx, ty = track.hand.centre()
            d = float(np.hypot(cx - tx, cy - ty)) / hand.size()
            ratio = hand.size() / track.hand.size()
            if d < best_d and 1 / SAME_SIZE <= ratio <= SAME_SIZE:
                best, best_d = track, d
        if best is not None:
            self._tracks.remove(best)
        return best

    def _advance(self, track: _Track, n: int, pts: Fraction, hand: Hand, oldest: int) -> _Track:
        moved = _distance(track.hand.centre(), hand.centre()) / hand.size()
        if moved >= MOVE:
            if track.moving is None:
                track.moving = (track.frame, track.pts, track.hand)
        elif moved < STOP and track.moving is not None:
            self._contact(track, oldest, n, hand)
            track.moving = None
        elif moved < STOP:
            track.moving = None
        track.frame, track.pts, track.hand = n, pts, hand
        return track

    def _nearest(self, i: int, where: tuple[float, float], size: float, within: float = SAME_HAND) -> Optional[Hand]:
        """The hand in frame ``i`` nearest to ``where`` (within ``within`` hand sizes), or None."""
        best, best_d = None, within
        for hand in self._hands_at(i):
            d = _distance(hand.centre(), where) / size
            if d < best_d:
                best, best_d = hand, d
        return best

    def _contact(self, track: _Track, oldest: int, hi: int, hand: Hand) -> None:
        """The hand moved from ``track.moving`` and stands at frame ``hi``: find where it
        arrived, and keep it as a contact if it arrived fast."""
        start_frame, start_pts, start = track.moving
        stand, size = hand.centre(), hand.size()

        def arrived(i: int) -> bool:
            h = self._nearest(i, stand, size)
            return h is not None and _distance(h.centre(), stand) / size < STOP

        b = first_arrival(max(start_frame, oldest), hi, arrived)
        before = self._nearest(b - 1, stand, size) if b - 1 >= oldest else None
        if before is None or b <= start_frame:
            return
        t = self._pts(b)
        travelled = _distance(start.centre(), stand) / size
        speed = travelled / float(t - start_pts)  # hand sizes a second
        mean_step = travelled / (b - start_frame)  # per frame
        last_step = _distance(before.centre(), stand) / size
        if speed < MIN_SPEED or last_step < ABRUPT * mean_step:
            return  # slowed down before it stopped: a hand coming to rest in mid-air
        if last_step > MAX_STEP:
            return  # jumped into place: a cut, or another hand
        if track.last_contact is not None and t - track.last_contact < MIN_GAP:
            return
        track.last_contact = t
        w, h = self._size
        x, y = stand
        self._pending.append([t, b, min(1.0, 0.2 + speed / 20.0), 2 * x / w - 1, 2 * y / h - 1, 1])

    def _pts(self, i: int) -> Fraction:
        return self._frames[i - self._frames[0][0]][1]

    def _release(self, final: bool = False) -> list[Onset]:
        """The contacts that are final: a whole refinement span has passed since their frame, so
        no later sample can add the other hand's contact to one (a clap), or all of them at the end."""
        if not self._pending:
            return []
        self._pending.sort()
        merged: list[list] = []
        for contact in self._pending:  # contacts within TOGETHER are one, of both hands
            if merged and contact[0] - merged[-1][0] <= TOGETHER:
                m = merged[-1]
                m[2], m[3], m[4], m[5] = max(m[2], contact[2]), (m[3] + contact[3]) / 2, (m[4] + contact[4]) / 2, \
                    m[5] + contact[5]
            else:
                merged.append(list(contact))
        horizon = 4 * self.stride
        ready = [m for m in merged if final or self._count - 1 - m[1] > horizon]
        self._pending = [m for m in merged if not (final or self._count - 1 - m[1] > horizon)]
        return [Onset(t, "impact", s, x, y, tag="hands" if k > 1 else "hand") for t, _, s, x, y, k in ready]

    def flush(self) -> list[Onset]:
        """The contacts still held back at the end of the frames."""
        return self._release(final=True)


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(np.hypot(a[0] - b[0], a[1] - b[1]))


def contacts_of(frames, model: HandModel, fps: Optional[Fraction]) -> tuple[list[Onset], HandContacts]:
    """Contact onsets of a whole sequence of ``(pts, rgb)`` (tests, benchmarks)."""
    tracker = HandContacts(model, fps)
    onsets: list[Onset] = []
    for pts, rgb in frames:
        onsets.extend(tracker.push(pts, rgb))
    onsets.extend(tracker.flush())
    return onsets, tracker
