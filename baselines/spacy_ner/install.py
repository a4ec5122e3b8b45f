"""Whether spaCy is there: the extra ``nerbench[spacy]`` named when it is not, read from the package
metadata first (nothing imported: thinc would import torch); :class:`SpacyError`."""

from __future__ import annotations

from importlib import metadata
from types import ModuleType

from bench.errors import ConfigError, NerbenchError

SPACY_EXTRA_HINT = "install nerbench[spacy] (pip install 'nerbench[spacy]', which brings spacy>=3.8,<3.9)"


class SpacyError(NerbenchError):
    """A spaCy model that cannot be trained or used as asked (no entities, damaged model folder)."""


def check_spacy_installed() -> None:
    """A :class:`ConfigError` naming the extra when spaCy 3 is not installed, read from the package
    metadata: nothing is imported (thinc would import torch)."""
    try:
        found = metadata.version("spacy")
    except metadata.PackageNotFoundError:
        raise ConfigError(f"the spacy system needs spaCy, which is not installed: {SPACY_EXTRA_HINT}") from None
    if found.split(".")[0] != "3":
        raise ConfigError(f"the spacy system needs spaCy 3 (found {found}): {SPACY_EXTRA_HINT}")


def require_spacy() -> ModuleType:
    """The ``spacy`` module, or a :class:`ConfigError` naming the extra to install."""
    check_spacy_installed()
    try:
        import spacy
    except ImportError as exc:
        raise ConfigError(f"the spacy system needs spaCy, which does not import ({exc}): {SPACY_EXTRA_HINT}") from None
    return spacy


def package_version(package: str) -> str | None:
    """The installed version of ``package`` (``None`` when it is not installed)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
