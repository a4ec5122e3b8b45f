"""What determines a trained CRF and what training and prediction cost: :class:`CrfConfig`, its
rule for a suite's ``params`` (:func:`config_of`, shared with the spaCy baseline), the stats records, and
the error type (:class:`CrfError`)."""

from __future__ import annotations

import resource
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from baselines.crf.features import get_feature_set
from bench.errors import ConfigError, NerbenchError, range_problem

_MAX_C = 1000.0
"""Upper bound of the L1 and L2 coefficients ``c1`` and ``c2`` (NaN and infinity are refused too)."""
_MAX_ITERATIONS = 100_000


class CrfError(NerbenchError):
    """A CRF model that cannot be used as asked (missing POS, unreadable model directory)."""


@dataclass(frozen=True)
class CrfConfig:
    """Everything that determines a trained CRF; recorded in results and in the model directory.

    Defaults were chosen on CoNLL-2003 *dev* (``baselines/tune_crf.py``): c1/c2 by grid search;
    ``max_iterations`` 80 because dev F1 was flat from 60 to 130 iterations (within 0.002) while
    time grows linearly, and training must fit in 60 s on a busy 2-core machine.
    ``use_pos=None`` means: use the POS column when every training sentence has one.
    ``resource_folds`` is the number of jackknife folds for the training-data resources.
    Training is deterministic (L-BFGS has no randomness, folds are contiguous blocks); ``seed`` is
    recorded so CRF cells line up with the seeded transformer cells.
    """

    feature_set: str = "rich-v1"
    """The feature set (``baselines/crf/features.py``: ``rich-v1``, ``local-v1``, ...); its id is recorded."""
    c1: float = 0.1
    """L1 regularisation coefficient (0 to 1000)."""
    c2: float = 0.01
    """L2 regularisation coefficient (0 to 1000)."""
    max_iterations: int = 80
    """L-BFGS iterations (1 to 100000)."""
    all_possible_transitions: bool = True
    """Give weights to label transitions never seen in training (CRFsuite ``feature.possible_transitions``)."""
    min_freq: int = 1
    """Drop features seen fewer times than this in training (CRFsuite ``feature.minfreq``)."""
    use_pos: bool | None = None
    """POS features: unset uses the POS column when every training sentence has one; true or false forces it."""
    resource_folds: int = 5
    """Jackknife folds for the training-data resources (case lexicon, gazetteer) of the training features."""
    seed: int = 13
    """Recorded only (training is deterministic); the runner sets each cell's seed."""

    def __post_init__(self) -> None:
        get_feature_set(self.feature_set)
        if self.c1 < 0 or self.c2 < 0:
            raise ConfigError(f"c1 and c2 must be >= 0 (got c1={self.c1}, c2={self.c2})")
        if self.max_iterations < 1:
            raise ConfigError(f"max_iterations must be >= 1 (got {self.max_iterations})")
        if self.min_freq < 0:
            raise ConfigError(f"min_freq must be >= 0 (got {self.min_freq})")
        for problem in (
            range_problem("c1", self.c1, 0, _MAX_C),
            range_problem("c2", self.c2, 0, _MAX_C),
            range_problem("max_iterations", self.max_iterations, 1, _MAX_ITERATIONS),
            range_problem("min_freq", self.min_freq, 0, 10**9),
            range_problem("resource_folds", self.resource_folds, 1, 1000),  # >= 2 with lexicon/gazetteer: see resources
        ):
            if problem:
                raise ConfigError(problem)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_from_params(params: Mapping[str, Any], *, seed: int | None = None) -> CrfConfig:
    """A :class:`CrfConfig` from a suite's ``params`` table; an unknown key is an error, not ignored.

    >>> config_from_params({"c1": 0.1}, seed=3).c1, config_from_params({}, seed=3).seed
    (0.1, 3)
    """
    return config_of(CrfConfig, params, seed=seed, what="CRF")


def config_of(cls: Any, params: Mapping[str, Any], *, seed: int | None, what: str) -> Any:
    """Config dataclass ``cls`` from ``params`` plus the cell's seed; an unknown key is a ConfigError
    listing the known ones (shared by the CRF and the spaCy baseline)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"unknown {what} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    merged = dict(params)
    if seed is not None:
        merged["seed"] = seed
    return cls(**merged)


@dataclass(frozen=True)
class PredictStats:
    """Cost of one prediction call."""

    seconds: float
    sentences: int
    tokens: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_second": self.tokens_per_second}


@dataclass(frozen=True)
class TrainStats:
    """What training cost and produced.

    ``peak_rss_bytes`` is the process's lifetime peak (``getrusage`` ``ru_maxrss``), so it is the
    training peak only when training is the process's biggest job (``tune_crf.py`` runs it alone).
    ``attributes`` counts the feature strings kept in the model, ``active_features`` the non-zero
    (attribute, label) weights after L1. ``dev_f1`` is seqeval strict IOB2 micro F1 on dev.
    ``train_cpu_seconds`` is this process's CPU time for the same work: on a busy machine it shows
    how much of the wall time was waiting for a core.
    """

    train_seconds: float
    train_cpu_seconds: float
    feature_seconds: float
    fit_seconds: float
    iterations: int
    attributes: int
    active_features: int
    features_per_token: float
    train_sentences: int
    train_tokens: int
    peak_rss_bytes: int
    dev_f1: float | None = None
    dev_predict: PredictStats | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dev_predict"] = self.dev_predict.to_dict() if self.dev_predict is not None else None
        return d


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
