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


@dataclass(frozen=True)
class Target:
    """Where a strip's Foley goes: the strip as it stood at submit.  Everything else a placement
    needs (the media range, speed, prompt, seed, the strip's name) is the item's own, read from it typed."""

    source_id: str
    #: the strip's visible frames [start_frame, end_frame) and channel
    start_frame: int
    end_frame: int
    channel: int


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


def plan_item(scene, strip, prompt: str, negative_prompt: str, seed: int, frame_counts: dict):
    """One engine :class:`~plugin_host.items.Item` for a movie strip, and the :class:`Target` its result goes to."""
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
            label=strip.name,
            record_start={"frame": compat.left_handle(strip), "rate": time_string(rate_of(scene)), "source": sid})
    except host.module("fields").ProtocolError as exc:  # the item's own checks: this strip alone is skipped
        raise StripError(f"{strip.name}: {exc}") from None
    return item, Target(sid, compat.left_handle(strip), compat.right_handle(strip), int(strip.channel))


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
    if source is None:
        warning = f"{item.name}: the strip is gone; its Foley was placed where it was"
    else:
        try:
            now = visible_media_range(timing_of(scene, source, {}))
        except StripError:
            now = None
        if now == (item.start, item.end):
            frame0, frame1 = compat.left_handle(source), compat.right_handle(source)
            picture_channel = int(source.channel)
        elif (compat.left_handle(source), compat.right_handle(source)) != (frame0, frame1):
            warning = f"{source.name}: the strip changed while generating; its Foley was placed where it was"
    for old in foley_strips(scene, target.source_id):
        remove_strip(scene, old)
    first = _foley_channel(scene, picture_channel, wanted_channel)
    occupied = [(int(s.channel), compat.left_handle(s), compat.right_handle(s)) for s in compat.top_strips(se)]
    channel = free_channel(occupied, first, frame0, frame1)
    if wanted_channel <= 0 and compat.channel_names(se).get(channel, "").startswith("Channel"):
        compat.rename_channel(se, channel, CHANNEL_NAME)
    name = f"Foley {item.name}"
    sound = compat.top_strips(se).new_sound(name, result.path, channel, frame0)
    # The sound's own length rounds up to whole frames; the visible length is what we want.
    if compat.right_handle(sound) != frame1:
        compat.set_right_handle(sound, frame1)
    # Custom properties hold text and ints only: the exact times are written as protocol strings.
    sound[LINK] = target.source_id
    sound["foley_source"] = item.name
    sound["foley_prompt"] = item.prompt
    sound["foley_negative_prompt"] = item.negative_prompt
    sound["foley_seed"] = item.seed
    sound["foley_job"] = job_id
    sound["foley_media_start"] = time_string(item.start)
    sound["foley_media_end"] = time_string(item.end)
    sound["foley_num_samples"] = result.num_samples
    return sound, warning
