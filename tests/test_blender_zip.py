"""The built extension zip, checked with Blender's own extension code (manifest validation, wheel filter,
de-duplication) for every supported (Blender, OS, arch): each gets exactly one pyzmq it can import.

Blender's code comes from the installed ``bpy`` and from ``FOLEY_BLENDER_SCRIPTS`` (see
``tests/blender_ext_code.py``); a Blender without its code here is skipped, and the installed one is
also run at Python 3.13 to stand for 5.1+ when no 5.1 code is at hand.
"""
from __future__ import annotations

import os
import re
import subprocess
import zipfile

import pytest

from blender_ext_code import available

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLATFORMS = ("windows-x64", "windows-arm64", "macos-x64", "macos-arm64", "linux-x64")
#: Python of each Blender release line
PYTHON = {"4.2": (3, 11), "4.3": (3, 11), "4.4": (3, 11), "4.5": (3, 11), "5.0": (3, 11), "5.1": (3, 13),
          "5.2": (3, 13)}
CODE = available()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from blender_addon import build

    out = tmp_path_factory.mktemp("dist")
    try:
        return build.build(str(out), wheels=True, cache=os.path.join(ROOT, "build", "blender-wheels"))
    except (SystemExit, subprocess.CalledProcessError) as exc:  # no index to download pyzmq wheels from
        pytest.skip(f"cannot download the pyzmq wheels here: {exc}")


def _wheels(zip_path):
    with zipfile.ZipFile(zip_path) as z:
        return sorted(n for n in z.namelist() if n.startswith("wheels/") and n.endswith(".whl"))


def _importable(wheel: str, platform: str, python: tuple) -> bool:
    """Whether CPython ``python`` on ``platform`` can import this wheel's compiled module."""
    python_tag, abi, plat = os.path.basename(wheel)[:-4].split("-")[-3:]
    cp = f"cp{python[0]}{python[1]}"
    py_ok = python_tag == cp or (abi == "abi3" and int(python_tag[3:]) <= python[1])
    arch = {"windows-x64": "win_amd64", "windows-arm64": "win_arm64", "linux-x64": "x86_64",
            "macos-x64": "x86_64", "macos-arm64": "arm64"}[platform]
    plat_ok = any(p.endswith(arch) or (platform.startswith("macos") and p.endswith("universal2"))
                  for p in plat.split("."))
    return py_ok and plat_ok and (platform.startswith("macos") == plat.startswith("macosx"))


def _line(code) -> str:
    m = re.match(r"(\d+)\.(\d+)", code.version)
    return f"{m.group(1)}.{m.group(2)}"


@pytest.mark.parametrize("code", CODE, ids=[c.version for c in CODE])
def test_blender_validates_the_manifest(code, built):
    assert code.validate_zip(built) == []


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("code", CODE, ids=[c.version for c in CODE])
def test_each_blender_installs_one_importable_zmq(code, platform, built):
    python = PYTHON[_line(code)]
    chosen = code.wheels_installed(["./" + w for w in _wheels(built)], platform, python)
    assert len(chosen) == 1, f"Blender {code.version} on {platform} (Python {python}) would install {chosen}"
    assert _importable(chosen[0], platform, python), chosen[0]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_python_3_13_blenders_get_a_zmq(platform, built):
    """Blender 5.1+ runs Python 3.13: with the newest installer code at hand, one abi3 wheel fits."""
    code = [c for c in CODE if c.checks_python_tags][-1]
    chosen = code.wheels_installed(["./" + w for w in _wheels(built)], platform, (3, 13))
    assert len(chosen) == 1 and _importable(chosen[0], platform, (3, 13)), chosen


def test_manifest_names_every_platform_and_no_maximum(built):
    with zipfile.ZipFile(built) as z:
        manifest = z.read("blender_manifest.toml").decode()
    assert "blender_version_max" not in manifest  # every Blender from 4.2 is served
    platforms = re.search(r"^platforms = \[(.*)\]$", manifest, re.M).group(1)
    assert sorted(p.strip(' "') for p in platforms.split(",")) == sorted(PLATFORMS)


def test_retagged_mac_wheels_are_consistent(built, tmp_path):
    """The universal2 wheel re-tagged for the 4.2.0 installer: its WHEEL tag and RECORD match its new name."""
    import base64
    import hashlib

    with zipfile.ZipFile(built) as z:
        z.extractall(tmp_path)
    arm = [w for w in _wheels(built) if w.endswith("macosx_11_0_arm64.whl")]
    assert arm, "no arm64-tagged macOS wheel for Blender 4.2.0's installer"
    with zipfile.ZipFile(tmp_path / arm[0]) as w:
        info = next(n for n in w.namelist() if n.endswith(".dist-info/WHEEL"))
        record = next(n for n in w.namelist() if n.endswith(".dist-info/RECORD"))
        text = w.read(info)
        assert [ln for ln in text.decode().splitlines() if ln.startswith("Tag:")] == \
            ["Tag: cp311-cp311-macosx_11_0_arm64"]
        digest = base64.urlsafe_b64encode(hashlib.sha256(text).digest()).rstrip(b"=").decode()
        assert f"{info},sha256={digest},{len(text)}" in w.read(record).decode().splitlines()
