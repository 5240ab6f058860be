"""The report of a zhwiki-sized run: render time, file size and how long headless Chromium takes to draw it.

Builds, in a temporary folder, what a `zhwiki` run leaves behind: the best point's model as a train stage
writes it (`vectors.kv` and `vectors.bin`; the report never reads `vectors.txt`, so it is left out), a
`--words` × `--dim` float32 model (default 1,000,000 × 300) whose first rows are real words in jieba's
frequency order, with every eval and probe word among them, and random vectors; and a results database
recorded through flows/record.py with the pipeline's three points, their stage timings, per-category
scores, epoch rows and file artifacts. Then, each in a fresh interpreter so its peak RSS is its own, the
report is rendered by `render_report` (and the Prefect summary by `summary_markdown`, as the report stage
does), and Chromium loads the page from file:// until every chart is drawn (tests/browser.py's driver).

Figures: render wall/CPU seconds and peak RSS, the page's size, Chromium's seconds to the load event and to
the last chart drawn, and the JavaScript errors seen. Appended to reports/benchmarks/history.jsonl (and the
README beside it regenerated) unless `--no-history`.

    python -m benchmarks.report [--words 1000000] [--dim 300] [--keep DIR] [--json] [--no-history]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "zhwiki"
DUMP = "data/dumps/zhwiki-20240601-pages-articles-multistream.xml.bz2"
EPOCHS = 5
CHART_STATE = """(() => {
  const charts = Array.from(document.querySelectorAll('.plotly-graph-div'));
  return {charts: charts.length, drawn: charts.filter(d => d.querySelector('.main-svg')).length};
})()"""


def _eval_words() -> set[str]:
    """Every word of the default analogy and similarity sets and the default probe pairs."""
    from tasks.config import EvalSets, Sweep
    from tasks.vectors.evaluate import load_analogies, load_similarity

    sets = EvalSets()
    words = {
        w for p in sets.analogy.values() for qs in load_analogies(ROOT / p).values() for q in qs for w in q
    }
    words |= {w for p in sets.similarity.values() for a, b, _ in load_similarity(ROOT / p) for w in (a, b)}
    return words | {w for pair in Sweep().probes for w in pair}


def vocabulary(n_words: int) -> list[str]:
    """jieba's dictionary by frequency (real words first, as a model's rows are), the eval words jieba
    lacks right after them, then numbered fillers up to `n_words`."""
    import jieba

    entries = []
    with Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME).open(encoding="utf-8") as fh:
        for line in fh:
            word, freq, *_ = line.split()
            entries.append((-int(freq), word))
    real = list(dict.fromkeys(w for _, w in sorted(entries)))
    known = set(real)
    real += sorted(_eval_words() - known)
    if len(real) > n_words:
        needed = _eval_words()
        real = real[: n_words - len(needed)] + sorted(needed - set(real[: n_words - len(needed)]))
    return real[:n_words] + [f"填充词{i}" for i in range(n_words - len(real))]


def write_model(out: Path, n_words: int, dim: int, seed: int) -> dict[str, float]:
    """`vectors.kv` (one pickle, as the train stage saves it) and `vectors.bin` of a random model."""
    from gensim.models import KeyedVectors

    t0 = time.perf_counter()
    words = vocabulary(n_words)
    kv = KeyedVectors(dim, dtype=np.float32)
    kv.vectors = np.random.default_rng(seed).standard_normal((n_words, dim), dtype=np.float32)
    kv.index_to_key = words
    kv.key_to_index = {w: i for i, w in enumerate(words)}
    kv.allocate_vecattrs(["count"], [np.int64])
    kv.expandos["count"][:] = np.arange(n_words, 0, -1) * 5  # file order = frequency order, as trained
    out.mkdir(parents=True, exist_ok=True)
    kv.save(str(out / "vectors.kv"), separately=[])
    kv.save_word2vec_format(str(out / "vectors.bin"), binary=True)
    return {"model_build_s": round(time.perf_counter() - t0, 1)}


def _timing(stage: str, wall_s: float, items: int, unit: str, point_id: str | None = None) -> Any:
    from tasks.core.records import StageTiming

    return StageTiming(
        stage, wall_s, wall_s * 1.9, 2_500_000_000, 3 * 10**9, 2 * 10**9, items, unit, point_id
    )


def _metrics(rng: np.random.Generator) -> list[Any]:
    """Scores of every default set, per category as the evaluator writes them, both analogy methods."""
    from tasks.config import EvalSets
    from tasks.core.records import Metric
    from tasks.vectors.evaluate import load_analogies, load_similarity

    sets = EvalSets()
    rows: list[Metric] = []
    for name, path in sets.analogy.items():
        questions = load_analogies(ROOT / path)
        for method in ("3cosadd", "3cosmul"):
            total = sum(len(q) for q in questions.values())
            acc = float(rng.uniform(0.3, 0.7))
            rows.append(
                Metric(name, "all", method, "ca8", acc, int(total * 0.9), total, int(total * 0.9 * acc))
            )
            for category, qs in questions.items():
                value = float(rng.uniform(0.1, 0.9))
                seen = int(len(qs) * 0.9)
                rows.append(Metric(name, category, method, "ca8", value, seen, len(qs), int(seen * value)))
    for name, path in sets.similarity.items():
        total = len(load_similarity(ROOT / path))
        for method in ("spearman", "pearson"):
            rows.append(Metric(name, "all", method, "ca8", float(rng.uniform(0.4, 0.7)), total - 3, total))
    return rows


def _epochs(rng: np.random.Generator, probes: list[list[str]]) -> list[Any]:
    from tasks.core.records import EpochRow

    rows = []
    for epoch in range(1, EPOCHS + 1):
        rows += [
            EpochRow(epoch, "loss", float(1e8 / epoch)),
            EpochRow(epoch, "seconds", float(rng.uniform(2000, 2400))),
            EpochRow(epoch, "ca_translated_3cosadd", 0.1 * epoch),
            EpochRow(epoch, "wordsim240_spearman", 0.1 * epoch),
        ]
        rows += [EpochRow(epoch, f"probe:{a}|{b}", float(rng.uniform(0.3, 0.8))) for a, b in probes]
    return rows


def record_run(database: Path, vectors_dir: Path, n_words: int, seed: int) -> str:
    """The run a `zhwiki` sweep records, through the recorder: preprocessing timings, then per point its
    timings, scores, epoch rows and files; every point's vectors are the one model on disk."""
    from flows.pipeline import project_version
    from flows.record import recording
    from tasks.config import load_settings
    from tasks.core.records import PointResult
    from tasks.dump.plan import dump_date
    from tasks.stages import file_artifacts

    settings = load_settings(ROOT / "pipelines.yaml")
    _, pl = settings.pipeline(PIPELINE)
    points = pl.points()
    config = {
        "pipeline": PIPELINE,
        **pl.model_dump(mode="json"),
        "points": [p.model_dump(mode="json") for p in points],
    }
    rng = np.random.default_rng(seed)
    dated = dump_date(Path(DUMP).name)
    with recording(
        database, PIPELINE, config, DUMP, "ab" * 32, project_version(), dump_date=dated
    ) as recorder:
        recorder.timings(
            [
                _timing("extract", 900.0, 1_400_000, "articles"),
                _timing("convert", 300.0, 1_100_000_000, "chars"),
                _timing("segment", 1500.0, 600_000_000, "tokens"),
            ]
        )
        files = {
            vectors_dir / name: "vectors-" + name.rsplit(".", 1)[-1] for name in ("vectors.kv", "vectors.bin")
        }
        for i, params in enumerate(points):
            pid = f"{i:02d}" + "c0ffee" * 5
            point = PointResult(
                pid,
                params.label(),
                params.model_dump(mode="json"),
                "completed",
                n_words,
                3_000_000_000,
                str(vectors_dir),
            )
            timings = [
                _timing("train", 11_000.0 + 500 * i, 3_000_000_000, "words", pid),
                _timing("evaluate", 60.0, 30_000, "questions", pid),
            ]
            artifacts = file_artifacts(files, pid)
            recorder.point(
                point, timings, _metrics(rng), _epochs(rng, [list(p) for p in pl.sweep.probes]), artifacts
            )
        return recorder.run_id


def render(database: Path, run_id: str, out_dir: Path) -> dict[str, Any]:
    """The report and the Prefect summary, timed as the report stage makes them."""
    from tasks.core.measure import measure
    from tasks.report.render import render_report
    from tasks.report.sections import summary_markdown
    from tasks.results.store import Store

    with Store(database, read_only=True) as store:
        with measure() as report_meter:
            path = render_report(store, run_id, out_dir)
        with measure() as summary_meter:
            summary = summary_markdown(store, run_id)
    return {
        "path": str(path),
        "render_s": round(report_meter.wall_s, 2),
        "render_cpu_s": round(report_meter.cpu_s, 2),
        "summary_markdown_s": round(summary_meter.wall_s, 2),
        "summary_has_neighbours": "Nearest neighbours" in summary,
        # sampled (tasks/core/measure.py): ru_maxrss would start at the parent's RSS when it forked
        "peak_rss_mb": round(max(report_meter.peak_rss_bytes, summary_meter.peak_rss_bytes) / 2**20),
    }


def browse(page: Path, timeout_s: float) -> dict[str, Any]:
    """Seconds from navigation to Chromium's load event and to every chart drawn, and the errors seen."""
    from tests.browser import chromium, open_browser

    binary = chromium()
    if binary is None:
        raise SystemExit("chromium is not installed (apt-get install chromium, or set $CHROMIUM)")
    with open_browser(binary) as tab:
        t0 = time.perf_counter()
        tab.goto(page.resolve().as_uri(), timeout=timeout_s)
        loaded = time.perf_counter() - t0
        state = tab.evaluate(CHART_STATE)
        while state["drawn"] < state["charts"] and time.perf_counter() - t0 < timeout_s:
            tab.settle(0.05)
            state = tab.evaluate(CHART_STATE)
        drawn = time.perf_counter() - t0
        errors = tab.errors()
    return {
        "load_event_s": round(loaded, 2),
        "all_charts_drawn_s": round(drawn, 2),
        "charts": state["charts"],
        "charts_drawn": state["drawn"],
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def _fresh_render(database: Path, run_id: str, out_dir: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.report", "--only-render", str(database), run_id, str(out_dir)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"rendering failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def run(n_words: int, dim: int, folder: Path, timeout_s: float) -> dict[str, Any]:
    vectors_dir = folder / "work" / "train" / "best"
    results: dict[str, Any] = {"words": n_words, "dim": dim, "cores": len(os.sched_getaffinity(0))}
    results |= write_model(vectors_dir, n_words, dim, seed=1)
    results["model_kv_mb"] = round((vectors_dir / "vectors.kv").stat().st_size / 1e6)
    t0 = time.perf_counter()
    run_id = record_run(folder / "work" / "zhvec.duckdb", vectors_dir, n_words, seed=2)
    results["record_s"] = round(time.perf_counter() - t0, 1)
    rendered = _fresh_render(folder / "work" / "zhvec.duckdb", run_id, folder / "reports")
    page = Path(rendered.pop("path"))
    results["render"] = rendered
    results["report_mb"] = round(page.stat().st_size / 1e6, 2)
    results["chromium"] = browse(page, timeout_s)
    results["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=1_000_000, help="vocabulary of the model")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds Chromium may take to draw it")
    parser.add_argument(
        "--keep", type=Path, help="build in this folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--only-render", nargs=3, metavar=("DATABASE", "RUN", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-history", action="store_true", help="do not append this run to the history")
    args = parser.parse_args()
    if args.only_render:
        database, run_id, out = args.only_render
        print(json.dumps(render(Path(database), run_id, Path(out))))
        return
    if args.keep:
        results = run(args.words, args.dim, args.keep, args.timeout)
    else:
        with tempfile.TemporaryDirectory(prefix="zhvec-report-bench-") as tmp:
            results = run(args.words, args.dim, Path(tmp), args.timeout)
    if not args.no_history:
        from tasks.bench import history

        history.append("report", results, ROOT / "reports")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return
    r, c = results["render"], results["chromium"]
    print(
        f"{results['words']:,} x {results['dim']} model ({results['model_kv_mb']} MB vectors.kv, built in "
        f"{results['model_build_s']} s, recorded in {results['record_s']} s)\n"
        f"render: {r['render_s']} s wall, {r['render_cpu_s']} s CPU, summary {r['summary_markdown_s']} s, "
        f"peak RSS {r['peak_rss_mb']} MB; report {results['report_mb']} MB\n"
        f"chromium: load event {c['load_event_s']} s, {c['charts_drawn']} of {c['charts']} charts drawn at "
        f"{c['all_charts_drawn_s']} s, {c['errors']} error(s) {c['first_error']}"
    )


if __name__ == "__main__":
    main()
