"""The report: numbers worked out by hand from results the test builds with the real scorer, and the Markdown
against a committed golden file.

The golden test only compares. After a deliberate change to the report, regenerate the file and review
the diff before committing it::

    python -m tests.test_report
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.data.types import Sentence
from bench.metrics import bootstrap_ci_seeds, holm
from bench.scoring import score_split
from bench.spec import LocalSource, ReferenceResult, TaskSpec
from bench.versions import SCORER_VERSION, system_version

GOLDEN = Path(__file__).parent / "golden" / "report.md"

SPEC = TaskSpec(
    name="toy", version="1", language="en", domain="tests", entity_types=("PER", "LOC", "ORG"), scheme="IOB2",
    licence="x", description="A toy task.", hub=None,
    local=LocalSource(folder="toy", format="conll", splits={"train": "a", "test": "b"}),
    reference=(ReferenceResult(system="paper", split="test", metric="conlleval_f1", value=0.9, source="a paper"),),
)

# 4 documents of 2 sentences, 3 gold entities per sentence: PER(0,2) LOC(3,4) ORG(5,6) -> 24 gold entities.
GOLD = ("B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG")
MISS_LOC = ["B-PER", "I-PER", "O", "O", "O", "B-ORG"]  # (tp, fp, fn) = (2, 0, 1) in both modes
STRAY = ["O", "I-PER", "O", "B-LOC", "O", "B-ORG"]  # conlleval opens PER(1,2): (2, 1, 1); strict: (2, 0, 1)
SENTENCES = [Sentence(tuple("abcdef"), GOLD, doc_id=f"d{i // 2}") for i in range(8)]
# The train split, for seen/unseen: PER "a b" is seen (case-folded), LOC "d" is not (train has it as ORG), nor ORG "f".
TRAIN = [Sentence(("A", "B", "x"), ("B-PER", "I-PER", "O")), Sentence(("d",), ("B-ORG",))]


def crf_pred() -> list[list[str]]:
    """Document d0 (sentences 0, 1) with a stray I-PER, the other six sentences miss LOC.

    conlleval: 2 x (2,1,1) + 6 x (2,0,1) = tp 16, fp 2, fn 8 -> F1 32/42 = 16/21
    strict:    8 x (2,0,1)               = tp 16, fp 0, fn 8 -> F1 32/40 = 0.8; 2 invalid tags
    seen (PER "a b"):   tp 6, fp 0, fn 2 (the two PER cut to "b")           -> F1 12/14 = 6/7
    unseen (LOC, ORG):  tp 2 x 2 + 6 ORG = 10, fp 2 (PER "b"), fn 6 (LOC)   -> F1 20/28 = 5/7
    error types: correct 16, wrong boundaries 2 (PER(1,2) for PER(0,2)), missed 6 (LOC), spurious 0
    """
    return [list(STRAY)] * 2 + [list(MISS_LOC)] * 6


def minilm_pred(seed: int) -> list[list[str]]:
    """The first ``seed`` sentences miss LOC, the rest are right: tp 24 - seed, fn seed -> F1 (48 - 2s) / (48 - s).

    Seen (PER): all 8 right -> F1 1; unseen (16 LOC and ORG): tp 16 - s, fn s -> F1 (32 - 2s) / (32 - s).
    """
    return [list(MISS_LOC) if i < seed else list(GOLD) for i in range(8)]


MINILM_F1 = {1: 46 / 47, 2: 44 / 46, 3: 42 / 45}
MINILM_UNSEEN_F1 = {1: 30 / 31, 2: 28 / 30, 3: 26 / 29}


def result(system: str, kind: str, seed: int, pred: list[list[str]], *, config: str, seconds: float,
           fingerprint: str = "f00d", train: bool = True) -> dict[str, Any]:
    metrics, unit_counts = score_split(SPEC, SENTENCES, pred, n_resamples=200, seed=seed,
                                       train=TRAIN if train else None)
    return {
        "schema_version": 2,
        "task": {"name": "toy", "version": "1", "fingerprint": fingerprint},
        "system": {"name": system, "kind": kind, "model": None if kind == "crf" else "minilm-l6",
                   "config_hash": config},
        "seed": seed, "split": "test", "metrics": metrics, "unit_counts": unit_counts,
        "cost": {"train_wall_seconds": seconds + seed, "train_tokens_per_second": 1000.0 * seed,
                 "peak_rss_mb": 900.0, "gpu": {"available": False}},
        "prediction": {"sentences_per_second": 50.0},
        "training": {"device": "cpu"},
        "environment": {"git": {"sha": "0123456789abcdef", "dirty": False}, "cpu": "Test CPU", "cpu_count": 2},
        "cell_key": {"task": "toy", "task_version": "1", "data_fingerprint": fingerprint, "system": system,
                     "system_config_hash": config, "seed": seed, "scorer_version": SCORER_VERSION,
                     "system_version": system_version(kind)},
    }


def old_result() -> dict[str, Any]:
    """A result as nerbench wrote it before scorer version 2: strict main score, no unit counts, no versions."""
    return {
        "schema_version": 1,
        "task": {"name": "toy", "version": "1", "fingerprint": "f00d"},
        "system": {"name": "bert-old", "kind": "transformer", "model": "bert-base-cased", "config_hash": "0ld"},
        "seed": 1, "split": "test",
        "metrics": {"main": {"name": "strict_f1", "value": 0.5, "ci_low": 0.4, "ci_high": 0.6},
                    "strict": {"micro": {"f1": 0.5}}, "lenient": {"micro": {"f1": 0.25}},
                    "counts": {"invalid_pred_tags": 3}},
        "sentence_counts": [[0, 0, 0]] * 8,
        "cost": {}, "environment": {"git": {"sha": "0123456789abcdef", "dirty": False}, "cpu": "Test CPU",
                                    "cpu_count": 2},
        "cell_key": {"task": "toy", "task_version": "1", "data_fingerprint": "f00d", "system": "bert-old",
                     "system_config_hash": "0ld", "seed": 1},
    }


def make_results() -> list[dict[str, Any]]:
    return [
        result("crf", "crf", 13, crf_pred(), config="crf1", seconds=12.0),
        *(result("minilm-l6", "transformer", s, minilm_pred(s), config="cfgA", seconds=600.0) for s in (1, 2, 3)),
        # scored without the train split: no seen/unseen part
        result("minilm-l6", "transformer", 1, minilm_pred(0), config="cfgB", seconds=900.0, train=False),
        old_result(),
    ]


class Catalog(dict):
    def get(self, name: str) -> TaskSpec:  # type: ignore[override]
        return self[name]


def render_golden() -> str:
    return report.render(make_results(), catalog=Catalog(toy=SPEC), plots="plots")


def test_report_matches_golden_file() -> None:
    assert render_golden() == GOLDEN.read_text(encoding="utf-8"), (
        "the report changed: if that was meant, run `python -m tests.test_report` and review the diff")


def rows_by_label() -> dict[str, dict[str, Any]]:
    return {(f"{r['system']} ({r['variant']})" if r["variant"] else r["system"]): r
            for r in report.json_rows(make_results())}


def test_json_rows_carry_hand_computed_numbers() -> None:
    rows = rows_by_label()
    assert sorted(rows) == ["bert-old", "crf", "minilm-l6 (config cfgA)", "minilm-l6 (config cfgB)"]
    crf = rows["crf"]
    assert crf["main_metric"] == "conlleval_f1"
    assert (crf["f1_mean"], crf["strict_f1_mean"], crf["f1_std"]) == (16 / 21, 0.8, None)
    assert (crf["invalid_tags"], crf["n_seeds"], crf["seeds"], crf["stale"], crf["stale_reasons"]) == (2, 1, [13], False, [])
    assert (crf["ci_unit"], crf["ci_units"], crf["mixed"], crf["variant"]) == ("document", 4, False, "")
    assert (crf["system_config_hash"], crf["scorer_version"]) == ("crf1", SCORER_VERSION)
    a = rows["minilm-l6 (config cfgA)"]
    f1s = [MINILM_F1[s] for s in (1, 2, 3)]
    assert a["f1_mean"] == pytest.approx(statistics.fmean(f1s), rel=1e-15)
    assert a["f1_std"] == pytest.approx(statistics.stdev(f1s), rel=1e-12)
    assert a["strict_f1_mean"] == a["f1_mean"] and a["invalid_tags"] == 0  # no stray tags: both modes agree
    assert (a["n_seeds"], a["seeds"], a["mixed"]) == (3, [1, 2, 3], True)
    b = rows["minilm-l6 (config cfgB)"]
    assert (b["f1_mean"], b["n_seeds"], b["f1_std"], b["ci_low"], b["ci_high"]) == (1.0, 1, None, 1.0, 1.0)
    for key in ("train_seconds_mean", "tokens_per_second_mean", "peak_gpu_mib", "peak_rss_mib", "energy_wh_mean",
                "predict_sentences_per_second_mean"):
        assert key in crf
    assert a["train_seconds_mean"] == 602.0 and crf["train_seconds_mean"] == 25.0


def test_ci_is_the_bootstrap_of_the_seed_averaged_score_over_documents() -> None:
    results = make_results()
    # per document (2 sentences each) for minilm seed s: the first s sentences miss LOC
    #   seed 1: d0 (5,0,1), d1..d3 (6,0,0);  seed 2: d0 (4,0,2);  seed 3: d0 (4,0,2), d1 (5,0,1)
    tables = {1: [[5, 0, 1], [6, 0, 0], [6, 0, 0], [6, 0, 0]], 2: [[4, 0, 2], [6, 0, 0], [6, 0, 0], [6, 0, 0]],
              3: [[4, 0, 2], [5, 0, 1], [6, 0, 0], [6, 0, 0]]}
    for r in results[1:4]:
        assert r["unit_counts"]["ids"] == ["d0", "d1", "d2", "d3"]
        assert r["unit_counts"]["conlleval"] == tables[r["seed"]]
    row = rows_by_label()["minilm-l6 (config cfgA)"]
    expected = bootstrap_ci_seeds([tables[s] for s in (1, 2, 3)], n_resamples=report.N_RESAMPLES,
                                  seed=report.BOOTSTRAP_SEED)
    assert (row["ci_low"], row["ci_high"]) == expected
    assert row["ci_low"] <= row["f1_mean"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    assert (row["ci_unit"], row["ci_units"], row["ci_note"]) == ("document", 4, "")


def test_grouping_by_cell_key_never_mixes_configurations_or_data() -> None:
    results = make_results()
    moved = copy.deepcopy(results[0])  # the same CRF run, but on other data
    moved["seed"] = 14
    moved["cell_key"].update(data_fingerprint="beef", seed=14)
    groups = report.group_results([*results, moved])["toy"]["test"]
    for g in groups:  # one configuration, one data version, one scorer per group
        for k in report.KEY_FIELDS:
            assert len({str(r["cell_key"].get(k)) for r in g.results}) == 1
    assert sorted((g.label, tuple(g.seeds)) for g in groups) == [
        ("bert-old", (1,)), ("crf (data beef)", (14,)), ("crf (data f00d)", (13,)),
        ("minilm-l6 (config cfgA)", (1, 2, 3)), ("minilm-l6 (config cfgB)", (1,))]
    notes = report.leaderboard_notes(report.leaderboard_rows(groups))
    assert any(n.startswith("mixed: crf has 2 configurations") for n in notes)
    assert any(n.startswith("mixed data: these rows were scored on 2 different data versions") for n in notes)
    rows, sig_notes = report.significance_rows(groups)
    assert {r["vs"] for r in rows} == {"crf (data f00d)"}  # never tested against the CRF on other data
    assert any("vs crf (data beef): not tested, different data fingerprint" in n for n in sig_notes)


def test_significance_is_seed_averaged_two_sided_and_holm_corrected() -> None:
    groups = report.group_results(make_results())["toy"]["test"]
    rows, notes = report.significance_rows(groups)
    by = {r["system"]: r for r in rows}
    assert sorted(by) == ["minilm-l6 (config cfgA)", "minilm-l6 (config cfgB)"]
    a, b = by["minilm-l6 (config cfgA)"], by["minilm-l6 (config cfgB)"]
    # delta = mean over the system's seeds - the CRF's F1 (one seed, 16/21)
    assert a["delta"] == pytest.approx(statistics.fmean(MINILM_F1.values()) - 16 / 21, rel=1e-12)
    assert b["delta"] == pytest.approx(1 - 16 / 21, rel=1e-12)
    assert (a["seeds"], a["crf_seeds"], a["better"], a["of"]) == (3, 1, 3, 3)
    assert (b["better"], b["of"], a["unit"], a["units"]) == (1, 1, "document", 4)
    # with +1 smoothing p is never 0; Holm over the 2 comparisons of the table
    assert all(1 / (1 + report.N_RESAMPLES) <= r["p"] <= 1 for r in rows)
    assert [r["p_holm"] for r in rows] == holm([r["p"] for r in rows])
    assert a["delta_ci_low"] <= a["delta"] <= a["delta_ci_high"]
    # the pre-v2 result has other scoring: not compared, and said so
    assert notes == ["bert-old vs crf: not tested, different scorer version."]


def test_result_from_an_older_scorer_is_shown_stale_without_crashing() -> None:
    row = rows_by_label()["bert-old"]
    # F1 (conlleval) of a pre-v2 result is its "lenient" block; strict stays strict
    assert (row["f1_mean"], row["strict_f1_mean"], row["invalid_tags"]) == (0.25, 0.5, 3)
    assert row["stale"] is True and any("scorer version" in why for why in row["stale_reasons"])
    # its stored CI is of the strict score, so it is not shown as the conlleval CI
    assert (row["ci_low"], row["ci_high"], row["ci_unit"]) == (None, None, None)
    assert row["ci_note"].startswith("no CI: no per-unit counts")


def test_plots_are_written(tmp_path: Path) -> None:
    written = report.plot(make_results(), tmp_path)
    assert sorted(p.name for p in written) == [
        "toy-error-types.png", "toy-error-types.svg", "toy-f1-vs-cost.png", "toy-f1-vs-cost.svg",
        "toy-per-type.png", "toy-per-type.svg", "toy-seen-unseen.png", "toy-seen-unseen.svg"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_error_analysis_in_rows_is_the_seed_mean_of_hand_computed_numbers() -> None:
    rows = rows_by_label()
    crf, a, b, old = rows["crf"], rows["minilm-l6 (config cfgA)"], rows["minilm-l6 (config cfgB)"], rows["bert-old"]
    assert (crf["f1_seen"], crf["f1_unseen"]) == (6 / 7, 5 / 7)  # see crf_pred()
    assert a["f1_seen"] == 1.0
    assert a["f1_unseen"] == pytest.approx(statistics.fmean(MINILM_UNSEEN_F1.values()), rel=1e-15)
    # cfgB was scored without the train split, bert-old before scorer version 3: no seen/unseen ("–")
    assert (b["f1_seen"], b["f1_unseen"], b["analysis"]["seen_unseen"]) == (None, None, None)
    assert (old["f1_seen"], old["analysis"]) == (None, None)
    assert crf["analysis"]["error_types"]["overall"] == {
        "correct": 16, "wrong_type": 0, "wrong_boundaries": 2, "wrong_both": 0, "missed": 6, "spurious": 0}
    assert crf["analysis"]["error_types"]["PER"]["wrong_boundaries"] == 2  # PER(1,2) for PER(0,2), twice
    # cfgA seed s misses s LOC entities: mean missed (1 + 2 + 3) / 3 = 2 of 24
    assert (a["analysis"]["seeds"], a["analysis"]["error_types"]["overall"]["missed"]) == (3, 2)
    assert a["analysis"]["seen_unseen"]["unseen_gold_share"] == 16 / 24
    # lengths: the CRF's 1-word bucket is the unseen part (LOC, ORG and the stray PER "b"), 2 words the PER
    assert (crf["analysis"]["length"]["1"]["f1"], crf["analysis"]["length"]["2"]["f1"]) == (5 / 7, 6 / 7)
    assert crf["analysis"]["length"]["3"]["f1"] is None
    md = render_golden()
    assert "#### Error analysis" in md and "| crf | 0.8571 | 1.0000 | 0.7500 | 0.7143 |" in md


def _toy_data() -> Any:
    from bench.data.load import TaskData
    from bench.data.types import SplitData

    return TaskData(SPEC, {"train": SplitData("train", TRAIN), "test": SplitData("test", SENTENCES)}, "local:toy",
                    "f00d", {})


def _written(tmp_path: Path, system: str, pred: list[list[str]], seed: int = 1) -> tuple[Path, dict[str, Any]]:
    """A result as a run writes it (:func:`bench.runner.score_and_write`), read back."""
    from bench.results import read_result
    from bench.runner import score_and_write

    key = {"task": "toy", "task_version": "1", "data_fingerprint": "f00d", "system": system, "seed": seed,
           "system_config_hash": "c", "scorer_version": SCORER_VERSION, "system_version": system_version("crf")}
    path = score_and_write(_toy_data(), "test", SENTENCES, pred, system={"name": system, "kind": "crf"}, key=key,
                           seed=seed, results_dir=tmp_path, n_resamples=20)
    return path, read_result(path)


def _block_after(md: str, heading: str, para: str) -> list[str]:
    """The lines of ``md`` from the first ``para`` after ``heading`` on."""
    lines = md.splitlines()
    start = lines.index(heading)
    return lines[next(i for i in range(start, len(lines)) if lines[i].startswith(para)):]


def test_published_references_travel_with_the_results_and_sit_beside_the_test_leaderboard(tmp_path: Path) -> None:
    _, r = _written(tmp_path, "crf", crf_pred())
    assert r["task"]["reference"] == [{"system": "paper", "split": "test", "metric": "conlleval_f1", "value": 0.9,
                                       "source": "a paper", "note": ""}]
    published = "Published reference numbers"
    for catalog in (None, Catalog(toy=SPEC)):  # without the task file they come from the results
        md = report.render([r], catalog=catalog)
        assert md.count(published) == 1
        after = _block_after(md, "### test", "| crf |")  # the test leaderboard's row, its legend, then the numbers
        assert after[2].startswith("Columns: ") and after[4].startswith(published), after[:6]
        assert "| paper | test | conlleval_f1 | 0.9000 | a paper |" in md
        assert published in report.render_html([r], catalog=catalog, plots=False)
    # the catalogue entry wins where the report has one; a result written before carries none
    other = dataclasses.replace(SPEC, reference=(ReferenceResult("newer", "test", "conlleval_f1", 0.95, "b"),))
    md = report.render([r], catalog=Catalog(toy=other))
    assert "| newer | test |" in md and "| paper |" not in md
    old = copy.deepcopy(r)
    del old["task"]["reference"]
    assert published not in report.render([old]) and published in report.render([old], catalog=Catalog(toy=SPEC))
    # references of several results are listed once; a dev-only task shows them after its first leaderboard
    dev = copy.deepcopy(r)
    dev.update(split="dev", seed=2)
    md = report.render([dev, {**copy.deepcopy(dev), "seed": 3}])
    assert md.count("| paper | test |") == 1 and md.index("### dev") < md.index(published)


def test_rescore_fills_in_the_examples_and_references_of_an_older_result(tmp_path: Path) -> None:
    """Examples and references change no number, so the scorer version stays: ``nerbench rescore`` adds them."""
    from bench.rescore import rescore_result

    path, fresh = _written(tmp_path, "crf", crf_pred())
    assert fresh["metrics"]["analysis"]["examples"]["missed"] == [["d", "LOC", 6]]
    old = copy.deepcopy(fresh)
    del old["task"]["reference"], old["metrics"]["analysis"]["examples"]
    md = report.render([old])
    assert "spurious mention" not in md and "Published reference numbers" not in md
    assert not report.group_results([old])["toy"]["test"][0].stale  # not stale: nothing to re-run
    again = rescore_result(path, old, _toy_data())
    assert again["metrics"] == fresh["metrics"] and again["task"] == fresh["task"]
    assert again["cell_key"] == fresh["cell_key"]


def test_examples_show_the_most_frequent_spurious_and_missed_mentions_summed_over_seeds() -> None:
    results = make_results()
    a = results[1:4]  # minilm-l6 cfgA: seeds 1, 2, 3 miss LOC "d" 1, 2, 3 times
    assert [r["metrics"]["analysis"]["examples"]["missed"] for r in a] == [[["d", "LOC", s]] for s in (1, 2, 3)]
    spurious = [[f"m{i}", "PER", 12 - i] for i in range(12)] + [["*x* | <b>", "ORG", 1]]
    a[0]["metrics"]["analysis"]["examples"]["spurious"] = spurious[:11]
    a[1]["metrics"]["analysis"]["examples"]["spurious"] = [["*x* | <b>", "ORG", 20]]
    del a[2]["metrics"]["analysis"]["examples"]  # scored before examples were stored: adds nothing
    md = report.render(results, catalog=Catalog(toy=SPEC))
    table = _block_after(md, "#### Error analysis", "minilm-l6 (config cfgA), summed over 2 seeds of 3:")
    assert table[2:4] == ["| # | spurious mention | type | count | missed mention | type | count |",
                          "|--:|---|---|--:|---|---|--:|"]
    # the counts are summed over the seeds; the first 10 of each are shown, the text as written
    assert table[4] == "| 1 | \\*x\\* &#124; &lt;b&gt; | ORG | 20 | d | LOC | 3 |"
    assert table[5] == "| 2 | m0 | PER | 12 |  |  |  |" and table[13] == "| 10 | m8 | PER | 4 |  |  |  |"
    assert table[14] == ""
    crf = _block_after(md, "#### Error analysis", "crf, summed over 1 seed:")
    assert crf[4] == "| 1 | none |  |  | d | LOC | 6 |"  # STRAY's PER "b" is a wrong boundary, not spurious
    assert "minilm-l6 (config cfgB), summed over 1 seed: no spurious or missed mention." in md
    assert "bert-old, summed" not in md  # no analysis at all
    page = report.render_html(results, catalog=Catalog(toy=SPEC), plots=False)
    assert "<td>*x* | &lt;b&gt;</td>" in page and "summed over 2 seeds of 3" in page
    # results written before examples were stored show no examples section, and nothing breaks
    for r in results:
        if isinstance(r["metrics"].get("analysis"), dict):
            r["metrics"]["analysis"].pop("examples", None)
    md = report.render(results, catalog=Catalog(toy=SPEC))
    assert "#### Error analysis" in md and "spurious mention" not in md
    assert next(r for r in report.json_rows(results) if r["system"] == "crf")["analysis"]["examples"] is None


def test_each_leaderboard_says_what_its_columns_mean() -> None:
    md = render_golden()
    for heading in ("### test",):
        legend = _block_after(md, heading, "Columns: ")[0]
        assert "*partial F1*: ignores the entity type" in legend and "*F1 (conlleval)*: entity F1, boundaries " \
            "and type must both be right" in legend
        assert "*official F1*" not in legend  # only the columns the table has
    assert md.count("Columns: ") == 1  # the golden report has one leaderboard (test)
    page = report.render_html(make_results(), catalog=Catalog(toy=SPEC), plots=False)
    assert '<th scope="col" data-type="num" class="num" title="ignores the entity type; a prediction that only ' \
           'overlaps a gold entity counts half (nervaluate)">partial F1</th>' in page


def test_empty_report() -> None:
    assert report.render([]) == "# nerbench results\n\nNo results yet: run `nerbench run`.\n"


if __name__ == "__main__":  # python -m tests.test_report: regenerate the golden file (then review the diff)
    GOLDEN.write_text(render_golden(), encoding="utf-8")
    print(f"wrote {GOLDEN}")
