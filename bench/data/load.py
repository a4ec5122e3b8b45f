"""Resolve where a task's data comes from and load it: ``--data-dir`` > ``NERBENCH_DATA_DIR`` > hub.

The result carries a fingerprint (sha256 of the files read, plus the reader's options) that goes
into every result file, so two results are only compared when they saw the same data, and a
provenance record (which files, by path relative to the data dir, with their sha256; or which hub
dataset and revision). Neither holds an absolute path of the machine that loaded the data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

from bench.data.formats import get_format
from bench.data.schemes import tags_to_spans
from bench.data.taskdata import TaskData, check_labels, check_scheme, content_digest, finish_task_data
from bench.data.types import SplitData
from bench.errors import ConfigError, DataNotFoundError
from bench.spec import TaskSpec

__all__ = [
    "ENV_DATA_DIR", "PATH_OPTIONS", "TaskData", "check_labels", "check_local_paths", "check_scheme", "content_digest",
    "embedded_data_dir", "load_task_data", "resolve_data_dir", "sha256_file", "split_stats",
]

ENV_DATA_DIR = "NERBENCH_DATA_DIR"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _expand(files: list[str]) -> list[Path]:
    """The files behind ``files`` (a folder stands for every file under it), in digest order."""
    out: list[Path] = []
    for f in sorted(files):
        p = Path(f)
        out.extend(sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p])
    return out


def _files_digest(files: list[str], shas: dict[Path, str]) -> str:
    h = hashlib.sha256()
    for p in _expand(files):
        h.update(shas[p].encode())
    return h.hexdigest()



def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """``--data-dir`` wins over ``$NERBENCH_DATA_DIR``; ``None`` means neither was given."""
    if data_dir:
        return Path(data_dir)
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env) if env else None


def load_task_data(task: TaskSpec, *, data_dir: str | Path | None = None, allow_hub: bool = True) -> TaskData:
    """Load every split of ``task`` from the first source that works, with one clear error if none does."""
    root = resolve_data_dir(data_dir)
    tried: list[str] = []
    if task.local is not None and root is not None:
        folder = root / task.local.folder
        if folder.is_dir():
            return _load_local(task, folder, root)
        tried.append(f"local folder {folder} (not found)")
    elif task.local is not None:
        tried.append(f"local data (no --data-dir given and ${ENV_DATA_DIR} is not set)")
    embedded = embedded_data_dir()
    if task.local is not None and (embedded / task.local.folder).is_dir():
        data = _load_local(task, embedded / task.local.folder, embedded)
        data.source = f"embedded:{data.provenance['folder']}"
        data.provenance["kind"] = "embedded"
        return data
    if task.hub is not None and allow_hub:
        from bench.data.hub import hub_offline_reason, load_hub

        offline = hub_offline_reason()
        if offline:
            tried.append(f"hub {task.hub.dataset} (skipped: {offline})")
        else:
            try:
                return load_hub(task)
            except DataNotFoundError as exc:  # hub not reachable; a bad task or bad rows are errors of their own
                tried.append(f"hub {task.hub.dataset}: {exc}")
    fix = (
        f"put the files under <DIR>/{task.local.folder}/ and pass --data-dir DIR or set {ENV_DATA_DIR}=DIR"
        if task.local
        else "check network access to the Hugging Face Hub"
    )
    raise DataNotFoundError(f"task '{task.name}': no data found. Tried: " + "; ".join(tried) + f". To fix: {fix}.")


def embedded_data_dir() -> Path:
    """Corpora that ship inside nerbench (``tasks/data/``; only openly licensed ones, e.g. WNUT-17):
    used when neither ``--data-dir`` nor ``$NERBENCH_DATA_DIR`` holds the task's folder."""
    from bench.catalog import shipped_dir

    return shipped_dir("data")


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to the data dir, with ``/`` separators: what provenance records."""
    return Path(os.path.relpath(path, root)).as_posix()


PATH_OPTIONS: dict[str, bool] = {"file": False, "doc_files": False, "text_file": True, "ann_file": True}
"""``[local.options]`` keys of the built-in formats that name files (a string, or a table of them per
split): relative to the task's folder (``False``) or to each split's folder or file (``True``)."""


def _outside(task: TaskSpec, what: str, path: Path, root: Path) -> ConfigError | None:
    real = path.resolve()
    if real.is_relative_to(root.resolve()):
        return None
    return ConfigError(
        f"{task.origin or task.name}: {what} leads outside the data folder {root} (to {real}); "
        "move the data under it, or set allow_outside_data_dir = true in [local] to read it there"
    )


def check_local_paths(task: TaskSpec, folder: Path, root: Path) -> None:
    """Every path of the task's ``[local]`` table (folder, split files, :data:`PATH_OPTIONS`) must
    resolve, symlinks followed, inside ``root`` (the data dir, or the shipped data folder) unless the
    task sets ``allow_outside_data_dir = true``; else a :class:`ConfigError` naming the file and key."""
    local = task.local
    assert local is not None
    if local.allow_outside_data_dir:
        return
    paths = [("local.folder", local.folder, folder)]
    paths += [(f"local.splits.{split}", rel, folder / rel) for split, rel in local.splits.items()]
    for option, per_split in PATH_OPTIONS.items():
        value = local.options.get(option)
        entries = list(value.items()) if isinstance(value, dict) else [("", value)] if isinstance(value, str) else []
        bases = [folder / rel for rel in local.splits.values()] if per_split else [folder]
        for sub, v in entries:
            key = f"local.options.{option}" + (f".{sub}" if sub else "")
            paths += [(key, str(v), base / str(v)) for base in bases]
    for key, value, path in paths:
        if (err := _outside(task, f"{key} = {value!r}", path, root)) is not None:
            raise err


def _load_local(task: TaskSpec, folder: Path, root: Path) -> TaskData:
    assert task.local is not None
    check_local_paths(task, folder, root)
    fmt = get_format(task.local.format)
    unknown = sorted(set(task.local.options) - fmt.options)
    if unknown:
        raise ConfigError(
            f"{task.origin}: unknown option(s) {', '.join(unknown)} for format '{fmt.name}' "
            f"(allowed: {', '.join(sorted(fmt.options)) or 'none'})"
        )
    check_scheme(task, fmt.name, fmt.schemes)
    splits = fmt.read(folder, task.local.splits, task.local.options, scheme=task.scheme, repair=task.repair)
    opts = json.dumps({"format": fmt.name, "options": task.local.options}, sort_keys=True)
    files_read = [p for sd in splits.values() for p in _expand(sd.files)]
    if not task.local.allow_outside_data_dir:  # any file a reader opened, options of other formats included
        for p in files_read:
            if (err := _outside(task, f"file {p} (read by the {fmt.name} reader)", p, root)) is not None:
                raise err
    shas = {p: sha256_file(p) for p in files_read}
    # Files + reader options + the sentences themselves: splits cut from one file (ADE) differ too.
    split_fps = {
        name: hashlib.sha256((opts + _files_digest(sd.files, shas) + content_digest(sd.sentences)).encode()).hexdigest()
        for name, sd in splits.items()
    }
    folder_rel = _relative(folder, root)
    provenance = {
        "kind": "local",
        "folder": folder_rel,
        "format": fmt.name,
        "scheme": task.scheme,
        "repair": task.repair,
        "files": {_relative(p, root): sha for p, sha in sorted(shas.items(), key=lambda kv: _relative(kv[0], root))},
        "reader_options": dict(task.local.options),
    }
    return finish_task_data(task, splits, f"local:{folder_rel}", split_fps, provenance)



def split_stats(sd: SplitData) -> dict[str, object]:
    """Sentences, tokens and entities per type of one split (entities from the BIO view)."""
    types: Counter[str] = Counter()
    for s in sd.sentences:
        types.update(t for t, _, _ in tags_to_spans(s.tags))
    gold_original = None
    if sd.sentences and sd.sentences[0].entities is not None:
        gold_original = Counter(e.type for s in sd.sentences for e in (s.entities or ()))
    return {
        "sentences": len(sd.sentences),
        "tokens": sum(len(s.tokens) for s in sd.sentences),
        "entities": sum(types.values()),
        "per_type": dict(sorted(types.items())),
        "original_entities": sum(gold_original.values()) if gold_original is not None else None,
        "original_per_type": dict(sorted(gold_original.items())) if gold_original is not None else None,
    }
