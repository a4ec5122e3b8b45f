from __future__ import annotations

from pathlib import Path

import pytest

from bench.catalog import load_catalog, resolve_task
from bench.data.load import load_task_data
from bench.errors import ConfigError, DataFormatError, DataNotFoundError
from bench.registry import Registry
from bench.spec import load_suite_file, load_task_file
from bench.systems.suites import load_suite

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
        suite = load_suite(f)
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
            "baselines/crf/__init__.py", "baselines/crf/model.py", "bench/finetune/train.py",
            "bench/systems/__init__.py", "bench/systems/transformer.py"} <= names
    # the embedded corpus travels with its licence and attribution
    assert {f"bench/_tasks/data/wnut17/{n}" for n in ("wnut17train.conll", "emerging.dev.conll",
                                                       "emerging.test.annotated", "ATTRIBUTION.md", "README.md")} <= names


# --------------------------------------------------------------------------- bad inputs (issue items 5 and 6)

SUITE = """\
name = "mini"
tasks = ["conll2003", "bc5cdr"]
systems = ["crf", "minilm-l6"]
seeds = [13]

[system.crf]
kind = "crf"
params = { max_iterations = 20, c1 = 0, use_pos = false, max_train_sentences = 400 }

[system."minilm-l6"]
kind = "transformer"
model = "minilm-l6"
params = { learning_rate = 2e-4, epochs = 2, batch_size = 16, torch_threads = 2, trust_remote_code = false }
"""


def suite_file(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "x.toml"
    p.write_text(body, encoding="utf-8")
    return p


def test_suite_params_of_the_right_types_load(tmp_path: Path) -> None:
    suite = load_suite(suite_file(tmp_path, SUITE))
    assert suite.system["crf"].params["c1"] == 0 and suite.system["minilm-l6"].params["epochs"] == 2


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("epochs = 2", 'epochs = "two"', """system 'minilm-l6': epochs must be an integer, got "two\""""),
        ("max_iterations = 20", 'max_iterations = "ten"', """system 'crf': max_iterations must be an integer, got "ten\""""),
        ("max_train_sentences = 400", 'max_train_sentences = "many"',
         """system 'crf': max_train_sentences must be an integer, got "many\""""),
        ("max_train_sentences = 400", "max_train_sentences = 0",
         "system 'crf': max_train_sentences must be a positive integer, got 0"),
        ("torch_threads = 2", "max_eval_sentences = 2.5", "system 'minilm-l6': max_eval_sentences must be an integer, got 2.5"),
        ("epochs = 2", "epochs = 2.0", "system 'minilm-l6': epochs must be an integer, got 2.0"),
        ("epochs = 2", "epochs = true", "system 'minilm-l6': epochs must be an integer, got true"),
        ("learning_rate = 2e-4", 'learning_rate = "2e-4"', """system 'minilm-l6': learning_rate must be a number, got "2e-4\""""),
        ("c1 = 0", 'c1 = "0.1"', """system 'crf': c1 must be a number, got "0.1\""""),
        ("use_pos = false", "use_pos = 1", "system 'crf': use_pos must be true or false, got 1"),
        ("trust_remote_code = false", 'trust_remote_code = "no"',
         """system 'minilm-l6': trust_remote_code must be true or false, got "no\""""),
        ("epochs = 2", "epochs = [2]", "system 'minilm-l6': epochs must be an integer, got [2]"),
    ],
)
def test_suite_params_of_the_wrong_type_name_file_system_and_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in SUITE
    p = suite_file(tmp_path, SUITE.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_suite(p)
    assert str(err.value) == f"{p}: {message}"


def test_override_params_are_checked_against_the_systems_they_reach(tmp_path: Path) -> None:
    body = SUITE + '\n[[override]]\nsystem = "minilm-l6"\nparams = { epochs = "two" }\n'
    with pytest.raises(ConfigError, match=r"x.toml: override 1 \(task '\*', system 'minilm-l6'\): system 'minilm-l6': "
                                          r'epochs must be an integer, got "two"'):
        load_suite(suite_file(tmp_path, body))
    # an override for every system reaches the CRF too
    body = SUITE + '\n[[override]]\ntask = "bc5cdr"\nparams = { max_iterations = "ten" }\n'
    with pytest.raises(ConfigError, match=r"system 'crf': max_iterations must be an integer"):
        load_suite(suite_file(tmp_path, body))
    # ... unless the task it names runs no CRF
    body += '\n[task_systems]\nbc5cdr = ["minilm-l6"]\n'
    assert load_suite(suite_file(tmp_path, body)).params_for("bc5cdr", "minilm-l6")["max_iterations"] == "ten"


def test_unknown_param_names_are_left_to_the_run_plan(tmp_path: Path) -> None:
    """Names are checked when the runner plans the cells (tests/test_runner.py), with the system's own message."""
    suite = load_suite(suite_file(tmp_path, SUITE.replace("epochs = 2", 'epochz = "two"')))
    assert suite.system["minilm-l6"].params["epochz"] == "two"


def test_the_names_a_task_chooses_from_are_the_data_layers() -> None:
    """bench.spec checks scheme and word tokenizer names against bench.choices, below the data layer that
    implements them: the two agree."""
    from bench.choices import ALL_SCHEMES, SPANS, TAG_SCHEME_NAMES, WORD_TOKENIZER_NAMES
    from bench.data import schemes
    from bench.data.wordtok import WORD_TOKENIZERS

    assert tuple(schemes.TAG_SCHEMES) == TAG_SCHEME_NAMES and schemes.ALL_SCHEMES == ALL_SCHEMES == (*TAG_SCHEME_NAMES, SPANS)
    assert tuple(WORD_TOKENIZERS) == WORD_TOKENIZER_NAMES


def test_crf_param_types_are_the_crf_configs_fields() -> None:
    from baselines.crf import CrfConfig, config_from_params
    from bench.spec import param_types
    from bench.systems.suites import RUNNER_PARAM_TYPES, system_param_types

    types_ = system_param_types("crf")
    assert {k: t for k, t in types_.items() if k not in RUNNER_PARAM_TYPES} == {
        **param_types(CrfConfig), "device": str, "torch_threads": int}
    config_from_params({k: {int: 1, float: 0.5, bool: True, str: "rich-v1"}[t] for k, t in param_types(CrfConfig).items()})


def test_transformer_param_types_come_from_finetune_config_without_torch() -> None:
    import subprocess
    import sys

    from .conftest import REPO

    code = (
        "import sys; from bench.systems.suites import system_param_types; t = system_param_types('transformer'); "
        "assert t['epochs'] is int and t['learning_rate'] is float and t['max_train_sentences'] is int, t; "
        "assert t['torch_threads'] is int and t['trust_remote_code'] is bool and t['decode'] is str, t; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules and 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize("kind", ["task", "suite"])
def test_toml_that_is_not_utf8_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    body = TASK if kind == "task" else SUITE
    p = tmp_path / f"{kind}.toml"
    p.write_bytes(body.replace('domain = "test"', 'domain = "caf\u00e9"').encode("latin-1")
                  if kind == "task" else body.replace('name = "mini"', 'name = "mini" # caf\u00e9').encode("cp1252"))
    load = load_task_file if kind == "task" else load_suite_file
    with pytest.raises(ConfigError, match=r"task.toml:4: not UTF-8 text \(byte 0xe9 at byte offset \d+\)"
                       if kind == "task" else r"suite.toml:1: not UTF-8 text \(byte 0xe9"):
        load(p)


def test_a_shipped_task_file_passed_again_is_one_definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.catalog import shipped_dir

    own = shipped_dir() / "conll2003.toml"
    monkeypatch.chdir(shipped_dir().parent)
    for extra in ([own], [Path("tasks/conll2003.toml")], [shipped_dir()], [own, Path("tasks") / ".." / "tasks" / own.name]):
        cat = load_catalog(extra)
        assert cat.get("conll2003").origin == str(own) and len(cat) == len(load_catalog())
    copy = tmp_path / "conll2003.toml"
    copy.write_bytes(own.read_bytes())
    with pytest.raises(ConfigError, match=f"task 'conll2003' is defined twice: {own} and {copy}"):
        load_catalog([copy])


def test_suite_resources_are_read_and_checked(tmp_path: Path) -> None:
    from bench.spec import load_suite_file

    body = 'name = "r"\ntasks = ["wnut17"]\nsystems = ["crf"]\nseeds = [1]\n[system.crf]\nkind = "crf"\n'
    ok = tmp_path / "ok.toml"
    ok.write_text(body + "resources = { num_cpus = 1, num_gpus = 0.5 }\n")
    assert load_suite_file(ok).system["crf"].resources == {"num_cpus": 1, "num_gpus": 0.5}
    bad = tmp_path / "bad.toml"
    bad.write_text(body + 'resources = { num_cpus = "one" }\n')
    with pytest.raises(Exception, match=r"bad.toml: resources.num_cpus must be a number >= 0, got 'one'"):
        load_suite_file(bad)
