"""The file plumbing under the named offline models: the cache root, sha256 of files (memoised per
process), several files read as one seekable stream, zip member names that stay inside their folder, an
advisory lock, and discarding damaged or stale folders."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from bench.errors import ConfigError


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


def _remember_sha256(path: Path, digest: str) -> None:
    """Record the sha256 of a file just written (hashed while writing it), so it is not read again."""
    _SHA_MEMO[_stat_key(path)] = digest


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


_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")


def weights_sha256(folder: Path) -> dict[str, str] | None:
    """``{file name: sha256}`` of the weights file(s) of a Hugging Face model folder (sharded ones included)."""
    files = [folder / n for n in _WEIGHT_FILES if (folder / n).is_file()]
    files += sorted(p for p in folder.glob("model-*-of-*.safetensors") if p.is_file())
    files += sorted(p for p in folder.glob("pytorch_model-*-of-*.bin") if p.is_file())
    return {p.name: _sha256(p) for p in files} or None
