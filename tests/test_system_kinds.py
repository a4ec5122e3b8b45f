"""Every system kind behind one interface: found by name, described, and a new kind is one class plus one
registration that the suite loader, the runner, the result files and ``nerbench predict`` all accept."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.errors import ConfigError
from bench.results import iter_results
from bench.spec import SystemSpec
from bench.systems import SYSTEM_KINDS, SystemKind, TrainedSystem, get_kind, trainable_kinds
from bench.systems.suites import check_system, load_suite, system_param_types
from bench.versions import system_version

from .conftest import TINY_TASK


def test_every_kind_is_registered_once_and_describes_itself() -> None:
    assert list(SYSTEM_KINDS) == ["crf", "external", "lookup", "spacy", "transformer"]
    assert trainable_kinds() == ["crf", "lookup", "spacy", "transformer"]
    for name, kind in SYSTEM_KINDS.items():
        assert kind.name == name and kind.summary
        assert isinstance(kind.version, int) and kind.version >= 1
        assert system_version(name) == kind.version
        if kind.trainable:
            assert kind.config_type() is not None and "max_train_sentences" in system_param_types(name)
    assert system_version("no-such-kind") == 0
    with pytest.raises(ConfigError, match="unknown system kind 'crff'; did you mean 'crf'"):
        get_kind("crff")
    with pytest.raises(ConfigError, match="defined twice"):
        SYSTEM_KINDS.register("crf", get_kind("crf"))


def test_a_suite_cannot_train_external_predictions_or_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match=r"must be 'crf', 'lookup', 'spacy' or 'transformer', got 'external' \(external "
                                         r"predictions are scored with `nerbench score`\)"):
        check_system(SystemSpec("external"))
    with pytest.raises(ValueError, match="must be 'crf', 'lookup', 'spacy' or 'transformer', got 'hmm'$"):
        check_system(SystemSpec("hmm"))
    with pytest.raises(ValueError, match="a transformer system needs 'model'"):
        check_system(SystemSpec("transformer"))
    with pytest.raises(ConfigError, match="not trained by nerbench"):
        get_kind("external").train({}, model=None, train=[], dev=[], data=None, seed=1, model_dir=Path("x"),
                                   device="cpu", progress=None)


def test_a_suite_read_for_running_checks_its_kinds_as_each_table_is_read(tmp_path: Path) -> None:
    """bench.spec reads a suite as written and knows no kind; load_suite (what find_suite runs) checks each
    system table's kind as it is read, so the error names the file and comes before the suite's own rules."""
    from bench.spec import load_suite_file

    p = tmp_path / "s.toml"
    p.write_text('name = "s"\ntasks = ["tiny"]\nsystems = ["h"]\nseeds = [1]\n[system.h]\nkind = "hmm"\n')
    assert load_suite_file(p).system["h"].kind == "hmm"
    with pytest.raises(ConfigError) as err:
        load_suite(p)
    assert str(err.value) == f"{p}: system kind must be 'crf', 'lookup', 'spacy' or 'transformer', got 'hmm'"
    p.write_text(p.read_text().replace("seeds = [1]", "seeds = []").replace('"hmm"', '"transformer"'))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(p))}: a transformer system needs 'model'"):
        load_suite(p)
    with pytest.raises(ConfigError, match="seeds must be distinct"):
        load_suite_file(p)


def test_default_cluster_resources_come_from_the_kind() -> None:
    assert get_kind("crf").default_resources({"device": "cuda"}) == {"num_cpus": 1}
    assert get_kind("transformer").default_resources({"device": "cuda:1"}) == {"num_cpus": 1, "num_gpus": 1}
    assert get_kind("transformer").default_resources({"torch_threads": 4}) == {"num_cpus": 4}


# --------------------------------------------------------------------------- a fourth kind, written here


class MemoKind(SystemKind):
    """Tags each word with the tag it had most often in train (``O`` when unseen): a real, if weak, system."""

    name = "memo"
    version = 1
    summary = "most frequent training tag per word"

    def config_type(self) -> type:
        from dataclasses import dataclass

        @dataclass
        class MemoConfig:
            lowercase: bool = False

        return MemoConfig

    def resolve_config(self, params: dict[str, Any], *, seed: int) -> dict[str, Any]:
        bad = set(params) - {"lowercase"}
        if bad:
            raise ConfigError(f"unknown memo parameter(s) {', '.join(sorted(bad))}")
        return {"lowercase": bool(params.get("lowercase", False))}

    def train(self, params, *, model, train, dev, data, seed, model_dir, device, progress) -> TrainedSystem:
        config = self.resolve_config(params, seed=seed)
        counts: dict[str, Counter[str]] = {}
        for s in train:
            for w, t in zip(s.tokens, s.tags, strict=True):
                counts.setdefault(w.lower() if config["lowercase"] else w, Counter())[t] += 1
        table = {w: c.most_common(1)[0][0] for w, c in counts.items()}
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "nerbench_model.json").write_text(json.dumps(
            {"kind": "memo", "labels": list(data.labels), "config": config}))
        (model_dir / "table.json").write_text(json.dumps(table))
        predictor = MemoPredictor(table, config["lowercase"], list(data.labels))

        def predict(sentences):
            return [t for t, _ in predictor.tag([s.tokens for s in sentences])], {"seconds": 0.0}, None

        return TrainedSystem(predict=predict, training={"words": len(table)},
                             cost={"train_seconds": 0.0, "device": "cpu"}, info={"config": config})

    def load(self, model_dir: Path, *, device: str = "auto", batch_size: int = 64, decode: str | None = None):
        info = json.loads((model_dir / "nerbench_model.json").read_text())
        return MemoPredictor(json.loads((model_dir / "table.json").read_text()), info["config"]["lowercase"],
                             info["labels"])


class MemoPredictor:
    kind = "memo"
    word_tokenizer = "simple"

    def __init__(self, table: dict[str, str], lowercase: bool, labels: list[str]) -> None:
        self.table, self.lowercase, self.labels = table, lowercase, labels

    def tag(self, docs, *, pos=None):
        out = []
        for words in docs:
            tags = [self.table.get(w.lower() if self.lowercase else w, "O") for w in words]
            out.append((tags, [None] * len(tags)))
        return out


SUITE = """\
name = "kinds"
tasks = ["tiny"]
systems = ["memo"]
seeds = [1]

[system.memo]
kind = "memo"
params = { lowercase = true }
"""


def test_a_new_kind_is_one_class_and_one_registration(tmp_path: Path, conll_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(SYSTEM_KINDS._items, "memo", MemoKind())  # what bench.systems._register does
    (tmp_path / "tiny.toml").write_text(TINY_TASK)
    (tmp_path / "kinds.toml").write_text(SUITE)
    out = tmp_path / "out"
    argv = ["run", "--suite", str(tmp_path / "kinds.toml"), "--task-file", str(tmp_path / "tiny.toml"),
            "--data-dir", str(conll_dir.parent), "--results-dir", str(out / "raw"), "--models-dir",
            str(out / "models"), "--log-file", str(out / "run.log"), "--bootstrap", "20", "--executor", "inline"]
    assert main(argv) == 0, capsys.readouterr().err
    results = [r for _, r in iter_results(out / "raw")]
    assert {r["split"] for r in results} == {"dev", "test"}
    for r in results:
        assert r["system"]["kind"] == "memo" and r["system"]["config"] == {"lowercase": True}
        assert r["cell_key"]["system_version"] == 1
        assert 0.0 < r["metrics"]["main"]["value"] <= 1.0  # memorised entities are found in the tiny data
    # a typo in its params fails before anything runs, with the kind's own message
    (tmp_path / "kinds.toml").write_text(SUITE.replace("lowercase = true", "lowercse = true"))
    assert main([*argv, "--force"]) == 1
    assert "unknown memo parameter(s) lowercse" in capsys.readouterr().err
    # nerbench predict loads its saved folder through the same registry
    text = tmp_path / "in.txt"
    text.write_text("EU rejects German call\n")
    model = out / "models" / "tiny" / "memo" / "seed1"
    assert main(["predict", "--model", str(model), "--input", str(text), "--output", str(tmp_path / "o.jsonl")]) == 0
    row = json.loads((tmp_path / "o.jsonl").read_text())
    assert row["text"] == "EU rejects German call" and isinstance(row["entities"], list)


def test_every_package_ships_in_a_non_editable_install() -> None:
    """pyproject lists packages explicitly: a new sub-package (bench/systems, bench/finetune, baselines/crf)
    missing from the list would vanish from a wheel."""
    import tomllib

    from .conftest import REPO

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {str(p.parent.relative_to(REPO)).replace("/", ".") for top in ("bench", "baselines")
             for p in (REPO / top).rglob("__init__.py") if "__pycache__" not in p.parts}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
