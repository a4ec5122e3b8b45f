"""Constrained Viterbi vs per-word argmax decoding of the same trained transformer, on dev and test.

The model runs once per split (:func:`bench.finetune.word_log_probs`) and both decoders read the
same word-level label log-probabilities, so every difference in the table is the decoder's. Each
decoding is scored with the conlleval-compatible entity micro F1 (seqeval's default mode: a stray
``I-X`` opens an entity; the main score) and strict IOB2 F1 (seqeval ``mode="strict",
scheme=IOB2``), and its invalid ``I-`` tags are counted. The Viterbi - argmax difference of the
conlleval F1 gets a paired bootstrap over documents (sentences where a task has no documents).

Writes JSON (command, versions, machine, model folder + sha256 of its weights, data fingerprints,
every number) to ``--out`` and the Markdown table to stdout and beside the JSON (``.md``):

    HF_HUB_OFFLINE=1 python benchmarks/decode_viterbi_vs_argmax.py --data-dir ../shared/data \\
        --task conll2003 --model models/conll2003/minilm-l6/seed13 \\
        --task bc5cdr --model models/bc5cdr/minilm-l6/seed13 \\
        --out results/benchmarks/decode_viterbi_vs_argmax.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger("decode_viterbi_vs_argmax")

DECODES = ("argmax", "viterbi")
MODES = ("conlleval", "strict")
MODE_DOC = {
    "conlleval": "seqeval default mode (conlleval-compatible; a stray I-X opens an entity)",
    "strict": "seqeval mode='strict', scheme=IOB2 (an entity is B-X I-X* only)",
}


def display_path(path: Path) -> str:
    """The path as given when relative, relative to the current folder when inside it, else its last
    three parts (``<task>/<system>/seed<k>``): never the machine's absolute path."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return "/".join(path.parts[-3:])


def weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise SystemExit(f"{model_dir}: no model.safetensors or pytorch_model.bin")


def seqeval_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, dict[str, float]]:
    """Entity micro P/R/F1 in both modes, straight from seqeval (the definitions the table names)."""
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        kw: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
        out[mode] = {
            "precision": float(precision_score(gold, pred, zero_division=0, **kw)),
            "recall": float(recall_score(gold, pred, zero_division=0, **kw)),
            "f1": float(f1_score(gold, pred, zero_division=0, **kw)),
        }
    return out


def evaluate_split(
    loaded: Any,
    sentences: Sequence[Any],
    *,
    batch_size: int,
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Both decodings of one split from one forward pass, scored, compared and checked."""
    from bench.finetune import decode_log_probs, word_log_probs
    from bench.metrics import f1_from_counts, invalid_tags, paired_bootstrap_counts, sentence_counts, sum_by_unit

    gold = [list(s.tags) for s in sentences]
    log_probs, fstats = word_log_probs(loaded, sentences, batch_size=batch_size)
    use_docs = bool(sentences) and all(s.doc_id for s in sentences)
    unit_ids = [s.doc_id if use_docs else f"s{i}" for i, s in enumerate(sentences)]
    out: dict[str, Any] = {
        "sentences": len(sentences),
        "words": sum(len(g) for g in gold),
        "forward_seconds": fstats["seconds"],
        "encoding": {k: fstats[k] for k in ("windows_split", "zero_subtoken_words", "truncated_words") if k in fstats},
        "bootstrap_unit": "document" if use_docs else "sentence",
        "units": len(dict.fromkeys(unit_ids)),
    }
    tags: dict[str, list[list[str]]] = {}
    unit_counts: dict[str, list[list[int]]] = {}
    for decode in DECODES:
        t0 = time.perf_counter()
        tags[decode], _ = decode_log_probs(log_probs, loaded.labels, decode=decode)
        seconds = time.perf_counter() - t0
        scores = seqeval_scores(gold, tags[decode])
        for mode in MODES:  # nerbench's own counts must give seqeval's number
            counts = sentence_counts(gold, tags[decode], mode=mode)
            ours = f1_from_counts(*(sum(c[k] for c in counts) for k in range(3)))
            assert abs(ours - scores[mode]["f1"]) < 1e-9, (decode, mode, ours, scores[mode]["f1"])
            if mode == "conlleval":
                unit_counts[decode] = sum_by_unit(counts, unit_ids)[1]
        out[decode] = {
            **scores,
            "invalid_pred_tags": sum(invalid_tags(t) for t in tags[decode]),
            "invalid_pred_sentences": sum(invalid_tags(t) > 0 for t in tags[decode]),
            "decode_seconds": seconds,
        }
    v, a = out["viterbi"], out["argmax"]
    assert v["invalid_pred_tags"] == 0, "Viterbi emitted invalid IOB2"
    assert abs(v["conlleval"]["f1"] - v["strict"]["f1"]) < 1e-12, "valid IOB2 reads the same in both modes"
    changed = [
        sum(x != y for x, y in zip(ta, tv, strict=True))
        for ta, tv in zip(tags["argmax"], tags["viterbi"], strict=True)
    ]
    valid_changed = sum(
        1 for c, ta in zip(changed, tags["argmax"], strict=True) if c and invalid_tags(ta) == 0
    )
    if valid_changed:  # only possible through exact ties of float32 log-probabilities
        log.warning("%d sentence(s) with valid argmax tags decoded differently by Viterbi (ties)", valid_changed)
    out["words_changed"] = sum(changed)
    out["sentences_changed"] = sum(c > 0 for c in changed)
    out["valid_argmax_sentences_changed"] = valid_changed
    assert out["sentences_changed"] <= a["invalid_pred_sentences"] + valid_changed
    out["paired_bootstrap_conlleval_f1"] = {
        "a": "argmax",
        "b": "viterbi",
        **paired_bootstrap_counts(unit_counts["argmax"], unit_counts["viterbi"], n_resamples=n_resamples, seed=seed),
    }
    return out


def model_record(model_dir: Path, loaded: Any) -> dict[str, Any]:
    from bench.data.load import sha256_file
    from bench.modeldir import MODEL_INFO_FILE

    info_path = model_dir / MODEL_INFO_FILE
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    weights = weights_file(model_dir)
    base = dict(info.get("base_model") or {})
    if Path(str(base.get("source", ""))).is_absolute():  # a local folder of the training machine
        base["source"] = None
    return {
        "dir": display_path(model_dir),
        "weights_file": weights.name,
        "sha256": sha256_file(weights),
        "base_model": base or None,
        "trained_decode": (info.get("config") or {}).get("decode"),
        "best_epoch": info.get("best_epoch"),
        "best_dev_strict_f1": info.get("best_dev_strict_f1"),
        "labels": list(loaded.labels),
    }


def render(report: dict[str, Any]) -> str:
    def f(x: float) -> str:
        return f"{x:.4f}"

    lines = [
        "## Constrained Viterbi vs argmax decoding",
        "",
        f"`{report['command']}`",
        "",
        "One forward pass per split; both decoders read the same word-level log-probabilities. "
        "conlleval F1: " + MODE_DOC["conlleval"] + "; strict F1: " + MODE_DOC["strict"] + ". "
        "Δ = Viterbi − argmax conlleval F1, 95% paired-bootstrap interval and two-sided p "
        f"({report['n_resamples']} resamples over documents, or sentences where a task has none).",
        "",
        "| task | split | model | conlleval F1 argmax | conlleval F1 Viterbi | Δ [95% CI] | p "
        "| strict F1 argmax | strict F1 Viterbi | invalid I- tags argmax → Viterbi | words changed |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for t in report["tasks"]:
        for split, r in t["splits"].items():
            pb = r["paired_bootstrap_conlleval_f1"]
            lines.append(
                f"| {t['task']} | {split} | {t['model']['dir']} (`{t['model']['sha256'][:12]}`) "
                f"| {f(r['argmax']['conlleval']['f1'])} | {f(r['viterbi']['conlleval']['f1'])} "
                f"| {pb['delta']:+.4f} [{pb['delta_ci_low']:+.4f}, {pb['delta_ci_high']:+.4f}] | {pb['p_value']:.3f} "
                f"| {f(r['argmax']['strict']['f1'])} | {f(r['viterbi']['strict']['f1'])} "
                f"| {r['argmax']['invalid_pred_tags']} → {r['viterbi']['invalid_pred_tags']} "
                f"| {r['words_changed']} / {r['words']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", action="append", required=True, help="task name or TOML file; repeat, one --model each")
    ap.add_argument("--model", action="append", required=True, type=Path, help="trained model folder of that task")
    ap.add_argument("--data-dir", help="folder with one sub-folder per task (default: $NERBENCH_DATA_DIR)")
    ap.add_argument("--splits", default="dev,test")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--max-sentences", type=int, help="first N sentences of each split (smoke tests only)")
    ap.add_argument("--n-resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--out", type=Path, help="JSON file; the Markdown table goes beside it (.md)")
    args = ap.parse_args(argv)
    if len(args.task) != len(args.model):
        ap.error(f"{len(args.task)} --task but {len(args.model)} --model: give one model per task, in order")
    argv_used = sys.argv[1:] if argv is None else list(argv)

    import torch

    from bench.catalog import resolve_task
    from bench.data.load import load_task_data
    from bench.env import benchmark_command, environment
    from bench.finetune import load_trained

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    report: dict[str, Any] = {
        "benchmark": "decode_viterbi_vs_argmax",
        "command": benchmark_command(__file__, argv_used, data_dir=args.data_dir),
        "modes": MODE_DOC,
        "n_resamples": args.n_resamples,
        "bootstrap_seed": args.seed,
        "batch_size": args.batch_size,
        "max_sentences": args.max_sentences,
        "tasks": [],
    }
    t_start = time.perf_counter()
    for task_name, model_dir in zip(args.task, args.model, strict=True):
        task = resolve_task(task_name)
        data = load_task_data(task, data_dir=args.data_dir)
        loaded = load_trained(model_dir, device=args.device, decode="viterbi")
        if set(loaded.labels) != set(data.labels):
            raise SystemExit(
                f"{model_dir}: labels {sorted(loaded.labels)} are not task {task.name}'s {sorted(data.labels)}"
            )
        entry: dict[str, Any] = {
            "task": task.name,
            "task_version": task.version,
            "data_source": data.source if data.source.startswith("hub:") else "local",
            "data_fingerprint": data.fingerprint,
            "split_fingerprints": {s: data.split_fingerprints.get(s) for s in splits},
            "model": model_record(model_dir, loaded),
            "device": str(loaded.device),
            "precision": loaded.precision,
            "splits": {},
        }
        for split in splits:
            sents = data.sentences(split)[: args.max_sentences]
            log.info("%s %s: %d sentences", task.name, split, len(sents))
            entry["splits"][split] = evaluate_split(
                loaded, sents, batch_size=args.batch_size, n_resamples=args.n_resamples, seed=args.seed
            )
        report["tasks"].append(entry)
    report["seconds"] = time.perf_counter() - t_start
    report["environment"] = {**environment(), "torch_threads": torch.get_num_threads()}
    table = render(report)
    report["markdown"] = table
    sys.stdout.write(table)
    if args.out:
        from bench.results import atomic_write_text

        atomic_write_text(args.out, json.dumps(report, indent=2, sort_keys=True) + "\n")
        atomic_write_text(args.out.with_suffix(".md"), table)
        log.info("wrote %s and %s", args.out, args.out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
