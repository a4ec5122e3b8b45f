"""Learning-rate x batch sweep for MiniLM-L6 on CoNLL-2003, scored on *dev only* (never test).

How the default suite's MiniLM-L6 recipe was chosen. One JSON line per setting is appended to the
output file (dev strict F1 per epoch, train loss, real tokens/s, load average before/after):

    HF_HUB_OFFLINE=1 T=1 python benchmarks/minilm_lr_sweep.py 5000 2 5e-5x16 1e-4x16 2e-4x16 2e-4x32 1e-4x32 \
        --output results/benchmarks/minilm_lr_sweep.jsonl

Arguments: training sentences, epochs, then ``LRxBATCH`` settings. ``T`` sets torch threads (default 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sentences", type=int)
    ap.add_argument("epochs", type=int)
    ap.add_argument("settings", nargs="+", help="LRxBATCH, e.g. 2e-4x32")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NERBENCH_DATA_DIR", "../shared/data")))
    ap.add_argument("--output", type=Path, required=True)
    args = ap.parse_args()

    from bench.data.conll import read_conll_file
    from bench.env import benchmark_command, git_state
    from bench.finetune import FinetuneConfig, finetune
    from bench.models import resolve_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    train, _ = read_conll_file(args.data_dir / "conll2003" / "eng.train")
    dev, _ = read_conll_file(args.data_dir / "conll2003" / "eng.testa")
    labels = ["O"] + [f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MISC") for p in ("B", "I")]
    for setting in args.settings:
        lr, bs = setting.split("x")
        cfg = FinetuneConfig(epochs=args.epochs, learning_rate=float(lr), batch_size=int(bs), device="cpu",
                             torch_threads=int(os.environ.get("T", "1")), max_train_sentences=args.sentences)
        load0 = os.getloadavg()
        with tempfile.TemporaryDirectory() as out:
            r = finetune(train, dev, labels=labels, model=resolve_model("minilm-l6"), config=cfg, output_dir=out)
        rec = {"n": args.sentences, "epochs": args.epochs, "lr": float(lr), "batch": int(bs),
               "dev_f1": [h.dev_f1 for h in r.history], "loss": [h.train_loss for h in r.history],
               "tok_s": r.train_tokens_per_second, "loop_s": r.train_loop_seconds, "wall_s": r.train_wall_seconds,
               "load": [load0, os.getloadavg()],
               "command": benchmark_command(__file__, data_dir=args.data_dir), "git": git_state()}
        print(json.dumps(rec), flush=True)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
