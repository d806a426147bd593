"""What a new user meets in the first hour: a quiet install, a suite that runs whole in any clone, help texts."""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = [ROOT / "pyproject.toml", ROOT / "plugin-host" / "pyproject.toml"]


@pytest.mark.parametrize("pyproject", PROJECTS, ids=["foley-engine", "foley-plugin-host"])
def test_the_metadata_builds_without_deprecation_warnings(pyproject, monkeypatch):
    """`project.license` as a TOML table printed setuptools' deprecation notice three times per install."""
    from setuptools.config import pyprojecttoml
    from setuptools.dist import Distribution

    monkeypatch.chdir(pyproject.parent)  # the readme is read relative to the project
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        dist = Distribution()
        pyprojecttoml.apply_configuration(dist, str(pyproject))
    assert not [str(w.message).splitlines()[0] for w in seen if "deprecat" in str(w.message).lower()]
    assert dist.metadata.license_expression == "Apache-2.0"


def test_no_test_reads_files_outside_the_repository():
    """Tests that read the team's ../shared folder skipped in every other clone; the facts live in tests/data."""
    # a folder above the checkout (parents[2] of tests/x.py), or the team's shared folder by name
    outside = re.compile(r"parents\[[2-9]\]|shared[\"']?\s*/\s*[\"']?reference")
    found = [f"{p.name}:{n}" for p in sorted((ROOT / "tests").glob("*.py")) if p.name != Path(__file__).name
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if outside.search(line)]
    assert found == []
    for name in ("hvf_dit_xxl_keys.json", "hvf_dit_xl_keys.json", "synchformer_keys.json"):
        assert (ROOT / "tests" / "data" / "hunyuan_release" / name).is_file()
    assert "Tencent-Hunyuan/HunyuanVideo-Foley" in (ROOT / "tests" / "data" / "hunyuan_release" / "README.md").read_text()


def test_onnx_runtime_is_in_the_test_extras():
    """Otherwise tests/test_hunyuan_onnx.py skipped in every `make test`."""
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    names = {re.split(r"[<>=\[; ]", e, maxsplit=1)[0] for e in extras}
    assert {"onnxruntime", "onnx"} <= names


def test_make_says_what_it_installs_and_how_large():
    """`make test` installed for minutes with no output; it now says what and how large, like the README."""
    makefile = (ROOT / "Makefile").read_text()
    echoes = " ".join(re.findall(r"@echo \"(.*)\"", makefile))
    assert "355 MB" in echoes and "3.2 GB" in echoes and "torch" in echoes
    readme = (ROOT / "README.md").read_text()
    assert "355 MB" in readme and "3.2 GB" in readme


def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("command,options", [
    (("backends",), ("--json",)),
    (("models", "list"), ("--json",)),
    (("models", "verify"), ("--json",)),
    (("bench", "align"), None),  # every option
    (("bench", "soak"), ("--seed",)),
])
def test_every_option_has_help(command, options):
    from foley_engine.cli import build_parser

    parser = _subparser(build_parser(), *command)
    actions = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    if options is not None:
        actions = [a for a in actions if set(a.option_strings) & set(options)]
        assert len(actions) == len(options)
    missing = [a.option_strings[0] for a in actions if not (a.help or "").strip()]
    assert missing == [], f"foley {' '.join(command)}: no help for {missing}"
