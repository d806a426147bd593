"""``foley batch --stems``: one folder per stem (``FOLEY_FEET/``, ``FOLEY_PROPS/``, ...).

The engine writes an item's whole set into the item's folder, atomically; this moves each
stem's files into its class folder (a rename on the same file system: each file appears
whole or not at all) and returns the result with the new paths, which the resume state and
the timelines then use.  A move interrupted half way is finished by the re-run: a file already
in its class folder is taken as moved.
"""
from __future__ import annotations

import dataclasses
import os

from plugin_host.items import Result


def stem_folder(out_dir: str, stem: str) -> str:
    """The folder a stem's files go to: ``<out_dir>/FOLEY_<CLASS>``."""
    return os.path.join(out_dir, f"FOLEY_{stem.upper()}")


def sort_into_stem_folders(result: Result, out_dir: str) -> Result:
    """``result`` with every stem file moved into its class folder under ``out_dir``."""
    if not any(o.stem for o in result.outputs):
        return result
    moved = []
    for o in result.outputs:
        if not o.stem:
            moved.append(o)
            continue
        folder = stem_folder(out_dir, o.stem)
        os.makedirs(folder, exist_ok=True)
        dst = os.path.join(folder, os.path.basename(o.path))
        if os.path.abspath(o.path) != os.path.abspath(dst) and (os.path.exists(o.path) or not os.path.exists(dst)):
            os.replace(o.path, dst)
        moved.append(dataclasses.replace(o, path=dst))
    return dataclasses.replace(result, path=moved[0].path, outputs=tuple(moved))
