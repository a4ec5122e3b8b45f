"""External predictions: read what a system nerbench did not train wrote, line it up with a task's gold.

``nerbench score`` turns such a file into word-level IOB2 tags per gold sentence (and, for span-scored
tasks, character-offset entities per gold sentence), so it is scored exactly like the CRF and the
transformers. Every reading decision (a scheme converted, tokens that differ, lines ignored) is
recorded in :attr:`ExternalPredictions.notes` and :attr:`ExternalPredictions.stats`, which go into
the result file.

Formats
-------
``conll``
    One token per line, the token in the first column and the **predicted tag in the last column**
    (other columns, e.g. a gold column, are ignored). Columns are separated by tabs when the line
    has a tab, else by runs of ASCII spaces (other Unicode spaces belong to the token). CRLF or LF
    line ends, an optional UTF-8 BOM; ``-DOCSTART-`` lines are skipped. Blank lines are *not* used:
    the tokens of the whole file are lined up with the gold tokens of the split in order, so a file
    may put its sentence breaks anywhere. The predicted tokens must be the gold tokens, in order. A system may have rewritten single tokens
    (``u`` as ``you``, URLs as ``url``): with one token line per gold token such tokens are
    *substitutions*, scored as the gold tokens and counted (``--exact-tokens`` makes any an error;
    more than 8 differing in a row, or half of all, mean the file is out of step). A token added,
    dropped, split or merged is an error naming the line of the predictions file and the gold
    token expected there. Tags are ``O`` or ``B-``/``I-``/``E-``/``S-``/``L-``/``U-`` + a type of
    the task (another type is an error naming the line). The file's scheme is looked at
    (:func:`guess_scheme`) unless ``--scheme`` declares it: IOB1, BIOES and BILOU are converted to
    IOB2 and the conversion recorded; IOB2 is kept as written, so a stray ``I-`` stays the system's
    error (the conlleval main score reads an entity there, as conlleval did for published numbers;
    the strict score reads none).
``brat``
    A folder holding the task's ``.ann`` file (``scenario.ann`` for eHealth-KD), or the ``.ann``
    file itself. Offsets count characters of the ``.txt`` beside it (the gold ``.txt`` if there is
    none), read the way the official eHealth-KD 2020 scorer reads it: universal newlines (CRLF
    counts as one character), blank lines dropped, lines stripped; an entity belongs to the line
    its first fragment starts on. Predicted lines are paired with gold sentences by their
    letters and digits (lower-cased), in order, as the official scorer does. Discontinuous
    entities keep their fragments; the text column is not checked against the ``.txt`` (the
    official scorer ignores it; differences are counted). Relation, attribute, event, note and
    comment lines are ignored and counted. Span-scored tasks are scored on these entities by the
    official rule; word tags for the token-level metrics come from the task's BIO-view policies.
``jsonl``
    One JSON object per line (blank lines skipped), one object per gold sentence::

        {"text": "EU rejects German call", "entities": [{"start": 0, "end": 2, "type": "ORG"}]}
        {"sentence": 7, "entities": [{"fragments": [[0, 5], [12, 18]], "type": "Concept"}]}

    Objects pair with gold sentences in file order, or by ``"sentence"`` (the 0-based position of
    the sentence in the split; then every object must have it, each at most once, and a sentence
    without an object has no entities). ``entities`` holds ``start``/``end`` character offsets
    (``end`` exclusive) or ``fragments`` (a list of ``[start, end]``, for discontinuous entities)
    and a ``type`` of the task; other keys (``text``, ``score``) are ignored. Offsets count
    characters of the object's ``text``; without ``text``, of the gold sentence text (span-based
    tasks: the sentence; CoNLL tasks: the words joined by single spaces). On a span-scored task
    ``text`` must equal the gold sentence text; otherwise it must consist of the gold words in
    order, with any whitespace (or none) between them. A word belongs to an entity that covers any
    of its characters (boundaries inside a word are counted). ``nerbench predict`` output is
    accepted as is.

Modules: this one picks the reader (:func:`detect_format`, :func:`read_predictions`); :mod:`bench.external.conll`,
:mod:`bench.external.brat` and :mod:`bench.external.jsonl` read one format each, on what
:mod:`bench.external.common` shares. Every public name is imported from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.data.brat import OVERLAP_POLICIES
from bench.errors import ConfigError, DataFormatError
from bench.external.brat import official_sentences, read_brat_predictions
from bench.external.common import EXAMPLES, ExternalPredictions, digest_files, sha256_bytes
from bench.external.conll import (
    DOCSTART,
    MAX_SUBSTITUTED_SHARE,
    MAX_SUBSTITUTION_RUN,
    SCHEMES,
    align_tokens,
    guess_scheme,
    predictions_to_iob2,
    read_conll_predictions,
)
from bench.external.jsonl import read_jsonl_predictions

if TYPE_CHECKING:
    from bench.data.load import TaskData

__all__ = [
    "DOCSTART", "EXAMPLES", "FORMATS", "MAX_SUBSTITUTED_SHARE", "MAX_SUBSTITUTION_RUN", "SCHEMES",
    "ExternalPredictions", "align_tokens", "detect_format", "digest_files", "guess_scheme", "official_sentences",
    "predictions_to_iob2", "read_brat_predictions", "read_conll_predictions", "read_jsonl_predictions",
    "read_predictions", "sha256_bytes",
]

FORMATS = ("conll", "brat", "jsonl")


def detect_format(path: Path) -> str:
    """``brat`` for a folder or ``.ann`` file, ``jsonl`` for ``.jsonl``/``.json`` or a first line
    starting with ``{``, else ``conll``."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".ann":
        return "brat"
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    if not path.is_file():
        raise DataFormatError(path, None, "predictions file not found")
    with path.open("rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", errors="replace").removeprefix("\ufeff").strip()
            if line:
                return "jsonl" if line.startswith("{") else "conll"
    raise DataFormatError(path, None, "file is empty")


def read_predictions(
    path: str | Path,
    data: TaskData,
    split: str,
    *,
    format: str | None = None,
    exact_tokens: bool = False,
    scheme: str = "auto",
) -> ExternalPredictions:
    """Read ``path`` against split ``split`` of ``data`` (a :class:`bench.data.load.TaskData`).

    ``format`` defaults to :func:`detect_format`; ``exact_tokens`` and ``scheme`` concern CoNLL files.
    """
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown predictions format {fmt!r} (use {', '.join(FORMATS)})")
    if fmt != "conll" and (exact_tokens or scheme != "auto"):
        raise ConfigError(f"--exact-tokens and --scheme apply to conll predictions, not {fmt}")
    task = data.task
    sentences = data.sentences(split)
    if fmt == "conll":
        return read_conll_predictions(path, sentences, entity_types=task.entity_types, exact_tokens=exact_tokens,
                                      scheme=scheme, gold_is_conll=_task_format(task) == "conll")
    options = dict(task.local.options) if task.local is not None else {}
    if fmt == "brat":
        if _task_format(task) != "brat":
            raise ConfigError(
                f"task {task.name} is not a BRAT task (its data are {_task_format(task) or 'from the hub'}); "
                "give its predictions as conll or jsonl"
            )
        gold_txt, gold_ann = (Path(f) for f in data.splits[split].files[:2])
        out = read_brat_predictions(
            path, sentences, gold_txt=gold_txt, ann_file=gold_ann.name,
            entity_types=task.entity_types, bio=_bio_options(options),
        )
        if not task.span_scoring:
            out.spans = None  # no span scorer: the word tags carry the predictions
        return out
    return read_jsonl_predictions(path, sentences, entity_types=task.entity_types,
                                  span_task=bool(task.span_scoring), bio=_bio_options(options))


def _task_format(task: Any) -> str | None:
    return task.local.format if task.local is not None else None


def _bio_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The task's BIO-view policies, used for predicted entities too (``error`` cannot stop a score)."""
    overlap = str(options.get("overlap", "longest"))
    return {
        "discontinuous": str(options.get("discontinuous", "fragments")),
        "overlap": overlap if overlap in OVERLAP_POLICIES and overlap != "error" else "longest",
        "join_gaps": bool(options.get("join_whitespace_gaps", True)),
    }
