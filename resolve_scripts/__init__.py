"""DaVinci Resolve Workspace › Scripts entries that fill timelines with Foley.

The menu scripts (written by ``foley resolve install`` from ``menu_script.py.in``)
are thin: they find this package and call
:func:`resolve_scripts.foley_resolve.run_from_menu` with Resolve's script
globals.  Everything below takes the ``resolve`` object as an argument, so
it runs (and is tested) without Resolve.  Imports the engine client and
``otio_adapters`` only, never the engine itself.
"""
