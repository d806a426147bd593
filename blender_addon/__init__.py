"""Foley for Blender's Video Sequencer: generate synchronized sound under movie strips.

The heavy work happens in the Foley engine process; this add-on only turns
strips into engine items (exact media ranges) and results into sound
strips.  It imports bpy and the engine's thin client, nothing else.
Submodules load in :func:`register`, so the pure time math in
:mod:`.strips` can be imported (and tested) without Blender.
"""


def _modules():
    from . import jobs, operators, panel, preferences

    return (preferences, operators, panel, jobs)


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()
