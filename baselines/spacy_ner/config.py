"""The spaCy baseline's configuration: :class:`SpacyConfig` (every default with where it comes from), read
from a suite's ``params`` (:func:`config_from_params`), and the NER component's model block
(:func:`model_config`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from baselines.crf import config_of  # the CRF's rule for params -> config
from bench.errors import ConfigError, range_problem


@dataclass(frozen=True)
class SpacyConfig:
    """Everything that determines a trained spaCy model; recorded in results and in the model folder.

    Where each default comes from (spaCy 3.8):

    * ``dropout`` 0.1, ``learn_rate`` 0.001, ``l2`` 0.01, ``grad_clip`` 1.0 (and Adam's beta1 0.9, beta2
      0.999, eps 1e-8, decoupled weight decay, no parameter averaging): the ``[training]`` and
      ``[training.optimizer]`` sections of spaCy's ``default_config.cfg``, what ``spacy train`` uses.
      (``nlp.initialize()`` without an optimizer would give thinc's ``Adam()``, with L2 0 and
      averaging on: not the same recipe, so the optimizer is built explicitly.)
    * ``batch_start`` 4, ``batch_stop`` 32, ``batch_compound`` 1.001: batch sizes in *sentences*
      growing from 4 to 32 by 0.1 % per update, ``minibatch(examples, size=compounding(4.0, 32.0,
      1.001))`` of spaCy's documented training loop. ``spacy train``'s default batches by *words*
      (100 to 1000); sentences are used here so a batch does not depend on sentence length. As in
      ``spacy train``, the size schedule runs on across epochs (it is not restarted each epoch).
    * ``width`` 96, ``depth`` 4, ``embed_size`` 2000, ``hidden_width`` 64: the NER factory's default
      model (``spacy/pipeline/ner.pyx``: HashEmbedCNN.v2 width/depth/embed_size, window 1, maxout 3,
      subword features; TransitionBasedParser.v2 hidden_width 64, maxout 2).
    * ``max_epochs`` 6 and ``patience`` 3 (epochs without a better dev score; 0: never stop early):
      nerbench's, not spaCy's (``spacy train`` counts steps: up to 20000, patience 1600, dev every
      200). Measured on CoNLL-2003 (seed 13, one core of a 2-core machine, ~43 s per epoch with dev
      scoring): dev conlleval F1 by epoch .828 .849 .858 .866 .867 .8705 .866 .8712 .870 .870, so 6
      epochs come within 0.001 of the best of 10 and a cell takes about 5 minutes instead of 7.7.
      The first epochs of a longer run are the same (the seeded shuffle and batch sizes do not depend
      on ``max_epochs``), so raising it only adds epochs.
    * ``lang``: ``None`` means the task's language (``spacy.blank(task.language)``), ``"xx"`` when
      spaCy has no language class for it. Only lexical attributes differ between languages here.
    * ``eval_batch_size`` 256: documents per ``nlp.pipe`` batch when predicting (no effect on tags).
    * ``seed`` 13: the suites' seed; the runner passes each cell's own.
    """

    max_epochs: int = 6
    patience: int = 3
    dropout: float = 0.1
    batch_start: float = 4.0
    batch_stop: float = 32.0
    batch_compound: float = 1.001
    learn_rate: float = 0.001
    l2: float = 0.01
    grad_clip: float = 1.0
    width: int = 96
    depth: int = 4
    embed_size: int = 2000
    hidden_width: int = 64
    lang: str | None = None
    eval_batch_size: int = 256
    seed: int = 13

    def __post_init__(self) -> None:
        _check_types(self)
        checks: list[tuple[bool, str]] = [
            (self.max_epochs >= 1, f"max_epochs must be >= 1 (got {self.max_epochs})"),
            (self.patience >= 0, f"patience must be >= 0 (0: no early stopping; got {self.patience})"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout})"),
            (self.batch_start >= 1, f"batch_start must be >= 1 sentence (got {self.batch_start})"),
            (
                self.batch_stop >= self.batch_start,
                f"batch_stop must be >= batch_start (got {self.batch_stop} < {self.batch_start})",
            ),
            (self.batch_compound >= 1.0, f"batch_compound must be >= 1.0 (got {self.batch_compound})"),
            (self.learn_rate > 0, f"learn_rate must be > 0 (got {self.learn_rate})"),
            (self.l2 >= 0, f"l2 must be >= 0 (got {self.l2})"),
            (self.grad_clip >= 0, f"grad_clip must be >= 0 (got {self.grad_clip})"),
            (self.eval_batch_size >= 1, f"eval_batch_size must be >= 1 (got {self.eval_batch_size})"),
        ]
        for name in ("width", "depth", "embed_size", "hidden_width"):
            checks.append((getattr(self, name) >= 1, f"{name} must be >= 1 (got {getattr(self, name)})"))
        if self.lang is not None:
            checks.append(
                (
                    re.fullmatch(r"[a-z]{2,3}", self.lang) is not None,
                    f"lang must be a spaCy language code such as 'en', 'es' or 'xx' (got {self.lang!r})",
                )
            )
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"spacy: {message}")
        # NaN, infinity and upper bounds (the lower bounds above keep their own words)
        for problem in (
            range_problem("max_epochs", self.max_epochs, 1, 1000),
            range_problem("patience", self.patience, 0, 1000),
            range_problem("batch_start", self.batch_start, 1.0, 65536.0),
            range_problem("batch_stop", self.batch_stop, 1.0, 65536.0),
            range_problem("batch_compound", self.batch_compound, 1.0, 10.0),
            range_problem("learn_rate", self.learn_rate, 0, 1, low_open=True),
            range_problem("l2", self.l2, 0.0, 1.0),
            range_problem("grad_clip", self.grad_clip, 0),
            range_problem("eval_batch_size", self.eval_batch_size, 1, 65536),
            range_problem("width", self.width, 1, 65536),
            range_problem("depth", self.depth, 1, 1000),
            range_problem("embed_size", self.embed_size, 1, 10**9),
            range_problem("hidden_width", self.hidden_width, 1, 65536),
        ):
            if problem:
                raise ConfigError(f"spacy: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_types(config: SpacyConfig) -> None:
    """Field types (``int`` fields refuse ``True``; ``float`` fields take integers too)."""
    for f in fields(config):
        value = getattr(config, f.name)
        want = {"int": int, "float": float}.get(str(f.type), None)
        if f.name == "lang":
            ok = value is None or isinstance(value, str)
            want_word = "a string"
        elif want is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
            want_word = "an integer"
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            want_word = "a number"
        if not ok:
            raise ConfigError(f"spacy: {f.name} must be {want_word}, got {value!r}")


def config_from_params(params: Mapping[str, Any], *, seed: int | None = None) -> SpacyConfig:
    """A :class:`SpacyConfig` from a suite's ``params`` table; an unknown key is an error, not ignored.

    >>> config_from_params({"max_epochs": 3}, seed=7).max_epochs, config_from_params({}, seed=7).seed
    (3, 7)
    """
    return config_of(SpacyConfig, params, seed=seed, what="spacy")


def model_config(config: SpacyConfig) -> dict[str, Any]:
    """The ``ner`` component's ``model`` block: spaCy's default NER model with the config's sizes."""
    return {
        "@architectures": "spacy.TransitionBasedParser.v2",
        "state_type": "ner",
        "extra_state_tokens": False,
        "hidden_width": config.hidden_width,
        "maxout_pieces": 2,
        "use_upper": True,
        "nO": None,
        "tok2vec": {
            "@architectures": "spacy.HashEmbedCNN.v2",
            "pretrained_vectors": None,
            "width": config.width,
            "depth": config.depth,
            "embed_size": config.embed_size,
            "window_size": 1,
            "maxout_pieces": 3,
            "subword_features": True,
        },
    }

