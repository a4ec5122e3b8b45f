"""The trained CRF (:class:`CrfModel`): prediction, and the model directory it saves and loads."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pycrfsuite

from baselines.crf.config import CrfConfig, CrfError, PredictStats, TrainStats, config_from_params
from baselines.crf.features import get_feature_set, sent2features
from baselines.crf.resources import FeatureResources
from bench.data.types import Sentence
from bench.errors import NerbenchError

MODEL_JSON = "nerbench_model.json"
MODEL_FILE = "model.crfsuite"
RESOURCES_FILE = "feature_resources.json"
MODEL_FORMAT_VERSION = 1


class CrfModel:
    """A trained CRF: predicts word-level IOB2 tags from tokens (and POS, if trained with POS).

    Output tags are always labels seen in training, but CRFsuite does not forbid an ``O -> I-X``
    transition (it is just strongly penalised), so an invalid ``I-`` is possible in principle; it is
    *not* repaired here: the scorer's strict mode counts it as the error it is.
    """

    def __init__(
        self,
        model_bytes: bytes,
        *,
        config: CrfConfig,
        uses_pos: bool,
        resources: FeatureResources,
        stats: TrainStats | None = None,
    ) -> None:
        self.model_bytes = model_bytes
        self.config = config
        self.feature_set = get_feature_set(config.feature_set)
        self.uses_pos = uses_pos
        self.resources = resources
        self.stats = stats
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open_inmemory(model_bytes)  # reads from model_bytes, kept alive on self
        info = self._tagger.info()
        self.num_attributes = int(info.header["num_attrs"])
        self.labels: list[str] = sorted(self._tagger.labels())

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self.feature_set.groups)

    def _check_pos(self, pos: Sequence[Sequence[str] | None], where: Sequence[str]) -> None:
        if not self.uses_pos:
            return
        for p, src in zip(pos, where, strict=True):
            if p is None:
                raise CrfError(
                    f"this CRF was trained with POS features (feature set {self.feature_set.id}), but "
                    f"{src} has no POS tags: read the data with its POS column (pos_column), or retrain "
                    "with use_pos=False"
                )

    def predict_tokens(
        self, tokens: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[list[str]]:
        """Tags for raw token lists (POS lists beside them when the model uses POS)."""
        pos_list: Sequence[Sequence[str] | None] = pos if pos is not None else [None] * len(tokens)
        if len(pos_list) != len(tokens):
            raise ValueError(f"{len(tokens)} sentences but {len(pos_list)} POS sequences")
        self._check_pos(pos_list, [f"sentence {k}" for k in range(len(tokens))])
        out: list[list[str]] = []
        for toks, p in zip(tokens, pos_list, strict=True):
            if not toks:
                out.append([])
                continue
            feats = sent2features(
                toks, pos=p if self.uses_pos else None, groups=self.groups, resources=self.resources
            )
            out.append(list(self._tagger.tag(feats)))
        return out

    def predict_with_scores(
        self, tokens: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[tuple[list[str], list[float]]]:
        """Tags plus each tag's marginal probability (for ``nerbench predict`` entity scores)."""
        pos_list: Sequence[Sequence[str] | None] = pos if pos is not None else [None] * len(tokens)
        self._check_pos(pos_list, [f"sentence {k}" for k in range(len(tokens))])
        out: list[tuple[list[str], list[float]]] = []
        for toks, p in zip(tokens, pos_list, strict=True):
            if not toks:
                out.append(([], []))
                continue
            feats = sent2features(
                toks, pos=p if self.uses_pos else None, groups=self.groups, resources=self.resources
            )
            tags = list(self._tagger.tag(feats))
            out.append((tags, [float(self._tagger.marginal(t, i)) for i, t in enumerate(tags)]))
        return out

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Word-level IOB2 tags, one list per sentence; reads only tokens (and POS when used)."""
        return self.predict_timed(sentences)[0]

    def predict_timed(self, sentences: Sequence[Sentence]) -> tuple[list[list[str]], PredictStats]:
        """:meth:`predict` plus its wall time and throughput."""
        where = [s.source or f"sentence {k}" for k, s in enumerate(sentences)]
        self._check_pos([s.pos for s in sentences], where)
        t0 = time.perf_counter()
        tags = self.predict_tokens([s.tokens for s in sentences], pos=[s.pos for s in sentences])
        seconds = time.perf_counter() - t0
        return tags, PredictStats(seconds, len(sentences), sum(len(s.tokens) for s in sentences))

    # ------------------------------------------------------------------ persistence

    def describe(self) -> dict[str, Any]:
        """The ``nerbench_model.json`` content: what this directory holds and how it was made."""
        return {
            "kind": "crf",
            "format_version": MODEL_FORMAT_VERSION,
            "feature_set": self.feature_set.id,
            "feature_groups": list(self.feature_set.groups),
            "config": self.config.to_dict(),
            "labels": self.labels,
            "uses_pos": self.uses_pos,
            "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(self.model_bytes).hexdigest(),
            "resources_file": RESOURCES_FILE,
            "stats": self.stats.to_dict() if self.stats is not None else None,
            "versions": {p: _version(p) for p in ("sklearn-crfsuite", "python-crfsuite")},
        }

    def save(self, directory: str | Path) -> Path:
        """Write the model file, resources and ``nerbench_model.json`` (written last) into ``directory``.

        Atomically (:func:`bench.modeldir.atomic_model_dir`): the files go into a temporary sibling
        folder that then replaces ``directory``, so a kill while saving leaves the previous model
        (or nothing), never a folder that looks complete. A failed write (a full disk, no permission)
        is a :class:`CrfError` naming the file, with the temporary folder removed.
        """
        from bench.modeldir import atomic_model_dir

        d = Path(directory)
        current = d  # the file being written, for the error
        try:
            with atomic_model_dir(d, marker=MODEL_JSON) as tmp:
                resources = json.dumps(self.resources.to_json(), ensure_ascii=False)
                meta = json.dumps(self.describe(), indent=2, sort_keys=True) + "\n"
                current = d / MODEL_FILE
                (tmp / MODEL_FILE).write_bytes(self.model_bytes)
                current = d / RESOURCES_FILE
                (tmp / RESOURCES_FILE).write_text(resources, encoding="utf-8")
                current = d / MODEL_JSON
                (tmp / MODEL_JSON).write_text(meta, encoding="utf-8")
                current = d
        except OSError as exc:
            raise CrfError(
                f"{current}: cannot save the CRF model: {exc.strerror or exc}; nothing was saved "
                f"({d} is left as it was)"
            ) from None
        return d

    @classmethod
    def load(cls, directory: str | Path) -> CrfModel:
        """Read a directory written by :meth:`save`; anything else is a clear :class:`CrfError`."""
        from bench.modeldir import refuse_unfinished

        d = Path(directory)
        refuse_unfinished(d)
        meta_path = d / MODEL_JSON
        if not meta_path.is_file():
            unfinished = (d / MODEL_FILE).is_file() or (d / RESOURCES_FILE).is_file()
            hint = f" ({MODEL_FILE} without it: a save that did not finish; train again)" if unfinished else ""
            raise CrfError(f"{d}: no {MODEL_JSON}, so this is not a nerbench model directory{hint}")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CrfError(f"{meta_path}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise CrfError(f"{meta_path}: must be a JSON object, got {type(meta).__name__}")
        if meta.get("kind") != "crf":
            raise CrfError(f"{meta_path}: kind is {meta.get('kind')!r}, not 'crf'")
        if meta.get("format_version") != MODEL_FORMAT_VERSION:
            raise CrfError(
                f"{meta_path}: format_version {meta.get('format_version')!r}, expected {MODEL_FORMAT_VERSION}"
            )
        try:
            return cls._load_files(d, meta)
        except CrfError:
            raise
        except KeyError as exc:
            raise CrfError(f"{meta_path}: missing key {exc}") from None
        except OSError as exc:
            where = exc.filename or d
            raise CrfError(f"{where}: cannot read: {exc.strerror}; the model folder is incomplete") from None
        except (ValueError, TypeError, AttributeError, NerbenchError) as exc:
            raise CrfError(f"{d}: cannot load the CRF model: {exc}") from None

    @classmethod
    def _load_files(cls, d: Path, meta: dict[str, Any]) -> CrfModel:
        data = (d / meta["model_file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["model_sha256"]:
            raise CrfError(f"{d / meta['model_file']}: checksum differs from {MODEL_JSON} (file changed)")
        resources_text = (d / meta["resources_file"]).read_text(encoding="utf-8")
        resources = FeatureResources.from_json(json.loads(resources_text))
        config = config_from_params(meta["config"])
        if config.feature_set != meta["feature_set"]:
            raise CrfError(f"{d / MODEL_JSON}: feature_set {meta['feature_set']!r} disagrees with config")
        return cls(data, config=config, uses_pos=bool(meta["uses_pos"]), resources=resources)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
