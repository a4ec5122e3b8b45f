"""What a transfer cell's process does (:class:`bench.transfer.TransferJob`), and its rescoring.

The in-domain cell's model is loaded from the models dir with :func:`bench.predict.load_predictor`, the one
loader ``nerbench predict`` uses, and tags the eval task's test split word by word exactly as ``nerbench
predict`` tags CoNLL input (the eval task's own words and POS column, if it has one). Nothing is trained.

**A CRF trained with POS features on a task without a POS column** (conll2003 or bc5cdr -> wnut17 or
ncbi_disease): the CRF tags the eval split with its POS features off: those features are absent for every
word, so their weights add nothing, and every other feature (word, shape, affixes, context) works as
trained. A practitioner who takes a tagger to a new corpus has the corpus's words, not gold POS tags; the
out-of-domain number is the CRF's on those words. The result says so (``transfer.notes``, and
``transfer.inputs.pos``), ``nerbench run`` logs it, and the report marks the row. Its in-domain number
still uses the in-domain POS column, so that drop includes losing POS. (``nerbench predict`` refuses such
input instead: there the user can give the POS column.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data.load import TaskData
from bench.data.types import Sentence
from bench.errors import NerbenchError
from bench.plan import RUNNER_PARAMS, cell_notes, is_deterministic
from bench.results import (
    ResultError,
    prediction_rows,
    read_predictions,
    task_references,
    write_predictions,
    write_result,
)
from bench.transfer import (
    SPLIT,
    TransferCell,
    TransferData,
    is_transfer_finished,
    saved_in_domain,
    transfer_key,
    transfer_paths,
)
from bench.transfer_scoring import TRANSFER_VERSION, identity, score_in_types, shared_types
from bench.versions import SCORER_VERSION

log = logging.getLogger(__name__)

POS_OFF = ("the model was trained with POS features and {task} has no POS column: it tagged {task} with its POS "
           "features off (absent for every word); its in-domain score used them")


@dataclass(frozen=True)
class TransferJob:
    """A transfer cell to run: what an executor hands a cell's process (as :class:`bench.runner.CellJob`)."""

    cell: TransferCell
    splits: tuple[str, ...]
    config: Any
    key: dict[str, Any]
    in_domain_tags: tuple[tuple[str, ...], ...] | None = None
    """The in-domain cell's saved test predictions when its result is current; ``None``: tag the split."""
    in_domain_source: str = ""
    """Where they came from (the result file, relative to the results dir), or why they are not used."""
    estimate: Any = None
    """No time estimate: a transfer cell trains nothing (the progress display shows it without one)."""

    @property
    def data_key(self) -> str:
        """What executors file this job's data under (one payload per transfer pair)."""
        return f"{self.cell.eval_task}.from-{self.cell.train_task}"

    def key_for(self, data: TransferData) -> dict[str, Any]:
        return transfer_key(self.cell, data)

    def execute(self, data: TransferData, *, progress: Any = None, measure: Any = None) -> list[Path]:
        return run_transfer_cell(self, data, progress=progress, measure=measure)


def transfer_job(cell: TransferCell, data: TransferData, config: Any) -> TransferJob:
    tags, source = saved_in_domain(cell, data.train, Path(config.results_dir))
    return TransferJob(cell, (SPLIT,), config, transfer_key(cell, data),
                       None if tags is None else tuple(tuple(t) for t in tags), source)


def run_transfer_cells(
    cells: Sequence[TransferCell], data: Callable[[TransferCell], TransferData], config: Any, *, executor: Any,
    outcome: Any, progress: Any = None,
) -> None:
    """After the in-domain cells of a run (``outcome`` holds how they went): skip the finished transfer cells
    and those whose in-domain cell failed in this run, run the others with ``executor``."""
    failed = {label for label, _ in outcome.failed}
    jobs: list[tuple[TransferJob, TransferData]] = []
    for cell in cells:
        if cell.source.label in failed:
            outcome.failed.append((cell.label, f"not run: its in-domain cell {cell.source.label} failed"))
            continue
        try:
            bundle = data(cell)
            if not config.force and is_transfer_finished(cell, bundle, Path(config.results_dir)):
                outcome.skipped.append(cell.label)
                continue
            jobs.append((transfer_job(cell, bundle, config), bundle))
        except NerbenchError as exc:
            log.error("%s failed: %s", cell.label, exc)
            outcome.failed.append((cell.label, str(exc)))
    if not cells:
        return
    if progress:
        progress("plan", {"total": len(jobs), "skipped": sum(c.label in outcome.skipped for c in cells),
                          "failed": sum(c.label in dict(outcome.failed) for c in cells)})
    executor.run(jobs, outcome=outcome, progress=progress)


def missing_model(cell: TransferCell, config: Any, model_dir: Path) -> str:
    """The error for a transfer cell whose in-domain model folder is not there, with the command that makes it."""
    suite = (config.run_info or {}).get("suite") or "SUITE"
    models = "" if Path(config.models_dir) == Path("models") else f" --models-dir {config.models_dir}"
    return (f"{model_dir}: the model of {cell.source.label} is not there; {cell.label} reuses it and trains "
            f"nothing. Make it with `nerbench run --suite {suite} --task {cell.train_task} --system {cell.system} "
            f"--seeds {cell.seed}{models}` (add --force when that cell's results are already there: a finished "
            "cell is not run again, and models are not kept with results)")


def load_model(cell: TransferCell, config: Any) -> tuple[Any, Path, float]:
    """The in-domain cell's trained model as a predictor, its folder and the seconds loading took."""
    from bench.modeldir import MODEL_INFO_FILE
    from bench.predict import load_predictor

    model_dir = Path(config.models_dir) / cell.model_rel
    if not (model_dir / MODEL_INFO_FILE).is_file():
        raise NerbenchError(missing_model(cell, config, model_dir))
    t0 = time.perf_counter()
    predictor = load_predictor(model_dir, device=cell.params.get("device", config.device))
    return predictor, model_dir, time.perf_counter() - t0


def tag_split(predictor: Any, sentences: Sequence[Sentence], *, task: str) -> tuple[list[list[str]], Any, dict, list]:
    """Tags, per-word scores (or ``None``), timing and notes: ``predictor.tag`` on the words and POS columns,
    as ``nerbench predict`` calls it; a model that reads POS gets it switched off when the split has none."""
    pos = [list(s.pos) if s.pos is not None else None for s in sentences]
    notes = []
    if any(p is None for p in pos) and getattr(predictor, "uses_pos", False):
        predictor, pos = predictor.without_pos(), [None] * len(sentences)
        notes.append(POS_OFF.format(task=task))
        log.warning("%s", notes[-1])
    t0 = time.perf_counter()
    tagged = predictor.tag([list(s.tokens) for s in sentences], pos=pos) if sentences else []
    seconds = time.perf_counter() - t0
    for s, (tags, _) in zip(sentences, tagged, strict=True):
        if len(tags) != len(s.tokens):
            raise NerbenchError(f"{s.source}: {len(s.tokens)} words but the model gave {len(tags)} tags")
    has_scores = bool(tagged) and all(x is not None for _, scores in tagged for x in scores)
    scores = [[float(x) for x in sc] for _, sc in tagged] if has_scores else None
    timing = {"seconds": seconds, "sentences": len(sentences),
              "sentences_per_second": len(sentences) / seconds if seconds > 0 else None,
              "words_per_second": sum(len(s.tokens) for s in sentences) / seconds if seconds > 0 else None}
    return [list(t) for t, _ in tagged], scores, timing, notes


def _limit(sentences: list[Sentence], n: Any) -> list[Sentence]:
    return sentences[: int(n)] if n else sentences


def run_transfer_cell(job: TransferJob, data: TransferData, *, progress: Any = None, measure: Any = None) -> list[Path]:
    """Load the in-domain model, tag the eval test split (and the in-domain one unless its saved predictions
    came with the job), score both in the train-side types, write one result with both predictions."""
    from bench import env as envmod

    cell, config = job.cell, job.config
    started, git = datetime.now(UTC).isoformat(timespec="seconds"), envmod.git_state()
    limits = {k: cell.params[k] for k in RUNNER_PARAMS if k in cell.params}
    predictor, model_dir, load_seconds = load_model(cell, config)
    evaluated = _limit(data.eval.sentences(SPLIT), limits.get("max_eval_sentences"))
    if progress:
        progress("predict", {"cell": cell.label, "split": f"{cell.eval_task} {SPLIT}", "sentences": len(evaluated)})
    pred, scores, timing, notes = tag_split(predictor, evaluated, task=cell.eval_task)
    home = _limit(data.train.sentences(SPLIT), limits.get("max_eval_sentences"))
    saved = job.in_domain_tags
    if saved is not None and [len(t) for t in saved] == [len(s.tokens) for s in home]:
        home_pred, home_scores, source = [list(t) for t in saved], None, {"saved_predictions": job.in_domain_source}
    else:
        if progress:
            progress("predict", {"cell": cell.label, "split": f"{cell.train_task} {SPLIT}", "sentences": len(home)})
        why = job.in_domain_source if saved is None else "the saved in-domain predictions do not fit the split"
        home_pred, home_scores, _, _ = tag_split(predictor, home, task=cell.train_task)
        source = {"tagged_with_the_model": why}
    cost: dict[str, Any] = {"trained": False, "model_load_seconds": load_seconds}
    if measure is not None:
        process = measure()
        cost.update(peak_rss_mb=process["peak_rss_mb"], peak_rss_scope="cell process", process=process)
    train = _limit(data.train.sentences("train"), limits.get("max_train_sentences"))
    return [write_transfer(job, data, evaluated, pred, scores, home, home_pred, home_scores, train=train, notes=notes,
                           extra={"source": source, "model_dir": model_dir, "timing": timing, "cost": cost,
                                  "started": started, "git": git, "limits": limits})]


def _score_both(types: dict[str, str], data: TransferData, evaluated: Sequence[Sentence], pred: Sequence[Sequence[str]],
                home: Sequence[Sentence], home_pred: Sequence[Sequence[str]], *, train: Sequence[Sentence],
                n_resamples: int) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """``(metrics, unit_counts, left_out, in_domain)`` of the eval split (mapped) and the in-domain split."""
    keep = shared_types(types)
    metrics, unit_counts, left_out = score_in_types(data.eval.task, evaluated, pred, gold_types=types,
                                                    keep=keep, train=train, n_resamples=n_resamples)
    home_metrics, home_counts, home_left = score_in_types(data.train.task, home, home_pred, gold_types=identity(keep),
                                                          keep=keep, train=train, n_resamples=n_resamples)
    return metrics, unit_counts, left_out, {"split": SPLIT, "metrics": home_metrics, "unit_counts": home_counts,
                                            "left_out": home_left, "sentences": len(home)}


def write_transfer(job: TransferJob, data: TransferData, evaluated: Sequence[Sentence], pred: list[list[str]],
                   scores: Any, home: Sequence[Sentence], home_pred: list[list[str]], home_scores: Any, *,
                   train: Sequence[Sentence], notes: list[str], extra: dict[str, Any]) -> Path:
    """Score both splits and write the result and its two prediction files (see :mod:`bench.transfer`)."""
    from bench import env as envmod
    from bench.modeldir import MODEL_INFO_FILE
    from bench.runner import file_sha256
    from bench.writing import task_block

    cell, config = job.cell, job.config
    metrics, unit_counts, left_out, in_domain = _score_both(cell.mapping, data, evaluated, pred, home, home_pred,
                                                            train=train, n_resamples=config.bootstrap_resamples)
    _, preds_file, home_file = transfer_paths(cell, Path(config.results_dir))
    pref = write_predictions(preds_file, prediction_rows(list(evaluated), pred, scores=scores))
    in_domain["predictions"] = write_predictions(home_file, prediction_rows(list(home), home_pred, scores=home_scores))
    in_domain["source"] = extra["source"]
    model_rel = str(cell.model_rel)
    uses_pos = any(s.pos is not None for s in evaluated)
    result = {
        "task": task_block(data.eval, SPLIT),
        "system": {"name": cell.system, "kind": cell.spec.kind, "model": cell.spec.model, "params": cell.params,
                   "config_hash": cell.config_hash(), "deterministic": is_deterministic(cell.spec.kind),
                   "model_dir": model_rel, "model_dir_note": "the in-domain cell's model, relative to the run's "
                   "--models-dir (default models/); not trained again",
                   **({"notes": lang} if (lang := cell_notes(cell, data.eval.task.language)) else {})},
        "seed": cell.seed, "split": SPLIT, "cell_key": job.key,
        "data": {"eval_sentences": len(evaluated), "eval_tokens": sum(len(s.tokens) for s in evaluated),
                 "train_sentences": len(train), "limits": extra["limits"]},
        "metrics": metrics, "unit_counts": unit_counts,
        "predictions": {**pref, "has_scores": scores is not None, "has_spans": False},
        "training": {"trained": False, "note": f"the model of {cell.source.label}, loaded from {model_rel}"},
        "prediction": extra["timing"], "cost": extra["cost"],
        "environment": envmod.environment(git=extra["git"]), "run": config.run_info,
        "timestamps": {"started": extra["started"], "finished": datetime.now(UTC).isoformat(timespec="seconds")},
        "data_warnings": data.eval.warnings,
        "transfer": {
            "version": TRANSFER_VERSION, "train_task": cell.train_task, "eval_task": cell.eval_task,
            "types": cell.mapping, "shared_types": shared_types(cell.mapping), "left_out": left_out,
            "train_cell_key": _source_key(cell, data), "in_domain": in_domain, "notes": notes,
            "inputs": {"pos": "off (the eval split has no POS column)" if notes else
                       "used" if uses_pos else "none"},
            "model": {"dir": model_rel, "info_sha256": file_sha256(Path(extra["model_dir"]) / MODEL_INFO_FILE)},
            "seen_unseen_against": f"{cell.train_task} train split ({len(train)} sentences), train-side types",
        },
    }
    return write_result(config.results_dir, result)


def _source_key(cell: TransferCell, data: TransferData) -> dict[str, Any]:
    from bench.plan import cell_key

    return cell_key(cell.source, data.train)


# --------------------------------------------------------------------------- rescore


def _fit(rows: list[dict[str, Any]], sentences: list[Sentence], limit: Any, where: str) -> list[Sentence]:
    """The sentences the saved ``rows`` cover (the split, or its first ``max_eval_sentences``), checked."""
    if limit and len(rows) == min(int(limit), len(sentences)):
        sentences = sentences[: len(rows)]
    if len(rows) != len(sentences) or any(len(r["tags"]) != len(s.tokens) for r, s in zip(rows, sentences, strict=True)):
        raise ResultError(f"{where}: the saved predictions do not fit the {len(sentences)} sentences of the split "
                          "found now; they cannot be rescored against this data")
    return sentences


def rescore_transfer(path: Path, result: dict[str, Any], load: Callable[[str], TaskData], *,
                     n_resamples: int | None = None) -> dict[str, Any]:
    """An out-of-domain result with both scores recomputed from its two saved prediction files, under the
    mapping *it* records (not a suite's), with this checkout's scorer (not written)."""
    from bench.metrics import N_RESAMPLES

    block, key = result["transfer"], result["cell_key"]
    data = TransferData(load(result["task"]["name"]), load(block["train_task"]))
    for what, have, want in (("eval", data.eval.fingerprint, key.get("data_fingerprint")),
                             ("train", data.train.fingerprint, key.get("transfer_from_fingerprint"))):
        if have != want:
            raise ResultError(f"{path}: made on other {what} data (fingerprint {str(want)[:12]}, found now "
                              f"{have[:12]}); it cannot be rescored against this data")
    limits = (result.get("data") or {}).get("limits") or {}
    rows = read_predictions(path, result)
    home_rows = read_predictions(path, {"predictions": block["in_domain"].get("predictions")})
    evaluated = _fit(rows, data.eval.sentences(SPLIT), limits.get("max_eval_sentences"), str(path))
    home = _fit(home_rows, data.train.sentences(SPLIT), limits.get("max_eval_sentences"), f"{path} (in-domain)")
    resamples = n_resamples or (((result.get("metrics") or {}).get("main") or {}).get("ci") or {}).get("resamples") \
        or N_RESAMPLES
    metrics, unit_counts, left_out, in_domain = _score_both(
        dict(block["types"]), data, evaluated, [r["tags"] for r in rows], home, [r["tags"] for r in home_rows],
        train=_limit(data.train.sentences("train"), limits.get("max_train_sentences")), n_resamples=resamples)
    in_domain.update(predictions=block["in_domain"].get("predictions"), source=block["in_domain"].get("source"))
    return {**result, "metrics": metrics, "unit_counts": unit_counts,
            "task": {**result["task"], "reference": task_references(data.eval.task)},  # as rescore_result writes
            "transfer": {**block, "left_out": left_out, "in_domain": in_domain},
            "cell_key": {**key, "scorer_version": SCORER_VERSION},
            "rescored": {"at": datetime.now(UTC).isoformat(timespec="seconds"),
                         "from_scorer_version": key.get("scorer_version")}}
