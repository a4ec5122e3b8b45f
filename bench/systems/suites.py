"""A suite checked against the system kinds, for running: each system's kind (:func:`check_system`) and
the types and ranges of every ``params`` table (:func:`check_suite_params`), read by :func:`load_suite`.

:mod:`bench.spec` reads a suite as written and knows no kind; the checks that ask the kinds live here, in
the systems' layer, and :func:`bench.plan.find_suite` reads every suite it runs through :func:`load_suite`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.spec import SuiteSpec, SystemSpec, load_suite_file
from bench.systems import SYSTEM_KINDS, get_kind, spelled_kinds, trainable_kinds


def load_suite(path: Path) -> SuiteSpec:
    """A suite for running: :func:`bench.spec.load_suite_file` with each system's kind checked as its table
    is read (:func:`check_system`), then the types and ranges of every system's and override's ``params``
    (:func:`check_suite_params`); every error names the file."""
    suite = load_suite_file(path, check_system=check_system)
    check_suite_params(suite, where=str(path))
    return suite


def check_system(spec: SystemSpec) -> None:
    """A ValueError unless ``spec``'s kind is one a suite can train, with a ``model`` where the kind needs one."""
    if spec.kind not in trainable_kinds():
        hint = " (external predictions are scored with `nerbench score`)" if spec.kind in SYSTEM_KINDS else ""
        raise ValueError(f"system kind must be {spelled_kinds()}, got {spec.kind!r}{hint}")
    if SYSTEM_KINDS.get(spec.kind).needs_model and not spec.model:
        raise ValueError(f"a {spec.kind} system needs 'model' (named offline model, local dir or hub id)")


RUNNER_PARAM_TYPES: dict[str, type] = {"max_train_sentences": int, "max_eval_sentences": int}
"""Parameters the runner applies itself (data limits, positive integers) for every system kind."""


def system_param_types(kind: str) -> dict[str, type]:
    """Every parameter a system of ``kind`` accepts in a suite, with its type (the kind's config fields,
    the extras it accepts, and the runner's data limits). No torch, spaCy or scikit-learn is imported."""
    return {**get_kind(kind).param_types(), **RUNNER_PARAM_TYPES}


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _shown(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def check_params(params: dict[str, Any], kind: str, *, where: str) -> None:
    """Types of one ``params`` table; ``where`` prefixes the message (file and system).

    Unknown names are left to the system's own configuration (``FinetuneConfig.from_params``,
    ``config_from_params``), which the runner builds for every cell before training anything.
    """
    types_ = system_param_types(kind)
    for key, value in params.items():
        if key not in types_:
            continue
        tp = types_[key]
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif tp is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif tp in (bool, str):
            ok = isinstance(value, tp)
        else:  # a type TOML cannot spell: left to the system's own config check
            ok = True
        if not ok:
            raise ConfigError(f"{where}: {key} must be {_TYPE_WORDS[tp]}, got {_shown(value)}")
        if tp is float and not math.isfinite(value):  # TOML spells nan and inf
            raise ConfigError(f"{where}: {key} must be a finite number, got {_shown(value)}")
        if key in RUNNER_PARAM_TYPES and value < 1:
            raise ConfigError(f"{where}: {key} must be a positive integer, got {_shown(value)}")


def check_suite_params(suite: SuiteSpec, *, where: str) -> None:
    """Every system's ``params``, and every override's against each system it reaches (a system that
    crosses a task the override names), so a wrong type fails when the suite is read; then the values'
    ranges (:func:`check_param_ranges`)."""
    for name, spec in suite.system.items():
        check_params(spec.params, spec.kind, where=f"{where}: system '{name}'")
    for k, o in enumerate(suite.override, start=1):
        tasks = suite.tasks if o.task == "*" else (o.task,)
        targets = [s for s in suite.system if o.system in ("*", s) and any(suite.crosses(t, s) for t in tasks)]
        for name in targets:
            scope = f"override {k} (task {o.task!r}, system {o.system!r})"
            check_params(o.params, suite.system[name].kind, where=f"{where}: {scope}: system '{name}'")
    check_param_ranges(suite, where=where)


def check_param_ranges(suite: SuiteSpec, *, where: str) -> None:
    """Each system's configuration as a cell of each task will build it (overrides applied), from the
    names its config knows, so a value out of range (``learning_rate = nan``, ``epochs = 100000``) is
    an error naming the file and the system when the suite is read; the ranges are the config
    dataclasses' own. Unknown names are still left to the run plan (see :func:`check_params`)."""
    seen: set[tuple[str, str]] = set()
    for task in suite.tasks:
        for name, spec in suite.system.items():
            if not suite.crosses(task, name):
                continue
            kind = get_kind(spec.kind)
            cls = kind.config_type()
            if cls is None:
                continue
            fields = {f.name for f in dataclasses.fields(cls)} - set(RUNNER_PARAM_TYPES) - {"seed"}
            params = {k: v for k, v in suite.params_for(task, name).items() if k in fields}
            key = (name, json.dumps(params, sort_keys=True, default=repr))
            if key in seen:
                continue
            seen.add(key)
            try:
                kind.resolve_config(params, seed=suite.seeds[0])
            except ConfigError as exc:
                on = "" if params == {k: v for k, v in spec.params.items() if k in fields} else f" (task '{task}')"
                raise ConfigError(f"{where}: system '{name}'{on}: {exc}") from None
