"""System kind ``spacy``: a blank spaCy pipeline's default NER model trained on the task (``baselines/spacy_ner/``;
the optional extra ``nerbench[spacy]``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.data.wordtok import DEFAULT_WORD_TOKENIZER
from bench.systems.base import (
    RUNTIME_PARAMS,
    SystemKind,
    TrainedSystem,
    cpu_cost,
    on_epoch_batch,
    timed_cpu,
    without_runtime,
)
from bench.versions import SYSTEM_VERSIONS


class SpacyKind(SystemKind):
    name = "spacy"
    version = SYSTEM_VERSIONS["spacy"]
    """1: blank spaCy 3.8 pipeline, default NER model, dev-selected epoch."""
    summary = "spaCy's default NER (HashEmbedCNN tok2vec + transition-based parser), trained from blank"
    extra_params = dict(RUNTIME_PARAMS)  # CPU, thinc's own single thread: accepted and ignored
    work_per_train_word = 1.2e8
    """The committed CPU runs trained about 2 ms a word (six times a CRF), :meth:`SystemKind.work`'s units."""

    def config_type(self) -> type:
        from baselines.spacy_ner import SpacyConfig  # spaCy itself is imported only to train or load

        return SpacyConfig

    def resolve_config(self, params: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
        from baselines.spacy_ner import config_from_params

        return config_from_params(without_runtime(params), seed=seed).to_dict()

    def preflight(self, model: str | None) -> None:
        from baselines.spacy_ner import check_spacy_installed

        check_spacy_installed()  # from package metadata: spaCy (and the torch thinc imports) stay out of the driver

    def preload(self, model: str | None) -> None:
        import spacy  # noqa: F401  (thinc imports torch when it is installed: about 2.5 s)
        from spacy.training import Example  # noqa: F401

        import baselines.spacy_ner  # noqa: F401

    def train(self, params, *, model, train, dev, data, seed, model_dir, device, progress) -> TrainedSystem:
        from baselines.spacy_ner import config_from_params, require_spacy, train_spacy

        config = config_from_params(without_runtime(params), seed=seed)
        require_spacy()
        if progress:
            progress("message", {"text": f"training spaCy NER (up to {config.max_epochs} epochs, "
                                         f"patience {config.patience})"})
        nlp, cpu_seconds = timed_cpu(lambda: train_spacy(
            train, dev or None, config=config, language=data.task.language, entity_types=data.task.entity_types,
            progress=on_epoch_batch(progress, max_epochs=config.max_epochs, words=sum(len(s.tokens) for s in train))))
        nlp.save(model_dir)
        stats = nlp.stats.to_dict() if nlp.stats is not None else {}

        def predict(sentences: Sequence[Any]) -> tuple[list[list[str]], dict[str, Any], list[list[float]] | None]:
            tags, timed = nlp.predict_timed(sentences)  # an empty word is an error naming its sentence
            timing = timed.to_dict()
            timing["includes"] = "greedy transition-based NER tags (no per-word scores)"
            return tags, timing, None

        cost = cpu_cost(stats, cpu_seconds, passes=stats["epochs_run"],
                        unit="words x epochs (the seconds include each epoch's dev scoring)",
                        who="the spaCy baseline")
        described = nlp.describe()
        info = {k: described.get(k) for k in ("lang", "entity_types", "pipeline", "versions")}
        info.update(model_sha256=described["model_sha256"], config=config.to_dict())
        return TrainedSystem(predict=predict, training=stats, cost=cost, info=info)

    def load(self, model_dir: Path, *, device: str = "auto", batch_size: int = 64,
             decode: str | None = None) -> SpacyPredictor:
        return SpacyPredictor(model_dir)


class SpacyPredictor:
    """A saved spaCy baseline: one tag per given word (its Doc is built from them), no per-word score."""

    kind = "spacy"
    word_tokenizer = DEFAULT_WORD_TOKENIZER

    def __init__(self, model_dir: Path) -> None:
        from baselines.spacy_ner import SpacyModel

        self.model = SpacyModel.load(model_dir)
        self.labels = list(self.model.labels)

    def tag(
        self, docs: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[tuple[list[str], list[float | None]]]:
        """``pos`` is accepted for a uniform interface; spaCy's default NER does not use it."""
        return [(t, [None] * len(t)) for t in self.model.predict_tokens([list(d) for d in docs])]


