"""The spaCy baseline: a blank spaCy pipeline with its default NER model, trained from scratch.

What it is: ``spacy.blank(lang)`` plus ``nlp.add_pipe("ner")`` with spaCy 3.8's default NER model
(``spacy.TransitionBasedParser.v2`` over a ``spacy.HashEmbedCNN.v2`` tok2vec: hashed NORM / PREFIX /
SUFFIX / SHAPE embeddings and a 4-layer maxout CNN), no word vectors, no pretrained weights, nothing
downloaded, on the CPU. spaCy is the optional extra ``nerbench[spacy]``; without it every entry point
raises a :class:`~bench.errors.ConfigError` that says what to install.

* **Data** — every sentence becomes ``Doc(nlp.vocab, words=tokens)``, so spaCy's tokenizer never runs
  and the model sees exactly the task's words; predictions are therefore one tag per task word. Gold
  IOB2 tags are read by nerbench's one chunker (:func:`bench.data.schemes.tags_to_spans`, as the
  scorer reads them) and given to spaCy as BILUO tags (``Example.from_dict(doc, {"entities": ...})``).
* **Training** — :func:`train_spacy`: Adam with spaCy's default training settings, compounding batch
  sizes, one pass over the shuffled training set per epoch; after each epoch the model is scored on
  **dev** with the project's main score (:func:`bench.metrics.conlleval_f1`), the best epoch's weights
  are kept, and training stops after ``patience`` epochs without a better dev score. Seeded
  (``spacy.util.fix_random_seed`` plus a private shuffle RNG): the same data, config and seed give a
  byte-identical model (tested).
* **Persistence** — :meth:`SpacyModel.save` writes ``pipeline/`` (``nlp.to_disk``) and a
  ``nerbench_model.json`` saying ``"kind": "spacy"`` with the labels, the config and the sha256 of
  every pipeline file, atomically (:func:`bench.modeldir.atomic_model_dir`), so
  ``nerbench predict --model DIR`` can use it; :meth:`SpacyModel.load` checks the checksums first.

Not used on purpose: spaCy's ``lexeme_norm`` lookup tables (package ``spacy-lookups-data``), so every
language gets the same features and nothing beyond spaCy itself is installed; spaCy's warning W033
about it is therefore silenced during training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from baselines.crf import PredictStats, config_of, peak_rss_bytes  # the CRF's records and rules
from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence
from bench.errors import ConfigError, DataFormatError, NerbenchError, range_problem

log = logging.getLogger(__name__)

MODEL_JSON = "nerbench_model.json"
PIPELINE_DIR = "pipeline"
WEIGHTS_FILE = f"{PIPELINE_DIR}/ner/model"
"""The NER component's weights (tok2vec included) inside the model folder."""
MODEL_FORMAT_VERSION = 1
SPACY_EXTRA_HINT = "install nerbench[spacy] (pip install 'nerbench[spacy]', which brings spacy>=3.8,<3.9)"

StepFn = Callable[[int, int, int, float], None]
"""``(epoch, batch, batches in the epoch, loss so far in the epoch)``."""


class SpacyError(NerbenchError):
    """A spaCy model that cannot be trained or used as asked (no entities, damaged model folder)."""


def check_spacy_installed() -> None:
    """A :class:`ConfigError` naming the extra when spaCy 3 is not installed, read from the package
    metadata: nothing is imported (thinc would import torch)."""
    try:
        found = metadata.version("spacy")
    except metadata.PackageNotFoundError:
        raise ConfigError(f"the spacy system needs spaCy, which is not installed: {SPACY_EXTRA_HINT}") from None
    if found.split(".")[0] != "3":
        raise ConfigError(f"the spacy system needs spaCy 3 (found {found}): {SPACY_EXTRA_HINT}")


def require_spacy() -> ModuleType:
    """The ``spacy`` module, or a :class:`ConfigError` naming the extra to install."""
    check_spacy_installed()
    try:
        import spacy
    except ImportError as exc:
        raise ConfigError(f"the spacy system needs spaCy, which does not import ({exc}): {SPACY_EXTRA_HINT}") from None
    return spacy


# =========================================================================== configuration


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


# =========================================================================== statistics


@dataclass(frozen=True)
class EpochStats:
    """One epoch: its loss, dev score and time (training and dev scoring apart)."""

    epoch: int
    updates: int
    loss: float
    train_seconds: float
    train_words_per_second: float
    dev_f1: float | None
    dev_seconds: float | None
    best: bool


@dataclass(frozen=True)
class TrainStats:
    """What training cost and produced.

    ``dev_f1`` is the conlleval-compatible entity micro F1 (:func:`bench.metrics.conlleval_f1`, the
    results' main score) of the kept epoch, ``best_epoch``; without dev sentences the last epoch is kept
    and ``dev_f1`` is ``None``. ``peak_rss_bytes`` is this process's lifetime peak (``ru_maxrss``), as
    for the CRF. ``train_cpu_seconds`` is this process's CPU time for the same work.
    """

    train_seconds: float
    train_cpu_seconds: float
    setup_seconds: float
    epochs_run: int
    best_epoch: int
    stopped: str
    updates: int
    train_sentences: int
    train_tokens: int
    empty_train_sentences: int
    entity_types: tuple[str, ...]
    lang: str
    peak_rss_bytes: int
    epochs: tuple[EpochStats, ...] = ()
    dev_f1: float | None = None
    dev_predict: PredictStats | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["entity_types"] = list(self.entity_types)
        d["epochs"] = [asdict(e) for e in self.epochs]
        d["dev_predict"] = self.dev_predict.to_dict() if self.dev_predict is not None else None
        return d


# =========================================================================== data


def iob2_to_biluo(tags: Sequence[str]) -> list[str]:
    """BILUO tags of the entities nerbench's chunker reads in ``tags`` (a stray ``I-`` opens one).

    >>> iob2_to_biluo(["B-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG", "I-ORG"])
    ['B-PER', 'L-PER', 'O', 'U-LOC', 'B-ORG', 'I-ORG', 'L-ORG']
    """
    out = ["O"] * len(tags)
    for etype, start, end in tags_to_spans(tags):
        if end - start == 1:
            out[start] = f"U-{etype}"
            continue
        out[start] = f"B-{etype}"
        out[start + 1 : end - 1] = [f"I-{etype}"] * (end - start - 2)
        out[end - 1] = f"L-{etype}"
    return out


def _check_words(words: Sequence[str], where: str) -> None:
    for k, w in enumerate(words):
        if not isinstance(w, str) or not w:
            raise DataFormatError.at(where, f"word {k + 1} is {w!r}: spaCy cannot hold an empty or non-text word")


def _make_doc(vocab: Any, words: Sequence[str], where: str) -> Any:
    from spacy.tokens import Doc

    _check_words(words, where)
    return Doc(vocab, words=list(words))


def _doc_tags(doc: Any) -> list[str]:
    """IOB2 tags of a Doc's entities (spaCy's ``ent_iob_`` is ``B`` at every entity's first token)."""
    return [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ in ("B", "I") else "O" for t in doc]


def _blank(spacy: ModuleType, lang: str) -> tuple[Any, str]:
    """``spacy.blank(lang)``; a language spaCy has no class for (or whose class needs another package)
    falls back to ``xx`` with a warning, and the language used is returned and recorded."""
    try:
        return spacy.blank(lang), lang
    except (ImportError, ValueError, KeyError, OSError) as exc:
        if lang == "xx":
            raise SpacyError(f"spaCy cannot create a blank 'xx' pipeline: {exc}") from None
        log.warning(
            "spaCy has no usable language class for %r (%s); using 'xx' (multi-language)",
            lang,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return spacy.blank("xx"), "xx"


# =========================================================================== training


def train_spacy(
    train: Sequence[Sentence],
    dev: Sequence[Sentence] | None = None,
    *,
    config: SpacyConfig = SpacyConfig(),
    language: str = "xx",
    entity_types: Sequence[str] = (),
    progress: StepFn | None = None,
) -> SpacyModel:
    """Train spaCy's default NER from scratch on ``train``; pick the epoch on ``dev`` (conlleval F1).

    ``language`` is the task's (used unless ``config.lang`` is set); ``entity_types`` are added as
    labels besides those seen in training (a declared type absent from train is then known, though
    never learned). Without ``dev``, every epoch up to ``max_epochs`` runs and the last is kept.
    """
    spacy = require_spacy()
    from spacy.training import Example
    from spacy.util import fix_random_seed, minibatch
    from thinc.api import Adam, compounding

    from bench.metrics import conlleval_f1

    t0, c0 = time.perf_counter(), time.process_time()
    if not train:
        raise SpacyError("no training sentences")
    fix_random_seed(config.seed)
    nlp, lang = _blank(spacy, config.lang or language)
    ner = nlp.add_pipe("ner", config={"model": model_config(config)})
    seen = {etype for s in train for etype, _, _ in tags_to_spans(s.tags)}
    if not seen:
        raise SpacyError(f"the {len(train)} training sentences hold no entities: the NER has nothing to learn")
    types = tuple(sorted(seen | set(entity_types)))
    for etype in types:
        ner.add_label(etype)
    examples = []
    for k, s in enumerate(train):
        if s.tokens:
            doc = _make_doc(nlp.vocab, s.tokens, s.source or f"training sentence {k + 1}")
            examples.append(Example.from_dict(doc, {"entities": iob2_to_biluo(s.tags)}))
    dev = list(dev or [])
    gold_dev = [list(s.tags) for s in dev]
    for k, s in enumerate(dev):
        _check_words(s.tokens, s.source or f"dev sentence {k + 1}")
    optimizer = Adam(
        learn_rate=config.learn_rate,
        L2=config.l2,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        grad_clip=config.grad_clip,
        L2_is_weight_decay=True,
        use_averages=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*\[W033\]")  # no lexeme_norm tables: on purpose
        nlp.initialize(lambda: examples, sgd=optimizer)
    setup_seconds = time.perf_counter() - t0
    model = SpacyModel(nlp, config=config, lang=lang, entity_types=types)

    sizes = compounding(config.batch_start, config.batch_stop, config.batch_compound)
    rng = random.Random(config.seed)
    order = list(examples)
    epochs: list[EpochStats] = []
    best: tuple[float, int, bytes] | None = None  # (dev F1, epoch, weights)
    best_predict: PredictStats | None = None
    since_best = 0
    updates = 0
    n_words = sum(len(e) for e in examples)
    stopped = f"max_epochs ({config.max_epochs})"
    for epoch in range(1, config.max_epochs + 1):
        rng.shuffle(order)
        batches = list(minibatch(order, size=sizes))
        losses: dict[str, float] = {}
        te = time.perf_counter()
        for b, batch in enumerate(batches, start=1):
            nlp.update(batch, drop=config.dropout, sgd=optimizer, losses=losses)
            if progress is not None and (b % 25 == 0 or b == len(batches)):
                progress(epoch, b, len(batches), float(losses.get("ner", 0.0)))
        updates += len(batches)
        train_s = time.perf_counter() - te
        dev_f1 = dev_s = None
        improved = False
        if dev:
            pred, pstats = model.predict_timed(dev)
            dev_f1, dev_s = conlleval_f1(gold_dev, pred), pstats.seconds
            improved = best is None or dev_f1 > best[0]
            if improved:
                best = (dev_f1, epoch, ner.model.to_bytes())
                best_predict = pstats
                since_best = 0
            else:
                since_best += 1
        epochs.append(
            EpochStats(
                epoch=epoch,
                updates=len(batches),
                loss=float(losses.get("ner", 0.0)),
                train_seconds=train_s,
                train_words_per_second=n_words / train_s if train_s > 0 else float("inf"),
                dev_f1=dev_f1,
                dev_seconds=dev_s,
                best=improved,
            )
        )
        log.info(
            "spacy epoch %d: loss %.1f, %d updates, %.1fs (%.0f words/s)%s",
            epoch,
            losses.get("ner", 0.0),
            len(batches),
            train_s,
            epochs[-1].train_words_per_second,
            f", dev conlleval F1 {dev_f1:.4f} ({dev_s:.1f}s){' best' if improved else ''}"
            if dev_f1 is not None
            else "",
        )
        if dev and config.patience and since_best >= config.patience:
            stopped = f"early stop: no better dev F1 for {config.patience} epoch(s)"
            break
    if best is not None and best[1] != epochs[-1].epoch:
        ner.model.from_bytes(best[2])
    best_epoch = best[1] if best is not None else epochs[-1].epoch
    model.stats = TrainStats(
        train_seconds=time.perf_counter() - t0,
        train_cpu_seconds=time.process_time() - c0,
        setup_seconds=setup_seconds,
        epochs_run=len(epochs),
        best_epoch=best_epoch,
        stopped=stopped,
        updates=updates,
        train_sentences=len(train),
        train_tokens=n_words,
        empty_train_sentences=len(train) - len(examples),
        entity_types=types,
        lang=lang,
        peak_rss_bytes=peak_rss_bytes(),
        epochs=tuple(epochs),
        dev_f1=best[0] if best is not None else None,
        dev_predict=best_predict,
    )
    log.info(
        "spacy: kept epoch %d of %d (%s)%s, %.1fs",
        best_epoch,
        len(epochs),
        stopped,
        f", dev conlleval F1 {best[0]:.4f}" if best is not None else "",
        model.stats.train_seconds,
    )
    return model


# =========================================================================== the model


class SpacyModel:
    """A trained spaCy NER pipeline that tags given words with IOB2 tags, one per word.

    spaCy's transition system only builds well-formed entities, so the tags are always valid IOB2.
    There is no per-word probability (the greedy parser scores actions, not tags).
    """

    def __init__(
        self,
        nlp: Any,
        *,
        config: SpacyConfig,
        lang: str,
        entity_types: Sequence[str],
        stats: TrainStats | None = None,
    ) -> None:
        self.nlp = nlp
        self.config = config
        self.lang = lang
        self.entity_types = tuple(entity_types)
        self.stats = stats
        self.files: dict[str, str] = {}
        """sha256 of every pipeline file, by path in the model folder (filled by :meth:`save` and :meth:`load`)."""

    @property
    def labels(self) -> list[str]:
        """IOB2 tags this model can output: ``O``, then ``B-``/``I-`` per entity type."""
        return ["O"] + [f"{p}-{t}" for t in self.entity_types for p in ("B", "I")]

    def predict_tokens(self, tokens: Sequence[Sequence[str]]) -> list[list[str]]:
        """IOB2 tags for raw word lists (an empty list gets no tags; an empty word is an error)."""
        docs = [_make_doc(self.nlp.vocab, words, f"sentence {k + 1}") for k, words in enumerate(tokens) if words]
        tagged: Iterator[Any] = iter(self.nlp.pipe(docs, batch_size=self.config.eval_batch_size))
        out: list[list[str]] = []
        for k, words in enumerate(tokens):
            if not words:
                out.append([])
                continue
            tags = _doc_tags(next(tagged))
            if len(tags) != len(words):
                raise RuntimeError(f"sentence {k + 1}: spaCy returned {len(tags)} tags for {len(words)} words")
            out.append(tags)
        return out

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Word-level IOB2 tags, one list per sentence; reads only the tokens."""
        return self.predict_timed(sentences)[0]

    def predict_timed(self, sentences: Sequence[Sentence]) -> tuple[list[list[str]], PredictStats]:
        """:meth:`predict` plus its wall time and throughput."""
        for k, s in enumerate(sentences):
            _check_words(s.tokens, s.source or f"sentence {k + 1}")
        t0 = time.perf_counter()
        tags = self.predict_tokens([s.tokens for s in sentences])
        seconds = time.perf_counter() - t0
        return tags, PredictStats(seconds, len(sentences), sum(len(s.tokens) for s in sentences))

    # ------------------------------------------------------------------ persistence

    def describe(self, files: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ``nerbench_model.json`` content: what the folder holds, how it was made, its checksums."""
        files = dict(files if files is not None else self.files)
        return {
            "kind": "spacy",
            "format_version": MODEL_FORMAT_VERSION,
            "config": self.config.to_dict(),
            "lang": self.lang,
            "labels": self.labels,
            "entity_types": list(self.entity_types),
            "pipeline_dir": PIPELINE_DIR,
            "pipeline": list(self.nlp.pipe_names),
            "model_file": WEIGHTS_FILE,
            "model_sha256": files.get(WEIGHTS_FILE),
            "files": files,
            "stats": self.stats.to_dict() if self.stats is not None else None,
            "versions": {p: _version(p) for p in ("spacy", "thinc")},
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``pipeline/`` and ``nerbench_model.json`` (last, with every file's sha256) into ``directory``.

        Atomically (:func:`bench.modeldir.atomic_model_dir`): a kill while saving leaves the previous
        model (or nothing), never a folder that looks complete.
        """
        from bench.modeldir import atomic_model_dir

        d = Path(directory)
        with atomic_model_dir(d, marker=MODEL_JSON) as tmp:
            self.nlp.to_disk(tmp / PIPELINE_DIR)
            files = {
                p.relative_to(tmp).as_posix(): _sha256(p)
                for p in sorted((tmp / PIPELINE_DIR).rglob("*"))
                if p.is_file()
            }
            if WEIGHTS_FILE not in files:
                raise SpacyError(f"spaCy wrote no {WEIGHTS_FILE}: the pipeline has no trained NER")
            meta = json.dumps(self.describe(files), indent=2, sort_keys=True) + "\n"
            (tmp / MODEL_JSON).write_text(meta, encoding="utf-8")
        self.files = files
        return d

    @classmethod
    def load(cls, directory: str | Path) -> SpacyModel:
        """Read a folder written by :meth:`save`; a damaged or foreign one is a clear :class:`SpacyError`."""
        from bench.modeldir import read_json_object, refuse_unfinished

        d = Path(directory)
        if not d.is_dir():
            raise SpacyError(f"{d}: model directory not found")
        refuse_unfinished(d)
        meta_path = d / MODEL_JSON
        if not meta_path.is_file():
            hint = (
                f" ({PIPELINE_DIR}/ without it: a save that did not finish; train again)"
                if (d / PIPELINE_DIR).is_dir()
                else ""
            )
            raise SpacyError(f"{d}: no {MODEL_JSON}, so this is not a nerbench model directory{hint}")
        meta = read_json_object(meta_path)
        if meta.get("kind") != "spacy":
            raise SpacyError(f"{meta_path}: kind is {meta.get('kind')!r}, not 'spacy'")
        if meta.get("format_version") != MODEL_FORMAT_VERSION:
            raise SpacyError(
                f"{meta_path}: format_version {meta.get('format_version')!r}, expected {MODEL_FORMAT_VERSION}"
            )
        try:
            files = meta["files"]
            config = config_from_params(meta["config"])
            types = [str(t) for t in meta["entity_types"]]
            lang = str(meta["lang"])
            pipeline_dir = str(meta["pipeline_dir"])
        except KeyError as exc:
            raise SpacyError(f"{meta_path}: missing key {exc}") from None
        except (TypeError, ConfigError) as exc:
            raise SpacyError(f"{meta_path}: bad 'config': {exc}") from None
        _verify_files(d, files, meta_path)
        spacy = require_spacy()
        try:
            nlp = spacy.load(d / pipeline_dir)
        except Exception as exc:  # noqa: BLE001 - spaCy raises many kinds; the message says what is wrong
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpacyError(f"{d / pipeline_dir}: spaCy cannot load the pipeline: {first}") from None
        if "ner" not in nlp.pipe_names:
            raise SpacyError(f"{d / pipeline_dir}: the pipeline has no 'ner' component (has {nlp.pipe_names})")
        known = set(nlp.get_pipe("ner").labels)
        if known != set(types):
            raise SpacyError(f"{meta_path}: entity_types {sorted(types)} disagree with the pipeline's {sorted(known)}")
        model = cls(nlp, config=config, lang=lang, entity_types=types)
        model.files = dict(files)
        return model


def _verify_files(d: Path, files: Any, meta_path: Path) -> None:
    """Every file the manifest names is there, inside the folder, with its recorded sha256."""
    if not isinstance(files, dict) or WEIGHTS_FILE not in files:
        raise SpacyError(f"{meta_path}: 'files' must map each pipeline file to its sha256 and include {WEIGHTS_FILE}")
    for rel, digest in sorted(files.items()):
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            raise SpacyError(f"{meta_path}: file {rel!r} is not inside the model folder")
        path = d / p
        if not path.is_file():
            raise SpacyError(f"{path}: missing; the model folder is incomplete (train again)")
        if _sha256(path) != digest:
            raise SpacyError(f"{path}: checksum differs from {MODEL_JSON} (the file changed or is damaged)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


__all__ = [
    "MODEL_JSON",
    "EpochStats",
    "PredictStats",
    "SpacyConfig",
    "SpacyError",
    "SpacyModel",
    "TrainStats",
    "config_from_params",
    "iob2_to_biluo",
    "model_config",
    "require_spacy",
    "train_spacy",
]
