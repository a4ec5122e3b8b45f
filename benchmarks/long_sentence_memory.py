"""Peak RSS of a MiniLM cell on CPU when one training (and dev) sentence is 1500 words long.

A corpus with a missing sentence break holds one enormous "sentence"; it becomes several full
windows (512 sub-tokens each) that length grouping puts into one batch at full batch size. The
benchmark trains the same real CoNLL-2003 subset three ways, each in a fresh process so ru_maxrss is
that run's own peak:

* ``normal``: the subset alone;
* ``long``: the subset plus one 1500-word sentence in train and in dev (real consecutive CoNLL
  sentences glued together, so its tags are real and valid IOB2), with the default token budget;
* ``long_unbudgeted``: the same data with ``max_batch_tokens = 0`` (every batch at full size, the
  behaviour before the budget existed), to show what the budget buys.

Goal: a transformer cell stays <= 4 GB (4096 MiB) peak RSS on CPU whatever its longest sentence.

    HF_HUB_OFFLINE=1 python benchmarks/long_sentence_memory.py --data-dir ../shared/data \\
        --out results/benchmarks/long_sentence_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_MIB = 4096
VARIANTS = ("normal", "long", "long_unbudgeted")


def load(data_dir: Path, args: argparse.Namespace, variant: str) -> tuple[list[Any], list[Any], list[str]]:
    from bench.data.conll import read_conll_file
    from bench.data.types import Sentence

    train_all, _ = read_conll_file(data_dir / "conll2003" / "eng.train")
    dev_all, _ = read_conll_file(data_dir / "conll2003" / "eng.testa")
    train, dev = list(train_all[: args.train_sentences]), list(dev_all[: args.dev_sentences])
    labels = sorted({t for s in train_all for t in s.tags}, key=lambda t: (t != "O", t[2:], t))
    if variant != "normal":
        words: list[str] = []
        tags: list[str] = []
        for s in train_all[args.train_sentences :]:
            if len(words) >= args.long_words:
                break
            words.extend(s.tokens)
            tags.extend(s.tags)
        words, tags = words[: args.long_words], tags[: args.long_words]
        if tags and tags[0].startswith("I-"):
            tags[0] = "B-" + tags[0][2:]
        long = Sentence(tuple(words), tuple(tags), source="synthetic 1500-word line")
        train.insert(len(train) // 2, long)
        dev.insert(len(dev) // 2, long)
    return train, dev, labels


def child(args: argparse.Namespace) -> int:
    """One variant in this process; prints one JSON line."""
    import torch

    from bench.finetune import FinetuneConfig, finetune
    from bench.models import resolve_model

    torch.set_num_threads(args.threads or torch.get_num_threads())
    train, dev, labels = load(Path(args.data_dir), args, args.child)
    params: dict[str, Any] = {"learning_rate": 2e-4, "epochs": args.epochs, "batch_size": 32, "device": "cpu",
                              "seed": 13}
    if args.child == "long_unbudgeted":
        params["max_batch_tokens"] = 0
    config = FinetuneConfig(**params)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = finetune(train, dev, labels=labels, model=resolve_model(args.model), config=config, output_dir=tmp)
        wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "variant": args.child,
        "config": {k: v for k, v in config.to_dict().items() if k in
                   ("batch_size", "eval_batch_size", "max_batch_tokens", "max_length", "epochs", "learning_rate")},
        "train_sentences": len(train),
        "dev_sentences": len(dev),
        "longest_train_sentence_words": max(len(s.tokens) for s in train),
        "train_windows": result.train_windows,
        "windows_split": result.windows_split,
        "peak_rss_mib": peak_mib,
        "finetune_seconds": wall,
        "train_loop_seconds": result.train_loop_seconds,
        "train_tokens_per_second": result.train_tokens_per_second,
        "best_dev_strict_f1": result.best_dev_f1,
    }))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("NERBENCH_DATA_DIR", "../shared/data"))
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--train-sentences", type=int, default=1000)
    p.add_argument("--dev-sentences", type=int, default=300)
    p.add_argument("--long-words", type=int, default=1500)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--out", type=Path)
    p.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)

    from bench.env import benchmark_command, git_state

    runs = []
    for variant in args.variants.split(","):
        cmd = [sys.executable, __file__, "--child", variant, *(argv if argv is not None else sys.argv[1:])]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"variant {variant} failed (exit {proc.returncode})")
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        run["process_seconds"] = time.perf_counter() - t0
        runs.append(run)
        print(f"{variant}: peak RSS {run['peak_rss_mib']:.0f} MiB, {run['finetune_seconds']:.0f} s", file=sys.stderr)
    by = {r["variant"]: r for r in runs}
    out = {
        "benchmark": "long_sentence_memory",
        "command": benchmark_command(__file__, argv, data_dir=args.data_dir),
        "git": git_state(),  # the commit it ran from, and whether the code differed from it
        "setup": {"model": args.model, "train_sentences": args.train_sentences, "dev_sentences": args.dev_sentences,
                  "long_sentence_words": args.long_words, "epochs": args.epochs,
                  "data": "conll2003 eng.train / eng.testa (first N sentences)"},
        "goal_peak_rss_mib": GOAL_MIB,
        "runs": runs,
        "goal_met": all(r["peak_rss_mib"] <= GOAL_MIB for r in runs if r["variant"] != "long_unbudgeted"),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_after": os.getloadavg()},
    }
    if "long" in by and "normal" in by:
        out["long_over_normal_rss"] = by["long"]["peak_rss_mib"] / by["normal"]["peak_rss_mib"]
    text = json.dumps(out, indent=1, sort_keys=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
