"""The CLI's console: rich consoles that print tables whole when they do not write to a terminal, each data
warning once per command, and what ``nerbench run`` shows while cells run.

Both displays read :class:`bench.progress.SuiteProgress`, fed with the run's progress events, which are the
same for every executor (a Ray cell's events stream to the driver while it runs).

- On a terminal, :class:`LiveDisplay`: rich's live bars, one for the suite (cells done, the suite's
  ETA) and one for each running cell (its epoch, step or iteration, loss, rate and ETA).
- Anywhere else (``nohup``, a CI or Slurm log, a pipe), :class:`PlainProgress`: a line when a cell
  starts and ends, and every ``--progress-every`` seconds (30 by default; 0: never) one line for each
  running cell, with what it does, its rate, its ETA and the suite's, so a long cell is never silent.

While either is on, console logging shows nerbench's own records only (libraries' warnings go to the log
file; transformers' weight LOAD REPORT is replaced by one line of nerbench's, :mod:`bench.models.headinit`),
each data warning once, printed through the same console so that nothing breaks the display.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from rich.progress import ProgressColumn
from rich.text import Text

from bench.progress import CellState, SuiteProgress

NOT_A_TERMINAL_WIDTH = 1000
"""The width of a console that writes to a file or a pipe (a log, CI, ``| less``): rich would cut every
table to 80 columns there (``sente…``, ``sha2…``); this wide, a table is as wide as its contents."""


def make_console(*, stderr: bool = False) -> Any:
    """A rich console on stdout (or stderr). On a terminal it is the terminal's width; anywhere else it is
    :data:`NOT_A_TERMINAL_WIDTH` wide, so tables come out whole, unless ``$COLUMNS`` says a width."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console.width = NOT_A_TERMINAL_WIDTH
    return console


DATA_LOGGERS = "bench.data"


class DataWarningsOnce(logging.Filter):
    """On the console's log handlers: each data warning (a repaired tag, a type unseen in train: records of
    the ``bench.data`` loggers) is shown once per command, however often its data is read. While held
    (:func:`data_warnings_shown_here`), they wait: the command prints them itself."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: set[str] = set()
        self.held: list[logging.LogRecord] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(DATA_LOGGERS):
            return True
        message = record.getMessage()
        if message in self.shown:
            return False
        if self.held is not None:
            self.held.append(record)
            return False
        self.shown.add(message)
        return True


@contextlib.contextmanager
def data_warnings_shown_here() -> Iterator[set[str]]:
    """For a command that prints data warnings itself (``nerbench tasks`` under each task's table): while the
    block runs, the console holds them back; the block adds the messages it prints to the set it is given,
    and the held ones it does not print are shown when it ends."""
    holders = [(h, f) for h in logging.getLogger().handlers for f in h.filters if isinstance(f, DataWarningsOnce)]
    printed: set[str] = set()
    for _, f in holders:
        f.held = []
    try:
        yield printed
    finally:
        for handler, f in holders:
            held, f.held = f.held or [], None
            f.shown.update(printed)
            for record in held:
                handler.handle(record)


PROGRESS_EVERY_S = 30.0
"""Default seconds between two plain progress lines (``--progress-every``)."""


def make_display(console: Any, title: str, *, total: int, every: float = PROGRESS_EVERY_S) -> Any:
    """The live display on a terminal, plain progress lines every ``every`` seconds elsewhere."""
    if console.is_terminal:
        return LiveDisplay(console, title, total=total)
    return PlainProgress(console, title, total=total, every=every)


class _Display(abc.ABC):
    """What both displays share: the tracker, and console logging routed through the console."""

    def __init__(self, console: Any, title: str, *, total: int) -> None:
        self.console = console
        self.title = title
        self.tracker = SuiteProgress()
        self.tracker.total = total
        self._swapped: list[logging.Handler] = []
        self._handler: logging.Handler | None = None
        self._transformers_routed = False

    def __enter__(self) -> Any:
        root = logging.getLogger()
        self._swapped = [h for h in root.handlers if type(h) is logging.StreamHandler]
        level = min((h.level for h in self._swapped), default=logging.WARNING)
        for h in self._swapped:
            root.removeHandler(h)
        self._handler = _ConsoleHandler(self.console, level=level)
        self._handler.addFilter(_own_records)
        for f in {f for h in self._swapped for f in h.filters if isinstance(f, DataWarningsOnce)}:
            self._handler.addFilter(f)  # what the console showed before the display, it does not show again
        root.addHandler(self._handler)
        self._transformers_routed = _route_transformers_logging(True)
        return self

    def __exit__(self, *exc: Any) -> None:
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
        for h in self._swapped:
            root.addHandler(h)
        if self._transformers_routed:
            _route_transformers_logging(False)

    def say(self, text: str, **style: Any) -> None:
        self.console.print(text, soft_wrap=True, highlight=False, **style)

    def progress(self, event: str, info: dict[str, Any]) -> None:
        from rich.markup import escape

        st = self.tracker.update(event, info)
        if event == "plan" and info.get("skipped"):
            self.say(f"{info['skipped']} cell(s) already finished: skipped")
        elif event == "retry":
            self.say(f"[yellow]retry[/yellow] {escape(info['cell'])} (attempt {info['attempt']} of "
                     f"{info['retries'] + 1} failed: {escape(str(info['cause']))})")
        elif event == "estimate":  # stays on screen: a long cell says so before it starts
            self.say(f"{escape(info['cell'])}: {escape(info['text'])}")
        self.show(event, info, st)

    @abc.abstractmethod
    def show(self, event: str, info: dict[str, Any], st: CellState | None) -> None:
        """Show one event: each display its own way."""


class PlainProgress(_Display):
    """Plain lines for a console that is not a terminal; see the module docstring."""

    def __init__(self, console: Any, title: str, *, total: int, every: float = PROGRESS_EVERY_S) -> None:
        super().__init__(console, title, total=total)
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._told_ray = False

    def __enter__(self) -> PlainProgress:
        super().__enter__()
        if self.every > 0:
            self._thread = threading.Thread(target=self._tick, name="nerbench-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        super().__exit__(*exc)

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.print_progress()

    def print_progress(self) -> None:
        """One line for each running cell (what ``--progress-every`` prints)."""
        for st in self.tracker.running():
            self.say(f"{_clock()} {self.tracker.line(st)}", markup=False)

    def show(self, event: str, info: dict[str, Any], st: CellState | None) -> None:
        t = self.tracker
        if event == "plan" and info.get("cells") is not None:
            self.say(f"{_clock()} {self.title}: {t.total} cell(s) to run; {t.suite_text()}", markup=False)
        elif event in ("cell", "cell_start") and st is not None:
            where = f" on {st.node}" if st.node else ""
            self.say(f"{_clock()} started {st.label}{where} ({t.started} of {t.total}); "
                     f"{t.eta_text(st)}", markup=False)
        elif event == "cell_done" and st is not None:
            took = f" after {_seconds(st.duration)}" if st.duration is not None else ""
            self.say(f"{_clock()} {st.state} {st.label}{took} ({t.done} of {t.total} done); {t.suite_text()}",
                     markup=False)
        elif event == "running" and not self._told_ray:
            self._told_ray = True
            self.say(f"{_clock()} {info['pending']} cell(s) submitted to Ray", markup=False)


class LiveDisplay(_Display):
    """Rich's live bars on a terminal: the suite's, and one per running cell (its steps and ETA). A cell's bar
    goes when the cell ends, so no stale "predicting" line is left behind."""

    def __init__(self, console: Any, title: str, *, total: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        super().__init__(console, title, total=total)
        self.bar = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(), _EtaColumn(self.tracker), console=console, transient=False,
        )
        self.matrix = self.bar.add_task(title, total=total, count=f"0/{total}", cell=None)
        self.rows: dict[str, Any] = {}

    def __enter__(self) -> LiveDisplay:
        super().__enter__()
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        for row in self.rows.values():
            self.bar.update(row, visible=False)
        self.bar.__exit__(*exc)
        super().__exit__(*exc)

    def show(self, event: str, info: dict[str, Any], st: CellState | None) -> None:
        t, bar = self.tracker, self.bar
        if event == "plan":
            bar.update(self.matrix, total=t.total, completed=t.done, count=f"{t.done}/{t.total}")
        elif event == "running":
            waiting = sum(c.state == "queued" for c in t.cells.values())
            bar.update(self.matrix, description=f"{self.title}: {len(t.running())} running, {waiting} waiting (Ray)")
        elif event == "cell_done" and st is not None:
            row = self.rows.pop(st.label, None)
            if row is not None:
                bar.remove_task(row)
            bar.update(self.matrix, completed=t.done, count=f"{t.done}/{t.total}")
        elif st is not None and st.state == "running":
            if st.label not in self.rows:
                self.rows[st.label] = bar.add_task("", total=None, count="", cell=st.label)
            s = st.step or {}
            bar.update(self.rows[st.label], description=f"  {st.label}: {t.steps_text(st)}",
                       total=s.get("total"), completed=s.get("step") or 0)


class _EtaColumn(ProgressColumn):
    """The suite's ETA on the suite's bar, a cell's on its own, asked of the tracker at every refresh."""

    def __init__(self, tracker: SuiteProgress) -> None:
        super().__init__()
        self.tracker = tracker

    def render(self, task: Any) -> Text:
        label = task.fields.get("cell")
        st = self.tracker.cells.get(label) if label else None
        text = self.tracker.suite_text() if label is None else self.tracker.eta_text(st) if st else ""
        return Text(text, style="progress.remaining")


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class _ConsoleHandler(logging.Handler):
    """Log records printed through the display's console (above a live display's bars), unwrapped."""

    def __init__(self, console: Any, *, level: int) -> None:
        super().__init__(level=level)
        self.console = console
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), soft_wrap=True, highlight=False, markup=False)
        except Exception:  # noqa: BLE001 - logging must never fail the run
            self.handleError(record)


def _own_records(record: logging.LogRecord) -> bool:
    return record.name.split(".")[0] in ("bench", "baselines") or record.levelno >= logging.ERROR


def _route_transformers_logging(on: bool) -> bool:
    """While ``on``, transformers' records go through logging (to the log file; the console shows
    nerbench's own) instead of its own stderr handler, which writes past rich's display. Returns
    whether anything was changed."""
    import sys

    if "transformers" not in sys.modules:
        return False
    from transformers.utils import logging as hf_logging

    if on:
        hf_logging.disable_default_handler()
        hf_logging.enable_propagation()
    else:
        hf_logging.disable_propagation()
        hf_logging.enable_default_handler()
    return True
