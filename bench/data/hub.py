"""Hugging Face ``datasets`` sources, for users with internet access.

Labels are mapped by *name* (the dataset's ``ClassLabel`` names, or ``options.label_names`` for
datasets that store bare integers), never by position in nerbench's own label list, so a dataset
that orders its labels differently cannot silently swap entity types.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from bench.data.schemes import SPANS, TAG_SCHEMES, TagError, apply_scheme, repair_warning, split_tag
from bench.data.taskdata import TaskData, check_scheme, content_digest, finish_task_data
from bench.data.types import Sentence, SplitData
from bench.errors import ConfigError, DataFormatError, DataNotFoundError
from bench.spec import HubSource, TaskSpec

log = logging.getLogger(__name__)

HUB_FORMATS = {"token_classification": frozenset(TAG_SCHEMES), "ade": frozenset({SPANS})}
"""Hub formats and the schemes a task using each may declare."""


def label_names_of(rows_features: Any, source: HubSource) -> list[str]:
    """Tag names in id order: from the ClassLabel feature, else from ``options.label_names``."""
    names = source.options.get("label_names")
    if names:
        return [str(n) for n in names]
    feat = rows_features.get(source.tags_field) if rows_features is not None else None
    inner = getattr(feat, "feature", None)
    if inner is not None and hasattr(inner, "names"):
        return list(inner.names)
    raise ConfigError(
        f"hub dataset {source.dataset}: field '{source.tags_field}' has no ClassLabel names; "
        "give them in [hub] options.label_names"
    )


def rows_to_split(
    rows: Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str],
    source: HubSource,
    split: str,
    name: str = "",
    scheme: str = "IOB2",
    repair: bool = False,
) -> SplitData:
    """Token-classification rows (tokens + integer tags) as IOB2 sentences, read under the task's ``scheme``."""
    where = f"hub:{source.dataset}@{source.revision}/{split}"
    pos_field = source.options.get("pos_field")
    raw: list[tuple[int, list[str], list[str]]] = []
    for i, row in enumerate(rows):
        tokens = [str(t) for t in row[source.tokens_field]]
        ids = row[source.tags_field]
        if len(tokens) != len(ids):
            raise DataFormatError(where, i + 1, f"{len(tokens)} tokens but {len(ids)} tags", where="row")
        tags = []
        for k, t in enumerate(ids):
            if isinstance(t, str):
                tag = t
            elif 0 <= int(t) < len(names):
                tag = names[int(t)]
            else:
                raise DataFormatError(where, i + 1, f"tag id {t} at token {k + 1} has no name (labels: {list(names)})", where="row")
            try:
                split_tag(tag, k)
            except TagError as exc:
                raise DataFormatError(where, i + 1, str(exc), where="row") from None
            tags.append(tag)
        if tokens:
            raw.append((i, tokens, tags))
    result = apply_scheme(
        [t for _, _, t in raw], scheme=scheme, repair=repair, locate=lambda si, ti: (where, raw[si][0] + 1, "row")
    )
    notes, warnings = [], []
    if scheme != "IOB2":
        notes.append(f"{where}: tags read as {scheme} (the task's scheme); converted to IOB2 ({result.changed} tags changed)")
    if result.repaired:
        warnings.append(repair_warning(where, scheme, result.repaired, unit="row"))
        log.warning(warnings[-1])
    out = []
    for (i, tokens, _), tags in zip(raw, result.tags, strict=True):
        pos = tuple(str(p) for p in rows[i][pos_field]) if pos_field else None
        out.append(Sentence(tuple(tokens), tuple(tags), source=f"{where}:{i + 1}", pos=pos))
    stats = {"tags_changed": result.changed, "tags_repaired": len(result.repaired)}
    return SplitData(name or split, out, notes=notes, warnings=warnings, stats=stats)


def _fetch(source: HubSource, split: str) -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise DataNotFoundError(f"the 'datasets' package is needed for hub sources: {exc}") from None
    try:
        return datasets.load_dataset(source.dataset, source.config, split=split, revision=source.revision)
    except Exception as exc:  # network, auth, missing revision: all end the same way for the user
        raise DataNotFoundError(
            f"could not load {source.dataset} (config {source.config}, revision {source.revision}, split {split}) "
            f"from the Hugging Face Hub: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None


_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@functools.cache
def hub_offline_reason(timeout_s: float = 3.0) -> str | None:
    """Why the hub cannot be used right now, or ``None`` when it answers.

    The offline variables are honoured first; otherwise one TCP connection to the hub's endpoint is
    tried (once per process). ``datasets`` would otherwise spend minutes in retries, printing a
    warning per retry, before giving up offline.
    """
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"offline mode ({var}={os.environ[var]})"
    import socket
    from urllib.parse import urlsplit

    try:
        from huggingface_hub import constants

        endpoint = urlsplit(constants.ENDPOINT)
    except ImportError:
        return "huggingface_hub is not installed"
    host, port = endpoint.hostname or "", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"the hub ({host}) cannot be reached: {exc.strerror or exc}"


def load_hub(task: TaskSpec) -> TaskData:
    """Load ``task`` from its ``[hub]`` source into a :class:`bench.data.taskdata.TaskData`."""
    from bench.data.formats import check_splits_not_empty

    assert task.hub is not None
    src = task.hub
    splits: dict[str, SplitData] = {}
    if src.format in HUB_FORMATS:
        check_scheme(task, f"hub {src.format}", HUB_FORMATS[src.format])
    hint = ""  # why a split can come out empty, for the error if one does
    if src.format == "ade":
        from bench.data import ade

        hint = ade.EMPTY_SPLIT_HINT
        ds = _fetch(src, str(src.options.get("hub_split", "train")))
        rows = [ade.row_from_hub(r, index=i, source_name=f"hub:{src.dataset}") for i, r in enumerate(ds)]
        splits = ade.build_ade_splits(rows, seed=int(src.options.get("seed", 13)), source_name=f"hub:{src.dataset}")
    elif src.format == "token_classification":
        for name, hub_split in src.splits.items():
            ds = _fetch(src, hub_split)
            names = label_names_of(getattr(ds, "features", None), src)
            splits[name] = rows_to_split(
                list(ds), names=names, source=src, split=hub_split, name=name, scheme=task.scheme, repair=task.repair
            )
    else:
        raise ConfigError(f"{task.origin}: unknown hub format '{src.format}' (use token_classification or ade)")
    check_splits_not_empty(splits, source=f"hub:{src.dataset}", hint=hint)
    fps = {name: content_digest(sd.sentences) for name, sd in splits.items()}
    provenance = {"kind": "hub", "dataset": src.dataset, "revision": src.revision, "config": src.config}
    return finish_task_data(task, splits, f"hub:{src.dataset}@{src.revision}", fps, provenance)
