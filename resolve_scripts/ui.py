"""Dialogs and progress: Resolve's UIManager where the script has it, a settings file or the console otherwise.

All three offer ``ask(title, fields)``, ``confirm(question)``, ``message(text)``
and ``run(title, work)``, where ``work(report, cancelled)`` does the engine
work and ``report(text, fraction)`` shows progress.  Progress always prints
to the console (Workspace › Console) too.
"""
from __future__ import annotations

import json
import os
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Optional

from plugin_host.atomic import write_json_atomic


@dataclass
class Field:
    id: str
    label: str
    default: str = ""
    choices: tuple = ()  #: a drop-down when set


class _Console:
    """Progress lines, at most one per whole percent."""

    def __init__(self, printer: Callable[[str], None]):
        self.printer = printer
        self.last = None

    def __call__(self, text: str, fraction: float) -> None:
        line = f"Foley: {int(fraction * 100):3d}% {text}"
        if line != self.last:
            self.last = line
            self.printer(line)


class ConsoleUI:
    """A plain prompt; with no console input (EOF) every field keeps its default."""

    def __init__(self, input_fn: Callable[[str], str] = input, printer: Callable[[str], None] = print):
        self.input, self.print = input_fn, printer

    def _read(self, prompt: str) -> Optional[str]:
        try:
            return self.input(prompt)
        except EOFError:
            return None

    def ask(self, title: str, fields: list) -> Optional[dict]:
        self.print(f"Foley: {title}")
        values = {}
        for f in fields:
            hint = f" ({'/'.join(f.choices)})" if f.choices else ""
            answer = self._read(f"  {f.label}{hint} [{f.default}]: ")
            values[f.id] = f.default if answer is None or not answer.strip() else answer.strip()
        return values

    def confirm(self, question: str) -> bool:
        answer = self._read(f"Foley: {question} [Y/n]: ")
        return answer is None or answer.strip().lower() in ("", "y", "yes")

    def message(self, text: str) -> None:
        self.print(text)

    def run(self, title: str, work: Callable) -> object:
        self.print(f"Foley: {title} (Ctrl-C cancels)")
        return work(_Console(self.print), lambda: False)


#: how often the progress window takes the worker's posted progress (ms)
TICK_MS = 100


class ResolveUI:
    """Windows through ``fusion.UIManager`` and ``bmd.UIDispatcher``."""

    def __init__(self, fusion, bmd, printer: Callable[[str], None] = print):
        self.ui = fusion.UIManager
        self.disp = bmd.UIDispatcher(self.ui)
        self.print = printer

    def _window(self, wid: str, title: str, rows: list, buttons: list):
        ui = self.ui
        row = ui.HGroup([ui.HGap(0, 1)] + [ui.Button({"ID": b, "Text": t}) for b, t in buttons])
        return self.disp.AddWindow({"ID": wid, "WindowTitle": title, "Geometry": [200, 200, 480, 60 + 34 * len(rows)]},
                                   ui.VGroup(rows + [row]))

    def _modal(self, win, wid: str, ids: list, on_close: str) -> str:
        """Show ``win`` until one of the buttons ``ids`` (or its close box) is clicked; which one."""
        chosen = [on_close]

        def clicked(button):
            def handler(ev):
                chosen[0] = button
                self.disp.ExitLoop()
            return handler

        for b in ids:
            getattr(win.On, b).Clicked = clicked(b)
        getattr(win.On, wid).Close = clicked(on_close)
        win.Show()
        self.disp.RunLoop()
        win.Hide()
        return chosen[0]

    def ask(self, title: str, fields: list) -> Optional[dict]:
        ui = self.ui
        rows = []
        for f in fields:
            if f.choices:
                widget = ui.ComboBox({"ID": f.id})
            else:
                widget = ui.LineEdit({"ID": f.id, "Text": f.default})
            rows.append(ui.HGroup([ui.Label({"Text": f.label, "Weight": 0.3}), widget]))
        win = self._window("FoleyAsk", f"Foley – {title}", rows, [("ok", "Generate"), ("cancel", "Cancel")])
        items = win.GetItems()
        for f in fields:
            if f.choices:
                items[f.id].AddItems(list(f.choices))
                items[f.id].CurrentIndex = list(f.choices).index(f.default) if f.default in f.choices else 0
        if self._modal(win, "FoleyAsk", ["ok", "cancel"], "cancel") != "ok":
            return None
        return {f.id: str(items[f.id].CurrentText if f.choices else items[f.id].Text).strip() for f in fields}

    def confirm(self, question: str) -> bool:
        win = self._window("FoleyConfirm", "Foley", [self.ui.Label({"Text": question, "WordWrap": True})],
                           [("yes", "Yes"), ("no", "No")])
        return self._modal(win, "FoleyConfirm", ["yes", "no"], "no") == "yes"

    def message(self, text: str) -> None:
        self.print(text)
        win = self._window("FoleyMessage", "Foley", [self.ui.Label({"Text": text, "WordWrap": True})], [("ok", "OK")])
        self._modal(win, "FoleyMessage", ["ok"], "ok")

    def run(self, title: str, work: Callable) -> object:
        """``work`` on a thread while the progress window's event loop runs here; Cancel asks it to stop.

        Widgets are only ever touched on this (the UI) thread: the worker posts progress to a queue
        and a UIManager timer drains it, ends the loop when the work is over, and shows the last line.
        """
        ui, console = self.ui, _Console(self.print)
        win = self._window("FoleyProgress", f"Foley – {title}",
                           [ui.Label({"ID": "status", "Text": "Starting…"}),
                            ui.Label({"ID": "percent", "Text": "0 %"})],
                           [("cancel", "Cancel")])
        items = win.GetItems()
        stop = threading.Event()
        posted: queue.Queue = queue.Queue()
        result: dict = {}
        finished = threading.Event()

        def worker() -> None:
            try:
                result["value"] = work(lambda text, fraction: posted.put((text, fraction)), stop.is_set)
            except BaseException as exc:  # re-raised on the UI thread
                result["error"] = exc
            finally:
                finished.set()

        def tick(ev) -> None:
            latest = None
            while True:
                try:
                    latest = posted.get_nowait()
                except queue.Empty:
                    break
                console(*latest)
            if latest is not None and not stop.is_set():
                items["status"].Text, items["percent"].Text = latest[0], f"{int(latest[1] * 100)} %"
            if finished.is_set() and posted.empty():
                timer.Stop()
                self.disp.ExitLoop()

        def cancel(ev) -> None:
            stop.set()
            items["status"].Text = "Cancelling…"

        timer = ui.Timer({"ID": "FoleyProgressTick", "Interval": TICK_MS})
        getattr(self.disp.On, "FoleyProgressTick").Timeout = tick
        win.On.cancel.Clicked = cancel
        win.On.FoleyProgress.Close = cancel
        win.Show()
        thread = threading.Thread(target=worker, name="foley-resolve", daemon=True)
        thread.start()
        timer.Start()
        self.disp.RunLoop()
        timer.Stop()
        thread.join()
        win.Hide()
        if "error" in result:
            raise result["error"]
        return result.get("value")


class FileUI:
    """No UIManager (the free edition from 19.1): answers from a JSON settings file, the report to a text file.

    Nothing is read from stdin (a menu script may have none).  The settings file sits next to the
    scripts; it is created with the defaults the first time, so the user can edit it and run again.
    """

    def __init__(self, settings_path: str, report_path: str, printer: Callable[[str], None] = print):
        self.settings_path, self.report_path, self.print = settings_path, report_path, printer

    def _settings(self) -> dict:
        try:
            with open(self.settings_path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self.print(f"Foley: cannot read {self.settings_path} ({exc}); using the defaults")
            return {}
        return data if isinstance(data, dict) else {}

    def ask(self, title: str, fields: list) -> Optional[dict]:
        settings = self._settings()
        values = {f.id: str(settings.get(f.id, f.default)).strip() for f in fields}
        missing = {f.id: f.default for f in fields if f.id not in settings}
        if missing:  # write the defaults out so there is something to edit next time
            try:
                write_json_atomic(self.settings_path, {**settings, **missing}, indent=2)
            except OSError:
                pass
        self.print(f"Foley: {title} with settings from {self.settings_path}: "
                   + ", ".join(f"{k}={v!r}" for k, v in values.items()))
        return values

    def confirm(self, question: str) -> bool:
        answer = bool(self._settings().get("start_engine", True))
        self.print(f"Foley: {question} {'yes' if answer else 'no'} (\"start_engine\" in {self.settings_path})")
        return answer

    def message(self, text: str) -> None:
        self.print(text)
        try:
            with open(self.report_path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        except OSError as exc:
            self.print(f"Foley: cannot write the report {self.report_path} ({exc})")

    def run(self, title: str, work: Callable) -> object:
        self.print(f"Foley: {title}")
        return work(_Console(self.print), lambda: False)


def has_ui_manager(fusion) -> bool:
    """Free Resolve from 19.1 has ``fusion.UIManager`` set to None (and shows a "buy Studio" dialog)."""
    return fusion is not None and getattr(fusion, "UIManager", None) is not None


def make_ui(fusion=None, bmd=None, settings_path: str = "", report_path: str = ""):
    """UIManager where this Resolve has it; else settings from a file (in a menu script) or a terminal prompt."""
    if has_ui_manager(fusion) and bmd is not None:
        return ResolveUI(fusion, bmd)
    if settings_path:
        return FileUI(settings_path, report_path or os.path.splitext(settings_path)[0] + " report.txt")
    return ConsoleUI()
