"""Errors the CLI turns into one clear message instead of a traceback."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path


class NerbenchError(Exception):
    """Base class: anything the user can fix (bad input, missing data, bad config)."""


class DataFormatError(NerbenchError):
    """Malformed input data; always names the file, the line (or entity id) and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str, *, where: str | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.where = where
        loc = self.path
        if line is not None:
            loc += f":{line}"
        if where:
            loc += f" ({where})"
        super().__init__(f"{loc}: {problem}")

    @classmethod
    def at(cls, source: str, problem: str) -> DataFormatError:
        """Error for a ``"path:line"`` source string as carried by ``Sentence.source``."""
        path, _, line = source.rpartition(":")
        if path and line.isdigit():
            return cls(path, int(line), problem)
        return cls(source, None, problem)


MAX_LISTED = 20
"""Problems one :func:`all_problems` error names before "and N more"."""


def all_problems(errors: Sequence[DataFormatError], *, advice: str = "", limit: int = MAX_LISTED) -> DataFormatError:
    """One error for every problem a reader found in one file, so a user fixes them in one go: a single
    problem stays the error it is (``advice`` appended), several become one error naming each place (the
    first ``limit``, then "and N more") with ``advice`` once at the end.

    >>> print(all_problems([DataFormatError("f.txt", 3, "bad tag 'B-'"), DataFormatError("f.txt", 9, "bad tag 'X'")],
    ...                    advice="fix the tags"))
    f.txt: 2 invalid lines:
      f.txt:3: bad tag 'B-'
      f.txt:9: bad tag 'X'
    fix the tags
    """
    if not errors:
        raise ValueError("no errors given")
    first = errors[0]
    if len(errors) == 1:
        return DataFormatError(first.path, first.line, first.problem + (f"; {advice}" if advice else ""),
                               where=first.where)
    paths = list(dict.fromkeys(e.path for e in errors))
    head = f"{paths[0]}: {len(errors)} invalid lines" if len(paths) == 1 else f"{len(errors)} invalid lines"
    listed = [f"  {e}" for e in errors[:limit]]
    if len(errors) > limit:
        listed.append(f"  and {len(errors) - limit} more")
    error = DataFormatError(first.path, first.line, first.problem, where=first.where)
    error.args = ("\n".join([head + ":", *listed, *([advice] if advice else [])]),)
    return error


class ConfigError(NerbenchError):
    """A task, suite or run configuration that cannot be used as written."""


class DataNotFoundError(NerbenchError):
    """No source for a task's data could be found."""


def range_problem(
    name: str, value: object, low: float, high: float | None = None, *, low_open: bool = False,
    high_open: bool = False, note: str = "",
) -> str | None:
    """What is wrong with the numeric parameter ``name`` (not a number, NaN, infinite, or outside
    ``low``..``high``; ``None``: no upper bound), said with its bounds, or ``None`` when it is fine.
    The config dataclasses use it, so a suite, the CLI and the Python API get the same rule. Integer
    bounds read "from 1 to 1000" (give an integer field's); float bounds an interval.

    >>> range_problem("learning_rate", float("nan"), 0, 1, low_open=True)
    'learning_rate must be a finite number in (0, 1], got nan'
    >>> range_problem("epochs", 10**20, 1, 1000)
    'epochs must be from 1 to 1000, got 100000000000000000000'
    >>> range_problem("torch_threads", 0, 0, 1024, note=" (0: torch's default)") is None
    True
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number, got {value!r}"
    ok = math.isfinite(value) and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if isinstance(low, int) and isinstance(high, int) and not (low_open or high_open):
        want = f"from {low} to {high}"
    elif high is None:
        want = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        want = f"a finite number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return None if ok else f"{name} must be {want}{note}, got {value}"


NAME = re.compile(r"[^\W_][\w.+-]{0,99}")
"""The one rule for names that become file and folder names and table cells (task names, entity
types, the system names of suites and results, splits), checked where task and suite files are read
(:mod:`bench.spec`) and where result files are read (:mod:`bench.results`): 1 to 100 letters, digits,
``.``, ``_``, ``+`` and ``-``, starting with a letter or digit (so never ``..``, a ``/`` or markup)."""


def name_problem(value: object) -> str | None:
    """Why ``value`` is not a :data:`NAME`, or ``None`` when it is one.

    >>> name_problem("creative-work"), name_problem("bert-base-cased"), name_problem("B-PER")
    (None, None, None)
    >>> name_problem("../PWNED")
    "'../PWNED' is not a name: use 1 to 100 letters, digits, '.', '_', '+' and '-', starting with a letter or digit"
    """
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if NAME.fullmatch(value) is None:
        return (f"{value[:120]!r} is not a name: use 1 to 100 letters, digits, '.', '_', '+' and '-', "
                "starting with a letter or digit")
    return None
