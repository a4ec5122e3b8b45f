"""Result files: one JSON per (task, system, seed, split), versioned, written atomically.

Layout: ``<results_dir>/<task>/<system>/<run_id>.json`` with ``run_id = seed<k>-<split>``.
Files are written to a temporary name in the same folder and renamed into place, so a crash leaves
either the old file or the new one, never half of one. Floats are rounded and keys sorted so
results diff cleanly in git.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import NerbenchError

SCHEMA_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)
FLOAT_DIGITS = 6

REQUIRED_KEYS = (
    "schema_version", "task", "system", "seed", "split", "metrics", "cost", "environment", "cell_key",
)


class ResultError(NerbenchError):
    """A result file that cannot be written or read as a valid nerbench result."""


def run_id(seed: int, split: str) -> str:
    return f"seed{seed}-{split}"


def result_path(results_dir: Path, task: str, system: str, seed: int, split: str) -> Path:
    return Path(results_dir) / task / system / f"{run_id(seed, split)}.json"


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            return None
        return round(obj, FLOAT_DIGITS)
    if isinstance(obj, dict):
        return {str(k): _round(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v) for v in obj]
    return obj


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(_round(result), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file + fsync + rename; errors are raised, never swallowed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
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
    result = {**result, "schema_version": SCHEMA_VERSION}
    validate(result, where="<new result>")
    path = result_path(results_dir, result["task"]["name"], result["system"]["name"], result["seed"], result["split"])
    atomic_write_text(path, dumps(result))
    return path


def validate(result: Any, *, where: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise ResultError(f"{where}: a result must be a JSON object")
    version = result.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultError(
            f"{where}: schema_version {version!r} is not supported by this nerbench (expects {SCHEMA_VERSION}); "
            "re-run the cell or use the nerbench version that wrote it"
        )
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise ResultError(f"{where}: missing key(s) {', '.join(missing)}")
    for key in ("name", "version", "fingerprint"):
        if key not in result["task"]:
            raise ResultError(f"{where}: task.{key} missing")
    if "name" not in result["system"]:
        raise ResultError(f"{where}: system.name missing")
    main = result["metrics"].get("main")
    if not isinstance(main, dict) or "value" not in main:
        raise ResultError(f"{where}: metrics.main.value missing")
    return result


def read_result(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except OSError as exc:
        raise ResultError(f"{path}: cannot read: {exc.strerror}") from None
    return validate(data, where=str(path))


def iter_results(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every result under ``results_dir`` in a stable order; invalid files raise with their path."""
    for path in sorted(Path(results_dir).rglob("*.json")):
        yield path, read_result(path)
