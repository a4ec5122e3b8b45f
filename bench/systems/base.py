"""The interface every system kind implements, and the pieces the kinds share.

A *system kind* is a way to get word-level IOB2 tags for a task's sentences: train a CRF, fine-tune a
transformer, train spaCy, or read predictions someone else made (``external``). The runner, the
executors, the suite loader and ``nerbench predict`` only talk to a kind through :class:`SystemKind`,
found by name in :data:`bench.systems.SYSTEM_KINDS`; none of them knows the kinds by name.

What a kind provides:

* ``train(...)`` -> :class:`TrainedSystem`: fit on the train split's words and tags (dev for model
  selection), save a model folder, and return a ``predict`` function plus the training record and the
  cost (time, memory, throughput) in the result schema's words.
* ``load(model_dir)`` -> :class:`Predictor`: a saved folder back as something that tags words.
* ``config_type()``/``resolve_config(...)``: the parameters a suite may give and their defaults, so a
  bad name or type fails when the suite is read, never after hours of other cells.
* ``preload(model)``: the imports a cell's process makes before its clock starts.
* ``default_resources(params)``: what one cell asks a cluster for.
* ``estimate(...)``: how long a cell will take, said before it starts (the transformer on a CPU).
* ``work(...)``: what a cell costs, the same on every machine, to balance ``--shard K/N``.

Everything heavy (torch, spaCy, crfsuite) is imported inside the methods: importing a kind is cheap,
so the suite loader and a CRF-only process never pay for torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from bench.errors import ConfigError

if TYPE_CHECKING:
    from bench.data.load import TaskData
    from bench.data.types import Sentence

PredictFn = Callable[[Sequence["Sentence"]], tuple[list[list[str]], dict[str, Any], list[list[float]] | None]]
"""Sentences -> (word-level IOB2 tags, timing stats, per-word confidence of the chosen tag or ``None``)."""

ProgressFn = Callable[[str, dict[str, Any]], None]

RUNTIME_PARAMS: dict[str, type] = {"device": str, "torch_threads": int}
"""Runtime settings a suite may give every system (``[override]`` with ``system = "*"``); a CPU
baseline accepts and ignores them."""


@dataclass
class TrainedSystem:
    """What :meth:`SystemKind.train` returns: a predict function over the trained model, and the record."""

    predict: PredictFn
    training: dict[str, Any] = field(default_factory=dict)
    """The result's ``training`` block (epochs, dev scores, stopping reason, ...)."""
    cost: dict[str, Any] = field(default_factory=dict)
    """The result's ``cost`` block: train_seconds, peak_rss_mb, train_tokens_per_second and its unit, device."""
    info: dict[str, Any] = field(default_factory=dict)
    """Extra fields for the result's ``system`` block (feature set, model revision, resolved config, ...)."""

    def describe(self) -> dict[str, Any]:
        return dict(self.info)


class Predictor(Protocol):
    """A saved model folder loaded for ``nerbench predict``: one tag (and score or ``None``) per word."""

    kind: str
    labels: list[str]
    word_tokenizer: str
    """How raw text is cut into words for this model: the training task's tokenizer (from the model
    folder's ``nerbench_model.json``; ``simple`` for a folder that does not say)."""

    def tag(
        self, docs: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[tuple[list[str], list[float | None]]]: ...


class SystemKind:
    """One way of being a system. Subclass it in a module of ``bench/systems/`` and register an instance
    in :func:`bench.systems._register`; see the README's "Adding a system"."""

    name: ClassVar[str]
    version: ClassVar[int]
    """Bump when training or prediction code changes what the kind learns or predicts: results made
    under another version are stale (``nerbench run`` runs them again, the report marks them). Read from
    :data:`bench.versions.SYSTEM_VERSIONS` (``version = SYSTEM_VERSIONS["crf"]``), where the report finds
    it without importing a system: bump it there."""
    summary: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False
    """A suite's system of this kind must name a ``model`` (a transformer's weights)."""
    trainable: ClassVar[bool] = True
    """False for predictions nerbench only scores (``external``): a suite cannot train them."""
    deterministic: ClassVar[bool] = False
    """Same data, params and seed give the same predictions on any machine: ``nerbench compare`` then
    allows only rounding, not seed spread."""
    extra_params: ClassVar[dict[str, type]] = {}
    """Parameters accepted besides the config dataclass's fields (e.g. runtime settings it ignores)."""

    # ---------------------------------------------------------------- configuration
    def config_type(self) -> type | None:
        """The dataclass of this kind's parameters (imported without heavy dependencies), or None."""
        return None

    def param_types(self) -> dict[str, type]:
        """Every parameter name a suite may give this kind, with its TOML type (runner limits excluded)."""
        from bench.spec import param_types

        cls = self.config_type()
        return {**(param_types(cls) if cls is not None else {}), **self.extra_params}

    def resolve_config(self, params: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
        """The full configuration the kind would train with (defaults filled in); unknown names fail here."""
        raise ConfigError(f"system kind {self.name!r} is not trained by nerbench")

    def preflight(self, model: str | None) -> None:
        """Fail before any cell runs when something the kind needs is missing (e.g. model weights)."""

    # ---------------------------------------------------------------- running
    def preload(self, model: str | None) -> None:
        """Import what a cell needs before its clock starts (ImportError is ignored: training reports it)."""

    def default_resources(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Ray task options for one cell when the suite declares no ``resources``: one CPU slot."""
        return {"num_cpus": 1}

    def train(
        self,
        params: dict[str, Any],
        *,
        model: str | None,
        train: Sequence[Sentence],
        dev: Sequence[Sentence],
        data: TaskData,
        seed: int,
        model_dir: Path,
        device: str,
        progress: ProgressFn | None,
    ) -> TrainedSystem:
        raise ConfigError(f"system kind {self.name!r} is not trained by nerbench")

    def load(self, model_dir: Path, *, device: str = "auto", batch_size: int = 64,
             decode: str | None = None) -> Predictor:
        raise ConfigError(f"{model_dir}: system kind {self.name!r} saves no model folder to predict with")

    def estimate(
        self,
        params: dict[str, Any],
        *,
        model: str | None,
        train: Sequence[Sentence],
        dev: Sequence[Sentence],
        predicted: Sequence[Sequence[Sentence]],
        device: str,
    ) -> dict[str, Any] | None:
        """How long the cell will take, said before it starts (``{"seconds": ..., "text": ...}``), or None
        when the kind is quick or cannot tell. ``predicted``: the splits it predicts after training."""
        return None

    work_per_train_word: ClassVar[float] = 2e7
    """What :meth:`work` counts per training word for a kind that counts no FLOPs: FLOP-equivalents at the
    ~55 GFLOP/s the committed CPU runs' transformer training reached (a CRF took 0.2-0.4 ms a word)."""

    def work(
        self,
        params: dict[str, Any],
        *,
        model: str | None,
        train: Sequence[Sentence],
        dev: Sequence[Sentence],
        predicted: Sequence[Sequence[Sentence]],
    ) -> float:
        """A cell's cost in FLOPs (or FLOP-equivalents), to balance ``nerbench run --shard K/N``. The same
        number on every machine (no timing, no probe of this one): every array task of a cluster job must
        compute the same partition. Default: :attr:`work_per_train_word` per training word."""
        return self.work_per_train_word * sum(len(s.tokens) for s in train)


# --------------------------------------------------------------------------- shared by the CPU baselines


def without_runtime(params: Mapping[str, Any]) -> dict[str, Any]:
    """A CPU baseline's params without the transformer runtime settings a suite may give every system."""
    return {k: v for k, v in params.items() if k not in RUNTIME_PARAMS}


def cpu_cost(stats: dict[str, Any], cpu_seconds: float, *, passes: int, unit: str, who: str) -> dict[str, Any]:
    """The cost block of a system that trains on the CPU from its training stats (CRF, spaCy)."""
    train_seconds = stats.get("train_seconds")
    return {
        "train_seconds": train_seconds,
        "cpu_seconds": cpu_seconds,
        "train_tokens_per_second": stats["train_tokens"] * passes / train_seconds if train_seconds else None,
        "train_tokens_unit": unit,
        "peak_rss_mb": stats.get("peak_rss_bytes", 0) / 2**20 if stats.get("peak_rss_bytes") else None,
        "device": "cpu",
        "gpu": {"available": False, "reason": f"{who} runs on the CPU"},
    }


def timed_cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the CPU seconds it used in this process."""
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def on_step(progress: ProgressFn | None) -> Callable[..., None]:
    """A training loop's ``(epoch, step, total, loss[, tokens])`` callback that forwards to the runner's
    progress as a ``step`` event (``tokens``: sub-word tokens trained on so far, for a rate)."""

    def step(epoch: int, step: int, total: int, loss: float, tokens: int | None = None) -> None:
        if progress:
            info: dict[str, Any] = {"epoch": epoch, "step": step, "total": total, "loss": loss}
            if tokens is not None:
                info.update(processed=tokens, unit="tokens")
            progress("step", info)

    return step


def on_epoch_batch(progress: ProgressFn | None, *, max_epochs: int, words: int) -> Callable[..., None]:
    """A loop's ``(epoch, batch, batches, loss)`` callback (batches counted per epoch, training stops early
    at the latest after ``max_epochs``) as ``step`` events over the whole training: step counts go on
    across epochs, ``total`` is the most there can be (``bound``), ``processed`` the words trained on."""

    def step(epoch: int, batch: int, batches: int, loss: float) -> None:
        if progress and batches:
            done = (epoch - 1) * batches + batch
            progress("step", {"epoch": epoch, "epochs": max_epochs, "step": done, "total": max_epochs * batches,
                              "loss": loss, "bound": True, "processed": round(words * done / batches),
                              "unit": "words"})

    return step
