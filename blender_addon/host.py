"""The plug-in package (``plugin_host``) as this add-on sees it.

The built extension carries a byte-identical copy of the whole package as
its sub-package ``foley_client`` (``build.py`` copies the folder); a
development checkout uses the repository's own.  Either way there is one set of timing rules, one wire
protocol, one client and one batch runner.
"""
from __future__ import annotations

import importlib


def _package_name() -> str:
    try:
        importlib.import_module(f"{__package__}.foley_client")  # only present in the built extension
        return f"{__package__}.foley_client"
    except ImportError:
        return "plugin_host"


PACKAGE = _package_name()


def module(name: str):
    """``plugin_host.<name>`` (an ImportError names what is missing, e.g. zmq for the client)."""
    return importlib.import_module(f"{PACKAGE}.{name}")


timebase = module("timebase")
