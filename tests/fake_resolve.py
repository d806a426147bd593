"""A FAKE of DaVinci Resolve's documented scripting API, for tests only.

It covers exactly the calls ``resolve_scripts`` makes, with the behaviour the
Resolve README (and the notes in docs/resolve.md) documents: absolute record
frames (``GetStart``, ``recordFrame``), ``GetLeftOffset`` in timeline frames,
``GetMarkInOut`` relative to the timeline start with the out frame included,
audio files in the media pool at 24 "frames" a second, ``AppendToTimeline``'s
``endFrame`` exclusive.  ``GetVersion()`` answers the version under test
(default 20.2.0); before 19.0.3 ``AppendToTimeline`` takes integer
``startFrame``/``endFrame`` only (``recordFrame`` before 19.0.2) and refuses
anything else.  Every timeline rate Resolve offers, with its own timecode
(frames to the rounded rate - 1, drop-frame only at 29.97 and 59.94).
``Timeline.Export(path, EXPORT_OTIO)`` writes OTIO
the way Resolve does (plain-path target URLs, the media's start timecode in
``available_range``, a LinearTimeWarp for a speed change).  Nothing here has
been checked against a running Resolve.
"""
from __future__ import annotations

import os
import threading
import time
from fractions import Fraction
from typing import Optional

import opentimelineio as otio

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange

#: the timeline rates Resolve's project settings offer, as its ``timelineFrameRate`` setting spells them
RESOLVE_RATES = {"16": Fraction(16), "18": Fraction(18), "23.976": Fraction(24000, 1001), "24": Fraction(24),
                 "25": Fraction(25), "29.97": Fraction(30000, 1001), "30": Fraction(30),
                 "47.952": Fraction(48000, 1001), "48": Fraction(48), "50": Fraction(50),
                 "59.94": Fraction(60000, 1001), "60": Fraction(60), "72": Fraction(72), "90": Fraction(90),
                 "95.904": Fraction(96000, 1001), "96": Fraction(96), "100": Fraction(100),
                 "119.88": Fraction(120000, 1001), "120": Fraction(120)}
_DROP = {Fraction(30000, 1001), Fraction(60000, 1001)}


def _round(x: Fraction) -> int:
    return int((x + Fraction(1, 2)) // 1)


def _tc(frame: int, rate: Fraction, drop: bool) -> str:
    if drop and rate in _DROP:  # OpenTimelineIO's drop-frame arithmetic, independent of plugin_host's
        return otio.opentime.to_timecode(RT(frame, float(rate)), float(rate), True)
    base = _round(rate)
    secs, ff = divmod(frame, base)
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}"


def _frames(tc: str, rate: Fraction) -> int:
    if ";" in tc and rate in _DROP:
        return int(otio.opentime.from_timecode(tc, float(rate)).value)
    hh, mm, ss, ff = (int(p) for p in tc.replace(";", ":").split(":"))
    return ((hh * 60 + mm) * 60 + ss) * _round(rate) + ff


def _media_rate(fps: str) -> Fraction:
    return RESOLVE_RATES.get(fps) or Fraction(fps)


class FakeMediaPoolItem:
    def __init__(self, path: str, fps: str = "24", start_tc: str = "00:00:00:00", frames: Optional[int] = None,
                 name: Optional[str] = None):
        self.props = {"File Path": path, "FPS": fps, "Start TC": start_tc, "Clip Name": name or os.path.basename(path)}
        if frames is not None:
            self.props["Frames"] = str(frames)

    def GetName(self):
        return self.props["Clip Name"]

    def GetClipProperty(self, key=None):
        return dict(self.props) if key is None else self.props.get(key, "")

    def ReplaceClip(self, filePath):
        """Documented: replaces the item's underlying file (the same path: Resolve reads it again)."""
        if not os.path.isfile(filePath):
            return False
        self.props["File Path"] = filePath
        self.replaced = getattr(self, "replaced", 0) + 1
        return True


#: the marker colours the scripting README lists for AddMarker
MARKER_COLOURS = ("Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender", "Sky",
                  "Mint", "Lemon", "Sand", "Cocoa", "Cream")


class FakeMarkers:
    """The documented marker calls of Timeline and TimelineItem: ``GetMarkers()`` answers
    ``{frameId (float): {"color", "duration", "note", "name", "customData"}}``; ``AddMarker(frameId,
    color, name, note, duration, customData)`` refuses a frame that already has a marker (one marker
    a frame, as in Resolve's UI), an unknown colour or a duration under one frame;
    ``DeleteMarkerByCustomData`` deletes the first match only, as the README says."""

    markers: dict

    def GetMarkers(self):
        return {float(f): dict(info) for f, info in sorted(self.markers.items())}

    def AddMarker(self, frameId, color, name, note, duration, customData=""):
        frame = int(frameId)
        if frame in self.markers or color not in MARKER_COLOURS or not float(duration) >= 1:
            return False
        self.markers[frame] = {"color": color, "duration": float(duration), "note": note, "name": name,
                               "customData": customData}
        return True

    def GetMarkerByCustomData(self, customData):
        for info in self.markers.values():
            if info.get("customData") == customData:
                return dict(info)
        return {}

    def DeleteMarkerByCustomData(self, customData):
        for frame, info in sorted(self.markers.items()):
            if info.get("customData") == customData:
                del self.markers[frame]
                return True
        return False

    def DeleteMarkerAtFrame(self, frameNum):
        return self.markers.pop(int(frameNum), None) is not None


class FakeTimelineItem(FakeMarkers):
    """A clip; its markers are keyed by frames from the clip's first media frame (the README's "clip
    offset", read as GetLeftOffset counts)."""

    def __init__(self, name, start, duration, mpi=None, left_offset=0, color="", flags=(), markers=None,
                 enabled=True, speed=Fraction(1)):
        self.name, self.start, self.duration, self.mpi = name, start, duration, mpi
        self.left_offset, self.color, self.flags = left_offset, color, list(flags)
        self.markers = {int(f): dict({"customData": ""}, **info) for f, info in (markers or {}).items()}
        self.enabled, self.speed = enabled, Fraction(speed)
        self.takes: list = []  # the take selector: [{"mediaPoolItem", "startFrame", "endFrame"}], once made
        self.selected_take = 0

    # --- the take selector (TimelineItem.AddTake and friends, in the scripting README of every supported version)
    def AddTake(self, mpi, startFrame=None, endFrame=None):
        if not self.takes:  # the selector starts with the clip itself as take 1
            self.takes.append({"mediaPoolItem": self.mpi, "startFrame": self.left_offset, "endFrame": None})
            self.selected_take = 1
        self.takes.append({"mediaPoolItem": mpi, "startFrame": startFrame, "endFrame": endFrame})
        return True

    def GetTakesCount(self):
        return len(self.takes)

    def GetSelectedTakeIndex(self):
        return self.selected_take

    def GetTakeByIndex(self, index):
        return dict(self.takes[index - 1]) if 1 <= index <= len(self.takes) else None

    def SelectTakeByIndex(self, index):
        if not 1 <= index <= len(self.takes):
            return False
        self.selected_take, self.mpi = index, self.takes[index - 1]["mediaPoolItem"]
        return True

    def FinalizeTake(self):
        self.takes, self.selected_take = [], 0
        return True

    def GetName(self):
        return self.name

    def GetStart(self):
        return self.start

    def GetEnd(self):
        return self.start + self.duration

    def GetDuration(self):
        return self.duration

    def GetLeftOffset(self):
        return self.left_offset

    def GetMediaPoolItem(self):
        return self.mpi

    def GetClipColor(self):
        return self.color

    def GetFlagList(self):
        return list(self.flags)

    def GetClipEnabled(self):
        return self.enabled


class FakeFolder:
    def __init__(self, name):
        self.name, self.clips, self.subfolders = name, [], []

    def GetName(self):
        return self.name

    def GetClipList(self):
        return list(self.clips)

    def GetSubFolderList(self):
        return list(self.subfolders)


class FakeMediaPool:
    def __init__(self, project):
        self.project = project
        self.root = FakeFolder("Master")
        self.current = self.root
        self.appended = []  # every clipInfo passed to AppendToTimeline
        self.refused = []  # (clipInfo, why) that this version's AppendToTimeline would not take
        self.imported = []

    def GetRootFolder(self):
        return self.root

    def AddSubFolder(self, folder, name):
        sub = FakeFolder(name)
        folder.subfolders.append(sub)
        return sub

    def GetCurrentFolder(self):
        return self.current

    def SetCurrentFolder(self, folder):
        self.current = folder
        return True

    def ImportMedia(self, paths):
        items = []
        for path in paths:
            if not os.path.isfile(path):
                continue
            mpi = FakeMediaPoolItem(path)  # an audio file: Resolve gives it 24 fps
            self.current.clips.append(mpi)
            self.imported.append(path)
            items.append(mpi)
        return items

    def _refusal(self, info) -> str:
        version = self.project.resolve_version
        if version < (19, 0, 3) and not all(type(info[k]) is int for k in ("startFrame", "endFrame")):
            return "startFrame/endFrame must be integers before 19.0.3"
        if version < (19, 0, 2) and type(info["recordFrame"]) is not int:
            return "recordFrame must be an integer before 19.0.2"
        return ""

    def AppendToTimeline(self, infos):
        timeline = self.project.timeline
        out = []
        for info in infos:
            why = self._refusal(info)
            if why:
                self.refused.append((dict(info), why))
                continue
            self.appended.append(dict(info))
            mpi = info["mediaPoolItem"]
            fps = _media_rate(mpi.GetClipProperty("FPS"))
            length = (Fraction(str(info["endFrame"])) - Fraction(str(info["startFrame"]))) / fps
            kind = "audio" if info.get("mediaType") == 2 else "video"
            item = FakeTimelineItem(mpi.GetName(), int(info["recordFrame"]), _round(length * timeline.rate), mpi)
            timeline.tracks[kind][int(info["trackIndex"]) - 1]["items"].append(item)
            out.append(item)
        return out


class FakeTimeline(FakeMarkers):
    """A timeline; its markers are keyed by frames from its first frame (the README's "timeline offset")."""

    def __init__(self, name="Cut", rate="24", drop=False, start_tc="01:00:00:00", has_mark_in_out=True):
        self.name = name
        self.rate_text, self.drop = rate, drop
        self.rate = RESOLVE_RATES[rate]
        self.start_tc = start_tc
        self.start_frame = _frames(start_tc, self.rate)
        self.tracks = {"video": [], "audio": []}
        self.playhead = self.start_frame
        self.marks: dict = {}
        self.markers: dict = {}
        self.deleted = []
        self.export_calls = []
        if not has_mark_in_out:
            self.GetMarkInOut = None  # Resolve before 19.1

    # --- building (test side)
    def add_track(self, kind, name="", enabled=True):
        self.tracks[kind].append({"name": name or f"{kind[0].upper()}{len(self.tracks[kind]) + 1}",
                                  "enabled": enabled, "items": []})
        return len(self.tracks[kind])

    def add_clip(self, track, item):
        self.tracks["video"][track - 1]["items"].append(item)
        return item

    # --- the documented API
    def GetName(self):
        return self.name

    def GetSetting(self, key):
        settings = {"timelineFrameRate": self.rate_text, "timelineDropFrameTimecode": "1" if self.drop else "0"}
        return settings.get(key, "")

    def GetStartFrame(self):
        return self.start_frame

    def GetEndFrame(self):
        ends = [i.GetEnd() for t in self.tracks["video"] + self.tracks["audio"] for i in t["items"]]
        return max(ends, default=self.start_frame)

    def GetStartTimecode(self):
        return self.start_tc

    def GetTrackCount(self, kind):
        return len(self.tracks[kind])

    def GetItemListInTrack(self, kind, index):
        return sorted(self.tracks[kind][index - 1]["items"], key=lambda i: i.start)

    def GetIsTrackEnabled(self, kind, index):
        return self.tracks[kind][index - 1]["enabled"]

    def GetTrackName(self, kind, index):
        return self.tracks[kind][index - 1]["name"]

    def SetTrackName(self, kind, index, name):
        self.tracks[kind][index - 1]["name"] = name
        return True

    def AddTrack(self, kind, sub_type=None):
        self.add_track(kind)
        return True

    def GetCurrentTimecode(self):
        return _tc(self.playhead, self.rate, self.drop)

    def GetMarkInOut(self):
        return {"video": dict(self.marks), "audio": dict(self.marks)} if self.marks else {}

    def DeleteClips(self, items, ripple=False):
        for track in self.tracks["audio"] + self.tracks["video"]:
            track["items"] = [i for i in track["items"] if i not in items]
        self.deleted.extend(items)
        return True

    def Export(self, path, kind, subtype=None):
        self.export_calls.append((path, kind, subtype))
        if kind != FakeResolve.EXPORT_OTIO:
            return False
        otio.adapters.write_to_file(self.to_otio(), path, adapter_name="otio_json")
        return True

    def to_otio(self) -> otio.schema.Timeline:
        r = float(self.rate)
        tl = otio.schema.Timeline(self.name, global_start_time=RT(self.start_frame, r))
        tl.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
        for kind in ("video", "audio"):
            for track in self.tracks[kind]:
                ot = otio.schema.Track(track["name"], kind=otio.schema.TrackKind.Video if kind == "video"
                                       else otio.schema.TrackKind.Audio)
                pos = self.start_frame
                for item in sorted(track["items"], key=lambda i: i.start):
                    if item.start > pos:
                        ot.append(otio.schema.Gap(source_range=TR(RT(0, r), RT(item.start - pos, r))))
                    ot.append(self._otio_clip(item))
                    pos = item.GetEnd()
                tl.tracks.append(ot)
        return tl

    def _otio_clip(self, item) -> otio.schema.Clip:
        r = float(self.rate)
        props = item.mpi.GetClipProperty() if item.mpi else {}
        fps = props.get("FPS") or self.rate_text
        media_rate = _media_rate(fps)
        mr = float(media_rate)
        tc0 = _frames(props["Start TC"], media_rate) if props.get("Start TC") else 0
        # Resolve writes plain paths (not file:// URLs) and the media's own timecode.
        ref = otio.schema.ExternalReference(target_url=props.get("File Path", ""),
                                            available_range=TR(RT(tc0, mr), RT(int(props.get("Frames", 0)), mr)))
        src0 = tc0 + Fraction(item.left_offset) * media_rate / self.rate
        clip = otio.schema.Clip(item.name, media_reference=ref,
                                source_range=TR(RT(float(src0), mr), RT(item.duration, r)))
        clip.metadata["Resolve_OTIO"] = {"Link Group ID": 1}
        if item.speed != 1:
            clip.effects.append(otio.schema.LinearTimeWarp(name="Speed", time_scalar=float(item.speed)))
        return clip


class FakeProject:
    def __init__(self, name, timeline, resolve_version=(20, 2, 0)):
        self.name, self.timeline, self.resolve_version = name, timeline, resolve_version
        self.media_pool = FakeMediaPool(self)

    def GetName(self):
        return self.name

    def GetCurrentTimeline(self):
        return self.timeline

    def GetMediaPool(self):
        return self.media_pool


class FakeProjectManager:
    def __init__(self, project):
        self.project = project

    def GetCurrentProject(self):
        return self.project


class FakeResolve:
    """``resolve`` at ``version`` (major, minor, patch); before 18.5 it has no EXPORT_OTIO."""

    EXPORT_OTIO = 17
    EXPORT_NONE = 0

    def __init__(self, timeline: Optional[FakeTimeline], project_name="Foley test", export=True,
                 version=(20, 2, 0), studio=True):
        self.version, self.studio = tuple(version), studio
        self.project = FakeProject(project_name, timeline, self.version) if timeline is not None else None
        if not export or self.version < (18, 5, 0):
            self.EXPORT_OTIO = None  # attribute reads as absent (see resolve_scripts.clips)

    def GetVersion(self):
        return [*self.version, 7, ""]  # [major, minor, patch, build, suffix]

    def GetVersionString(self):
        return ".".join(map(str, self.version)) + ".7"

    def GetProductName(self):
        return "DaVinci Resolve Studio" if self.studio else "DaVinci Resolve"

    def GetProjectManager(self):
        return FakeProjectManager(self.project)

    def Fusion(self):
        return None


# ------------------------------------------------------------------ UIManager (Fusion's UI toolkit)
#
# Widgets belong to the thread that runs the dispatcher's event loop; nothing documents them as safe to
# touch from any other thread, so the fake records every such write (a test asserts there are none).


class CrossThreadWrite(AssertionError):
    pass


class _Handlers:
    def __init__(self):
        self.__dict__["_by_id"] = {}

    def __getattr__(self, wid):
        return self._by_id.setdefault(wid, _Events())


class _Events:
    pass


class FakeWidget:
    def __init__(self, kind, props=None, children=None, owner=None):
        d = self.__dict__
        d["owner"] = owner  # the FakeUIManager, which knows the UI thread
        d["kind"], d["children"] = kind, children or []
        d["ID"] = (props or {}).get("ID")
        d["Text"] = (props or {}).get("Text", "")
        d["items"], d["CurrentIndex"] = [], 0

    def __setattr__(self, name, value):
        if self.owner is not None:
            self.owner.check_thread(f"{self.kind} {self.ID!r}.{name} = {value!r}")
        self.__dict__[name] = value

    def AddItems(self, items):
        self.items.extend(items)

    @property
    def CurrentText(self):
        return self.items[self.CurrentIndex] if self.items else ""

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


class FakeTimer:
    """``ui.Timer({"ID", "Interval" (ms)})``: ``Start``/``Stop``; fires ``disp.On.<ID>.Timeout`` on the UI thread."""

    def __init__(self, props):
        self.ID, self.interval = props["ID"], float(props.get("Interval", 1000)) / 1000
        self.running, self.due, self.fired = False, 0.0, 0

    def Start(self):
        self.running, self.due = True, time.monotonic() + self.interval

    def Stop(self):
        self.running = False


class FakeWindow:
    def __init__(self, props, root):
        self.ID = props["ID"]
        self.props, self.root = props, root
        self.On = _Handlers()
        self.shown = False

    def GetItems(self):
        return {w.ID: w for w in self.root.walk() if w.ID}

    def Show(self):
        self.shown = True

    def Hide(self):
        self.shown = False

    def click(self, button):
        getattr(self.On, button).Clicked({"who": button})


class FakeUIManager:
    def __init__(self):
        self.ui_thread = threading.get_ident()  # where the script (and so RunLoop) runs
        self.violations = []
        self.timers = []

    def check_thread(self, what: str) -> None:
        if threading.get_ident() != self.ui_thread:
            self.violations.append(what)
            raise CrossThreadWrite(f"UI touched from a worker thread: {what}")

    def Timer(self, props):
        timer = FakeTimer(props)
        self.timers.append(timer)
        return timer

    def __getattr__(self, kind):
        if kind.startswith("_"):
            raise AttributeError(kind)

        def make(arg=None, *rest):
            if isinstance(arg, list):
                return FakeWidget(kind, None, arg, self)
            return FakeWidget(kind, arg if isinstance(arg, dict) else None, None, self)
        return make


class FakeDispatcher:
    """``RunLoop`` runs on the calling thread: it hands the shown window to ``user(window, disp)`` (the person
    clicking), then, until ``ExitLoop``, fires due timers and the actions a test queued with ``when``."""

    def __init__(self, ui, user):
        self.ui, self.user = ui, user
        self.windows = []
        self.exit = False
        self.On = _Handlers()
        self.pending = []  # (condition, action) run on the loop thread once condition() is true

    def AddWindow(self, props, root):
        win = FakeWindow(props, root)
        self.windows.append(win)
        return win

    def when(self, condition, action) -> None:
        self.pending.append((condition, action))

    def RunLoop(self):
        self.ui.check_thread("RunLoop")
        self.exit = False
        win = next(w for w in reversed(self.windows) if w.shown)
        self.user(win, self)
        deadline = time.monotonic() + 20
        while not self.exit:
            if time.monotonic() > deadline:
                raise AssertionError("the event loop was never ended (no ExitLoop on the UI thread)")
            for cond, action in list(self.pending):
                if cond():
                    self.pending.remove((cond, action))
                    action()
            for timer in self.ui.timers:
                if timer.running and time.monotonic() >= timer.due and not self.exit:
                    timer.due = time.monotonic() + timer.interval
                    timer.fired += 1
                    getattr(self.On, timer.ID).Timeout({"who": timer.ID})
            time.sleep(0.002)

    def ExitLoop(self):
        self.ui.check_thread("ExitLoop")
        self.exit = True


class FakeFusion:
    """``fusion``; ``ui_manager=False`` is the free edition from 19.1 (``UIManager`` is None)."""

    def __init__(self, ui_manager=True):
        self.UIManager = FakeUIManager() if ui_manager else None


class FakeBmd:
    def __init__(self, user):
        self.user = user
        self.dispatchers = []

    def UIDispatcher(self, ui):
        d = FakeDispatcher(ui, self.user)
        self.dispatchers.append(d)
        return d
