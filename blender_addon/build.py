"""Build the Blender extension zip: the add-on, the engine client and pyzmq wheels.

    python blender_addon/build.py                 # -> dist/foley_sequencer-<version>.zip
    python blender_addon/build.py --no-wheels     # for a Blender that already has pyzmq (tests)

The whole plug-in package ``plugin-host/plugin_host/`` (exact time, wire protocol, typed
items, client, batch runner; standard library + pyzmq) is copied, file for
file and byte for byte, into the zip as the sub-package ``foley_client``.  pyzmq wheels for every
platform Blender ships are fetched at build time with ``pip download`` (the
same pyzmq version as this environment's, which the tests ran against) and
listed in the manifest's ``wheels``; Blender installs the one that fits.
Nothing downloaded is committed.

Which wheels, and why (Blender installs a wheel only if its Python tag and
platform tag fit, see ``bl_pkg``'s wheel filter):

- Blender 4.2 – 5.0 run Python 3.11: ``cp311`` wheels;
- Blender 5.1 – 5.2 run Python 3.13: pyzmq's ``cp312-abi3`` wheels (stable ABI,
  so 3.12 and later), of an *older* pyzmq release than the ``cp311`` ones: Blender
  4.2.0's installer does not check Python tags and, of two wheels of one
  package, keeps the higher version (the greater file name on a tie, which
  would be the abi3 one), so the ``cp311`` wheel must be the newer;
- macOS: pyzmq publishes ``universal2`` wheels only (from 26.4), which the first
  4.2 installers skip (they want an ``_arm64``/``_x86_64`` suffix), so the
  ``cp311`` universal2 wheel is also bundled re-tagged as ``macosx_11_0_arm64``
  and ``macosx_10_15_x86_64`` (the same fat binaries; only the tag in the file
  name, WHEEL and RECORD changes) instead of as universal2, so no Blender sees two.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata

from plugin_host.atomic import atomic_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Python of each supported Blender: 4.2 LTS - 5.0 run 3.11, 5.1 - 5.2 run 3.13
BLENDER_PYTHONS = {"3.11": "Blender 4.2 - 5.0", "3.13": "Blender 5.1 - 5.2"}
#: Blender platform -> pip platform tags, best first
PLATFORMS = {
    "windows-x64": ["win_amd64"],
    "windows-arm64": ["win_arm64"],
    "macos-arm64": ["macosx_11_0_arm64", "macosx_10_15_universal2", "macosx_10_9_universal2"],
    "macos-x64": ["macosx_10_15_x86_64", "macosx_10_9_x86_64", "macosx_10_15_universal2", "macosx_10_9_universal2"],
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
}
#: pyzmq release of the cp312-abi3 wheels (Python 3.13 Blenders); older than the cp311 ones, see above
ABI3_PYZMQ = "27.1.0"
#: the arch tag a re-tagged universal2 wheel gets, for installers that skip universal2
MAC_ARCH_TAGS = {"macos-arm64": "macosx_11_0_arm64", "macos-x64": "macosx_10_15_x86_64"}
#: the plug-in package's folder (a distribution of its own: plugin-host/pyproject.toml)
PLUGIN_HOST = os.path.join(ROOT, "plugin-host", "plugin_host")
#: the add-on's name for its copy of plugin_host/
VENDORED = "foley_client"
SKIP = {"build.py", "__pycache__"}


def manifest_field(text: str, key: str) -> str:
    match = re.search(rf'^{key}\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise SystemExit(f"blender_manifest.toml has no {key}")
    return match.group(1)


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def download_wheels(version: str, cache: str, abi3_version: str = ABI3_PYZMQ) -> dict[tuple[str, str], str]:
    """``{(blender platform, python): wheel file name}``; one ``pip download`` per platform and Python."""
    if _version_key(abi3_version) >= _version_key(version):
        raise SystemExit(f"the abi3 pyzmq ({abi3_version}) must be older than the cp311 one ({version}) so that "
                         "Blender 4.2.0 installs the cp311 wheel; pass --abi3-pyzmq-version")
    os.makedirs(cache, exist_ok=True)
    found = {}
    for python in BLENDER_PYTHONS:
        release = version if python == "3.11" else abi3_version
        for platform, tags in PLATFORMS.items():
            before = set(os.listdir(cache))
            cmd = [sys.executable, "-m", "pip", "download", f"pyzmq=={release}", "--only-binary=:all:", "--no-deps",
                   "--python-version", python, "--implementation", "cp", "-d", cache, "-q"]
            for tag in tags:
                cmd += ["--platform", tag]
            subprocess.run(cmd, check=True)
            wheel = _match(cache, release, tags, before, python)
            if wheel is None:
                raise SystemExit(f"pip found no pyzmq {release} wheel for {platform}, Python {python} "
                                 f"({', '.join(tags)})")
            if platform in MAC_ARCH_TAGS and wheel.endswith("_universal2.whl") and python == "3.11":
                wheel = retag(os.path.join(cache, wheel), MAC_ARCH_TAGS[platform])
            found[(platform, python)] = wheel
    return found


def _match(cache: str, version: str, tags: list, before: set, python: str = "3.11"):
    """The cached wheel for these tags (pip leaves an already-downloaded file in place)."""
    cp = "cp" + python.replace(".", "")
    names = [n for n in os.listdir(cache) if n.startswith(f"pyzmq-{version}-") and n.endswith(".whl")]
    for tag in tags:
        for name in names:
            python_tag, abi, platform_tags = name[:-4].split("-")[-3:]
            fits = python_tag == cp or (abi == "abi3" and len(python_tag) == len(cp) and python_tag <= cp)
            if fits and tag in platform_tags.split("."):
                return name
    new = [n for n in names if n not in before]
    return new[0] if len(new) == 1 else None


def retag(wheel_path: str, platform_tag: str) -> str:
    """A copy of a wheel under another platform tag (file name, ``WHEEL`` tags, ``RECORD``); its file name."""
    folder, name = os.path.split(wheel_path)
    parts = name[:-4].split("-")
    new_name = "-".join(parts[:-1] + [platform_tag]) + ".whl"
    out = os.path.join(folder, new_name)
    if os.path.exists(out):
        return new_name
    new_tag = "-".join(parts[-3:-1] + [platform_tag])
    with zipfile.ZipFile(wheel_path) as src:
        infos = src.infolist()
        files = {i.filename: src.read(i) for i in infos}
    wheel_file = next(n for n in files if n.endswith(".dist-info/WHEEL"))
    record_file = next(n for n in files if n.endswith(".dist-info/RECORD"))
    lines = [ln for ln in files[wheel_file].decode().splitlines() if not ln.startswith("Tag:")]
    files[wheel_file] = ("\n".join(lines + [f"Tag: {new_tag}"]) + "\n").encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(files[wheel_file]).digest()).rstrip(b"=").decode()
    record = []
    for row in files[record_file].decode().splitlines():
        if row.split(",")[0] == wheel_file:
            row = f"{wheel_file},sha256={digest},{len(files[wheel_file])}"
        record.append(row)
    files[record_file] = ("\n".join(record) + "\n").encode()
    with atomic_path(out) as partial, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in infos:
            dst.writestr(info, files[info.filename])
    return new_name


def with_wheels(manifest: str, wheels: dict) -> str:
    """The manifest with ``platforms`` and ``wheels`` added before its first table."""
    files = sorted(set(wheels.values()))
    platforms = list(dict.fromkeys(p for p, _ in wheels))
    lines = [f"platforms = [{', '.join(json.dumps(p) for p in platforms)}]",
             "wheels = [", *[f"  {json.dumps('./wheels/' + name)}," for name in files], "]", ""]
    head, sep, tail = manifest.partition("\n[")
    return head.rstrip("\n") + "\n\n" + "\n".join(lines) + sep + tail


def stage(folder: str, manifest: str) -> None:
    for name in sorted(os.listdir(HERE)):
        if name in SKIP or name.endswith(".pyc") or name == "blender_manifest.toml":
            continue
        src = os.path.join(HERE, name)
        if os.path.isfile(src):
            shutil.copy2(src, os.path.join(folder, name))
    with open(os.path.join(folder, "blender_manifest.toml"), "w", encoding="utf-8") as f:
        f.write(manifest)
    shutil.copytree(PLUGIN_HOST, os.path.join(folder, VENDORED),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build(out_dir: str, wheels: bool = True, pyzmq_version: str = "", cache: str = "",
          abi3_version: str = ABI3_PYZMQ) -> str:
    with open(os.path.join(HERE, "blender_manifest.toml"), encoding="utf-8") as f:
        manifest = f.read()
    ext_id, version = manifest_field(manifest, "id"), manifest_field(manifest, "version")
    cache = cache or os.path.join(ROOT, "build", "blender-wheels")
    found = download_wheels(pyzmq_version or metadata.version("pyzmq"), cache, abi3_version) if wheels else {}
    if found:
        manifest = with_wheels(manifest, found)
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f"{ext_id}-{version}.zip")
    with tempfile.TemporaryDirectory() as tmp:
        stage(tmp, manifest)
        if found:
            os.makedirs(os.path.join(tmp, "wheels"))
            for name in set(found.values()):
                shutil.copy2(os.path.join(cache, name), os.path.join(tmp, "wheels", name))
        with atomic_path(out) as partial, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for base, dirs, files in os.walk(tmp):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(base, name)
                    z.write(path, os.path.relpath(path, tmp))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "dist"), help="output folder (default dist/)")
    parser.add_argument("--no-wheels", action="store_true", help="leave pyzmq out (Blender must already have it)")
    parser.add_argument("--pyzmq-version", default="", help="default: the version installed here")
    parser.add_argument("--abi3-pyzmq-version", default=ABI3_PYZMQ,
                        help=f"pyzmq release for Python 3.13 Blenders (default {ABI3_PYZMQ}; older than the cp311 one)")
    parser.add_argument("--wheel-cache", default="", help="where downloaded wheels are kept (default build/blender-wheels)")
    args = parser.parse_args(argv)
    out = build(args.out, wheels=not args.no_wheels, pyzmq_version=args.pyzmq_version, cache=args.wheel_cache,
                abi3_version=args.abi3_pyzmq_version)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
