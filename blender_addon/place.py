"""Blender side of strip <-> job: read movie strips, place finished Foley as sound strips.

The math lives in :mod:`.strips`; this module only moves values between it
and bpy.  Links between strips are custom properties, so they survive
saving, renaming and undo: a movie strip gets a ``foley_id`` and each Foley
sound strip records that id as ``foley_source_id``.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import bpy

from . import compat, host
from .strips import (
    StripError, StripTiming, exact_rate, free_channel, playback_speed, scene_rate, time_string, visible_media_range,
)

SOURCE_ID = "foley_id"
LINK = "foley_source_id"
CHANNEL_NAME = "Foley"
#: a set's sound strips record their take (1-based) and stem ("" for a mix)
TAKE, STEM = "foley_take", "foley_stem"
#: the submit a sound strip came from (marker parts of one strip share it)
RUN = "foley_run"


@dataclass(frozen=True)
class Target:
    """Where a strip's Foley goes: the strip as it stood at submit.  Everything else a placement
    needs (the media range, speed, prompt, seed, the strip's name) is the item's own, read from it typed."""

    source_id: str
    #: the visible frames [start_frame, end_frame) this item fills (a marker part: part of them) and channel
    start_frame: int
    end_frame: int
    channel: int
    #: the submit this target belongs to: a strip's Foley from any other run is replaced, its parts from this one stay
    run: str = ""
    #: the strip as it stood: its visible media range and first visible frame (a part follows the strip's move)
    media_range: tuple = ()
    strip_start: int = 0
    strip_end: int = 0


def rate_of(scene) -> Fraction:
    return scene_rate(scene.render.fps, scene.render.fps_base)


def movie_frame_count(path: str) -> Optional[int]:
    """Frames in the movie file (a throwaway MovieClip; RNA does not expose the strip's own count)."""
    try:
        clip = bpy.data.movieclips.load(path, check_existing=False)
    except RuntimeError:
        return None
    try:
        return int(clip.frame_duration)
    finally:
        bpy.data.movieclips.remove(clip)


def media_path(strip) -> str:
    return os.path.normpath(bpy.path.abspath(strip.filepath, library=strip.id_data.library))


def movie_rate(strip) -> Fraction:
    if not strip.fps > 0:
        raise StripError(f"{strip.name}: the movie states no frame rate (is the file readable?)")
    return exact_rate(strip.fps)


def timing_of(scene, strip, frame_counts: dict) -> StripTiming:
    path = media_path(strip)
    if path not in frame_counts:
        frame_counts[path] = movie_frame_count(path)
    return StripTiming(
        name=strip.name,
        frame_start=Fraction(compat.content_start(strip)),
        final_start=compat.left_handle(strip),
        final_end=compat.right_handle(strip),
        frame_duration=compat.content_duration(strip),
        anim_start=compat.trim_start(strip),
        anim_end=compat.trim_end(strip),
        movie_rate=movie_rate(strip),
        scene_rate=rate_of(scene),
        movie_frames=frame_counts[path],
        reversed=bool(getattr(strip, "use_reverse_frames", False)),
        retimed=len(getattr(strip, "retiming_keys", ())) > 0,
    )


def source_id(scene, strip) -> str:
    """The strip's Foley link id, made unique (a duplicated strip copies its custom properties)."""
    sid = strip.get(SOURCE_ID)
    if sid:
        twins = [s for s in compat.all_strips(scene.sequence_editor) if s.get(SOURCE_ID) == sid]
        if len(twins) == 1:
            return sid
    sid = uuid.uuid4().hex
    strip[SOURCE_ID] = sid
    return sid


def stored_prompt(strip, settings) -> tuple[str, str, int]:
    """The strip's last prompt, negative prompt and seed, else the scene defaults."""
    return (strip.get("foley_prompt", settings.prompt), strip.get("foley_negative_prompt", settings.negative_prompt),
            int(strip.get("foley_seed", settings.seed)))


def plan_item(scene, strip, prompt: str, negative_prompt: str, seed: int, frame_counts: dict, stems: str = "",
              takes: int = 1):
    """One engine :class:`~plugin_host.items.Item` for a movie strip, and the :class:`Target` its result goes to
    (``stems``/``takes``: a set, see :func:`place_set`)."""
    if strip.type != "MOVIE":
        raise StripError(f"{strip.name}: not a movie strip")
    path = media_path(strip)
    if not os.path.isfile(path):
        raise StripError(f"{strip.name}: movie file not found: {path}")
    timing = timing_of(scene, strip, frame_counts)
    t0, t1 = visible_media_range(timing)
    speed = playback_speed(timing)  # not 1 for a strip added without playback-rate adjustment
    sid = source_id(scene, strip)
    strip["foley_prompt"], strip["foley_negative_prompt"], strip["foley_seed"] = prompt, negative_prompt, seed
    try:
        item = host.module("items").Item(
            media=path, start=t0, end=t1, speed=speed, prompt=prompt, negative_prompt=negative_prompt, seed=seed,
            label=strip.name, stems=stems, takes=takes,
            record_start={"frame": compat.left_handle(strip), "rate": time_string(rate_of(scene)), "source": sid})
    except host.module("fields").ProtocolError as exc:  # the item's own checks: this strip alone is skipped
        raise StripError(f"{strip.name}: {exc}") from None
    first, last = compat.left_handle(strip), compat.right_handle(strip)
    return item, Target(sid, first, last, int(strip.channel), media_range=(t0, t1), strip_start=first,
                        strip_end=last)


def plan_items(scene, strip, prompt: str, negative_prompt: str, seed: int, frame_counts: dict, stems: str = "",
               takes: int = 1, prompts: list = (), run: str = "") -> list:
    """``[(item, target)]`` for a movie strip: one per prompt part of the scene's Foley markers ``prompts``
    (:func:`.markers.scene_prompts`), just one when none touches the strip.  The parts share their edge
    times, so their samples tile the strip's exactly."""
    import dataclasses

    from .markers import frame_parts

    item, target = plan_item(scene, strip, prompt, negative_prompt, seed, frame_counts, stems, takes)
    target = dataclasses.replace(target, run=run)
    pieces = frame_parts(target.start_frame, target.end_frame, list(prompts), rate_of(scene), prompt)
    if len(pieces) == 1:
        return [(dataclasses.replace(item, prompt=pieces[0][2]), target)]
    per_frame = item.speed / rate_of(scene)  # media seconds per scene frame (visible_media_range's)
    out = []
    for i, (a, b, text) in enumerate(pieces):
        t0 = item.start + (a - target.start_frame) * per_frame
        t1 = item.end if b == target.end_frame else item.start + (b - target.start_frame) * per_frame
        try:
            part = dataclasses.replace(item, start=t0, end=t1, prompt=text,
                                       label=f"{strip.name} part {i + 1}/{len(pieces)}",
                                       record_start=dict(item.record_start, frame=a))
        except host.module("fields").ProtocolError as exc:
            raise StripError(f"{strip.name}: {exc}") from None
        out.append((part, dataclasses.replace(target, start_frame=a, end_frame=b)))
    return out


def find_source(scene, sid: str):
    for s in compat.all_strips(scene.sequence_editor):
        if s.get(SOURCE_ID) == sid and s.type == "MOVIE":
            return s
    return None


def foley_strips(scene, sid: str) -> list:
    return [s for s in compat.all_strips(scene.sequence_editor) if s.type == "SOUND" and s.get(LINK) == sid]


def remove_strip(scene, strip) -> None:
    sound = strip.sound
    meta = strip.parent_meta()
    owner = compat.top_strips(meta if meta is not None else scene.sequence_editor)
    owner.remove(strip)
    if sound is not None and sound.users == 0:
        bpy.data.sounds.remove(sound)


def _foley_channel(scene, picture_channel: int, wanted: int) -> int:
    """The user's channel, else the channel named Foley above the picture, else the one just above it."""
    if wanted > 0:
        return wanted
    above = picture_channel + 1
    named = [i for i, name in compat.channel_names(scene.sequence_editor).items() if name == CHANNEL_NAME]
    for index in sorted(named):
        if index >= above:
            return index
    return above


def place(scene, item, target: Target, result, job_id: str, wanted_channel: int = 0) -> tuple:
    """Put one finished :class:`~plugin_host.items.Result` of ``item`` under its source strip;
    returns ``(sound strip, warning or None)``.

    The previous Foley strip of the same source is replaced.  If the source
    moved while generating but still shows the same media, the sound follows
    it; otherwise it lands where the source was when the job was submitted.
    """
    se = scene.sequence_editor
    warning = None
    frame0, frame1, picture_channel = target.start_frame, target.end_frame, target.channel
    source = find_source(scene, target.source_id)
    shown = target.media_range or (item.start, item.end)
    then = (target.strip_start, target.strip_end) if target.media_range else (frame0, frame1)
    if source is None:
        warning = f"{item.name}: the strip is gone; its Foley was placed where it was"
    else:
        try:
            now = visible_media_range(timing_of(scene, source, {}))
        except StripError:
            now = None
        if now == shown:  # the same picture, maybe moved: the sound (or this part of it) follows
            moved = compat.left_handle(source) - then[0]
            frame0, frame1 = frame0 + moved, frame1 + moved
            picture_channel = int(source.channel)
        elif (compat.left_handle(source), compat.right_handle(source)) != then:
            warning = f"{source.name}: the strip changed while generating; its Foley was placed where it was"
    # Earlier Foley of this strip is replaced; parts of this run already placed stay.
    olds = [s for s in foley_strips(scene, target.source_id) if not target.run or s.get(RUN) != target.run]
    # The take the user chose (the unmuted one) on the earlier Foley: a re-run plays that one again
    # (a later marker part finds it on the parts this run placed already).
    chosen = next((int(s.get(TAKE, 1)) for s in foley_strips(scene, target.source_id) if s.get(TAKE) and not s.mute),
                  1)
    for old in olds:
        remove_strip(scene, old)
    if result.outputs:
        return place_set(scene, item, result, target.source_id, job_id, frame0, frame1, picture_channel,
                         chosen, target.run), warning
    first = _foley_channel(scene, picture_channel, wanted_channel)
    occupied = [(int(s.channel), compat.left_handle(s), compat.right_handle(s)) for s in compat.top_strips(se)]
    channel = free_channel(occupied, first, frame0, frame1)
    if wanted_channel <= 0 and compat.channel_names(se).get(channel, "").startswith("Channel"):
        compat.rename_channel(se, channel, CHANNEL_NAME)
    sound = _sound_strip(scene, f"Foley {item.name}", result.path, channel, frame0, frame1)
    _tag(sound, item, target.source_id, job_id, result, target.run)
    return sound, warning


def _sound_strip(scene, name: str, path: str, channel: int, frame0: int, frame1: int):
    sound = compat.top_strips(scene.sequence_editor).new_sound(name, path, channel, frame0)
    # The sound's own length rounds up to whole frames; the visible length is what we want.
    if compat.right_handle(sound) != frame1:
        compat.set_right_handle(sound, frame1)
    return sound


def _tag(sound, item, source_id: str, job_id: str, result, run: str = "") -> None:
    # Custom properties hold text and ints only: the exact times are written as protocol strings.
    sound[LINK] = source_id
    sound[RUN] = run
    sound["foley_source"] = item.name
    sound["foley_prompt"] = item.prompt
    sound["foley_negative_prompt"] = item.negative_prompt
    sound["foley_seed"] = item.seed
    sound["foley_job"] = job_id
    sound["foley_media_start"] = time_string(item.start)
    sound["foley_media_end"] = time_string(item.end)
    sound["foley_num_samples"] = result.num_samples


def set_channel_name(take: int, stem: str) -> str:
    """The channel a set's file goes to: "Foley Feet", "Foley Feet take 2"; "Foley take 2" without stems."""
    base = "Foley " + ("BG" if stem == "bg" else stem.capitalize()) if stem else CHANNEL_NAME
    return base if take == 1 else f"{base} take {take}"


def place_set(scene, item, result, source_id: str, job_id: str, frame0: int, frame1: int, picture_channel: int,
              chosen: int = 1, run: str = ""):
    """Every file of a stems/takes set: each in the channel named for it (made above the picture where none
    is), the chosen take of each stem playing and the others muted; the strip of take 1's first stem."""
    se = scene.sequence_editor
    first_strip = None
    floor = picture_channel + 1
    takes = max(o.take for o in result.outputs)
    chosen = chosen if 1 <= chosen <= takes else 1
    for out in result.outputs:
        name = set_channel_name(out.take, out.stem)
        named = [i for i, n in compat.channel_names(se).items() if n == name and i >= picture_channel + 1]
        occupied = [(int(s.channel), compat.left_handle(s), compat.right_handle(s)) for s in compat.top_strips(se)]
        channel = named[0] if named and free_channel(occupied, named[0], frame0, frame1) == named[0] else \
            free_channel(occupied, floor, frame0, frame1)
        if compat.channel_names(se).get(channel, "").startswith("Channel"):
            compat.rename_channel(se, channel, name)
        floor = channel + 1
        sound = _sound_strip(scene, f"{name}: {item.name}", out.path, channel, frame0, frame1)
        _tag(sound, item, source_id, job_id, result, run)
        sound[TAKE], sound[STEM] = out.take, out.stem
        sound.mute = out.take != chosen
        if first_strip is None:
            first_strip = sound
    return first_strip


def cycle_take(scene, frame: int):
    """Play the next take of the Foley sets under ``frame`` (mute the one playing); the take now playing."""
    under = [s for s in compat.all_strips(scene.sequence_editor) if s.type == "SOUND" and s.get(TAKE)
             and compat.left_handle(s) <= frame < compat.right_handle(s)]
    if not under:
        return None
    takes = max(int(s[TAKE]) for s in under)
    playing = next((int(s[TAKE]) for s in under if not s.mute), takes)
    following = playing % takes + 1
    sources = {s.get(LINK) for s in under}
    for s in compat.all_strips(scene.sequence_editor):
        if s.type == "SOUND" and s.get(LINK) in sources and s.get(TAKE):
            s.mute = int(s[TAKE]) != following
    return following
