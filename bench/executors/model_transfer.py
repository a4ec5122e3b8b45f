"""Trained models between a Ray worker and the driver, checked.

A worker packs a cell's model folder as a tar archive and lists every file's sha256 in a *manifest*
(:func:`pack_model`); the manifest's own digest (:func:`manifest_digest`) names the folder's contents in the
result (``system.model_location.sha256``). The driver unpacks an archive into a hidden temporary folder
beside the destination, checks every file against the manifest (no file missing, none added, none
different) and only then renames it into place, replacing an older model folder only after the check
(:func:`unpack_model`, through :func:`bench.modeldir.atomic_model_dir`). A transfer cell's in-domain model
travels the other way, packed and checked the same way.

Nothing needs to travel when a worker sees the driver's models dir itself (a shared filesystem): the
driver writes a marker file with a random token there before it submits (:class:`SharedMarker`), and a
worker that reads the same token back from the same path (:func:`sees_marker`) uses the folder directly.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import socket
import tarfile
from pathlib import Path
from typing import Any

from bench.errors import NerbenchError

MARKER_PREFIX = ".nerbench-driver-"
CHUNK = 1 << 20


class ModelTransferError(NerbenchError):
    """A model archive that does not match its manifest, or cannot be read: nothing was replaced."""


def job_trains_model(job: Any) -> bool:
    """Whether the job trains (and saves) a model: a cell does; a transfer cell (a job with its own ``execute``)
    loads another cell's and writes none."""
    return getattr(job, "execute", None) is None


def manifest_digest(manifest: dict[str, str]) -> str:
    """The digest of a whole folder: sha256 of its manifest as sorted JSON.

    >>> manifest_digest({"b": "2", "a": "1"}) == manifest_digest({"a": "1", "b": "2"})
    True
    """
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _files(folder: Path) -> list[Path]:
    """Every file below ``folder``, sorted; a link or anything else that is not a plain file or folder is refused."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ModelTransferError(f"{path}: not a plain file or folder; a model folder is copied as plain files only")
        if path.is_file():
            out.append(path)
    return out


def manifest_of(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file below ``folder``."""
    from bench.runner import file_sha256

    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in _files(folder)}


class _Hashing(io.RawIOBase):
    """A file read once for both the archive and its digest."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.hash = fh, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = self.fh.readinto(buf)
        self.hash.update(memoryview(buf)[:n])
        return n


def pack_model(folder: Path) -> tuple[bytes, dict[str, str]]:
    """``folder`` as an uncompressed tar archive (paths relative to it) and its manifest, in one read."""
    buf, manifest = io.BytesIO(), {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(folder):
            rel = path.relative_to(folder).as_posix()
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as fh:
                reader = _Hashing(fh)
                tar.addfile(info, io.BufferedReader(reader, CHUNK))
            manifest[rel] = reader.hash.hexdigest()
    return buf.getvalue(), manifest


def describe(folder: Path, manifest: dict[str, str]) -> dict[str, Any]:
    """What a result says of a model folder's contents besides where it is."""
    return {"sha256": manifest_digest(manifest), "files": len(manifest),
            "bytes": sum((folder / rel).stat().st_size for rel in manifest) if folder.is_dir() else None}


def unpack_model(archive: bytes, manifest: dict[str, str], digest: str, dest: Path, *, origin: str) -> None:
    """Put the model folder packed in ``archive`` at ``dest``, checked (see the module docstring); raises
    :class:`ModelTransferError` (``dest`` left as it was) when anything does not match. ``origin`` says where
    it came from, for the message."""
    from bench.modeldir import MODEL_INFO_FILE, atomic_model_dir

    what = f"{dest}: the model folder that came from {origin}"
    again = ("nothing was replaced at that path; run the cell again (the copy may have been damaged on the way), "
             "or keep models on the workers with --models-stay-on-workers")
    if manifest_digest(manifest) != digest:
        raise ModelTransferError(f"{what}: its manifest does not match its digest {digest[:12]}; {again}")
    if MODEL_INFO_FILE not in manifest:
        raise ModelTransferError(f"{what}: has no {MODEL_INFO_FILE}, so it is not a saved nerbench model; {again}")
    with atomic_model_dir(dest) as tmp:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
                for member in tar.getmembers():
                    if not (member.isfile() or member.isdir()) or member.name.startswith("/") or \
                            ".." in Path(member.name).parts:
                        raise ModelTransferError(f"{what}: its archive holds {member.name!r}, which is not a "
                                                 f"plain file inside the folder; {again}")
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ModelTransferError(f"{what}: its archive cannot be read ({exc}); {again}") from None
        found = manifest_of(tmp)
        problems = [f"{rel} is missing" for rel in sorted(set(manifest) - set(found))]
        problems += [f"{rel} is not in its manifest" for rel in sorted(set(found) - set(manifest))]
        problems += [f"{rel} has sha256 {found[rel][:12]}…, its manifest says {manifest[rel][:12]}…"
                     for rel in sorted(set(found) & set(manifest)) if found[rel] != manifest[rel]]
        if problems:
            shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
            raise ModelTransferError(f"{what}, does not match its manifest: {shown}; {again}")


# --------------------------------------------------------------------------- shared filesystem


class SharedMarker:
    """The driver's marker file in its models dir (see the module docstring): ``token`` is ``None`` when it
    could not be written (a worker then assumes no shared filesystem)."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        remove_stale_markers(self.models_dir)
        self.token: str | None = secrets.token_hex(16)
        self.path = self.models_dir / f"{MARKER_PREFIX}{self.token}"
        from bench.executors.leftovers import process_id

        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"token": self.token, "host": socket.gethostname(),
                                             "driver": process_id(os.getpid())}) + "\n", encoding="utf-8")
        except OSError:
            self.token = None

    def remove(self) -> None:
        if self.token is not None:
            self.path.unlink(missing_ok=True)


def sees_marker(models_dir: Path, token: str | None) -> bool:
    """Whether this process sees the driver's marker (so the driver's models dir) at ``models_dir``."""
    if not token:
        return False
    try:
        return json.loads((Path(models_dir) / f"{MARKER_PREFIX}{token}").read_text(encoding="utf-8"))["token"] == token
    except (OSError, ValueError, KeyError, TypeError):
        return False


def remove_stale_markers(models_dir: Path) -> None:
    """Markers of drivers of this host that are gone (killed before they removed theirs)."""
    from bench.executors.leftovers import is_running

    host = socket.gethostname()
    for path in Path(models_dir).glob(f"{MARKER_PREFIX}*"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("host") == host and not is_running(record.get("driver") or {}):
                path.unlink(missing_ok=True)
        except (OSError, ValueError, AttributeError):
            continue
