"""The numbers a hostile trial questioned: CoNLL-2003's documents as resampling units, one interval per
number (result file and report agree), and deterministic systems run once and marked so."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report
from bench.data.conll import read_conll
from bench.data.types import Sentence
from bench.errors import DataFormatError
from bench.metrics import BOOTSTRAP_SEED, N_RESAMPLES
from bench.plan import plan
from bench.scoring import score_split
from bench.spec import LocalSource, SuiteSpec, SystemSpec, TaskSpec

PLAIN = "EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n\nBRUSSELS B-LOC\n\n"
WITH_DOCS = ("-DOCSTART- O\n\nEU I-ORG\nrejects O\n\nPeter I-PER\nBlackburn I-PER\n\n"
             "-DOCSTART- O\n\nBRUSSELS I-LOC\n\n")


def _read(tmp_path: Path, plain: str, docs: str) -> list[Sentence]:
    (tmp_path / "a.conll").write_text(plain)
    (tmp_path / "a.docs").write_text(docs)
    out = read_conll(tmp_path, {"test": "a.conll"}, {"doc_format": "conll", "doc_files": {"test": "a.docs"}})
    return out["test"].sentences


def test_documents_come_from_a_copy_with_docstart_lines(tmp_path: Path) -> None:
    sents = _read(tmp_path, PLAIN, WITH_DOCS)
    assert [s.doc_id for s in sents] == ["doc0", "doc0", "doc1"]
    assert [s.tags for s in sents][0] == ("B-ORG", "O")  # tags stay the task file's


def test_a_document_copy_with_other_words_or_sentences_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"a\.conll:5.*sentence 2 differs from a\.docs line 7.*'Blackburn'.*'Blackbum'"):
        _read(tmp_path, PLAIN, WITH_DOCS.replace("Blackburn", "Blackbum"))
    with pytest.raises(DataFormatError, match="has 3 sentences, its document file a.docs has 2"):
        _read(tmp_path, PLAIN, WITH_DOCS.replace("\n\n-DOCSTART- O\n\nBRUSSELS I-LOC\n", "\n"))
    with pytest.raises(DataFormatError, match="no -DOCSTART- lines"):
        _read(tmp_path, PLAIN, PLAIN)


def test_conll2003_resamples_its_documents(data_dir: Path) -> None:
    from bench.catalog import resolve_task
    from bench.data.load import load_task_data
    from bench.scoring import evaluation_units

    data = load_task_data(resolve_task("conll2003"), data_dir=str(data_dir), allow_hub=False)
    counts = {split: len({s.doc_id for s in data.sentences(split)}) for split in ("train", "dev", "test")}
    assert counts == {"train": 946, "dev": 216, "test": 231}
    unit, _ = evaluation_units(data.sentences("test"))
    assert unit == "document"


TOY = TaskSpec(name="toy", version="1", language="en", domain="tests", entity_types=("PER",), scheme="IOB2",
               licence="x", description="toy", hub=None,
               local=LocalSource(folder="toy", format="conll", splits={"train": "a", "test": "t"}))
GOLD = [Sentence(("a", "b", "c"), ("B-PER", "O", "B-PER"), doc_id=f"d{i // 3}") for i in range(30)]


def _pred(i: int) -> list[str]:
    return ["B-PER", "O", "O" if i % 4 == 0 else "B-PER"]


def _result(seed: int, *, deterministic: bool, kind: str = "transformer") -> dict:
    metrics, unit_counts = score_split(TOY, GOLD, [_pred(i + seed) for i in range(len(GOLD))])
    return {"task": {"name": "toy", "version": "1", "fingerprint": "f"},
            "system": {"name": kind, "kind": kind, "model": None, "config_hash": "c", "deterministic": deterministic},
            "seed": seed, "split": "test", "metrics": metrics, "unit_counts": unit_counts,
            "cell_key": {"task_version": "1", "data_fingerprint": "f", "system_config_hash": "c"}}


def _groups(results: list[dict]) -> list[report.Group]:
    return report.group_results(results)["toy"]["test"]


def test_a_results_interval_does_not_depend_on_its_run_seed_and_is_the_reports(tmp_path: Path) -> None:
    from bench.data.load import TaskData
    from bench.data.types import SplitData
    from bench.results import read_result
    from bench.writing import score_and_write

    data = TaskData(TOY, {"train": SplitData("train", GOLD[:3]), "test": SplitData("test", GOLD)}, "local:toy", "f",
                    {})
    pred = [_pred(i) for i in range(len(GOLD))]
    written = [read_result(score_and_write(data, "test", GOLD, pred, system={"name": "m", "kind": "transformer"},
                                           key={}, seed=seed, results_dir=tmp_path)) for seed in (13, 14)]
    cis = [(w["metrics"]["main"]["ci_low"], w["metrics"]["main"]["ci_high"], w["metrics"]["main"]["ci"]["seed"])
           for w in written]
    assert cis[0] == cis[1] and cis[0][2] == BOOTSTRAP_SEED
    r13 = _result(13, deterministic=False)
    ci = r13["metrics"]["main"]["ci"]
    assert (ci["seed"], ci["resamples"]) == (BOOTSTRAP_SEED, N_RESAMPLES)
    r = report.leaderboard_rows(_groups([r13]))[0]
    assert (r["ci_low"], r["ci_high"]) == (r13["metrics"]["main"]["ci_low"], r13["metrics"]["main"]["ci_high"])


def test_deterministic_kinds_run_the_first_seed_only_and_are_marked() -> None:
    suite = SuiteSpec(name="s", description="", tasks=("toy",), systems=("crf", "lookup", "m"), seeds=(13, 14, 15),
                      system={"crf": SystemSpec(kind="crf"), "lookup": SystemSpec(kind="lookup"),
                              "m": SystemSpec(kind="transformer", model="minilm-l6")})
    got = [(c.system, c.seed) for c in plan(suite)]
    assert got == [("crf", 13), ("lookup", 13), ("m", 13), ("m", 14), ("m", 15)]
    assert [(c.system, c.seed) for c in plan(suite, seeds=[15, 14])] == [("crf", 15), ("lookup", 15), ("m", 15), ("m", 14)]
    groups = _groups([_result(13, deterministic=True, kind="crf")])
    rows = report.leaderboard_rows(groups)
    assert rows[0]["deterministic"] and report._seeds_text(rows[0]) == "deterministic"
    assert "deterministic" in repr(report.leaderboard_table(rows, official=False, groups=groups))
    rows = report.leaderboard_rows(_groups([_result(s, deterministic=False) for s in (13, 14)]))
    assert not rows[0]["deterministic"] and report._seeds_text(rows[0]) == "2"


@pytest.mark.parametrize(("text", "message"), [
    ("-5", "a seed must be an integer from 0 to 4294967295, got -5"),
    ("3,3", "seed 3 is given twice"),
    ("4294967296", "got 4294967296"),
])
def test_bad_seeds_are_refused_before_anything_runs(text: str, message: str) -> None:
    from bench.cli_run import parse_seeds
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_seeds(text)


def test_a_suite_with_repeated_or_negative_seeds_is_refused() -> None:
    for seeds in ((1, 1), (-1,), ()):
        with pytest.raises(ValueError, match="seeds must be distinct integers"):
            SuiteSpec(name="s", tasks=("t",), systems=("crf",), seeds=seeds, system={"crf": SystemSpec(kind="crf")})


def test_a_rewritten_result_file_does_not_make_the_checkout_dirty_but_code_does(tmp_path: Path) -> None:
    import subprocess

    from bench.env import git_state

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results" / "raw").mkdir(parents=True)
    (tmp_path / "results" / "raw" / "r.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "c")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "results" / "raw" / "r.json").write_text('{"rewritten": true}')
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path)["dirty"] is True


def _recorded_git(record: object) -> object:
    """The git block a committed JSON records: a result's ``environment.git``, a benchmark's ``git`` (or
    ``environment.git``); ``None`` when it records none."""
    if not isinstance(record, dict):
        return None
    env = record.get("environment")
    if isinstance(env, dict) and "git" in env:
        return env["git"]
    return record.get("git")


def test_every_committed_result_comes_from_a_clean_checkout() -> None:
    """Every result file under results/ (the default suite's, the curves', the context suite's, the
    regression references) and every benchmark JSON that records its commit comes from a clean checkout."""
    import json

    from .conftest import REPO

    dirty, unrecorded = [], []
    for path in sorted((REPO / "results").rglob("*.json*")):
        if path.name.endswith(".predictions.jsonl.gz"):
            continue
        rel = str(path.relative_to(REPO))
        text = path.read_text(encoding="utf-8")
        records = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" \
            else [json.loads(text)]
        for record in records:
            git = _recorded_git(record)
            if git is None:
                # a result always records its checkout; benchmark JSONs made before they did are listed below
                if not rel.startswith("results/benchmarks/"):
                    unrecorded.append(rel)
                continue
            if not isinstance(git, dict) or git.get("dirty") is not False or not git.get("sha"):
                dirty.append(rel)
    assert not unrecorded, f"committed result(s) that record no git state: {unrecorded[:5]}"
    assert not dirty, f"{len(dirty)} committed JSON(s) from a checkout with uncommitted code: {dirty[:5]}"


def test_every_benchmark_script_records_its_checkout() -> None:
    """A benchmark JSON says which commit made it and whether the code differed from it (``git_state``)."""
    from .conftest import REPO

    missing = [p.name for p in sorted((REPO / "benchmarks").glob("*.py"))
               if "git_state()" not in p.read_text(encoding="utf-8")
               and "environment(" not in p.read_text(encoding="utf-8")]
    assert not missing, f"benchmark script(s) whose JSON records no git state: {missing}"


def test_the_across_tasks_table_adjusts_over_its_own_family() -> None:
    import copy

    from bench.metrics import holm

    results = []
    for task in ("a", "b"):
        for r in (_result(13, deterministic=True, kind="crf"), _result(14, deterministic=False),
                  _result(15, deterministic=False)):
            r = copy.deepcopy(r)
            r["task"]["name"] = task
            results.append(r)
    grouped = report.group_results(results)
    rows = report.across_tasks_rows(grouped)
    assert [(r["task"], r["system"], r["vs"]) for r in rows] == [("a", "transformer", "crf"), ("b", "transformer", "crf")]
    assert [r["p_holm_task"] for r in rows] == [r["p"] for r in rows]  # one comparison per task table
    assert [r["p_holm"] for r in rows] == holm([r["p"] for r in rows])
    md = "\n".join(report.across_tasks_table(grouped).markdown())
    assert "p (Holm, this table)" in md and "p (Holm, task table)" in md
