"""The layers hold: one exact-time module, the plug-in package light, no import circles, no upward import,
the Blender zip's copy of the plug-in package identical, and backend options identical on both paths.

Imports are read statically (``ast``), every ``import`` statement in a file: module level, inside
functions (lazy imports, kept lazy to defer heavy dependencies such as torch or to keep ``foley``
starting fast) and under ``if TYPE_CHECKING``.  Lazy imports count: a circle closed by a function-level
import is still two modules that cannot be understood (or moved) apart, which is how the old
``items`` <-> ``protocol`` circle hid.  Edges go to the module named (``from pkg import sub`` names
``pkg.sub`` when that is a module, else ``pkg``); the parent packages' ``__init__`` files an import
runs on the way are not counted, since a package re-exporting its own submodules is not a circle.
"""
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
#: each package and its folder (the plug-in package is a distribution of its own, in plugin-host/)
PACKAGE_DIRS = {"plugin_host": "plugin-host/plugin_host", "foley_engine": "foley_engine",
                "otio_adapters": "otio_adapters", "resolve_scripts": "resolve_scripts", "blender_addon": "blender_addon",
                "foley_batch": "foley_batch"}
PACKAGES = tuple(PACKAGE_DIRS)
STDLIB = set(sys.stdlib_module_names)

#: Layers inside a package, lowest first: a module may import its own area (the longest prefix listed) and
#: areas of lower layers, never a higher one nor a sibling of its own layer.  A new area must be placed here.
LAYERS = {
    "plugin_host": [
        ["plugin_host", "plugin_host.timebase", "plugin_host.connection", "plugin_host.atomic",
         "plugin_host.process", "plugin_host.markers"],
        ["plugin_host.fields"],
        ["plugin_host.items", "plugin_host.envelope"],
        ["plugin_host.schema"],
        ["plugin_host.client"],
        ["plugin_host.batch", "plugin_host.regenerate"],
    ],
    "foley_engine": [
        ["foley_engine.errors", "foley_engine.malloc_tuning"],
        ["foley_engine", "foley_engine.timebase"],     # the package itself holds __version__
        ["foley_engine.media"],
        ["foley_engine.job", "foley_engine.analysis", "foley_engine.sync", "foley_engine.loudness"],
        ["foley_engine.models"],                        # shared model parts (torch): for backends only
        ["foley_engine.backends"],
        ["foley_engine.longform"],                      # the scheduler, stitching and alignment
        ["foley_engine.generate_set"],                  # one item's output set (stems x takes), under generate
        ["foley_engine.generate", "foley_engine.spotting", "foley_engine.review", "foley_engine.regenerate"],
        ["foley_engine.engine", "foley_engine.generate_cli"],
        ["foley_engine.events_cli", "foley_engine.regenerate_cli"],  # `foley events` / `review` / `regenerate`
        ["foley_engine.cli"],
        ["foley_engine.lab"],                           # benchmarks, demo, sample videos, seam metrics
    ],
}

#: Circles still to be broken, each pair with the reason it is allowed for now.
KNOWN_CIRCLES: set = set()


def python_files(package: str):
    for base, dirs, files in os.walk(os.path.join(ROOT, PACKAGE_DIRS.get(package, package))):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(base, name)


def project_modules() -> dict[str, str]:
    """Every module of the project: dotted name -> file."""
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in python_files(package):
            parts = os.path.relpath(path, os.path.join(ROOT, folder))[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imports_of(name: str, path: str, modules: dict[str, str]) -> list[tuple[str, int]]:
    """(project module, line) for every import in a file, relative ones resolved, lazy ones included."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = name.split(".") if path.endswith("__init__.py") else name.split(".")[:-1]
    named = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            named += [(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base, node.lineno)
                      for alias in node.names]
    found = []
    for target, line in named:
        while target and target not in modules:  # a name inside a module: the module
            target = target.rpartition(".")[0]
        if target and target != name:
            found.append((target, line))
    return found


def import_graph() -> dict[str, list[tuple[str, int]]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for v in graph:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return groups


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, area) of a module: its longest listed prefix."""
    best = None
    for depth, areas in enumerate(LAYERS[module.split(".")[0]]):
        for area in areas:
            if (module == area or module.startswith(area + ".")) and (best is None or len(area) > len(best[1])):
                best = (depth, area)
    assert best is not None, f"{module}: not in any layer; place its area in tests/test_architecture.py LAYERS"
    return best


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


def test_no_import_circles():
    groups = circles(import_graph())
    found = [group for group in groups if frozenset(group) not in KNOWN_CIRCLES]
    assert not found, "import circles: " + "; ".join(" <-> ".join(g) for g in found)
    gone = [sorted(pair) for pair in KNOWN_CIRCLES if not any(pair <= set(group) for group in groups)]
    assert not gone, f"no longer circles, delete them from KNOWN_CIRCLES: {gone}"


def test_no_upward_imports_inside_a_package():
    graph = import_graph()
    wrong = []
    for module, imports in graph.items():
        if module.split(".")[0] not in LAYERS:
            continue
        layer, area = layer_of(module)
        for target, line in imports:
            if target.split(".")[0] != module.split(".")[0] or (frozenset({module, target}) in KNOWN_CIRCLES):
                continue  # between packages: test_layers_import_downwards_only
            their_layer, their_area = layer_of(target)
            if their_area != area and their_layer >= layer:
                wrong.append(f"{module}:{line} imports {target} ({'a sibling' if their_layer == layer else 'upward'})")
    assert not wrong, "\n".join(wrong)


def test_the_checks_catch_a_circle_and_an_upward_import():
    """The graph tests see lazy imports and relative ones (a check that finds nothing proves nothing)."""
    graph = {"foley_engine.media.a": [("foley_engine.longform.b", 3)], "foley_engine.longform.b": [],
             "foley_engine.engine.x": [("foley_engine.engine.y", 1)], "foley_engine.engine.y": [("foley_engine.engine.x", 9)]}
    assert circles(graph) == [["foley_engine.engine.x", "foley_engine.engine.y"]]
    assert layer_of("foley_engine.media.a")[0] < layer_of("foley_engine.longform.b")[0]
    modules = project_modules()
    # a function-level relative import, as the old protocol -> items one was
    lazy = imports_of("foley_engine.engine.config", modules["foley_engine.engine.config"], modules)
    assert any(t == "foley_engine.media.wav" for t, _ in lazy), lazy


def test_one_definition_of_the_rounding_rule_and_the_rate_snapping():
    definitions = {"def round_half_away(": [], "def exact_rate(": [], "NTSC_BASES = ": []}
    for package in (*PACKAGES, "benchmarks", "tests"):
        for path in python_files(package):
            text = open(path, encoding="utf-8").read()
            for needle, where in definitions.items():
                if re.search(rf"^\s*{re.escape(needle)}", text, re.M):
                    where.append(os.path.relpath(path, ROOT))
    assert definitions == {k: ["plugin-host/plugin_host/timebase.py"] for k in definitions}


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
        "import plugin_host.timebase, plugin_host.fields, plugin_host.items, plugin_host.schema, plugin_host.envelope, plugin_host.connection, plugin_host.client, plugin_host.batch\n"
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
    source = {os.path.relpath(p, os.path.join(ROOT, PACKAGE_DIRS["plugin_host"])).replace(os.sep, "/"): open(p, "rb").read()
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
