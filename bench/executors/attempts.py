"""Every attempt at a cell, recorded: in the cell's log, in the run log and in its results (``run.attempts``).

One record per attempt, in order, for every process executor::

    {"attempt": 2, "executor": "ray", "host": "node-b", "pid": 4242, "worker_pid": 4100,
     "node_id": "5f3a...", "gpu_ids": [0], "started": "2025-01-01T10:00:00+00:00", "ended": "2025-01-01T10:03:10+00:00",
     "outcome": "finished", "cause": null}

``pid`` is the cell's own process, ``worker_pid`` the Ray worker that started it (``--executor ray``), ``node_id``
its Ray node (several nodes can share one host) and ``gpu_ids`` the GPUs Ray gave the task (``[]``: none reserved);
``outcome`` is ``finished``, ``failed`` (``cause`` says why; the driver's ``--retries`` may run it again) or
``worker_lost`` (the Ray worker or its node died: Ray ran the task again by itself, up to its
``max_retries``). The last record is the attempt that wrote the result. ``ended`` is ``null`` when nobody saw
the end (a lost worker). A Ray task learns its attempt number from the driver's event box when it starts
(:class:`bench.executors.ray_worker.EventBox`), so a task Ray re-runs after losing its worker logs
"attempt 2"; the driver tells attempts apart by the start events it receives (:class:`RayAttempts`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOST = "the Ray worker running it was lost (killed, or its node died); Ray ran the task again"


def when(t: float | None) -> str | None:
    """A ``time.time()`` as the results' timestamps write it (UTC, seconds).

    >>> when(0.0), when(None)
    ('1970-01-01T00:00:00+00:00', None)
    """
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def record(*, attempt: int, executor: str, host: str | None, started: float | None, ended: float | None = None,
           outcome: str | None = None, cause: str | None = None, pid: int | None = None,
           worker_pid: int | None = None, node_id: str | None = None, gpu_ids: list[Any] | None = None) -> dict[str, Any]:
    """One attempt's record (see the module docstring); ``outcome`` ``None`` while it runs."""
    out: dict[str, Any] = {"attempt": attempt, "executor": executor, "host": host, "pid": pid}
    if executor == "ray":
        out.update(worker_pid=worker_pid, node_id=node_id, gpu_ids=list(gpu_ids or []))
    out.update(started=when(started), ended=when(ended), outcome=outcome, cause=cause)
    return out


def with_attempts(result: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """``result`` with ``run.attempts``."""
    return {**result, "run": {**(result.get("run") or {}), "attempts": [dict(a) for a in attempts]}}


def annotate_files(files: dict[str, bytes], *, attempts: list[dict[str, Any]],
                   model_location: dict[str, Any] | None = None) -> dict[str, bytes]:
    """A cell's returned files with ``run.attempts`` (and ``system.model_location``) in every result document;
    the saved predictions as they are."""
    from bench.results import dumps

    out = {}
    for rel, blob in files.items():
        if rel.endswith(".json"):
            try:
                doc = json.loads(blob.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                out[rel] = blob  # write_result_files refuses it with the reason
                continue
            if isinstance(doc, dict):
                doc = with_attempts(doc, attempts)
                if model_location is not None and isinstance(doc.get("system"), dict):
                    doc["system"] = {**doc["system"], "model_location": model_location}
                blob = dumps(doc).encode("utf-8")
        out[rel] = blob
    return out


def annotate_written(paths: list[Path], attempts: list[dict[str, Any]]) -> None:
    """Add ``run.attempts`` to result files a cell's process wrote here (``--executor local``), atomically."""
    from bench.results import ResultError, atomic_write_text, dumps, read_result

    for path in paths:
        if Path(path).suffix != ".json":
            continue
        try:
            atomic_write_text(Path(path), dumps(with_attempts(read_result(Path(path)), attempts)))
        except ResultError as exc:
            log.warning("%s: its attempts could not be added: %s", path, exc)


class RayAttempts:
    """The driver's record of every Ray attempt at each cell, from the tasks' start events and replies."""

    def __init__(self) -> None:
        self.by_label: dict[str, list[dict[str, Any]]] = {}
        self.logged: dict[str, int] = {}
        """How many of a cell's attempts its log has a header for."""

    def next_attempt(self, label: str) -> int:
        """The attempt number a new submission of ``label`` will most likely get (the task's own, from the
        event box, wins)."""
        return len(self.by_label.get(label, [])) + 1

    def started(self, label: str, info: dict[str, Any]) -> list[dict[str, Any]]:
        """A task's ``start`` event; returns the earlier attempts it shows lost (Ray re-ran the task)."""
        records = self.by_label.setdefault(label, [])
        lost = [r for r in records if r["outcome"] is None]
        for r in lost:
            r.update(outcome="worker_lost", cause=LOST)
        records.append(record(attempt=int(info.get("attempt") or len(records) + 1), executor="ray",
                              host=info.get("node"), worker_pid=info.get("worker_pid"),
                              node_id=info.get("node_id"), gpu_ids=info.get("gpu_ids"), started=info.get("started")))
        return lost

    def ended(self, label: str, mine: dict[str, Any] | None, *, failed: str | None = None,
              lost: bool = False) -> list[dict[str, Any]]:
        """A task's reply (``mine``: its own attempt record) or, with ``failed``, how Ray's ``get`` failed (every
        attempt still open ends so: ``lost``, its worker was lost); returns the cell's attempts so far."""
        records = self.by_label.setdefault(label, [])
        if mine is not None:
            same = [r for r in records if r["attempt"] == mine["attempt"]]
            if same:
                same[0].update(mine)
            else:
                records.append(dict(mine))
        for r in records:
            if r["outcome"] is None:
                r.update(outcome="worker_lost" if failed is None or lost else "failed", cause=failed or LOST)
        if failed is not None and not records:
            records.append(record(attempt=1, executor="ray", host=None, started=None,
                                  outcome="worker_lost" if lost else "failed", cause=failed))
        return [dict(r) for r in records]

    def fail_last(self, label: str, cause: str) -> None:
        """The cell's last attempt failed after all (its files could not be put in place)."""
        if records := self.by_label.get(label):
            records[-1].update(outcome="failed", cause=cause)

    def unlogged(self, label: str) -> list[dict[str, Any]]:
        """The cell's attempts its log has no header for yet (and mark them logged)."""
        records = self.by_label.get(label, [])
        start, self.logged[label] = self.logged.get(label, 0), len(records)
        return records[start:]
