from __future__ import annotations

from pathlib import Path

import pytest

from bench.catalog import load_catalog, resolve_task
from bench.data.load import load_task_data
from bench.errors import ConfigError, DataFormatError, DataNotFoundError
from bench.registry import Registry
from bench.spec import load_suite_file, load_task_file

from .conftest import TINY_TASK

TASK = TINY_TASK


def task_file(tmp_path: Path, body: str | None = None) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(body if body is not None else TASK, encoding="utf-8")
    return p


def test_shipped_catalog_has_the_reference_tasks() -> None:
    cat = load_catalog()
    for name in ("conll2003", "ehealthkd2020", "ade_drug_effect", "bc5cdr"):
        spec = cat.get(name)
        assert spec.local is not None and spec.hub is not None or name == "ehealthkd2020"
        assert spec.licence and spec.reference
    assert cat.get("ehealthkd2020").span_scoring == "ehealthkd2020"


def test_typo_key_is_rejected_with_suggestion(tmp_path: Path) -> None:
    p = task_file(tmp_path, body=TASK.replace("entity_types", "entity_type"))
    with pytest.raises(ConfigError, match=r"tiny.toml: unknown key 'entity_type'; did you mean 'entity_types'"):
        load_task_file(p)


def test_typo_in_nested_table(tmp_path: Path) -> None:
    p = task_file(tmp_path, body=TASK.replace('format = "conll"', 'fromat = "conll"'))
    with pytest.raises(ConfigError, match=r"unknown key 'local.fromat'; did you mean 'format'"):
        load_task_file(p)


def test_wrong_type_and_missing_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'version' must be str"):
        load_task_file(task_file(tmp_path, body=TASK.replace('version = "1"', "version = 1")))
    with pytest.raises(ConfigError, match="missing required key 'licence'"):
        load_task_file(task_file(tmp_path, body=TASK.replace('licence = "written by the tests"', "")))


def test_bad_toml_syntax(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_task_file(task_file(tmp_path, body="name = \n"))


def test_unknown_reader_option(tmp_path: Path, conll_dir: Path) -> None:
    p = task_file(tmp_path, body=TASK.replace("pos_column = 1", "pos_colum = 1"))
    with pytest.raises(ConfigError, match="unknown option.*pos_colum.*allowed: .*pos_column"):
        load_task_data(load_task_file(p), data_dir=conll_dir.parent)


def test_registry_refuses_duplicates_and_suggests() -> None:
    reg: Registry[int] = Registry("task")
    reg.register("conll2003", 1)
    with pytest.raises(ConfigError, match="defined twice"):
        reg.register("conll2003", 2)
    with pytest.raises(ConfigError, match="did you mean 'conll2003'"):
        reg.get("conll2030")


def test_task_file_from_command_line_and_duplicate(tmp_path: Path) -> None:
    p = task_file(tmp_path)
    assert resolve_task(str(p)).name == "tiny"
    assert load_catalog([p]).get("tiny").origin == str(p)
    dup = tmp_path / "dup"
    dup.mkdir()
    (dup / "conll.toml").write_text(TASK.replace('"tiny"', '"conll2003"', 1))
    with pytest.raises(ConfigError, match="'conll2003' is defined twice"):
        load_catalog([dup])


def test_load_local_with_fingerprint(tmp_path: Path, conll_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_task_file(task_file(tmp_path))
    monkeypatch.delenv("NERBENCH_DATA_DIR", raising=False)
    data = load_task_data(spec, data_dir=conll_dir.parent)
    assert data.source == "local:tiny" and len(data.fingerprint) == 64
    assert data.labels == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    monkeypatch.setenv("NERBENCH_DATA_DIR", str(conll_dir.parent))
    assert load_task_data(spec).fingerprint == data.fingerprint
    (conll_dir / "test.txt").write_text("Other O\n")
    assert load_task_data(spec).fingerprint != data.fingerprint


def test_provenance_names_files_relative_to_the_data_dir(tmp_path: Path, conll_dir: Path) -> None:
    import json

    from bench.data.load import sha256_file

    data = load_task_data(load_task_file(task_file(tmp_path)), data_dir=conll_dir.parent)
    assert data.provenance == {
        "kind": "local",
        "folder": "tiny",
        "format": "conll",
        "scheme": "IOB2",
        "repair": False,
        "files": {f"tiny/{n}": sha256_file(conll_dir / n) for n in ("dev.txt", "test.txt", "train.txt")},
        "reader_options": {"pos_column": 1},
    }
    assert str(tmp_path) not in json.dumps([data.source, data.provenance, data.warnings])


def test_missing_data_names_task_folder_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NERBENCH_DATA_DIR", raising=False)
    spec = load_task_file(task_file(tmp_path))
    with pytest.raises(DataNotFoundError) as err:
        load_task_data(spec, data_dir=tmp_path / "nowhere")
    msg = str(err.value)
    assert "task 'tiny'" in msg and str(tmp_path / "nowhere" / "tiny") in msg and "--data-dir" in msg


def test_missing_split_file(tmp_path: Path, conll_dir: Path) -> None:
    (conll_dir / "dev.txt").unlink()
    with pytest.raises(DataFormatError, match=r"dev.txt: file not found"):
        load_task_data(load_task_file(task_file(tmp_path)), data_dir=conll_dir.parent)


def test_label_unseen_in_train_is_warned_and_counted(tmp_path: Path, conll_dir: Path) -> None:
    (conll_dir / "test.txt").write_text("Rome NNP B-LOC\nand CC O\nParis NNP B-LOC\n\nX NN B-MISC\n")
    (conll_dir / "train.txt").write_text("Peter NNP B-PER\n")
    data = load_task_data(load_task_file(task_file(tmp_path)), data_dir=conll_dir.parent)
    assert "task tiny: type 'LOC' occurs 2 time(s) in test but never in train" in data.warnings
    assert any("'MISC' occurs 1 time(s) in test" in w for w in data.warnings)


def test_undeclared_type_is_an_error_with_line(tmp_path: Path, conll_dir: Path) -> None:
    (conll_dir / "dev.txt").write_text("A NN O\n\nAspirin NN B-DRUG\n")
    with pytest.raises(DataFormatError, match=r"dev.txt:3: entity type 'DRUG' is not one of"):
        load_task_data(load_task_file(task_file(tmp_path)), data_dir=conll_dir.parent)


def test_shipped_suites_load() -> None:
    from bench.catalog import shipped_dir

    files = sorted(shipped_dir("suites").glob("*.toml"))
    assert {f.stem for f in files} >= {"default", "smoke", "seeds"}
    cat = load_catalog()
    for f in files:
        suite = load_suite_file(f)
        for t in suite.tasks:
            cat.get(t)


def test_wheel_ships_task_and_suite_files(tmp_path: Path) -> None:
    """A non-editable install must find the shipped tasks: they travel in the wheel as bench/_tasks."""
    import subprocess
    import sys
    import zipfile

    from .conftest import REPO

    pytest.importorskip("setuptools")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("nerbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"bench/_tasks/conll2003.toml", "bench/_tasks/suites/default.toml", "bench/data/conll.py",
            "baselines/crf.py"} <= names
