"""The plug-in package is a distribution of its own (plugin-host/): an editor's Python installs just it.

Its wheel, built from the checkout, holds ``plugin_host`` and nothing else and needs
pyzmq only; the engine's distribution depends on it (and ships no copy of it).
"""
import email
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST = os.path.join(ROOT, "plugin-host")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Built from a copy, so the checkout gets no build/ or egg-info folders.
    work = tmp_path_factory.mktemp("plugin-host")
    src = work / "src"
    shutil.copytree(DIST, src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(work / "out"),
                    str(src)], check=True, capture_output=True)
    (path,) = (work / "out").glob("*.whl")
    return path


def test_the_plug_in_wheel_holds_only_plugin_host_and_needs_only_pyzmq(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = email.message_from_bytes(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    assert meta["Name"] == "foley-plugin-host"
    assert [r.split(";")[0].replace(" ", "") for r in meta.get_all("Requires-Dist") or []] == ["pyzmq>=25"]
    code = {n for n in names if ".dist-info/" not in n}
    source = {f"plugin_host/{n}" for n in os.listdir(os.path.join(DIST, "plugin_host")) if n.endswith(".py")}
    assert code == source, code ^ source


@pytest.mark.skipif(tomllib is None, reason="tomllib is Python 3.11+")
def test_the_engine_depends_on_the_plug_in_distribution_and_ships_no_copy():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    with open(os.path.join(DIST, "pyproject.toml"), "rb") as f:
        plugin = tomllib.load(f)["project"]
    assert f"{plugin['name']}=={plugin['version']}" in project["project"]["dependencies"]
    assert not any(p.startswith("plugin_host") for p in project["tool"]["setuptools"]["packages"]["find"]["include"])
    assert not os.path.exists(os.path.join(ROOT, "plugin_host"))  # one copy of the source, in plugin-host/
