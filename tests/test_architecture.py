"""The shape of the code, checked: the import-linter contracts (``[tool.importlinter]`` in pyproject.toml,
also run by ``nox -s lint``), no import circles anywhere in ``bench`` and ``baselines``, and the size limits
(no module over :data:`MAX_MODULE_LINES` lines, no function over :data:`MAX_FUNCTION_LINES`)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGES = ("bench", "baselines")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80

STILL_OVER: dict[str, int] = {
    "baselines/spacy_ner.py": 699, "baselines/spacy_ner.py:train_spacy": 148,
    "bench/finetune/train.py:_finetune": 273,
    "bench/models.py": 745, "bench/predict.py:read_input": 98,
}
"""Modules and functions over the limits that are still to be split, with their size when listed: the list
may only shrink (a listed one that fits now, or grew, fails the test too)."""


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _graph():  # noqa: ANN202
    grimp = pytest.importorskip("grimp")
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)


def _cycles(graph) -> list[list[str]]:  # noqa: ANN001
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


KNOWN_CYCLES: list[list[str]] = [
    ["bench.spec", "bench.systems", "bench.systems.base", "bench.systems.crf", "bench.systems.external",
     "bench.systems.lookup", "bench.systems.spacy", "bench.systems.transformer"],
]
"""Circles still to break (the spec validating kinds against the registry): the list may only shrink, and a
circle that grows or a new one fails."""


def test_no_import_circles() -> None:
    cycles = _cycles(_graph())
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    assert not new, "import circles: " + "; ".join(" <-> ".join(c) for c in new)
    gone = [c for c in KNOWN_CYCLES if c not in cycles]
    assert not gone, f"broken since listed: remove {gone} from KNOWN_CYCLES"


def test_the_cycle_finder_finds_a_circle() -> None:
    class G:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m: str) -> set[str]:
            return self.edges.get(m, set())

    assert _cycles(G()) == [["a", "b", "c"]]


def _sizes() -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path in _modules():
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8")
        n = len(text.splitlines())
        if n > MAX_MODULE_LINES:
            sizes[rel] = n
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    sizes[f"{rel}:{node.name}"] = length
    return sizes


def test_no_module_or_function_over_the_size_limits() -> None:
    sizes = _sizes()
    new = {k: v for k, v in sizes.items() if k not in STILL_OVER}
    assert not new, (f"over {MAX_MODULE_LINES} lines a module / {MAX_FUNCTION_LINES} a function: {new}; "
                     "split it along its seams")
    grown = {k: (STILL_OVER[k], v) for k, v in sizes.items() if k in STILL_OVER and v > STILL_OVER[k]}
    assert not grown, f"listed as still to split, and grew: {grown}"
    done = sorted(set(STILL_OVER) - set(sizes))
    assert not done, f"now within the limits: remove {done} from STILL_OVER"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (nox -s lint installs it)")
    return subprocess.run([exe, "--config", str(REPO / "pyproject.toml"), "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=300)


def test_the_layer_contracts_hold() -> None:
    proc = _lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " 0 broken" in proc.stdout


def test_a_back_import_breaks_the_contract(tmp_path: Path) -> None:
    """A deliberate import from a lower layer up to a higher one (metrics -> runner) fails the lint."""
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    metrics = tmp_path / "bench" / "metrics.py"
    metrics.write_text(metrics.read_text(encoding="utf-8") + "\nfrom bench.runner import plan  # noqa\n",
                       encoding="utf-8")
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "bench.metrics -> bench.runner" in proc.stdout
