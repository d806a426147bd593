"""Blender's own extension-installer code, loaded from a ``bpy`` package without starting Blender.

The code that decides which bundled wheels a Blender installs lives in
``scripts/addons_core/bl_pkg`` (manifest validation in ``cli/blender_ext.py``,
the wheel filter in ``bl_extension_ops.py``) and
``scripts/modules/_bpy_internal/extensions/wheel_manager.py`` (of two wheels of
one package, which is kept).  Only the filter's module imports ``bpy``, so that
one function is compiled from the source alone, with the platform and Python
version of the Blender being simulated.

Sources: the ``bpy`` installed in this environment, and any ``scripts`` folders
listed in ``FOLEY_BLENDER_SCRIPTS`` (``os.pathsep``-separated).  To get another
Blender's folder without installing it (e.g. 4.2.0 or the Python 3.13 builds):

    pip download bpy==4.2.0 --no-deps --only-binary=:all: --python-version 3.11 -d wheels
    python tests/blender_ext_code.py extract wheels/bpy-4.2.0-*.whl ~/blender-scripts
"""
from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import os
import re
import sys
import types
import zipfile
from dataclasses import dataclass
from types import SimpleNamespace

FILTERS = ("_extensions_wheel_filter_for_this_system", "_extensions_wheel_filter_for_platform")
#: sysconfig.get_platform() of each Blender platform
SYSCONFIG_PLATFORM = {"windows-x64": "win-amd64", "windows-arm64": "win-arm64", "linux-x64": "linux-x86_64",
                      "macos-x64": "macosx-10.15-x86_64", "macos-arm64": "macosx-11.0-arm64"}


@dataclass
class BlenderCode:
    version: str  #: "4.2", "5.1", ... (the scripts folder's parent)
    scripts: str

    def __post_init__(self):
        self._key = "blext_" + re.sub(r"\W", "_", os.path.abspath(self.scripts))
        pkg = types.ModuleType(self._key)
        pkg.__path__ = [os.path.join(self.scripts, "addons_core", "bl_pkg")]
        sys.modules.setdefault(self._key, pkg)
        self.blender_ext = importlib.import_module(f"{self._key}.cli.blender_ext")
        self.wheel_manager = _load(f"{self._key}_wheel_manager", os.path.join(
            self.scripts, "modules", "_bpy_internal", "extensions", "wheel_manager.py"))
        self._filter_source = _function_source(os.path.join(self.scripts, "addons_core", "bl_pkg",
                                                            "bl_extension_ops.py"), FILTERS)

    @property
    def checks_python_tags(self) -> bool:
        return "python_version_current" in self._filter_source

    def validate_zip(self, path: str) -> list:
        """Blender's manifest validation of an extension zip: the errors (empty when valid)."""
        fn = self.blender_ext.pkg_manifest_from_zipfile_and_validate_all_errors
        with zipfile.ZipFile(path) as z:
            result = fn(z, archive_subdir="", strict=False)
        return result if isinstance(result, list) else []

    def wheels_installed(self, wheels: list, platform: str, python: tuple) -> list:
        """The wheels this Blender would install on ``platform`` under Python ``python``: filter, then de-duplicate."""
        fake_sys = SimpleNamespace(version_info=tuple(python) + (0, "final", 0))
        fake_sysconfig = SimpleNamespace(get_platform=lambda: SYSCONFIG_PLATFORM[platform])
        real_import = builtins.__import__

        def imports(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0 and name == "sys":
                return fake_sys
            if level == 0 and name == "sysconfig":
                return fake_sysconfig
            return real_import(name, globals, locals, fromlist, level)

        namespace = {"__name__": f"{self._key}.bl_extension_ops", "__package__": self._key,
                     "__builtins__": dict(vars(builtins), __import__=imports, print=lambda *a, **k: None),
                     "bpy": SimpleNamespace(app=SimpleNamespace(debug_python=False))}
        exec(compile(self._filter_source, "bl_extension_ops.py", "exec"), namespace)
        fn = next(namespace[n] for n in FILTERS if n in namespace)
        kept = fn(list(wheels))
        skip = self.wheel_manager.wheel_list_deduplicate_as_skip_set([("foley", kept)])
        return [w for w in kept if w not in skip]


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _function_source(path: str, names: tuple) -> str:
    with open(path, encoding="utf-8") as f:
        source = f.read()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            return ast.get_source_segment(source, node)
    raise LookupError(f"{path}: none of {names}")


def available() -> list:
    """Every Blender whose extension code can be found here, oldest first."""
    folders = [p for p in os.environ.get("FOLEY_BLENDER_SCRIPTS", "").split(os.pathsep) if p]
    spec = importlib.util.find_spec("bpy")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            for name in sorted(os.listdir(root)):
                if re.fullmatch(r"\d+\.\d+", name):
                    folders.append(os.path.join(root, name, "scripts"))
    found = {}
    for folder in folders:
        folder = os.path.abspath(folder)
        version = os.path.basename(os.path.dirname(folder))
        if os.path.isfile(os.path.join(folder, "addons_core", "bl_pkg", "bl_extension_ops.py")):
            found.setdefault(folder, BlenderCode(version, folder))
    return sorted(found.values(), key=lambda c: (tuple(map(int, re.findall(r"\d+", c.version)[:2])), c.scripts))


def extract(wheel: str, dest: str) -> str:
    """Copy the extension-installer code out of a ``bpy`` wheel into ``dest/<label>/scripts``."""
    label = os.path.basename(wheel).split("-")[1]
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            m = re.match(r"bpy/(\d+\.\d+)/scripts/(addons_core/bl_pkg/.*|modules/_bpy_internal/extensions/.*)$", name)
            if m and not name.endswith("/"):
                out = os.path.join(dest, label, "scripts", m.group(2))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with open(out, "wb") as f:
                    f.write(z.read(name))
    return os.path.join(dest, label, "scripts")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "extract":
        print(extract(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("usage: python tests/blender_ext_code.py extract BPY_WHEEL DEST")
