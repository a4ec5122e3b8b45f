"""Out of domain (``[[transfer]]``): the type mapping, plan-time errors, reuse of the in-domain model (no
training, the predictions ``nerbench predict`` makes), staleness, the result's place and key, rescoring, the
CRF without its POS column, and the executors; on two tiny tasks with different type sets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.plan import plan
from bench.results import iter_results, read_predictions, read_result
from bench.spec import load_suite_file, load_task_file
from bench.transfer import plan_transfers
from bench.transfer_scoring import keep_predicted, map_gold, mapping_text, score_in_types, shared_types

NEWS = """\
-DOCSTART- -X- O

Peter NNP B-PER
Smith NNP I-PER
works VBZ O
for IN O
Acme NNP B-ORG
in IN O
Paris NNP B-LOC
. . O

Mary NNP B-PER
visited VBD O
London NNP B-LOC
with IN O
German JJ B-MISC
friends NNS O
. . O

-DOCSTART- -X- O

Google NNP B-ORG
hired VBD O
John NNP B-PER
in IN O
Berlin NNP B-LOC
. . O
"""
"""The train task's corpus (word, POS, tag): PER, ORG, LOC, MISC."""

SOCIAL = """\
Peter\tB-person
loves\tO
Acme\tB-corporation
and\tO
the\tO
Beatles\tB-group
in\tO
Paris\tB-location
with\tO
his\tO
iPhone\tB-product

Mary\tB-person
and\tO
Google\tB-corporation
fans\tO
in\tO
Rome\tB-location

"""
"""The eval task's corpus (word, tag, no POS): person, location, corporation, group, product."""

TASK = """\
name = "{name}"
version = "1"
language = "en"
domain = "test"
entity_types = {types}
scheme = "IOB2"
licence = "written by the tests"

[local]
folder = "{folder}"
format = "conll"
splits = {{ train = "train.txt", dev = "dev.txt", test = "test.txt" }}
options = {options}
"""

MAPPING = '{ person = "PER", location = "LOC", corporation = "ORG", group = "ORG" }'
SUITE = """\
name = "xfer"
tasks = ["{train}"]
systems = ["crf", "lookup"]
seeds = [1, 2]

[system.crf]
kind = "crf"
params = {{ max_iterations = 20 }}

[system.lookup]
kind = "lookup"
"""
TRANSFER = """
[[transfer]]
train = "{train}"
eval = "social"
types = {types}
"""


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    data = tmp_path / "data"
    for folder, text in (("news", NEWS), ("social", SOCIAL)):
        (data / folder).mkdir(parents=True)
        for split in ("train", "dev", "test"):
            (data / folder / f"{split}.txt").write_text(text, encoding="utf-8")
    files = {
        "news": TASK.format(name="news", types='["PER", "ORG", "LOC", "MISC"]', folder="news",
                            options="{ tag_column = -1 }"),
        "newspos": TASK.format(name="newspos", types='["PER", "ORG", "LOC", "MISC"]', folder="news",
                               options="{ tag_column = -1, pos_column = 1 }"),
        "social": TASK.format(name="social", types='["person", "location", "corporation", "group", "product"]',
                              folder="social", options='{ separator = "tab", tag_column = -1 }'),
    }
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
    return {"tmp": tmp_path, "data": data, "out": tmp_path / "out", "raw": tmp_path / "out" / "raw"}


def write_suite(setup: dict[str, Any], *, train: str = "news", types: str | None = MAPPING) -> Path:
    path = setup["tmp"] / "xfer.toml"
    text = SUITE.format(train=train) + ("" if types is None else TRANSFER.format(train=train, types=types))
    path.write_text(text, encoding="utf-8")
    return path


def run(setup: dict[str, Any], *extra: str, executor: str = "inline", train: str = "news", social: bool = True) -> int:
    """``nerbench run`` of the test suite; ``social=False`` leaves the eval task's file out (a task file that no
    suite entry names is run in-domain with the suite's systems)."""
    names = (train, "social") if social else (train,)
    return main([
        "run", "--suite", str(setup["tmp"] / "xfer.toml"), "--data-dir", str(setup["data"]),
        *(a for name in names for a in ("--task-file", str(setup["tmp"] / f"{name}.toml"))),
        "--results-dir", str(setup["raw"]), "--models-dir", str(setup["out"] / "models"),
        "--log-file", str(setup["out"] / "run.log"), "--bootstrap", "20", "--executor", executor, *extra,
    ])


def transfer_file(setup: dict[str, Any], system: str = "crf", train: str = "news") -> Path:
    return setup["raw"] / "social" / system / f"from-{train}" / "seed1-test.json"


def mtimes(folder: Path) -> dict[Path, int]:
    """Every file's and folder's mtime (not the run lock's)."""
    return {p: p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if not p.name.startswith(".")}


# --------------------------------------------------------------------------- the mapping


def sent(tags: str) -> Sentence:
    t = tags.split()
    return Sentence(tuple(f"w{i}" for i in range(len(t))), tuple(t))


def test_gold_is_mapped_one_to_many_and_the_rest_left_out_and_counted() -> None:
    gold = [sent("B-corporation I-corporation B-group O B-product I-product B-person"), sent("B-creative-work O")]
    types = {"person": "PER", "corporation": "ORG", "group": "ORG"}
    mapped, left = map_gold(gold, types)
    # corporation and group both become ORG, and stay two entities
    assert [s.tags for s in mapped] == [("B-ORG", "I-ORG", "B-ORG", "O", "O", "O", "B-PER"), ("O", "O")]
    assert dict(left) == {"product": 1, "creative-work": 1}
    assert mapped[0].tokens == gold[0].tokens
    assert shared_types(types) == ["ORG", "PER"]
    assert mapping_text(types) == "corporation>ORG,group>ORG,person>PER"


def test_predicted_types_outside_the_mapping_are_left_out_and_counted() -> None:
    kept, left = keep_predicted([["B-MISC", "I-MISC", "B-PER", "O", "I-ORG"], ["B-MISC"]], ["ORG", "PER"])
    assert kept == [["O", "O", "B-PER", "O", "I-ORG"], ["O"]]  # a stray I-ORG stays a stray I-ORG
    assert dict(left) == {"MISC": 2}


def test_scores_count_only_the_shared_types_on_both_sides() -> None:
    spec = load_task_file_text(TASK.format(name="social", types='["person", "location", "corporation", "group", '
                                           '"product"]', folder="social", options="{}"))
    gold = [sent("B-person O B-product B-group"), sent("B-location O")]
    pred = [["B-PER", "O", "B-MISC", "B-ORG"], ["B-LOC", "B-MISC"]]
    metrics, counts, left = score_in_types(spec, gold, pred, gold_types={"person": "PER", "group": "ORG",
                                                                         "location": "LOC"},
                                           keep=["LOC", "ORG", "PER"], train=None, n_resamples=10)
    # product and the two MISC are out of the score: 3 gold, 3 predicted, all right
    assert metrics["conlleval"]["micro"]["tp"] == 3 and metrics["main"]["value"] == 1.0
    assert left == {"gold": {"product": 1}, "predicted": {"MISC": 2}}
    assert counts["unit"] == "sentence" and len(counts["ids"]) == 2
    assert set(metrics["conlleval"]["per_type"]) == {"LOC", "ORG", "PER"}


def load_task_file_text(text: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.toml"
        path.write_text(text, encoding="utf-8")
        return load_task_file(path)


# --------------------------------------------------------------------------- errors when the suite is read or planned


@pytest.mark.parametrize(("transfer", "why"), [
    ('train = "social"\neval = "news"\ntypes = { PER = "person" }', "train task 'social' is not in tasks"),
    ('train = "news"\neval = "social"\ntypes = {}', "types is empty"),
    ('train = "news"\neval = "news"\ntypes = { PER = "PER" }', "train and eval are the same task"),
    ('train = "news"\neval = "social"\ntypes = { "a/b" = "PER" }', "'a/b' is not a name"),
    ('train = "news"\neval = "social"\ntypes = { person = 3 }', "must be a string"),
    ('train = "news"\neval = "social"\ntypes = { person = "PER" }\ncolour = 1', "unknown key 'transfer[0].colour'"),
])
def test_a_bad_transfer_entry_is_an_error_naming_the_file_and_entry(setup: dict[str, Any], transfer: str,
                                                                    why: str) -> None:
    path = write_suite(setup, types=None)
    path.write_text(path.read_text() + "\n[[transfer]]\n" + transfer + "\n")
    with pytest.raises(ConfigError, match="xfer.toml: ") as exc:
        load_suite_file(path)
    assert why in str(exc.value) and "transfer[0]" in str(exc.value)


def test_the_same_pair_twice_is_an_error(setup: dict[str, Any]) -> None:
    path = write_suite(setup)
    path.write_text(path.read_text() + TRANSFER.format(train="news", types='{ person = "PER" }'))
    with pytest.raises(ConfigError, match=r"transfer\[1\] \(news -> social\): this pair is declared twice"):
        load_suite_file(path)


@pytest.mark.parametrize(("types", "why"), [
    ('{ persn = "PER" }', "eval-side type 'persn' is not a type of task social (its types: person, location, "
                          "corporation, group, product); did you mean 'person'?"),
    ('{ person = "PERS" }', "train-side type 'PERS' is not a type of task news (its types: PER, ORG, LOC, MISC); "
                            "did you mean 'PER'?"),
])
def test_an_unknown_type_is_a_plan_time_error_naming_the_suite_file_and_entry(
        setup: dict[str, Any], types: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_suite(setup, types=types)
    assert run(setup, "--dry-run") == 2
    err = capsys.readouterr().err
    assert f"{path}: transfer[0] (news -> social): {why}" in err
    assert not setup["raw"].exists()


def test_an_unknown_eval_task_is_a_plan_time_error(setup: dict[str, Any]) -> None:
    from bench.catalog import load_catalog

    path = write_suite(setup)
    path.write_text(path.read_text().replace('eval = "social"', 'eval = "socail"'))
    suite = load_suite_file(path)
    catalog = load_catalog([setup["tmp"] / "news.toml", setup["tmp"] / "social.toml"])
    with pytest.raises(ConfigError, match=r"xfer.toml: transfer\[0\] \(news -> socail\): unknown task 'socail'; "
                                          "did you mean 'social'?"):
        plan_transfers(suite, plan(suite), catalog=catalog)


def test_the_plan_has_one_transfer_cell_per_in_domain_whole_split_cell(setup: dict[str, Any]) -> None:
    from bench.catalog import load_catalog

    suite = load_suite_file(write_suite(setup))
    catalog = load_catalog([setup["tmp"] / "news.toml", setup["tmp"] / "social.toml"])
    cells = plan_transfers(suite, plan(suite, seeds=[1, 2]), catalog=catalog)
    assert [(c.train_task, c.eval_task, c.system, c.seed) for c in cells] == [("news", "social", "crf", 1),
                                                                               ("news", "social", "lookup", 1)]
    assert cells[0].model_rel == Path("news/crf/seed1") and cells[0].label == "news → social × crf × seed 1"
    assert plan_transfers(suite, plan(suite, sizes=[2]), catalog=catalog) == []  # no transfer of a curve's point


# --------------------------------------------------------------------------- runs


def test_a_run_writes_transfer_results_apart_and_reports_them(setup: dict[str, Any],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    write_suite(setup)
    assert run(setup, "--dry-run") == 0
    assert "news → social" in capsys.readouterr().out.replace("\n", " ")
    assert run(setup) == 0
    files = sorted(p.relative_to(setup["raw"]).as_posix() for p in setup["raw"].rglob("*.json"))
    assert files == ["news/crf/seed1-dev.json", "news/crf/seed1-test.json", "news/lookup/seed1-dev.json",
                     "news/lookup/seed1-test.json", "social/crf/from-news/seed1-test.json",
                     "social/lookup/from-news/seed1-test.json"]
    r = read_result(transfer_file(setup))
    t = r["transfer"]
    assert r["task"]["name"] == "social" and r["split"] == "test" and t["train_task"] == "news"
    assert t["types"] == {"person": "PER", "location": "LOC", "corporation": "ORG", "group": "ORG"}
    assert t["left_out"]["gold"] == {"product": 1}
    assert t["in_domain"]["left_out"]["gold"] == {"MISC": 1}  # German: MISC is no type of the mapping
    assert t["in_domain"]["source"] == {"saved_predictions": "news/crf/seed1-test.json"}
    assert t["in_domain"]["metrics"]["main"]["value"] == 1.0  # the test split is the train split here
    key = r["cell_key"]
    assert key["transfer_from"] == "news" and key["type_mapping"] == "corporation>ORG,group>ORG,location>LOC,person>PER"
    assert key["data_fingerprint"] == r["task"]["fingerprint"]
    assert key["transfer_from_fingerprint"] == read_result(setup["raw"] / "news/crf/seed1-test.json")["task"]["fingerprint"]
    # seen/unseen against the training corpus (news train, train-side types): Acme, Paris, Mary, Google are news
    # entities of the mapped type; Peter (news has "Peter Smith"), Beatles and Rome are not
    su = r["metrics"]["analysis"]["seen_unseen"]
    assert su["seen"]["gold"] == 4 and su["unseen"]["gold"] == 3
    # the report: leaderboards hold the in-domain results only, the transfer results have their own section
    assert main(["report", "--results-dir", str(setup["raw"]), "--no-plots"]) == 0
    md = (setup["out"] / "README.md").read_text()
    assert "## Out of domain" in md and "### news → social" in md and "## social" not in md
    capsys.readouterr()
    assert main(["report", "--results-dir", str(setup["raw"]), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["row"], r.get("task")) for r in rows} == {("leaderboard", "news"), ("transfer", "social")}
    assert sorted(r["system"] for r in rows if r["row"] == "transfer") == ["crf", "lookup"]
    html = (setup["out"] / "index.html").read_text()
    assert 'id="out-of-domain"' in html and "news → social" in html


def test_the_in_domain_model_is_reused_not_trained(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """In-domain cells first (no [[transfer]]), then the transfer: no training call, model folders untouched,
    and the eval split's tags are exactly what ``nerbench predict`` gives with that model."""
    write_suite(setup, types=None)
    assert run(setup, social=False) == 0
    models = setup["out"] / "models"
    before, results_before = mtimes(models), mtimes(setup["raw"])
    from bench.systems.crf import CrfKind
    from bench.systems.lookup import LookupKind

    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a transfer cell trained a model")

    monkeypatch.setattr(CrfKind, "train", no_training)
    monkeypatch.setattr(LookupKind, "train", no_training)
    write_suite(setup)
    assert run(setup) == 0
    assert mtimes(models) == before
    assert {p: m for p, m in mtimes(setup["raw"]).items() if p in results_before} == results_before
    for system in ("crf", "lookup"):
        path = transfer_file(setup, system)
        saved = [row["tags"] for row in read_predictions(path, read_result(path))]
        out = setup["tmp"] / f"{system}.conll"
        assert main(["predict", "--model", str(models / "news" / system / "seed1"), "--input",
                     str(setup["data"] / "social" / "test.txt"), "--format", "conll", "--output-columns", "word,pred",
                     "--output", str(out)]) == 0
        predicted = [[line.split("\t")[1] for line in block.splitlines()] for block in out.read_text().split("\n\n")
                     if block.strip()]
        assert saved == predicted
    assert any(t != "O" for tags in saved for t in tags)


def test_a_new_mapping_or_new_eval_data_reruns_the_transfer_only(setup: dict[str, Any]) -> None:
    write_suite(setup)
    assert run(setup) == 0
    in_domain = {p: m for p, m in mtimes(setup["raw"] / "news").items()}
    first = read_result(transfer_file(setup))
    assert run(setup) == 0  # finished: nothing runs
    assert read_result(transfer_file(setup))["timestamps"] == first["timestamps"]
    write_suite(setup, types='{ person = "PER", corporation = "ORG" }')
    assert run(setup) == 0
    second = read_result(transfer_file(setup))
    assert second["cell_key"]["type_mapping"] == "corporation>ORG,person>PER"
    assert second["transfer"]["left_out"]["gold"] == {"group": 1, "location": 2, "product": 1}
    assert mtimes(setup["raw"] / "news") == in_domain
    test = setup["data"] / "social" / "test.txt"
    test.write_text(test.read_text() + "Anna\tB-person\n\n", encoding="utf-8")
    assert run(setup) == 0
    third = read_result(transfer_file(setup))
    assert third["cell_key"]["data_fingerprint"] != second["cell_key"]["data_fingerprint"]
    assert third["data"]["eval_sentences"] == 3
    assert mtimes(setup["raw"] / "news") == in_domain


def test_a_missing_model_folder_is_an_error_naming_it_and_the_command(setup: dict[str, Any],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    write_suite(setup, types=None)
    assert run(setup, social=False) == 0
    shutil.rmtree(setup["out"] / "models" / "news" / "crf")
    write_suite(setup)
    capsys.readouterr()
    assert run(setup) == 1
    err = " ".join(capsys.readouterr().err.split())
    model = setup["out"] / "models" / "news" / "crf" / "seed1"
    assert f"{model}: the model of news × crf × seed 1 is not there" in err
    assert "nerbench run --suite xfer --task news --system crf --seeds 1 --models-dir" in err
    assert transfer_file(setup, "lookup").is_file() and not transfer_file(setup, "crf").exists()


def test_rescore_reapplies_the_recorded_mapping(setup: dict[str, Any]) -> None:
    write_suite(setup)
    assert run(setup) == 0
    path = transfer_file(setup)
    before = read_result(path)
    broken = {**before, "metrics": {"main": {**before["metrics"]["main"], "value": 0.0}}}
    broken["transfer"] = {**before["transfer"], "left_out": {"gold": {}, "predicted": {}}}
    path.write_text(json.dumps(broken), encoding="utf-8")
    write_suite(setup, types='{ person = "PER" }')  # a suite's mapping is not what a result is rescored under
    with (setup["tmp"] / "social.toml").open("a", encoding="utf-8") as fh:  # a published number added since
        fh.write('\n[[reference]]\nsystem = "a tagger"\nsplit = "test"\nmetric = "f1"\nvalue = 0.5\nsource = "a paper"\n')
    assert main(["rescore", "--results-dir", str(setup["raw"]), "--data-dir", str(setup["data"]),
                 "--task-file", str(setup["tmp"] / "news.toml"), "--task-file", str(setup["tmp"] / "social.toml")]) == 0
    after = read_result(path)
    assert after["metrics"] == before["metrics"] and after["transfer"] == before["transfer"]
    assert [ref["system"] for ref in after["task"]["reference"]] == ["a tagger"]  # written as rescore does in-domain
    assert after["rescored"]["from_scorer_version"] == before["cell_key"]["scorer_version"]


def test_a_crf_trained_with_pos_tags_a_corpus_without_pos_with_those_features_off(
        setup: dict[str, Any], caplog: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.crf import CrfModel

    write_suite(setup, train="newspos")
    capsys.readouterr()
    assert run(setup, "--dry-run", train="newspos") == 0
    planned = {line.split("│")[2].strip(): line for line in capsys.readouterr().out.splitlines() if "newspos → social" in line}
    assert "POS features off" in planned["crf"] and "POS" not in planned["lookup"]  # only a CRF reads POS
    with caplog.at_level(logging.WARNING):
        assert run(setup, train="newspos") == 0
    model = CrfModel.load(setup["out"] / "models" / "newspos" / "crf" / "seed1")
    assert model.uses_pos
    path = transfer_file(setup, train="newspos")
    r = read_result(path)
    assert r["transfer"]["inputs"]["pos"].startswith("off")
    assert "social has no POS column" in r["transfer"]["notes"][0] and "POS column" in caplog.text
    model.uses_pos = False
    words = [s.split("\n") for s in SOCIAL.strip().split("\n\n")]
    expected = model.predict_tokens([[w.split("\t")[0] for w in s] for s in words])
    assert [row["tags"] for row in read_predictions(path, r)] == expected
    assert read_result(transfer_file(setup, "lookup", train="newspos"))["transfer"]["notes"] == []
    assert main(["report", "--results-dir", str(setup["raw"]), "--no-plots"]) == 0
    md = (setup["out"] / "README.md").read_text()
    assert "| crf † |" in md and "crf: the model was trained with POS features and social has no POS column" in md


def test_transfer_cells_run_in_their_own_processes(setup: dict[str, Any]) -> None:
    """The local executor (the default): a transfer cell's process gets the pair's data and its own log."""
    write_suite(setup)
    assert run(setup, "--system", "crf", executor="local") == 0
    r = read_result(transfer_file(setup))
    assert r["cost"]["process"]["executor"] == "local" and r["cost"]["peak_rss_scope"] == "cell process"
    assert (setup["out"] / "run" / "social.from-news.crf.seed1.log").is_file()
    inline = {k: v for k, v in r["metrics"].items()}
    assert run(setup, "--system", "crf", "--force") == 0
    assert read_result(transfer_file(setup))["metrics"] == inline


def test_every_reader_keeps_transfer_results_apart(setup: dict[str, Any]) -> None:
    """Two files of one cell are refused; an in-domain result of the eval task and a transfer result are not
    one cell, for the report and for compare."""
    from bench.compare import compare
    from bench.report import check_one_file_per_cell

    write_suite(setup)
    assert run(setup) == 0
    pairs = list(iter_results(setup["raw"]))
    transfer = read_result(transfer_file(setup))
    twin = {**transfer, "cell_key": {k: v for k, v in transfer["cell_key"].items() if not k.startswith(("transfer",
                                                                                                        "type"))}}
    twin.pop("transfer")  # the eval task's own (in-domain) result with the same key fields
    check_one_file_per_cell([*pairs, (Path("social/crf/seed1-test.json"), twin)])
    findings = compare([r for _, r in pairs], [r for _, r in pairs])
    systems = {(f.task, f.system) for f in findings}
    assert ("social", "crf from news [corporation>ORG,group>ORG,location>LOC,person>PER; "
            f"{transfer['cell_key']['transfer_from_cell_key']}]") in systems
    assert all(f.status == "ok" for f in findings)


@pytest.mark.slow
def test_transfer_cells_run_as_ray_tasks(setup: dict[str, Any]) -> None:
    """``--executor ray``: a transfer cell is a Ray task like any cell; its result files come back to the driver
    (the ``from-<train task>`` folder) and match the inline run's."""
    ray = pytest.importorskip("ray")
    write_suite(setup)
    assert run(setup, "--system", "crf") == 0
    inline = read_result(transfer_file(setup))
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING)
    try:
        assert run(setup, "--system", "crf", "--force", executor="ray") == 0
    finally:
        ray.shutdown()
    r = read_result(transfer_file(setup))
    assert r["cost"]["process"]["executor"] == "ray"
    assert r["metrics"] == inline["metrics"] and r["transfer"]["in_domain"] == inline["transfer"]["in_domain"]


def test_the_transfer_suite_plans_the_default_suites_cells_and_three_pairs() -> None:
    """tasks/suites/transfer.toml: its mappings name real types, and its in-domain cells are the default suite's
    (same system tables, so the same cell keys and model folders)."""
    from bench.catalog import load_catalog
    from bench.plan import find_suite

    suite, default = find_suite("transfer"), find_suite("default")
    cells = plan(suite)
    pairs = plan_transfers(suite, cells, catalog=load_catalog())
    assert {(c.train_task, c.eval_task) for c in pairs} == {("bc5cdr", "ncbi_disease"), ("ncbi_disease", "bc5cdr"),
                                                            ("conll2003", "wnut17")}
    assert len(pairs) == len(cells) == 3 * (1 + 1 + 3)  # lookup and CRF once, MiniLM-L6 three seeds, per task
    wnut = next(c for c in pairs if c.eval_task == "wnut17")
    assert wnut.mapping == {"person": "PER", "location": "LOC", "corporation": "ORG", "group": "ORG"}
    mine = {(c.task, c.system, c.seed): c.config_hash() for c in cells}
    theirs = {(c.task, c.system, c.seed): c.config_hash() for c in plan(default) if c.task in suite.tasks}
    assert {k: v for k, v in theirs.items() if k in mine} == {k: v for k, v in mine.items() if k in theirs}
    assert suite.system == default.system and suite.seeds == default.seeds and suite.eval_splits == default.eval_splits
