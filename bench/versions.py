"""Behaviour versions that go into every cell key.

Bump :data:`SCORER_VERSION` when a metric's definition or the scoring code changes what it reports,
and a system kind's entry in :data:`SYSTEM_VERSIONS` (read by the kind's class in ``bench/systems/``)
when its training or prediction code changes what it learns or predicts. A result written under
another version is *stale*: the report marks it, and ``nerbench run`` runs the cell again (``nerbench
rescore`` refreshes a scorer-only change from the saved predictions without training).

The versions are recorded here, below the systems, so the report tells a stale result without importing
a system.
"""

from __future__ import annotations

from typing import Any

SCORER_VERSION = 4
"""2: conlleval-compatible main score, invalid-tag counts, per-unit (document/sentence) counts.
3: ``metrics.analysis`` (seen/unseen mentions against the train split, nervaluate error types, entity
length, type confusion); the other metrics are unchanged, so ``nerbench rescore`` brings v2 results up.
4: a result's CI uses :data:`bench.metrics.BOOTSTRAP_SEED` (the report's), not the run's seed, so one
number has one interval; only ``metrics.main.ci_low/ci_high/ci`` change (``nerbench rescore``).
Not bumped for ``metrics.analysis.examples`` (the most frequent spurious and missed mentions): they change
no number, so results without them are not stale; the report shows none for them and ``nerbench rescore``
adds them."""

SYSTEM_VERSIONS: dict[str, int] = {"crf": 2, "external": 1, "lookup": 1, "spacy": 1, "transformer": 3}
"""The implementation version of every system kind. A kind's class reads its own (``version =
SYSTEM_VERSIONS["crf"]``, what each bump changed in its docstring there); a new kind adds its line
(tested for every registered kind)."""


def system_version(kind: str) -> int:
    """The implementation version of a system kind (0 for a kind this nerbench does not know)."""
    return SYSTEM_VERSIONS.get(kind, 0)


def stale_reasons(result: dict[str, Any]) -> list[str]:
    """Why a result was made by other scoring or system code than this checkout's; empty when current."""
    key = result.get("cell_key") or {}
    kind = (result.get("system") or {}).get("kind", "?")
    why = []
    if key.get("scorer_version") != SCORER_VERSION:
        why.append(f"scorer version {key.get('scorer_version')!r} (current {SCORER_VERSION})")
    if key.get("system_version") != system_version(kind):
        why.append(f"{kind} version {key.get('system_version')!r} (current {system_version(kind)})")
    return why


def is_stale(result: dict[str, Any]) -> bool:
    return bool(stale_reasons(result))
