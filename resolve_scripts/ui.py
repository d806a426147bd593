"""Dialogs and progress: Resolve's UIManager where the script has it, the console otherwise.

Both offer ``ask(title, fields)``, ``confirm(question)``, ``message(text)``
and ``run(title, work)``, where ``work(report, cancelled)`` does the engine
work and ``report(text, fraction)`` shows progress.  Progress always prints
to the console (Workspace › Console) too.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional


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
        """``work`` on a thread while the progress window's event loop runs here; Cancel asks it to stop."""
        ui, console = self.ui, _Console(self.print)
        win = self._window("FoleyProgress", f"Foley – {title}",
                           [ui.Label({"ID": "status", "Text": "Starting…"}),
                            ui.Label({"ID": "percent", "Text": "0 %"})],
                           [("cancel", "Cancel")])
        items = win.GetItems()
        stop = threading.Event()
        loop_over = threading.Event()
        result: dict = {}

        def report(text: str, fraction: float) -> None:
            console(text, fraction)
            try:
                items["status"].Text = text
                items["percent"].Text = f"{int(fraction * 100)} %"
            except Exception:  # the window is only a view; the console has the same line
                pass

        def cancel(ev) -> None:
            stop.set()
            items["status"].Text = "Cancelling…"

        def worker() -> None:
            try:
                result["value"] = work(report, stop.is_set)
            except BaseException as exc:  # re-raised on the main thread
                result["error"] = exc
            finally:
                # ExitLoop before RunLoop started is lost: repeat until the loop has ended.
                while not loop_over.is_set():
                    self.disp.ExitLoop()
                    loop_over.wait(0.1)

        win.On.cancel.Clicked = cancel
        win.On.FoleyProgress.Close = cancel
        win.Show()
        thread = threading.Thread(target=worker, name="foley-resolve", daemon=True)
        thread.start()
        self.disp.RunLoop()
        loop_over.set()
        thread.join()
        win.Hide()
        if "error" in result:
            raise result["error"]
        return result.get("value")


def make_ui(fusion=None, bmd=None):
    """UIManager when the script has ``fusion`` and ``bmd`` (and they have it), the console otherwise."""
    if fusion is not None and bmd is not None:
        try:
            return ResolveUI(fusion, bmd)
        except Exception:  # no UIManager in this edition or version
            pass
    return ConsoleUI()

