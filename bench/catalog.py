"""The task catalogue: shipped ``tasks/*.toml`` plus any task files the user names.

Shipped task files live in the repository's ``tasks/`` folder, which is installed as the package
``bench._tasks`` so a non-editable install finds them too.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from bench.errors import ConfigError
from bench.registry import Registry
from bench.spec import TaskSpec, load_task_file


def shipped_dir(kind: str = "") -> Path:
    """``tasks/`` (or ``tasks/<kind>``) of a source checkout, else of the installed package."""
    here = Path(__file__).resolve().parent.parent / "tasks"
    if (here / "conll2003.toml").is_file():
        return here / kind if kind else here
    res = importlib.resources.files("bench._tasks")
    path = Path(str(res))
    return path / kind if kind else path


def load_catalog(extra: list[Path] | tuple[Path, ...] = ()) -> Registry[TaskSpec]:
    """All shipped tasks plus ``extra`` TOML files (or folders of them).

    Two files defining one task name are an error; one file named twice (a shipped task's own file
    passed with ``--task-file``, a folder and a file in it) is one definition.
    """
    reg: Registry[TaskSpec] = Registry("task")
    files = sorted(shipped_dir().glob("*.toml"))
    for p in extra:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(p.glob("*.toml")))
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"{p}: task file not found")
    seen: set[Path] = set()
    for f in files:
        real = f.resolve()
        if real in seen:  # the same file named twice (a shipped task passed with --task-file): one definition
            continue
        seen.add(real)
        spec = load_task_file(f)
        if spec.name in reg:
            raise ConfigError(f"task '{spec.name}' is defined twice: {reg.get(spec.name).origin} and {f}")
        reg.register(spec.name, spec, origin=str(f))
    return reg


def resolve_task(name_or_path: str, extra: list[Path] | tuple[Path, ...] = ()) -> TaskSpec:
    """A task by name, or by path to a TOML file (which need not be in the catalogue)."""
    if name_or_path.endswith(".toml"):
        return load_task_file(Path(name_or_path))
    return load_catalog(extra).get(name_or_path)
