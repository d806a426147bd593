"""The plug-in package: what runs inside the host applications.

Resolve's Python, Blender's Python, any script: the standard library and
pyzmq only (never numpy, never the engine), vendored whole into the Blender
extension.  Modules:

- ``timebase``: the exact-time rules (rate snapping, the rounding rule, index
  helpers, timecode at any rate, the 48 kHz grid), the one copy there is;
- ``fields``: ``ProtocolError`` and the field checkers every wire schema is written with;
- ``items``: typed ``Item`` / ``Result`` (checked when made), the only place wire items are made or read;
- ``schema``: the request and event types and what each request may carry;
- ``envelope``: the signed message frames (HMAC, sizes, replay guard);
- ``connection``: the connection file (where the engine listens, its key);
- ``client``: one connection to the engine (starts one on demand);
- ``batch``: the one batch runner (submit, progress, cancel, result checks).

Nothing is imported here, so ``import plugin_host.timebase`` needs no zmq.
"""
