"""Docs that match the tool: ``docs/reference.md`` is what ``python -m bench.docs`` generates from the code now,
it describes everything, and the README's memory figure is the one the committed results hold."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import subprocess
import sys

from .conftest import REPO

REFERENCE = REPO / "docs" / "reference.md"


def generated() -> str:
    """The generator's output, in a fresh process (no kind or format that another test registered)."""
    proc = subprocess.run([sys.executable, "-m", "bench.docs"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_committed_reference_is_what_the_code_generates_now() -> None:
    now, committed = generated(), REFERENCE.read_text(encoding="utf-8")
    diff = "".join(list(difflib.unified_diff(committed.splitlines(True), now.splitlines(True), "committed",
                                             "generated now"))[:60])
    assert committed == now, f"docs/reference.md is out of date: run `python -m bench.docs > docs/reference.md`\n{diff}"


def test_the_reference_names_and_describes_everything() -> None:
    from bench.__main__ import build_parser
    from bench.data.formats import BUILTIN, get_format
    from bench.spec import HubSource, LocalSource, Override, ReferenceResult, SizesFor, SuiteSpec, SystemSpec, TaskSpec
    from bench.systems import get_kind

    text = REFERENCE.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    undescribed = [r for r in rows if r.endswith("|  |")]
    assert not undescribed, f"rows without a description: {undescribed[:5]}"
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and "run" in a.choices)
    for name, p in sub.choices.items():
        assert f"### `nerbench {name}`" in text
        for a in p._actions:
            assert a.option_strings[0] == "-h" or f"`{a.option_strings[-1]}`" in text, (name, a.option_strings)
    for cls in (TaskSpec, LocalSource, HubSource, ReferenceResult, SuiteSpec, SystemSpec, Override, SizesFor):
        for f in dataclasses.fields(cls):
            assert f.name == "origin" or f"| `{f.name}` |" in text, (cls.__name__, f.name)
    for fmt in BUILTIN:
        for option in get_format(fmt).options:
            assert f"| `{option}` |" in text, (fmt, option)
    for kind in ("crf", "lookup", "spacy", "transformer"):
        config = get_kind(kind).config_type()
        assert f"### `{kind}` ({config.__name__})" in text
        for f in dataclasses.fields(config):
            assert f"| `{f.name}` |" in text, (kind, f.name)
    assert "`separator`" in text and "`use_pos`" in text and "`--models-dir`" in text and "`doc_format`" in text


def test_the_readme_memory_figure_comes_from_the_committed_results() -> None:
    peaks = {}
    for path in (REPO / "results" / "raw").glob("*/minilm-l6/**/*.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        if "transfer" in result:
            continue  # an out-of-domain cell (from-<train task>/) loads a trained model and trains nothing
        peaks[path] = result["cost"]["peak_rss_mb"]
    assert peaks, "no committed MiniLM-L6 results"
    top = max(peaks, key=lambda p: peaks[p])
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    m = re.search(r"the MiniLM-L6 cells peak at ([\d.]+) GiB at most \(([\d,]+) MiB, (\S+) seed (\d+):", readme)
    assert m, "the README's sentence on the MiniLM-L6 memory peak is gone"
    gib, mib, task, seed = m.groups()
    assert (float(gib), int(mib.replace(",", ""))) == (round(peaks[top] / 1024, 2), round(peaks[top]))
    assert task == top.relative_to(REPO / "results" / "raw").parts[0] and top.name.startswith(f"seed{seed}-")
