"""The zhwiki-scale rehearsal: the CA8 authors' point end to end on a zhwiki-scale dump, measured, and a
projection to the full size, to 8 and 32 cores, and to a 3-point sweep on 3 machines.

    python -m benchmarks.scaledump quarter                 # the dump (see benchmarks/SCALE.md)
    python -m benchmarks.scale run scale-quarter           # zhvec run on it, figures into the history
    python -m benchmarks.scale cores scale-sixteenth       # each stage with 1 and with 2 workers
    python -m benchmarks.scale preprocess scale-full       # up to the vocabulary only, on every core
    python -m benchmarks.scale project                     # the projection from the history's runs

`run` starts `zhvec run PIPELINE --config benchmarks/scale.yaml` in a child process with a fresh workspace
and records every stage's wall, CPU, peak RSS and bytes (as the run stored them in its DuckDB), the whole
run's wall, the workspace's size against the dump's, the corpus and vocabulary sizes and the headline scores.

`project` reads the latest `scale` records of the history and states its arithmetic in what it prints:

- **Size.** The target is zhwiki's: 1.4 M articles (dump bytes scaled from the largest run by articles) and
  220 M corpus words. A stage's wall is the largest run's wall per unit times the units (units: dump bytes
  for extract/convert/segment, corpus words for vocab and train, vocabulary words for evaluate): an upper
  bound where a stage has fixed costs. The vocabulary is extrapolated by Heaps' law through the smallest
  and largest run. A `preprocess` run of the full-size dump, when the history has one, replaces the
  preprocessing walls (scaled from its corpus words to 220 M) and the extrapolated vocabulary by
  measurements.
- **Memory.** Training and evaluation hold the vectors, so their peak RSS is fitted linearly in the
  vocabulary through the smallest and largest run; the sharded stages' workers hold a shard at a time, so
  theirs is the largest measured.
- **Cores.** `cores` runs each stage with 1 and with 2 workers (walls `W1`, `W2`); by Amdahl's law the
  serial part of the 2-worker wall is `s = (2·W2 − W1) / W2`, and on `n` cores `W_n = W2·(s + (1 − s)·2/n)`.
  Evaluation is taken as serial. It is an upper bound on speed: memory bandwidth and disk do not grow with
  cores, and gensim's threads share one corpus file.
- **3 machines.** The three points of a sweep train on three machines at once, after one preprocessing: wall
  = preprocessing + the longest point + the Dask overhead measured by `python -m benchmarks.dask_sweep`
  (0 when the history has no such run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "benchmarks" / "scale.yaml"
PREPROCESS = ("extract", "convert", "segment", "vocab")
UNITS = {
    "extract": "dump_bytes",
    "convert": "dump_bytes",
    "segment": "dump_bytes",
    "vocab": "corpus_words",
    "train": "corpus_words",
    "evaluate": "vocab_size",
    "report": None,
}
FULL_ARTICLES = 1_400_000
ZHWIKI_TOKENS = 220_000_000  # zhwiki's corpus as the CA8 authors counted it; the full scale dump has fewer
HEADLINES = (
    ("ca8_morphological", "3cosadd"),
    ("ca8_semantic", "3cosadd"),
    ("ca_translated", "3cosadd"),
    ("wordsim240", "spearman"),
    ("wordsim297", "spearman"),
)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure_run(pipeline: str, config: Path) -> dict[str, Any]:
    """Run the pipeline from an empty workspace in a child process; figures from its DuckDB."""
    import duckdb

    from tasks.config import load_settings

    settings = load_settings(config)
    _, pl = settings.pipeline(pipeline)
    dump = Path(str(pl.dump))
    for stale in (settings.workspace, settings.database):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    start = time.perf_counter()
    zhvec = Path(sys.executable).with_name("zhvec")
    subprocess.run([str(zhvec), "run", pipeline, "--config", str(config)], check=True)
    wall = time.perf_counter() - start
    with duckdb.connect(str(settings.database), read_only=True) as db:
        run_id, status = db.execute(
            "SELECT run_id, status FROM runs WHERE pipeline = ? ORDER BY started_at DESC LIMIT 1", [pipeline]
        ).fetchone()
        stages = db.execute(
            "SELECT stage, sum(wall_s), sum(cpu_s), max(peak_rss_bytes), sum(bytes_in), sum(bytes_out), "
            "sum(items), any_value(item_unit) FROM stage_timings WHERE run_id = ? GROUP BY stage",
            [run_id],
        ).fetchall()
        vocab, words, epochs_run = db.execute(
            "SELECT vocab_size, train_words, CAST(params->>'epochs' AS INTEGER) FROM points WHERE run_id = ?",
            [run_id],
        ).fetchone()
        scores = dict(
            ((s, m), v)
            for s, m, v in db.execute(
                "SELECT eval_set, method, value FROM metrics WHERE run_id = ? AND category = 'all' "
                "AND rules = 'ca8'",
                [run_id],
            ).fetchall()
        )
        epochs = db.execute(
            "SELECT metric, CASE metric WHEN 'seconds' THEN sum(value) ELSE max(value) END "
            "FROM epoch_history WHERE run_id = ? AND metric IN ('seconds', 'tracking_share') GROUP BY metric",
            [run_id],
        ).fetchall()
    figures: dict[str, Any] = {
        "pipeline": pipeline,
        "run_id": run_id,
        "status": status,
        "wall_s": round(wall, 1),
        "dump_bytes": dump.stat().st_size,
        "workspace_bytes": folder_bytes(settings.workspace),
        "vocab_size": vocab,
        "corpus_words": words // epochs_run,
        "cores": os.cpu_count(),
    }
    figures["workspace_vs_dump"] = round(figures["workspace_bytes"] / figures["dump_bytes"], 2)
    for stage, wall_s, cpu_s, rss, b_in, b_out, items, unit in stages:
        figures.update(
            {
                f"stages.{stage}.wall_s": round(wall_s, 1),
                f"stages.{stage}.cpu_s": round(cpu_s, 1),
                f"stages.{stage}.peak_rss_gb": round(rss / 1e9, 2),
                f"stages.{stage}.bytes_in": int(b_in),
                f"stages.{stage}.bytes_out": int(b_out),
                f"stages.{stage}.{unit}": int(items),
            }
        )
    figures["peak_rss_gb"] = max(v for k, v in figures.items() if k.endswith(".peak_rss_gb"))
    for (eval_set, method), value in scores.items():
        if (eval_set, method) in HEADLINES:
            figures[f"scores.{eval_set}_{method}"] = round(value, 4)
    names = {"seconds": "epochs.train_s", "tracking_share": "epochs.max_tracking_share"}
    figures |= {names[metric]: round(value, 3) for metric, value in epochs}
    return figures


def _stages(pipeline: str, config: Path, folder: Path, workers: int, train: bool) -> dict[str, Any]:
    """The pipeline's stages on its dump by the single-stage commands with `workers` workers, timed (train:
    one epoch of its point, its training seconds); the vocabulary's figures too."""
    from tasks.config import load_settings
    from tasks.vectors.vocab import count_vocabulary

    _, pl = load_settings(config).pipeline(pipeline)
    point, seg, d = pl.points()[0], pl.segment, folder
    zhvec = str(Path(sys.executable).with_name("zhvec"))
    dicts = [a for path in seg.user_dicts for a in ("--user-dict", str(path))]
    model = ["--model", point.model, "--vector-size", str(point.vector_size), "--window", str(point.window)]
    model += ["--negative", str(point.negative), "--sample", str(point.sample)]
    model += ["--min-count", str(point.min_count), "--epochs", "1", "--json"]
    steps = {
        "extract": ["extract", str(pl.dump), "-o", f"{d}/text"],
        "convert": ["convert", f"{d}/text", "-o", f"{d}/conv", "--opencc", pl.convert.config],
        "segment": ["segment", f"{d}/conv", "-o", f"{d}/corpus.txt", "--drop", *seg.drop, *dicts],
    }
    walls: dict[str, Any] = {}
    for stage, args in steps.items():
        start = time.perf_counter()
        subprocess.run([zhvec, *args, "--workers", str(workers)], check=True, capture_output=True)
        walls[f"{stage}_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    vocab = count_vocabulary(d / "corpus.txt", point.min_count, workers=workers)
    walls["vocab_s"] = round(time.perf_counter() - start, 2)
    walls |= {
        "vocab_size": len(vocab.counts),
        "corpus_words": vocab.total_words,
        "min_count": vocab.min_count,
    }
    if train:
        args = ["train", f"{d}/corpus.txt", "-o", f"{d}/model", *model, "--workers", str(workers)]
        done = subprocess.run([zhvec, *args], check=True, capture_output=True, text=True)
        walls["train_s"] = round(json.loads(done.stdout)["train_seconds"], 2)
    return walls


def measure_cores(pipeline: str, config: Path) -> dict[str, Any]:
    """Each stage with 1 and with 2 workers: how each stage's wall falls with workers."""
    figures: dict[str, Any] = {"pipeline": pipeline}
    with tempfile.TemporaryDirectory(dir=REPO / "work") as tmp:
        for n in (1, 2):
            walls = _stages(pipeline, config, Path(tmp) / f"w{n}", n, train=True)
            figures |= {f"cores.{k[:-2]}.w{n}_s": v for k, v in walls.items() if k.endswith("_s")}
    for stage in (*PREPROCESS, "train"):
        one, two = figures[f"cores.{stage}.w1_s"], figures[f"cores.{stage}.w2_s"]
        figures[f"cores.{stage}.serial_share"] = round(min(1.0, max(0.0, 2 * two - one) / two), 3)
    return figures


def measure_preprocess(pipeline: str, config: Path) -> dict[str, Any]:
    """Extract, convert, segment and the vocabulary count on every core: the walls and the vocabulary at
    the point's min_count (for a dump too large to train on in the time at hand)."""
    from tasks.config import load_settings

    _, pl = load_settings(config).pipeline(pipeline)
    with tempfile.TemporaryDirectory(dir=REPO / "work") as tmp:
        walls = _stages(pipeline, config, Path(tmp), os.cpu_count() or 1, train=False)
    dump = Path(str(pl.dump))
    return {"pipeline": pipeline, "dump_bytes": dump.stat().st_size, "cores": os.cpu_count(), **walls}


def amdahl(wall: float, serial_share: float, cores: int, target: int) -> float:
    """Wall on `target` cores of a stage that took `wall` on `cores`, of which `serial_share` did not run in
    parallel (see the module docstring)."""
    return wall * (serial_share + (1.0 - serial_share) * cores / target)


def scaled_wall(largest: dict[str, Any], stage: str, target: float) -> float:
    """`stage`'s wall at `target` units: the largest run's wall per unit times the units (see the module
    docstring); a stage without a unit (the report) as measured."""
    unit = UNITS.get(stage)
    wall = float(largest[f"stages.{stage}.wall_s"])
    return wall * target / largest[unit] if unit else wall


def rss_at(runs: list[dict[str, Any]], stage: str, vocab: float) -> float:
    """Peak RSS of `stage` at a vocabulary of `vocab` words: linear in the vocabulary through the smallest
    and largest run for the stages that hold vectors, else the largest measured."""
    pts = sorted((r["vocab_size"], r[f"stages.{stage}.peak_rss_gb"]) for r in runs)
    (v0, r0), (v1, r1) = pts[0], pts[-1]
    if stage not in ("train", "evaluate"):
        return max(r for _, r in pts)
    if v1 == v0:
        return r1 * vocab / v1
    return r1 + (r1 - r0) / (v1 - v0) * (vocab - v1)


def heaps(runs: list[dict[str, Any]], words: float) -> float:
    """Vocabulary at `words` corpus words by Heaps' law V = K·N^β through the two sizes measured."""
    import math

    sizes = sorted((r["corpus_words"], r["vocab_size"]) for r in runs)
    (n0, v0), (n1, v1) = sizes[0], sizes[-1]
    beta = math.log(v1 / v0) / math.log(n1 / n0)
    return v1 * (words / n1) ** beta


def project(
    runs: list[dict[str, Any]],
    shares: dict[str, float],
    dask_overhead_s: float,
    full: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full-size CA8 point on 2, 8 and 32 cores, and a 3-point sweep on 3 machines, from `runs` and
    each stage's serial share (`shares`; a stage without one is taken as not parallel at all). `full`, a
    `preprocess` run of the full-size dump, replaces the fitted preprocessing walls (scaled to 220 M words)
    and the Heaps vocabulary by what it measured."""
    largest = max(runs, key=lambda r: r["dump_bytes"])
    per_article = FULL_ARTICLES / largest["stages.extract.articles"]
    target = {"dump_bytes": largest["dump_bytes"] * per_article, "corpus_words": float(ZHWIKI_TOKENS)}
    target["vocab_size"] = heaps(runs, target["corpus_words"]) if len(runs) > 1 else largest["vocab_size"]
    measured: dict[str, float] = {}
    if full is not None:
        target["vocab_size"] = full["vocab_size"]
        words = ZHWIKI_TOKENS / full["corpus_words"]
        measured = {s: full[f"{s}_s"] * words for s in PREPROCESS if f"{s}_s" in full}
    out: dict[str, Any] = {
        "sizes": ", ".join(f"{r['pipeline']} ({r['run_id']})" for r in runs),
        "full.measured": "preprocessing and vocabulary" if full else "none (all scaled)",
        "full.articles": FULL_ARTICLES,
        "full.dump_bytes": round(target["dump_bytes"]),
        "full.corpus_words": round(target["corpus_words"]),
        "full.vocab_size": round(target["vocab_size"]),
    }
    rss = {s: rss_at(runs, s, target["vocab_size"]) for s in UNITS if f"stages.{s}.peak_rss_gb" in largest}
    out.update({f"full.{stage}.peak_rss_gb": round(gb, 2) for stage, gb in rss.items()})
    out["full.peak_rss_gb"] = round(max(rss.values()), 2)
    cores = largest["cores"]
    stages = [s for s in UNITS if f"stages.{s}.wall_s" in largest]
    # the run's wall outside its stages (hashing the dump, the flow, the report), scaled like the dump
    other = (largest["wall_s"] - sum(largest[f"stages.{s}.wall_s"] for s in stages)) * per_article
    out["full.other_s"] = round(other)
    for n in (cores, 8, 32):
        total, point = other, 0.0
        for stage in stages:
            unit = UNITS[stage]
            wall = measured.get(stage) or scaled_wall(largest, stage, target[unit] if unit else 0.0)
            wall_n = amdahl(wall, shares.get(stage, 1.0), cores, n)
            out[f"full.cores{n}.{stage}_s"] = round(wall_n)
            total += wall_n
            point += wall_n if stage in ("train", "evaluate") else 0.0
        out[f"full.cores{n}.total_s"] = round(total)
        out[f"full.cores{n}.total_h"] = round(total / 3600, 2)
        out[f"full.cores{n}.point_s"] = round(point)
    pre = out[f"full.cores{cores}.total_s"] - out[f"full.cores{cores}.point_s"]
    sweep = pre + out[f"full.cores{cores}.point_s"] + dask_overhead_s
    out.update(
        {
            "sweep3.one_machine_h": round((pre + 3 * out[f"full.cores{cores}.point_s"]) / 3600, 2),
            "sweep3.three_machines_h": round(sweep / 3600, 2),
            "sweep3.dask_overhead_s": round(dask_overhead_s, 1),
        }
    )
    return out


def latest_runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest completed `scale` run of each pipeline."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        figures = record["figures"]
        if record["benchmark"] == "scale" and figures.get("status") == "completed" and "run_id" in figures:
            latest[figures["pipeline"]] = figures
    return list(latest.values())


def full_preprocess(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest `preprocess` run of the full-size dump, if any."""
    runs = [r["figures"] for r in records if r["benchmark"] == "scale_preprocess"]
    full = [f for f in runs if f.get("pipeline") == "scale-full"]
    return full[-1] if full else None


def serial_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    """Each stage's serial share from the newest `scale_cores` run (empty without one)."""
    runs = [r["figures"] for r in records if r["benchmark"] == "scale_cores"]
    if not runs:
        return {}
    return {k.split(".")[1]: v for k, v in runs[-1].items() if k.endswith(".serial_share")}


def dask_overhead(records: list[dict[str, Any]]) -> float:
    runs = [r["figures"] for r in records if r["benchmark"] == "dask_sweep"]
    return float(runs[-1].get("dask.overhead_s", 0.0)) if runs else 0.0


def main(argv: list[str] | None = None) -> int:
    from tasks.bench import history

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="zhvec run PIPELINE of benchmarks/scale.yaml from an empty workspace"
    )
    run.add_argument("pipeline")
    run.add_argument("--config", type=Path, default=CONFIG)
    cores = commands.add_parser("cores", help="each stage of PIPELINE's dump with 1 and with 2 workers")
    cores.add_argument("pipeline")
    cores.add_argument("--config", type=Path, default=CONFIG)
    prep = commands.add_parser("preprocess", help="PIPELINE's stages up to the vocabulary, on every core")
    prep.add_argument("pipeline")
    prep.add_argument("--config", type=Path, default=CONFIG)
    commands.add_parser("project", help="the projection from the history's latest scale runs")
    args = parser.parse_args(argv)
    reports = REPO / "reports"
    if args.command == "run":
        figures = measure_run(args.pipeline, args.config)
        history.append("scale", figures, reports)
    elif args.command == "cores":
        figures = measure_cores(args.pipeline, args.config)
        history.append("scale_cores", figures, reports)
    elif args.command == "preprocess":
        figures = measure_preprocess(args.pipeline, args.config)
        history.append("scale_preprocess", figures, reports)
    else:
        records = history.load(history.history_path(reports))
        runs = latest_runs(records)
        if not runs:
            print(
                "no completed scale run in the history: run `python -m benchmarks.scale run …` first",
                file=sys.stderr,
            )
            return 2
        figures = project(runs, serial_shares(records), dask_overhead(records), full_preprocess(records))
        history.append("scale_projection", figures, reports)
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
