"""Can ``torch.compile`` make MiniLM's training passes cheaper on this CPU? The lever left for the
1.3x training-throughput goal (results/benchmarks/trainer_vs_nerbench.json: nerbench and the grouped
Trainer both sit near the eager forward+backward ceiling, so only cheaper passes could give 1.3x).

Forward + backward (no optimiser) over exactly nerbench's length-grouped batches of the first
``--train-sentences`` CoNLL-2003 sentences, collated before the clock starts, three ways in one
process: eager; ``torch.compile(model, dynamic=True)`` (inductor, shapes marked dynamic so varying
batch widths do not recompile per width); its first pass includes compilation, so each compiled
variant is run twice and the second pass is the steady state. The losses of the first batch are
compared to check the compiled model computes the same thing.

    HF_HUB_OFFLINE=1 python benchmarks/compiled_passes.py --data-dir ../shared/data \\
        --out results/benchmarks/compiled_passes.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def passes(model: Any, batches: list[dict[str, Any]]) -> tuple[float, float]:
    """Seconds for forward+backward over every batch, and the first batch's loss."""
    first = None
    t0 = time.perf_counter()
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        if first is None:
            first = float(loss.detach())
    return time.perf_counter() - t0, float(first or 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--train-sentences", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import torch
    from trainer_vs_nerbench import LABELS, load_split

    from bench.env import benchmark_command, git_state
    from bench.finetune import build_features, collate, length_grouped_batches, seed_everything
    from bench.models import load_for_training, resolve_model

    train = load_split(args.data_dir, "eng.train", args.train_sentences)
    seed_everything(args.seed)
    model, tokenizer = load_for_training(resolve_model(args.model), labels=LABELS)
    model.train()
    # dropout off: the eager and compiled losses must be comparable batch for batch
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    feats = build_features(train, tokenizer, label2id={lab: i for i, lab in enumerate(LABELS)},
                           max_length=512, stride=128, label_all_tokens=False)
    lengths = [len(x) for x in feats.inputs]
    pad_id = tokenizer.pad_token_id or 0
    batches = [collate([feats.inputs[i] for i in idx], [feats.labels[i] for i in idx], pad_id=pad_id,
                       device=torch.device("cpu"))
               for idx in length_grouped_batches(lengths, batch_size=args.batch_size, seed=args.seed + 1,
                                                 mega_batch_factor=50)]
    widths = sorted({int(b["input_ids"].shape[1]) for b in batches})
    real = sum(lengths)
    out: dict[str, Any] = {"setup": {"model": args.model, "train_sentences": len(train), "batches": len(batches),
                                     "distinct_widths": len(widths), "real_tokens": real,
                                     "threads": torch.get_num_threads(), "torch": torch.__version__,
                                     "processor": platform.processor() or platform.machine(),
                                     "loadavg_before": os.getloadavg()}}
    eager_s, eager_loss = passes(model, batches)
    out["eager"] = {"seconds": eager_s, "tokens_per_second": real / eager_s, "first_loss": eager_loss}
    print(f"eager: {eager_s:.1f} s, {real / eager_s:.0f} tokens/s", flush=True)

    compiled = torch.compile(model, dynamic=True)
    first_s, first_loss = passes(compiled, batches)
    steady_s, _ = passes(compiled, batches)
    out["compiled"] = {
        "mode": "torch.compile(model, dynamic=True), inductor",
        "first_pass_seconds": first_s, "steady_pass_seconds": steady_s,
        "compile_overhead_seconds": first_s - steady_s,
        "steady_tokens_per_second": real / steady_s,
        "steady_speedup_vs_eager": eager_s / steady_s,
        "first_pass_speedup_vs_eager": eager_s / first_s,
        "first_loss": first_loss, "first_loss_difference": abs(first_loss - eager_loss),
    }
    print(json.dumps(out["compiled"], indent=2), flush=True)
    out["setup"]["loadavg_after"] = os.getloadavg()
    out["command"] = benchmark_command(__file__, data_dir=args.data_dir)  # the arguments it really ran with
    out["git"] = git_state()  # the commit it ran from, and whether the code differed from it
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
