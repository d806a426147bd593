"""Marked copies stay copies (the way diffusers' "Copied from" check works).

Model code is written to be read one file at a time, so a second backend may
carry its own copy of a block rather than import it.  Such a copy is marked on
the line above its ``def`` or ``class``::

    # Copied from foley_engine.models.synchformer.encode_in_segments
    # Copied from foley_engine.models.synchformer.Mlp with Mlp->FeedForward

and must then equal the original, after the ``with old->new`` renames (comma
separated), except for indentation.  Change the original and every copy
follows, or the copy drops its mark and becomes code of its own.
"""
from __future__ import annotations

import ast
import os
import re
import textwrap

from test_architecture import project_modules

MARK = re.compile(r"^(?P<indent>\s*)# Copied from (?P<target>[\w.]+)(?: with (?P<renames>.+))?\s*$")


def _definition(source: str, path: str, dotted: list[str]) -> str:
    """The source of ``Name`` or ``Class.name`` defined at the top of a module."""
    body = ast.parse(source, path).body
    node = None
    for part in dotted:
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            raise LookupError(f"{path} defines no {'.'.join(dotted)}")
        body = node.body
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "\n".join(source.splitlines()[first - 1:node.end_lineno])


def _source_of(target: str, modules: dict[str, str]) -> str:
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        path = modules.get(".".join(parts[:cut]))
        if path:
            with open(path, encoding="utf-8") as f:
                return _definition(f.read(), path, parts[cut:])
    raise LookupError(f"{target}: no module of this project")


def marked_copies(path: str) -> list[tuple[int, str, str]]:
    """(line, target, the copy's source with the renames undone) for each mark in a file."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines()
    tree = ast.parse(source, path)
    starts = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            starts[first] = node
    found = []
    for number, line in enumerate(lines, 1):
        m = MARK.match(line)
        if not m:
            continue
        node = starts.get(number + 1)
        assert node is not None, f"{path}:{number}: a 'Copied from' mark must sit right above a def or class"
        copy = "\n".join(lines[number:node.end_lineno])
        for rename in filter(None, (r.strip() for r in (m.group("renames") or "").split(","))):
            old, new = (p.strip() for p in rename.split("->"))
            copy = re.sub(rf"\b{re.escape(new)}\b", old, copy)
        found.append((number, m.group("target"), copy))
    return found


def stale_copies(paths, modules) -> list[str]:
    wrong = []
    for path in paths:
        for line, target, copy in marked_copies(path):
            original = _source_of(target, modules)
            if textwrap.dedent(copy) != textwrap.dedent(original):
                wrong.append(f"{os.path.relpath(path)}:{line}: differs from {target}")
    return wrong


def test_every_marked_copy_equals_its_original():
    modules = project_modules()
    assert not stale_copies(sorted(set(modules.values())), modules)


def test_a_copy_that_drifts_is_caught(tmp_path):
    """The check on a made-up pair: an exact copy passes, a renamed one passes, a changed one fails."""
    original = tmp_path / "origin.py"
    original.write_text("class Block:\n    def run(self, x):\n        return helper(x) + 1\n")
    modules = {"origin": str(original)}
    good = tmp_path / "good.py"
    good.write_text("class Other:\n    # Copied from origin.Block.run with helper->assist\n"
                    "    def run(self, x):\n        return assist(x) + 1\n")
    bad = tmp_path / "bad.py"
    bad.write_text("# Copied from origin.Block\nclass Block:\n    def run(self, x):\n        return helper(x) + 2\n")
    assert stale_copies([str(good)], modules) == []
    assert len(stale_copies([str(bad)], modules)) == 1
