"""Which pretrained encoder a transformer system uses, and loading it with clear errors.

A model is named three ways: a *named offline model* from :data:`MODELS` (``minilm-l6``, shipped
as a pip package so the default benchmark runs without internet; ``mpnet-base``, a zip split over
five pip packages and assembled once into a cache folder), a local directory in Hugging Face
format, or a hub id (``dslim/bert-base-NER``, optionally ``@revision``) for users with internet.
Every failure a user can fix (no fast tokenizer, hub unreachable, package missing) is a
:class:`~bench.errors.ConfigError` with one message, never a traceback.

The package, top to bottom (each module imports only the ones below it; every name is importable from
``bench.models``):

- :mod:`bench.models.loading`: the config, the fast tokenizer (prefix space, no built-in truncation),
  the encoder with a token-classification head, the longest input;
- :mod:`bench.models.languages`: the languages a model was pretrained on, checked against a task's;
- :mod:`bench.models.headinit`: what loading did to the weights, in one line instead of transformers'
  loading report (a new head is expected; a missing encoder weight is a warning);
- :mod:`bench.models.catalogue`: :class:`ModelSpec`, the named offline models :data:`MODELS`,
  :func:`resolve_model` and :func:`model_identity`;
- :mod:`bench.models.multipart`: :class:`MultiPartZipModel`, a model assembled from a zip split over
  several pip packages;
- :mod:`bench.models.files`: the cache root, sha256 of files, joined zip parts, safe zip member paths,
  the lock and the discarding of damaged folders.
"""

from __future__ import annotations

from bench.models.catalogue import MODELS, ModelSpec, OfflineModel, model_identity, resolve_model
from bench.models.files import cache_root, safe_member_path, weights_sha256
from bench.models.languages import language_mismatch, model_languages
from bench.models.loading import (
    BYTE_LEVEL_MODEL_TYPES,
    disable_builtin_truncation,
    load_config,
    load_for_training,
    load_tokenizer,
    model_max_length,
    needs_prefix_space,
    set_prefix_space,
)
from bench.models.multipart import MultiPartZipModel

__all__ = [
    "BYTE_LEVEL_MODEL_TYPES",
    "MODELS",
    "ModelSpec",
    "MultiPartZipModel",
    "OfflineModel",
    "cache_root",
    "disable_builtin_truncation",
    "language_mismatch",
    "load_config",
    "load_for_training",
    "load_tokenizer",
    "model_identity",
    "model_languages",
    "model_max_length",
    "needs_prefix_space",
    "resolve_model",
    "safe_member_path",
    "set_prefix_space",
    "weights_sha256",
]
