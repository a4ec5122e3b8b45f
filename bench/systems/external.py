"""System kind ``external``: predictions a system outside nerbench made, read from a file and scored
(``nerbench score``; the formats and every reading rule are in :mod:`bench.external`).

It is a kind like the others so results, reports and staleness treat it the same way, but nerbench
neither trains it nor keeps a model folder: a suite cannot name it, and ``nerbench predict`` cannot
load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.systems.base import SystemKind
from bench.versions import SYSTEM_VERSIONS


class ExternalKind(SystemKind):
    name = "external"
    version = SYSTEM_VERSIONS["external"]
    """1: conll, brat and jsonl predictions lined up with the gold words (bench/external/)."""
    summary = "predictions made outside nerbench, read and scored by `nerbench score`"
    trainable = False
    deterministic = True  # the same file always scores the same

    def train(self, params, *, model, train, dev, data, seed, model_dir, device, progress) -> Any:
        raise ConfigError("an external system is not trained by nerbench: score its predictions with "
                          "`nerbench score --task T --split S --system NAME --predictions FILE`")

    def load(self, model_dir: Path, *, device: str = "auto", batch_size: int = 64, decode: str | None = None) -> Any:
        raise ConfigError(f"{model_dir}: an external system has no model folder to predict with")

    def read(self, path: str | Path, data: Any, split: str, **options: Any) -> Any:
        """The predictions file as tags (and spans) per gold sentence of ``split``
        (:func:`bench.external.read_predictions`; ``options``: format, exact_tokens, scheme)."""
        from bench.external import read_predictions

        return read_predictions(path, data, split, **options)
