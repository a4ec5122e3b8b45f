"""Entity-level scoring shared by every system, with each mode named in the output.

Every system (CRF, transformers, external predictions) is scored by these functions, so their
numbers can be compared.

* **Main score**: conlleval-compatible entity micro F1 over word-level IOB2 tags: seqeval's *default*
  mode, which reads tags the way ``conlleval.pl`` does. A stray ``I-X`` (after ``O``, at sentence
  start, after another type) **opens** an entity, so ill-formed output is counted as a prediction and
  pays precision when it is wrong. Every published CoNLL, WNUT and BC5CDR number is a conlleval number.
* Beside it: seqeval *strict* IOB2 (``mode="strict", scheme=IOB2``), where an entity is ``B-X I-X*``
  and nothing else and a stray ``I-X`` is no entity at all; the number of such invalid ``I-`` tags
  (predicted and gold); macro and per-type P/R/F1 for both modes; token accuracy (not an NER score);
  and nervaluate's four schemes (strict, exact, partial, ent_type) on the **conlleval** entities, so
  nervaluate's ``strict`` counts equal the main score's TP/FP/FN.
* Span tasks (BRAT): the original character spans, discontinuous entities included, scored with
  eHealth-KD 2020's official Task A rule (partial = 0.5) and with exact-span P/R/F1.
* Uncertainty: percentile bootstrap CIs and a paired bootstrap test that work from per-unit
  ``(tp, fp, fn)`` counts (a unit is a document where the task knows its documents, else a sentence).
  With several training seeds, each resample draws the units once and averages all seeds' F1 on
  them, so the interval is one of the *seed-averaged* score. Counts make this fast, and the report
  reruns it from stored counts without the predictions. :func:`holm` corrects a table of p-values.

Every public function returns plain dicts, lists, ints and floats, **unrounded**: floats are stored
exactly and rounded only for display. A score that is undefined (seqeval's macro average when no
entity type occurs at all) is NaN; ``bench.results`` writes NaN and infinities as ``null``, the one
place that rule lives. Zero divisions in micro scores are 0.0, as in seqeval with ``zero_division=0``.

Where each part lives (every public name is imported from here; the modules are its implementation):

* :mod:`bench.metrics_counts`: tag validation, the two readings (``conlleval``, ``strict``), per-sentence
  ``(tp, fp, fn)`` counts, their sums per unit and micro F1 from counts;
* :mod:`bench.metrics_tags`: :func:`score_tags`, every word-level score of a split (seqeval, nervaluate);
* :mod:`bench.metrics_spans`: span scoring (eHealth-KD 2020 Task A and exact spans);
* :mod:`bench.metrics_uncertainty`: bootstrap CIs, the paired bootstrap test, :func:`holm` and
  :func:`summarize_seeds`.
"""

from __future__ import annotations

from bench.metrics_counts import (
    MODES,
    Counts,
    Mode,
    Tags,
    check_tags,
    conlleval_entities,
    conlleval_f1,
    entities,
    entity_f1,
    f1_from_counts,
    invalid_tags,
    sentence_counts,
    strict_entities,
    strict_f1,
    sum_by_unit,
)
from bench.metrics_spans import Span, match_spans, official_ehealthkd, official_spans, score_spans
from bench.metrics_tags import MAIN, NERVALUATE_SCHEMES, score_tags
from bench.metrics_uncertainty import (
    BLOCK_CELLS,
    BOOTSTRAP_SEED,
    N_RESAMPLES,
    PAIRED_TEST,
    bootstrap_ci,
    bootstrap_ci_counts,
    bootstrap_ci_seeds,
    holm,
    paired_bootstrap,
    paired_bootstrap_counts,
    paired_bootstrap_seeds,
    resampled_f1,
    summarize_seeds,
)

__all__ = [
    "BLOCK_CELLS", "BOOTSTRAP_SEED", "MAIN", "MODES", "NERVALUATE_SCHEMES", "N_RESAMPLES", "PAIRED_TEST",
    "Counts", "Mode", "Span", "Tags",
    "bootstrap_ci", "bootstrap_ci_counts", "bootstrap_ci_seeds", "check_tags", "conlleval_entities", "conlleval_f1",
    "entities", "entity_f1", "f1_from_counts", "holm", "invalid_tags", "match_spans", "official_ehealthkd",
    "official_spans", "paired_bootstrap", "paired_bootstrap_counts", "paired_bootstrap_seeds", "resampled_f1",
    "score_spans", "score_tags", "sentence_counts", "strict_entities", "strict_f1", "sum_by_unit", "summarize_seeds",
]
