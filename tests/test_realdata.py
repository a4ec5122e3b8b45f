"""The shipped tasks on the real data folder: the counts each SOURCE.md gives (skipped without the data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main
from bench.catalog import load_catalog
from bench.data.load import TaskData, load_task_data, split_stats


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


# --------------------------------------------------------------------------- declared schemes, documents, provenance


def load(name: str, data_dir: Path) -> TaskData:
    return load_task_data(load_catalog().get(name), data_dir=data_dir, allow_hub=False)


def test_real_files_are_valid_under_their_declared_schemes(data_dir: Path) -> None:
    """conll2003 and bc5cdr need no repair; conll2003_docs' eng.train has the 2 B- tags IOB1 forbids."""
    for name in ("conll2003", "bc5cdr"):
        data = load(name, data_dir)
        assert data.task.scheme == "IOB2" and not data.task.repair
        assert [sd.stats["tags_repaired"] for sd in data.splits.values()] == [0, 0, 0] and data.warnings == []
    docs = load("conll2003_docs", data_dir)
    assert docs.task.scheme == "IOB1" and docs.task.repair
    assert {k: sd.stats["tags_repaired"] for k, sd in docs.splits.items()} == {"train": 2, "dev": 0, "test": 0}
    assert docs.warnings == [
        "eng.train: 2 tag(s) invalid under the declared scheme IOB1 repaired the conlleval way (repair = true) "
        "at line 152426, 175434"
    ]


def test_documents_of_each_task(data_dir: Path) -> None:
    docs = load("conll2003_docs", data_dir)
    assert [len({s.doc_id for s in docs.sentences(k)}) for k in ("train", "dev", "test")] == [946, 216, 231]
    plain = load("conll2003", data_dir)  # the IOB2 files, with the documents of the original ones
    for k in ("train", "dev", "test"):
        assert [s.doc_id for s in plain.sentences(k)] == [s.doc_id for s in docs.sentences(k)]
        assert [s.tokens for s in plain.sentences(k)] == [s.tokens for s in docs.sentences(k)]
    ade = load("ade_drug_effect", data_dir)
    assert all(s.doc_id and s.doc_id.isdigit() for sd in ade.splits.values() for s in sd.sentences)


def test_bc5cdr_sentences_get_the_pmids_of_the_pubtator_release(data_dir: Path) -> None:
    from bench.data.pubtator import read_pubtator

    data = load("bc5cdr", data_dir)
    pubtator = {"train": "CDR_TrainingSet", "dev": "CDR_DevelopmentSet", "test": "CDR_TestSet"}
    for split, stem in pubtator.items():
        pmids = [s.doc_id for s in data.sentences(split)]
        assert None not in pmids and len(set(pmids)) == 500
        release = {d.id for d in read_pubtator(data_dir / "bc5cdr" / "original-pubtator" / f"{stem}.PubTator.txt")}
        assert set(pmids) == release
        # one document's sentences are contiguous in the TSV
        assert len(list(dict.fromkeys(pmids))) == len([p for i, p in enumerate(pmids) if i == 0 or pmids[i - 1] != p])
    assert data.sentences("train")[0].doc_id == "10091617"


def test_provenance_has_no_absolute_path(data_dir: Path) -> None:
    import json

    from bench.data.load import sha256_file

    data = load("bc5cdr", data_dir)
    assert data.source == "local:bc5cdr"
    assert sorted(data.provenance["files"]) == [
        "bc5cdr/devel.tsv",
        "bc5cdr/original-pubtator/CDR_DevelopmentSet.PubTator.txt",
        "bc5cdr/original-pubtator/CDR_TestSet.PubTator.txt",
        "bc5cdr/original-pubtator/CDR_TrainingSet.PubTator.txt",
        "bc5cdr/test.tsv",
        "bc5cdr/train.tsv",
    ]
    assert data.provenance["files"]["bc5cdr/test.tsv"] == sha256_file(data_dir / "bc5cdr" / "test.tsv")
    for name in ("conll2003_docs", "ehealthkd2020", "ade_drug_effect"):
        other = load(name, data_dir)
        assert other.source == f"local:{other.task.local.folder}"
        assert str(data_dir.resolve()) not in json.dumps([other.source, other.provenance, other.warnings])
        assert str(data_dir) not in json.dumps([other.source, other.provenance, other.warnings])
