"""The blocks a report is made of (:class:`Heading`, :class:`Para`, :class:`Notes`, :class:`Table`,
:class:`Plots`), built once and rendered twice: as Markdown here (:func:`markdown`) and as HTML by
:mod:`bench.report.html`; with the number formats and the Markdown escaping (:func:`md_text`) they share."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.report.groups import Group

_MD_UNSAFE = re.compile(r"[<>|`\r\n]|&(?=#?\w+;)")
_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;", "&": "&amp;", "\r": " ", "\n": " "}
_MD_PUNCT = re.compile(r"([\\*_\[\]~])")


def md_text(text: str) -> str:
    """``text`` (a name, label or note) safe inside the Markdown report: ``<``, ``>``, ``|`` and backticks
    become character references (no HTML, no code spans, no broken table), so does an ``&`` that would
    start one (a lone ``&`` already shows as itself), and line breaks become spaces. Ordinary names are
    unchanged. The HTML page escapes everything itself.

    >>> md_text("bert-base-cased"), md_text("ade_drug_effect"), md_text("Däniken & Cieliebak")
    ('bert-base-cased', 'ade_drug_effect', 'Däniken & Cieliebak')
    >>> md_text("<img src=x onerror=alert(1)> | `x` &amp;")
    '&lt;img src=x onerror=alert(1)&gt; &#124; &#96;x&#96; &amp;amp;'
    """
    return _MD_UNSAFE.sub(lambda m: _MD_ENTITIES[m.group(0)], str(text))


def md_verbatim(text: str) -> str:
    r"""Text from the data (a mention) as written in the Markdown report: :func:`md_text`, and Markdown's
    emphasis, link and escape characters backslash-escaped, so ``*a*`` shows its stars.

    >>> print(md_verbatim("*a* [b](c) _d_ x|y"))
    \*a\* \[b\](c) \_d\_ x&#124;y
    """
    return md_text(_MD_PUNCT.sub(r"\\\1", str(text)))


def _f(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _num(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "–" if x is None else fmt.format(x)


def _count(x: float | None) -> str:
    """A count, or a mean of counts over seeds (one decimal when it is not whole)."""
    if x is None:
        return "–"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _best(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r[key] is not None]
    return max(vals) if vals else None


def _is_best(value: float | None, best: float | None) -> bool:
    return value is not None and best is not None and value == best


def _row_label(r: dict[str, Any]) -> str:
    return f"{r['system']} ({r['variant']})" if r["variant"] else r["system"]


def _p(p: float) -> str:
    return f"{p:.4f}"


@dataclass(frozen=True)
class Cell:
    """One table cell: its display text, the raw value the HTML page sorts by, and where it came from."""

    text: str
    sort: float | None = None
    """The number behind ``text`` (``None`` for text cells and missing numbers, which sort last)."""
    best: bool = False
    """Best value of its column (bold with ↑ in Markdown, ``<strong>`` in HTML)."""
    group: Group | None = None
    """The results the number came from: the HTML page links the cell to their result file(s)."""
    task: str | None = None
    """A task name: the cell links to that task's section."""
    verbatim: bool = False
    """Text from the data (a mention): Markdown shows it as written (:func:`md_verbatim`)."""


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    """Per column: numbers (right-aligned, sorted numerically) or text."""
    rows: tuple[tuple[Cell, ...], ...]
    sortable: bool = True
    tips: tuple[str, ...] = ()
    """Per column, what it means ("" for none): the HTML page's header tooltips (:func:`legend` in Markdown)."""

    def tip(self, i: int) -> str:
        return self.tips[i] if i < len(self.tips) else ""

    def markdown(self) -> list[str]:
        lines = ["| " + " | ".join(md_text(c) for c in self.columns) + " |",
                 "|" + "|".join("--:" if n else "---" for n in self.numeric) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
        return lines


def _md_cell(c: Cell) -> str:
    text = f"[{md_text(c.text)}](#{c.task})" if c.task else md_verbatim(c.text) if c.verbatim else md_text(c.text)
    return f"**{text}** ↑" if c.best and len(text) else text


def _table(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[Cell]], *, sortable: bool = True,
           tips: Mapping[str, str] | None = None) -> Table:
    """A table of ``(label, numeric)`` columns; ``tips`` says what a column means, by label."""
    return Table(tuple(c for c, _ in columns), tuple(n for _, n in columns), tuple(tuple(r) for r in rows),
                 sortable=sortable, tips=tuple((tips or {}).get(c, "") for c, _ in columns) if tips else ())


def _num_cell(value: float | None, text: str, group: Group | None, *, best: float | None = None) -> Cell:
    return Cell(text, value, _is_best(value, best), group)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    task: str | None = None
    """Set on a task's heading: the HTML page gives it the task's anchor."""


@dataclass(frozen=True)
class Para:
    text: str
    plain: str | None = None
    """The text without Markdown markup, for the HTML page (``None``: ``text`` has none)."""
    css: str = ""
    """The HTML page's class for it (``legend``: a table's column legend, in small print)."""


@dataclass(frozen=True)
class Notes:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Plots:
    """Figures of one task's test split: ``(kind, alt text)``, each a :data:`PLOT_KINDS` entry."""

    task: str
    figures: tuple[tuple[str, str], ...]


Block = Heading | Para | Notes | Table | Plots


def markdown(blocks: Sequence[Block], *, plots: str | None = None) -> list[str]:
    """Markdown lines of ``blocks``, each followed by a blank line; :class:`Plots` only with a plot folder."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + md_text(b.text)]
        elif isinstance(b, Para):
            out += [b.text]
        elif isinstance(b, Notes):
            if not b.items:
                continue
            out += [f"- {md_text(n)}" for n in b.items]
        elif isinstance(b, Table):
            out += b.markdown()
        elif isinstance(b, Plots):
            if plots is None:
                continue
            out += [" ".join(f"![{md_text(alt)}]({plots}/{b.task}-{kind}.png)" for kind, alt in b.figures)]
        out.append("")
    return out
