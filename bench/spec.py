"""Task and suite specifications: frozen dataclasses loaded from TOML, unknown keys rejected.

One schema, not two: the dataclasses *are* the schema. :func:`from_toml_dict` walks their fields,
so a typo'd key in a task file (``entity_type = [...]``) is an error naming the file and the key,
with a did-you-mean suggestion.

Near the bottom of the layers (only :mod:`bench.choices`, :mod:`bench.registry` and :mod:`bench.errors`
are below it), a spec knows no system kind and no reader: scheme and word-tokenizer names are checked
against :mod:`bench.choices`, and a suite's system kinds and parameters against the kinds by
:func:`bench.systems.suites.load_suite`, which reads a suite for running.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.choices import ALL_SCHEMES, SPANS, WORD_TOKENIZER_NAMES
from bench.errors import ConfigError, name_problem

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class ReferenceResult:
    """A published number the benchmark should land near, with where it comes from."""

    system: str
    split: str
    metric: str
    value: float
    source: str
    note: str = ""


@dataclass(frozen=True)
class LocalSource:
    """Files under the data dir: ``<data_dir>/<folder>/<splits[split]>`` read by ``format``."""

    folder: str
    format: str
    splits: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)
    allow_outside_data_dir: bool = False
    """Let the folder, split files and file options (and symlinks among them) lead outside the data
    dir (or the shipped data folder); by default such a path is an error naming the task file and key."""


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face ``datasets`` copy for users with internet; the revision is pinned."""

    dataset: str
    revision: str
    splits: dict[str, str]
    config: str | None = None
    format: str = "token_classification"
    """``token_classification`` (tokens + ClassLabel tags, mapped by *name*) or ``ade``."""
    tokens_field: str = "tokens"
    tags_field: str = "ner_tags"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    version: str
    language: str
    domain: str
    entity_types: tuple[str, ...]
    scheme: str
    """Tagging scheme of the source (``IOB1``, ``IOB2``, ``BIOES``, ``BILOU``, ``spans``); scoring is IOB2.

    The one source of truth for how tags are read (local and hub): no reader guesses per file."""
    licence: str
    description: str = ""
    repair: bool = False
    """Read tag sequences the declared scheme does not allow the conlleval way, counted in
    ``data_warnings``, instead of stopping with an error naming the file and line."""
    span_scoring: str | None = None
    """``None`` (word-level only) or ``ehealthkd2020`` (official partial=0.5 rule on original spans)."""
    word_tokenizer: str = "simple"
    """How raw text is cut into this task's kind of words (:mod:`bench.data.wordtok`: ``simple``, the
    BRAT rule; ``conll``, Penn-Treebank-like). Recorded in every trained model folder, so ``nerbench
    predict`` cuts raw text the way the training words were cut."""
    reference: tuple[ReferenceResult, ...] = ()
    local: LocalSource | None = None
    hub: HubSource | None = None
    origin: str = ""
    """The TOML file this spec came from (filled by the loader, not written in files)."""

    def __post_init__(self) -> None:
        for key, value in (("name", self.name), *((f"entity_types[{i}]", t) for i, t in enumerate(self.entity_types))):
            why = name_problem(value)
            if why:
                raise ConfigError(f"{self.origin or 'task'}: {key}: {why}")
        if self.scheme not in ALL_SCHEMES:
            close = difflib.get_close_matches(self.scheme.upper(), ALL_SCHEMES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{self.origin or self.name}: unknown scheme '{self.scheme}' (use one of {', '.join(ALL_SCHEMES)}){hint}"
            )
        if self.repair and self.scheme == SPANS:
            raise ConfigError(f"{self.origin or self.name}: repair = true needs a tag scheme; scheme 'spans' has no tags")
        if self.local is None and self.hub is None:
            raise ConfigError(f"{self.origin or self.name}: task has neither [local] nor [hub] source")
        if self.word_tokenizer not in WORD_TOKENIZER_NAMES:
            raise ConfigError(f"{self.origin or self.name}: unknown word_tokenizer '{self.word_tokenizer}' "
                              f"(use one of {', '.join(WORD_TOKENIZER_NAMES)})")
        for src in (self.local, self.hub):
            if src is not None:
                bad = sorted(set(src.splits) - set(SPLITS))
                if bad or "train" not in src.splits or "test" not in src.splits:
                    raise ConfigError(
                        f"{self.origin or self.name}: splits must include train and test and only use "
                        f"{', '.join(SPLITS)} (got {', '.join(src.splits)})"
                    )


# --------------------------------------------------------------------------- TOML -> dataclass


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


Checks = Mapping[type, Callable[[Any], None]]
"""Checks a caller adds to some dataclasses, run on each as soon as it is built (in file order, before the
table that holds it is finished); their ValueError is an error naming the file, as the dataclass's own."""


def from_toml_dict(cls: type, data: Any, *, where: str, path: str = "", checks: Checks | None = None) -> Any:
    """Build dataclass ``cls`` from a TOML table, rejecting unknown keys and wrong types; ``checks``: see
    :data:`Checks`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{path or cls.__name__}] must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "origin"}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, list(fields), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{where}: unknown key '{path + '.' if path else ''}{k}'{hint}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{path}.{name}" if path else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}: missing required key '{key}'")
            continue
        kwargs[name] = _convert(hints[name], data[name], where=where, path=key, checks=checks)
    if "origin" in {f.name for f in dataclasses.fields(cls)}:
        kwargs["origin"] = where
    try:
        built = cls(**kwargs)
        if checks and cls in checks:
            checks[cls](built)
        return built
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _convert(tp: Any, value: Any, *, where: str, path: str, checks: Checks | None = None) -> Any:
    tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_toml_dict(tp, value, where=where, path=path, checks=checks)
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{path}' must be an array")
        return tuple(_convert(inner, v, where=where, path=f"{path}[{i}]", checks=checks) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: '{path}' must be a table")
        _, vtype = typing.get_args(tp)
        if dataclasses.is_dataclass(vtype):
            return {k: from_toml_dict(vtype, v, where=where, path=f"{path}.{k}", checks=checks) for k, v in value.items()}
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, float, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: '{path}' must be {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte offset {exc.start}); "
            "TOML files must be saved as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_task_file(path: Path) -> TaskSpec:
    return from_toml_dict(TaskSpec, load_toml(path), where=str(path))


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class SystemSpec:
    """A system in a suite: a trainable kind of :data:`bench.systems.SYSTEM_KINDS` (``crf``, ``spacy`` (the
    optional extra ``nerbench[spacy]``), ``transformer`` (with a model name, local dir or hub id), ...).

    The kind is checked against the kinds by :func:`bench.systems.suites.check_system` (a suite read for
    running is: :func:`bench.systems.suites.load_suite`), not here: a spec knows no system."""

    kind: str
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    """What one cell asks Ray for under ``--executor ray``: num_cpus, num_gpus, memory (bytes) or custom
    resource names. Default: a transformer asks for one CPU slot per torch_threads, and one GPU on cuda or
    on auto when the cluster has a GPU (else auto runs it on cpu); any other cell for one CPU slot."""

    def __post_init__(self) -> None:
        for name, value in self.resources.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"resources.{name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class Override:
    """Parameters that replace the system's for matching cells (``*`` matches everything)."""

    params: dict[str, Any]
    task: str = "*"
    system: str = "*"
    reason: str = ""


@dataclass(frozen=True)
class SizesFor:
    """Training sizes that replace the suite's ``train_sizes`` for matching cells (``*`` matches everything),
    e.g. a task whose train split is smaller than the suite's largest size, or a system that skips ``"all"``."""

    sizes: tuple[int | str, ...]
    task: str = "*"
    system: str = "*"
    reason: str = ""


@dataclass(frozen=True)
class Transfer:
    """Out of domain: score the systems trained on ``train`` on ``eval``'s test split, in the train-side
    types: ``types`` maps eval-side types to train-side ones (several may map to one); the other types of
    either side are left out (see :mod:`bench.transfer`)."""

    train: str
    """The task whose trained systems are scored: one of the suite's `tasks` (its whole-split cells' models)."""
    eval: str
    """The task whose test split they are scored on (a task file; it need not be in `tasks`)."""
    types: dict[str, str]
    """Eval-side entity type -> train-side type (several may map to one); the types of either task outside the
    mapping are left out on both sides and counted."""
    reason: str = ""
    """Why this pair, for people reading the suite."""


@dataclass(frozen=True)
class SuiteSpec:
    """A matrix of tasks x systems x seeds, with per-cell overrides."""

    name: str
    tasks: tuple[str, ...]
    systems: tuple[str, ...]
    seeds: tuple[int, ...]
    system: dict[str, SystemSpec]
    description: str = ""
    eval_splits: tuple[str, ...] = ("dev", "test")
    override: tuple[Override, ...] = ()
    task_systems: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Restrict a task to some of the systems (the others are not crossed with it)."""
    train_sizes: tuple[int | str, ...] = ()
    """Learning curves: numbers of training sentences (and ``"all"``), each a cell of its own with a
    nested, seeded subset of the train split (see :mod:`bench.data.subsets`); empty means ``["all"]``."""
    sizes_for: tuple[SizesFor, ...] = ()
    """``[[sizes_for]]`` tables: other sizes for some tasks or systems; the last match wins."""
    transfer: tuple[Transfer, ...] = ()
    """``[[transfer]]`` tables: out-of-domain scoring of the train task's trained systems on another task."""
    origin: str = ""

    def __post_init__(self) -> None:
        for name in (*self.systems, *self.system):
            why = name_problem(name)
            if why:
                raise ValueError(f"system name: {why}")
        for t, systems in self.task_systems.items():
            if t not in self.tasks:
                raise ValueError(f"task_systems names task {t!r}, which is not in tasks")
            bad = [s for s in systems if s not in self.systems]
            if bad:
                raise ValueError(f"task_systems.{t} names unknown system(s) {', '.join(bad)}")
        missing = [s for s in self.systems if s not in self.system]
        if missing:
            raise ValueError(f"systems {', '.join(missing)} have no [system.<name>] table")
        bad = [s for s in self.eval_splits if s not in SPLITS]
        if bad:
            raise ValueError(f"eval_splits must be among {', '.join(SPLITS)} (got {', '.join(bad)})")
        for o in self.override:
            if o.system != "*" and o.system not in self.system:
                raise ValueError(f"override names unknown system {o.system!r}")
        if not self.seeds or any(not 0 <= s < 2**32 for s in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct integers from 0 to 4294967295 (got {list(self.seeds)})")
        train_sizes(self.train_sizes, where="train_sizes")
        for i, sf in enumerate(self.sizes_for):
            where = f"sizes_for[{i}]"
            if sf.task != "*" and sf.task not in self.tasks:
                raise ValueError(f"{where} names task {sf.task!r}, which is not in tasks")
            if sf.system != "*" and sf.system not in self.system:
                raise ValueError(f"{where} names unknown system {sf.system!r}")
            if not sf.sizes:
                raise ValueError(f"{where}.sizes is empty")
            train_sizes(sf.sizes, where=f"{where}.sizes")
        check_transfers(self.transfer, self.tasks)

    def crosses(self, task: str, system: str) -> bool:
        return system in self.task_systems.get(task, self.systems)

    def sizes_of(self, task: str, system: str) -> list[int | None]:
        """The training sizes of a (task, system): the last matching ``sizes_for``, else ``train_sizes``
        (``None`` stands for the whole split; no sizes at all means the whole split only)."""
        sizes = self.train_sizes
        for sf in self.sizes_for:
            if sf.task in ("*", task) and sf.system in ("*", system):
                sizes = sf.sizes
        return train_sizes(sizes, where="train_sizes") or [None]

    def params_for(self, task: str, system: str) -> dict[str, Any]:
        """The system's params with every matching override applied in file order."""
        params = dict(self.system[system].params)
        for o in self.override:
            if o.task in ("*", task) and o.system in ("*", system):
                params.update(o.params)
        return params


def check_transfers(transfers: tuple[Transfer, ...], tasks: tuple[str, ...]) -> None:
    """What a ``[[transfer]]`` entry can be checked for without the task catalogue (the types against the
    tasks' own are checked at plan time, :func:`bench.transfer.check_transfer_types`)."""
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(transfers):
        where = f"transfer[{i}] ({t.train} -> {t.eval})"
        for what, name in (("train", t.train), ("eval", t.eval), *(("types", n) for kv in t.types.items() for n in kv)):
            if why := name_problem(name):
                raise ValueError(f"{where}: {what}: {why}")
        if t.train not in tasks:
            raise ValueError(f"{where}: train task {t.train!r} is not in tasks (its trained models are the suite's cells)")
        if t.train == t.eval or not t.types or (t.train, t.eval) in seen:
            raise ValueError(f"{where}: " + ("train and eval are the same task" if t.train == t.eval else
                             "types is empty: map at least one eval-side type to a train-side type" if not t.types
                             else "this pair is declared twice"))
        seen.add((t.train, t.eval))


MAX_TRAIN_SIZE = 10**8


def train_sizes(values: Any, *, where: str) -> list[int | None]:
    """A ``train_sizes`` list as sizes, ``None`` standing for ``"all"``; raises ValueError naming what is wrong.

    >>> train_sizes([100, "all", 1000], where="x")
    [100, None, 1000]
    """
    out: list[int | None] = []
    for v in values:
        if v == "all":
            out.append(None)
        elif isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_TRAIN_SIZE:
            out.append(v)
        else:
            raise ValueError(f"{where}: {v!r} is not a number of training sentences (1 to {MAX_TRAIN_SIZE}) or \"all\"")
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: a size is repeated in {list(values)}")
    return out


def load_suite_file(path: Path, *, check_system: Callable[[SystemSpec], None] | None = None) -> SuiteSpec:
    """A suite as written, its own rules checked (names, tables, seeds, sizes). ``check_system`` checks each
    ``[system.<name>]`` table as it is read, its ValueError an error naming the file; the kinds and their
    parameters are checked by :func:`bench.systems.suites.load_suite`, which reads a suite for running."""
    checks = {SystemSpec: check_system} if check_system is not None else None
    return from_toml_dict(SuiteSpec, load_toml(path), where=str(path), checks=checks)


# --------------------------------------------------------------------------- system parameters


def param_types(cls: type) -> dict[str, type]:
    """A config dataclass's field types as TOML checks them (``X | None`` is ``X``: TOML has no null).

    >>> @dataclass
    ... class C:
    ...     a: int = 1
    ...     b: "float | None" = None
    >>> param_types(C)
    {'a': <class 'int'>, 'b': <class 'float'>}
    """
    hints = typing.get_type_hints(cls)
    return {f.name: _unwrap_optional(hints[f.name]) for f in dataclasses.fields(cls)}
