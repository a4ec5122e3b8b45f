"""Registry of local data formats.

A format reader turns a task's local folder into split data::

    reader(folder, splits, options, *, scheme, repair) -> dict[str, SplitData]

``splits`` maps split names (``train``/``dev``/``test``) to the file or sub-folder named in the
task TOML; ``options`` is the task's ``[local.options]`` table; ``scheme`` and ``repair`` are the
task's declared tagging scheme and repair policy (see :mod:`bench.data.schemes`). A reader declares
the option names it accepts so a typo'd key is rejected before any file is opened, and the schemes
it can read (``spans`` for span-annotated formats) so a task cannot declare one it would ignore.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from bench.data.schemes import SPANS, TAG_SCHEMES
from bench.data.types import SplitData
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


FORMATS: Registry[Format] = Registry("data format")


def register_format(
    name: str, *, options: tuple[str, ...] = (), description: str = "", spans: bool = False
) -> Callable[[ReaderFn], ReaderFn]:
    """Decorator: register ``fn`` as the reader of format ``name``; ``spans``: it reads span annotations."""

    def deco(fn: ReaderFn) -> ReaderFn:
        schemes = frozenset({SPANS}) if spans else frozenset(TAG_SCHEMES)
        FORMATS.register(name, Format(name, fn, frozenset(options), description, schemes))
        return fn

    return deco


BUILTIN = ("conll", "brat", "ade")
"""Formats shipped with nerbench; each lives in ``bench.data.<name>`` and registers on import."""


def get_format(name: str) -> Format:
    # Importing a reader module registers it; done lazily so `import bench` stays cheap.
    if name not in FORMATS and name in BUILTIN:
        importlib.import_module(f"bench.data.{name}")
    return FORMATS.get(name)
