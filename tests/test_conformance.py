"""Scoring real external predictions exactly as their shared tasks did (skipped without the data).

* eHealth-KD 2020 Task A: every official run in ``ehealthkd2020/submissions/`` gives the correct,
  incorrect, partial, spurious and missing counts and the P/R/F1 of its team's ``results.log``
  (the organisers' scorer output, scenario 2), to the precision printed there.
* WNUT-17: the seven submitted test outputs score without hand editing (CRLF, space or tab
  columns, their own blank lines, one with normalised tokens), every gold token lined up, and give
  the conlleval entity F1 of the shared-task overview; a copy that loses a line is an error naming
  the first line that differs.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from bench import external
from bench.__main__ import main
from bench.catalog import load_catalog
from bench.data.load import TaskData, load_task_data
from bench.errors import DataFormatError
from bench.metrics import official_ehealthkd
from bench.results import read_result
from bench.scoring import score_split

from .conftest import real_data_dir

DATA = real_data_dir()
COUNTS = ("correct", "incorrect", "partial", "spurious", "missing")


@cache
def task_data(name: str) -> TaskData:
    assert DATA is not None
    return load_task_data(load_catalog().get(name), data_dir=DATA, allow_hub=False)


def _folder(name: str) -> Path | None:
    return DATA / name if DATA is not None and (DATA / name).is_dir() else None


def needs(name: str) -> Path:
    folder = _folder(name)
    if folder is None:
        pytest.skip(f"real data not available ({name}; set NERBENCH_DATA_DIR)")
    return folder


# --------------------------------------------------------------------------- eHealth-KD 2020


def ehealthkd_runs() -> list[Path]:
    subs = _folder("ehealthkd2020")
    if subs is None:
        return []
    return sorted((subs / "submissions").glob("*/test/run*/scenario2-taskA"))


def parse_results_log(path: Path) -> dict[str, dict[str, str]]:
    """``{run: {metric: value as printed}}`` of the ``> scenario2`` blocks of an organisers' results.log."""
    out: dict[str, dict[str, str]] = {}
    run = scenario = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := re.search(r"\[ (run\d+) \]", line):
            run = m.group(1)
        elif m := re.match(r"> (scenario\d)", line):
            scenario = m.group(1)
        elif (m := re.match(r"\s+(\w+)\s+[=~]\s+(\S+)$", line)) and scenario == "scenario2" and run:
            out.setdefault(run, {})[m.group(1)] = m.group(2)
    return out


def test_ehealthkd_has_the_19_official_runs() -> None:
    needs("ehealthkd2020")
    runs = ehealthkd_runs()
    assert len(runs) == 19  # SOURCE.md: 8 teams and the baseline, 19 runs in all
    for run in runs:
        team_log = run.parents[2] / "results.log"
        assert run.parent.name in parse_results_log(team_log), f"{run}: no scenario2 block in {team_log}"


@pytest.mark.parametrize("run", ehealthkd_runs() or [None], ids=lambda r: f"{r.parents[2].name}-{r.parent.name}" if r else "no-data")
def test_ehealthkd_run_reproduces_its_results_log(run: Path | None) -> None:
    needs("ehealthkd2020")
    assert run is not None
    expected = parse_results_log(run.parents[2] / "results.log")[run.parent.name]
    data = task_data("ehealthkd2020")
    preds = external.read_predictions(run, data, "test")
    metrics, _ = score_split(data.task, data.sentences("test"), preds.tags, n_resamples=10, pred_spans=preds.spans)
    got = metrics["spans"]["official"]
    assert {k: got[k] for k in COUNTS} == {k: int(expected[f"{k}_A"]) for k in COUNTS}
    # results.log prints floats with "{:0.4}" (4 significant digits)
    exact = official_ehealthkd(*(got[k] for k in ("correct", "incorrect", "partial", "spurious", "missing")))
    for metric in ("f1", "precision", "recall"):
        assert f"{got[metric]:0.4}" == expected[metric]
        assert got[metric] == pytest.approx(exact[metric], abs=1e-12)


def test_ehealthkd_best_run_through_the_cli(tmp_path: Path) -> None:
    folder = needs("ehealthkd2020")
    run = folder / "submissions" / "SINAI" / "test" / "run3" / "scenario2-taskA"
    assert main(["score", "--task", "ehealthkd2020", "--data-dir", str(DATA), "--no-hub", "--bootstrap", "20",
                 "--results-dir", str(tmp_path), "--predictions", str(run), "--system", "SINAI"]) == 0
    r = read_result(tmp_path / "ehealthkd2020" / "SINAI" / "seed0-test.json")
    official = r["metrics"]["spans"]["official"]
    assert {k: official[k] for k in COUNTS} == {"correct": 432, "incorrect": 24, "partial": 33, "spurious": 42,
                                                "missing": 67}
    assert f"{official['f1']:0.4}" == "0.8252"  # SOURCE.md and the task's reference number
    assert r["system"]["kind"] == "external" and r["seed"] == 0


# --------------------------------------------------------------------------- WNUT-17

WNUT17_SUBMISSIONS = ("arcada", "drexel_cci", "flytxt", "mic-cis.txt", "sjtu_adapt.txt", "spinningbytes.txt",
                      "uh_ritual")
# Entity-level F1 (conlleval, in %) as published by the teams themselves, in their system papers'
# abstracts: UH-RiTUAL (Aguilar et al. 2017, W17-4419) and SpinningBytes (von Däniken & Cieliebak 2017).
# The other five are only checked to line up and score; their published numbers were not verified here.
WNUT17_PUBLISHED_F1 = {"spinningbytes.txt": 40.78, "uh_ritual": 41.86}
WNUT17_TEST_TOKENS = 23394  # SOURCE.md


def test_wnut17_has_the_seven_submissions() -> None:
    folder = needs("wnut17")
    assert sorted(p.name for p in (folder / "submissions").iterdir()) == sorted(WNUT17_SUBMISSIONS)


@pytest.mark.parametrize("name", WNUT17_SUBMISSIONS)
def test_wnut17_submission_scores_without_hand_editing(name: str) -> None:
    folder = needs("wnut17")
    data = task_data("wnut17")
    preds = external.read_predictions(folder / "submissions" / name, data, "test")
    assert preds.format == "conll"
    assert preds.stats["tokens_aligned"] == preds.stats["gold_tokens"] == WNUT17_TEST_TOKENS
    metrics, _ = score_split(data.task, data.sentences("test"), preds.tags, n_resamples=10)
    f1 = metrics["conlleval"]["micro"]["f1"]
    assert metrics["main"]["value"] == f1 and 0.2 < f1 < 0.5  # a sanity band: a file out of step with the gold scores near 0
    if name in WNUT17_PUBLISHED_F1:
        assert round(100 * f1, 2) == WNUT17_PUBLISHED_F1[name]


def test_wnut17_normalised_tokens_are_substitutions() -> None:
    # mic-cis wrote its own normalised tokens (gt -> get, URLs -> url) one per gold token
    folder = needs("wnut17")
    preds = external.read_predictions(folder / "submissions" / "mic-cis.txt", task_data("wnut17"), "test")
    assert preds.stats["substituted_tokens"] == 1283
    assert "line 2: 'get' for 'gt'" in preds.notes[0]
    with pytest.raises(DataFormatError, match=r"mic-cis.txt:2: token 'get' does not line up with the gold: "
                                              r"expected 'gt'"):
        external.read_predictions(folder / "submissions" / "mic-cis.txt", task_data("wnut17"), "test",
                                  exact_tokens=True)


def _copy_without_line(src: Path, dst: Path, line: int) -> None:
    lines = src.read_bytes().split(b"\n")
    del lines[line - 1]
    dst.write_bytes(b"\n".join(lines))


def test_wnut17_misaligned_copy_names_the_first_differing_line(tmp_path: Path) -> None:
    folder = needs("wnut17")
    gold_lines = (folder / "emerging.test.annotated").read_text(encoding="utf-8").split("\n")
    line = 1000
    assert gold_lines[line - 1].split("\t")[0] != gold_lines[line].split("\t")[0]
    copy = tmp_path / "arcada"
    _copy_without_line(folder / "submissions" / "arcada", copy, line)
    with pytest.raises(DataFormatError) as exc:
        external.read_predictions(copy, task_data("wnut17"), "test")
    expected = gold_lines[line - 1].split("\t")[0]
    found = gold_lines[line].split("\t")[0]
    assert str(exc.value).startswith(
        f"{copy}:{line}: token {found!r} does not line up with the gold: expected {expected!r} "
        f"(gold {folder / 'emerging.test.annotated'}:{line})"
    )


def test_wnut17_misaligned_copy_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = needs("wnut17")
    copy = tmp_path / "uh_ritual"
    _copy_without_line(folder / "submissions" / "uh_ritual", copy, 5)
    assert main(["score", "--task", "wnut17", "--data-dir", str(DATA), "--no-hub", "--results-dir",
                 str(tmp_path / "raw"), "--predictions", str(copy), "--system", "uh_ritual"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {copy}:5: token 'soldier' does not line up with the gold: "
                                              "expected 'The'")
    assert not (tmp_path / "raw").exists()
