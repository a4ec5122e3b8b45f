"""Training spaCy's default NER from scratch (:func:`train_spacy`): the blank pipeline and its labels, the
examples, spaCy's default optimizer, then the epochs (:class:`_Epochs`: seeded shuffle, compounding batch
sizes, dev scoring with the main score, the best epoch's weights kept, early stopping)."""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from baselines.crf import PredictStats, peak_rss_bytes  # the CRF's records and rules
from baselines.spacy_ner.config import SpacyConfig, model_config
from baselines.spacy_ner.docs import blank_pipeline, check_words, iob2_to_biluo, make_doc
from baselines.spacy_ner.install import SpacyError, require_spacy
from baselines.spacy_ner.model import SpacyModel
from baselines.spacy_ner.stats import EpochStats, TrainStats
from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence

log = logging.getLogger("baselines.spacy_ner")  # the package's name, as in every cell log written so far

StepFn = Callable[[int, int, int, float], None]
"""``(epoch, batch, batches in the epoch, loss so far in the epoch)``."""


def train_spacy(
    train: Sequence[Sentence],
    dev: Sequence[Sentence] | None = None,
    *,
    config: SpacyConfig = SpacyConfig(),  # noqa: B008 - frozen: one shared default is safe
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
    from spacy.util import fix_random_seed

    t0, c0 = time.perf_counter(), time.process_time()
    if not train:
        raise SpacyError("no training sentences")
    fix_random_seed(config.seed)
    nlp, ner, lang, types = _pipeline(spacy, train, config=config, language=language, entity_types=entity_types)
    examples = _examples(nlp, train)
    dev = list(dev or [])
    gold_dev = [list(s.tags) for s in dev]
    for k, s in enumerate(dev):
        check_words(s.tokens, s.source or f"dev sentence {k + 1}")
    optimizer = _optimizer(config)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*\[W033\]")  # no lexeme_norm tables: on purpose
        nlp.initialize(lambda: examples, sgd=optimizer)
    setup_seconds = time.perf_counter() - t0
    model = SpacyModel(nlp, config=config, lang=lang, entity_types=types)

    run = _Epochs(nlp, ner, model, config, optimizer, examples, dev, gold_dev, progress)
    run.all()
    if run.best is not None and run.best[1] != run.epochs[-1].epoch:
        ner.model.from_bytes(run.best[2])
    best_epoch = run.best[1] if run.best is not None else run.epochs[-1].epoch
    model.stats = TrainStats(
        train_seconds=time.perf_counter() - t0,
        train_cpu_seconds=time.process_time() - c0,
        setup_seconds=setup_seconds,
        epochs_run=len(run.epochs),
        best_epoch=best_epoch,
        stopped=run.stopped,
        updates=run.updates,
        train_sentences=len(train),
        train_tokens=run.n_words,
        empty_train_sentences=len(train) - len(examples),
        entity_types=types,
        lang=lang,
        peak_rss_bytes=peak_rss_bytes(),
        epochs=tuple(run.epochs),
        dev_f1=run.best[0] if run.best is not None else None,
        dev_predict=run.best_predict,
    )
    log.info(
        "spacy: kept epoch %d of %d (%s)%s, %.1fs",
        best_epoch,
        len(run.epochs),
        run.stopped,
        f", dev conlleval F1 {run.best[0]:.4f}" if run.best is not None else "",
        model.stats.train_seconds,
    )
    return model


def _pipeline(
    spacy: ModuleType, train: Sequence[Sentence], *, config: SpacyConfig, language: str, entity_types: Sequence[str]
) -> tuple[Any, Any, str, tuple[str, ...]]:
    """The blank pipeline with spaCy's default NER (the config's sizes), its language, and the entity
    types added as labels: those seen in ``train`` and the declared ones, sorted."""
    nlp, lang = blank_pipeline(spacy, config.lang or language)
    ner = nlp.add_pipe("ner", config={"model": model_config(config)})
    seen = {etype for s in train for etype, _, _ in tags_to_spans(s.tags)}
    if not seen:
        raise SpacyError(f"the {len(train)} training sentences hold no entities: the NER has nothing to learn")
    types = tuple(sorted(seen | set(entity_types)))
    for etype in types:
        ner.add_label(etype)
    return nlp, ner, lang, types


def _examples(nlp: Any, train: Sequence[Sentence]) -> list[Any]:
    """One ``Example`` per non-empty training sentence: its words as a ``Doc``, its tags as BILUO entities."""
    from spacy.training import Example

    examples = []
    for k, s in enumerate(train):
        if s.tokens:
            doc = make_doc(nlp.vocab, s.tokens, s.source or f"training sentence {k + 1}")
            examples.append(Example.from_dict(doc, {"entities": iob2_to_biluo(s.tags)}))
    return examples


def _optimizer(config: SpacyConfig) -> Any:
    """Adam as ``spacy train`` builds it (see :class:`SpacyConfig`), with the config's rates."""
    from thinc.api import Adam

    return Adam(
        learn_rate=config.learn_rate,
        L2=config.l2,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        grad_clip=config.grad_clip,
        L2_is_weight_decay=True,
        use_averages=False,
    )


@dataclass
class _Epochs:
    """The epochs of one training run and what they leave: their stats, the best dev epoch as ``(dev F1,
    epoch, weights)`` with its dev prediction stats, the updates made and why training stopped."""

    nlp: Any
    ner: Any
    model: SpacyModel
    config: SpacyConfig
    optimizer: Any
    examples: list[Any]
    dev: list[Sentence]
    gold_dev: list[list[str]]
    progress: StepFn | None
    epochs: list[EpochStats] = field(default_factory=list)
    best: tuple[float, int, bytes] | None = None
    best_predict: PredictStats | None = None
    since_best: int = 0
    updates: int = 0
    n_words: int = 0
    stopped: str = ""

    def all(self) -> None:
        """Up to ``max_epochs`` epochs, each a seeded shuffle of the examples cut into batches whose sizes
        compound across epochs; stops early after ``patience`` epochs without a better dev score."""
        from spacy.util import minibatch
        from thinc.api import compounding

        config = self.config
        sizes = compounding(config.batch_start, config.batch_stop, config.batch_compound)
        rng = random.Random(config.seed)
        order = list(self.examples)
        self.n_words = sum(len(e) for e in self.examples)
        self.stopped = f"max_epochs ({config.max_epochs})"
        for epoch in range(1, config.max_epochs + 1):
            rng.shuffle(order)
            batches = list(minibatch(order, size=sizes))
            losses, train_s = self._update(epoch, batches)
            dev_f1, dev_s, improved = self._score_dev(epoch)
            self._record(epoch, len(batches), losses, train_s, dev_f1, dev_s, improved)
            if self.dev and config.patience and self.since_best >= config.patience:
                self.stopped = f"early stop: no better dev F1 for {config.patience} epoch(s)"
                break

    def _update(self, epoch: int, batches: list[Any]) -> tuple[dict[str, float], float]:
        """One pass over ``batches``: the losses and the seconds it took."""
        losses: dict[str, float] = {}
        te = time.perf_counter()
        for b, batch in enumerate(batches, start=1):
            self.nlp.update(batch, drop=self.config.dropout, sgd=self.optimizer, losses=losses)
            if self.progress is not None and (b % 25 == 0 or b == len(batches)):
                self.progress(epoch, b, len(batches), float(losses.get("ner", 0.0)))
        self.updates += len(batches)
        return losses, time.perf_counter() - te

    def _score_dev(self, epoch: int) -> tuple[float | None, float | None, bool]:
        """The dev conlleval F1 and seconds after ``epoch`` (``None`` without dev), and whether it is the
        best so far (then its weights are kept)."""
        from bench.metrics import conlleval_f1

        if not self.dev:
            return None, None, False
        pred, pstats = self.model.predict_timed(self.dev)
        dev_f1, dev_s = conlleval_f1(self.gold_dev, pred), pstats.seconds
        improved = self.best is None or dev_f1 > self.best[0]
        if improved:
            self.best = (dev_f1, epoch, self.ner.model.to_bytes())
            self.best_predict = pstats
            self.since_best = 0
        else:
            self.since_best += 1
        return dev_f1, dev_s, improved

    def _record(self, epoch: int, n_batches: int, losses: dict[str, float], train_s: float,
                dev_f1: float | None, dev_s: float | None, improved: bool) -> None:
        """The epoch's :class:`EpochStats`, and its log line."""
        self.epochs.append(
            EpochStats(
                epoch=epoch,
                updates=n_batches,
                loss=float(losses.get("ner", 0.0)),
                train_seconds=train_s,
                train_words_per_second=self.n_words / train_s if train_s > 0 else float("inf"),
                dev_f1=dev_f1,
                dev_seconds=dev_s,
                best=improved,
            )
        )
        log.info(
            "spacy epoch %d: loss %.1f, %d updates, %.1fs (%.0f words/s)%s",
            epoch,
            losses.get("ner", 0.0),
            n_batches,
            train_s,
            self.epochs[-1].train_words_per_second,
            f", dev conlleval F1 {dev_f1:.4f} ({dev_s:.1f}s){' best' if improved else ''}"
            if dev_f1 is not None
            else "",
        )
