"""The benchmark's arithmetic: zhvec against the tutorial pipeline and word2vec.c, from the rows the bench
flow stored in DuckDB (stage_timings, points, metrics), and the projection to the full zhwiki dump.

Every figure here is derived from stored rows, so the report and `zhvec bench` show the same numbers and
a query on those tables reproduces them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import mean
from typing import Any

from tasks.results.store import DEFAULT_HEADLINES, Store

PREPROCESS = ("extract", "convert", "segment")
BASELINES = ("tutorial", "word2vec_c")
SYSTEMS = ("zhvec", *BASELINES)
# zhwiki-latest pages-articles-multistream: ~3 GB of bz2 (the figure for the real dump).
ZHWIKI_BZ2_BYTES = 3_000_000_000


@dataclass(frozen=True)
class SystemPoint:
    """One trained model of one system: its stage walls (preprocessing only where the system redid it
    for this model), training words, and headline scores with coverage."""

    system: str
    model: str
    stages: Mapping[str, float]
    train_words: int
    scores: Mapping[str, tuple[float, float]]  # "<set>_<method>" -> (value, coverage)

    @property
    def words_per_s(self) -> float:
        return self.train_words / self.stages["train"] if self.stages.get("train") else 0.0


def headline_scores(metrics: Sequence[Mapping[str, Any]], point_id: str) -> dict[str, tuple[float, float]]:
    """The five headline numbers of a point (ca8 rules), each with its coverage."""
    wanted = {(s, m) for s, m in DEFAULT_HEADLINES}
    return {
        f"{r['eval_set']}_{r['method']}": (float(r["value"]), float(r["coverage"]))
        for r in metrics
        if r["point_id"] == point_id and r["category"] == "all" and (r["eval_set"], r["method"]) in wanted
    }


def points_of(
    system: str,
    points: Sequence[Mapping[str, Any]],
    timings: Sequence[Mapping[str, Any]],
    metrics: Sequence[Mapping[str, Any]],
    shared: Mapping[str, float] | None = None,
) -> list[SystemPoint]:
    """The points of one stored run as `SystemPoint`s. `shared` holds the run-level stage walls (zhvec's
    preprocessing, done once for every point); per-point rows (the tutorial's stages, train) add to them.
    zhvec's vocabulary count is a stage of its own, shared by the points; it is added to each point's train,
    as gensim and word2vec.c count the vocabulary inside their training."""
    out = []
    for p in points:
        if p["status"] != "completed":
            continue
        stages = dict(shared or {})
        stages |= {t["stage"]: float(t["wall_s"]) for t in timings if t["point_id"] == p["point_id"]}
        stages.pop("evaluate", None)
        if "vocab" in stages:
            stages["train"] = stages.get("train", 0.0) + stages.pop("vocab")
        model = str(p["params"]["model"])
        scores = headline_scores(metrics, p["point_id"])
        out.append(SystemPoint(system, model, stages, int(p["train_words"]), scores))
    return out


def run_level_stages(timings: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {
        t["stage"]: float(t["wall_s"])
        for t in timings
        if t["point_id"] is None and t["stage"] in (*PREPROCESS, "vocab")
    }


def _ratio(slow: float, fast: float) -> float | None:
    return round(slow / fast, 2) if fast > 0 else None


def _pts(value: float) -> float:
    """Scores in points: accuracy and Spearman both ×100, as the issue compares them."""
    return 100 * value


def compare(zhvec: Sequence[SystemPoint], others: Sequence[SystemPoint]) -> dict[str, Any]:
    """Per model: each side's stage seconds, ratios, training words/s, end-to-end seconds and scores; the
    sweep case (N points: zhvec preprocesses once, the tutorial N times); the quality verdict per model."""
    by = {(p.system, p.model): p for p in [*zhvec, *others]}
    models = [p.model for p in zhvec]
    result: dict[str, Any] = {"models": {}}
    for model in models:
        ours = by[("zhvec", model)]
        row: dict[str, Any] = {"systems": {}}
        for system in SYSTEMS:
            sp = by.get((system, model))
            if sp is None:
                continue
            pre = sum(sp.stages.get(s, 0.0) for s in PREPROCESS)
            row["systems"][system] = {
                "stages_s": {s: round(v, 2) for s, v in sp.stages.items()},
                "preprocess_s": round(pre, 2),
                "train_s": round(sp.stages.get("train", 0.0), 2),
                "end_to_end_s": round(pre + sp.stages.get("train", 0.0), 2),
                "train_words_per_s": round(sp.words_per_s),
                "scores": {k: round(_pts(v), 2) for k, (v, _) in sp.scores.items()},
                "coverage": {k: round(c, 4) for k, (_, c) in sp.scores.items()},
                "mean_score": round(mean(_pts(v) for v, _ in sp.scores.values()), 2) if sp.scores else None,
            }
        tut = by.get(("tutorial", model))
        if tut is not None:
            ours_row, tut_row = row["systems"]["zhvec"], row["systems"]["tutorial"]
            row["speedup"] = {
                s: _ratio(tut.stages.get(s, 0.0), ours.stages.get(s, 0.0)) for s in (*PREPROCESS, "train")
            }
            row["speedup"]["preprocess"] = _ratio(tut_row["preprocess_s"], ours_row["preprocess_s"])
            row["speedup"]["end_to_end"] = _ratio(tut_row["end_to_end_s"], ours_row["end_to_end_s"])
            row["quality"] = quality(ours, tut)
        c = by.get(("word2vec_c", model))
        if c is not None:
            row["gensim_vs_word2vec_c"] = _ratio(c.stages["train"], ours.stages["train"])
        result["models"][model] = row
    tutorial = [p for p in others if p.system == "tutorial"]
    if tutorial:
        pre_once = sum(zhvec[0].stages.get(s, 0.0) for s in PREPROCESS)
        ours_total = pre_once + sum(p.stages.get("train", 0.0) for p in zhvec)
        theirs = sum(sum(p.stages.get(s, 0.0) for s in (*PREPROCESS, "train")) for p in tutorial)
        result["sweep"] = {
            "points": len(tutorial),
            "zhvec_s": round(ours_total, 2),
            "tutorial_s": round(theirs, 2),
            "speedup": _ratio(theirs, ours_total),
        }
    return result


def quality(ours: SystemPoint, theirs: SystemPoint) -> dict[str, Any]:
    """The issue's test: coverage at least the tutorial's on every set, mean of the five headline numbers
    at least the tutorial's, and no number more than 2 points below it."""
    keys = sorted(set(ours.scores) & set(theirs.scores))
    diff = {k: round(_pts(ours.scores[k][0]) - _pts(theirs.scores[k][0]), 2) for k in keys}
    coverage_ok = all(ours.scores[k][1] >= theirs.scores[k][1] for k in keys)
    mean_diff = round(mean(diff.values()), 2) if diff else 0.0
    return {
        "diff_points": diff,
        "mean_diff_points": mean_diff,
        "coverage_at_least": coverage_ok,
        "mean_at_least": mean_diff >= 0,
        "none_2_below": all(d >= -2 for d in diff.values()),
    }


def project(
    sizes: Sequence[tuple[int, Mapping[str, float]]],
    cores: int,
    target_bytes: int = ZHWIKI_BZ2_BYTES,
    target_cores: Sequence[int] = (2, 8, 32),
) -> dict[str, Any]:
    """Hours per stage for a dump of `target_bytes` of bz2, from stage walls measured at two dump sizes.

    Assumptions (shown with the figures): each stage costs a fixed part plus a part proportional to the
    dump's bz2 bytes (a line through the two measurements; if the two disagree on the slope's sign, the
    larger run's average rate), the real dump has the same text per bz2 byte as the benchmark dumps, and
    the proportional part divides by the core count (the stages shard the work; training is gensim's
    threads) while the fixed part does not.
    """
    if len(sizes) < 2:
        raise ValueError("the projection needs stage timings at two dump sizes")
    (s1, t1), (s2, t2) = sorted(sizes, key=lambda x: x[0])[-2:]
    stages: dict[str, Any] = {}
    for stage in t2:
        if stage not in t1:
            continue
        slope = (t2[stage] - t1[stage]) / (s2 - s1) if s2 != s1 else 0.0
        fixed = t1[stage] - slope * s1
        if slope <= 0 or fixed < 0:
            slope, fixed = t2[stage] / s2, 0.0
        stages[stage] = {
            str(n): round((fixed + slope * target_bytes * cores / n) / 3600, 2) for n in target_cores
        }
    totals = {str(n): round(sum(v[str(n)] for v in stages.values()), 2) for n in target_cores}
    return {
        "measured_bz2_bytes": [s1, s2],
        "measured_cores": cores,
        "target_bz2_bytes": target_bytes,
        "hours": stages,
        "total_hours": totals,
    }


def _cell(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def model_table(row: dict[str, Any]) -> tuple[list[str], list[tuple[str, list[str], str]]]:
    """One model's comparison as (system names, rows of (label, formatted cells, zhvec speed-up)), shared
    by the CLI table and the report."""
    systems, speed = row["systems"], row.get("speedup", {})
    names = [s for s in SYSTEMS if s in systems]

    def add(label: str, values: list[Any], fmt: str, ratio: float | None = None) -> None:
        rows.append((label, [_cell(v, fmt) for v in values], f"x{ratio}" if ratio else ""))

    rows: list[tuple[str, list[str], str]] = []
    for stage in (*PREPROCESS, "train"):
        add(f"{stage} s", [systems[n]["stages_s"].get(stage) for n in names], ",.1f", speed.get(stage))
    add("preprocess s", [systems[n]["preprocess_s"] for n in names], ",.1f", speed.get("preprocess"))
    add("end to end s", [systems[n]["end_to_end_s"] for n in names], ",.1f", speed.get("end_to_end"))
    add("train words/s", [systems[n]["train_words_per_s"] for n in names], ",.0f")
    for key in systems["zhvec"]["scores"]:
        add(key, [systems[n]["scores"].get(key) for n in names], ".2f")
        add("  coverage", [systems[n]["coverage"].get(key) for n in names], ".4f")
    add("mean of the headline scores", [systems[n]["mean_score"] for n in names], ".2f")
    return names, rows


def verdicts(row: dict[str, Any]) -> list[str]:
    """The quality verdict against the tutorial and gensim's speed against word2vec.c, as sentences."""
    out = []
    if "quality" in row:
        q = row["quality"]
        out.append(
            f"vs tutorial: mean {q['mean_diff_points']:+.2f} points, coverage at least the tutorial's on "
            f"every set: {q['coverage_at_least']}, no score 2 points below: {q['none_2_below']}"
        )
    if row.get("gensim_vs_word2vec_c"):
        out.append(f"gensim training speed / word2vec.c: x{row['gensim_vs_word2vec_c']}")
    return out


def projection_rows(projection: dict[str, Any]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The projection as (core counts, rows of (stage, hours per core count)), the last row the total."""
    cores = list(projection["total_hours"])
    items = [*projection["hours"].items(), ("total", projection["total_hours"])]
    return cores, [(stage, [f"{hours[c]:.2f}" for c in cores]) for stage, hours in items]


def comparison(store: Store, run_id: str, ref_id: str | None) -> dict[str, Any]:
    """The comparison of a bench, from what is stored for zhvec's run and its baselines run (if any)."""
    ours_t = store.timings(run_id)
    shared = run_level_stages(ours_t)
    ours = points_of("zhvec", store.points(run_id), ours_t, store.metrics(run_id), shared)
    if ref_id is None:
        return compare(ours, [])
    ref_points, ref_t, ref_m = store.points(ref_id), store.timings(ref_id), store.metrics(ref_id)
    others = []
    for system in BASELINES:
        mine = [p for p in ref_points if p["params"].get("system") == system]
        # word2vec.c trains on zhvec's corpus (so shares its preprocessing) and counts its own vocabulary
        on_ours = {s: w for s, w in shared.items() if s != "vocab"} if system == "word2vec_c" else None
        others += points_of(system, mine, ref_t, ref_m, on_ours)
    return compare(ours, others)


def measured_sizes(store: Store, pipeline: str) -> list[tuple[int, dict[str, float]]]:
    """Stage walls of the newest completed run of `pipeline` on each distinct dump size (bz2 bytes read by
    extract), for the projection; training per model."""
    by_size: dict[int, dict[str, float]] = {}
    for run in store.runs():  # newest first
        if run["pipeline"] != pipeline or run["status"] != "completed":
            continue
        timings = store.timings(run["run_id"])
        size = next((t["bytes_in"] for t in timings if t["stage"] == "extract" and t["point_id"] is None), 0)
        if not size or size in by_size:
            continue
        walls = run_level_stages(timings)
        models = {p["point_id"]: p["params"]["model"] for p in store.points(run["run_id"])}
        for t in timings:
            if t["stage"] == "train" and t["point_id"] in models:
                walls[f"train {models[t['point_id']]}"] = float(t["wall_s"])
        by_size[int(size)] = walls
    return list(by_size.items())


def summary(store: Store, run: Mapping[str, Any], ref_id: str | None) -> dict[str, Any]:
    """The comparison of zhvec's `run` (a `runs` row) with its baselines run, plus the projection when runs
    of its pipeline on two dump sizes are stored."""
    result = comparison(store, run["run_id"], ref_id)
    sizes = measured_sizes(store, run["pipeline"])
    if len(sizes) >= 2:
        result["projection"] = project(sizes, int(run["cores"] or 1))
    return result


def summary_for_run(store: Store, run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The bench summary of a run that a completed baselines run refers to (`config.reference_of`)."""
    for ref in store.reference_runs(run["dump_sha256"]):
        if ref["config"].get("reference_of") == run["run_id"]:
            return summary(store, run, ref["run_id"])
    return None


def bench_markdown(summary: dict[str, Any]) -> str:
    """The comparison as a Markdown table for the Prefect UI."""
    lines = ["| model | system | preprocess s | train s | words/s | mean score | speed-up (preprocess) |"]
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for model, row in summary["models"].items():
        for system, s in row["systems"].items():
            speed = row.get("speedup", {}).get("preprocess") if system == "zhvec" else ""
            lines.append(
                f"| {model} | {system} | {s['preprocess_s']} | {s['train_s']} | {s['train_words_per_s']:,} "
                f"| {s['mean_score']} | {speed or ''} |"
            )
    return "\n".join(lines)


def format_comparison(summary: dict[str, Any]) -> str:
    """The comparison as the plain-text table `zhvec bench` prints."""
    out = []
    for model, row in summary["models"].items():
        names, rows = model_table(row)
        out.append(f"model {model:<24}" + "".join(f"{n:>13}" for n in names) + "   zhvec speed-up")
        out += [
            f"  {label:<28}" + "".join(f"{c:>13}" for c in cells) + f"   {ratio}"
            for label, cells, ratio in rows
        ]
        out += [f"  {v}" for v in verdicts(row)]
    if "sweep" in summary:
        sw = summary["sweep"]
        out.append(
            f"sweep of {sw['points']} points: zhvec {sw['zhvec_s']:,.1f} s (preprocessing once), tutorial "
            f"{sw['tutorial_s']:,.1f} s (preprocessing every time): x{sw['speedup']}"
        )
    if "projection" in summary:
        pr = summary["projection"]
        cores, prows = projection_rows(pr)
        sizes = " and ".join(f"{b / 1e6:.1f}" for b in pr["measured_bz2_bytes"])
        out.append(
            f"projection to {pr['target_bz2_bytes'] / 1e9:.1f} GB of bz2, hours (from {sizes} MB dumps):"
        )
        out.append(f"  {'stage':<28}" + "".join(f"{c + ' cores':>13}" for c in cores))
        out += [f"  {stage:<28}" + "".join(f"{h:>13}" for h in hours) for stage, hours in prows]
    return "\n".join(out)
