"""Shared pieces of the Resolve tests: a cut on the fake timeline, a scripted UI, a stand-in engine."""
from __future__ import annotations

import json
import os
import wave
from fractions import Fraction

from fake_resolve import FakeMediaPoolItem, FakeResolve, FakeTimeline, FakeTimelineItem
from otio_adapters.timemath import to_index
from plugin_host.client import Event

SR = 48000
#: (timeline rate, drop frame, media start timecode) for the three timelines under test
RATES = {"24": ("24", False, "10:00:00:00"), "25": ("25", False, "10:00:00:00"),
         "29.97DF": ("29.97", True, "10:00:00;00")}
#: the rates the marker tests run at (issue 22)
MARKER_RATES = {"23.976": ("23.976", False, "10:00:00:00"), "25": RATES["25"], "29.97DF": RATES["29.97DF"]}


def media(folder, name: str, fps: str, start_tc: str, frames: int = 3000) -> FakeMediaPoolItem:
    path = os.path.join(str(folder), name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(b"not really a movie: the fake only needs the file to exist")
    return FakeMediaPoolItem(path, fps=fps, start_tc=start_tc, frames=frames)


def build_cut(folder, rate_key="24", export=True, has_mark_in_out=True, version=(20, 2, 0)):
    """01:00:00:00 timeline: V1 'A' (+10, 60 frames, left offset 12) then 'B' (+70, 36, left 0);
    V2 'C' (+30, 24, left 5; Red flag, marker note); an audio track "Dialogue"."""
    rate, drop, tc = {**RATES, **MARKER_RATES}[rate_key]
    tl = FakeTimeline(rate=rate, drop=drop, start_tc="01:00:00;00" if drop else "01:00:00:00",
                      has_mark_in_out=has_mark_in_out)
    s = tl.start_frame
    tl.add_track("video")
    tl.add_track("video")
    tl.add_track("audio", "Dialogue")
    a = media(folder, "a.mov", rate, tc)
    b = media(folder, "b.mov", rate, "00:00:00:00")
    clips = {
        "A": tl.add_clip(1, FakeTimelineItem("A", s + 10, 60, a, left_offset=12)),
        "B": tl.add_clip(1, FakeTimelineItem("B", s + 70, 36, b, left_offset=0, color="Orange")),
        "C": tl.add_clip(2, FakeTimelineItem("C", s + 30, 24, a, left_offset=5, flags=["Red"],
                                             markers={6: {"color": "Blue", "duration": 1, "note": "glass breaks",
                                                          "name": "", "customData": ""}})),
    }
    return tl, FakeResolve(tl, export=export, version=version), clips


def expected_range(tl: FakeTimeline, item: FakeTimelineItem) -> tuple[str, str]:
    """The media range for a clip at speed 1: from its first source frame, as many samples as its record range."""
    r0 = to_index(Fraction(item.start - tl.start_frame, tl.rate), SR)
    r1 = to_index(Fraction(item.GetEnd() - tl.start_frame, tl.rate), SR)
    m0 = Fraction(item.left_offset, tl.rate)
    return str(m0), str(m0 + Fraction(r1 - r0, SR))


class ScriptedUI:
    """Answers dialogs from a dict, says yes/no as told, records every message."""

    def __init__(self, answers=None, confirm=True, cancel_dialog=False, cancel_progress=False):
        self.answers, self.yes, self.cancel_dialog = dict(answers or {}), confirm, cancel_dialog
        self.cancel_progress = cancel_progress
        self.asked, self.confirms, self.messages, self.progress = [], [], [], []

    def ask(self, title, fields):
        self.asked.append((title, [(f.id, f.default) for f in fields]))
        if self.cancel_dialog:
            return None
        return {f.id: self.answers.get(f.id, f.default) for f in fields}

    def confirm(self, question):
        self.confirms.append(question)
        return self.yes

    def message(self, text):
        self.messages.append(text)

    def run(self, title, work):
        return work(lambda text, fraction: self.progress.append((text, fraction)), lambda: self.cancel_progress)


class StubJob:
    def __init__(self, engine, job_id, item, out_dir):
        self.engine, self.job_id, self.item, self.out_dir = engine, job_id, item, out_dir
        self.final = None

    def events(self, timeout=None, on_idle=None):
        if self.job_id in self.engine.cancelled:  # cancelled before it ran, like a queued engine job
            self.final = Event("cancelled", {"job_id": self.job_id})
            yield self.final
            return
        start, end = Fraction(self.item["start"]), Fraction(self.item["end"])
        first, last = to_index(start, SR), to_index(end, SR)
        path = os.path.join(self.out_dir, f"{self.job_id}.wav")
        from plugin_host.items import Item

        outputs = Item.from_wire(self.item).outputs(path)  # a set (stems x takes) like the engine's
        for out in outputs:
            with wave.open(out.path, "wb") as w:  # a real (silent) WAV of the promised length: placement may pad it
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(SR)
                w.writeframes(bytes(2 * (last - first)))
        path = outputs[0].path
        if self.engine.events is not None:  # the sidecar the engine writes beside each file: its events
            seen = [{"kind": k, "time": str(t)} for k, t in self.engine.events if start <= t < end]
            for out in outputs:
                with open(out.path + ".foley.json", "w", encoding="utf-8") as f:
                    json.dump({"foley_sidecar": 1, "first_sample": first, "sample_rate": SR, "events": seen}, f)
        yield Event("progress", {"job_id": self.job_id, "item": 0, "done_samples": 1, "total_samples": 2})
        if on_idle is not None:
            on_idle()
        result = {"path": path, "start": self.item["start"], "end": self.item["end"], "sample_rate": SR,
                  "start_sample": first, "num_samples": last - first,
                  "backend": "stub", "seed": self.item["seed"]}
        if len(outputs) > 1 or outputs[0].stem:
            result["outputs"] = [o.to_wire() for o in outputs]
        if self.job_id in self.engine.fail:
            self.final = Event("failed", {"job_id": self.job_id, "code": "media", "message": "cannot decode frame 12"})
            yield self.final
            return
        yield Event("item", {"job_id": self.job_id, "item": 0, "result": result})
        self.final = Event("done", {"job_id": self.job_id, "results": [result]})
        yield self.final

    def cancel(self):
        self.engine.cancelled.append(self.job_id)
        return "cancelled"


class StubEngine:
    """Stands in for EngineClient: records what is submitted and writes placeholder WAV files."""

    def __init__(self, fail=(), events=None):
        self.items, self.cancelled, self.closed, self.fail = [], [], False, set(fail)
        #: (kind, media seconds) the "engine" saw: written to each WAV's sidecar when given
        self.events = events

    def submit(self, items, out_dir, submit_id=None):
        (item,) = items
        item = item.to_wire() if hasattr(item, "to_wire") else item  # like the client: Items go as wire dicts
        self.items.append(item)
        return StubJob(self, f"job{len(self.items):04d}", item, out_dir)

    def events_of(self, jobs, timeout=None, on_idle=None):
        for job in jobs:
            for event in job.events(timeout, on_idle):
                yield job, event

    def close(self):
        self.closed = True
