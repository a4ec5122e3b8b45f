"""Side by side: `nerbench predict` vs `transformers.pipeline(..., aggregation_strategy="simple")`.

Same model, same CoNLL-2003 test sentences (words joined by single spaces, so both see the same
text), same device. Prints and writes JSON: sentences/s of each, the speed-up, and how many
sentences get exactly the same entities (type, start, end).

    python benchmarks/predict_vs_pipeline.py --model models/conll2003/minilm-l6/seed13 \
        --data-dir ../shared/data --sentences 1000 --output results/benchmarks/predict_vs_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--data-dir", default=os.environ.get("NERBENCH_DATA_DIR", "../shared/data"))
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--pipeline-batch-size", type=int, default=1, help="the pipeline's own default is 1")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()

    import torch
    from transformers import pipeline

    from bench.data.conll import read_conll_file
    from bench.predict import doc_from_text, load_predictor, predict_docs

    if args.threads:
        torch.set_num_threads(args.threads)
    sents, _ = read_conll_file(Path(args.data_dir) / "conll2003" / "eng.testb")
    texts = [" ".join(s.tokens) for s in sents[: args.sentences]]

    # the pipeline takes the argmax per sub-token, so agreement is counted against argmax decoding
    predictor = load_predictor(args.model, device="cpu", batch_size=args.batch_size, decode="argmax")
    docs = [doc_from_text(t, i + 1) for i, t in enumerate(texts)]
    predict_docs(predictor, docs[:16])  # warm-up
    _, ours, ours_s = predict_docs(predictor, docs)

    nlp = pipeline("token-classification", model=str(args.model), aggregation_strategy="simple", device=-1)
    nlp(texts[:16])  # warm-up
    t0 = time.perf_counter()
    theirs = nlp(texts, batch_size=args.pipeline_batch_size)
    theirs_s = time.perf_counter() - t0

    same = 0
    diffs = []
    for text, a, b in zip(texts, ours, theirs, strict=False):
        ea = sorted((e["type"], e["start"], e["end"]) for e in a)
        eb = sorted((e["entity_group"], int(e["start"]), int(e["end"])) for e in b)
        if ea == eb:
            same += 1
        elif len(diffs) < 5:
            diffs.append({"text": text, "nerbench": ea, "pipeline": eb})
    n = len(texts)
    out = {
        "model": str(args.model),
        "sentences": n,
        "nerbench": {"seconds": ours_s, "sentences_per_second": n / ours_s, "batch_size": args.batch_size},
        "pipeline": {"seconds": theirs_s, "sentences_per_second": n / theirs_s,
                     "batch_size": args.pipeline_batch_size, "aggregation_strategy": "simple"},
        "speedup": theirs_s / ours_s,
        "identical_entities": same,
        "identical_fraction": same / n,
        "examples_of_differences": diffs,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    print(json.dumps(out, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
