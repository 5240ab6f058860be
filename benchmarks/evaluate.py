"""Evaluation speed: the full suite on a 1,000,000-word model, and gensim's rules against gensim itself.

- suite: a random float32 model of `--words` × `--dim` (default 1,000,000 × 300) holding every word of the
  default eval sets at shuffled ranks, built in memory; times `evaluate_all` on CA8 morphological + semantic
  + CA_translated (3CosAdd and 3CosMul, `ca8` rules) + wordsim-240/297, with its peak RSS.
- gensim: a `--gensim-words` × `--dim` model (default 300,000 × 300); for each analogy file, gensim's
  `KeyedVectors.evaluate_word_analogies` against zhvec's `rules="gensim"` on the same model and file, in the
  same process on the same cores: both times, their ratio, and whether every count agrees.

Each part runs in a fresh interpreter, so each peak RSS is its own. Each run is appended to
reports/benchmarks/history.jsonl (and the README beside it regenerated) unless `--no-history`.

    python -m benchmarks.evaluate [--words 1000000] [--gensim-words 300000] [--dim 300]
                                  [--gensim-sets ca8_semantic ...] [--only suite|gensim] [--json]
                                  [--no-history]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20


def _model(n_words: int, dim: int, eval_words: set[str], seed: int) -> tuple[list[str], Any]:
    """Every eval word plus fillers up to n_words, shuffled so eval words sit at every rank."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = sorted(eval_words) + [f"填充{i}" for i in range(n_words - len(eval_words))]
    words = [words[i] for i in rng.permutation(len(words))]
    return words, rng.standard_normal((n_words, dim), dtype=np.float32)


def _eval_sets() -> tuple[dict[str, Path], dict[str, Path]]:
    from tasks.config import EvalSets

    sets = EvalSets()
    return (
        {name: ROOT / path for name, path in sets.analogy.items()},
        {name: ROOT / path for name, path in sets.similarity.items()},
    )


def _words_of(analogy: dict[str, Path], similarity: dict[str, Path]) -> set[str]:
    from tasks.vectors.evaluate import load_analogies, load_similarity

    words = {w for p in analogy.values() for qs in load_analogies(p).values() for q in qs for w in q}
    return words | {w for p in similarity.values() for a, b, _ in load_similarity(p) for w in (a, b)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def suite(n_words: int, dim: int) -> dict[str, Any]:
    """The full default suite under `ca8` rules, both methods, on an in-memory random model."""
    from tasks.core.measure import measure
    from tasks.vectors.evaluate import evaluate_all, vectors_from

    analogy, similarity = _eval_sets()
    t0 = time.perf_counter()
    words, raw = _model(n_words, dim, _words_of(analogy, similarity), seed=1)
    vecs = vectors_from(words, raw)
    del raw
    build_s = time.perf_counter() - t0
    rss_model_mb = _peak_rss_mb()
    with measure() as meter:
        metrics = evaluate_all(vecs, analogy, similarity)
    scored = {m.eval_set: m.total for m in metrics if m.category == "all"}
    return {
        "words": n_words,
        "dim": dim,
        "cores": len(os.sched_getaffinity(0)),
        "questions": sum(n for name, n in scored.items() if name in analogy),
        "pairs": sum(n for name, n in scored.items() if name in similarity),
        "model_build_s": round(build_s, 2),
        "evaluate_s": round(meter.wall_s, 2),
        "evaluate_cpu_s": round(meter.cpu_s, 2),
        "peak_rss_mb_during_evaluate": round(meter.peak_rss_bytes / MB),
        "peak_rss_mb_after_model_build": round(rss_model_mb),
        "peak_rss_mb_process": round(_peak_rss_mb()),
    }


def _gensim_counts(sections: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(seen, correct) per category from gensim's sections; its `Total accuracy` is zhvec's `all`."""
    return {
        ("all" if s["section"] == "Total accuracy" else s["section"]): (
            len(s["correct"]) + len(s["incorrect"]),
            len(s["correct"]),
        )
        for s in sections
    }


def gensim_rules(n_words: int, dim: int, names: list[str]) -> dict[str, Any]:
    """Per analogy file: gensim's evaluate_word_analogies vs zhvec's with rules='gensim', same model."""
    from gensim.models import KeyedVectors

    from tasks.vectors.evaluate import evaluate_analogy_sets, load_analogies, vectors_from

    logging.getLogger("gensim").setLevel(logging.WARNING)
    analogy, similarity = _eval_sets()
    unknown = sorted(set(names) - set(analogy))
    if unknown:
        raise SystemExit(f"unknown analogy set(s) {unknown}; known: {', '.join(analogy)}")
    words, raw = _model(n_words, dim, _words_of(analogy, similarity), seed=2)
    kv = KeyedVectors(dim)
    kv.add_vectors(words, raw)
    vecs = vectors_from(kv.index_to_key, kv.vectors)
    del raw
    files = []
    for name in names:
        t0 = time.perf_counter()
        _, sections = kv.evaluate_word_analogies(str(analogy[name]))
        gensim_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = evaluate_analogy_sets(
            vecs, {name: load_analogies(analogy[name])}, rules="gensim", methods=("3cosadd",)
        )
        ours_s = time.perf_counter() - t0
        same = _gensim_counts(sections) == {m.category: (m.seen, m.correct) for m in ours}
        files.append(
            {
                "set": name,
                "gensim_s": round(gensim_s, 2),
                "ours_s": round(ours_s, 2),
                "speedup": round(gensim_s / ours_s, 1),
                "same_counts": same,
            }
        )
    total_gensim, total_ours = sum(f["gensim_s"] for f in files), sum(f["ours_s"] for f in files)
    return {
        "words": n_words,
        "dim": dim,
        "cores": len(os.sched_getaffinity(0)),
        "files": files,
        "gensim_s": round(total_gensim, 2),
        "ours_s": round(total_ours, 2),
        "speedup": round(total_gensim / total_ours, 1),
        "peak_rss_mb_process": round(_peak_rss_mb()),
    }


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """The run's figures for the history: the gensim part's files by set name rather than as a list."""
    out = dict(results)
    if "gensim" in out:
        files = {f["set"]: {k: v for k, v in f.items() if k != "set"} for f in out["gensim"]["files"]}
        out["gensim"] = {**out["gensim"], "files": files}
    return out


def _fresh(part: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one part in a new interpreter so its peak RSS is not inflated by the other's."""
    argv = [sys.executable, "-m", "benchmarks.evaluate", "--only", part, "--json", "--no-history"]
    argv += ["--words", str(args.words), "--gensim-words", str(args.gensim_words), "--dim", str(args.dim)]
    argv += ["--gensim-sets", *args.gensim_sets]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])[part]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=1_000_000, help="vocabulary of the suite model")
    parser.add_argument("--gensim-words", type=int, default=300_000, help="vocabulary of the gensim model")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument(
        "--gensim-sets",
        nargs="+",
        default=["ca8_morphological", "ca8_semantic", "ca_translated"],
        help="analogy sets timed against gensim",
    )
    parser.add_argument("--only", choices=["suite", "gensim"], help="run one part in this process")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-history", action="store_true", help="do not append this run to reports/benchmarks/history.jsonl"
    )
    args = parser.parse_args()

    if args.only == "suite":
        results = {"suite": suite(args.words, args.dim)}
    elif args.only == "gensim":
        results = {"gensim": gensim_rules(args.gensim_words, args.dim, args.gensim_sets)}
    else:
        results = {part: _fresh(part, args) for part in ("suite", "gensim")}
    results["load_avg_1min"] = round(os.getloadavg()[0], 2)
    if not args.no_history:
        from tasks.bench import history

        history.append("evaluate", figures(results), ROOT / "reports")
    if args.json:
        print(json.dumps(results))
        return
    if "suite" in results:
        s = results["suite"]
        print(
            f"suite: {s['words']:,} x {s['dim']} model, {s['questions']:,} questions (2 methods) + "
            f"{s['pairs']} pairs on {s['cores']} cores: {s['evaluate_s']} s wall, "
            f"{s['evaluate_cpu_s']} s CPU; peak RSS {s['peak_rss_mb_during_evaluate']} MB while evaluating "
            f"({s['peak_rss_mb_process']} MB for the process, model build {s['model_build_s']} s)"
        )
    if "gensim" in results:
        g = results["gensim"]
        print(f"gensim rules, {g['words']:,} x {g['dim']} model on {g['cores']} cores:")
        for f in g["files"]:
            agree = "same counts" if f["same_counts"] else "COUNTS DIFFER"
            print(
                f"  {f['set']:>18}: gensim {f['gensim_s']:7.2f} s, ours {f['ours_s']:6.2f} s, "
                f"{f['speedup']:5.1f}x ({agree})"
            )
        print(
            f"  {'total':>18}: gensim {g['gensim_s']:7.2f} s, ours {g['ours_s']:6.2f} s, {g['speedup']:5.1f}x"
        )
    print(f"1-minute load average at the end: {results['load_avg_1min']}")


if __name__ == "__main__":
    main()
