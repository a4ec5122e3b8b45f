"""Training throughput and F1: plain ``transformers.Trainer`` vs nerbench's ``finetune``, one run.

Same model, same data (a CoNLL-2003 train subset), same epochs, learning rate, batch size, warm-up,
weight decay, seed and device. (a) is the classic token-classification notebook: sentences
tokenized with truncation, first-sub-token labels, ``DataCollatorForTokenClassification`` padding,
random batches. (b) is :func:`bench.finetune.finetune` (length-grouped batches, dynamic padding,
windows). Both models are scored the same way: word-level seqeval strict IOB2 F1 from
:func:`bench.finetune.predict_words`, on dev and test.

Throughput counts *real* sub-tokens (special tokens included, padding excluded) per second of the
training loop: ``Trainer.train()``'s ``train_runtime`` for (a), ``train_loop_seconds`` for (b)
(its per-epoch dev evaluation is timed separately and excluded).

    HF_HUB_OFFLINE=1 python benchmarks/trainer_vs_nerbench.py --train-sentences 3000 --epochs 1 \\
        --out results/bench/trainer_vs_nerbench.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.align import align_labels  # noqa: E402
from bench.data.conll import read_conll_file  # noqa: E402
from bench.data.types import Sentence  # noqa: E402
from bench.finetune import (  # noqa: E402
    FinetuneConfig,
    LoadedModel,
    finetune,
    load_trained,
    predict_words,
    seed_everything,
    strict_f1,
)
from bench.models import load_for_training, resolve_model  # noqa: E402
from bench.runner import portable_arg  # noqa: E402

log = logging.getLogger("trainer_vs_nerbench")
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def default_data_dir() -> Path:
    env = os.environ.get("NERBENCH_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_split(data_dir: Path, name: str, limit: int | None) -> list[Sentence]:
    sentences, _ = read_conll_file(data_dir / "conll2003" / name)
    return sentences[:limit] if limit else sentences


def score(loaded: LoadedModel, splits: dict[str, list[Sentence]], *, batch_size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sents in splits.items():
        pred, stats, _ = predict_words(loaded, sents, batch_size=batch_size, decode="argmax")
        out[name] = {"strict_f1": strict_f1([s.tags for s in sents], pred), "seconds": stats["seconds"]}
    return out


def run_trainer(
    train: list[Sentence], evals: dict[str, list[Sentence]], args: argparse.Namespace
) -> dict[str, Any]:
    """The classic notebook recipe on ``transformers.Trainer``."""
    import torch
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    spec = resolve_model(args.model)
    seed_everything(args.seed)
    model, tokenizer = load_for_training(spec, labels=LABELS)
    label2id = {lab: i for i, lab in enumerate(LABELS)}
    features = []
    for s in train:
        enc = tokenizer(list(s.tokens), is_split_into_words=True, truncation=True, max_length=512)
        features.append(
            {
                "input_ids": enc["input_ids"],
                "attention_mask": enc["attention_mask"],
                "labels": align_labels(enc.word_ids(), [label2id[t] for t in s.tags]),
            }
        )
    real_tokens = sum(len(f["input_ids"]) for f in features)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            num_train_epochs=args.epochs,
            weight_decay=0.01,
            warmup_steps=args.warmup_ratio,
            lr_scheduler_type="linear",
            max_grad_norm=1.0,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            use_cpu=args.device == "cpu",
            seed=args.seed,
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model,
            args=targs,
            train_dataset=features,
            data_collator=DataCollatorForTokenClassification(tokenizer),
            processing_class=tokenizer,
        )
        t0 = time.perf_counter()
        metrics = trainer.train().metrics
        wall = time.perf_counter() - t0
    runtime = float(metrics.get("train_runtime", wall))
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    loaded = LoadedModel(model.eval(), tokenizer, LABELS, max_length=512, stride=128, device=device)
    return {
        "system": "transformers.Trainer (classic notebook: padding collator, random batches)",
        "train_runtime_seconds": runtime,
        "train_call_seconds": wall,
        "train_real_tokens_per_epoch": real_tokens,
        "train_tokens_per_second": real_tokens * args.epochs / runtime,
        "train_samples_per_second": len(features) * args.epochs / runtime,
        "scores": score(loaded, evals, batch_size=64),
    }


def run_nerbench(
    train: list[Sentence], dev: list[Sentence], evals: dict[str, list[Sentence]], args: argparse.Namespace
) -> dict[str, Any]:
    config = FinetuneConfig(
        learning_rate=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        warmup_ratio=args.warmup_ratio,
        seed=args.seed,
        device=args.device,
        select_best=False,  # the Trainer keeps its last epoch too
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = finetune(
            train, dev, labels=LABELS, model=resolve_model(args.model), config=config, output_dir=tmp
        )
        wall = time.perf_counter() - t0
        scores = score(load_trained(tmp, device=args.device), evals, batch_size=64)
    return {
        "system": "nerbench finetune (length-grouped batches, dynamic padding)",
        "train_loop_seconds": result.train_loop_seconds,
        "finetune_call_seconds": wall,
        "dev_eval_seconds": sum(h.eval_seconds for h in result.history),
        "train_real_tokens_per_epoch": result.train_real_tokens,
        "train_tokens_per_second": result.train_tokens_per_second,
        "train_samples_per_second": result.train_samples_per_second,
        "padding_fraction": result.padding_fraction,
        "history": [h.__dict__ for h in result.history],
        "scores": scores,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=default_data_dir())
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--train-sentences", type=int, default=3000, help="first N training sentences (0 = all)")
    p.add_argument("--eval-sentences", type=int, default=0, help="first N dev/test sentences (0 = all)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--only", choices=["trainer", "nerbench"], help="run one side only")
    p.add_argument("--out", type=Path, help="write the JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("transformers").setLevel(logging.ERROR)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_split(args.data_dir, "eng.train", args.train_sentences or None)
    dev = load_split(args.data_dir, "eng.testa", args.eval_sentences or None)
    test = load_split(args.data_dir, "eng.testb", args.eval_sentences or None)
    evals = {"dev": dev, "test": test}
    report: dict[str, Any] = {
        "setup": {
            # paths as a user would type them here: the data dir as $NERBENCH_DATA_DIR, never this machine's
            **{k: (portable_arg(str(v), args.data_dir) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "train_sentences_used": len(train),
            "dev_sentences": len(dev),
            "test_sentences": len(test),
            "torch_threads": torch.get_num_threads(),
            "loadavg_before": os.getloadavg(),
            "metric": "seqeval strict IOB2 micro F1 on words",
        }
    }
    if args.only != "nerbench":
        log.info("(a) transformers.Trainer ...")
        report["trainer"] = run_trainer(train, evals, args)
    if args.only != "trainer":
        log.info("(b) nerbench finetune ...")
        report["nerbench"] = run_nerbench(train, dev, evals, args)
    report["setup"]["loadavg_after"] = os.getloadavg()
    if "trainer" in report and "nerbench" in report:
        a, b = report["trainer"], report["nerbench"]
        report["comparison"] = {
            "tokens_per_second_ratio": b["train_tokens_per_second"] / a["train_tokens_per_second"],
            **{
                f"{split}_f1_difference_points": 100
                * (b["scores"][split]["strict_f1"] - a["scores"][split]["strict_f1"])
                for split in evals
            },
        }
    text = json.dumps(report, indent=2, sort_keys=True, default=float)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
