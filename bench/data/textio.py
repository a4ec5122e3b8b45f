"""Reading data files as text: one place that turns missing, empty and non-UTF-8 files into errors."""

from __future__ import annotations

from pathlib import Path

from bench.errors import DataFormatError


def read_utf8(path: Path) -> str:
    """Whole file as text; missing, empty or non-UTF-8 files are errors naming the file and line.

    A BOM is kept (BRAT offsets count every character of the ``.txt``); callers that do not need it strip it.
    """
    if not path.is_file():
        raise DataFormatError(path, None, "file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataFormatError(
            path, line, f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start}"
        ) from None
    if not text.strip("\ufeff \t\r\n"):
        raise DataFormatError(path, None, "file is empty")
    return text
