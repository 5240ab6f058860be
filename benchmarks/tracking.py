"""What the train stage spends besides training: the per-epoch tracking on a big model, and the vocabulary
count against gensim's own scan.

- tracking: a random float32 model of `--words` × `--dim` (default 1,000,000 × 300) holding every word of
  the tracked sets (CA_translated, wordsim-240) and the probes, as gensim KeyedVectors; seconds of one
  epoch's tracking, `--repeat` times (the median is the figure), with the train stage's tracker, and with
  the per-epoch path it replaced (the word index built and the whole matrix normalised into a fresh copy
  every epoch); both must give the same scores.
- vocab: a segmented corpus (`--corpus FILE`, else the benchmark corpus of benchmarks/train.py: `--mb` MB
  of real text): `count_vocabulary` on `--workers` processes against `Word2Vec.build_vocab(corpus_file=...)`,
  and whether both give the same words, counts and totals.

Each run is appended to reports/benchmarks/history.jsonl (and the README beside it regenerated) unless
`--no-history`.

    python -m benchmarks.tracking [--words 1000000] [--dim 300] [--repeat 3] [--corpus FILE | --mb 16]
                                  [--workers 2] [--json] [--no-history]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _replaced_scores(tracker: Any, kv: Any) -> dict[str, float]:
    """The per-epoch path before the tracker kept its index and buffer: `vectors_from` as it was then."""
    import numpy as np

    from tasks.vectors import evaluate as ev

    matrix = np.asarray(kv.vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = (matrix / np.where(norms > 0, norms, 1)).astype(np.float32, copy=False)
    return tracker.scores_of(ev.Vectors(list(kv.index_to_key), ev.word_index(kv.index_to_key), unit))


def tracking(n_words: int, dim: int, repeat: int) -> dict[str, Any]:
    from gensim.models import KeyedVectors

    from benchmarks.evaluate import _model, _words_of
    from tasks.vectors.train import TrainTracking, _EpochTracker

    track = TrainTracking.default(ROOT / "data" / "eval")
    words = _words_of(dict(track.analogy), dict(track.similarity)) | {w for p in track.probes for w in p}
    names, raw = _model(n_words, dim, words, seed=1)
    kv = KeyedVectors(dim)
    kv.add_vectors(names, raw)
    del raw
    tracker = _EpochTracker(track)
    timed: dict[str, list[float]] = {"before": [], "after": []}
    scores: dict[str, dict[str, float]] = {}
    for _ in range(repeat):
        for name, fn in (
            ("before", lambda: _replaced_scores(tracker, kv)),
            ("after", lambda: tracker.scores(kv)),
        ):
            start = time.perf_counter()
            scores[name] = fn()
            timed[name].append(time.perf_counter() - start)
    before, after = statistics.median(timed["before"]), statistics.median(timed["after"])
    return {
        "words": n_words,
        "dim": dim,
        "repeat": repeat,
        "before_s": round(before, 3),
        "after_s": round(after, 3),
        "speedup": round(before / after, 2),
        "same_scores": scores["before"] == scores["after"],
    }


def vocab(corpus: Path | None, mb: int, workers: int) -> dict[str, Any]:
    import logging

    from gensim.models import Word2Vec

    from benchmarks.train import corpus_file
    from tasks.config import TrainParams
    from tasks.vectors.train import gensim_kwargs, new_model
    from tasks.vectors.vocab import count_vocabulary

    logging.getLogger("gensim").setLevel(logging.WARNING)
    corpus = corpus or corpus_file(mb, workers)
    params = TrainParams(model="sg", vector_size=300, sample=1e-5, min_count=5, workers=workers)
    start = time.perf_counter()
    ref = Word2Vec(**gensim_kwargs(params))  # type: ignore[arg-type]
    ref.build_vocab(corpus_file=str(corpus))
    gensim_s = time.perf_counter() - start
    start = time.perf_counter()
    counted = count_vocabulary(corpus, params.min_count, workers=workers)
    count_s = time.perf_counter() - start
    ours = new_model(params, counted)
    same = (
        ours.wv.index_to_key == ref.wv.index_to_key
        and (ours.wv.expandos["count"] == ref.wv.expandos["count"]).all()
        and (ours.wv.expandos["sample_int"] == ref.wv.expandos["sample_int"]).all()
        and (ours.corpus_count, ours.corpus_total_words) == (ref.corpus_count, ref.corpus_total_words)
    )
    return {
        "corpus_mb": round(corpus.stat().st_size / 1e6, 1),
        "corpus_words": counted.total_words,
        "vocab_size": len(counted.counts),
        "workers": workers,
        "gensim_build_vocab_s": round(gensim_s, 2),
        "count_s": round(count_s, 2),
        "speedup": round(gensim_s / count_s, 2),
        "same_vocabulary": bool(same),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus", type=Path, help="a segmented corpus, one sentence a line")
    parser.add_argument("--mb", type=int, default=16, help="MB of real text segmented for the vocab part")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-history", action="store_true", help="do not append this run to reports/benchmarks/history.jsonl"
    )
    args = parser.parse_args()
    results = {
        "cores": len(os.sched_getaffinity(0)),
        "tracking": tracking(args.words, args.dim, args.repeat),
        "vocab": vocab(args.corpus, args.mb, args.workers),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if not args.no_history:
        from tasks.bench import history

        history.append("tracking", results, ROOT / "reports")
    if args.json:
        print(json.dumps(results))
        return
    t, v = results["tracking"], results["vocab"]
    print(
        f"tracking, {t['words']:,} x {t['dim']} model: {t['before_s']} s per epoch before, {t['after_s']} s "
        f"now (x{t['speedup']}, median of {t['repeat']}); same scores: {t['same_scores']}"
    )
    print(
        f"vocabulary of {v['corpus_mb']} MB ({v['corpus_words']:,} words): gensim build_vocab "
        f"{v['gensim_build_vocab_s']} s, count_vocabulary on {v['workers']} workers {v['count_s']} s "
        f"(x{v['speedup']}); same vocabulary: {v['same_vocabulary']}"
    )
    print(f"1-minute load average at the end: {results['load_avg_1min']}")


if __name__ == "__main__":
    main()
