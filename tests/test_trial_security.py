"""Hostile inputs to the report and the data loader: names that are paths, markup in names, task files
whose data paths leave the data folder, one results folder read twice, wrongly typed result files."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.__main__ import main
from bench.data.load import load_task_data
from bench.errors import ConfigError
from bench.results import ResultError, dumps, read_result
from bench.spec import load_suite_file, load_task_file

from .conftest import TINY_TASK
from .test_report import SPEC, Catalog, crf_pred, minilm_pred, result


def crf_result() -> dict[str, Any]:
    return result("crf", "crf", 13, crf_pred(), config="crf1", seconds=12.0)


def put(raw: Path, r: dict[str, Any], rel: str) -> Path:
    path = raw / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(r), encoding="utf-8")
    return path


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- 1. names that are paths


def test_a_result_whose_task_name_is_a_path_is_skipped_and_no_plot_leaves_the_plots_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "a" / "b" / "raw"
    put(raw, crf_result(), "toy/crf/seed13-test.json")
    evil = crf_result()
    evil["task"]["name"] = evil["cell_key"]["task"] = "../../PWNED"
    put(raw, evil, "evil/crf/seed13-test.json")
    slash = crf_result()
    slash["task"]["name"] = "x/y"
    put(raw, slash, "slash/crf/seed13-test.json")
    before = files_under(tmp_path)
    assert main(["report", "--results-dir", str(raw)]) == 0
    err = capsys.readouterr().err
    assert "evil/crf/seed13-test.json: task.name: '../../PWNED' is not a name" in err
    assert "slash/crf/seed13-test.json: task.name: 'x/y' is not a name" in err
    plots = tmp_path / "a" / "b" / "plots"
    new = files_under(tmp_path) - before
    assert new and all(p.parent in (plots, tmp_path / "a" / "b") for p in new), sorted(map(str, new))
    assert not list(tmp_path.rglob("PWNED*"))
    assert {p.name for p in plots.iterdir()} >= {"toy-f1-vs-cost.png", "toy-f1-vs-cost.svg"}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("system.name", "../crf", "system.name: '../crf' is not a name"),
    ("split", "../test", "split: '../test' is not a name"),
    ("per_type", "<img src=x>", "metrics.conlleval.per_type: entity type: '<img src=x>' is not a name"),
    ("confusion", "a/b", "metrics.analysis.confusion: entity type: 'a/b' is not a name"),
])
def test_every_name_in_a_result_follows_the_task_file_rule(tmp_path: Path, field: str, value: str, message: str) -> None:
    r = crf_result()
    if field == "system.name":
        r["system"]["name"] = value
    elif field == "split":
        r["split"] = value
    elif field == "per_type":
        r["metrics"]["conlleval"]["per_type"][value] = {"f1": 0.5}
    else:
        r["metrics"]["analysis"]["confusion"][value] = {"PER": 1}
    with pytest.raises(ResultError, match=re.escape(f"r.json: {message}")):
        read_result(put(tmp_path, {**r, "schema_version": 2}, "r.json"))


def test_task_and_suite_files_follow_the_same_name_rule(tmp_path: Path) -> None:
    task = tmp_path / "t.toml"
    task.write_text(TINY_TASK.replace('name = "tiny"', 'name = "../../PWNED"'))
    with pytest.raises(ConfigError, match=r"t.toml: name: '../../PWNED' is not a name"):
        load_task_file(task)
    task.write_text(TINY_TASK.replace('"MISC"', '"<b>MISC</b>"'))
    with pytest.raises(ConfigError, match=r"t.toml: entity_types\[3\]: '<b>MISC</b>' is not a name"):
        load_task_file(task)
    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\ntasks = ["tiny"]\nsystems = ["../crf"]\nseeds = [1]\n\n'
                     '[system."../crf"]\nkind = "crf"\n')
    with pytest.raises(ConfigError, match=r"s.toml: system name: '../crf' is not a name"):
        load_suite_file(suite)


def test_a_plot_file_that_resolves_outside_the_plots_dir_is_refused(tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    plots.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (plots / "toy-per-type.svg").symlink_to(victim)
    with pytest.raises(ConfigError, match=r"toy-per-type.svg: refused to write a plot that resolves outside"):
        report.plot([crf_result()], plots)
    assert victim.read_text() == "keep me"
    assert [p.name for p in plots.iterdir()] == ["toy-per-type.svg"]  # nothing written


# --------------------------------------------------------------------------- 2. markup in the Markdown


def test_names_are_escaped_in_the_markdown_and_in_the_html(tmp_path: Path) -> None:
    evil = "<img src=x onerror=alert(1)>|`code`&lt;"
    crf = crf_result()
    crf["environment"]["cpu"] = "<script>alert(1)</script>"
    minilm = result("minilm-l6", "transformer", 1, minilm_pred(1), config="cfgA", seconds=600.0)
    minilm["system"]["model"] = evil
    other = result("minilm-l6", "transformer", 1, minilm_pred(2), config="<b>|x", seconds=600.0)  # a variant label
    spec = dataclasses.replace(SPEC, description="<script>alert(2)</script> A toy task.")
    md = report.render([crf, minilm, other], catalog=Catalog(toy=spec), plots="plots")
    for raw in ("<img", "<script", "<b>", "`code`", "|`"):
        assert raw not in md, raw
    assert "&lt;img src=x onerror=alert(1)&gt;&#124;&#96;code&#96;&amp;lt;" in md
    assert "&lt;script&gt;alert(2)&lt;/script&gt; A toy task." in md
    assert "config &lt;b&gt;&#124;x" in md
    row = next(line for line in md.splitlines() if "onerror" in line)
    header = next(line for line in md.splitlines() if line.startswith("| system | model |"))
    assert row.count("|") == header.count("|")  # the pipe in the name does not add a column
    assert "| crf | – |" in md and "minilm-l6" in md  # ordinary names as they were
    page = report.render_html([crf, minilm, other], catalog=Catalog(toy=spec), plots=False)
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;|`code`&amp;lt;" in page  # escaped once, not twice


# --------------------------------------------------------------------------- 3. data paths in task files


def tiny_task(tmp_path: Path, **replace: str) -> Path:
    text = TINY_TASK
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def test_task_data_paths_must_stay_inside_the_data_dir(tmp_path: Path, conll_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tiny").mkdir()
    for name in ("train.txt", "dev.txt", "test.txt"):
        (data / "tiny" / name).write_text((conll_dir / name).read_text())
    assert load_task_data(load_task_file(tiny_task(tmp_path)), data_dir=data).splits  # inside: fine
    cases = {
        "local.folder = '../tiny'": {'folder = "tiny"': 'folder = "../tiny"'},
        "local.splits.train = '../../tiny/train.txt'": {'train = "train.txt"': 'train = "../../tiny/train.txt"'},
        f"local.splits.test = '{conll_dir / 'test.txt'}'": {'test = "test.txt"': f'test = "{conll_dir / "test.txt"}"'},
        "local.options.doc_files.train = '/etc/hostname'": {
            "options = { pos_column = 1 }": 'options = { pos_column = 1, doc_files = { train = "/etc/hostname", '
                                            'dev = "dev.txt", test = "test.txt" } }'},
    }
    for key, replace in cases.items():
        task = load_task_file(tiny_task(tmp_path, **replace))
        with pytest.raises(ConfigError) as exc:
            load_task_data(task, data_dir=data, allow_hub=False)
        assert str(exc.value).startswith(f"{tmp_path / 'tiny.toml'}: {key} leads outside the data folder {data}")
        assert "allow_outside_data_dir = true" in str(exc.value)


def test_a_symlink_out_of_the_data_dir_is_refused_unless_the_task_allows_it(tmp_path: Path, conll_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tiny").symlink_to(conll_dir)  # conll_dir is tmp_path/tiny, outside tmp_path/data
    task = load_task_file(tiny_task(tmp_path))
    with pytest.raises(ConfigError, match=r"local.folder = 'tiny' leads outside the data folder .*\(to .*/tiny\)"):
        load_task_data(task, data_dir=data, allow_hub=False)
    allowed = load_task_file(tiny_task(tmp_path, **{"[local]\n": "[local]\nallow_outside_data_dir = true\n"}))
    assert allowed.local is not None and allowed.local.allow_outside_data_dir
    assert load_task_data(allowed, data_dir=data, allow_hub=False).splits["train"].sentences


def test_the_shipped_data_folder_is_a_boundary_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NERBENCH_DATA_DIR", raising=False)
    task = load_task_file(tiny_task(tmp_path, **{'folder = "tiny"': 'folder = "../../bench"'}))
    with pytest.raises(ConfigError, match=r"local.folder = '../../bench' leads outside the data folder"):
        load_task_data(task, allow_hub=False)
    wnut = load_task_data(load_task_file(Path(__file__).parent.parent / "tasks" / "wnut17.toml"), allow_hub=False)
    assert wnut.source.startswith("embedded:")


# --------------------------------------------------------------------------- 4. one folder read twice


def test_a_results_dir_named_twice_or_through_a_symlink_is_read_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "raw"
    put(raw, crf_result(), "toy/crf/seed13-test.json")
    (tmp_path / "link").symlink_to(raw)
    for dirs in ([raw, raw], [raw, tmp_path / "link"], [raw, raw / "toy"]):
        assert main(["report", "--json", *(a for d in dirs for a in ("--results-dir", str(d)))]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [(r["system"], r["n_seeds"], r["f1_std"]) for r in rows] == [("crf", 1, None)]


def test_two_files_of_one_cell_are_an_error_naming_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = put(tmp_path / "a" / "raw", crf_result(), "toy/crf/seed13-test.json")
    second = put(tmp_path / "b" / "raw", crf_result(), "toy/crf/seed13-test.json")
    assert main(["report", "--results-dir", str(tmp_path / "a" / "raw"), "--results-dir", str(tmp_path / "b" / "raw"),
                 "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert f"error: {first} and {second} are results of the same cell (task toy, system crf, split test, seed 13" in err
    assert "nothing was written" in err
    assert not (tmp_path / "a" / "README.md").exists() and not (tmp_path / "a" / "index.html").exists()


# --------------------------------------------------------------------------- 9. wrongly typed results


def _set(r: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        r = r[p]
    r[last] = value


@pytest.mark.parametrize(("field", "value"), [
    ("seed", "abc"),
    ("seed", True),
    ("split", 3),
    ("metrics", ["not", "a", "dict"]),
    ("task", 3),
    ("system.kind", ["crf"]),
    ("system.model", 7),
    ("cell_key.data_fingerprint", ["unhashable"]),
    ("task.version", {"v": 1}),
    ("metrics.conlleval.micro.f1", "0.9"),
    ("metrics.conlleval.per_type", ["PER"]),
    ("metrics.conlleval.per_type.PER", 0.5),
    ("metrics.main.ci_low", "low"),
    ("metrics.main.ci", "sentence"),
    ("cost.train_wall_seconds", "12 s"),
    ("unit_counts.conlleval", [[1, 2]]),
    ("unit_counts.ids", "d0"),
    ("metrics.analysis.error_types.overall", ["correct"]),
    ("metrics.analysis.seen_unseen.seen.f1", "high"),
    ("metrics.analysis.length.1", 3),
    ("metrics.analysis.confusion.PER", {"PER": "one"}),
    ("metrics.analysis.examples", ["d"]),
    ("metrics.analysis.examples.missed", [["d", "LOC", "six"]]),
    ("metrics.analysis.examples.spurious", [["d", "<b>", 1]]),
    ("metrics.analysis.examples.kept", "20"),
    ("task.reference", "a paper"),
    ("task.reference", [{"system": "p", "split": "test", "metric": "f1", "value": "0.9", "source": "s"}]),
    ("task.reference", [{"system": "p", "split": "test", "metric": "f1", "value": 0.9}]),
])
def test_a_wrongly_typed_result_is_named_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any
) -> None:
    raw = tmp_path / "raw"
    put(raw, crf_result(), "toy/crf/seed13-test.json")
    bad = json.loads(dumps(result("minilm-l6", "transformer", 1, minilm_pred(1), config="cfgA", seconds=600.0)))
    _set(bad, field, value)
    path = put(raw, bad, "toy/minilm-l6/seed1-test.json")
    assert main(["report", "--results-dir", str(raw), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert f"warning: skipped {path}: " in err and len(err.strip().splitlines()) == 1, err
    md = (tmp_path / "README.md").read_text()
    assert "| crf |" in md and "minilm-l6" not in md


def test_a_full_disk_while_writing_a_plot_is_one_error_and_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from bench import report
    from bench.errors import NerbenchError

    pytest.importorskip("matplotlib")
    plt = report._pyplot()
    fig = plt.figure()
    real = fig.savefig

    def full(path: Any, **kwargs: Any) -> None:
        real(path, **kwargs)  # something is written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fig, "savefig", full)
    paths = [tmp_path / "t-f1.png", tmp_path / "t-f1.svg"]
    with pytest.raises(NerbenchError, match=r"t-f1\.png: cannot write the figure: No space left on device"):
        report._save(fig, paths)
    assert list(tmp_path.iterdir()) == []
