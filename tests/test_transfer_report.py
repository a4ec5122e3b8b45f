"""The report's "Out of domain" section on results the test builds with the real scorer: in-domain F1 on the
shared types, out-of-domain F1, the drop with its CI from independent resamples of the two test sets, the
paired test against the CRF on the eval split with Holm over the rows, seen/unseen, left-out counts; in
Markdown, ``report --json`` and HTML; and the leaderboards never see these results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import report
from bench.data.types import Sentence
from bench.metrics import BOOTSTRAP_SEED, holm, paired_bootstrap_seeds, resampled_f1
from bench.report.transfer import IN_DOMAIN_RESAMPLE_SEED, drop_ci, pair_rows, transfer_pairs
from bench.results import validate
from bench.spec import LocalSource, TaskSpec
from bench.transfer_scoring import mapping_text, score_in_types, shared_types
from bench.versions import SCORER_VERSION, system_version


def spec(name: str, types: tuple[str, ...]) -> TaskSpec:
    return TaskSpec(name=name, version="1", language="en", domain="tests", entity_types=types, scheme="IOB2",
                    licence="x", local=LocalSource(folder=name, format="conll", splits={"train": "a", "test": "b"}))


NEWS = spec("news", ("PER", "ORG", "LOC", "MISC"))
SOCIAL = spec("social", ("person", "corporation", "group", "product"))
TYPES = {"person": "PER", "corporation": "ORG", "group": "ORG"}
HOME = [Sentence(("Ann", "at", "Acme", "in", "Rome", "x"), ("B-PER", "O", "B-ORG", "O", "B-LOC", "B-MISC"),
                 doc_id=f"d{i // 3}") for i in range(60)]  # 20 documents
AWAY = [Sentence(("Ann", "likes", "Zed", "and", "Fans", "iPod"), ("B-person", "O", "B-corporation", "O", "B-group",
                                                                   "B-product")) for _ in range(40)]
TRAIN = [Sentence(("Ann", "Acme"), ("B-PER", "B-ORG"))]
SHARED = shared_types(TYPES)  # LOC is not reached by the mapping: left out in-domain


def result(system: str, kind: str, seed: int, home_right: int, away_right: int, types: dict[str, str] = TYPES,
           train_fp: str = "fp-news") -> dict[str, Any]:
    """An out-of-domain result: the system gets the first ``home_right`` in-domain and ``away_right`` eval
    sentences right (finding every entity, MISC too), and nothing in the rest."""
    home_pred = [list(s.tags) if i < home_right else ["O"] * 6 for i, s in enumerate(HOME)]
    away_pred = [["B-PER", "O", "B-ORG", "O", "B-ORG", "B-MISC"] if i < away_right else ["O"] * 6
                 for i in range(len(AWAY))]
    keep = shared_types(types)
    metrics, counts, left = score_in_types(SOCIAL, AWAY, away_pred, gold_types=types, keep=keep, train=TRAIN,
                                           n_resamples=20)
    home_metrics, home_counts, home_left = score_in_types(NEWS, HOME, home_pred, gold_types={t: t for t in keep},
                                                          keep=keep, train=TRAIN, n_resamples=20)
    key = {"task": "social", "task_version": "1", "data_fingerprint": "fp-social", "system": system,
           "system_config_hash": f"cfg-{system}", "seed": seed, "scorer_version": SCORER_VERSION,
           "system_version": system_version(kind), "transfer_from": "news", "transfer_from_version": "1",
           "transfer_from_fingerprint": train_fp, "transfer_from_cell_key": f"k{seed}",
           "type_mapping": mapping_text(types), "transfer_version": 1}
    r = {"schema_version": 2, "task": {"name": "social", "version": "1", "fingerprint": "fp-social"},
         "system": {"name": system, "kind": kind, "model": None, "config_hash": f"cfg-{system}",
                    "deterministic": kind == "crf"},
         "seed": seed, "split": "test", "metrics": metrics, "unit_counts": counts, "cost": {}, "cell_key": key,
         "environment": {"git": {"sha": "abc", "dirty": False}},
         "transfer": {"train_task": "news", "eval_task": "social", "types": types, "shared_types": keep,
                      "left_out": left, "notes": ["a note"] if kind == "crf" else [],
                      "in_domain": {"metrics": home_metrics, "unit_counts": home_counts, "left_out": home_left}}}
    return validate(r, where="test")


def results() -> list[dict[str, Any]]:
    return [result("crf", "crf", 1, 50, 20),
            *(result("minilm", "transformer", s, 52 + s, 30 + s) for s in (1, 2, 3)),
            result("lookup", "lookup", 1, 40, 5)]


def test_drop_is_in_domain_minus_out_of_domain_with_independent_resamples() -> None:
    (pair,) = transfer_pairs(results())
    assert [g.system for g in pair.groups] == ["crf", "lookup", "minilm"]
    minilm = pair.groups[2]
    d = drop_ci(minilm, n_resamples=200)
    home = [r["transfer"]["in_domain"]["metrics"]["main"]["value"] for r in minilm.results]
    away = [r["metrics"]["main"]["value"] for r in minilm.results]
    assert d["in_domain_f1"] == pytest.approx(np.mean(home)) and d["drop"] == pytest.approx(np.mean(home) - np.mean(away))
    # the CI by hand: each side's units resampled on its own stream, every seed scored on the draw and averaged
    home_t = [[tuple(x) for x in r["transfer"]["in_domain"]["unit_counts"]["conlleval"]] for r in minilm.results]
    away_t = [[tuple(x) for x in r["unit_counts"]["conlleval"]] for r in minilm.results]
    _, (rh,) = resampled_f1([home_t], n_resamples=200, seed=IN_DOMAIN_RESAMPLE_SEED)
    _, (ra,) = resampled_f1([away_t], n_resamples=200, seed=BOOTSTRAP_SEED)
    assert d["drop_ci_low"] == pytest.approx(np.quantile(rh - ra, 0.025))
    assert d["drop_ci_high"] == pytest.approx(np.quantile(rh - ra, 0.975))
    assert d["drop_ci_low"] < d["drop"] < d["drop_ci_high"]
    assert d["in_domain_ci_low"] <= d["in_domain_f1"] <= d["in_domain_ci_high"]


def test_rows_test_against_the_crf_on_the_eval_split_with_holm_over_the_rows() -> None:
    (pair,) = transfer_pairs(results())
    rows, notes = pair_rows(pair)
    by = {r["system"]: r for r in rows}
    assert by["crf"]["vs_crf"] is None
    crf, lookup, minilm = pair.groups
    expected = [paired_bootstrap_seeds([[tuple(x) for x in r["unit_counts"]["conlleval"]] for r in crf.results],
                                       [[tuple(x) for x in r["unit_counts"]["conlleval"]] for r in g.results],
                                       n_resamples=1000, seed=BOOTSTRAP_SEED) for g in (lookup, minilm)]
    assert by["minilm"]["vs_crf"]["delta"] == pytest.approx(expected[1]["delta"])
    assert [by[s]["vs_crf"]["p_holm"] for s in ("lookup", "minilm")] == holm([e["p_value"] for e in expected])
    assert by["minilm"]["vs_crf"]["delta"] > 0 and by["lookup"]["vs_crf"]["delta"] < 0
    # left out: the eval split's product mentions (gold) and the MISC predictions; in-domain LOC and MISC
    assert by["minilm"]["left_out_gold"] == {"product": 40}
    assert by["minilm"]["left_out_predicted"] == {"MISC": pytest.approx(np.mean([31, 32, 33]))}
    assert by["crf"]["in_domain_left_out_gold"] == {"LOC": 60, "MISC": 60}
    # seen/unseen against the training corpus (Ann as PER, Acme as ORG): the eval split's Ann is seen, Zed and
    # Fans are not
    away = pair.groups[2].results[0]["metrics"]["analysis"]["seen_unseen"]
    assert (away["seen"]["gold"], away["unseen"]["gold"]) == (40, 80)
    assert by["minilm"]["f1_seen"] is not None and by["minilm"]["f1_unseen"] is not None
    assert by["minilm"]["n_seeds"] == 3 and by["crf"]["notes"] == ["a note"] and "crf: a note." in notes


def test_the_section_in_markdown_json_and_html_and_not_in_the_leaderboards() -> None:
    rs = results()
    md = report.render(rs)
    assert "## Out of domain" in md and "### news → social" in md
    assert "| crf † | 1 |" in md and "| minilm | 3 |" in md
    assert "Left out (gold mentions of social's test split): product 40" in md
    assert "\n## social" not in md and "\n## news" not in md  # no leaderboard of either task
    assert report.json_rows(rs) == []
    rows = report.transfer_json_rows(rs)
    assert {r["row"] for r in rows} == {"transfer"} and len(rows) == 3
    report.check_one_file_per_cell([(f"f{i}", r) for i, r in enumerate(rs)])
    links = {id(r): f"social/{r['system']['name']}/from-news/seed{r['seed']}-test.json" for r in rs}
    home = {**rs[0], "task": {**rs[0]["task"], "name": "news"}, "cell_key": {
        k: v for k, v in rs[0]["cell_key"].items() if not k.startswith(("transfer", "type"))}}
    home.pop("transfer")  # an in-domain result, so that the page has its summary and contents
    assert [r["system"] for r in report.json_rows([*rs, home])] == ["crf"]
    page = report.render_html([*rs, home], result_links=links, plots=False)
    assert 'id="out-of-domain"' in page and 'href="#out-of-domain"' in page
    assert 'href="social/crf/from-news/seed1-test.json"' in page  # a one-seed group links its file
    assert "news → social minilm" in page  # the section's list of result files


def test_two_mappings_of_one_pair_are_two_tables() -> None:
    other = {"person": "PER"}
    rs = results() + [result("crf", "crf", 1, 50, 20, types=other), result("minilm", "transformer", 1, 53, 31,
                                                                            types=other)]
    pairs = transfer_pairs(rs)
    assert len(pairs) == 2 and pairs[0].title != pairs[1].title
    assert all(p.title.startswith("news → social (") for p in pairs)
    assert {len(p.groups) for p in pairs} == {2, 3}
