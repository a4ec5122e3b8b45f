"""The shipped tasks on the real data folder: the counts each SOURCE.md gives (skipped without the data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main
from bench.catalog import load_catalog
from bench.data.load import load_task_data, split_stats


def stats(name: str, data_dir: Path) -> dict[str, dict]:
    data = load_task_data(load_catalog().get(name), data_dir=data_dir, allow_hub=False)
    return {split: split_stats(sd) for split, sd in data.splits.items()}


def test_conll2003_counts(data_dir: Path) -> None:
    s = stats("conll2003", data_dir)
    assert [s[k]["sentences"] for k in ("train", "dev", "test")] == [14041, 3250, 3453]
    assert [s[k]["entities"] for k in ("train", "dev", "test")] == [23499, 5942, 5648]
    assert s["train"]["per_type"] == {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}


def test_conll2003_docs_copy_matches_iob2_copy(data_dir: Path) -> None:
    a = load_task_data(load_catalog().get("conll2003"), data_dir=data_dir, allow_hub=False)
    b = load_task_data(load_catalog().get("conll2003_docs"), data_dir=data_dir, allow_hub=False)
    for split in ("train", "dev", "test"):
        sa, sb = a.sentences(split), b.sentences(split)
        assert [(x.tokens, x.tags) for x in sa] == [(y.tokens, y.tags) for y in sb]
    assert len({s.doc_id for s in b.sentences("test")}) == 231


def test_ehealthkd2020_counts(data_dir: Path) -> None:
    s = stats("ehealthkd2020", data_dir)
    assert [s[k]["sentences"] for k in ("train", "dev", "test")] == [800, 199, 100]
    assert [s[k]["original_entities"] for k in ("train", "dev", "test")] == [5012, 1305, 556]
    assert s["test"]["original_per_type"] == {"Action": 121, "Concept": 377, "Predicate": 49, "Reference": 9}


def test_bc5cdr_counts(data_dir: Path) -> None:
    s = stats("bc5cdr", data_dir)
    assert [s[k]["sentences"] for k in ("train", "dev", "test")] == [4560, 4579, 4797]
    assert [s[k]["per_type"]["Chemical"] for k in ("train", "dev", "test")] == [5203, 5347, 5385]
    assert [s[k]["per_type"]["Disease"] for k in ("train", "dev", "test")] == [4182, 4244, 4424]


def test_ade_covers_every_unique_sentence_with_every_mention_located(data_dir: Path) -> None:
    data = load_task_data(load_catalog().get("ade_drug_effect"), data_dir=data_dir, allow_hub=False)
    texts = {s.text for sd in data.splits.values() for s in sd.sentences}
    assert len(texts) == 4271
    assert sum(sd.stats.get("mentions_not_found", 0) for sd in data.splits.values()) == 0
    per_split = [{s.text for s in data.sentences(k)} for k in ("train", "dev", "test")]
    assert not (per_split[0] & per_split[1] or per_split[0] & per_split[2] or per_split[1] & per_split[2])


def test_tasks_cli_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["tasks", "--json", "--data-dir", str(data_dir), "--task", "bc5cdr", "--no-hub"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["splits"]["test"]["sentences"] == 4797 and len(row["fingerprint"]) == 64
