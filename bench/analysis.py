"""Error analysis of one split: *what* a system gets right and wrong, beside how much.

Computed at scoring time (:func:`bench.scoring.score_split`) from the gold and predicted word tags,
and stored in each result as ``metrics["analysis"]``, so the report needs neither the data nor the
saved predictions. Entities are the conlleval chunks (:func:`bench.data.schemes.tags_to_spans`, the
main score's chunking), so the counts here add up to the main score's TP, FP and FN.

* **Seen vs unseen mentions.** An entity is *seen* when its case-folded surface form (its words
  joined by one space) occurs as a gold entity of the same type in the train split. Gold entities
  split the recall, predicted entities the precision. A correct prediction has its gold entity's
  words and type, so it is seen exactly when that gold entity is, and each part has a proper F1.
  Memorised names against generalisation: where CRFs and transformers differ most.
* **Error types**, nervaluate's categories with nervaluate's one-to-one matching (its *strict*
  scheme, :func:`match_entities`): *correct*, *wrong type* (right boundaries), *wrong boundaries*
  (right type), *wrong both*, *missed* and *spurious*. The first four plus *missed* are the gold
  entities, the first four plus *spurious* the predicted ones, and the counts equal nervaluate's
  strict ``correct``, ``incorrect`` (the three wrong kinds), ``missed`` and ``spurious``. Per type,
  a matched pair and a missed entity count under the gold type, a spurious entity under its own.
* **By length**: precision, recall and F1 of entities of 1, 2, 3 and 4+ words.
* **Type confusion**: gold type × predicted type over entity pairs with the same boundaries (the
  diagonal is *correct*, every other cell *wrong type*).
* **Examples**: the most frequent *spurious* and *missed* mentions (the error types above: a predicted
  entity that overlaps no gold entity, a gold entity that no prediction overlaps) as ``[text, type,
  count]``, the text being the mention's words joined by one space, as written. Each result keeps its
  :data:`EXAMPLES_KEPT` most frequent of each; :func:`mean_over_seeds` sums the counts over seeds.

Every function is pure and returns plain dicts, ints and floats (unrounded).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence
from bench.metrics import f1_from_counts

Ent = tuple[str, int, int]
"""``(type, start, end)`` in words, ``end`` exclusive: one conlleval chunk."""

ERROR_KINDS = ("correct", "wrong_type", "wrong_boundaries", "wrong_both", "missed", "spurious")
"""nervaluate's categories, in the order the report shows them."""
LENGTHS = ("1", "2", "3", "4+")
"""Entity length buckets, in words."""
ENTITIES = "conlleval chunks (same as main)"
SEEN_RULE = "seen = the case-folded surface form occurs as a gold entity of the same type in the train split"
EXAMPLES_KEPT = 20
"""How many of its most frequent spurious and of its most frequent missed mentions a result keeps (the
report shows the first 10 after summing over seeds; a mention below a seed's first 20 counts 0 for it)."""
EXAMPLE_KINDS = ("spurious", "missed")


def surface_form(words: Sequence[str], start: int, end: int) -> str:
    """The words of ``[start, end)`` joined by one space, case-folded: what *seen* compares.

    >>> surface_form(["in", "New", "YORK"], 1, 3)
    'new york'
    """
    return " ".join(words[start:end]).casefold()


def train_forms(sentences: Iterable[Sentence]) -> frozenset[tuple[str, str]]:
    """``(type, surface form)`` of every gold entity of ``sentences`` (the train split).

    >>> sorted(train_forms([Sentence(("New", "York", "and", "Paris"), ("B-LOC", "I-LOC", "O", "B-PER"))]))
    [('LOC', 'new york'), ('PER', 'paris')]
    """
    return frozenset((t, surface_form(s.tokens, a, b)) for s in sentences for t, a, b in tags_to_spans(s.tags))


def length_bucket(n_words: int) -> str:
    """The length bucket of an entity of ``n_words`` words.

    >>> [length_bucket(n) for n in (1, 2, 3, 4, 9)]
    ['1', '2', '3', '4+', '4+']
    """
    return LENGTHS[min(n_words, len(LENGTHS)) - 1]


def _overlaps(pred: Ent, gold: Ent) -> bool:
    """nervaluate's overlap test at its default ``min_overlap_percentage=1``: the shared words are at
    least 1% of the gold entity (any shared word, for gold entities under 100 words)."""
    shared = min(pred[2], gold[2]) - max(pred[1], gold[1])
    return shared > 0 and 100 * shared >= gold[2] - gold[1]


def _kind(gold: Ent, pred: Ent) -> str:
    if gold == pred:
        return "correct"
    if gold[1:] == pred[1:]:
        return "wrong_type"
    return "wrong_boundaries" if gold[0] == pred[0] else "wrong_both"


def match_entities(gold: Sequence[Ent], pred: Sequence[Ent]) -> list[tuple[str, Ent | None, Ent | None]]:
    """Pair one sentence's entities as nervaluate's strict scheme does, and name what is wrong.

    Each predicted entity, in order, takes the unmatched gold entity equal to it, else the first
    unmatched gold entity it overlaps; the pair is ``correct``, ``wrong_type`` (same boundaries),
    ``wrong_boundaries`` (same type) or ``wrong_both``. A predicted entity that takes none is
    ``spurious``; gold entities left over are ``missed``. Returns ``(kind, gold, pred)`` for every
    predicted entity in order, then the missed ones.

    >>> gold = [("PER", 0, 2), ("LOC", 3, 4), ("ORG", 5, 7), ("PER", 8, 9), ("LOC", 10, 11)]
    >>> pred = [("PER", 0, 2), ("ORG", 3, 4), ("ORG", 5, 6), ("LOC", 8, 11), ("MISC", 12, 13)]
    >>> for kind, g, p in match_entities(gold, pred):
    ...     print(kind, g, p)
    correct ('PER', 0, 2) ('PER', 0, 2)
    wrong_type ('LOC', 3, 4) ('ORG', 3, 4)
    wrong_boundaries ('ORG', 5, 7) ('ORG', 5, 6)
    wrong_both ('PER', 8, 9) ('LOC', 8, 11)
    spurious None ('MISC', 12, 13)
    missed ('LOC', 10, 11) None

    ``LOC(8, 11)`` overlaps two gold entities and, like in nervaluate, takes the first.
    """
    out: list[tuple[str, Ent | None, Ent | None]] = []
    matched: set[int] = set()
    for p in pred:
        hit: int | None = None
        first_overlap: int | None = None
        for i, g in enumerate(gold):
            if i in matched:
                continue
            if g == p:
                hit = i
                break
            if first_overlap is None and _overlaps(p, g):
                first_overlap = i
        if hit is None:
            hit = first_overlap
        if hit is None:
            out.append(("spurious", None, p))
            continue
        matched.add(hit)
        out.append((_kind(gold[hit], p), gold[hit], p))
    out += [("missed", g, None) for i, g in enumerate(gold) if i not in matched]
    return out


def top_mentions(counts: Counter[tuple[str, str]], n: int | None = EXAMPLES_KEPT) -> list[list[Any]]:
    """``[[text, type, count], ...]`` of ``counts`` (keyed by ``(text, type)``), most frequent first, ties
    by text then type; the first ``n`` (all with ``None``).

    >>> top_mentions(Counter({("Bo", "PER"): 1, ("Oslo", "LOC"): 3, ("Anna", "PER"): 1}), 2)
    [['Oslo', 'LOC', 3], ['Anna', 'PER', 1]]
    """
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[text, etype, count] for (text, etype), count in ranked[:n]]


def prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    """Counts with their precision, recall and F1 (0.0 where undefined, as in the main score).

    >>> prf(2, 2, 3)
    {'tp': 2, 'fp': 2, 'fn': 3, 'gold': 5, 'pred': 4, 'precision': 0.5, 'recall': 0.4, 'f1': 0.4444444444444444}
    """
    return {"tp": tp, "fp": fp, "fn": fn, "gold": tp + fn, "pred": tp + fp,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "f1": f1_from_counts(tp, fp, fn)}


def analyse(
    words: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    forms: frozenset[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The error analysis of one split (layout below); ``forms`` from :func:`train_forms`.

    ::

        entities      "conlleval chunks (same as main)"
        error_types   {overall: {correct, wrong_type, wrong_boundaries, wrong_both, missed, spurious},
                       per_type: {TYPE: {the same}}}
        length        {"1"|"2"|"3"|"4+": {tp, fp, fn, gold, pred, precision, recall, f1}}
        confusion     {GOLD_TYPE: {PRED_TYPE: count}}     # same boundaries; zero cells left out
        seen_unseen   {seen: {tp, ...}, unseen: {tp, ...}, train_forms, rule}   # only with ``forms``
        examples      {spurious: [[text, type, count], ...], missed: [...], kept: EXAMPLES_KEPT}

    >>> a = analyse([["Anna", "met", "Bo", "in", "Oslo"]], [["B-PER", "O", "B-PER", "O", "B-LOC"]],
    ...             [["B-PER", "O", "B-LOC", "O", "O"]], forms=frozenset({("PER", "anna")}))
    >>> a["error_types"]["overall"]
    {'correct': 1, 'wrong_type': 1, 'wrong_boundaries': 0, 'wrong_both': 0, 'missed': 1, 'spurious': 0}
    >>> a["confusion"], a["seen_unseen"]["seen"]["f1"], a["seen_unseen"]["unseen"]["recall"]
    ({'PER': {'LOC': 1, 'PER': 1}}, 1.0, 0.0)
    >>> a["examples"]["missed"], a["examples"]["spurious"]
    ([['Oslo', 'LOC', 1]], [])
    """
    if not (len(words) == len(gold) == len(pred)):
        raise ValueError(f"{len(words)} word sequences, {len(gold)} gold and {len(pred)} predicted tag sequences")
    errors: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    length = {b: [0, 0, 0] for b in LENGTHS}
    seen = {"seen": [0, 0, 0], "unseen": [0, 0, 0]}
    examples: dict[str, Counter[tuple[str, str]]] = {k: Counter() for k in EXAMPLE_KINDS}
    for w, g_tags, p_tags in zip(words, gold, pred, strict=True):
        g, p = tags_to_spans(g_tags), tags_to_spans(p_tags)
        g_set, p_set = set(g), set(p)
        # [tp, fp, fn]: a gold entity is a tp or an fn, a predicted one not in gold an fp
        counted = [(e, 0 if e in p_set else 2) for e in g] + [(e, 1) for e in p if e not in g_set]
        for (t, a, b), k in counted:
            length[length_bucket(b - a)][k] += 1
            if forms is not None:
                seen["seen" if (t, surface_form(w, a, b)) in forms else "unseen"][k] += 1
        for kind, ge, pe in match_entities(g, p):
            t, a, b = ge or pe  # type: ignore[misc]
            errors[t][kind] += 1
            if kind in examples:
                examples[kind][(" ".join(w[a:b]), t)] += 1
        gold_type = {(a, b): t for t, a, b in g}
        for t, a, b in p:
            if (a, b) in gold_type:
                confusion[gold_type[(a, b)]][t] += 1
    overall = Counter[str]()
    for c in errors.values():
        overall.update(c)
    out: dict[str, Any] = {
        "entities": ENTITIES,
        "error_types": {"overall": {k: overall[k] for k in ERROR_KINDS},
                        "per_type": {t: {k: errors[t][k] for k in ERROR_KINDS} for t in sorted(errors)}},
        "length": {b: prf(*length[b]) for b in LENGTHS},
        "confusion": {g_t: dict(sorted(row.items())) for g_t, row in sorted(confusion.items())},
        "examples": {**{k: top_mentions(examples[k]) for k in EXAMPLE_KINDS}, "kept": EXAMPLES_KEPT},
    }
    if forms is not None:
        out["seen_unseen"] = {"seen": prf(*seen["seen"]), "unseen": prf(*seen["unseen"]),
                              "train_forms": len(forms), "rule": SEEN_RULE}
    return out


def _mean_prf(blocks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Precision, recall, F1 and entity counts averaged over seeds; the scores are ``None`` when no
    seed has a gold or predicted entity in the part (nothing was measured)."""
    out = {k: statistics.fmean(b.get(k) or 0 for b in blocks) if blocks else None
           for k in ("precision", "recall", "f1", "gold", "pred")}
    if not out["gold"] and not out["pred"]:
        out.update(precision=None, recall=None, f1=None)
    return out


def mean_over_seeds(analyses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several seeds' :func:`analyse` results averaged: scores and counts alike are means over seeds.

    ::

        seeds         how many analyses were averaged
        seen_unseen   {seen|unseen: {precision, recall, f1, gold, pred}, unseen_gold_share, train_forms}
                      or None when no seed has it
        error_types   {overall|TYPE: {kind: count}}
        length        {bucket: {precision, recall, f1, gold, pred}}
        confusion     {GOLD_TYPE: {PRED_TYPE: count}}
        examples      {spurious|missed: [[text, type, count], ...] summed over seeds, most frequent first,
                       seeds: how many carried examples} or None when none does (:func:`merge_examples`)

    >>> one = analyse([["Bo", "x"]], [["B-PER", "O"]], [["B-PER", "B-LOC"]], forms=frozenset())
    >>> two = analyse([["Bo", "x"]], [["B-PER", "O"]], [["O", "O"]], forms=frozenset())
    >>> m = mean_over_seeds([one, two])
    >>> m["error_types"]["overall"]["correct"], m["error_types"]["overall"]["spurious"], m["seen_unseen"]["unseen"]["f1"]
    (0.5, 0.5, 0.3333333333333333)
    >>> m["length"]["1"]["gold"], m["length"]["2"]["f1"], m["seen_unseen"]["seen"]["f1"]
    (1.0, None, None)
    """
    if not analyses:
        raise ValueError("nothing to average: no analyses")
    su = [a["seen_unseen"] for a in analyses if isinstance(a.get("seen_unseen"), dict)]
    seen_unseen: dict[str, Any] | None = None
    if su:
        seen_unseen = {part: _mean_prf([s[part] for s in su]) for part in ("seen", "unseen")}
        n_gold = seen_unseen["seen"]["gold"] + seen_unseen["unseen"]["gold"]
        seen_unseen["unseen_gold_share"] = seen_unseen["unseen"]["gold"] / n_gold if n_gold else None
        seen_unseen["train_forms"] = su[0].get("train_forms")
    errors = [a.get("error_types") or {} for a in analyses]
    error_types = {"overall": {k: statistics.fmean((e.get("overall") or {}).get(k, 0) for e in errors)
                               for k in ERROR_KINDS}}
    for t in sorted({t for e in errors for t in e.get("per_type") or {}}):
        error_types[t] = {k: statistics.fmean(((e.get("per_type") or {}).get(t) or {}).get(k, 0) for e in errors)
                          for k in ERROR_KINDS}
    lengths = [a.get("length") or {} for a in analyses]
    length = {b: _mean_prf([x[b] for x in lengths if b in x]) for b in LENGTHS if any(b in x for x in lengths)}
    conf = [a.get("confusion") or {} for a in analyses]
    confusion: dict[str, dict[str, float]] = defaultdict(dict)
    for g, p in sorted({(g, p) for c in conf for g, row in c.items() for p in row}):
        confusion[g][p] = statistics.fmean((c.get(g) or {}).get(p, 0) for c in conf)
    return {"seeds": len(analyses), "seen_unseen": seen_unseen, "error_types": error_types, "length": length,
            "confusion": dict(confusion), "examples": merge_examples(analyses)}


def merge_examples(analyses: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The examples of several seeds' analyses with their counts *summed* (a sum over seeds, not a mean:
    the report says so), all of them, most frequent first; ``None`` when no analysis has examples (a
    result scored before they were stored: ``nerbench rescore`` adds them).

    >>> one = analyse([["Bo", "x"]], [["B-PER", "O"]], [["O", "B-LOC"]])
    >>> merge_examples([one, one, {"error_types": {}}])
    {'spurious': [['x', 'LOC', 2]], 'missed': [['Bo', 'PER', 2]], 'seeds': 2, 'kept': 20}
    >>> merge_examples([{"error_types": {}}]) is None
    True
    """
    found = [a["examples"] for a in analyses if isinstance(a.get("examples"), dict)]
    if not found:
        return None
    out: dict[str, Any] = {}
    for kind in EXAMPLE_KINDS:
        counts: Counter[tuple[str, str]] = Counter()
        for ex in found:
            for text, etype, n in ex.get(kind) or ():
                counts[(text, etype)] += n
        out[kind] = top_mentions(counts, None)
    kept = [ex["kept"] for ex in found if isinstance(ex.get("kept"), int)]
    return {**out, "seeds": len(found), "kept": min(kept) if kept else None}
