"""User-facing errors. Each message is one line a user can act on."""
from plugin_host.timebase import TimeError


class FoleyError(Exception):
    """Base for errors shown to users as a one-line message (no traceback)."""

    code = "error"


class MediaError(FoleyError):
    """The input media is missing, unreadable, or has no usable video."""

    code = "media"


class RangeError(FoleyError, TimeError):
    """A time, range, rate or timecode is malformed or outside the media (a :class:`TimeError` too)."""

    code = "range"


class OutputError(FoleyError):
    """The output location cannot be written."""

    code = "output"


class BackendError(FoleyError):
    """A backend is unknown, cannot run here, or failed."""

    code = "backend"


class Cancelled(FoleyError):
    """The job was cancelled by the user."""

    code = "cancelled"


class EngineCommandError(FoleyError):
    """The engine process cannot be reached, or refused or failed a request."""

    code = "engine"
