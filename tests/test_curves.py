"""Learning curves, the training-size axis: nested seeded subsets (whole documents where the task has
them), sizes in the plan, the cell key and the result's place, and the errors a wrong size gets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.data.load import load_task_data
from bench.data.subsets import SUBSET_VERSION, draw_train_subset, units
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.plan import cell_key, parse_train_sizes, plan
from bench.results import iter_results
from bench.spec import load_suite_file, load_task_file

from .conftest import TINY_TASK


def corpus(n_docs: int, *, seed: int = 0, docs: bool = True) -> list[Sentence]:
    """Documents of 1 to 6 sentences, each with one entity of a few types."""
    rng = random.Random(seed)
    out = []
    for d in range(n_docs):
        for k in range(rng.randint(1, 6)):
            etype = rng.choice(["PER", "LOC", "ORG"])
            out.append(Sentence(tokens=(f"N{d}x{k}", "said", "w"), tags=(f"B-{etype}", "O", "O"),
                                source=f"train.txt:{len(out) * 4 + 1}", doc_id=f"doc{d}" if docs else None))
    return out


def test_subsets_are_nested_seeded_and_whole_documents() -> None:
    train = corpus(60)
    unit, found = units(train)
    assert unit == "document" and len(found) == 60
    doc_of = {i: train[i].doc_id for i in range(len(train))}
    members = {key: set(idx) for key, idx in found}
    previous: set[int] = set()
    for size in (5, 20, 50, 100, len(train)):
        sub = draw_train_subset(train, size, seed=13)
        chosen = set(sub.indices)
        assert len(chosen) >= size and list(sub.indices) == sorted(chosen)
        assert previous <= chosen, f"size {size} does not contain the smaller subset"
        for doc in {doc_of[i] for i in chosen}:  # whole documents only
            assert members[doc] <= chosen
        # no more documents than needed: without the last one drawn it would be short of the size
        assert sub.documents == len({doc_of[i] for i in chosen})
        assert [train[i] for i in sub.indices] == sub.sentences
        previous = chosen
    block = draw_train_subset(train, 20, seed=13).describe()
    assert block["unit"] == "document" and block["version"] == SUBSET_VERSION and block["size"] == 20
    assert block["sentences"] >= 20 and block["tokens"] == 3 * block["sentences"] == 3 * block["entities"]
    # seeded: the same seed draws the same subset, another seed another one
    assert draw_train_subset(train, 20, seed=13).sha256 == draw_train_subset(train, 20, seed=13).sha256
    assert draw_train_subset(train, 20, seed=14).sha256 != draw_train_subset(train, 20, seed=13).sha256
    # the draw depends on the documents' ids, not on their order in the file
    shuffled = sorted(train, key=lambda s: (hash(s.doc_id) % 7, s.source))
    again = draw_train_subset(shuffled, 20, seed=13)
    assert {s.source for s in again.sentences} == {s.source for s in draw_train_subset(train, 20, seed=13).sentences}


def test_without_documents_sentences_are_drawn_and_the_size_is_exact() -> None:
    train = corpus(40, docs=False)
    sub = draw_train_subset(train, 17, seed=1)
    assert sub.unit == "sentence" and len(sub.sentences) == 17 and sub.documents is None
    assert set(draw_train_subset(train, 9, seed=1).indices) <= set(sub.indices)


@pytest.mark.parametrize("size", [0, -3, True, 1.5, "100"])
def test_a_size_that_is_not_a_positive_count_is_refused(size: object) -> None:
    with pytest.raises(ConfigError, match="positive number of sentences"):
        draw_train_subset(corpus(5), size, seed=1)  # type: ignore[arg-type]


def test_a_size_beyond_the_split_is_an_error_not_all() -> None:
    train = corpus(5)
    with pytest.raises(ConfigError, match=rf"training size 1000 is more than the {len(train)} sentences"):
        draw_train_subset(train, 1000, seed=1, task="t")


SUITE = """\
name = "curve"
tasks = ["tiny"]
systems = ["crf", "minilm"]
seeds = [1, 2, 3]
train_sizes = SIZES

[system.crf]
kind = "crf"
params = { max_iterations = 5 }

[system.minilm]
kind = "transformer"
model = "minilm-l6"
params = { epochs = 1 }
"""


def suite_file(tmp_path: Path, sizes: str) -> Path:
    path = tmp_path / "curve.toml"
    path.write_text(SUITE.replace("SIZES", sizes))
    return path


def test_the_plan_crosses_sizes_and_a_deterministic_system_runs_every_seed_on_a_subset(tmp_path: Path) -> None:
    suite = load_suite_file(suite_file(tmp_path, '[2, "all"]'))
    cells = plan(suite)
    got = [(c.system, c.train_size, c.seed) for c in cells]
    assert got == [("crf", 2, 1), ("crf", 2, 2), ("crf", 2, 3), ("crf", None, 1),
                   ("minilm", 2, 1), ("minilm", 2, 2), ("minilm", 2, 3),
                   ("minilm", None, 1), ("minilm", None, 2), ("minilm", None, 3)]
    sized, whole = cells[0], cells[3]
    assert sized.label == "tiny × crf × n2 × seed 1" and whole.label == "tiny × crf × seed 1"
    assert sized.model_rel == Path("tiny/crf/n2/seed1") and whole.model_rel == Path("tiny/crf/seed1")
    # --train-size replaces the suite's sizes
    assert [(c.train_size, c.seed) for c in plan(suite, systems=["crf"], sizes=parse_train_sizes("1,all"))] == \
        [(1, 1), (1, 2), (1, 3), (None, 1)]


def test_a_whole_split_cell_keeps_the_key_it_had_before_sizes_existed(tmp_path: Path, conll_dir: Path) -> None:
    """Results of the existing suites stay current: no size, no new key field."""
    suite = load_suite_file(suite_file(tmp_path, '[2, "all"]'))
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK)
    data = load_task_data(load_task_file(task), data_dir=conll_dir.parent)
    sized, whole = plan(suite, systems=["crf"])[0], plan(suite, systems=["crf"])[3]
    assert set(cell_key(whole, data)) == {"task", "task_version", "data_fingerprint", "system", "system_config_hash",
                                          "seed", "scorer_version", "system_version"}
    assert cell_key(sized, data) == {**cell_key(whole, data), "train_size": 2, "subset_version": SUBSET_VERSION}


@pytest.mark.parametrize(("sizes", "why"), [
    ("[0]", "0 is not a number of training sentences"),
    ('["most"]', "'most' is not a number of training sentences"),
    ("[10, 10]", "a size is repeated"),
    ("[true]", "True is not a number"),
])
def test_bad_sizes_in_a_suite_name_the_file_and_key(tmp_path: Path, sizes: str, why: str) -> None:
    path = suite_file(tmp_path, sizes)
    with pytest.raises(ConfigError, match=rf"curve.toml: train_sizes: {why}"):
        load_suite_file(path)


def test_bad_train_size_option() -> None:
    with pytest.raises(ConfigError, match="--train-size: 'x' is not a number"):
        parse_train_sizes("100,x")
    with pytest.raises(ConfigError, match="--train-size: a size is repeated"):
        parse_train_sizes("all,all")


def _run(tmp_path: Path, conll_dir: Path, *extra: str) -> int:
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK)
    suite = suite_file(tmp_path, '[1, "all"]')
    out = tmp_path / "out"
    return main(["run", "--suite", str(suite), "--task-file", str(task), "--data-dir", str(conll_dir.parent),
                 "--system", "crf", "--results-dir", str(out / "raw"), "--models-dir", str(out / "models"),
                 "--log-file", str(out / "run.log"), "--bootstrap", "20", "--executor", "inline", *extra])


def test_a_size_beyond_the_train_split_fails_at_plan_time(tmp_path: Path, conll_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, conll_dir, "--train-size", "2,4") == 2
    assert "task tiny: training size 4 is more than the 3 sentences of its train split" in capsys.readouterr().err
    assert not (tmp_path / "out" / "raw").exists()


def test_sized_cells_write_their_own_results_with_the_subset(tmp_path: Path, conll_dir: Path) -> None:
    assert _run(tmp_path, conll_dir) == 0
    raw = tmp_path / "out" / "raw"
    files = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.json"))
    assert files == [f"tiny/crf/n1/seed{k}-{s}.json" for k in (1, 2, 3) for s in ("dev", "test")] + \
        ["tiny/crf/seed1-dev.json", "tiny/crf/seed1-test.json"]
    results = {p.relative_to(raw).as_posix(): r for p, r in iter_results(raw)}
    whole = results["tiny/crf/seed1-test.json"]
    assert "train_subset" not in whole and "train_size" not in whole["cell_key"]
    sub = results["tiny/crf/n1/seed2-test.json"]["train_subset"]
    # the tiny corpus: a document of 2 sentences and one of 1; whole documents, so 1 or 2 sentences
    assert sub["unit"] == "document" and sub["documents"] == 1 and sub["sentences"] in (1, 2)
    assert results["tiny/crf/n1/seed2-test.json"]["data"]["train_sentences"] == sub["sentences"]
    assert results["tiny/crf/n1/seed2-test.json"]["cell_key"]["train_size"] == 1
    # seen/unseen is relative to the subset: the test split repeats the train sentences, and what the
    # subset left out is unseen
    su = results["tiny/crf/n1/seed2-test.json"]["metrics"]["analysis"]["seen_unseen"]
    su_whole = whole["metrics"]["analysis"]["seen_unseen"]
    assert su_whole["unseen"]["gold"] == 0 and su["unseen"]["gold"] > 0
    assert (tmp_path / "out" / "models" / "tiny" / "crf" / "n1" / "seed2").is_dir()
    # finished cells are skipped; a rescore draws the same subset again and gives the same metrics
    mtimes = {p: p.stat().st_mtime_ns for p in raw.rglob("*.json")}
    assert _run(tmp_path, conll_dir) == 0
    assert {p: p.stat().st_mtime_ns for p in raw.rglob("*.json")} == mtimes
    before = json.loads((raw / "tiny/crf/n1/seed2-test.json").read_text())
    assert main(["rescore", "--results-dir", str(raw), "--task-file", str(tmp_path / "tiny.toml"),
                 "--data-dir", str(conll_dir.parent)]) == 0
    after = json.loads((raw / "tiny/crf/n1/seed2-test.json").read_text())
    assert after["metrics"] == before["metrics"]


def test_compare_keeps_curve_points_apart(tmp_path: Path, conll_dir: Path) -> None:
    from bench.compare import compare, load_dir

    assert _run(tmp_path, conll_dir) == 0
    results = load_dir(tmp_path / "out" / "raw")
    systems = {f.system for f in compare(results, results)}
    assert systems == {"crf", "crf n1"}
    assert all(f.status == "ok" for f in compare(results, results))


def test_sizes_for_replaces_the_sizes_of_matching_cells_last_match_wins(tmp_path: Path) -> None:
    path = suite_file(tmp_path, '[1, 2, "all"]')
    path.write_text(path.read_text() + """
[[sizes_for]]
system = "minilm"
sizes = [1, 2]
reason = "no whole-split point for the transformer"

[[sizes_for]]
task = "tiny"
system = "minilm"
sizes = [2]
""")
    suite = load_suite_file(path)
    assert suite.sizes_of("tiny", "crf") == [1, 2, None]
    assert suite.sizes_of("tiny", "minilm") == [2]
    assert [(c.system, c.train_size) for c in plan(suite) if c.seed == 1] == \
        [("crf", 1), ("crf", 2), ("crf", None), ("minilm", 2)]


@pytest.mark.parametrize(("table", "why"), [
    ('task = "other"\nsizes = [1]', "sizes_for\\[0\\] names task 'other', which is not in tasks"),
    ('system = "bert"\nsizes = [1]', "sizes_for\\[0\\] names unknown system 'bert'"),
    ("sizes = []", "sizes_for\\[0\\].sizes is empty"),
    ("sizes = [-1]", "sizes_for\\[0\\].sizes: -1 is not a number of training sentences"),
])
def test_bad_sizes_for_tables_are_refused(tmp_path: Path, table: str, why: str) -> None:
    path = suite_file(tmp_path, "[1]")
    path.write_text(path.read_text() + "\n[[sizes_for]]\n" + table + "\n")
    with pytest.raises(ConfigError, match=why):
        load_suite_file(path)


def test_each_curve_point_has_its_own_cell_log(tmp_path: Path) -> None:
    from bench.executors import cell_log_name

    suite = load_suite_file(suite_file(tmp_path, '[2, "all"]'))
    assert [cell_log_name(c) for c in plan(suite, systems=["crf"])] == [
        "tiny.crf.n2.seed1.log", "tiny.crf.n2.seed2.log", "tiny.crf.n2.seed3.log", "tiny.crf.seed1.log"]
