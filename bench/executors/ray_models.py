"""The driver's side of a Ray run's models and attempts: what each task is told (:class:`CellTransport`),
what comes back (a model brought back and checked, each attempt recorded), and what the run says of it.

By default every cell's trained model ends up in the driver's ``--models-dir``, as with the local
executor, so ``nerbench predict`` and later transfer cells find it there: a worker that sees the driver's
models dir (a shared filesystem, detected with a marker file) trains straight into it; any other worker
packs the model, and the driver unpacks and checks it (:mod:`bench.executors.model_transfer`).
``--models-stay-on-workers`` leaves models where they were trained (under the same absolute path on that
node). Every result records where its model is, in ``system.model_location``::

    {"node": "node-b", "path": "conll2003/crf/seed1", "brought_back": true, "shared_filesystem": false,
     "sha256": "<digest of the folder's manifest>", "files": 3, "bytes": 1048576}

(``path`` is relative to the models dir). A transfer cell gets its in-domain model shipped from the
driver's models dir when the cluster has nodes besides this machine and the model is here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bench.executors.attempts import RayAttempts, annotate_files
from bench.executors.model_transfer import SharedMarker, job_trains_model, pack_model, unpack_model
from bench.executors.ray_worker import WorkerOptions

log = logging.getLogger(__name__)


class CellTransport:
    """One driver's ``_run``: the shared-filesystem marker, every attempt's record, models shipped to and
    brought back from the workers. :meth:`close` removes the marker."""

    def __init__(self, ray: Any, models_dir: Path, *, bring_back: bool = True, only_this_node: bool = False) -> None:
        self.ray, self.models_dir, self.bring_back = ray, Path(models_dir), bring_back
        self.only_this_node = only_this_node
        self.marker = SharedMarker(self.models_dir)
        self.attempts = RayAttempts()
        self.shipped: dict[Path, tuple[Any, dict[str, str], str] | None] = {}
        self.places: dict[str, int] = {"brought back": 0, "shared": 0, "stayed": 0}

    def close(self) -> None:
        self.marker.remove()

    def options(self, job: Any) -> WorkerOptions:
        """What a new submission of ``job`` is told besides the job."""
        return WorkerOptions(attempt=self.attempts.next_attempt(job.cell.label), marker=self.marker.token,
                             bring_back=self.bring_back, model=None if job_trains_model(job) else self._ship(job))

    def _ship(self, job: Any) -> tuple[Any, dict[str, str], str] | None:
        """A transfer cell's in-domain model for workers that do not see the models dir: packed once per model
        into Ray's object store; ``None`` when no node needs it or the driver has no copy."""
        from bench.executors.model_transfer import manifest_digest
        from bench.modeldir import MODEL_INFO_FILE

        rel = Path(job.cell.model_rel)
        if self.only_this_node and self.marker.token:
            return None  # the one node is this machine: its workers see the models dir
        if rel not in self.shipped:
            folder = self.models_dir / rel
            self.shipped[rel] = None
            if (folder / MODEL_INFO_FILE).is_file():
                archive, manifest = pack_model(folder)
                self.shipped[rel] = (self.ray.put(archive), manifest, manifest_digest(manifest))
                log.info("%s: its model %s goes to the workers that do not see %s (%d bytes)", job.cell.label, rel,
                         self.models_dir, len(archive))
        return self.shipped[rel]

    def receive(self, job: Any, reply: dict[str, Any], attempts: list[dict[str, Any]]) -> list[tuple[Path, bytes]]:
        """A finished attempt's files with ``run.attempts`` and ``system.model_location`` in every result document,
        checked (:func:`bench.runner.check_result_files`) and ready for :func:`bench.runner.write_checked`; its
        model put in place only after that check, and checked itself (raises
        :class:`~bench.executors.model_transfer.ModelTransferError` otherwise)."""
        from bench.runner import check_result_files

        label = job.cell.label
        model, location, brought = reply.get("model"), None, False
        if model is not None:
            brought = model.get("archive") is not None
            location = {"node": model["node"], "path": model["path"], "brought_back": brought,
                        "shared_filesystem": bool(model["shared_filesystem"]), "sha256": model["sha256"],
                        "files": model.get("files"), "bytes": model.get("bytes")}
        checked = check_result_files(Path(job.config.results_dir),  # a refused result replaces no model
                                     annotate_files(reply["files"], attempts=attempts, model_location=location))
        if model is not None:
            dest = self.models_dir / model["path"]
            if brought:
                unpack_model(model["archive"], model["manifest"], model["sha256"], dest,
                             origin=f"{model['node']} for {label}")
                log.info("%s: its model came back from %s to %s (%d files, sha256 of each checked)", label,
                         model["node"], dest, model["files"])
            self.places["brought back" if brought else "shared" if model["shared_filesystem"] else "stayed"] += 1
        return checked

    def note(self) -> str | None:
        """What the run says about where its trained models are, or ``None`` when it trained none."""
        parts = []
        if n := self.places["brought back"]:
            parts.append(f"{n} brought back from the Ray workers into {self.models_dir} (every file's sha256 checked)")
        if n := self.places["shared"]:
            parts.append(f"{n} written by the Ray workers straight into {self.models_dir}, a filesystem they share "
                         "with this machine (nothing to bring back)")
        if n := self.places["stayed"]:
            parts.append(f"{n} stay on the Ray workers that trained them (--models-stay-on-workers), under "
                         f"{self.models_dir} on each node; each result's system.model_location names it")
        return "trained models: " + "; ".join(parts) if parts else None
