"""``foley batch``: a season of media files and timelines through the engine, resumable.

Above the adapters: it reads timelines with :mod:`otio_adapters` (``plan()`` before
generating, ``place()`` after), runs every item on the plug-in package's one
batch runner (:class:`plugin_host.batch.BatchRunner`), and keeps its own resume
state and summary.

- :mod:`.inputs`: command-line inputs -> media files and timelines
- :mod:`.units`: the batch's items (one per media file or timeline clip) and the resume state
- :mod:`.report`: the progress line and the summary files
- :mod:`.cli`: the ``foley batch`` command
"""
