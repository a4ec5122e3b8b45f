"""Training: python-crfsuite's trainer driven with exactly sklearn-crfsuite's parameters (no scikit-learn
import), features computed once per setting, and the grid search on dev."""

from __future__ import annotations

import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import pycrfsuite

from baselines.crf.config import CrfConfig, CrfError, TrainStats, peak_rss_bytes
from baselines.crf.features import Features, get_feature_set, sent2features
from baselines.crf.model import MODEL_FILE, CrfModel
from baselines.crf.resources import FeatureResources, build_resources, jackknife_resources
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.metrics import strict_f1

log = logging.getLogger("baselines.crf")  # the package's name, as in every cell log written so far


def make_crf(**params: Any) -> Any:
    """A ``sklearn_crfsuite.CRF`` that survives ``repr``/``get_params``/``clone`` on any release.

    sklearn-crfsuite < 0.5 takes ``keep_tempfiles`` in ``__init__`` but never stores it, and
    scikit-learn's ``get_params`` then raises ``AttributeError`` (upstream issue 60).
    """
    import sklearn_crfsuite  # scikit-learn costs about 1.5 s to import; training never needs it

    crf = sklearn_crfsuite.CRF(**params)
    for name in ("keep_tempfiles", "model_filename", "trainer_cls"):
        if not hasattr(crf, name):
            setattr(crf, name, params.get(name, False if name == "keep_tempfiles" else None))
    return crf


IterationFn = Callable[[int, int, float], None]
"""``on_iteration(iteration, max_iterations, loss)`` after every L-BFGS iteration."""


class _LoggingTrainer(pycrfsuite.Trainer):
    """Parses crfsuite's progress as usual and logs each iteration at debug level, never to stdout;
    ``on_iteration`` (when set) hears of each iteration.

    (pycrfsuite only calls ``on_iteration`` when ``verbose``, and verbose sklearn-crfsuite prints.)
    """

    on_iteration_fn: IterationFn | None = None
    max_iterations: int = 0

    def message(self, message: str) -> None:
        event = self.logparser.feed(message)
        if event != "iteration":
            return
        it = self.logparser.last_iteration
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "crf iteration %s: loss %.2f, %s active features, %.2fs",
                it.get("num"), it.get("loss", 0.0), it.get("active_features"), it.get("time", 0.0),
            )
        if self.on_iteration_fn is not None:
            try:  # crfsuite calls this from C and drops what it raises: never let it raise
                self.on_iteration_fn(int(it.get("num") or 0), self.max_iterations, float(it.get("loss") or 0.0))
            except Exception:  # noqa: BLE001 - progress only
                log.debug("crf iteration callback failed", exc_info=True)


def _uses_pos(config: CrfConfig, train: Sequence[Sentence]) -> bool:
    fs = get_feature_set(config.feature_set)
    if config.use_pos and "pos" not in fs.groups:
        raise ConfigError(f"use_pos=True but feature set {fs.id} has no 'pos' group")
    if "pos" not in fs.groups or config.use_pos is False:
        return False
    missing = next((s for s in train if s.pos is None), None)
    if config.use_pos and missing is not None:
        raise CrfError(f"use_pos=True but {missing.source or 'a training sentence'} has no POS column")
    return missing is None


def _featurize(
    sentences: Sequence[Sentence],
    *,
    groups: frozenset[str],
    uses_pos: bool,
    resources: Sequence[FeatureResources],
) -> list[list[Features]]:
    return [
        sent2features(s.tokens, pos=s.pos if uses_pos else None, groups=groups, resources=res)
        for s, res in zip(sentences, resources, strict=True)
    ]


@dataclass(frozen=True)
class _Prepared:
    """Training features, computed once and reused by every grid point that shares them."""

    X: list[list[Features]]
    y: list[list[str]]
    uses_pos: bool
    resources: FeatureResources
    seconds: float
    cpu_seconds: float


def _prepare(train: Sequence[Sentence], config: CrfConfig) -> _Prepared:
    t0, c0 = time.perf_counter(), time.process_time()
    if not train:
        raise CrfError("no training sentences")
    fs = get_feature_set(config.feature_set)
    groups = frozenset(fs.groups)
    uses_pos = _uses_pos(config, train)
    final = build_resources(train, groups=groups)
    per_sentence = jackknife_resources(train, groups=groups, folds=config.resource_folds)
    X = _featurize(train, groups=groups, uses_pos=uses_pos, resources=per_sentence)
    y = [list(s.tags) for s in train]
    return _Prepared(X, y, uses_pos, final, time.perf_counter() - t0, time.process_time() - c0)


def _fit(prep: _Prepared, config: CrfConfig, on_iteration: IterationFn | None = None) -> tuple[bytes, int, int]:
    """Train; returns ``(model bytes, iterations, active features)``. Leaves no file behind."""
    with tempfile.TemporaryDirectory(prefix="nerbench-crf-") as tmp:
        path = Path(tmp) / MODEL_FILE
        # The parameters sklearn_crfsuite.CRF(...).fit(X, y) gives the trainer (its None-valued
        # options are left out there too): the same model file, without importing scikit-learn.
        trainer = _LoggingTrainer(
            algorithm="lbfgs",
            params={
                "feature.minfreq": config.min_freq,
                "feature.possible_transitions": config.all_possible_transitions,
                "c1": config.c1,
                "c2": config.c2,
                "max_iterations": config.max_iterations,
            },
            verbose=False,
        )
        trainer.on_iteration_fn, trainer.max_iterations = on_iteration, config.max_iterations
        for xseq, yseq in zip(prep.X, prep.y, strict=True):
            trainer.append(xseq, yseq)
        trainer.train(str(path), holdout=-1)
        iterations = trainer.logparser.iterations
        active = int(iterations[-1].get("active_features", 0)) if iterations else 0
        data = path.read_bytes()
        del trainer
    return data, len(iterations), active


def train_crf(
    train: Sequence[Sentence],
    *,
    config: CrfConfig = CrfConfig(),  # noqa: B008 (frozen, so one shared default is safe)
    dev: Sequence[Sentence] | None = None,
    on_iteration: IterationFn | None = None,
) -> CrfModel:
    """Train a CRF on ``train``; with ``dev``, also score it there (strict IOB2 F1, recorded in stats).
    ``on_iteration(iteration, max_iterations, loss)`` hears of every L-BFGS iteration.

    Dev is never used for fitting or stopping, so the same call is safe inside :func:`search_crf`.
    """
    return _train_prepared(_prepare(train, config), config, dev=dev, on_iteration=on_iteration)


def _train_prepared(prep: _Prepared, config: CrfConfig, *, dev: Sequence[Sentence] | None,
                    on_iteration: IterationFn | None = None) -> CrfModel:
    t0, c0 = time.perf_counter(), time.process_time()
    data, iterations, active = _fit(prep, config, on_iteration)
    fit_seconds = time.perf_counter() - t0
    fit_cpu = time.process_time() - c0
    ntok = sum(len(x) for x in prep.X)
    model = CrfModel(
        data,
        config=config,
        uses_pos=prep.uses_pos,
        resources=prep.resources,
        stats=None,
    )
    stats = TrainStats(
        train_seconds=prep.seconds + fit_seconds,
        train_cpu_seconds=prep.cpu_seconds + fit_cpu,
        feature_seconds=prep.seconds,
        fit_seconds=fit_seconds,
        iterations=iterations,
        attributes=model.num_attributes,
        active_features=active,
        features_per_token=sum(len(f) for x in prep.X for f in x) / max(ntok, 1),
        train_sentences=len(prep.X),
        train_tokens=ntok,
        peak_rss_bytes=peak_rss_bytes(),
    )
    if dev:
        pred, pstats = model.predict_timed(dev)
        stats = replace(stats, dev_f1=strict_f1([list(s.tags) for s in dev], pred), dev_predict=pstats)
    model.stats = stats
    log.info(
        "crf %s c1=%g c2=%g: %d iterations, %.1fs (features %.1fs), %d attributes%s",
        config.feature_set, config.c1, config.c2, iterations, stats.train_seconds, prep.seconds,
        stats.attributes, f", dev strict F1 {stats.dev_f1:.4f}" if stats.dev_f1 is not None else "",
    )
    return model


def search_crf(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    *,
    grid: Mapping[str, Sequence[Any]],
    base: CrfConfig = CrfConfig(),  # noqa: B008 (frozen, so one shared default is safe)
) -> tuple[CrfConfig, list[dict[str, Any]]]:
    """Grid search on **dev** strict F1 (never test); returns ``(best config, one record per point)``.

    Points are tried in the grid's order; ties keep the earlier point. Training features are computed
    once per distinct feature-related setting and reused.
    """
    if not dev:
        raise CrfError("search_crf needs dev sentences (hyper-parameters are chosen on dev only)")
    keys = list(grid)
    known = {f.name for f in fields(CrfConfig)}
    bad = sorted(set(keys) - known)
    if bad:
        raise ConfigError(f"unknown CRF parameter(s) in grid: {', '.join(bad)}")
    feature_keys = ("feature_set", "use_pos", "resource_folds")
    cache: dict[tuple[Any, ...], _Prepared] = {}
    records: list[dict[str, Any]] = []
    best: tuple[float, CrfConfig] | None = None
    for values in itertools.product(*(grid[k] for k in keys)):
        config = replace(base, **dict(zip(keys, values, strict=True)))
        fkey = tuple(getattr(config, k) for k in feature_keys)
        if fkey not in cache:
            cache.clear()  # keep one feature matrix in memory at a time
            cache[fkey] = _prepare(train, config)
        model = _train_prepared(cache[fkey], config, dev=dev)
        assert model.stats is not None and model.stats.dev_f1 is not None
        stats = model.stats
        records.append({"config": config.to_dict(), "dev_f1": stats.dev_f1, "stats": stats.to_dict()})
        if best is None or model.stats.dev_f1 > best[0]:
            best = (model.stats.dev_f1, config)
    assert best is not None
    log.info("crf search: best dev strict F1 %.4f with %s", best[0], best[1])
    return best[1], records
