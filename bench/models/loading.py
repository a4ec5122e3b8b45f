"""Loading a resolved model with clear errors: its config, its fast tokenizer (prefix space for byte-level
BPE, no built-in truncation), the encoder with a token-classification head, and its longest input."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bench.errors import ConfigError
from bench.models.catalogue import MODELS, ModelSpec
from bench.models.headinit import log_loading, quiet_load_report

# One logger for the whole package, as when it was one module: log lines keep their "bench.models" name.
log = logging.getLogger("bench.models")

T = TypeVar("T")

# Model types whose tokenizers are byte-level BPE: with pre-split words they need a leading space
# per word, otherwise every word is encoded as if glued to the previous one.
BYTE_LEVEL_MODEL_TYPES = frozenset(
    {
        "roberta",
        "gpt2",
        "longformer",
        "bart",
        "mvp",
        "deberta",
        "luke",
        "codegen",
        "gpt_neo",
        "gpt_neox",
        "bloom",
        "data2vec-text",
        "roberta-prelayernorm",
        "ibert",
        "modernbert",
    }
)


def _from_source(spec: ModelSpec, what: str, load: Callable[..., T], **kwargs: Any) -> T:
    """Call a ``from_pretrained`` and turn the hub/offline failures into one ConfigError."""
    extra: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if not spec.is_local and spec.revision:
        extra["revision"] = spec.revision
    try:
        return load(spec.source, **extra, **kwargs)
    except OSError as exc:
        if spec.is_local:
            raise ConfigError(f"model '{spec.name}': cannot load the {what} from {spec.source}: {exc}") from None
        raise ConfigError(
            f"model '{spec.name}': could not load its {what} from the Hugging Face Hub (unreachable, offline "
            f"mode, or no such repository/revision) and it is not in the local cache. Use a local model "
            f"directory or a named offline model ({', '.join(MODELS)}) instead."
        ) from None


def load_config(spec: ModelSpec, **kwargs: Any) -> Any:
    from transformers import AutoConfig

    return _from_source(spec, "config", AutoConfig.from_pretrained, **kwargs)


def needs_prefix_space(spec: ModelSpec, *, model_type: str | None, tokenizer: Any | None = None) -> bool:
    """Whether words must be encoded with a leading space: explicit setting, model type, or backend."""
    if spec.add_prefix_space is not None:
        return spec.add_prefix_space
    if model_type in BYTE_LEVEL_MODEL_TYPES:
        return True
    return tokenizer is not None and _byte_level_pretokenizers(tokenizer) != []


def _byte_level_pretokenizers(tokenizer: Any) -> list[Any]:
    from tokenizers import pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None)
    if pre is None:
        return []
    if isinstance(pre, pre_tokenizers.ByteLevel):
        return [pre]
    if isinstance(pre, pre_tokenizers.Sequence):
        found = []
        k = 0
        while True:
            try:
                child = pre[k]
            except (IndexError, TypeError):
                break
            if isinstance(child, pre_tokenizers.ByteLevel):
                found.append(child)
            k += 1
        return found
    return []


def set_prefix_space(tokenizer: Any) -> None:
    """Make a byte-level BPE tokenizer add a space before each pre-split word (in place)."""
    backend = tokenizer.backend_tokenizer
    pre = backend.pre_tokenizer
    for child in _byte_level_pretokenizers(tokenizer):
        child.add_prefix_space = True
    backend.pre_tokenizer = pre
    tokenizer.add_prefix_space = True


def load_tokenizer(spec: ModelSpec, *, model_type: str | None = None) -> Any:
    """The model's *fast* tokenizer (word ids need it), with ``add_prefix_space`` set when needed."""
    from transformers import AutoTokenizer

    if model_type is None:
        model_type = getattr(load_config(spec), "model_type", None)
    kwargs: dict[str, Any] = {}
    prefix = needs_prefix_space(spec, model_type=model_type)
    if prefix:
        kwargs["add_prefix_space"] = True
    tokenizer = _from_source(spec, "tokenizer", AutoTokenizer.from_pretrained, **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"model '{spec.name}' has no fast (Rust) tokenizer ({type(tokenizer).__name__}); nerbench needs "
            "one to map sub-tokens back to words. Use a model that ships tokenizer.json."
        )
    if prefix or needs_prefix_space(spec, model_type=model_type, tokenizer=tokenizer):
        if any(not p.add_prefix_space for p in _byte_level_pretokenizers(tokenizer)):
            log.info("model %s: byte-level BPE tokenizer; encoding words with add_prefix_space=True", spec.name)
            set_prefix_space(tokenizer)
    disable_builtin_truncation(tokenizer, spec.name)
    return tokenizer


def disable_builtin_truncation(tokenizer: Any, name: str) -> None:
    """Turn off truncation/padding that a ``tokenizer.json`` switches on for every encode.

    sentence-transformers saves its tokenizers that way (all-mpnet-base-v2: truncate and pad to 128).
    ``tokenizer(...)`` turns both off per call unless asked, but the backend encoder keeps them until
    then, so a direct ``backend_tokenizer.encode`` (or a tokenizer saved with a trained model) would cut
    sentences at 128 sub-tokens. nerbench splits long sentences into windows itself, so neither is wanted.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return
    found = {k: v for k, v in (("truncation", backend.truncation), ("padding", backend.padding)) if v is not None}
    if not found:
        return
    log.info(
        "model %s: its tokenizer.json switches on %s; turned off (nerbench windows long sentences itself)",
        name,
        " and ".join(f"{k} ({v.get('max_length', v.get('length'))})" for k, v in found.items()),
    )
    backend.no_truncation()
    backend.no_padding()


def load_for_training(spec: ModelSpec, *, labels: Sequence[str]) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a token-classification head sized for ``labels`` on the encoder."""
    from transformers import AutoModelForTokenClassification

    id2label = dict(enumerate(labels))
    config = load_config(spec, num_labels=len(labels), id2label=id2label, label2id={v: k for k, v in id2label.items()})
    tokenizer = load_tokenizer(spec, model_type=getattr(config, "model_type", None))
    # A checkpoint that already has a token-classification head for another label set gets a new
    # head (initialised from the seeded RNG) instead of a size-mismatch error. transformers' loading
    # report is replaced by one line that says which differences are expected (bench.models.headinit).
    with quiet_load_report():
        model, info = _from_source(
            spec,
            "weights",
            AutoModelForTokenClassification.from_pretrained,
            config=config,
            ignore_mismatched_sizes=True,
            output_loading_info=True,
        )
    log_loading(model, info, labels=len(labels), name=spec.name, log=log)
    return model, tokenizer


def model_max_length(model: Any, tokenizer: Any) -> int:
    """The longest input the model accepts: position embeddings, capped by the tokenizer's limit."""
    limits = []
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models offset positions by padding_idx + 1.
        offset = 2 if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert", "mpnet"} else 0
        limits.append(positions - offset)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits) if limits else 512
