"""Shared test helpers: the real-data folder (optional) and tiny corpora written by the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path | None:
    """``$NERBENCH_DATA_DIR`` or ``../shared/data`` beside the checkout, when it exists."""
    env = os.environ.get("NERBENCH_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture
def data_dir() -> Path:
    d = real_data_dir()
    if d is None:
        pytest.skip("real data not available (set NERBENCH_DATA_DIR)")
    return d


TINY_TASK = """\
name = "tiny"
version = "1"
language = "en"
domain = "test"
entity_types = ["PER", "ORG", "LOC", "MISC"]
scheme = "IOB2"
licence = "written by the tests"

[local]
folder = "tiny"
format = "conll"
splits = { train = "train.txt", dev = "dev.txt", test = "test.txt" }
options = { pos_column = 1 }
"""
"""A task file over :func:`conll_dir`'s folder (pass its parent as the data dir)."""

CONLL_TINY = """\
-DOCSTART- -X- O O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""


@pytest.fixture
def conll_dir(tmp_path: Path) -> Path:
    """A tiny CoNLL task folder with train/dev/test files (test reuses the same sentences)."""
    d = tmp_path / "tiny"
    d.mkdir()
    for name in ("train.txt", "dev.txt", "test.txt"):
        (d / name).write_text(CONLL_TINY, encoding="utf-8")
    return d


@pytest.fixture(scope="session", autouse=True)
def own_staging_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every Ray task and local cell the tests start stages under this session's own folder (the Ray instances
    a test starts take this process's environment), never the machine's ``<tmp>/nerbench-ray-<uid>``: the
    staging sweep and the clean-up of killed drivers' Ray processes then see only what these tests made."""
    root = tmp_path_factory.mktemp("nerbench-staging")
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get("NERBENCH_STAGING_DIR"):
            mp.setenv("NERBENCH_STAGING_DIR", str(root))
        yield Path(os.environ["NERBENCH_STAGING_DIR"])
