"""The backend protocol: what the long-form scheduler asks of a sound generator.

A backend turns one *window* of video into exactly ``num_samples`` samples at
its own sample rate.  The scheduler does everything else: decoding, window
planning, stitching, writing.  A third-party package adds a backend by
registering a class (or factory) under the entry-point group
``foley_engine.backends``; see :mod:`foley_engine.backends.registry`.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, ClassVar, Optional

import numpy as np

from ..analysis import VisualEvents
from ..timebase import SAMPLE_RATE


@dataclass(frozen=True)
class FrameSpec:
    """Frames a backend wants: sampled on an exact time grid at ``rate``.

    ``fit`` is ``"stretch"`` (resize to width x height, ignoring aspect) or
    ``"cover"`` (resize the short side, then centre-crop).
    """

    name: str
    rate: Fraction
    width: int
    height: int
    pix_fmt: str = "rgb24"  # or "gray"
    fit: str = "stretch"
    interpolation: str = "BILINEAR"  # PyAV/swscale name: BILINEAR, BICUBIC, AREA, ...


@dataclass
class FrameBatch:
    """Frames on the grid ``times[j] = grid_index[j] / rate`` (media seconds).

    ``source_pts[j]`` is the presentation time of the decoded frame shown at
    that grid time (the latest frame with pts <= grid time), so variable
    frame rate media is sampled exactly as a player would show it.
    """

    spec: FrameSpec
    grid_index: np.ndarray  # int64, (n,)
    source_pts: list[Fraction]
    images: np.ndarray  # uint8, (n, h, w, c)

    @property
    def times(self) -> list[Fraction]:
        return [Fraction(int(i)) / self.spec.rate for i in self.grid_index]


@dataclass
class WindowRequest:
    """One window to generate.

    ``start_sample`` is the absolute index (at ``sample_rate``) of the first
    sample, counted from the media's first video frame; ``start`` is the same
    instant in exact seconds.  ``events`` covers the window plus
    ``Backend.lookback`` before it, so sounds that began earlier ring on,
    and a few frames after it, so motion at the window's end is known.
    ``previous_tail`` holds this job's already generated output for the
    samples this window overlaps with its predecessor (None for the first).

    ``seed`` is derived from (``job_seed``, ``window_index``) for backends
    that sample noise per window; a backend whose output is a pure function
    of absolute time (the procedural one) uses ``job_seed`` so that windows
    agree sample for sample where they overlap.
    """

    media_path: str
    start_sample: int
    num_samples: int
    sample_rate: int
    frames: dict[str, FrameBatch]
    events: VisualEvents
    prompt: str
    negative_prompt: str
    seed: int
    window_index: int = 0
    job_seed: int = 0
    previous_tail: Optional[np.ndarray] = None
    options: dict = field(default_factory=dict)
    #: for a backend with native stems: render only this Foley class ("feet", "props", "moves", "bg")
    #: such that the classes of one window sum to its mix; None: the mix
    stem: Optional[str] = None

    @property
    def start(self) -> Fraction:
        return Fraction(self.start_sample, self.sample_rate)

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.num_samples


@dataclass(frozen=True)
class BackendOption:
    """One option a backend declares once; it becomes a ``foley generate`` flag and an item option.

    ``scope="item"`` options may change from item to item: both ``foley
    generate`` paths (in-process and ``--engine``) send them with the item, and
    they reach :meth:`Backend.generate` as ``request.options[name]``.
    ``scope="load"`` options are fixed when the backend loads (constructor
    keyword arguments; ``foley engine serve --option NAME=VALUE`` for an engine).
    """

    name: str
    type: Callable[[str], Any] = str
    help: str = ""
    default: Any = None
    choices: tuple = ()
    scope: str = "item"
    metavar: Optional[str] = None
    #: the value of the flag given without one (``--offload`` alone = ``--offload model``); None: a value is needed
    alone: Optional[str] = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


#: what each Foley class sounds like, for a backend that makes stems by passes (class prompt, and the
#: other classes as the negative prompt)
STEM_PROMPTS = {
    "feet": "footsteps, shoes on the ground",
    "props": "objects handled, hits and impacts",
    "moves": "cloth rustle, body movement, whooshes",
    "bg": "background ambience, room tone",
}
#: how a backend makes stems (``Backend.stems``)
STEMS_NATIVE, STEMS_BY_PASSES, STEMS_NONE = "native", "passes", "none"


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""


class Backend(abc.ABC):
    """Base class for backends. Subclasses set the class attributes and ``generate``."""

    #: registry name, e.g. "procedural"
    name: ClassVar[str] = ""
    #: one-line description for ``foley backends``
    description: ClassVar[str] = ""
    #: the code's licence and its weights' licence and territory, one line (``foley backends``)
    licence: ClassVar[str] = ""
    #: printed once by ``foley generate`` when this backend runs (e.g. a non-commercial weights licence)
    licence_notice: ClassVar[str] = ""
    sample_rate: int = SAMPLE_RATE
    channels: int = 2
    #: native window in seconds, None when any length works
    native_window: Optional[Fraction] = None
    #: overlap between consecutive windows, in seconds
    overlap: Fraction = Fraction(1, 2)
    #: how far before a window the scheduler supplies visual events
    lookback: Fraction = Fraction(0)
    #: frames to sample for each window
    frame_specs: tuple[FrameSpec, ...] = ()
    #: "cpu", "cuda:0", ...
    device: str = "cpu"
    #: options users may set (see :class:`BackendOption`)
    options: ClassVar[tuple[BackendOption, ...]] = ()
    #: finished stems are normalised to this integrated loudness (LUFS) unless the job says
    #: otherwise (option ``loudness``); None: left as generated
    loudness_target: Optional[float] = None
    #: whether a window's output depends only on its own request (never on ``previous_tail`` nor on
    #: state left by earlier windows): then the windows of one item may be generated in parallel
    #: and stitched in order, bit-identical to one after the other (see ``longform.scheduler``)
    independent_windows: bool = False
    #: how stems are made: "native" (``generate`` honours ``request.stem`` and the classes sum to
    #: the mix), "passes" (one generation per stem with :meth:`stem_prompts`), or "none" (refused)
    stems: ClassVar[str] = STEMS_NONE

    @classmethod
    def stem_prompts(cls, prompt: str, negative_prompt: str, stem: str) -> tuple[str, str]:
        """The prompt and negative prompt of one stem's pass: the class, then the user's prompt; the
        other classes join the user's negative prompt."""
        positive = ", ".join(p for p in (STEM_PROMPTS[stem], prompt) if p)
        others = [text for name, text in STEM_PROMPTS.items() if name != stem]
        return positive, ", ".join(p for p in (*others, negative_prompt) if p)

    @classmethod
    def availability(cls, **options) -> Availability:
        """Whether this backend can run here, and why not."""
        return Availability(True)

    @abc.abstractmethod
    def generate(self, request: WindowRequest) -> np.ndarray:
        """Return float32 audio of shape ``(request.num_samples, self.channels)``."""

    @classmethod
    def vocabulary(cls) -> Optional[list[str]]:
        """The prompt words this backend understands, or None when it takes free text."""
        return None

    @classmethod
    def prompt_warnings(cls, prompt: str, negative_prompt: str = "") -> list[str]:
        """One line per part of the prompts this backend will not use (shown, never fatal)."""
        return []

    def loudness_target_for(self, prompt: str, negative_prompt: str = "", stem: Optional[str] = None) -> Optional[float]:
        """The default loudness target of one job's output, or of one Foley class of it (``stem``):
        ``loudness_target``, unless the backend chooses by what is asked for (the procedural
        backend's beds aim lower, so a background stem is never pushed up to dialogue level)."""
        return self.loudness_target

    @classmethod
    def wants_people(cls, prompt: str, negative_prompt: str = "") -> bool:
        """Does this prompt need footsteps where feet land (the pose model's events)?  Off by default."""
        return False

    def close(self) -> None:
        """Release models and memory."""

    def describe(self) -> dict:
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "native_window": str(self.native_window) if self.native_window else None,
            "device": self.device,
        }


def check_output(backend: Backend, request: WindowRequest, audio: np.ndarray) -> np.ndarray:
    """Validate a backend's output shape so a bad plug-in fails loudly, not silently."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.shape != (request.num_samples, backend.channels):
        from ..errors import BackendError

        raise BackendError(
            f"backend {backend.name!r} returned {audio.shape}, expected ({request.num_samples}, {backend.channels})"
        )
    if not np.all(np.isfinite(audio)):
        from ..errors import BackendError

        raise BackendError(f"backend {backend.name!r} returned non-finite samples")
    return audio


def loudness_target_of(backend, prompt: str, negative_prompt: str = "", stem: Optional[str] = None) -> Optional[float]:
    """A backend's default loudness target for one job (or one stem of it); wrappers that are not
    :class:`Backend` (the lab's shifted stand-in) give their plain ``loudness_target``, if any."""
    rule = getattr(backend, "loudness_target_for", None)
    if rule is None:
        return getattr(backend, "loudness_target", None)
    return rule(prompt, negative_prompt, stem) if stem else rule(prompt, negative_prompt)
