"""``nerbench predict`` on CoNLL input: output that lines up with the input, and what the model recorded.

With ``--output-columns input,pred`` (the default for CoNLL input) every input line comes out in its
place, so the output can go to ``conlleval`` line for line: a token line keeps all its columns (a gold
tag column included) and gets the predicted tag appended as the last column; a ``-DOCSTART-`` line gets
``O`` appended, so every non-blank line has the same number of columns (conlleval requires it); a blank
line comes out empty. A token line of a sentence that could not be read (left out and reported, see
:func:`bench.predict.read_input`) is tagged ``O``. The appended column is joined by a tab where the line
has one, else by a space. ``word,pred`` is the old two-column output (word, predicted tag; no
``-DOCSTART-`` lines). The lines, and the sentences and documents they hold, are the ones
:func:`bench.predict.read_input` read (:class:`bench.predict.ConllLayout`, counted by the task reader's rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.errors import ConfigError
from bench.modeldir import MODEL_INFO_FILE, read_json_object
from bench.predict import ConllLayout, Doc


def conll_lines(layout: ConllLayout, docs: Sequence[Doc], tags: Sequence[Sequence[str]]) -> Iterator[str]:
    """Every input line with the predicted tag appended (see the module's docstring); ``layout`` and ``docs``
    are what :func:`bench.predict.read_input` read, ``tags`` the sentences' predictions."""
    tag_at = {d.line + k: tag for d, t in zip(docs, tags, strict=True) for k, tag in enumerate(t)}
    for lineno, (text, kind) in enumerate(zip(layout.texts, layout.kinds, strict=True), start=1):
        if kind == "blank":
            yield "\n"
            continue
        line = text.rstrip(" \t")
        tag = tag_at.get(lineno, "O") if kind == "token" else "O"
        sep = "\t" if "\t" in line else " "
        yield f"{line}{sep}{tag}\n"


def output_columns(requested: str | None, *, input_format: str, output_format: str) -> str:
    """The ``--output-columns`` to use: ``input,pred`` for CoNLL in and out unless asked otherwise;
    text and JSONL input have no columns to keep (``word,pred``); JSONL output has no columns."""
    if requested is None:
        return "input,pred" if input_format == "conll" else "word,pred"
    if output_format != "conll":
        raise ConfigError(f"--output-columns {requested} applies to CoNLL output (--output-format conll)")
    if requested == "input,pred" and input_format != "conll":
        raise ConfigError(f"--output-columns input,pred needs CoNLL input (--format conll): {input_format} "
                          "input has no columns to keep; use word,pred")
    return requested


def recorded_pos_column(model_dir: str | Path) -> int | None:
    """The POS column a model folder records (its training task's ``pos_column``, written for models that
    use POS tags), or ``None``."""
    path = Path(model_dir) / MODEL_INFO_FILE
    if not path.is_file():
        return None
    value = read_json_object(path).get("pos_column")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{path}: pos_column must be an integer, got {value!r}")
    return value
