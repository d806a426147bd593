"""Typed work: an :class:`Item` (one media range -> one WAV) and its :class:`Result`.

An ``Item`` checks its fields when it is made (sizes, ranges, vocabularies), so
a bad one never exists, whoever builds it.  This module is also the only place
an item is turned into or read from wire form: the engine reads what arrives
with :meth:`Item.from_wire`, and every result is read back with
:meth:`Result.from_wire` and checked against the item that asked for it
(:meth:`Result.problem`), so audio is never placed at the wrong sample.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping, Optional

from .fields import (
    MAX_PATH_CHARS, ProtocolError, check_integer, check_text, int_field, json_bytes, parse_exact, refuse_unknown,
    string_field,
)
from .timebase import output_duration, to_index

ITEM_FIELDS = ("media", "start", "end", "speed", "prompt", "negative_prompt", "seed", "options", "align",
               "loudness", "true_peak", "motion", "record_start", "format", "stems", "takes", "loudness_per_stem")
MOTION_MODES = ("diff", "flow")
WAV_FORMATS = ("pcm24", "pcm16", "float")
MAX_PROMPT_CHARS = 2000
MAX_OPTIONS = 32
MAX_RECORD_START_BYTES = 1024
_TRUE = ("1", "true", "yes", "on")

#: the Foley classes a range may be split into, in delivery order (``--stems all``)
STEM_CLASSES = ("feet", "props", "moves", "bg")
#: the most takes (alternate variations) of one range
MAX_TAKES = 16
#: delivery loudness presets: name -> (integrated target as text, true-peak ceiling in dBTP)
LOUDNESS_PRESETS = {
    "ebu-r128": ("-23", -1.0),   # EBU R 128 (Europe)
    "atsc-a85": ("-24", -2.0),   # ATSC A/85 (US broadcast, LKFS)
    "streaming": ("-27", -2.0),  # streaming-service delivery (Netflix's -27 LKFS, -2 dBTP)
    "off": ("off", None),        # left as generated
}


@dataclass(frozen=True)
class Item:
    """One media range to generate.  Times are exact seconds from the media's first frame.

    ``options`` are backend options (``steps``, ``guidance``, ...) that reach the
    backend unchanged on every path; ``align``, ``motion``, ``loudness`` and
    ``true_peak`` are the engine's own switches (scheduler, analysis, finishing),
    kept apart from them.  ``record_start`` is the adapter's note of
    where the result goes on its timeline, returned untouched in the result.
    """

    media: str
    start: Optional[Fraction] = None
    end: Optional[Fraction] = None
    speed: Fraction = Fraction(1)
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    align: bool = False
    #: integrated loudness target in LUFS as text ("-23"), "off", or None for the backend's default
    loudness: Optional[str] = None
    #: true-peak ceiling in dBTP for the loudness pass (None: -1)
    true_peak: Optional[float] = None
    #: how analysis measures motion: "diff" (frame differences) or "flow" (optical flow)
    motion: str = "diff"
    record_start: Any = None
    format: str = "pcm24"
    #: Foley classes to write as separate stems (``STEM_CLASSES`` order); () = one mixed file
    stems: tuple = ()
    #: variations of the range to write (take 1 is the item's own seed; see :func:`output_set`)
    takes: int = 1
    #: normalise each stem alone instead of one gain for the set (the generator's balance)
    loudness_per_stem: bool = False
    #: a name for messages (a clip or strip name); not sent
    label: str = field(default="", compare=False)

    def __post_init__(self):
        # Frozen: normalised values (int times -> Fraction, loudness as text) are set through object.
        media = check_text(self.media, "media", limit=MAX_PATH_CHARS)
        if not media:
            raise ProtocolError("schema", "media", "is empty")
        start, end = _time(self.start, "start"), _time(self.end, "end")
        if start is not None and end is not None and end <= start:
            raise ProtocolError("range", "end", f"end {end} is not after start {start}")
        speed = _time(self.speed, "speed")
        if speed is None or speed == 0:
            raise ProtocolError("range", "speed", "must be positive")
        check_text(self.prompt, "prompt", limit=MAX_PROMPT_CHARS)
        check_text(self.negative_prompt, "negative_prompt", limit=MAX_PROMPT_CHARS)
        check_integer(self.seed, "seed", lo=0, hi=2**32 - 1)
        _options(self.options, "options")
        if not isinstance(self.align, bool):
            raise ProtocolError("schema", "align", "must be true or false")
        if self.motion not in MOTION_MODES:
            raise ProtocolError("schema", "motion", f"must be one of {', '.join(MOTION_MODES)}")
        if self.format not in WAV_FORMATS:
            raise ProtocolError("schema", "format", f"must be one of {', '.join(WAV_FORMATS)}")
        if self.record_start is not None:
            try:
                size = len(json_bytes(self.record_start))
            except (TypeError, ValueError):
                raise ProtocolError("schema", "record_start", "must be plain JSON") from None
            if size > MAX_RECORD_START_BYTES:
                raise ProtocolError("schema", "record_start", f"is over {MAX_RECORD_START_BYTES} bytes of JSON")
        check_integer(self.takes, "takes", lo=1, hi=MAX_TAKES)
        if not isinstance(self.loudness_per_stem, bool):
            raise ProtocolError("schema", "loudness_per_stem", "must be true or false")
        for name, value in (("start", start), ("end", end), ("speed", speed), ("options", dict(self.options)),
                            ("stems", parse_stems(self.stems)),
                            ("loudness", _loudness(self.loudness, "loudness")),
                            ("true_peak", _decibels(self.true_peak, "true_peak", -60, 0))):
            object.__setattr__(self, name, value)

    def to_wire(self) -> dict:
        out: dict = {"media": self.media}
        if self.start is not None:
            out["start"] = str(Fraction(self.start))
        if self.end is not None:
            out["end"] = str(Fraction(self.end))
        out.update(speed=str(Fraction(self.speed)), prompt=self.prompt, negative_prompt=self.negative_prompt,
                   seed=int(self.seed), options=dict(self.options), format=self.format)
        if self.align:
            out["align"] = True
        if self.loudness is not None:
            out["loudness"] = self.loudness
        if self.true_peak is not None:
            out["true_peak"] = self.true_peak
        if self.motion != "diff":
            out["motion"] = self.motion
        if self.record_start is not None:
            out["record_start"] = self.record_start
        # Sent only when asked for, so an item without them reads as before on an older engine.
        if self.stems:
            out["stems"] = list(self.stems)
        if self.takes != 1:
            out["takes"] = self.takes
        if self.loudness_per_stem:
            out["loudness_per_stem"] = True
        return out

    @classmethod
    def from_wire(cls, obj: Any, name: str = "item") -> "Item":
        """A checked item; :class:`~plugin_host.fields.ProtocolError` names the bad field (``items[3].end``)."""
        if not isinstance(obj, dict):
            raise ProtocolError("schema", name, "must be an object")
        refuse_unknown(obj, ITEM_FIELDS, f"{name}.")
        options = obj.get("options", {})
        if isinstance(options, dict):
            # Older clients send the alignment switch among the backend options.
            options = dict(options)
            align = obj.get("align", options.pop("align", False))
        else:
            align = obj.get("align", False)
        try:
            return cls(
                media=string_field(obj, "media", "media", limit=MAX_PATH_CHARS, required=True),
                start=parse_exact(obj["start"], "start") if obj.get("start") is not None else None,
                end=parse_exact(obj["end"], "end") if obj.get("end") is not None else None,
                # Source playback speed (editor retime): the output lasts (end - start) / speed.
                speed=parse_exact(obj["speed"], "speed") if obj.get("speed") is not None else Fraction(1),
                prompt=string_field(obj, "prompt", "prompt", limit=MAX_PROMPT_CHARS),
                negative_prompt=string_field(obj, "negative_prompt", "negative_prompt", limit=MAX_PROMPT_CHARS),
                seed=int_field(obj, "seed", "seed", lo=0, hi=2**32 - 1, default=0),
                options=options, align=_flag(align, "align"), loudness=obj.get("loudness"),
                true_peak=obj.get("true_peak"), motion=string_field(obj, "motion", "motion", limit=8, default="diff"),
                record_start=obj.get("record_start"),
                format=string_field(obj, "format", "format", limit=16, default="pcm24"),
                stems=obj.get("stems", ()), takes=int_field(obj, "takes", "takes", lo=1, hi=MAX_TAKES, default=1),
                loudness_per_stem=_flag(obj.get("loudness_per_stem", False), "loudness_per_stem"),
            )
        except ProtocolError as exc:
            raise exc.within(name) from None

    def outputs(self, path: str) -> tuple["Output", ...]:
        """The files this item writes when its output is ``path`` (see :func:`output_set`)."""
        return output_set(path, self.stems, self.takes)

    @property
    def name(self) -> str:
        """What messages call this item: its label, else its file name."""
        return self.label or self.media.replace("\\", "/").rsplit("/", 1)[-1]


def parse_stems(value: Any, name: str = "stems") -> tuple:
    """Stem classes from a list or ``"feet,bg"`` / ``"all"``, in :data:`STEM_CLASSES` order, each once."""
    if value is None or value == "" or value == ():
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or len(value) > 8:
        raise ProtocolError("schema", name, "must be a list of stem classes")
    words = set()
    for word in value:
        if not isinstance(word, str):
            raise ProtocolError("schema", name, "must be a list of stem classes")
        word = word.strip().lower()
        if word == "all":
            words.update(STEM_CLASSES)
        elif word in STEM_CLASSES:
            words.add(word)
        else:
            raise ProtocolError("schema", name, f"{word[:32]!r} is not a stem; use {', '.join(STEM_CLASSES)} or all")
    return tuple(c for c in STEM_CLASSES if c in words)


def loudness_preset(name: str) -> tuple:
    """A delivery preset's ``(loudness, true_peak)``; ProtocolError names the presets."""
    try:
        return LOUDNESS_PRESETS[name.strip().lower()]
    except KeyError:
        raise ProtocolError("schema", "loudness", f"unknown preset {name[:32]!r}; use one of "
                            f"{', '.join(LOUDNESS_PRESETS)} or a number of LUFS") from None


@dataclass(frozen=True)
class Output:
    """One file of an item's output set: take ``take`` (1-based) of stem ``stem`` ("" = the mix)."""

    take: int
    stem: str
    path: str

    @property
    def track_name(self) -> str:
        """The editor track this output belongs on: "Foley", "Foley Feet", ... ("Foley BG" for bg)."""
        return stem_track_name(self.stem)

    def to_wire(self) -> dict:
        return {"take": self.take, "stem": self.stem, "path": self.path}

    @classmethod
    def from_wire(cls, obj: Any) -> "Output":
        return cls(take=int(obj["take"]), stem=str(obj.get("stem", "")), path=str(obj["path"]))


def stem_track_name(stem: str) -> str:
    """The track a stem is placed on in every editor: "Foley", "Foley Feet", "Foley Props", ..., "Foley BG"."""
    if not stem:
        return "Foley"
    return "Foley " + ("BG" if stem == "bg" else stem.capitalize())


def output_set(path: str, stems: tuple = (), takes: int = 1) -> tuple[Output, ...]:
    """Every file of one item, takes first then stems in :data:`STEM_CLASSES` order.

    The naming convention: ``<name>.wav`` is take 1's mix (today's file); take ``n`` adds
    ``_take<n>``; a stem adds ``_FOLEY_<CLASS>``: ``scene_foley_take2_FOLEY_FEET.wav``.
    """
    base, ext = (path[:-4], path[-4:]) if path.lower().endswith(".wav") else (path, ".wav")
    out = []
    for take in range(1, takes + 1):
        stem_base = base if take == 1 else f"{base}_take{take}"
        for stem in (stems or ("",)):
            out.append(Output(take, stem, f"{stem_base}_FOLEY_{stem.upper()}{ext}" if stem else f"{stem_base}{ext}"))
    return tuple(out)


def _time(value: Any, name: str) -> Optional[Fraction]:
    """An exact non-negative time or speed: a Fraction or an int (a float would break the time rule)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        raise ProtocolError("schema", name, f"must be an exact number (Fraction or int), got {type(value).__name__}")
    if value < 0:
        raise ProtocolError("range", name, f"must not be negative, got {value}")
    return Fraction(value)


def _options(options: Any, name: str) -> dict:
    if not isinstance(options, dict) or len(options) > MAX_OPTIONS:
        raise ProtocolError("schema", name, f"must be an object of at most {MAX_OPTIONS} entries")
    for key, value in options.items():
        if len(key) > 64 or not (value is None or isinstance(value, (str, int, float, bool))):
            raise ProtocolError("schema", f"{name}.{key[:64]}", "options are short names with scalar values")
        if isinstance(value, str) and len(value) > 1024:
            raise ProtocolError("schema", f"{name}.{key}", "value is over 1024 characters")
    return options


def _decibels(value: Any, name: str, lo: float, hi: float) -> Optional[float]:
    """A level in dB from a JSON number or numeric string, within ``[lo, hi]``."""
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or len(str(value)) > 16:
            raise ValueError
        level = float(value)
    except ValueError:
        raise ProtocolError("schema", name, "must be a number of dB") from None
    if not lo <= level <= hi:  # also refuses nan and inf
        raise ProtocolError("range", name, f"must be between {lo:g} and {hi:g} dB")
    return level


def _loudness(value: Any, name: str) -> Optional[str]:
    """A loudness target: LUFS (``"-23"``) or ``"off"``, normalised to text."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "off":
        return "off"
    return f"{_decibels(value, name, -70, 0):g}"


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and len(str(value)) <= 8:
        return str(value).strip().lower() in _TRUE
    raise ProtocolError("schema", name, "must be true or false")


@dataclass(frozen=True)
class Result:
    """What the engine wrote for one item: a WAV and its exact place in media time."""

    item: int
    path: str
    media: str
    start: Fraction          #: media seconds of the range generated
    end: Fraction
    start_sample: int        #: index of the file's first sample at ``sample_rate``, from the first frame
    num_samples: int
    sample_rate: int
    channels: Optional[int] = None
    format: str = "pcm24"
    speed: Fraction = Fraction(1)
    windows: int = 0
    seconds: float = 0.0
    backend: str = ""
    seed: int = 0
    record_start: Any = None
    warnings: tuple = ()
    #: every file of the item's set (stems x takes); empty for a single mix (then ``path`` is it)
    outputs: tuple = ()

    def to_wire(self) -> dict:
        out = {"item": self.item, "path": self.path, "media": self.media, "start": str(self.start),
               "end": str(self.end), "start_sample": self.start_sample, "num_samples": self.num_samples,
               "sample_rate": self.sample_rate, "channels": self.channels, "format": self.format,
               "speed": str(self.speed), "windows": self.windows, "seconds": self.seconds, "backend": self.backend,
               "seed": self.seed}
        if self.record_start is not None:
            out["record_start"] = self.record_start
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.outputs:
            out["outputs"] = [o.to_wire() for o in self.outputs]
        return out

    @classmethod
    def from_wire(cls, obj: dict) -> "Result":
        try:
            return cls(
                item=int(obj.get("item", 0)), path=str(obj["path"]), media=str(obj.get("media", "")),
                start=Fraction(obj["start"]), end=Fraction(obj["end"]), start_sample=int(obj["start_sample"]),
                num_samples=int(obj["num_samples"]), sample_rate=int(obj["sample_rate"]),
                channels=obj.get("channels"), format=str(obj.get("format", "pcm24")),
                speed=Fraction(obj.get("speed", "1")), windows=int(obj.get("windows", 0)),
                seconds=float(obj.get("seconds", 0.0)), backend=str(obj.get("backend", "")),
                seed=int(obj.get("seed", 0)), record_start=obj.get("record_start"),
                warnings=tuple(str(w) for w in obj.get("warnings", ())),
                outputs=tuple(Output.from_wire(o) for o in obj.get("outputs", ())),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError) as exc:
            raise ProtocolError("schema", "result", f"the engine sent a result this client cannot read ({exc})") \
                from None

    def problem(self, item: Item, sample_rate: Optional[int] = None) -> Optional[str]:
        """Why this result cannot stand for ``item`` (wrong rate, wrong samples), or None."""
        if sample_rate is not None and self.sample_rate != sample_rate:
            return f"the engine wrote {self.sample_rate} Hz audio, not {sample_rate} Hz"
        sr = self.sample_rate
        if (item.stems or item.takes > 1) and [(o.take, o.stem) for o in self.outputs] != \
                [(o.take, o.stem) for o in item.outputs(self.path)]:
            return (f"the engine wrote {len(self.outputs) or 1} file(s) where {len(item.stems) or 1} stem(s) x "
                    f"{item.takes} take(s) were asked for")
        if item.start is not None:
            want_start = to_index(item.start, sr)
            if self.start_sample != want_start:
                return f"the engine wrote from sample {self.start_sample} where {want_start} was asked for"
        if item.start is not None and item.end is not None:
            out_end = item.start + output_duration(item.start, item.end, item.speed)
            want = to_index(out_end, sr) - to_index(item.start, sr)
            if self.num_samples != want:
                return (f"the engine wrote samples {self.start_sample}+{self.num_samples} where "
                        f"{to_index(item.start, sr)}+{want} were asked for")
        return None
