"""Self-contained HTML report of a run plus an index of all runs: one file each, readable offline from file://.

Everything comes from the results database; plotly.js is embedded once per run page, never fetched.
Corpus- and config-derived text is escaped by Jinja's autoescape in HTML and, for charts, HTML-escaped
before plotly sees it (plotly renders its text as pseudo-HTML and decodes the entities for display).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from tasks.bench import figures as bench_mod
from tasks.report import sections
from tasks.report.sections import chart_text as _chart_text
from tasks.report.sections import color as _color
from tasks.report.sections import div as _div
from tasks.report.sections import owner_name
from tasks.results.store import KILLED, SIMILARITY_HEADLINE, Store, headline_column, status_text
from tasks.synthetic import languages as synthetic
from tasks.vectors import subword
from tasks.vectors.train import KV_FILE

ANALOGY_METHODS = ("3cosadd", "3cosmul")
METHOD_NAMES = {"3cosadd": "3CosAdd", "3cosmul": "3CosMul", "spearman": "Spearman ρ"}
_TEMPLATES = Path(__file__).parent / "templates"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DASH = "—"

Row = dict[str, Any]


# -- formatting -----------------------------------------------------------------------------------


def fmt_num(x: float | None, digits: int = 1) -> str:
    return f"{x:,.{digits}f}" if x is not None and math.isfinite(x) else _DASH


def fmt_pct(x: float | None) -> str:
    """A fraction as a percentage, e.g. 0.246 -> `24.6 %`."""
    return f"{x * 100:.1f} %" if x is not None and math.isfinite(x) else _DASH


def fmt_score(method: str, value: float | None, coverage: float | None) -> str:
    """Accuracy as a percentage, correlations as is; coverage next to it because a score on 30 % of the
    questions is not comparable with one on 90 %."""
    if value is None:
        return _DASH
    shown = fmt_pct(value) if method in ANALOGY_METHODS else fmt_num(value, 3)
    return f"{shown} (cov {fmt_pct(coverage)})"


def fmt_time(ts: datetime | None) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC" if ts is not None else _DASH


def fmt_duration(started: datetime, finished: datetime | None) -> str:
    if finished is None:
        return "not finished"
    minutes, seconds = divmod(int((finished - started).total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {seconds:02d} s" if hours else f"{minutes} min {seconds:02d} s"


def run_page(pipeline: str, run_id: str) -> Path | None:
    """Where a run's page lives relative to the reports folder; None if a name can't be a folder name."""
    if not (_SAFE_NAME.fullmatch(pipeline) and _SAFE_NAME.fullmatch(run_id)):
        return None
    return Path(pipeline) / run_id / "index.html"


# -- shaping --------------------------------------------------------------------------------------


def point_names(points: Sequence[Row]) -> dict[str, str]:
    """Labels, made unique with the point id: `TrainParams.label` omits some knobs (min_count, sample)."""
    counts: dict[str, int] = {}
    for p in points:
        counts[p["label"]] = counts.get(p["label"], 0) + 1
    return {
        p["point_id"]: p["label"] if counts[p["label"]] == 1 else f"{p['label']} [{p['point_id'][:8]}]"
        for p in points
    }


def varying_params(points: Sequence[Row]) -> dict[str, str]:
    """Only the params that differ between points, since those are what the sweep is about."""
    keys = sorted({k for p in points for k in p["params"]})
    if len(points) > 1:
        keys = [k for k in keys if len({json.dumps(p["params"].get(k)) for p in points}) > 1]
    return {p["point_id"]: ", ".join(f"{k}={p['params'].get(k)}" for k in keys) for p in points}


def best_scores(metrics: Iterable[Row]) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(point_id, eval_set, method) -> (value, coverage) over category 'all'; across `rules` variants the
    highest value wins, as in the `point_summary` view."""
    best: dict[tuple[str, str, str], tuple[float, float]] = {}
    for m in metrics:
        key = (m["point_id"], m["eval_set"], m["method"])
        if m["category"] == "all" and (key not in best or m["value"] > best[key][0]):
            best[key] = (m["value"], m["coverage"])
    return best


def _sets(metrics: Iterable[Row], methods: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(m["eval_set"] for m in metrics if m["method"] in methods))


def used_headlines(board: Sequence[Row], headlines: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headlines some point has a score for: a run need not evaluate every default set."""
    return [h for h in headlines if any(r.get(headline_column(*h)) is not None for r in board)]


def summary_rows(run: Row, n_points: int) -> list[tuple[str, str]]:
    return [
        ("pipeline", run["pipeline"]),
        ("run id", run["run_id"]),
        ("status", status_text(run) + (f": {run['error']}" if run["error"] else "")),
        ("dump", run["dump"]),
        ("dump sha256", run["dump_sha256"]),
        ("dump date", str(run["dump_date"]) if run.get("dump_date") else _DASH),
        ("kind", run.get("kind") or "pipeline"),
        ("code version", run["code_version"]),
        ("host", run["host"]),
        ("cores", str(run["cores"]) if run["cores"] is not None else _DASH),
        ("started", fmt_time(run["started_at"])),
        ("finished", fmt_time(run["finished_at"])),
        ("last seen", fmt_time(run.get("last_seen"))),
        ("total wall", fmt_duration(run["started_at"], run["finished_at"])),
        ("sweep points", str(n_points)),
    ]


def timing_rows(timings: Sequence[Row], names: dict[str, str]) -> list[dict[str, str]]:
    return [
        {
            "stage": t["stage"],
            "point": owner_name(t["point_id"], names),
            "wall": fmt_num(t["wall_s"]),
            "cpu": fmt_num(t["cpu_s"]),
            "rss": fmt_num(t["peak_rss_bytes"] / 1e6, 0),
            "mb_in": fmt_num(t["bytes_in"] / 1e6),
            "mb_out": fmt_num(t["bytes_out"] / 1e6),
            "items": f"{t['items']:,} {t['item_unit']}",
            "items_per_s": fmt_num(t["items_per_s"], 0),
            "mb_per_s": fmt_num(t["mb_per_s"]),
            "cached": "yes" if t["cached"] else "no",
        }
        for t in timings
    ]


def sweep_rows(
    board: Sequence[Row], points: Sequence[Row], headlines: Sequence[tuple[str, str]], names: dict[str, str]
) -> list[dict[str, Any]]:
    params = varying_params(points)
    errors = {p["point_id"]: p["error"] for p in points}
    return [
        {
            "name": names[r["point_id"]],
            "params": params[r["point_id"]],
            "status": r["status"],
            "error": errors[r["point_id"]],
            "vocab": f"{r['vocab_size']:,}",
            "train_s": fmt_num(r["train_s"]),
            "words_per_s": fmt_num(r["words_per_s"], 0),
            "scores": [
                fmt_score(m, r.get(headline_column(s, m)), r.get(headline_column(s, m) + "_cov"))
                for s, m in headlines
            ],
            "sort": {
                "vocab": r["vocab_size"],
                "train_s": _sort_key(r["train_s"]),
                "words_per_s": _sort_key(r["words_per_s"]),
                "scores": [_sort_key(r.get(headline_column(s, m))) for s, m in headlines],
            },
        }
        for r in board
    ]


def _sort_key(x: float | None) -> str:
    """The value the sortable table sorts a cell by; empty (sorted last) when there is none."""
    return repr(float(x)) if x is not None and math.isfinite(x) else ""


def best_model_sections(run: Row, point: Row | None, vectors_dir: str) -> dict[str, Any]:
    """Projections and probe-word neighbours of the best point, read from the vectors its
    `points.vectors_dir` names; empty (with the reason) when there is no such file."""
    if point is None:
        return {
            "best": None,
            "missing": "no completed point with scores",
            "projections": {},
            "neighbours": [],
        }
    model = sections.report_vectors(vectors_dir)
    if model is None:
        return {
            "best": point,
            "missing": f"vectors file not found: {Path(vectors_dir) / KV_FILE}",
            "projections": {},
            "neighbours": [],
        }
    path, vecs = model
    return {
        "best": point,
        "missing": "",
        "vectors": str(path),
        "params_json": json.dumps(point["params"], indent=2, ensure_ascii=False, sort_keys=True),
        "projections": sections.projection_charts(vecs),
        "top_words": min(sections.TOP_WORDS, len(vecs.words)),
        "searched": len(vecs.words) if point["vocab_size"] > len(vecs.words) else None,
        "unknown": sections.unknown_text(vecs, point["vocab_size"]),
        "neighbours": sections.neighbour_rows(vecs, sections.probe_words(run["config"])),
    }


def reference_rows(refs: Sequence[Row], headlines: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Reference points (baselines on the same dump) as sweep-table-like rows."""
    return [
        {
            "pipeline": r["pipeline"],
            "run_id": r["run_id"],
            "name": r["label"],
            "params": ", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())),
            "train_s": fmt_num(r["train_s"]),
            "scores": [
                fmt_score(m, r.get(headline_column(s, m)), r.get(headline_column(s, m) + "_cov"))
                for s, m in headlines
            ],
        }
        for r in refs
    ]


def category_rows(metrics: Sequence[Row], point_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Analogy scores per (set, category, method, rules) as rows, one cell per point."""
    cells: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for m in metrics:
        if m["method"] in ANALOGY_METHODS:
            key = (m["eval_set"], m["category"], m["method"], m["rules"])
            cells.setdefault(key, {})[m["point_id"]] = fmt_score(m["method"], m["value"], m["coverage"])
    return [
        {
            "eval_set": s,
            "category": c,
            "method": METHOD_NAMES.get(meth, meth),
            "rules": rules,
            "cells": [row.get(p, _DASH) for p in point_ids],
        }
        for (s, c, meth, rules), row in cells.items()
    ]


# -- charts ---------------------------------------------------------------------------------------


def stage_chart(timings: Sequence[Row], names: dict[str, str]) -> Markup | None:
    """Wall seconds per stage, stacked by point so the sweep's share is visible."""
    if not timings:
        return None
    stages = list(dict.fromkeys(t["stage"] for t in timings))
    owners = list(dict.fromkeys(t["point_id"] for t in timings))
    fig = go.Figure()
    for i, owner in enumerate(owners):
        walls: dict[str, float] = {}
        for t in timings:
            if t["point_id"] == owner:
                walls[t["stage"]] = walls.get(t["stage"], 0.0) + t["wall_s"]
        fig.add_bar(
            x=[_chart_text(s) for s in stages],
            y=[walls.get(s) for s in stages],
            name=_chart_text(owner_name(owner, names)),
            marker_color="#9aa5b1" if owner is None else _color(i),
            hovertemplate="%{x}: %{y:,.1f} s",
        )
    fig.update_layout(barmode="stack", yaxis_title="wall seconds")
    return _div(fig)


def analogy_chart(metrics: Sequence[Row], names: dict[str, str]) -> Markup | None:
    """Accuracy per analogy set, one panel per method, one bar colour per point."""
    sets = _sets(metrics, ANALOGY_METHODS)
    methods = [m for m in ANALOGY_METHODS if any(r["method"] == m for r in metrics)]
    if not sets:
        return None
    best = best_scores(metrics)
    fig = make_subplots(
        rows=1, cols=len(methods), shared_yaxes=True, subplot_titles=[METHOD_NAMES[m] for m in methods]
    )
    for i, (point_id, name) in enumerate(names.items()):
        for col, method in enumerate(methods, start=1):
            scores = [best.get((point_id, s, method)) for s in sets]
            fig.add_bar(
                x=[_chart_text(s) for s in sets],
                y=[sc[0] * 100 if sc else None for sc in scores],
                customdata=[sc[1] * 100 if sc else None for sc in scores],
                name=_chart_text(name),
                legendgroup=point_id,
                showlegend=col == 1,
                marker_color=_color(i),
                hovertemplate="%{x}: %{y:.1f} % (cov %{customdata:.1f} %)",
                row=1,
                col=col,
            )
    fig.update_layout(barmode="group", yaxis_title="accuracy %")
    return _div(fig)


def similarity_chart(metrics: Sequence[Row], names: dict[str, str]) -> Markup | None:
    sets = _sets(metrics, (SIMILARITY_HEADLINE,))
    if not sets:
        return None
    best = best_scores(metrics)
    fig = go.Figure()
    for i, (point_id, name) in enumerate(names.items()):
        scores = [best.get((point_id, s, SIMILARITY_HEADLINE)) for s in sets]
        fig.add_bar(
            x=[_chart_text(s) for s in sets],
            y=[sc[0] if sc else None for sc in scores],
            customdata=[sc[1] * 100 if sc else None for sc in scores],
            name=_chart_text(name),
            marker_color=_color(i),
            hovertemplate="%{x}: %{y:.3f} (cov %{customdata:.1f} %)",
        )
    fig.update_layout(barmode="group", yaxis_title="Spearman ρ")
    return _div(fig)


# -- rendering ------------------------------------------------------------------------------------


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _write(path: Path, text: str) -> None:
    """Write then rename, so a browser refreshing the page never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _headline_titles(headlines: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{s} {METHOD_NAMES.get(m, m)}" for s, m in headlines]


def bench_view(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """`zhvec bench`'s comparison, laid out for the template (the same cells the CLI prints)."""
    if summary is None:
        return None
    models = []
    for model, row in summary["models"].items():
        names, rows = bench_mod.model_table(row)
        models.append({"model": model, "systems": names, "rows": rows, "verdicts": bench_mod.verdicts(row)})
    view: dict[str, Any] = {"models": models, "sweep": summary.get("sweep"), "projection": None}
    if "projection" in summary:
        pr = summary["projection"]
        cores, hours = bench_mod.projection_rows(pr)
        view["projection"] = {**pr, "cores": cores, "rows": hours}
    return view


def render_report(store: Store, run_id: str, out_dir: Path) -> Path:
    """Write `out_dir/<pipeline>/<run_id>/index.html`, refresh `out_dir/index.html`, return the run page."""
    run = store.run(run_id)
    rel = run_page(run["pipeline"], run_id)
    if rel is None:
        raise ValueError(f"pipeline name {run['pipeline']!r} can't name a report folder (use [A-Za-z0-9._-])")
    points = store.points(run_id)
    timings = store.timings(run_id)
    metrics = store.metrics(run_id)
    board = store.leaderboard(run_id)
    headlines = used_headlines(board, store.headlines(run_id))
    names = point_names(points)
    refs = sections.reference_points(store, run["dump_sha256"])
    best = sections.best_point(board, headlines)
    vectors_dir = {p["point_id"]: p["vectors_dir"] for p in points}.get(best["point_id"], "") if best else ""
    structure = synthetic.report_rows(metrics, names)
    structure_ids = {m["point_id"] for m in metrics if m["eval_set"].startswith(synthetic.EVAL_SET_PREFIX)}
    probes = synthetic.probe_figure(store.epoch_history(run_id), names, structure_ids)
    template = _environment().get_template("report.html.j2")
    page = template.render(
        bench=bench_view(bench_mod.summary_for_run(store, run)),
        synthetic_rows=structure,
        synthetic_chart=_div(probes) if probes is not None else None,
        subword_rows=subword.coverage_rows(metrics, names),
        run=run,
        summary=summary_rows(run, len(points)),
        config_json=json.dumps(run["config"], indent=2, ensure_ascii=False, sort_keys=True),
        timings=timing_rows(timings, names),
        stage_chart=stage_chart(timings, names),
        headline_titles=_headline_titles(headlines),
        sweep=sweep_rows(board, points, headlines, names),
        analogy_chart=analogy_chart(metrics, names),
        similarity_chart=similarity_chart(metrics, names),
        speed_chart=sections.pareto_chart(board, headlines, names, refs),
        throughput_chart=sections.throughput_chart(timings, names),
        effect_chart=sections.effect_chart(points, board, headlines, names),
        heatmap=sections.category_heatmap(metrics, names),
        curves=sections.learning_curves(store.epoch_history(run_id), names),
        trend_chart=sections.trend_chart(store, run["pipeline"], headlines),
        model=best_model_sections(run, best, vectors_dir),
        references=reference_rows(refs, headlines),
        artifacts=store.artifacts(run_id),
        artifact_owner=names,
        point_names=list(names.values()),
        categories=category_rows(metrics, list(names)),
        plotlyjs=Markup(get_plotlyjs()),
        generated=fmt_time(datetime.now(UTC)),
    )
    path = out_dir / rel
    _write(path, page)
    render_index(store, out_dir)
    return path


def _index_row(
    run: Row, board: Sequence[Row], out_dir: Path, headlines: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    rel = run_page(run["pipeline"], run["run_id"])
    cells = []
    for s, m in headlines:
        column = headline_column(s, m)
        scored = [r for r in board if r.get(column) is not None and math.isfinite(r[column])]
        top = max(scored, key=lambda r: r[column], default=None)
        cells.append(fmt_score(m, top[column], top[column + "_cov"]) if top else _DASH)
    return {
        "run_id": run["run_id"],
        "kind": run.get("kind") or "pipeline",
        "href": rel.as_posix() if rel is not None and (out_dir / rel).is_file() else None,
        "pipeline": run["pipeline"],
        "status": status_text(run),
        "killed": run["status"] == KILLED,
        "started": fmt_time(run["started_at"]),
        "duration": fmt_duration(run["started_at"], run["finished_at"]),
        "points": len(board),
        "best": cells,
    }


def render_index(store: Store, out_dir: Path) -> Path:
    """List every run, newest first, with its best headline scores; link those whose page exists."""
    runs = store.runs()
    boards = {r["run_id"]: store.leaderboard(r["run_id"]) for r in runs}
    headlines: list[tuple[str, str]] = []
    for run_id, board in boards.items():
        for h in used_headlines(board, store.headlines(run_id)):
            if h not in headlines:
                headlines.append(h)
    template = _environment().get_template("index.html.j2")
    page = template.render(
        runs=[_index_row(r, boards[r["run_id"]], out_dir, headlines) for r in runs],
        headline_titles=_headline_titles(headlines),
        generated=fmt_time(datetime.now(UTC)),
    )
    path = out_dir / "index.html"
    _write(path, page)
    return path
