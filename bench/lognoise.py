"""Library log records that are wrong about nerbench, dropped at their loggers (the cell processes and ``nerbench
run`` call :func:`drop_library_noise`). transformers' weight-loading report is not here: it is replaced where the
weights load, by one line that says what was expected (:mod:`bench.models.headinit`)."""

from __future__ import annotations

import logging

LIBRARY_NOISE = (
    ("transformers.tokenization_utils_base", "Token indices sequence length is longer than the specified maximum"),
)
"""Library warnings that are wrong about nerbench: long sentences are split into windows (and counted
in the results' ``windows_split``), never run through the model past its maximum length."""


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not any(record.name == name and text.startswith(prefix) for name, prefix in LIBRARY_NOISE)


def drop_library_noise() -> None:
    """Silence :data:`LIBRARY_NOISE` at its loggers (idempotent)."""
    for name in dict.fromkeys(n for n, _ in LIBRARY_NOISE):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
