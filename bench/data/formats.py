"""Registry of local data formats.

A format reader turns a task's local folder into split data::

    reader(folder, splits, options) -> dict[str, SplitData]

``splits`` maps split names (``train``/``dev``/``test``) to the file or sub-folder named in the
task TOML; ``options`` is the task's ``[local.options]`` table. A reader declares the option
names it accepts so a typo'd key is rejected before any file is opened.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.types import SplitData
from bench.registry import Registry

ReaderFn = Callable[[Path, Mapping[str, str], Mapping[str, Any]], dict[str, SplitData]]


@dataclass(frozen=True)
class Format:
    name: str
    read: ReaderFn
    options: frozenset[str]
    """Option names the reader accepts in ``[local.options]``."""
    description: str = ""


FORMATS: Registry[Format] = Registry("data format")


def register_format(name: str, *, options: tuple[str, ...] = (), description: str = "") -> Callable[[ReaderFn], ReaderFn]:
    """Decorator: register ``fn`` as the reader of format ``name``."""

    def deco(fn: ReaderFn) -> ReaderFn:
        FORMATS.register(name, Format(name, fn, frozenset(options), description))
        return fn

    return deco


BUILTIN = ("conll", "brat", "ade")
"""Formats shipped with nerbench; each lives in ``bench.data.<name>`` and registers on import."""


def get_format(name: str) -> Format:
    # Importing a reader module registers it; done lazily so `import bench` stays cheap.
    if name not in FORMATS and name in BUILTIN:
        importlib.import_module(f"bench.data.{name}")
    return FORMATS.get(name)
