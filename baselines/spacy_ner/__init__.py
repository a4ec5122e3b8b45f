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

Modules, by concern: :mod:`~baselines.spacy_ner.install` (is spaCy there, :class:`SpacyError`),
:mod:`~baselines.spacy_ner.config` (:class:`SpacyConfig`, the NER model block),
:mod:`~baselines.spacy_ner.docs` (words and tags <-> spaCy ``Doc``/BILUO, the blank pipeline),
:mod:`~baselines.spacy_ner.stats` (:class:`EpochStats`, :class:`TrainStats`),
:mod:`~baselines.spacy_ner.train` (:func:`train_spacy`) and :mod:`~baselines.spacy_ner.model`
(:class:`SpacyModel`, its folder format). Import from ``baselines.spacy_ner``: every public name is here.
"""

from baselines.crf import PredictStats
from baselines.spacy_ner.config import SpacyConfig, config_from_params, model_config
from baselines.spacy_ner.docs import iob2_to_biluo
from baselines.spacy_ner.install import SPACY_EXTRA_HINT, SpacyError, check_spacy_installed, require_spacy
from baselines.spacy_ner.model import MODEL_FORMAT_VERSION, MODEL_JSON, PIPELINE_DIR, WEIGHTS_FILE, SpacyModel
from baselines.spacy_ner.stats import EpochStats, TrainStats
from baselines.spacy_ner.train import StepFn, train_spacy

__all__ = [
    "MODEL_FORMAT_VERSION",
    "MODEL_JSON",
    "PIPELINE_DIR",
    "SPACY_EXTRA_HINT",
    "WEIGHTS_FILE",
    "EpochStats",
    "PredictStats",
    "SpacyConfig",
    "SpacyError",
    "SpacyModel",
    "StepFn",
    "TrainStats",
    "check_spacy_installed",
    "config_from_params",
    "iob2_to_biluo",
    "model_config",
    "require_spacy",
    "train_spacy",
]
