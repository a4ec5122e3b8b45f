"""What loading a pretrained encoder under a new token-classification head did to its weights, in one line.

transformers 5 logs a ``LOAD REPORT`` table (with raw ANSI colour escapes) whenever a checkpoint's weights
and the model's differ, and transformers 4 a "Some weights ... were not initialized" warning. For a
fine-tuning run most of it is expected: the token-classification head is new (missing from an encoder
checkpoint, or sized for another label set), and a pretraining checkpoint's pooler or language-model head
is not used. :func:`quiet_load_report` keeps that report out of the logs while the weights load (and puts it
back when loading fails, so an error that points at it still has it); :func:`describe_loading` turns the
``output_loading_info`` of ``from_pretrained`` into nerbench's own line: *expected* differences at INFO
(``classifier head initialised fresh for 9 labels (expected: a new token-classification head); pooler
weights not used (...)``), anything else, such as an encoder weight missing from the checkpoint, as a
WARNING naming the weights.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

REPORT_LOGGER = "transformers.modeling_utils"
"""Where ``from_pretrained`` logs its loading report (transformers 4 and 5)."""

_REPORT_MARKS = ("LOAD REPORT", "Some weights of", "You should probably TRAIN this model")
SHOWN = 8
"""Weights named in a warning before "and N more"."""


class _HoldReport(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if any(mark in str(record.msg) for mark in _REPORT_MARKS):
            self.held.append(record)
            return False
        return True


@contextlib.contextmanager
def quiet_load_report() -> Iterator[None]:
    """Hold transformers' weight-loading report back while the block runs; when the block raises (a
    conversion error, a size mismatch it refuses), log the held report after all: the error points at it."""
    logger = logging.getLogger(REPORT_LOGGER)
    hold = _HoldReport()
    logger.addFilter(hold)
    try:
        yield
    except BaseException:
        logger.removeFilter(hold)
        for record in hold.held:
            logger.handle(record)
        raise
    finally:
        logger.removeFilter(hold)


def _modules(keys: Iterable[str]) -> list[str]:
    """The top modules the weights belong to, in order: ``classifier.weight`` -> ``classifier``."""
    return list(dict.fromkeys(k.split(".", 1)[0] for k in keys))


def _names(keys: Sequence[str]) -> str:
    more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_loading(info: Mapping[str, Any], *, prefix: str, encoder_modules: Iterable[str], labels: int,
                     model: str) -> tuple[str, list[str]]:
    """``(note, warnings)`` for the ``output_loading_info`` of a token-classification ``from_pretrained``.

    ``prefix`` is the model's ``base_model_prefix`` (``bert``): a model weight outside it belongs to the new
    head, one inside it to the encoder. ``encoder_modules`` are the encoder's own top modules (``embeddings``,
    ``encoder``): a checkpoint weight under one of them that was not used is unexpected; other unused
    weights (a pooler, a pretraining head) are expected. The note says what is expected, each warning what is not.
    """
    def inside(key: str) -> str | None:
        return key[len(prefix) + 1:] if prefix and key.startswith(prefix + ".") else None

    missing = sorted(info.get("missing_keys") or ())
    mismatched = sorted(info.get("mismatched_keys") or (), key=lambda m: m[0])
    unexpected = sorted(info.get("unexpected_keys") or ())
    own = set(encoder_modules)
    head_new = [k for k in missing if inside(k) is None]
    head_resized = [m for m in mismatched if inside(m[0]) is None]
    unused = [inside(k) or k for k in unexpected]
    warnings = []
    if lost := [k for k in missing if inside(k) is not None]:
        warnings.append(f"model {model}: {len(lost)} encoder weight(s) missing from the checkpoint, initialised at "
                        f"random: {_names(lost)} (not the pretrained encoder: check the model folder)")
    if resized := [m for m in mismatched if inside(m[0]) is not None]:
        warnings.append(f"model {model}: {len(resized)} encoder weight(s) of another shape in the checkpoint, "
                        "initialised at random: " + _names([f"{k} ({tuple(a)} in the checkpoint, {tuple(b)} here)"
                                                            for k, a, b in resized]))
    if strange := [k for k, u in zip(unexpected, unused, strict=True) if u.split(".", 1)[0] in own]:
        warnings.append(f"model {model}: {len(strange)} checkpoint weight(s) of the encoder not used: {_names(strange)} "
                        "(does the config match the checkpoint?)")
    parts = []
    if head_new or head_resized:
        head = _and(_modules([*head_new, *(m[0] for m in head_resized)]))
        if head_resized:
            was = {tuple(a)[0] for _, a, _ in head_resized if len(a)}
            sizes = f"; the checkpoint's was sized for {_and([str(n) for n in sorted(was)])}" if was else ""
            parts.append(f"{head} head initialised fresh for {labels} labels{sizes} (expected: a new "
                         "token-classification head for this task's labels)")
        else:
            parts.append(f"{head} head initialised fresh for {labels} labels (expected: a new "
                         "token-classification head)")
    else:
        parts.append(f"every weight loaded from the checkpoint, its {labels}-label head included")
    if ignored := _modules(u for u in unused if u.split(".", 1)[0] not in own):
        parts.append(f"{_and(ignored)} weights not used (expected: token classification does not use them)")
    return f"model {model}: " + "; ".join(parts), warnings


def log_loading(model: Any, info: Mapping[str, Any], *, labels: int, name: str,
                log: logging.Logger) -> None:
    """Log :func:`describe_loading` of a loaded token-classification ``model``: the note at INFO, each
    warning at WARNING."""
    prefix = str(getattr(model, "base_model_prefix", "") or "")
    base = getattr(model, prefix, None) if prefix else None
    encoder_modules = [n for n, _ in base.named_children()] if base is not None else []
    note, warnings = describe_loading(info, prefix=prefix, encoder_modules=encoder_modules, labels=labels,
                                      model=name)
    log.info("%s", note)
    for w in warnings:
        log.warning("%s", w)
