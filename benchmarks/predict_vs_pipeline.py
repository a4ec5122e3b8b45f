"""Side by side, one run: `nerbench predict` vs `transformers.pipeline(..., aggregation_strategy="simple")`
unbatched (the pipeline's default) and batched (``batch_size=32``, what a user who cares about speed
runs — the reference).

Same model, same CoNLL-2003 test sentences (words joined by single spaces, so every side sees the
same text and the same words), same device and threads, each side warmed up first. Prints and
writes JSON: sentences/s of each, the speed-ups, and how many sentences get exactly the same
entities (type, start, end) as the batched pipeline — in all sentences, and in the sentences where
the pipeline does not split a word between two entities (its known failure with
``aggregation_strategy="simple"``: a word's sub-tokens may get different entities). nerbench decodes
with argmax here, as the pipeline does.

    HF_HUB_OFFLINE=1 python benchmarks/predict_vs_pipeline.py --model models/conll2003/minilm-l6/seed13 \
        --data-dir ../shared/data --output results/benchmarks/predict_vs_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--data-dir", default=os.environ.get("NERBENCH_DATA_DIR", "../shared/data"))
    ap.add_argument("--sentences", type=int, default=0, help="first N test sentences (0 = all)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--pipeline-batch-size", type=int, default=32, help="the batched pipeline's batch size")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--word-tokenizer", default="conll",
                    help="how nerbench cuts the text into words: conll (CoNLL-2003's own kind of words) or simple")
    ap.add_argument("--output", type=Path)
    args = ap.parse_args()

    import torch
    from transformers import pipeline

    from bench.data.conll import read_conll_file
    from bench.env import benchmark_command, git_state
    from bench.predict import doc_from_text, load_predictor, predict_docs

    if args.threads:
        torch.set_num_threads(args.threads)
    sents, _ = read_conll_file(Path(args.data_dir) / "conll2003" / "eng.testb")
    sents = sents[: args.sentences] if args.sentences else sents
    texts = [" ".join(s.tokens) for s in sents]

    # the pipeline takes the argmax per sub-token, so agreement is counted against argmax decoding
    predictor = load_predictor(args.model, device="cpu", batch_size=args.batch_size, decode="argmax")
    docs = [doc_from_text(t, i + 1, word_tokenizer=args.word_tokenizer) for i, t in enumerate(texts)]
    predict_docs(predictor, docs[:64])  # warm-up
    _, ours, ours_s = predict_docs(predictor, docs)

    nlp = pipeline("token-classification", model=str(args.model), aggregation_strategy="simple", device=-1)
    runs: dict[str, tuple[list, float, int]] = {}
    for name, bs in (("pipeline_unbatched", 1), ("pipeline_batched", args.pipeline_batch_size)):
        nlp(texts[:64], batch_size=bs)  # warm-up
        t0 = time.perf_counter()
        out_ = nlp(texts, batch_size=bs)
        runs[name] = (out_, time.perf_counter() - t0, bs)

    def key(entities: list, mine: bool) -> list:
        if mine:
            return sorted((e["type"], e["start"], e["end"]) for e in entities)
        return sorted((e["entity_group"], int(e["start"]), int(e["end"])) for e in entities)

    def splits_a_word(text: str, entities: list) -> bool:
        """An entity edge inside a word: the pipeline gave a word's sub-tokens different entities."""
        bounds = {int(e["start"]) for e in entities} | {int(e["end"]) for e in entities}
        return any(0 < b < len(text) and text[b - 1] != " " and text[b] != " " for b in bounds)

    theirs = runs["pipeline_batched"][0]
    same = same_clean = clean = 0
    diffs = []
    for text, a, b in zip(texts, ours, theirs, strict=True):
        equal = key(a, True) == key(b, False)
        same += equal
        if not splits_a_word(text, b):
            clean += 1
            same_clean += equal
            if not equal and len(diffs) < 5:
                diffs.append({"text": text, "nerbench": key(a, True), "pipeline": key(b, False)})
    n = len(texts)
    out = {
        "command": benchmark_command(__file__, data_dir=args.data_dir),
        "git": git_state(),  # the commit it ran from, and whether the code differed from it
        "model": Path(args.model).name,
        "data": "conll2003 eng.testb" + (f" (first {n})" if args.sentences else ""),
        "sentences": n,
        "nerbench": {"seconds": ours_s, "sentences_per_second": n / ours_s, "batch_size": args.batch_size,
                     "decode": "argmax", "word_tokenizer": args.word_tokenizer},
        **{name: {"seconds": sec, "sentences_per_second": n / sec, "batch_size": bs,
                  "aggregation_strategy": "simple"} for name, (_, sec, bs) in runs.items()},
        "speedup_vs_pipeline_batched": runs["pipeline_batched"][1] / ours_s,
        "speedup_vs_pipeline_unbatched": runs["pipeline_unbatched"][1] / ours_s,
        "goal_speedup_vs_pipeline_batched": 2.5,
        "identical_entities": same,
        "identical_fraction": same / n,
        "sentences_where_the_pipeline_splits_no_word": clean,
        "identical_fraction_where_the_pipeline_splits_no_word": same_clean / clean if clean else None,
        "examples_of_differences_where_no_word_is_split": diffs,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "loadavg_after": os.getloadavg(),
    }
    print(json.dumps(out, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
