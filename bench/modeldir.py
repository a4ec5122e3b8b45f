"""Writing and reading a nerbench model folder safely, for every system kind (transformer, CRF, spaCy).

A model folder is complete only when its marker file (``nerbench_model.json``) is there: saves go
through :func:`atomic_model_dir` (a hidden temporary sibling renamed into place), a temporary folder
is never loaded (:func:`refuse_unfinished`), and a save never replaces a folder that is not a model
(:func:`check_model_dir_replaceable`). :func:`read_json_object` reads a folder's JSON files with
one-line errors. Standard library only: no torch, no transformers.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

log = logging.getLogger(__name__)

MODEL_INFO_FILE = "nerbench_model.json"
"""The marker of a nerbench model folder (its kind, labels and settings), written last."""
SAFETENSORS_INDEX = "model.safetensors.index.json"
"""The weight index of a Hugging Face model saved in shards (one of :data:`MODEL_DIR_FILES`)."""


def read_json_object(path: Path, *, what: str = "") -> dict[str, Any]:
    """A JSON object from a model folder, or a :class:`ConfigError` saying what is wrong with it.

    ``what`` names the file's role in the message ("the model configuration is not valid JSON");
    without it the path alone says which file.
    """
    subject = f"{what} " if what else ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {subject}{'is ' if what else ''}not UTF-8 text (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: {subject}{'is ' if what else ''}not valid JSON: {exc.msg}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what or 'it'}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {subject}must be a JSON object, got {type(data).__name__}")
    return data


PARTIAL_SUFFIX = ".partial"
_PARTIAL_RE = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.(?P<kind>partial|old)")


def refuse_unfinished(directory: Path) -> None:
    """A temporary folder of :func:`atomic_model_dir` is never loaded: its save may not have finished."""
    m = _PARTIAL_RE.fullmatch(directory.name)
    if m is not None and m["kind"] == "partial":
        raise ConfigError(
            f"{directory}: the temporary folder of an interrupted model save, not a model: "
            "use the folder it was saving to, or train again"
        )


MODEL_DIR_FILES = (
    "config.json", "generation_config.json", "model.safetensors", "model-*-of-*.safetensors", SAFETENSORS_INDEX,
    "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "*.model", "model.crfsuite", "feature_resources.json",
    MODEL_INFO_FILE + ".tmp",
)
"""What a model folder nerbench writes may hold (older versions left these without the marker when
killed): a folder of nothing else may be replaced by a new save."""


def check_model_dir_replaceable(target: Path, *, marker: str = MODEL_INFO_FILE) -> None:
    """``target`` is absent, empty, a nerbench model folder (has ``marker``) or holds only model files
    (an older, unfinished save): a model may replace it. Anything else -- a mistyped path to a folder
    of one's own files -- is refused. Cheap: call it before training too, so it fails before the work."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ConfigError(f"{target}: exists and is not a folder: the model is not saved over it")
    names = sorted(p.name for p in target.iterdir())
    if marker in names:
        return
    others = [n for n in names if not any(fnmatch.fnmatchcase(n, pat) for pat in MODEL_DIR_FILES)]
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise ConfigError(
            f"{target}: exists and is not a saved nerbench model (no {marker}; holds {shown}): "
            "not replaced; remove it or choose another folder"
        )


@contextmanager
def atomic_model_dir(directory: str | Path, *, marker: str = MODEL_INFO_FILE) -> Iterator[Path]:
    """Write a model folder so that a kill at any moment never leaves one that looks complete.

    Yields a new hidden sibling folder (``.<name>.<pid>-<hex>.partial``); the caller writes every
    file into it, ``marker`` (``nerbench_model.json``) last. On success the folder is renamed onto
    ``directory``: an existing model there is moved aside first and deleted only after the new one
    is in place. On any error the temporary folder is removed and ``directory`` is left as it was.
    An existing ``directory`` that is neither empty nor a nerbench model folder is refused
    (:func:`check_model_dir_replaceable`), so a mistyped output path never deletes anything.
    Temporary folders of saves to the same place that were killed (their process is gone) are removed.
    """
    target = Path(directory)
    check_model_dir_replaceable(target, marker=marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target)
    tmp = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    tmp.mkdir()
    try:
        yield tmp
        if not (tmp / marker).is_file():
            raise RuntimeError(f"{tmp}: {marker} was not written; the model is not saved")
        if target.exists():
            old = tmp.with_name(tmp.name.removesuffix(PARTIAL_SUFFIX) + ".old")
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_stale_partials(target: Path) -> None:
    for p in target.parent.glob(f".{glob.escape(target.name)}.*"):
        m = _PARTIAL_RE.fullmatch(p.name)
        if m is None or m["name"] != target.name or not p.is_dir() or _pid_alive(int(m["pid"])):
            continue
        log.info("removing %s, left by an interrupted save", p)
        shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
