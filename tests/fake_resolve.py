"""A FAKE of DaVinci Resolve's documented scripting API, for tests only.

It covers exactly the calls ``resolve_scripts`` makes, with the behaviour the
Resolve README (and the notes in docs/resolve.md) documents: absolute record
frames (``GetStart``, ``recordFrame``), ``GetLeftOffset`` in timeline frames,
``GetMarkInOut`` relative to the timeline start with the out frame included,
audio files in the media pool at 24 "frames" a second, ``AppendToTimeline``'s
``endFrame`` exclusive.  ``Timeline.Export(path, EXPORT_OTIO)`` writes OTIO
the way Resolve does (plain-path target URLs, the media's start timecode in
``available_range``, a LinearTimeWarp for a speed change).  Nothing here has
been checked against a running Resolve.
"""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Optional

import opentimelineio as otio

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _round(x: Fraction) -> int:
    return int((x + Fraction(1, 2)) // 1)


def _tc(frame: int, rate: Fraction, drop: bool) -> str:
    return otio.opentime.to_timecode(RT(frame, float(rate)), float(rate), drop)


def _frames(tc: str, rate: Fraction) -> int:
    return int(otio.opentime.from_timecode(tc, float(rate)).value)


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


class FakeTimelineItem:
    def __init__(self, name, start, duration, mpi=None, left_offset=0, color="", flags=(), markers=None,
                 enabled=True, speed=Fraction(1)):
        self.name, self.start, self.duration, self.mpi = name, start, duration, mpi
        self.left_offset, self.color, self.flags = left_offset, color, list(flags)
        self.markers, self.enabled, self.speed = dict(markers or {}), enabled, Fraction(speed)

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

    def GetMarkers(self):
        return dict(self.markers)

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

    def AppendToTimeline(self, infos):
        timeline = self.project.timeline
        out = []
        for info in infos:
            self.appended.append(dict(info))
            mpi = info["mediaPoolItem"]
            fps = Fraction(mpi.GetClipProperty("FPS"))
            length = (Fraction(str(info["endFrame"])) - Fraction(str(info["startFrame"]))) / fps
            kind = "audio" if info.get("mediaType") == 2 else "video"
            item = FakeTimelineItem(mpi.GetName(), int(info["recordFrame"]), _round(length * timeline.rate), mpi)
            timeline.tracks[kind][int(info["trackIndex"]) - 1]["items"].append(item)
            out.append(item)
        return out


class FakeTimeline:
    def __init__(self, name="Cut", rate="24", drop=False, start_tc="01:00:00:00", has_mark_in_out=True):
        self.name = name
        self.rate_text, self.drop = rate, drop
        self.rate = Fraction(30000, 1001) if rate == "29.97" else Fraction(rate)
        self.start_tc = start_tc
        self.start_frame = _frames(start_tc, self.rate)
        self.tracks = {"video": [], "audio": []}
        self.playhead = self.start_frame
        self.marks: dict = {}
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
        media_rate = Fraction(30000, 1001) if fps == "29.97" else Fraction(fps)
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
    def __init__(self, name, timeline):
        self.name, self.timeline = name, timeline
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
    """``resolve``; ``export=False`` is a version before 18.5 (no EXPORT_OTIO)."""

    EXPORT_OTIO = 17
    EXPORT_NONE = 0

    def __init__(self, timeline: Optional[FakeTimeline], project_name="Foley test", export=True):
        self.project = FakeProject(project_name, timeline) if timeline is not None else None
        if not export:
            self.EXPORT_OTIO = None  # attribute reads as absent (see resolve_scripts.clips)

    def GetProjectManager(self):
        return FakeProjectManager(self.project)

    def Fusion(self):
        return None


# ------------------------------------------------------------------ UIManager (Fusion's UI toolkit)


class _Handlers:
    def __init__(self):
        self.__dict__["_by_id"] = {}

    def __getattr__(self, wid):
        return self._by_id.setdefault(wid, _Events())


class _Events:
    pass


class FakeWidget:
    def __init__(self, kind, props=None, children=None):
        self.kind, self.children = kind, children or []
        self.ID = (props or {}).get("ID")
        self.Text = (props or {}).get("Text", "")
        self.items, self.CurrentIndex = [], 0

    def AddItems(self, items):
        self.items.extend(items)

    @property
    def CurrentText(self):
        return self.items[self.CurrentIndex] if self.items else ""

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


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
    def __getattr__(self, kind):
        def make(arg=None, *rest):
            if isinstance(arg, list):
                return FakeWidget(kind, None, arg)
            return FakeWidget(kind, arg if isinstance(arg, dict) else None)
        return make


class FakeDispatcher:
    """``RunLoop`` hands the shown window to ``user(window)``, a test's stand-in for the person clicking."""

    def __init__(self, ui, user):
        self.ui, self.user = ui, user
        self.windows = []
        self.exit = False

    def AddWindow(self, props, root):
        win = FakeWindow(props, root)
        self.windows.append(win)
        return win

    def RunLoop(self):
        self.exit = False
        win = next(w for w in reversed(self.windows) if w.shown)
        self.user(win, self)

    def ExitLoop(self):
        self.exit = True


class FakeFusion:
    def __init__(self):
        self.UIManager = FakeUIManager()


class FakeBmd:
    def __init__(self, user):
        self.user = user
        self.dispatchers = []

    def UIDispatcher(self, ui):
        d = FakeDispatcher(ui, self.user)
        self.dispatchers.append(d)
        return d
