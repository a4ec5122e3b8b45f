"""A trained spaCy NER pipeline (:class:`SpacyModel`): IOB2 tags for given words, and its model folder
(``pipeline/`` plus ``nerbench_model.json`` with every file's sha256), written atomically and checked on load."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from baselines.crf import PredictStats  # the CRF's record of a prediction's time
from baselines.spacy_ner.config import SpacyConfig, config_from_params
from baselines.spacy_ner.docs import check_words, doc_tags, make_doc
from baselines.spacy_ner.install import SpacyError, package_version, require_spacy
from baselines.spacy_ner.stats import TrainStats
from bench.data.types import Sentence
from bench.errors import ConfigError

MODEL_JSON = "nerbench_model.json"
PIPELINE_DIR = "pipeline"
WEIGHTS_FILE = f"{PIPELINE_DIR}/ner/model"
"""The NER component's weights (tok2vec included) inside the model folder."""
MODEL_FORMAT_VERSION = 1


class SpacyModel:
    """A trained spaCy NER pipeline that tags given words with IOB2 tags, one per word.

    spaCy's transition system only builds well-formed entities, so the tags are always valid IOB2.
    There is no per-word probability (the greedy parser scores actions, not tags).
    """

    def __init__(
        self,
        nlp: Any,
        *,
        config: SpacyConfig,
        lang: str,
        entity_types: Sequence[str],
        stats: TrainStats | None = None,
    ) -> None:
        self.nlp = nlp
        self.config = config
        self.lang = lang
        self.entity_types = tuple(entity_types)
        self.stats = stats
        self.files: dict[str, str] = {}
        """sha256 of every pipeline file, by path in the model folder (filled by :meth:`save` and :meth:`load`)."""

    @property
    def labels(self) -> list[str]:
        """IOB2 tags this model can output: ``O``, then ``B-``/``I-`` per entity type."""
        return ["O"] + [f"{p}-{t}" for t in self.entity_types for p in ("B", "I")]

    def predict_tokens(self, tokens: Sequence[Sequence[str]]) -> list[list[str]]:
        """IOB2 tags for raw word lists (an empty list gets no tags; an empty word is an error)."""
        docs = [make_doc(self.nlp.vocab, words, f"sentence {k + 1}") for k, words in enumerate(tokens) if words]
        tagged: Iterator[Any] = iter(self.nlp.pipe(docs, batch_size=self.config.eval_batch_size))
        out: list[list[str]] = []
        for k, words in enumerate(tokens):
            if not words:
                out.append([])
                continue
            tags = doc_tags(next(tagged))
            if len(tags) != len(words):
                raise RuntimeError(f"sentence {k + 1}: spaCy returned {len(tags)} tags for {len(words)} words")
            out.append(tags)
        return out

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Word-level IOB2 tags, one list per sentence; reads only the tokens."""
        return self.predict_timed(sentences)[0]

    def predict_timed(self, sentences: Sequence[Sentence]) -> tuple[list[list[str]], PredictStats]:
        """:meth:`predict` plus its wall time and throughput."""
        for k, s in enumerate(sentences):
            check_words(s.tokens, s.source or f"sentence {k + 1}")
        t0 = time.perf_counter()
        tags = self.predict_tokens([s.tokens for s in sentences])
        seconds = time.perf_counter() - t0
        return tags, PredictStats(seconds, len(sentences), sum(len(s.tokens) for s in sentences))

    # ------------------------------------------------------------------ persistence

    def describe(self, files: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ``nerbench_model.json`` content: what the folder holds, how it was made, its checksums."""
        files = dict(files if files is not None else self.files)
        return {
            "kind": "spacy",
            "format_version": MODEL_FORMAT_VERSION,
            "config": self.config.to_dict(),
            "lang": self.lang,
            "labels": self.labels,
            "entity_types": list(self.entity_types),
            "pipeline_dir": PIPELINE_DIR,
            "pipeline": list(self.nlp.pipe_names),
            "model_file": WEIGHTS_FILE,
            "model_sha256": files.get(WEIGHTS_FILE),
            "files": files,
            "stats": self.stats.to_dict() if self.stats is not None else None,
            "versions": {p: package_version(p) for p in ("spacy", "thinc")},
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``pipeline/`` and ``nerbench_model.json`` (last, with every file's sha256) into ``directory``.

        Atomically (:func:`bench.modeldir.atomic_model_dir`): a kill while saving leaves the previous
        model (or nothing), never a folder that looks complete.
        """
        from bench.modeldir import atomic_model_dir

        d = Path(directory)
        with atomic_model_dir(d, marker=MODEL_JSON) as tmp:
            self.nlp.to_disk(tmp / PIPELINE_DIR)
            files = {
                p.relative_to(tmp).as_posix(): _sha256(p)
                for p in sorted((tmp / PIPELINE_DIR).rglob("*"))
                if p.is_file()
            }
            if WEIGHTS_FILE not in files:
                raise SpacyError(f"spaCy wrote no {WEIGHTS_FILE}: the pipeline has no trained NER")
            meta = json.dumps(self.describe(files), indent=2, sort_keys=True) + "\n"
            (tmp / MODEL_JSON).write_text(meta, encoding="utf-8")
        self.files = files
        return d

    @classmethod
    def load(cls, directory: str | Path) -> SpacyModel:
        """Read a folder written by :meth:`save`; a damaged or foreign one is a clear :class:`SpacyError`."""
        from bench.modeldir import read_json_object, refuse_unfinished

        d = Path(directory)
        if not d.is_dir():
            raise SpacyError(f"{d}: model directory not found")
        refuse_unfinished(d)
        meta_path = d / MODEL_JSON
        if not meta_path.is_file():
            hint = (
                f" ({PIPELINE_DIR}/ without it: a save that did not finish; train again)"
                if (d / PIPELINE_DIR).is_dir()
                else ""
            )
            raise SpacyError(f"{d}: no {MODEL_JSON}, so this is not a nerbench model directory{hint}")
        meta = read_json_object(meta_path)
        if meta.get("kind") != "spacy":
            raise SpacyError(f"{meta_path}: kind is {meta.get('kind')!r}, not 'spacy'")
        if meta.get("format_version") != MODEL_FORMAT_VERSION:
            raise SpacyError(
                f"{meta_path}: format_version {meta.get('format_version')!r}, expected {MODEL_FORMAT_VERSION}"
            )
        try:
            files = meta["files"]
            config = config_from_params(meta["config"])
            types = [str(t) for t in meta["entity_types"]]
            lang = str(meta["lang"])
            pipeline_dir = str(meta["pipeline_dir"])
        except KeyError as exc:
            raise SpacyError(f"{meta_path}: missing key {exc}") from None
        except (TypeError, ConfigError) as exc:
            raise SpacyError(f"{meta_path}: bad 'config': {exc}") from None
        _verify_files(d, files, meta_path)
        spacy = require_spacy()
        try:
            nlp = spacy.load(d / pipeline_dir)
        except Exception as exc:  # noqa: BLE001 - spaCy raises many kinds; the message says what is wrong
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpacyError(f"{d / pipeline_dir}: spaCy cannot load the pipeline: {first}") from None
        if "ner" not in nlp.pipe_names:
            raise SpacyError(f"{d / pipeline_dir}: the pipeline has no 'ner' component (has {nlp.pipe_names})")
        known = set(nlp.get_pipe("ner").labels)
        if known != set(types):
            raise SpacyError(f"{meta_path}: entity_types {sorted(types)} disagree with the pipeline's {sorted(known)}")
        model = cls(nlp, config=config, lang=lang, entity_types=types)
        model.files = dict(files)
        return model


def _verify_files(d: Path, files: Any, meta_path: Path) -> None:
    """Every file the manifest names is there, inside the folder, with its recorded sha256."""
    if not isinstance(files, dict) or WEIGHTS_FILE not in files:
        raise SpacyError(f"{meta_path}: 'files' must map each pipeline file to its sha256 and include {WEIGHTS_FILE}")
    for rel, digest in sorted(files.items()):
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            raise SpacyError(f"{meta_path}: file {rel!r} is not inside the model folder")
        path = d / p
        if not path.is_file():
            raise SpacyError(f"{path}: missing; the model folder is incomplete (train again)")
        if _sha256(path) != digest:
            raise SpacyError(f"{path}: checksum differs from {MODEL_JSON} (the file changed or is damaged)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
