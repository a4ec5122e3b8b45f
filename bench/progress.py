"""What a run knows of its cells while they run: state, steps, pace, and the ETAs of each cell and of the suite.

:class:`SuiteProgress` takes the progress events of :func:`bench.runner.run_cells` and its executors
(``plan``, ``cell``/``cell_start``, ``step``, ``predict``, ``message``, ``retry``, ``cell_done``), the
same events whether a cell runs in this process, in a local cell process or as a Ray task, and
answers what the displays of :mod:`bench.cli_console` show.

A cell's ETA: before its training has run :data:`~bench.cell_estimate.MEASURED_AFTER_S`, the cell's
estimate (the one ``--dry-run`` shows) less the time it has run; after that, or when the cell has no
estimate, the measured pace: the seconds per step since the first step seen (``elapsed``, measured
where the cell runs, so set-up before the first step does not count) times the steps left; until a
second step has come, a cell without an estimate has no pace (its first step is mostly warm-up). A cell
without steps yet falls back on its estimate, else on the mean duration of the finished cells of the
same system at the same training size (else of the same system, else of the same kind). The suite's
ETA adds the running cells' ETAs and, for each cell still waiting, its estimate or that mean; with several cells running at once
(Ray) the sum is shared among them. Cells for which nothing is known are counted, not guessed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.cell_estimate import MEASURED_AFTER_S, format_seconds


@dataclass
class CellState:
    label: str
    system: str = ""
    kind: str = ""
    estimate: float | None = None
    train_size: int | None = None
    """A learning curve's point: the number of training sentences (``None``: the whole train split)."""
    state: str = "queued"
    """queued, running, finished or failed"""
    started: float | None = None
    ended: float | None = None
    step: dict[str, Any] | None = None
    """The latest ``step`` event's info."""
    step_at: float = 0.0
    first_step: tuple[int, float, float] | None = None
    """``(step, elapsed, processed)`` of the first step seen: pace and rate are measured from there, without
    the set-up before it."""
    doing: str = ""
    """What the cell does when it is not stepping: a message, predicting a split."""
    node: str = ""

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


class SuiteProgress:
    """The run's cells as progress events describe them; thread-safe (a display reads it from its own thread)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, measured_after: float | None = None) -> None:
        self.clock = clock
        self.measured_after = MEASURED_AFTER_S if measured_after is None else measured_after
        self.lock = threading.RLock()
        self.cells: dict[str, CellState] = {}
        self.total = 0
        self.done = 0
        self.started = 0

    # ------------------------------------------------------------------ events
    def update(self, event: str, info: dict[str, Any]) -> CellState | None:
        """Apply one progress event; returns the cell it was about (``None`` for a run-wide one)."""
        with self.lock:
            now = self.clock()
            if event == "plan":
                self._plan(info)
                return None
            label = info.get("cell")
            if not label:
                return None
            st = self.cells.setdefault(label, CellState(label))
            if event in ("cell", "cell_start"):
                self._start(st, now, node=info.get("node", ""))
            elif event == "step":
                if st.state != "running":
                    self._start(st, now)
                st.step, st.step_at, st.doing = dict(info), now, ""
                if info.get("elapsed") is not None and (st.first_step is None or info["step"] < st.first_step[0]):
                    st.first_step = (info["step"], info["elapsed"], info.get("processed") or 0)
            elif event == "predict":
                st.doing = f"predicting the {info.get('split')} split ({info.get('sentences')} sentences)"
            elif event == "message":
                st.doing = str(info.get("text", ""))
            elif event == "retry":
                st.step, st.doing, st.started = None, f"attempt {info.get('attempt')} failed: running it again", now
                st.first_step = None
            elif event == "cell_done":
                st.state = "failed" if info.get("failed") else "finished"
                st.ended = now
                self.done = max(self.done, int(info.get("done") or 0))
            return st

    def _plan(self, info: dict[str, Any]) -> None:
        self.total = int(info.get("total") or 0)
        entries = info.get("cells")
        if entries is None:
            return
        if entries and not any(e["cell"] in self.cells for e in entries):
            self.started = self.done = 0  # a new phase (the out-of-domain cells after the in-domain ones): count afresh
        keep = {e["cell"] for e in entries}
        self.cells = {k: v for k, v in self.cells.items() if k in keep or v.state != "queued"}
        for e in entries:
            st = self.cells.setdefault(e["cell"], CellState(e["cell"]))
            st.system, st.kind, st.estimate = e.get("system", ""), e.get("kind", ""), e.get("estimate")
            st.train_size = e.get("train_size")

    def _start(self, st: CellState, now: float, *, node: str = "") -> None:
        if st.state != "running":
            self.started += 1
        st.state, st.started, st.ended, st.step, st.doing, st.node = "running", now, None, None, "", node
        st.first_step = None

    # ------------------------------------------------------------------ questions
    def running(self) -> list[CellState]:
        with self.lock:
            return [c for c in self.cells.values() if c.state == "running"]

    def mean_duration(self, st: CellState) -> tuple[float | None, str]:
        """The mean duration of the finished cells of ``st``'s system at its training size (a learning curve's
        points differ by size), else of its system, else of its kind."""
        finished = [c for c in self.cells.values() if c.state == "finished" and c.duration is not None]
        system = [c for c in finished if c.system and c.system == st.system]
        for what, same in (("system", [c for c in system if c.train_size == st.train_size]), ("system", system),
                           ("kind", [c for c in finished if c.kind and c.kind == st.kind])):
            if same:
                return sum(c.duration for c in same) / len(same), f"mean of {len(same)} finished {st.kind or what} cell(s)"
        return None, ""

    def cell_eta(self, st: CellState, now: float | None = None) -> tuple[float | None, str]:
        """``(seconds left, what it rests on)`` for a running or waiting cell; ``(None, "")`` when unknown."""
        with self.lock:
            now = self.clock() if now is None else now
            ran = now - st.started if st.started is not None else 0.0
            s = st.step
            if s and s.get("step") and s.get("total"):
                since = now - st.step_at
                trained = (s.get("elapsed") if s.get("elapsed") is not None else ran - since) + since
                if st.estimate is not None and trained < self.measured_after:
                    return max(0.0, st.estimate - trained), "estimate"
                first, at, _ = self._origin(st)
                if first == 0 and st.estimate is None:
                    # one step seen: its time is mostly warm-up (a GPU's first step took 16 s of a 60 s cell), so
                    # no pace yet: the mean of finished cells like it, else unknown until the next step
                    mean, why = self.mean_duration(st)
                    return (None, "") if mean is None else (max(0.0, mean - ran), why)
                pace = (trained - since - at) / (s["step"] - first)
                return max(0.0, (s["total"] - s["step"]) * pace - since), "measured pace"
            if st.estimate is not None:
                return max(0.0, st.estimate - ran), "estimate"
            mean, why = self.mean_duration(st)
            return (None, "") if mean is None else (max(0.0, mean - ran), why)

    @staticmethod
    def _origin(st: CellState) -> tuple[int, float, float]:
        """Where the pace is measured from: the first step seen, once a later one has come; else the start."""
        s = st.step or {}
        return st.first_step if st.first_step and st.first_step[0] < (s.get("step") or 0) else (0, 0.0, 0.0)

    def suite_eta(self, now: float | None = None) -> tuple[float | None, int]:
        """``(seconds left for every cell not ended, how many cells had no figure)``."""
        with self.lock:
            now = self.clock() if now is None else now
            running = [c for c in self.cells.values() if c.state == "running"]
            waiting = [c for c in self.cells.values() if c.state == "queued"]
            etas = {c.label: self.cell_eta(c, now)[0] for c in [*running, *waiting]}
            known = [v for v in etas.values() if v is not None]
            unknown = len(etas) - len(known)
            if unknown and not known:
                return None, unknown
            longest = max((etas[c.label] or 0.0 for c in running), default=0.0)
            return max(longest, sum(known) / max(1, len(running))), unknown

    # ------------------------------------------------------------------ words
    def steps_text(self, st: CellState) -> str:
        """``epoch 2, step 340/1200, loss 0.123, 1,450 tokens/s`` (what the latest step says)."""
        s = st.step
        if not s:
            return st.doing or ("waiting for a worker" if st.state == "queued" else "starting")
        parts = []
        if s.get("epoch") is not None:
            parts.append(f"epoch {s['epoch']}" + (f" of at most {s['epochs']}" if s.get("epochs") else ""))
        name = s.get("name") or "step"
        parts.append(f"{name} {s.get('step')}/{'≤ ' if s.get('bound') else ''}{s.get('total')}")
        if s.get("loss") is not None:
            parts.append(f"loss {s['loss']:.4g}")
        first, at, processed = self._origin(st)
        elapsed = (s.get("elapsed") or 0.0) - at
        if elapsed > 0:
            if s.get("processed"):
                parts.append(f"{(s['processed'] - processed) / elapsed:,.0f} {s.get('unit', 'tokens')}/s")
            else:
                parts.append(f"{(s['step'] - first) / elapsed:.2f} {name}s/s")
        if st.doing:
            parts.append(st.doing)
        return ", ".join(parts)

    def eta_text(self, st: CellState, now: float | None = None) -> str:
        eta, why = self.cell_eta(st, now)
        if eta is None:
            return "ETA unknown"
        return f"ETA {format_seconds(eta)} ({why})"

    def suite_text(self, now: float | None = None) -> str:
        eta, unknown = self.suite_eta(now)
        with self.lock:
            left = sum(c.state in ("queued", "running") for c in self.cells.values())
        if eta is None:
            return f"suite ETA unknown ({left} cell(s) left)"
        more = f" + {unknown} cell(s) not estimated" if unknown else ""
        return f"suite ETA {format_seconds(eta)}{more} ({left} cell(s) left)"

    def line(self, st: CellState, now: float | None = None) -> str:
        """One plain progress line of a running cell: what it does, its ETA and the suite's."""
        with self.lock:
            now = self.clock() if now is None else now
            ran = format_seconds(now - st.started).removeprefix("~ ") if st.started is not None else "–"
            return (f"progress {st.label}: {self.steps_text(st)}; running {ran}; cell {self.eta_text(st, now)}; "
                    f"{self.suite_text(now)}")
