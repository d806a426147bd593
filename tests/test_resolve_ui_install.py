"""The dialogs (UIManager fake, console) and `foley resolve install|uninstall`."""
from __future__ import annotations

import argparse
import json
import os
import threading

import pytest

from fake_resolve import FakeBmd, FakeFusion, FakeResolve
from resolve_scripts import cli, install
from resolve_scripts.ui import ConsoleUI, Field, ResolveUI, make_ui

FIELDS = [Field("prompt", "Prompt", "rain"), Field("colour", "Clips with", "Red", ("Any flag", "Red", "Blue")),
          Field("seed", "Seed", "0")]


def test_uimanager_dialog_returns_what_was_typed():
    def user(win, disp):
        items = win.GetItems()
        assert (items["prompt"].Text, items["colour"].CurrentText) == ("rain", "Red")
        items["prompt"].Text = "  footsteps on gravel "
        items["colour"].CurrentIndex = 2
        win.click("ok")

    ui = ResolveUI(FakeFusion(), FakeBmd(user), printer=lambda line: None)
    assert ui.ask("Fill", FIELDS) == {"prompt": "footsteps on gravel", "colour": "Blue", "seed": "0"}


def test_uimanager_cancel_and_confirm():
    answers = iter(["cancel", "yes", "no"])
    ui = ResolveUI(FakeFusion(), FakeBmd(lambda win, disp: win.click(next(answers))), printer=lambda line: None)
    assert ui.ask("Fill", FIELDS) is None
    assert ui.confirm("Start it now?") is True
    assert ui.confirm("Start it now?") is False


def test_uimanager_progress_window_cancel_reaches_the_work():
    lines = []
    started = threading.Event()

    def user(win, disp):  # on the UI thread: click Cancel once the work has started
        disp.when(started.is_set, lambda: win.click("cancel"))

    def work(report, cancelled):
        report("[1/2] V1 'A'", 0.25)
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        return "stopped"

    fusion = FakeFusion()
    ui = ResolveUI(fusion, FakeBmd(user), printer=lines.append)
    assert ui.run("Fill", work) == "stopped"
    assert lines == ["Foley:  25% [1/2] V1 'A'"]
    win = ui.disp.windows[-1]
    assert win.GetItems()["status"].Text == "Cancelling…" and not win.shown
    assert fusion.UIManager.violations == []


def test_console_prompts_and_defaults():
    typed = iter(["wind", "", "5"])
    out = []
    ui = ConsoleUI(input_fn=lambda prompt: next(typed), printer=out.append)
    assert ui.ask("Fill", FIELDS) == {"prompt": "wind", "colour": "Red", "seed": "5"}

    def eof(prompt):
        raise EOFError

    quiet = ConsoleUI(input_fn=eof, printer=out.append)  # Resolve's console has no input: defaults
    assert quiet.ask("Fill", FIELDS) == {"prompt": "rain", "colour": "Red", "seed": "0"}
    assert quiet.confirm("Start it now?") is True
    assert isinstance(make_ui(None, None), ConsoleUI)


@pytest.mark.parametrize("platform, environ, expected", [
    ("darwin", {}, "/Users/ed/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit"),
    ("linux", {}, "/Users/ed/.local/share/DaVinciResolve/Fusion/Scripts/Edit"),
    ("win32", {"APPDATA": "/Users/ed/AppData/Roaming"},
     "/Users/ed/AppData/Roaming/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts/Edit"),
])
def test_scripts_folder_per_os(platform, environ, expected):
    assert install.scripts_dir(platform, environ, "/Users/ed").replace(os.sep, "/") == expected


def _cli(argv):
    parser = argparse.ArgumentParser(prog="foley")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_install_run_and_uninstall(tmp_path, capsys):
    dest = tmp_path / "Scripts" / "Edit"
    assert _cli(["resolve", "install", "--dest", str(dest), "--output", str(tmp_path / "wavs")]) == 0
    out = capsys.readouterr().out
    assert f"installed 4 Resolve scripts in {dest}" in out and f"foley resolve uninstall --dest {dest}" in out
    names = sorted(os.listdir(dest))
    assert names == sorted(install.MENU_SCRIPTS + (install.CONFIG_NAME,))
    config = json.loads((dest / install.CONFIG_NAME).read_text())
    assert config["output"] == str(tmp_path / "wavs") and config["engine_command"][1:] == ["-m", "foley_engine.cli"]

    # An installed script finds the package through its config and runs the command.
    script = dest / "Foley – Generate for Current Clip.py"
    text = script.read_text(encoding="utf-8")
    assert f"CONFIG_FILE = {json.dumps(str(dest / install.CONFIG_NAME))}" in text
    env = {"resolve": FakeResolve(None), "__name__": "__main__"}
    exec(compile(text, str(script), "exec"), env)
    assert "Foley: no project is open" in capsys.readouterr().out
    assert (dest / "Foley report.txt").read_text() == "Foley: no project is open\n"  # no UIManager: a report file
    os.unlink(dest / "Foley report.txt")

    assert _cli(["resolve", "uninstall", "--dest", str(dest)]) == 0
    assert os.listdir(dest) == [] and "removed 5 file(s)" in capsys.readouterr().out
    assert _cli(["resolve", "uninstall", "--dest", str(dest)]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_each_installed_entry_runs_its_own_command_from_the_one_template(capsys, tmp_path, monkeypatch):
    # Every entry comes from menu_script.py.in; the config tells Resolve's Python where both distributions live.
    import plugin_host
    import resolve_scripts.foley_resolve as fr

    ran = []
    monkeypatch.setattr(fr, "run_from_menu", lambda command, env, config_file: ran.append((command, config_file)))
    dest = tmp_path / "Edit"
    install.install(str(dest))
    config = json.loads((dest / install.CONFIG_NAME).read_text())
    assert os.path.dirname(os.path.dirname(plugin_host.__file__)) in config["paths"]
    assert os.path.dirname(os.path.dirname(install.__file__)) in config["paths"]
    texts = {}
    for title, command in install.MENU_COMMANDS.items():
        path = dest / f"{title}.py"
        texts[title] = path.read_text(encoding="utf-8")
        exec(compile(texts[title], str(path), "exec"), {"resolve": FakeResolve(None), "__name__": "__main__"})
        assert ran[-1] == (command, str(dest / install.CONFIG_NAME))
        assert texts[title].startswith(f'"""{title}: ')
    assert [c for c, _ in ran] == ["current", "flagged", "range", "regenerate"]
    assert "__COMMAND__" not in "".join(texts.values()) and "__CONFIG_FILE__" not in "".join(texts.values())
