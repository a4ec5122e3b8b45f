"""Training throughput and F1, one process run, four ways on the same model, data and recipe:

(a) ``trainer``: the classic token-classification notebook on ``transformers.Trainer`` (sentences
    tokenized with truncation, first-sub-token labels, ``DataCollatorForTokenClassification``
    padding, random batches);
(b) ``trainer_grouped``: the same with ``train_sampling_strategy="group_by_length"`` (transformers 5's
    length grouping), what a user who cares about speed runs — the reference;
(c) ``nerbench``: :func:`bench.finetune.finetune` (length-grouped batches, dynamic padding, windows);
(d) ``ceiling``: forward + backward of the same model on exactly nerbench's batches, collated before
    the clock starts, with no optimiser step, no clipping and no data handling: what the loop could
    reach if everything but the two passes were free. ``ceiling_with_optimizer`` adds gradient
    clipping and the AdamW step (nerbench's fused one), so ``(c) - (d)`` splits into optimiser vs the
    rest (batching, loss bookkeeping, scheduler).

Same epochs, learning rate, batch size, warm-up, weight decay, seed and device everywhere. Every
trained model is scored the same way: word-level conlleval F1 (the main score) and strict IOB2 F1
from :func:`bench.finetune.predict_words` (argmax decoding, as the Trainer's users get), on the
full dev and test splits. Throughput counts *real* sub-tokens (special tokens included, padding
excluded) per second of the training loop: ``Trainer.train()``'s ``train_runtime`` for (a)/(b),
``train_loop_seconds`` for (c) (its per-epoch dev evaluation is timed apart and excluded).

    HF_HUB_OFFLINE=1 python benchmarks/trainer_vs_nerbench.py --train-sentences 3000 --epochs 2 \\
        --out results/benchmarks/trainer_vs_nerbench.json
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
from bench.env import benchmark_command, cpu_name, git_state  # noqa: E402
from bench.finetune import (  # noqa: E402
    FinetuneConfig,
    LoadedModel,
    _make_optimizer,
    build_features,
    collate,
    finetune,
    length_grouped_batches,
    load_trained,
    predict_words,
    seed_everything,
)
from bench.metrics import conlleval_f1, strict_f1  # noqa: E402
from bench.models import load_for_training, resolve_model  # noqa: E402
from bench.runner import portable_arg  # noqa: E402

log = logging.getLogger("trainer_vs_nerbench")
SIDES = ("trainer", "trainer_grouped", "nerbench", "ceiling", "ceiling_with_optimizer")
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
        gold = [s.tags for s in sents]
        out[name] = {"conlleval_f1": conlleval_f1(gold, pred), "strict_f1": strict_f1(gold, pred),
                     "seconds": stats["seconds"]}
    return out


def run_trainer(
    train: list[Sentence], evals: dict[str, list[Sentence]], args: argparse.Namespace, *, grouped: bool
) -> dict[str, Any]:
    """The classic notebook recipe on ``transformers.Trainer``; ``grouped``: with length grouping."""
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
            bf16=args.bf16,
            seed=args.seed,
            disable_tqdm=True,
            dataloader_num_workers=0,
            train_sampling_strategy="group_by_length" if grouped else "random",
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
        "system": "transformers.Trainer (classic notebook: padding collator, "
        + ('train_sampling_strategy="group_by_length")' if grouped else "random batches)"),
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
        precision="bf16" if args.bf16 else "fp32",  # the same precision as the Trainer side
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


def run_ceiling(train: list[Sentence], args: argparse.Namespace, *, with_optimizer: bool) -> dict[str, Any]:
    """Forward + backward on nerbench's own batches (same windows, same seeded length grouping per
    epoch), every batch collated before the clock starts; optionally clipping + the AdamW step."""
    import torch

    config = FinetuneConfig(learning_rate=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                            warmup_ratio=args.warmup_ratio, seed=args.seed, device=args.device)
    spec = resolve_model(args.model)
    seed_everything(args.seed)
    model, tokenizer = load_for_training(spec, labels=LABELS)
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    model.to(device).train()
    feats = build_features(train, tokenizer, label2id={lab: i for i, lab in enumerate(LABELS)},
                           max_length=512, stride=128, label_all_tokens=False)
    lengths = [len(x) for x in feats.inputs]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = [
        collate([feats.inputs[i] for i in idx], [feats.labels[i] for i in idx], pad_id=pad_id, device=device)
        for epoch in range(1, args.epochs + 1)
        for idx in length_grouped_batches(lengths, batch_size=args.batch_size, seed=args.seed + epoch,
                                          mega_batch_factor=config.mega_batch_factor)
    ]
    optimizer = _make_optimizer(model, config, device) if with_optimizer else None
    t0 = time.perf_counter()
    for batch in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(**batch).loss
        loss.backward()
        if optimizer is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        else:
            model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    real = sum(lengths) * args.epochs
    return {
        "system": "forward + backward only" + (" + clip + AdamW step" if with_optimizer else "")
        + " on nerbench's batches, pre-collated",
        "seconds": seconds,
        "steps": len(batches),
        "train_tokens_per_second": real / seconds,
        "padding_fraction": 1 - real / sum(int(b["input_ids"].numel()) for b in batches),
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
    p.add_argument("--bf16", action="store_true",
                   help="bf16 autocast on every side (a GPU's setting; on these CPUs bf16 is slower than fp32)")
    p.add_argument("--only", choices=SIDES, action="append", help="run only these sides (repeatable)")
    p.add_argument("--out", type=Path, help="write the JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("transformers").setLevel(logging.ERROR)

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_split(args.data_dir, "eng.train", args.train_sentences or None)
    dev = load_split(args.data_dir, "eng.testa", args.eval_sentences or None)
    test = load_split(args.data_dir, "eng.testb", args.eval_sentences or None)
    evals = {"dev": dev, "test": test}
    report: dict[str, Any] = {
        "command": benchmark_command(__file__, argv, data_dir=args.data_dir),
        "git": git_state(),  # the commit it ran from, and whether the code differed from it
        "setup": {
            # paths as a user would type them here: the data dir as $NERBENCH_DATA_DIR, never this machine's
            **{k: (portable_arg(str(v), args.data_dir) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "train_sentences_used": len(train),
            "dev_sentences": len(dev),
            "test_sentences": len(test),
            "torch_threads": torch.get_num_threads(),
            # what ran it: the GPU's name (a CPU run: the CPU's) and the library versions
            "device_name": torch.cuda.get_device_name(0) if args.device != "cpu" and torch.cuda.is_available()
            else cpu_name(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
            "loadavg_before": os.getloadavg(),
            "metric": "conlleval F1 (main score) and strict IOB2 F1 on words, argmax decoding",
        }
    }
    sides = args.only or list(SIDES)
    for side in sides:
        log.info("%s ...", side)
        if side in ("trainer", "trainer_grouped"):
            report[side] = run_trainer(train, evals, args, grouped=side == "trainer_grouped")
        elif side == "nerbench":
            report[side] = run_nerbench(train, dev, evals, args)
        else:
            report[side] = run_ceiling(train, args, with_optimizer=side == "ceiling_with_optimizer")
        log.info("%s: %.0f tokens/s", side, report[side]["train_tokens_per_second"])
    report["setup"]["loadavg_after"] = os.getloadavg()
    if "nerbench" in report:
        ours = report["nerbench"]
        comparison: dict[str, Any] = {}
        for ref in ("trainer", "trainer_grouped"):
            if ref in report:
                comparison[f"tokens_per_second_vs_{ref}"] = ours["train_tokens_per_second"] / report[ref][
                    "train_tokens_per_second"]
                for split in evals:
                    for metric in ("conlleval_f1", "strict_f1"):
                        comparison[f"{split}_{metric}_difference_points_vs_{ref}"] = 100 * (
                            ours["scores"][split][metric] - report[ref]["scores"][split][metric])
        for ceiling in ("ceiling", "ceiling_with_optimizer"):
            if ceiling in report:
                comparison[f"share_of_{ceiling}"] = ours["train_tokens_per_second"] / report[ceiling][
                    "train_tokens_per_second"]
        if "ceiling" in report and "ceiling_with_optimizer" in report:
            loop = ours["train_loop_seconds"]
            fb = report["ceiling"]["seconds"]
            opt = report["ceiling_with_optimizer"]["seconds"] - fb
            comparison["loop_seconds_breakdown"] = {
                "forward_backward": fb, "clip_and_optimizer_step": opt, "everything_else": loop - fb - opt,
                "total": loop}
        comparison["goals"] = {"tokens_per_second_vs_trainer_grouped": 1.3, "share_of_ceiling": 0.9}
        report["comparison"] = comparison
    text = json.dumps(report, indent=2, sort_keys=True, default=float)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
