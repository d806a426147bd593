"""Build the Blender extension zip: the add-on, the engine client and pyzmq wheels.

    python blender_addon/build.py                 # -> dist/foley_sequencer-<version>.zip
    python blender_addon/build.py --no-wheels     # for a Blender that already has pyzmq (tests)

The whole plug-in package ``plugin_host/`` (exact time, wire protocol, typed
items, client, batch runner; standard library + pyzmq) is copied, file for
file and byte for byte, into the zip as the sub-package ``foley_client``.  pyzmq wheels for every
platform Blender ships are fetched at build time with ``pip download`` (the
same pyzmq version as this environment's, which the tests ran against) and
listed in the manifest's ``wheels``; Blender installs the one that fits.
Nothing downloaded is committed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Python of Blender 4.2 LTS to 5.x
BLENDER_PYTHON = "3.11"
#: Blender platform -> pip platform tags, best first
PLATFORMS = {
    "windows-x64": ["win_amd64"],
    "windows-arm64": ["win_arm64"],
    "macos-arm64": ["macosx_11_0_arm64", "macosx_10_15_universal2", "macosx_10_9_universal2"],
    "macos-x64": ["macosx_10_15_x86_64", "macosx_10_9_x86_64", "macosx_10_15_universal2", "macosx_10_9_universal2"],
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
}
#: the add-on's name for its copy of plugin_host/
VENDORED = "foley_client"
SKIP = {"build.py", "__pycache__"}


def manifest_field(text: str, key: str) -> str:
    match = re.search(rf'^{key}\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise SystemExit(f"blender_manifest.toml has no {key}")
    return match.group(1)


def download_wheels(version: str, cache: str) -> dict[str, str]:
    """``{blender platform: wheel file name}``; one ``pip download`` per platform."""
    os.makedirs(cache, exist_ok=True)
    found = {}
    for platform, tags in PLATFORMS.items():
        before = set(os.listdir(cache))
        cmd = [sys.executable, "-m", "pip", "download", f"pyzmq=={version}", "--only-binary=:all:", "--no-deps",
               "--python-version", BLENDER_PYTHON, "--implementation", "cp", "-d", cache, "-q"]
        for tag in tags:
            cmd += ["--platform", tag]
        subprocess.run(cmd, check=True)
        wheel = _match(cache, version, tags, before)
        if wheel is None:
            raise SystemExit(f"pip found no pyzmq {version} wheel for {platform} ({', '.join(tags)})")
        found[platform] = wheel
    return found


def _match(cache: str, version: str, tags: list, before: set):
    """The cached wheel for these tags (pip leaves an already-downloaded file in place)."""
    names = [n for n in os.listdir(cache) if n.startswith(f"pyzmq-{version}-") and n.endswith(".whl")]
    for tag in tags:
        for name in names:
            if tag in name and ("cp311" in name or "abi3" in name):
                return name
    new = [n for n in names if n not in before]
    return new[0] if len(new) == 1 else None


def with_wheels(manifest: str, wheels: dict[str, str]) -> str:
    """The manifest with ``platforms`` and ``wheels`` added before its first table."""
    files = sorted(set(wheels.values()))
    lines = [f"platforms = [{', '.join(json.dumps(p) for p in wheels)}]",
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
    shutil.copytree(os.path.join(ROOT, "plugin_host"), os.path.join(folder, VENDORED),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build(out_dir: str, wheels: bool = True, pyzmq_version: str = "", cache: str = "") -> str:
    with open(os.path.join(HERE, "blender_manifest.toml"), encoding="utf-8") as f:
        manifest = f.read()
    ext_id, version = manifest_field(manifest, "id"), manifest_field(manifest, "version")
    cache = cache or os.path.join(ROOT, "build", "blender-wheels")
    found = download_wheels(pyzmq_version or metadata.version("pyzmq"), cache) if wheels else {}
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
        partial = out + ".partial"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for base, dirs, files in os.walk(tmp):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(base, name)
                    z.write(path, os.path.relpath(path, tmp))
        os.replace(partial, out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "dist"), help="output folder (default dist/)")
    parser.add_argument("--no-wheels", action="store_true", help="leave pyzmq out (Blender must already have it)")
    parser.add_argument("--pyzmq-version", default="", help="default: the version installed here")
    parser.add_argument("--wheel-cache", default="", help="where downloaded wheels are kept (default build/blender-wheels)")
    args = parser.parse_args(argv)
    out = build(args.out, wheels=not args.no_wheels, pyzmq_version=args.pyzmq_version, cache=args.wheel_cache)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
