"""CRF baseline: pure features, group switches, training, persistence, determinism, no temp files."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sklearn.base import clone

from baselines.crf import (
    FEATURE_GROUPS,
    FEATURE_SETS,
    MODEL_FILE,
    MODEL_JSON,
    CrfConfig,
    CrfError,
    CrfModel,
    FeatureResources,
    Gazetteer,
    config_from_params,
    jackknife_resources,
    make_crf,
    search_crf,
    sent2features,
    train_crf,
    word2features,
)
from bench.data.conll import read_conll_file
from bench.data.load import TaskData
from bench.data.types import Sentence, SplitData
from bench.errors import ConfigError
from bench.spec import LocalSource, TaskSpec

# Small but learnable: names recur in fixed frames, so a CRF gets them right after a few iterations.
TINY = """\
Peter NNP B-PER
Blackburn NNP I-PER
visited VBD O
Paris NNP B-LOC
. . O

EU NNP B-ORG
rejects VBZ O
German JJ B-MISC
call NN O
. . O

Anna NNP B-PER
Schmidt NNP I-PER
visited VBD O
Berlin NNP B-LOC
. . O

Reuters NNP B-ORG
reported VBD O
that IN O
Peter NNP B-PER
Blackburn NNP I-PER
left VBD O
Rome NNP B-LOC
. . O

SOCCER NN O
- : O
JAPAN NNP B-LOC
GET VB O
LUCKY NNP O
WIN NNP O
. . O

Anna NNP B-PER
Schmidt NNP I-PER
met VBD O
EU NNP B-ORG
officials NNS O
in IN O
Paris NNP B-LOC
. . O

The DT O
German JJ B-MISC
team NN O
visited VBD O
Rome NNP B-LOC
. . O

Reuters NNP B-ORG
visited VBD O
Berlin NNP B-LOC
. . O
"""

FAST = CrfConfig(max_iterations=30, c1=0.01, c2=0.01, resource_folds=2)


@pytest.fixture
def tiny(tmp_path: Path) -> list[Sentence]:
    path = tmp_path / "tiny.conll"
    path.write_text(TINY, encoding="utf-8")
    sents, _ = read_conll_file(path, pos_column=1)
    return sents


@pytest.fixture
def model(tiny: list[Sentence]) -> CrfModel:
    return train_crf(tiny, config=FAST)


def without_pos(sents: list[Sentence]) -> list[Sentence]:
    return [replace(s, pos=None) for s in sents]


# --------------------------------------------------------------------------- features


def test_word2features_hand_example() -> None:
    tokens = ["Peter", "Blackburn", "visited", "U.S."]
    pos = ["NNP", "NNP", "VBD", "NNP"]
    local = [g for g in FEATURE_GROUPS if g not in ("lexicon", "gazetteer")]
    f = word2features(tokens, 1, pos=pos, groups=local)
    assert f == {
        "bias": 1.0,
        "w": "Blackburn",
        "w.lower": "blackburn",
        "shape": "Xxxxxxxxx",
        "sshape": "Xx",
        "pre1": "b",
        "pre2": "bl",
        "pre3": "bla",
        "pre4": "blac",
        "suf1": "n",
        "suf2": "rn",
        "suf3": "urn",
        "suf4": "burn",
        "title": True,
        "pos": "NNP",
        "pos2": "NN",
        "-1:w.lower": "peter",
        "-1:sshape": "Xx",
        "-1:pos": "NNP",
        "+1:w.lower": "visited",
        "+1:sshape": "x",
        "+1:pos": "VBD",
        "+2:w.lower": "u.s.",
        "+2:sshape": "X.X.",
        "-1|0:w.lower": "peter|blackburn",
        "0|+1:w.lower": "blackburn|visited",
    }
    last = word2features(tokens, 3, groups=["flags", "bos_eos"])
    assert last == {"bias": 1.0, "upper": True, "acronym": True, "EOS": True}
    assert word2features(tokens, 0, groups=["bos_eos"]) == {"bias": 1.0, "BOS": True}
    # digits, hyphen, punctuation, initials, mixed case
    assert word2features(["1996-08-22"], 0, groups=["flags"]) == {
        "bias": 1.0,
        "has_digit": True,
        "hyphen": True,
    }
    assert word2features([","], 0, groups=["flags"]) == {"bias": 1.0, "punct": True}
    assert word2features(["J."], 0, groups=["flags"]) == {"bias": 1.0, "upper": True, "initial": True}
    assert word2features(["McDonald"], 0, groups=["flags"]) == {"bias": 1.0, "mixed": True}


def test_resource_features_and_sentence_flag() -> None:
    res = FeatureResources(
        lexicon={"visited": "lower", "paris": "title"},
        gazetteer=Gazetteer({("new", "york"): "LOC"}, words={"york": "LOC|ORG"}),
    )
    tokens = ["Paris", "visited", "New", "York"]
    f = word2features(tokens, 3, groups=["lexicon", "gazetteer", "context"], resources=res)
    assert f["case"] == "unseen"  # 'york' is not in the lexicon
    assert f["-1:case"] == "unseen"
    assert f["gaz"] == "I-LOC" and f["-1:gaz"] == "B-LOC"
    assert f["gaz.word"] == "LOC|ORG"
    assert word2features(tokens, 0, groups=["lexicon"], resources=res)["case"] == "title"
    headline = ["SOCCER", "-", "JAPAN", "WIN"]
    assert word2features(headline, 2, groups=["sentence"]) == {"bias": 1.0, "sent.upper": True}
    assert "sent.upper" not in word2features(tokens, 0, groups=["sentence"])


def test_each_group_switch_removes_only_its_features() -> None:
    tokens = ["Peter", "Blackburn", "visited", "Paris", "."]
    pos = ["NNP", "NNP", "VBD", "NNP", "."]
    res = FeatureResources(lexicon={"visited": "lower"}, gazetteer=Gazetteer({("paris",): "LOC"}))
    full = word2features(tokens, 3, pos=pos, resources=res)
    owned = {
        "word": {"w", "w.lower"},
        "shape": {"shape", "sshape"},
        "pos": {"pos", "pos2", "-1:pos", "+1:pos"},
        "lexicon": {"case", "-1:case", "+1:case"},
        "gazetteer": {"gaz"},
        "context": {k for k in full if k[0] in "+-" or k.startswith("0|")},
    }
    for group, keys in owned.items():
        off = word2features(
            tokens, 3, pos=pos, resources=res, groups=[g for g in FEATURE_GROUPS if g != group]
        )
        assert set(full) - set(off) == keys, group
    only_bias = word2features(tokens, 3, pos=pos, resources=res, groups=[])
    assert only_bias == {"bias": 1.0}
    with pytest.raises(ValueError, match="unknown feature group.*known: word"):
        word2features(tokens, 0, groups=["word", "wrod"])


def test_pos_group_needs_pos_and_resources_need_resources() -> None:
    tokens = ["Peter", "Blackburn"]
    f = word2features(tokens, 0)  # no POS, no resources: those groups add nothing
    assert not {"pos", "case", "gaz"} & set(f)
    with pytest.raises(ValueError, match="2 tokens but 1 POS"):
        word2features(tokens, 0, pos=["NNP"])
    with pytest.raises(IndexError):
        word2features(tokens, 2)


def test_sent2features_equals_word2features_per_token() -> None:
    tokens = ["SOCCER", "-", "JAPAN", "GET", "LUCKY", "WIN", "."]
    pos = ["NN", ":", "NNP", "VB", "NNP", "NNP", "."]
    res = FeatureResources(
        lexicon={"lucky": "lower"}, gazetteer=Gazetteer({("japan",): "LOC"}, words={"japan": "LOC"})
    )
    assert sent2features(tokens, pos=pos, resources=res) == [
        word2features(tokens, i, pos=pos, resources=res) for i in range(len(tokens))
    ]


def test_feature_sets_are_named_and_versioned() -> None:
    assert "rich-v1" in FEATURE_SETS
    assert FEATURE_SETS["rich-v1"].groups == tuple(FEATURE_GROUPS)
    with pytest.raises(ConfigError, match="unknown CRF feature set 'rich'.*known: rich-v1"):
        CrfConfig(feature_set="rich")


def test_jackknife_keeps_a_sentences_own_data_out_of_its_features(tiny: list[Sentence]) -> None:
    # 8 sentences, 4 folds of 2 contiguous sentences; sentences 4 and 5 form fold 2.
    per_sentence = jackknife_resources(tiny, groups=FEATURE_GROUPS, folds=4)
    assert len(per_sentence) == len(tiny)
    assert tiny[4].tokens[2] == "JAPAN" and tiny[5].tokens[4] == "officials"
    gaz_own, gaz_other = per_sentence[4].gazetteer, per_sentence[0].gazetteer
    assert gaz_own is not None and gaz_other is not None
    assert ("japan",) not in gaz_own.names and gaz_other.names[("japan",)] == "LOC"
    assert (
        "officials" not in (per_sentence[5].lexicon or {})
        and (per_sentence[0].lexicon or {})["officials"] == "lower"
    )
    # names that also occur in other folds stay visible
    assert gaz_own.names[("anna", "schmidt")] == "PER"
    assert jackknife_resources(tiny, groups=["word"], folds=4) == [FeatureResources()] * len(tiny)
    with pytest.raises(ConfigError, match="resource_folds must be >= 2"):
        jackknife_resources(tiny, groups=["gazetteer"], folds=1)


# --------------------------------------------------------------------------- training


def test_train_and_predict_tiny_corpus(tiny: list[Sentence], model: CrfModel) -> None:
    pred = model.predict(tiny)
    assert [len(p) for p in pred] == [len(s) for s in (s.tokens for s in tiny)]
    assert pred == [list(s.tags) for s in tiny]  # learnable: it fits its training data
    assert model.labels == sorted({t for s in tiny for t in s.tags})
    assert model.uses_pos is True
    st = model.stats
    assert st is not None
    assert 1 <= st.iterations <= FAST.max_iterations and st.attributes > 0 and st.active_features > 0
    assert st.train_seconds > 0 and st.peak_rss_bytes > 1 << 20
    assert st.train_tokens == sum(len(s.tokens) for s in tiny)
    new = model.predict_tokens(
        [["Anna", "Schmidt", "visited", "Rome", "."]], pos=[["NNP", "NNP", "VBD", "NNP", "."]]
    )
    assert new == [["B-PER", "I-PER", "O", "B-LOC", "O"]]


def test_train_with_dev_records_dev_score_and_predict_speed(tiny: list[Sentence]) -> None:
    # The model reproduces its training tags (test above), so on the first 3 training sentences it
    # predicts their 6 gold entities; dev gold without "German" (B-MISC) has 5: P 5/6, R 1, F1 10/11.
    dev = [*tiny[:3]]
    assert dev[1].tokens[2] == "German" and dev[1].tags[2] == "B-MISC"
    dev[1] = replace(dev[1], tags=("B-ORG", "O", "O", "O", "O"))
    m = train_crf(tiny, config=FAST, dev=dev)
    assert m.stats is not None and m.stats.dev_f1 == pytest.approx(10 / 11)
    assert m.stats.dev_predict is not None and m.stats.dev_predict.tokens == sum(
        len(s.tokens) for s in tiny[:3]
    )
    assert m.stats.dev_predict.tokens_per_second > 0


def test_pos_model_refuses_sentences_without_pos(model: CrfModel, tiny: list[Sentence]) -> None:
    with pytest.raises(CrfError, match="trained with POS features.*tiny.conll:1 has no POS tags.*pos_column"):
        model.predict(without_pos(tiny))
    with pytest.raises(CrfError, match="sentence 0 has no POS"):
        model.predict_tokens([["Peter"]])


def test_use_pos_auto_and_forced(tiny: list[Sentence]) -> None:
    m = train_crf(without_pos(tiny), config=FAST)
    assert m.uses_pos is False
    assert m.predict(without_pos(tiny)) == m.predict(tiny)  # POS is ignored when present
    assert train_crf(tiny, config=replace(FAST, use_pos=False)).uses_pos is False
    with pytest.raises(CrfError, match="use_pos=True but .* has no POS column"):
        train_crf(without_pos(tiny), config=replace(FAST, use_pos=True))


def test_save_load_round_trip(model: CrfModel, tiny: list[Sentence], tmp_path: Path) -> None:
    d = model.save(tmp_path / "crf")
    meta = json.loads((d / MODEL_JSON).read_text())
    assert meta["kind"] == "crf"
    assert meta["feature_set"] == "rich-v1"
    assert meta["config"] == FAST.to_dict()
    assert meta["labels"] == model.labels
    assert meta["uses_pos"] is True
    assert meta["stats"]["iterations"] == model.stats.iterations  # type: ignore[union-attr]
    assert (d / MODEL_FILE).read_bytes() == model.model_bytes
    loaded = CrfModel.load(d)
    assert loaded.predict(tiny) == model.predict(tiny)
    assert loaded.config == model.config and loaded.labels == model.labels
    assert loaded.resources == model.resources


def test_load_errors_are_clear(model: CrfModel, tmp_path: Path) -> None:
    with pytest.raises(CrfError, match="no nerbench_model.json"):
        CrfModel.load(tmp_path)
    d = model.save(tmp_path / "m")
    meta = json.loads((d / MODEL_JSON).read_text())
    (d / MODEL_JSON).write_text(json.dumps({**meta, "kind": "transformer"}))
    with pytest.raises(CrfError, match="kind is 'transformer', not 'crf'"):
        CrfModel.load(d)
    (d / MODEL_JSON).write_text(json.dumps(meta))
    (d / MODEL_FILE).write_bytes(b"garbage")
    with pytest.raises(CrfError, match="checksum differs"):
        CrfModel.load(d)


def test_save_replaces_a_model_atomically_and_never_a_folder_that_is_not_one(
    model: CrfModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = tmp_path / "models"  # (the fixtures write into tmp_path itself)
    d = tmp_path / "m"
    (d / "stale-extra").mkdir(parents=True)
    (d / MODEL_JSON).write_text("{}")  # an old model folder: replaced whole, extras included
    model.save(d)
    assert sorted(p.name for p in d.iterdir()) == sorted([MODEL_JSON, MODEL_FILE, "feature_resources.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left

    # a failure while writing leaves the previous model as it was, and no temporary folder
    before = {p.name: p.read_bytes() for p in d.iterdir()}

    def fail(self: Any) -> NoReturn:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("baselines.crf.FeatureResources.to_json", fail)
    with pytest.raises(CrfError, match="No space left on device; nothing was saved"):  # one line, no traceback
        model.save(d)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]

    # a folder that is not a nerbench model is never replaced (a mistyped path deletes nothing)
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="my-notes: exists and is not a saved nerbench model .*thesis.tex"):
        model.save(mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="a-file: exists and is not a folder"):
        model.save(tmp_path / "a-file")
    model.save(tmp_path / "empty")  # absent or empty: fine
    old = tmp_path / "killed-old-version"
    old.mkdir()
    (old / MODEL_FILE).write_bytes(b"half")  # what a save killed before its marker used to leave
    model.save(old)
    assert CrfModel.load(old).model_bytes == model.model_bytes
    assert CrfModel.load(tmp_path / "empty").model_bytes == model.model_bytes


def test_load_refuses_an_unfinished_or_damaged_folder(model: CrfModel, tmp_path: Path) -> None:
    d = model.save(tmp_path / "m")
    (d / MODEL_JSON).rename(tmp_path / "meta.json")  # as a save killed before its last file
    with pytest.raises(CrfError, match="no nerbench_model.json.*a save that did not finish"):
        CrfModel.load(d)
    (tmp_path / "meta.json").rename(d / MODEL_JSON)
    (d / "feature_resources.json").unlink()
    with pytest.raises(CrfError, match="feature_resources.json: cannot read"):
        CrfModel.load(d)
    meta = json.loads((d / MODEL_JSON).read_text())
    del meta["model_sha256"]
    (d / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(CrfError, match="missing key 'model_sha256'"):
        CrfModel.load(d)


def test_training_is_deterministic(tiny: list[Sentence], model: CrfModel) -> None:
    again = train_crf(tiny, config=FAST)
    assert again.model_bytes == model.model_bytes
    assert again.predict(tiny) == model.predict(tiny)


def test_no_temporary_model_files_left_behind(
    tiny: list[Sentence], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "systemp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def spy(*args: Any, **kwargs: Any) -> str:
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    m = train_crf(tiny, config=FAST, dev=tiny[:2])
    m.predict(tiny)
    m.save(tmp_path / "saved")
    CrfModel.load(tmp_path / "saved").predict(tiny)
    del m
    assert list(tmp.iterdir()) == []
    # control: training did write its model file under that temp folder (so "empty" means removed)
    assert made and all(Path(d).parent == tmp for d in made)


def test_training_writes_the_model_file_sklearn_crfsuite_writes(
    tiny: list[Sentence], model: CrfModel, tmp_path: Path
) -> None:
    """Training drives pycrfsuite directly (no scikit-learn import); the model bytes must equal what
    ``sklearn_crfsuite.CRF.fit`` writes for the same features and parameters."""
    from baselines.crf.train import _prepare

    prep = _prepare(tiny, FAST)
    path = tmp_path / "sk.crfsuite"
    crf = make_crf(algorithm="lbfgs", c1=FAST.c1, c2=FAST.c2, max_iterations=FAST.max_iterations,
                   all_possible_transitions=FAST.all_possible_transitions, min_freq=FAST.min_freq,
                   model_filename=str(path))
    crf.fit(prep.X, prep.y)
    assert path.read_bytes() == model.model_bytes
    # control: another c2 gives other bytes, so equality is not vacuous
    other = make_crf(algorithm="lbfgs", c1=FAST.c1, c2=FAST.c2 * 10 + 1, max_iterations=FAST.max_iterations,
                     all_possible_transitions=FAST.all_possible_transitions, min_freq=FAST.min_freq,
                     model_filename=str(tmp_path / "other.crfsuite"))
    other.fit(prep.X, prep.y)
    assert (tmp_path / "other.crfsuite").read_bytes() != model.model_bytes


def test_make_crf_survives_repr_get_params_and_clone() -> None:
    crf = make_crf(algorithm="lbfgs", c1=0.1, model_filename=None)
    assert "c1=0.1" in repr(crf)
    assert crf.get_params()["keep_tempfiles"] is False
    assert clone(crf).c1 == 0.1


def test_config_from_params_rejects_unknown_keys() -> None:
    assert config_from_params({"c1": 0.2, "max_iterations": 10}, seed=7) == CrfConfig(
        c1=0.2, max_iterations=10, seed=7
    )
    with pytest.raises(ConfigError, match="unknown CRF parameter.*c3"):
        config_from_params({"c3": 1})
    with pytest.raises(ConfigError, match="c1 and c2 must be >= 0"):
        CrfConfig(c1=-1)


def seqeval_strict_f1(gold: list[Sentence], pred: list[list[str]]) -> float:
    """Strict IOB2 micro F1 straight from seqeval: independent of bench.metrics' own counting."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    return float(f1_score([list(s.tags) for s in gold], pred, mode="strict", scheme=IOB2))


def test_search_selects_on_dev_and_records_every_point(tiny: list[Sentence]) -> None:
    train, dev = tiny[:6], tiny[6:]
    grid = {"c1": [0.01, 5.0]}
    best, records = search_crf(train, dev, grid=grid, base=FAST)
    assert [r["config"]["c1"] for r in records] == [0.01, 5.0]
    # each point's dev F1, recomputed: that config trained on its own, its dev predictions scored by seqeval
    models = {c1: train_crf(train, config=replace(FAST, c1=c1)) for c1 in grid["c1"]}
    expected = [seqeval_strict_f1(dev, models[c1].predict(dev)) for c1 in grid["c1"]]
    assert [r["dev_f1"] for r in records] == pytest.approx(expected, abs=1e-12)
    assert expected[0] > expected[1]  # not a tie, so the choice below means something
    assert best.c1 == 0.01
    # Selection follows dev: make dev's gold what the heavily regularised model predicts and it wins.
    flipped = [replace(s, tags=tuple(p)) for s, p in zip(dev, models[5.0].predict(dev), strict=True)]
    best2, records2 = search_crf(train, flipped, grid=grid, base=FAST)
    expected2 = [seqeval_strict_f1(flipped, models[c1].predict(flipped)) for c1 in grid["c1"]]
    assert [r["dev_f1"] for r in records2] == pytest.approx(expected2, abs=1e-12)
    assert expected2[1] == 1.0 > expected2[0]
    assert best2.c1 == 5.0
    with pytest.raises(CrfError, match="needs dev"):
        search_crf(tiny, [], grid={"c1": [0.1]})
    with pytest.raises(ConfigError, match="unknown CRF parameter"):
        search_crf(tiny, tiny, grid={"c9": [0.1]})


class _Untouchable(list[Sentence]):
    """A split that fails the test the moment anything reads it (iterates, indexes, sizes, tests it)."""

    def _touched(self, *args: object) -> NoReturn:
        raise AssertionError("the test split was read")

    __iter__ = __len__ = __getitem__ = __bool__ = __contains__ = _touched  # type: ignore[assignment]


def test_tune_crf_search_never_reads_test_but_final_does(
    tiny: list[Sentence], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from baselines import tune_crf

    task = TaskSpec(
        name="tiny", version="1", language="en", domain="test", entity_types=("PER", "ORG", "LOC", "MISC"),
        scheme="IOB2", licence="written by the tests",
        local=LocalSource(folder="tiny", format="conll", splits={"train": "a", "dev": "b", "test": "c"}),
    )
    splits = {
        "train": SplitData("train", tiny[:6]),
        "dev": SplitData("dev", tiny[6:]),
        "test": SplitData("test", _Untouchable(tiny[:2])),
    }
    data = TaskData(task, splits, source="memory", fingerprint="x", split_fingerprints={})
    monkeypatch.setattr(tune_crf, "_load", lambda task_name, data_dir: data)
    out = tune_crf.run_search("tiny", grid={"c1": [0.01, 5.0]}, base=FAST, data_dir=tmp_path)
    assert out["best"]["c1"] == 0.01
    assert [r["dev_f1"] for r in out["records"]] == pytest.approx(
        [seqeval_strict_f1(tiny[6:], train_crf(tiny[:6], config=replace(FAST, c1=c1)).predict(tiny[6:]))
         for c1 in (0.01, 5.0)],
        abs=1e-12,
    )
    # control: the guard works, since the final run scores test once and so must trip it
    with pytest.raises(AssertionError, match="the test split was read"):
        tune_crf.run_final("tiny", config=FAST, data_dir=tmp_path)


def test_the_package_exports_every_public_name_and_imports_neither_torch_nor_sklearn() -> None:
    """``baselines.crf`` is a package of layers; every public name they define is importable from the package,
    and a CRF cell's import stays cheap (scikit-learn only inside :func:`make_crf`, torch never)."""
    import ast
    import subprocess
    import sys

    import baselines.crf as crf

    from .conftest import REPO

    defined: set[str] = set()
    for path in (REPO / "baselines" / "crf").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined.add(node.target.id)
    public = {n for n in defined if not n.startswith("_") and n != "log"}
    assert public <= set(crf.__all__), sorted(public - set(crf.__all__))
    assert all(hasattr(crf, name) for name in crf.__all__)
    code = "import sys, baselines.crf; assert 'torch' not in sys.modules and 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
