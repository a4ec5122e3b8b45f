"""spaCy baseline (nerbench[spacy]): training on the task's words, IOB2 out, persistence, determinism, errors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from baselines.spacy_ner import (
    MODEL_JSON,
    WEIGHTS_FILE,
    SpacyConfig,
    SpacyError,
    SpacyModel,
    config_from_params,
    iob2_to_biluo,
    train_spacy,
)
from bench.__main__ import main
from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence
from bench.errors import ConfigError, DataFormatError
from bench.metrics import conlleval_f1, invalid_tags

from .conftest import REPO, TINY_TASK

spacy = pytest.importorskip(
    "spacy", reason="the spaCy baseline's tests need nerbench[spacy] (nox -s tests installs it)"
)

NAMES = [("Peter", "Blackburn"), ("Anna", "Schmidt"), ("Maria",), ("John", "Smith")]
PLACES = [("Paris",), ("Berlin",), ("New", "York"), ("Rome",)]
ORGS = [("Reuters",), ("EU",), ("Siemens",)]


def sentences(n: int, *, offset: int = 0) -> list[Sentence]:
    """Names, places and organisations in a few fixed frames: learnable in a handful of epochs."""
    out = []
    for k in range(offset, offset + n):
        name, place, org = NAMES[k % 4], PLACES[(k // 2) % 4], ORGS[k % 3]
        toks = [*org, "said", *name, "went", "to", *place, "."]
        tags = ["B-ORG"] + ["I-ORG"] * (len(org) - 1) + ["O"]
        tags += ["B-PER"] + ["I-PER"] * (len(name) - 1) + ["O", "O"]
        tags += ["B-LOC"] + ["I-LOC"] * (len(place) - 1) + ["O"]
        out.append(Sentence(tuple(toks), tuple(tags), source=f"mem:{k + 1}"))
    return out


TRAIN = sentences(24)
DEV = sentences(8, offset=24)
FAST = SpacyConfig(max_epochs=2, patience=0, width=32, depth=2, embed_size=500, hidden_width=32, batch_start=8)


@pytest.fixture(scope="module")
def model() -> SpacyModel:
    return train_spacy(TRAIN, DEV, config=FAST, language="en")


@pytest.fixture(scope="module")
def saved(model: SpacyModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model.save(tmp_path_factory.mktemp("spacy") / "model")


def test_biluo_conversion_reads_tags_as_the_scorer_and_agrees_with_spacy() -> None:
    from spacy.training import iob_to_biluo

    for s in [*TRAIN[:4], Sentence(("a", "b", "c"), ("B-X", "B-X", "I-X"))]:
        assert iob2_to_biluo(s.tags) == iob_to_biluo(list(s.tags))
    # a stray I- opens an entity, as bench.data.schemes.tags_to_spans (and conlleval) read it
    assert iob2_to_biluo(["O", "I-PER", "I-PER", "I-LOC"]) == ["O", "B-PER", "L-PER", "U-LOC"]


def test_predictions_are_aligned_valid_iob2_and_learned(model: SpacyModel) -> None:
    odd = [
        Sentence(("New", "York", "is", "big", "!!"), ("B-LOC", "I-LOC", "O", "O", "O")),
        Sentence(("x",), ("O",)),
        Sentence((), ()),
    ]
    pred = model.predict([*DEV, *odd])
    assert [len(p) for p in pred] == [len(s.tokens) for s in [*DEV, *odd]]
    assert pred[-1] == []
    assert all(invalid_tags(p) == 0 for p in pred)
    assert {t for p in pred for t in p} <= set(model.labels)
    assert model.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    stats = model.stats
    assert stats is not None and stats.epochs_run == 2 and len(stats.epochs) == 2
    assert stats.best_epoch in (1, 2) and stats.epochs[stats.best_epoch - 1].best
    assert stats.dev_f1 == max(e.dev_f1 for e in stats.epochs if e.dev_f1 is not None)
    assert stats.train_sentences == 24 and stats.train_tokens == sum(len(s.tokens) for s in TRAIN)
    assert stats.peak_rss_bytes > 10 * 2**20 and stats.train_seconds > 0 and stats.lang == "en"


def test_more_epochs_learn_the_tiny_corpus() -> None:
    m = train_spacy(TRAIN, DEV, config=SpacyConfig(**{**FAST.to_dict(), "max_epochs": 12}), language="en")
    f1 = conlleval_f1([list(s.tags) for s in DEV], m.predict(DEV))
    assert f1 >= 0.8, f1
    assert m.stats is not None and m.stats.dev_f1 == pytest.approx(f1)  # the kept epoch is the best one


def test_early_stopping_keeps_the_best_epoch_weights() -> None:
    cfg = SpacyConfig(**{**FAST.to_dict(), "max_epochs": 30, "patience": 1, "learn_rate": 0.05})
    m = train_spacy(TRAIN, DEV, config=cfg, language="en")
    assert m.stats is not None
    assert m.stats.epochs_run < 30 and m.stats.stopped.startswith("early stop")
    assert m.stats.best_epoch == m.stats.epochs_run - 1  # patience 1: stopped one epoch after the best
    assert conlleval_f1([list(s.tags) for s in DEV], m.predict(DEV)) == pytest.approx(m.stats.dev_f1)


def test_save_load_round_trip_gives_identical_predictions(model: SpacyModel, saved: Path) -> None:
    meta = json.loads((saved / MODEL_JSON).read_text())
    assert meta["kind"] == "spacy" and meta["labels"] == model.labels and meta["config"] == FAST.to_dict()
    assert meta["model_sha256"] == meta["files"][WEIGHTS_FILE] and len(meta["model_sha256"]) == 64
    assert not list(saved.parent.glob(".*partial"))
    loaded = SpacyModel.load(saved)
    probe = [*DEV, *sentences(6, offset=100)]
    assert loaded.predict(probe) == model.predict(probe)
    assert loaded.config == FAST and loaded.entity_types == model.entity_types


def test_same_seed_same_model_other_seed_other_model(model: SpacyModel, tmp_path: Path) -> None:
    again = train_spacy(TRAIN, DEV, config=FAST, language="en")
    assert again.nlp.get_pipe("ner").model.to_bytes() == model.nlp.get_pipe("ner").model.to_bytes()
    assert [e.loss for e in again.stats.epochs] == [e.loss for e in model.stats.epochs]  # type: ignore[union-attr]
    other = train_spacy(TRAIN, DEV, config=SpacyConfig(**{**FAST.to_dict(), "seed": 14}), language="en")
    assert other.nlp.get_pipe("ner").model.to_bytes() != model.nlp.get_pipe("ner").model.to_bytes()
    # a longer run starts with the same epochs (shuffle and batch sizes do not depend on max_epochs)
    longer = train_spacy(TRAIN, DEV, config=SpacyConfig(**{**FAST.to_dict(), "max_epochs": 3}), language="en")
    assert [e.loss for e in longer.stats.epochs][:2] == [e.loss for e in model.stats.epochs]  # type: ignore[union-attr]
    assert len(longer.stats.epochs) == 3  # type: ignore[union-attr]
    # saved straight after training (as a cell does), two runs give byte-identical folders; ``model`` has
    # predicted other words since, which only adds strings to its vocabulary
    third = train_spacy(TRAIN, DEV, config=FAST, language="en")
    a, b = again.save(tmp_path / "a"), third.save(tmp_path / "b")
    files_a = json.loads((a / MODEL_JSON).read_text())["files"]
    assert files_a == json.loads((b / MODEL_JSON).read_text())["files"]
    assert files_a[WEIGHTS_FILE] == json.loads((tmp_path / "a" / MODEL_JSON).read_text())["model_sha256"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / WEIGHTS_FILE).write_bytes(b"\0" * 64), "checksum differs"),
        (lambda d: (d / WEIGHTS_FILE).unlink(), "missing; the model folder is incomplete"),
        (lambda d: (d / MODEL_JSON).unlink(), "pipeline/ without it: a save that did not finish"),
        (lambda d: (d / MODEL_JSON).write_text("{oops"), "not valid JSON"),
        (lambda d: (d / MODEL_JSON).write_text(json.dumps({"kind": "crf"})), "kind is 'crf', not 'spacy'"),
    ],
)
def test_damaged_model_folder_is_a_clear_error(saved: Path, tmp_path: Path, damage, message: str) -> None:  # noqa: ANN001
    d = tmp_path / "m"
    shutil.copytree(saved, d)
    damage(d)
    with pytest.raises((SpacyError, ConfigError)) as exc:
        SpacyModel.load(d)
    assert message in str(exc.value) and str(d) in str(exc.value)


def test_damaged_folder_through_the_cli_is_one_error_line(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "m"
    shutil.copytree(saved, d)
    (d / "pipeline" / "config.cfg").write_text("[nlp\nbroken")
    src = tmp_path / "in.txt"
    src.write_text("Anna went to Paris .\n", encoding="utf-8")
    assert main(["predict", "--model", str(d), "--input", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {d}") and "config.cfg: checksum differs" in err and "Traceback" not in err


def test_nerbench_predict_on_the_folder(
    model: SpacyModel, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conll = tmp_path / "in.conll"
    words = ["Reuters", "said", "Anna", "Schmidt", "went", "to", "New", "York", "."]
    conll.write_text("".join(f"{w}\tX\n" for w in words) + "\n" + "Maria\nwent\n", encoding="utf-8")
    out = tmp_path / "out.conll"
    assert (
        main(["predict", "--model", str(saved), "--input", str(conll), "--format", "conll", "--output", str(out)]) == 0
    )
    blocks = [b.splitlines() for b in out.read_text(encoding="utf-8").strip("\n").split("\n\n")]
    assert [[line.split()[0] for line in b] for b in blocks] == [words, ["Maria", "went"]]
    tags = [[line.split()[-1] for line in b] for b in blocks]  # the input's columns, then the guess
    assert tags == model.predict_tokens([words, ["Maria", "went"]])
    err = capsys.readouterr().err
    assert "2 sentence(s) in 1 document(s)" in err and "(spacy)" in err
    jsonl = tmp_path / "out.jsonl"
    text = tmp_path / "in.txt"
    text.write_text("Reuters said Anna Schmidt went to Paris .\n", encoding="utf-8")
    assert main(["predict", "--model", str(saved), "--input", str(text), "--output", str(jsonl)]) == 0
    (row,) = [json.loads(x) for x in jsonl.read_text().splitlines()]
    expected = tags_to_spans(model.predict_tokens([row["text"].split()])[0])
    assert [(e["type"], e["text"]) for e in row["entities"]] == [
        (t, " ".join(row["text"].split()[i:j])) for t, i, j in expected
    ]
    assert all(e["score"] is None for e in row["entities"])


def test_missing_spacy_names_the_extra(monkeypatch: pytest.MonkeyPatch, saved: Path) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy -> ImportError
    with pytest.raises(ConfigError, match=r"install nerbench\[spacy\] \(pip install 'nerbench\[spacy\]'"):
        train_spacy(TRAIN, DEV, config=FAST)
    with pytest.raises(ConfigError, match=r"nerbench\[spacy\]"):
        SpacyModel.load(saved)
    from bench.spec import SystemSpec
    from bench.systems import train_system

    with pytest.raises(ConfigError, match=r"nerbench\[spacy\]"):
        train_system(
            SystemSpec("spacy"),
            {},
            train=TRAIN,
            dev=DEV,
            data=None,
            seed=1,  # type: ignore[arg-type]
            model_dir=Path("/nonexistent/never-written"),
        )


def test_config_is_validated_and_unknown_params_rejected() -> None:
    assert config_from_params({"dropout": 0.2}, seed=5) == SpacyConfig(dropout=0.2, seed=5)
    for params, message in [
        ({"epochs": 3}, "unknown spacy parameter(s) epochs"),
        ({"max_epochs": 0}, "max_epochs must be >= 1"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"batch_start": 8, "batch_stop": 4}, "batch_stop must be >= batch_start"),
        ({"batch_compound": 0.99}, "batch_compound must be >= 1.0"),
        ({"max_epochs": True}, "max_epochs must be an integer"),
        ({"lang": "English"}, "lang must be a spaCy language code"),
    ]:
        with pytest.raises(ConfigError) as exc:
            config_from_params(params)
        assert message in str(exc.value), (params, str(exc.value))


def test_bad_training_input_is_a_clear_error() -> None:
    with pytest.raises(SpacyError, match="no training sentences"):
        train_spacy([], DEV, config=FAST)
    with pytest.raises(SpacyError, match="hold no entities"):
        train_spacy([Sentence(("a", "b"), ("O", "O"))], None, config=FAST)
    bad = Sentence(("Anna", "", "Paris"), ("B-PER", "O", "B-LOC"), source="train.txt:7")
    with pytest.raises(DataFormatError, match=r"train\.txt:7: word 2 is ''"):
        train_spacy([*TRAIN[:3], bad], None, config=FAST)


def test_param_types_come_from_the_config_without_importing_spacy() -> None:
    import subprocess

    code = (
        "import sys; from bench.systems.suites import system_param_types; t = system_param_types('spacy'); "
        "assert t['max_epochs'] is int and t['dropout'] is float and t['lang'] is str, t; "
        "assert t['max_train_sentences'] is int and t['device'] is str, t; "
        "assert 'spacy' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)


def test_a_spacy_cell_runs_end_to_end(tmp_path: Path, conll_dir: Path) -> None:
    from bench.results import iter_results

    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK)
    suite = tmp_path / "s.toml"
    suite.write_text(
        'name = "s"\ntasks = ["tiny"]\nsystems = ["spacy"]\nseeds = [3]\n\n[system.spacy]\nkind = "spacy"\n'
        "params = { max_epochs = 2, width = 32, depth = 2, embed_size = 500, hidden_width = 32 }\n"
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--suite",
                str(suite),
                "--task-file",
                str(task),
                "--data-dir",
                str(conll_dir.parent),
                "--results-dir",
                str(out / "raw"),
                "--models-dir",
                str(out / "models"),
                "--executor",
                "inline",
                "--log-file",
                str(out / "run.log"),
                "--bootstrap",
                "20",
            ]
        )
        == 0
    )
    results = [r for _, r in iter_results(out / "raw")]
    assert sorted(r["split"] for r in results) == ["dev", "test"]
    r = results[0]
    assert r["system"]["kind"] == "spacy" and r["system"]["config"]["seed"] == 3
    assert r["cell_key"]["system_version"] == 1
    assert r["training"]["epochs_run"] == 2 and len(r["training"]["epochs"]) == 2
    cost = r["cost"]
    for key in ("train_seconds", "cpu_seconds", "train_tokens_per_second", "peak_rss_mb", "train_wall_seconds"):
        assert isinstance(cost[key], float) and cost[key] > 0, key
    assert cost["device"] == "cpu" and r["prediction"]["sentences_per_second"] > 0
    model_dir = out / "models" / r["system"]["model_dir"]
    meta = json.loads((model_dir / MODEL_JSON).read_text())
    assert meta["model_sha256"] == r["system"]["model_sha256"]
    assert SpacyModel.load(model_dir).labels == ["O"] + [
        f"{p}-{t}" for t in ("LOC", "MISC", "ORG", "PER") for p in ("B", "I")
    ]


def test_cell_process_preloads_spacy() -> None:
    import subprocess

    code = (
        "import sys; from bench.executors.child import _preload; _preload('spacy'); "
        "assert 'spacy' in sys.modules and 'baselines.spacy_ner' in sys.modules, 'not preloaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)


def test_preflight_reads_the_installed_version_without_importing_spacy(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from baselines.spacy_ner import install
    from bench.systems import get_kind

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(install.metadata, "version", missing)
    with pytest.raises(ConfigError, match=r"not installed: install nerbench\[spacy\]"):
        get_kind("spacy").preflight(None)
    monkeypatch.setattr(install.metadata, "version", lambda name: "2.3.9")
    with pytest.raises(ConfigError, match=r"needs spaCy 3 \(found 2.3.9\)"):
        get_kind("spacy").preflight(None)
