"""foley_engine: exact-time, long-form Foley generation for video.

The public entry points are :class:`Job` (and its one resolution,
:class:`ResolvedItem`, in :mod:`foley_engine.job`), :func:`generate_to_file`,
:class:`LongformScheduler` and :func:`load_backend`.
"""
from .errors import FoleyError

__version__ = "0.1.0"

__all__ = ["FoleyError", "__version__"]
