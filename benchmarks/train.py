"""Training throughput: gensim's `corpus_file` path (zhvec) against the original word2vec.c, same corpus file,
same params, same threads, one run; plus gensim with the per-epoch tracking on, to show what tracking costs.

The corpus is the first `--mb` MB of real text (CCTV news transcripts and zhwiki-derived paragraphs,
interleaved, as in benchmarks/segment.py) cut by the segment stage, cached under `work/bench/` so later runs
skip it. word2vec.c is the `word2vec` binary that `pip install word2vec` builds into the venv. Each trainer
runs in this process's children or threads only, one at a time; words/s = corpus words × epochs / wall s.
Each run is appended to reports/benchmarks/history.jsonl (and the README beside it regenerated) unless
`--no-history`.

    python -m benchmarks.train [--mb 64] [--threads 2] [--epochs 1] [--json] [--no-history]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "work" / "bench"
PARAMS = {"vector_size": 100, "window": 5, "negative": 5, "sample": 1e-4, "min_count": 5, "alpha": 0.025}


def corpus_file(mb: int, threads: int) -> Path:
    """The segmented benchmark corpus, built once per size (atomically, so a kill never leaves half)."""
    from benchmarks.segment import write_shards
    from tasks.config import SegmentOptions
    from tasks.core.workspace import atomic_path
    from tasks.text.segment import segment_corpus

    path = CACHE / f"train-corpus-{mb}mb.txt"
    if path.is_file():
        return path
    with tempfile.TemporaryDirectory() as tmp:
        write_shards(Path(tmp) / "text", mb * 1_000_000)
        with atomic_path(path) as out:
            segment_corpus(Path(tmp) / "text", out, options=SegmentOptions(), workers=threads)
    return path


def word2vec_c(corpus: Path, model: str, threads: int, epochs: int, out: Path) -> float:
    """Wall seconds of the original word2vec.c with the same params and flags as `zhvec bench`."""
    from tasks.bench.baselines import word2vec_c_args, word2vec_c_binary
    from tasks.config import TrainParams

    params = TrainParams(model=model, epochs=epochs, **PARAMS)  # type: ignore[arg-type]
    args = [str(word2vec_c_binary()), *word2vec_c_args(corpus, params, threads, out)]
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def gensim(corpus: Path, model: str, threads: int, epochs: int, out: Path, tracking: bool) -> dict[str, Any]:
    """zhvec's train stage (vocabulary count, training, saving kv + bin) timed as a whole and split."""
    from tasks.config import TrainParams
    from tasks.vectors.train import TrainTracking, train_word2vec

    params = TrainParams(model=model, epochs=epochs, workers=threads, **PARAMS)  # type: ignore[arg-type]
    track = TrainTracking.default(REPO / "data" / "eval") if tracking else None
    start = time.perf_counter()
    stats = train_word2vec(corpus, params, out, tracking=track)
    return {
        "seconds": time.perf_counter() - start,
        "train_seconds": stats.train_seconds,
        "tracking_seconds": stats.tracking_seconds,
        "corpus_words": stats.corpus_words,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=64, help="MB of raw text to segment into the corpus")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-history", action="store_true", help="do not append this run to reports/benchmarks/history.jsonl"
    )
    args = parser.parse_args(argv)
    corpus = corpus_file(args.mb, args.threads)
    results: dict[str, Any] = {"corpus": str(corpus), "threads": args.threads, "epochs": args.epochs}
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("cbow", "sg"):
            run = (corpus, model, args.threads, args.epochs)
            c_s = word2vec_c(*run, Path(tmp) / f"{model}.bin")
            plain = gensim(*run, Path(tmp) / model, tracking=False)
            tracked = gensim(*run, Path(tmp) / f"{model}-t", tracking=True)
            words = plain["corpus_words"] * args.epochs
            results["corpus_words"] = plain["corpus_words"]
            results[model] = {
                "word2vec_c_s": round(c_s, 2),
                "word2vec_c_words_per_s": round(words / c_s),
                "gensim_s": round(plain["seconds"], 2),
                "gensim_train_s": round(plain["train_seconds"], 2),
                "gensim_words_per_s": round(words / plain["seconds"]),
                "gensim_tracked_s": round(tracked["seconds"], 2),
                "tracking_s": round(tracked["tracking_seconds"], 2),
                "gensim_vs_c": round(c_s / plain["seconds"], 2),
                "gensim_tracked_vs_c": round(c_s / tracked["seconds"], 2),
            }
    if not args.no_history:
        from tasks.bench import history

        figures = {key: value for key, value in results.items() if key != "corpus"}  # a path
        history.append("train", figures, REPO / "reports")
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"corpus {results['corpus_words']:,} words, {args.epochs} epoch(s), {args.threads} threads")
    for model in ("cbow", "sg"):
        r = results[model]
        print(
            f"{model:>4}: word2vec.c {r['word2vec_c_s']:.1f} s ({r['word2vec_c_words_per_s']:,} w/s) | "
            f"gensim {r['gensim_s']:.1f} s ({r['gensim_words_per_s']:,} w/s, {r['gensim_vs_c']:.2f}x C) | "
            f"gensim+tracking {r['gensim_tracked_s']:.1f} s ({r['tracking_s']:.2f} s of it eval/probes, "
            f"{r['gensim_tracked_vs_c']:.2f}x C)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
