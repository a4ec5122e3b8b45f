"""Errors the CLI turns into one clear message instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class NerbenchError(Exception):
    """Base class: anything the user can fix (bad input, missing data, bad config)."""


class DataFormatError(NerbenchError):
    """Malformed input data; always names the file, the line (or entity id) and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str, *, where: str | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
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


class ConfigError(NerbenchError):
    """A task, suite or run configuration that cannot be used as written."""


class DataNotFoundError(NerbenchError):
    """No source for a task's data could be found."""
