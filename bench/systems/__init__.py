"""System kinds: every way nerbench gets predictions, behind one interface (:class:`SystemKind`).

The runner calls :func:`train_system`, ``nerbench predict`` calls :func:`load_system`, the suite
loader asks a kind for its parameters, the executors ask it what to import and which resources a
cell needs: all through :data:`SYSTEM_KINDS`, so no other module knows the kinds by name.

Built in: ``crf`` (:mod:`bench.systems.crf`), ``spacy`` (:mod:`bench.systems.spacy`),
``transformer`` (:mod:`bench.systems.transformer`), ``external`` (:mod:`bench.systems.external`,
scored predictions, never trained) and ``lookup`` (:mod:`baselines.lookup`, the CoNLL-2003 baseline).
A new kind is one module defining a :class:`SystemKind` subclass and one line in :func:`_register`;
``lookup`` was added that way, and the README's "Adding a system" walks through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.registry import Registry
from bench.systems.base import (
    RUNTIME_PARAMS,
    PredictFn,
    Predictor,
    ProgressFn,
    SystemKind,
    TrainedSystem,
    cpu_cost,
    without_runtime,
)

if TYPE_CHECKING:
    from bench.data.load import TaskData
    from bench.data.types import Sentence
    from bench.spec import SystemSpec

class _Kinds(Registry[SystemKind]):
    """The registry of system kinds, filled by :func:`_register` on first use, so a kind's module may
    import :mod:`bench.systems.base` (and be imported first) without a circular import."""

    def __init__(self) -> None:
        super().__init__("system kind")
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            _register(self)

    def get(self, name: str) -> SystemKind:
        self._load()
        return super().get(name)

    def unknown_message(self, name: str) -> str:
        self._load()
        return super().unknown_message(name)

    def __contains__(self, name: object) -> bool:
        self._load()
        return super().__contains__(name)

    def __iter__(self) -> Iterator[str]:
        self._load()
        return super().__iter__()

    def __len__(self) -> int:
        self._load()
        return super().__len__()

    def items(self) -> list[tuple[str, SystemKind]]:
        self._load()
        return super().items()


def _register(kinds: Registry[SystemKind]) -> None:
    """Every built-in kind. A new kind: import its class here and add an instance to the tuple."""
    from bench.systems.crf import CrfKind
    from bench.systems.external import ExternalKind
    from bench.systems.lookup import LookupKind
    from bench.systems.spacy import SpacyKind
    from bench.systems.transformer import TransformerKind

    for kind in (CrfKind(), SpacyKind(), TransformerKind(), ExternalKind(), LookupKind()):
        kinds.register(kind.name, kind, origin=type(kind).__module__)


SYSTEM_KINDS: Registry[SystemKind] = _Kinds()


def get_kind(name: str) -> SystemKind:
    """The kind called ``name``; an unknown name is a ConfigError listing the known ones."""
    return SYSTEM_KINDS.get(name)


def trainable_kinds() -> list[str]:
    """The kinds a suite can name, sorted."""
    return [name for name, kind in SYSTEM_KINDS.items() if kind.trainable]


def spelled_kinds() -> str:
    """The trainable kinds for a message, e.g. ``'crf', 'spacy' or 'transformer'``."""
    known = [repr(k) for k in trainable_kinds()]
    return ", ".join(known[:-1]) + f" or {known[-1]}" if len(known) > 1 else known[0]


def train_system(
    spec: SystemSpec,
    params: dict[str, Any],
    *,
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    data: TaskData,
    seed: int,
    model_dir: Path,
    device: str = "auto",
    progress: ProgressFn | None = None,
) -> TrainedSystem:
    """Train ``spec``'s kind on ``train`` (``dev`` for model selection) and save it in ``model_dir``."""
    trained = get_kind(spec.kind).train(
        dict(params), model=spec.model, train=train, dev=dev, data=data, seed=seed, model_dir=Path(model_dir),
        device=device, progress=progress,
    )
    record_task_reading(model_dir, data)
    return trained


def resolved_config(spec: SystemSpec, params: dict[str, Any], *, seed: int) -> dict[str, Any]:
    """The full configuration a system would train with (defaults filled in), without training.

    Bad parameter names fail here, before any cell runs.
    """
    params = {k: v for k, v in params.items() if k not in ("max_train_sentences", "max_eval_sentences")}
    return get_kind(spec.kind).resolve_config(params, seed=seed)


def load_system(model_dir: Path, kind: str, **options: Any) -> Predictor:
    """A saved model folder of ``kind`` as a :class:`Predictor` (``options``: device, batch_size, decode)."""
    return get_kind(kind).load(Path(model_dir), **options)


def record_task_reading(model_dir: Path, data: TaskData) -> None:
    """Write how the training task read its words into the model folder's ``nerbench_model.json``
    (atomically): its word tokenizer, so ``nerbench predict`` cuts raw text into the words this model was
    trained on, and, for a model that uses POS tags (``"uses_pos": true``, the CRF's record) trained on
    CoNLL files (not a hub copy), the task's ``pos_column``, so ``nerbench predict --format conll`` reads
    the POS tags from that column without ``--pos-column``. A failed write fails the cell with the file
    named (:class:`~bench.errors.NerbenchError`)."""
    from bench.modeldir import MODEL_INFO_FILE, read_json_object
    from bench.results import atomic_write_text

    path = Path(model_dir) / MODEL_INFO_FILE
    if not path.is_file():
        return
    info = read_json_object(path, what="the nerbench model description")
    info["word_tokenizer"] = data.task.word_tokenizer
    local = data.task.local
    from_files = local is not None and local.format == "conll" and not data.source.startswith("hub:")
    if info.get("uses_pos") and from_files:
        pos_column = local.options.get("pos_column")  # type: ignore[union-attr]
        if isinstance(pos_column, int) and not isinstance(pos_column, bool):
            info["pos_column"] = pos_column
    atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True) + "\n")


__all__ = [
    "RUNTIME_PARAMS", "SYSTEM_KINDS", "PredictFn", "Predictor", "ProgressFn", "SystemKind", "TrainedSystem",
    "cpu_cost", "get_kind", "load_system", "record_task_reading", "resolved_config", "spelled_kinds", "train_system",
    "trainable_kinds", "without_runtime",
]
