"""The layers hold: one exact-time module, the plug-in package light, no import circles,
the Blender zip's copy of the plug-in package identical, and backend options identical on both paths."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from fractions import Fraction

import numpy as np

from foley_engine.backends.base import Backend, BackendOption
from foley_engine.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("plugin_host", "foley_engine", "otio_adapters", "resolve_scripts", "blender_addon", "foley_batch")
STDLIB = set(sys.stdlib_module_names)


def python_files(package: str):
    for base, dirs, files in os.walk(os.path.join(ROOT, package)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(base, name)


def imported_top_levels(path: str) -> set[str]:
    """Top-level names a file imports (relative imports are its own package)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_one_definition_of_the_rounding_rule_and_the_rate_snapping():
    definitions = {"def round_half_away(": [], "def exact_rate(": [], "NTSC_BASES = ": []}
    for package in (*PACKAGES, "benchmarks", "tests"):
        for path in python_files(package):
            text = open(path, encoding="utf-8").read()
            for needle, where in definitions.items():
                if re.search(rf"^\s*{re.escape(needle)}", text, re.M):
                    where.append(os.path.relpath(path, ROOT))
    assert definitions == {k: ["plugin_host/timebase.py"] for k in definitions}


def test_the_plug_in_package_imports_only_the_standard_library_and_pyzmq():
    for path in python_files("plugin_host"):
        outside = imported_top_levels(path) - STDLIB - {"zmq", "__future__"}
        assert not outside, f"{os.path.relpath(path, ROOT)} imports {outside}"


def test_layers_import_downwards_only():
    allowed = {
        "plugin_host": set(),
        "foley_engine": {"plugin_host"},
        "otio_adapters": {"plugin_host"},
        "resolve_scripts": {"plugin_host", "otio_adapters"},
        "blender_addon": {"plugin_host"},
        "foley_batch": {"plugin_host", "otio_adapters"},
    }
    for package, may in allowed.items():
        for path in python_files(package):
            ours = imported_top_levels(path) & set(PACKAGES) - {package}
            assert ours <= may, f"{os.path.relpath(path, ROOT)} imports {ours - may}"
    # The core (everything but the engine process, the lab and the command line) never talks ZeroMQ or Ray.
    core_exempt = ("engine", "lab", "cli.py", "generate_cli.py")
    for path in python_files("foley_engine"):
        rel = os.path.relpath(path, os.path.join(ROOT, "foley_engine"))
        if rel.split(os.sep)[0] in core_exempt:
            continue
        assert not imported_top_levels(path) & {"zmq", "ray"}, rel


def test_the_plug_in_package_loads_with_numpy_blocked():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'foley_engine', 'torch'):\n"
        "            raise ImportError(f'{name} is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import plugin_host.timebase, plugin_host.protocol, plugin_host.items, plugin_host.client, plugin_host.batch\n"
        "print('ok', sorted(m for m in sys.modules if m.startswith('plugin_host')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr


def test_blender_zip_carries_the_plug_in_package_byte_for_byte(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "blender_addon"))
    try:
        import build
    finally:
        sys.path.pop(0)
    out = build.build(str(tmp_path), wheels=False)
    source = {os.path.relpath(p, os.path.join(ROOT, "plugin_host")).replace(os.sep, "/"): open(p, "rb").read()
              for p in python_files("plugin_host")}
    with zipfile.ZipFile(out) as z:
        bundled = {n[len(build.VENDORED) + 1:]: z.read(n) for n in z.namelist()
                   if n.startswith(build.VENDORED + "/") and n.endswith(".py")}
    assert bundled == source


# ---------------------------------------------------------------- backend options, both paths


class OptionRecorder(Backend):
    """Writes each window's options to $FOLEY_TEST_RECORD (the engine runs it in another process)."""

    name = "recorder"
    channels = 1
    native_window = Fraction(2)
    options = (BackendOption("steps", int, "sampling steps", metavar="N"),
               BackendOption("texture", str, "a per-item knob"),
               BackendOption("quality", str, "fixed at load", scope="load"))

    def __init__(self, **options):
        self.load_options = options

    def generate(self, request):
        with open(os.environ["FOLEY_TEST_RECORD"], "a", encoding="utf-8") as f:
            f.write(json.dumps({"options": request.options, "load": self.load_options}) + "\n")
        return np.zeros((request.num_samples, 1), np.float32)


RECORDER = "test_architecture:OptionRecorder"


def recorded(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_generate_passes_the_same_backend_options_in_process_and_through_the_engine(
        clip_24, engines, tmp_path, monkeypatch, capsys):
    flags = ["--backend", RECORDER, "--steps", "7", "--texture", "gravel", "--in", "1", "--out", "3"]
    monkeypatch.setenv("FOLEY_TEST_RECORD", str(tmp_path / "in_process.jsonl"))
    assert main(["generate", clip_24.path, "-o", str(tmp_path / "a.wav"), *flags]) == 0
    monkeypatch.setenv("FOLEY_TEST_RECORD", str(tmp_path / "engine.jsonl"))
    eng = engines(tmp_path / "engine", backend=RECORDER)
    assert main(["generate", clip_24.path, "-o", str(tmp_path / "b.wav"), "--engine", "--connection-file",
                 eng.connection_file, *flags]) == 0
    local, remote = recorded(tmp_path / "in_process.jsonl"), recorded(tmp_path / "engine.jsonl")
    assert local and [r["options"] for r in local] == [r["options"] for r in remote]
    assert local[0]["options"] == {"steps": 7, "texture": "gravel"}
    capsys.readouterr()


def test_load_options_are_refused_with_the_engine_and_unknown_options_everywhere(clip_24, tmp_path, capsys):
    assert main(["generate", clip_24.path, "-o", str(tmp_path / "x.wav"), "--backend", RECORDER, "--quality",
                 "high", "--engine", "--connection-file", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "--quality set how the backend loads" in err and "--option quality=high" in err
    assert main(["generate", clip_24.path, "-o", str(tmp_path / "y.wav"), "--steps", "3"]) == 2
    assert "--steps: not an option of backend 'procedural'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.wav") and not os.path.exists(tmp_path / "y.wav")
