"""The CLI's console: rich consoles that print tables whole when they do not write to a terminal, each data
warning once per command, and the live progress display of ``nerbench run``."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

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


class LiveDisplay:
    """One rich progress display for a run: the matrix bar and one line for the cell at hand.

    While it is live, console logging goes through rich above the bars and shows nerbench's own
    records only (libraries' warnings go to the log file; transformers' weight LOAD REPORT is replaced by
    one line of nerbench's, :mod:`bench.models.headinit`), each data warning once, so nothing printed
    breaks it; the cell line is hidden when a cell ends, so no stale "predict test 0/1" is left behind.
    """

    def __init__(self, console: Any, title: str, *, total: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.console = console
        self.title = title
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        )
        self.matrix = self.bar.add_task(title, total=total)
        self.inner = self.bar.add_task("", total=1, visible=False)
        self._swapped: list[logging.Handler] = []
        self._handler: logging.Handler | None = None
        self._transformers_routed = False

    def __enter__(self) -> LiveDisplay:
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
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.update(self.inner, visible=False)
        self.bar.__exit__(*exc)
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
        for h in self._swapped:
            root.addHandler(h)
        if self._transformers_routed:
            _route_transformers_logging(False)

    def progress(self, event: str, info: dict[str, Any]) -> None:
        from rich.markup import escape

        bar, inner = self.bar, self.inner
        if event == "plan":
            bar.update(self.matrix, total=info["total"], completed=0)
            if info.get("skipped"):
                bar.console.print(f"{info['skipped']} cell(s) already finished: skipped", highlight=False)
        elif event == "cell":
            bar.update(self.matrix, completed=info["index"] - 1, description=info["cell"])
            bar.update(inner, visible=False)
        elif event == "cell_done":
            bar.update(self.matrix, completed=info["done"])
            bar.update(inner, visible=False)
            if info["done"] >= info["total"]:
                bar.update(self.matrix, description=self.title)
        elif event == "running":
            bar.update(self.matrix, completed=info["done"],
                       description=f"{self.title}: {info['pending']} cell(s) submitted to Ray")
        elif event == "retry":
            bar.console.print(f"[yellow]retry[/yellow] {escape(info['cell'])} (attempt {info['attempt']} of "
                              f"{info['retries'] + 1} failed: {escape(str(info['cause']))})", soft_wrap=True,
                              highlight=False)
        elif event == "step":
            bar.update(inner, visible=True, total=info["total"], completed=info["step"],
                       description=f"  epoch {info['epoch']} loss {info.get('loss', float('nan')):.3f}")
        elif event == "predict":
            bar.update(inner, visible=True, total=1, completed=0,
                       description=f"  predict {info['split']} ({info['sentences']} sentences)")
        elif event == "message":
            bar.update(inner, visible=True, total=1, completed=0, description=f"  {info['text']}")
        elif event == "estimate":  # stays on screen: a long cell says so before it starts
            bar.console.print(f"{escape(info['cell'])}: {escape(info['text'])}", soft_wrap=True, highlight=False)


class _ConsoleHandler(logging.Handler):
    """Log records printed through the live display's console (above the bars), unwrapped."""

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
