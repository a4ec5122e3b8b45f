"""Result files: one JSON per (task, system, seed, split), versioned, written atomically.

Layout: ``<results_dir>/<task>/<system>/<run_id>.json`` with ``run_id = seed<k>-<split>`` (a learning-curve
point's under ``n<size>/`` below the system, an out-of-domain result's under ``from-<train task>/``).
Files are written to a temporary name in the same folder and renamed into place, so a crash leaves
either the old file or the new one, never half of one. Values are stored exactly (a learning rate
of 3e-7 stays 3e-7; only NaN and infinities, which JSON cannot hold, become ``null``); keys are
sorted so results diff cleanly in git. Rounding is for display only.

Beside each result, ``<run_id>.predictions.jsonl.gz`` holds the split's word-level predictions
(one JSON line per sentence: ``id``, ``source``, ``tags``, and ``scores`` / ``spans`` where the
system has them), so every metric can be recomputed without training (``nerbench rescore``).
What a valid result is (schema version, fields and their types) is :mod:`bench.result_schema`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.errors import NerbenchError
from bench.result_schema import (
    NUMBER_PATHS,
    PER_TYPE_PATHS,
    REQUIRED_KEYS,
    SCHEMA_VERSION,
    ResultError,
    check_fields,
    validate,
)

__all__ = [  # the schema's names (bench.result_schema) are importable from here too
    "NUMBER_PATHS", "PER_TYPE_PATHS", "PREDICTIONS_SUFFIX", "REQUIRED_KEYS", "SCHEMA_VERSION", "ResultError",
    "atomic_write_bytes", "atomic_write_text", "check_fields", "dumps", "encode_predictions", "in_domain",
    "iter_results", "jsonable", "prediction_rows", "predictions_path", "read_predictions", "read_result",
    "result_path", "run_id", "task_references", "train_size_of", "transfer_of", "validate", "variant_text",
    "write_predictions", "write_result",
]

_UMASK = os.umask(0)
os.umask(_UMASK)
PREDICTIONS_SUFFIX = ".predictions.jsonl.gz"


def run_id(seed: int, split: str) -> str:
    return f"seed{seed}-{split}"


def _cell_dir(results_dir: Path, task: str, system: str, train_size: int | None, transfer_from: str | None) -> Path:
    """``<task>/<system>``, and below it ``n<size>`` for a learning-curve point or ``from-<train task>`` for an
    out-of-domain result (``<task>`` is then the task it was scored on)."""
    folder = Path(results_dir) / task / system
    if transfer_from is not None:
        return folder / f"from-{transfer_from}"
    return folder if train_size is None else folder / f"n{int(train_size)}"


def result_path(results_dir: Path, task: str, system: str, seed: int, split: str, *,
                train_size: int | None = None, transfer_from: str | None = None) -> Path:
    return _cell_dir(results_dir, task, system, train_size, transfer_from) / f"{run_id(seed, split)}.json"


def predictions_path(results_dir: Path, task: str, system: str, seed: int, split: str, *,
                     train_size: int | None = None, transfer_from: str | None = None) -> Path:
    return _cell_dir(results_dir, task, system, train_size, transfer_from) / f"{run_id(seed, split)}{PREDICTIONS_SUFFIX}"


def train_size_of(result: dict[str, Any]) -> int | None:
    """The training size of a learning-curve point's result; ``None`` for the whole train split."""
    subset = result.get("train_subset")
    return subset["size"] if isinstance(subset, dict) else None


def transfer_of(result: dict[str, Any]) -> str | None:
    """The train task of an out-of-domain result (its ``transfer`` block, :mod:`bench.transfer`); ``None`` for
    a result scored on its own task's split."""
    block = result.get("transfer")
    return block.get("train_task") if isinstance(block, dict) else None


def in_domain(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results scored on their own task (out-of-domain results have their own report section)."""
    return [r for r in results if transfer_of(r) is None]


def variant_text(result: dict[str, Any]) -> str:
    """What sets a result apart from its task's whole-split cell, for a label: ``" (n=100)"``, ``" (from
    bc5cdr)"`` or ``""``."""
    size, source = train_size_of(result), transfer_of(result)
    return f" (from {source})" if source is not None else "" if size is None else f" (n={size})"


def jsonable(obj: Any) -> Any:
    """The one rule for numbers in nerbench's JSON: floats exact, NaN and infinities ``None``.

    >>> jsonable({"lr": 3e-07, "eps": 1e-08, "x": float("nan"), "t": (1, 2)})
    {'lr': 3e-07, 'eps': 1e-08, 'x': None, 't': [1, 2]}
    """
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return jsonable(obj.item())
    return obj


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(jsonable(result), indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file + fsync + rename; errors are raised, never swallowed."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file + fsync + rename; errors are raised, never swallowed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644 & ~_UMASK)  # mkstemp creates 0600; results are meant to be shared
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise ResultError(f"{path}: could not write result: {exc.strerror or exc}") from None


def write_result(results_dir: Path, result: dict[str, Any]) -> Path:
    """Validate and atomically write one result; returns its path."""
    result = jsonable({**result, "schema_version": SCHEMA_VERSION})  # checked as it will be read back
    validate(result, where="<new result>")
    path = result_path(results_dir, result["task"]["name"], result["system"]["name"], result["seed"], result["split"],
                       train_size=train_size_of(result), transfer_from=transfer_of(result))
    atomic_write_text(path, dumps(result))
    return path


def encode_predictions(rows: list[dict[str, Any]]) -> bytes:
    """Deterministic gzip of JSON lines (no timestamp or file name in the header), so equal
    predictions give byte-equal files."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        for row in rows:
            gz.write((json.dumps(jsonable(row), sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode())
    return buf.getvalue()


def write_predictions(path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write saved predictions atomically; returns the reference stored in the result."""
    data = encode_predictions(rows)
    atomic_write_bytes(path, data)
    return {"file": Path(path).name, "sha256": hashlib.sha256(data).hexdigest(), "sentences": len(rows)}


def prediction_rows(
    sentences: list, pred: list[list[str]], *, scores: list[list[float]] | None = None,
    pred_spans: list | None = None,
) -> list[dict[str, Any]]:
    """The saved-predictions lines of one split: sentence index and source, tags, and scores/spans."""
    rows = []
    for i, (s, tags) in enumerate(zip(sentences, pred, strict=True)):
        if len(tags) != len(s.tokens):
            raise NerbenchError(f"{s.source or f'sentence {i}'}: {len(s.tokens)} words but {len(tags)} predicted tags")
        row: dict[str, Any] = {"id": i, "source": _portable_source(s.source), "tags": list(tags)}
        if scores is not None:
            row["scores"] = [float(x) for x in scores[i]]
        if pred_spans is not None:
            row["spans"] = [{"type": e.type, "fragments": [list(f) for f in e.fragments]} for e in pred_spans[i]]
        rows.append(row)
    return rows


def _portable_source(source: str) -> str:
    """``path:line`` without the machine's folders: the file name and line."""
    path, sep, line = source.rpartition(":")
    return f"{Path(path).name}{sep}{line}" if sep and line.isdigit() else Path(source).name if source else ""


def task_references(task: Any) -> list[dict[str, Any]]:
    """A task's published numbers (:class:`bench.spec.ReferenceResult`) as its results' ``task.reference`` block,
    ``[{system, split, metric, value, source, note}, ...]``: a report finds them without the task file."""
    return [{k: getattr(ref, k) for k in ("system", "split", "metric", "value", "source", "note")}
            for ref in task.reference]


def read_predictions(result_file: Path, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The saved predictions of ``result`` (read from beside ``result_file``), checked against its sha256."""
    ref = result.get("predictions")
    if not isinstance(ref, dict) or "file" not in ref:
        raise ResultError(f"{result_file}: has no saved predictions (made by an older nerbench); run the cell again")
    path = Path(result_file).parent / ref["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultError(f"{path}: cannot read saved predictions: {exc.strerror}") from None
    if ref.get("sha256") and hashlib.sha256(data).hexdigest() != ref["sha256"]:
        raise ResultError(f"{path}: sha256 differs from the one recorded in {result_file}; the file was changed")
    rows = []
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: not a gzip-compressed UTF-8 file: {exc}") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict) or not isinstance(row.get("tags"), list):
            raise ResultError(f"{path}:{lineno}: a prediction line needs a 'tags' list")
        rows.append(row)
    if ref.get("sentences") is not None and len(rows) != ref["sentences"]:
        raise ResultError(f"{path}: {len(rows)} sentences, the result says {ref['sentences']}")
    return rows


def read_result(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise ResultError(f"{path}: not UTF-8 text (byte {exc.start}): not a result file") from None
    except OSError as exc:
        raise ResultError(f"{path}: cannot read: {exc.strerror}") from None
    return validate(data, where=str(path))


def iter_results(
    results_dir: Path, *, on_error: Callable[[ResultError], None] | None = None
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every result under ``results_dir`` in a stable order.

    An invalid file raises with its path, or, with ``on_error``, is handed to it and skipped, so a
    report or comparison names the broken file and goes on.
    """
    for path in sorted(Path(results_dir).rglob("*.json")):
        if path.name.startswith("."):
            continue  # an atomic write's temporary file
        try:
            result = read_result(path)
        except ResultError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        yield path, result
