"""OpenTimelineIO round-trip: timeline in, the same timeline with Foley tracks out.

    import opentimelineio as otio
    from otio_adapters import EngineGenerator, FillOptions, Selection, fill

    timeline = otio.adapters.read_from_file("cut.otio")
    report = fill(timeline, EngineGenerator(), FillOptions(out_dir="cut_foley", prompt="footsteps"))
    otio.adapters.write_to_file(report.timeline, "cut_foley.otio")

``fill`` is ``plan`` (which clips to generate: ``.requests``; nothing is generated),
the generator, then ``place`` (the results on Foley tracks); callers that run the
engine their own way (``foley batch``) call ``plan`` and ``place`` apart.

Imports OpenTimelineIO and the engine client only, never the engine itself.
"""
from .engine import EngineGenerator
from .generator import Generator, Request, Result
from .roundtrip import FillOptions, FillPlan, FillReport, fill, place, plan
from .selection import Selection, VideoClip, video_clips
from .timeline_io import read_timeline, write_timeline

__all__ = ["EngineGenerator", "FillOptions", "FillPlan", "FillReport", "Generator", "Request", "Result", "Selection",
           "VideoClip", "fill", "place", "plan", "read_timeline", "video_clips", "write_timeline"]
