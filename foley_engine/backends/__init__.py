"""Backends turn one window of video into audio; see :mod:`.base` for the protocol."""
from .base import Availability, Backend, FrameBatch, FrameSpec, WindowRequest
from .registry import ENTRY_POINT_GROUP, discover, load_backend

__all__ = ["Availability", "Backend", "FrameBatch", "FrameSpec", "WindowRequest", "ENTRY_POINT_GROUP", "discover", "load_backend"]
