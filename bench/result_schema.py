"""What a valid result file is: the schema version, the fields the report reads and their types, and
:func:`validate`, which every reader and writer of results calls (:mod:`bench.results`). A wrongly typed or
incomplete result is one :class:`ResultError` naming the file and the field, never a crash further on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

from bench.errors import NerbenchError, name_problem

SCHEMA_VERSION = 2
"""2: exact floats, ``unit_counts`` instead of ``sentence_counts``, ``run`` and ``task.provenance``
blocks, saved predictions, scorer and system versions in the cell key."""
NUMBER_PATHS: dict[str, tuple[str, ...]] = {
    "f1": ("metrics.conlleval.micro.f1", "metrics.lenient.micro.f1"),
    "strict_f1": ("metrics.strict.micro.f1",),
    "partial_f1": ("metrics.nervaluate.overall.partial.f1",),
    "official_f1": ("metrics.spans.official.f1",),
    "invalid_tags": ("metrics.invalid_tags.predicted", "metrics.counts.invalid_pred_tags"),
    "train_seconds": ("cost.train_wall_seconds",),
    "tokens_per_second": ("cost.train_tokens_per_second",),
    "peak_gpu_mib": ("cost.gpu.peak_memory_used_mb",),
    "energy_j": ("cost.gpu.energy_j",),
    "peak_rss_mib": ("cost.peak_rss_mb",),
    "predict_sentences_per_second": ("prediction.sentences_per_second",),
}
"""Where each number the report shows lives in a result file (:data:`bench.report.PATHS`); the first
path present wins. The second paths read results written before scorer version 2 (``lenient`` was the
conlleval block then). Each is a number or ``null`` (:func:`check_fields`)."""
PER_TYPE_PATHS = ("metrics.conlleval.per_type", "metrics.lenient.per_type")
"""Per-type scores: ``{entity type: {"f1": number, ...}}``."""

REQUIRED_KEYS = (
    "schema_version", "task", "system", "seed", "split", "metrics", "cost", "environment", "cell_key",
)


class ResultError(NerbenchError):
    """A result file that cannot be written or read as a valid nerbench result."""


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
    for key in ("task", "system", "metrics", "cost", "environment", "cell_key"):
        if not isinstance(result[key], dict):
            raise ResultError(f"{where}: {key} must be a JSON object, got {type(result[key]).__name__}")
    for key in ("name", "version", "fingerprint"):
        if key not in result["task"]:
            raise ResultError(f"{where}: task.{key} missing")
    if "name" not in result["system"]:
        raise ResultError(f"{where}: system.name missing")
    main = result["metrics"].get("main")
    if not isinstance(main, dict) or "value" not in main:
        raise ResultError(f"{where}: metrics.main.value missing")
    check_fields(result, where=where)
    return result


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _shown(x: Any) -> str:
    text = json.dumps(x, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


_OPTIONAL: tuple[tuple[str, str, Callable[[Any], bool]], ...] = (
    ("system.kind", "a string", lambda v: isinstance(v, str)),
    ("system.model", "a string or null", lambda v: v is None or isinstance(v, str)),
    ("system.notes", "a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    ("metrics.main.name", "a string", lambda v: isinstance(v, str)),
    ("metrics.main.ci", "a JSON object or null", lambda v: v is None or isinstance(v, dict)),
    ("metrics.main.ci.unit", "a string or null", lambda v: v is None or isinstance(v, str)),
    ("metrics.main.ci.units", "an integer or null", lambda v: v is None or _is_int(v)),
    ("run.attempts", "a list of JSON objects", lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v)),
    ("system.model_location", "a JSON object", lambda v: isinstance(v, dict)),
)
"""Fields the report reads when present: ``(path, what it must be, test)``."""


class _Check:
    """:func:`check_fields` of one result: each method raises a :class:`ResultError` naming the file and field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, want: str, value: Any) -> NoReturn:
        raise ResultError(f"{self.where}: {path} must be {want}, got {_shown(value)}")

    def name(self, path: str, value: Any) -> None:
        if why := name_problem(value):
            raise ResultError(f"{self.where}: {path}: {why}")

    def number(self, path: str, value: Any) -> None:
        if value is not None and not _is_number(value):
            self.fail(path, "a number or null", value)

    def table(self, path: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, "a JSON object", value)
        return value

    def numbers(self, path: str, value: Any) -> None:
        """A JSON object of numbers (counts, scores)."""
        for k, v in self.table(path, value).items():
            self.number(f"{path}.{k}", v)

    def unit_counts(self, path: str, value: Any) -> None:
        """Per-unit counts (:func:`bench.scoring.score_split`): a unit name, ids, and [tp, fp, fn] per mode."""
        uc = self.table(path, value)
        if not isinstance(uc.get("unit"), str) or not isinstance(uc.get("ids"), list):
            raise ResultError(f"{self.where}: {path} needs a string 'unit' and an 'ids' list")
        for mode, rows in uc.items():
            if mode not in ("unit", "ids") and not (isinstance(rows, list) and all(
                    isinstance(r, list) and len(r) == 3 and all(_is_int(x) for x in r) for r in rows)):
                raise ResultError(f"{self.where}: {path}.{mode} must be a list of [tp, fp, fn] integer triples")

    def analysis(self, at: str, a: dict[str, Any]) -> None:
        """The blocks of an error analysis (:func:`bench.analysis.analyse`) that the report averages."""
        if a.get("seen_unseen") is not None:
            su = self.table(f"{at}.seen_unseen", a["seen_unseen"])
            for part in ("seen", "unseen"):
                self.numbers(f"{at}.seen_unseen.{part}", su.get(part))
        errors = self.table(f"{at}.error_types", a.get("error_types") or {})
        self.numbers(f"{at}.error_types.overall", errors.get("overall") or {})
        for etype, counts in self.table(f"{at}.error_types.per_type", errors.get("per_type") or {}).items():
            self.name(f"{at}.error_types.per_type: entity type", etype)
            self.numbers(f"{at}.error_types.per_type.{etype}", counts)
        for bucket, block in self.table(f"{at}.length", a.get("length") or {}).items():
            self.numbers(f"{at}.length.{bucket}", block)
        for gold, row in self.table(f"{at}.confusion", a.get("confusion") or {}).items():
            self.name(f"{at}.confusion: entity type", gold)
            for pred in self.table(f"{at}.confusion.{gold}", row):
                self.name(f"{at}.confusion.{gold}: entity type", pred)
            self.numbers(f"{at}.confusion.{gold}", row)
        if a.get("examples") is not None:
            self.examples(f"{at}.examples", self.table(f"{at}.examples", a["examples"]))

    def examples(self, at: str, ex: dict[str, Any]) -> None:
        """``{spurious|missed: [[text, entity type, count], ...], kept: integer}`` (:func:`bench.analysis.analyse`)."""
        for kind in ("spurious", "missed"):
            if not isinstance(rows := ex.get(kind) or [], list):
                self.fail(f"{at}.{kind}", "a list of [text, entity type, count]", rows)
            for i, row in enumerate(rows):
                if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and _is_int(row[2])
                        and row[2] >= 0):
                    self.fail(f"{at}.{kind}[{i}]", "[text, entity type, count >= 0]", row)
                self.name(f"{at}.{kind}[{i}]: entity type", row[1])
        if ex.get("kept") is not None and not _is_int(ex["kept"]):
            self.fail(f"{at}.kept", "an integer", ex["kept"])

    def references(self, refs: Any) -> None:
        """``task.reference``: the task's published numbers (:func:`task_references`); ``note`` is optional."""
        if not isinstance(refs, list):
            self.fail("task.reference", "a list of JSON objects", refs)
        for i, block in enumerate(refs):
            ref = self.table(f"task.reference[{i}]", block)
            for key in ("system", "split", "metric", "value", "source", "note"):
                want, ok = ("a number", _is_number) if key == "value" else ("a string", lambda v: isinstance(v, str))
                if (key != "note" or key in ref) and not ok(ref.get(key)):
                    self.fail(f"task.reference[{i}].{key}", want, ref.get(key))


def check_fields(result: dict[str, Any], *, where: str) -> None:
    """The names and types of every field ``nerbench report`` reads (``compare`` and ``rescore`` read
    fewer), so a wrongly typed result is one :class:`ResultError` naming the file and the field, never
    a crash further on. Names (task, system, split, entity types) follow :func:`bench.errors.name_problem`,
    the rule of task and suite files; the seed is an integer; the cell-key fields are scalars; every
    number the report shows (:data:`NUMBER_PATHS`) is a number or ``null``; per-type scores, per-unit
    counts, the error analysis (its examples too) and the task's published references have their
    documented shapes.
    """
    c = _Check(where)
    c.name("task.name", result["task"]["name"])
    c.name("system.name", result["system"]["name"])
    c.name("split", result["split"])
    if not _is_int(result["seed"]) or result["seed"] < 0:
        c.fail("seed", "an integer >= 0", result["seed"])
    scalar = ("a string, number, true, false or null", lambda v: v is None or isinstance(v, (str, int, float)))
    for path, want, ok in (*_OPTIONAL, *((p, *scalar) for p in (
            "task.version", "task.fingerprint", "system.config_hash", *(f"cell_key.{k}" for k in result["cell_key"])))):
        parent, _, last = path.rpartition(".")
        block = _dig(result, parent)
        if isinstance(block, dict) and last in block and not ok(block[last]):
            c.fail(path, want, block[last])
    for path in ("metrics.main.value", "metrics.main.ci_low", "metrics.main.ci_high",
                 *(p for paths in NUMBER_PATHS.values() for p in paths)):
        c.number(path, _dig(result, path))
    for path in PER_TYPE_PATHS:
        if (per_type := _dig(result, path)) is not None:
            for etype, block in c.table(path, per_type).items():
                c.name(f"{path}: entity type", etype)
                c.number(f"{path}.{etype}.f1", c.table(f"{path}.{etype}", block).get("f1"))
    if "train_subset" in result:
        _check_subset(c, result)
    if "transfer" in result:
        _check_transfer(c, result)
    if result.get("unit_counts") is not None:
        c.unit_counts("unit_counts", result["unit_counts"])
    if (analysis := _dig(result, "metrics.analysis")) is not None:
        c.analysis("metrics.analysis", c.table("metrics.analysis", analysis))
    if result["task"].get("reference") is not None:
        c.references(result["task"]["reference"])


def _dig(obj: Any, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; ``None`` when a step is missing or not a JSON object (as
    :func:`bench.compare.dig`, which this layer cannot import)."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _check_subset(c: _Check, result: dict[str, Any]) -> None:
    """A learning-curve point's ``train_subset`` block (:meth:`bench.data.subsets.TrainSubset.describe`):
    its size is a positive integer (it names the result's folder) and the one in the cell key."""
    block = c.table("train_subset", result["train_subset"])
    for key in ("size", "sentences", "tokens", "entities"):
        if not _is_int(block.get(key)) or block[key] < (1 if key in ("size", "sentences") else 0):
            c.fail(f"train_subset.{key}", "a positive integer" if key in ("size", "sentences") else "an integer >= 0",
                   block.get(key))
    if not isinstance(block.get("sha256"), str) or not isinstance(block.get("unit"), str):
        raise ResultError(f"{c.where}: train_subset needs a string 'sha256' and 'unit'")
    if result["cell_key"].get("train_size") != block["size"]:
        c.fail("cell_key.train_size", f"the train_subset size {block['size']}", result["cell_key"].get("train_size"))


def _check_transfer(c: _Check, result: dict[str, Any]) -> None:
    """An out-of-domain result's ``transfer`` block (:mod:`bench.transfer_run`): what the report reads of it."""
    block = c.table("transfer", result["transfer"])
    c.name("transfer.train_task", block.get("train_task"))
    if result["cell_key"].get("transfer_from") != block["train_task"]:
        c.fail("cell_key.transfer_from", f"the transfer's train task {block['train_task']!r}",
               result["cell_key"].get("transfer_from"))
    for eval_type, train_type in c.table("transfer.types", block.get("types")).items():
        c.name("transfer.types: eval-side type", eval_type)
        c.name(f"transfer.types.{eval_type}", train_type)
    for side in ("gold", "predicted"):
        for etype, n in c.table(f"transfer.left_out.{side}", _dig(block, f"left_out.{side}")).items():
            c.name(f"transfer.left_out.{side}: entity type", etype)
            if not _is_int(n) or n < 0:
                c.fail(f"transfer.left_out.{side}.{etype}", "an integer >= 0", n)
    notes = block.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        c.fail("transfer.notes", "a list of strings", notes)
    ind = c.table("transfer.in_domain", block.get("in_domain"))
    c.number("transfer.in_domain.metrics.main.value", _dig(ind, "metrics.main.value"))
    c.unit_counts("transfer.in_domain.unit_counts", ind.get("unit_counts"))
    if (analysis := _dig(ind, "metrics.analysis")) is not None:
        c.analysis("transfer.in_domain.metrics.analysis", c.table("transfer.in_domain.metrics.analysis", analysis))
