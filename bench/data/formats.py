"""Registry of local data formats.

A format reader turns a task's local folder into split data::

    reader(folder, splits, options, *, scheme, repair) -> dict[str, SplitData]

``splits`` maps split names (``train``/``dev``/``test``) to the file or sub-folder named in the
task TOML; ``options`` is the task's ``[local.options]`` table; ``scheme`` and ``repair`` are the
task's declared tagging scheme and repair policy (see :mod:`bench.data.schemes`). A reader declares
the option names it accepts so a typo'd key is rejected before any file is opened, and the schemes
it can read (``spans`` for span-annotated formats) so a task cannot declare one it would ignore.

Every reader's splits are checked as it hands them over (:func:`check_splits_not_empty`): a split
with no sentences (an ADE file with too few PMIDs for the seeded split, say) is an error naming the
split and its file at load time, not a run whose every cell dies with "nothing to score".
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.data.schemes import SPANS, TAG_SCHEMES
from bench.data.types import SplitData
from bench.errors import DataFormatError
from bench.registry import Registry

ReaderFn = Callable[..., dict[str, SplitData]]
"""``(folder, splits, options, *, scheme, repair) -> {split: SplitData}``."""


@dataclass(frozen=True)
class Format:
    name: str
    read: ReaderFn
    options: frozenset[str]
    """Option names the reader accepts in ``[local.options]``."""
    description: str = ""
    schemes: frozenset[str] = frozenset(TAG_SCHEMES)
    """Schemes a task using this format may declare."""
    empty_hint: str = ""
    """Why a split of this format can come out empty, said in the error when one does."""
    option_docs: Mapping[str, str] = field(default_factory=dict)
    """What each option means, for the reference (``python -m bench.docs``), where the reader says."""


def check_splits_not_empty(splits: Mapping[str, SplitData], *, source: str = "", hint: str = "") -> None:
    """Every split must hold sentences: an empty one is a :class:`DataFormatError` naming the split and
    its file(s) (``source`` when the split records none, e.g. a Hub dataset), with ``hint`` as the why."""
    for name, sd in splits.items():
        if not sd.sentences:
            where = ", ".join(sd.files) or source or f"split '{name}'"
            why = f" ({hint})" if hint else ""
            raise DataFormatError(
                where, None,
                f"split '{name}' has no sentences{why}: every split a task names needs sentences to train on or score",
            )


FORMATS: Registry[Format] = Registry("data format")


def register_format(
    name: str, *, options: tuple[str, ...] | Mapping[str, str] = (), description: str = "", spans: bool = False,
    empty_hint: str = "",
) -> Callable[[ReaderFn], ReaderFn]:
    """Decorator: register ``fn`` as the reader of format ``name``; ``spans``: it reads span annotations;
    ``options``: the option names it accepts, or a mapping of each to what it means (for the reference).

    The registered ``Format.read`` is ``fn`` followed by :func:`check_splits_not_empty` (``fn`` itself
    is returned unchanged, and is ``Format.read.__wrapped__``); ``empty_hint`` goes into that error."""

    def deco(fn: ReaderFn) -> ReaderFn:
        schemes = frozenset({SPANS}) if spans else frozenset(TAG_SCHEMES)

        @functools.wraps(fn)
        def read(*args: Any, **kwargs: Any) -> dict[str, SplitData]:
            splits = fn(*args, **kwargs)
            check_splits_not_empty(splits, hint=empty_hint)
            return splits

        docs = dict(options) if isinstance(options, Mapping) else {}
        FORMATS.register(name, Format(name, read, frozenset(options), description, schemes, empty_hint, docs))
        return fn

    return deco


BUILTIN = ("conll", "brat", "ade")
"""Formats shipped with nerbench; each lives in ``bench.data.<name>`` and registers on import."""


def get_format(name: str) -> Format:
    # Importing a reader module registers it; done lazily so `import bench` stays cheap.
    if name not in FORMATS and name in BUILTIN:
        importlib.import_module(f"bench.data.{name}")
    return FORMATS.get(name)
