"""The report's analysis sections: throughput, parameter effects, Pareto front, per-category heatmap,
learning curves, projections and neighbours of the best model, trend across runs, and reference rows.

Each function takes rows from the results database (or the vectors file a `points.vectors_dir` names) and
returns a chart or table rows; `tasks/report/render.py` puts them on the page. Text from the corpus or the
config reaches plotly only through `chart_text` (plotly renders pseudo-HTML), and plotly itself writes its
JSON with `<`, `>` and `/` as `\\u` escapes, so no word can close the page's script tag.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from tasks.report.projection import Matrix, pca, tsne
from tasks.results.store import Store, headline_column
from tasks.vectors.evaluate import Vectors, load_vectors
from tasks.vectors.query import similar
from tasks.vectors.train import VECTOR_FILES

Row = dict[str, Any]
ANALOGY_METHOD = "3cosadd"
TOP_WORDS = 300  # words in the projections: enough to see structure, few enough to read the labels
NEIGHBOURS = 10
# Rows the report reads from a model: the projections' words and the neighbours' candidates. A zhwiki model
# has ~1 M words; its rare words' vectors are noise as neighbours, and reading them all would make the
# report cost grow with the vocabulary (1.2 GB at 1 M × 300) for nothing it shows.
REPORT_WORDS = 100_000
_KV, _TXT, _BIN = VECTOR_FILES["kv"], VECTOR_FILES["txt"], VECTOR_FILES["bin"]
_PALETTE = qualitative.Plotly
_CHART_CONFIG = {"displaylogo": False, "responsive": True}


def chart_text(text: str) -> str:
    """Escape for plotly's pseudo-HTML text, which decodes &amp; &lt; &gt; (but not &quot;) for display."""
    return html.escape(text, quote=False)


def color(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def div(fig: go.Figure, height: int = 380) -> Markup:
    fig.update_layout(template="plotly_white", height=height, margin={"l": 60, "r": 20, "t": 40, "b": 60})
    return Markup(fig.to_html(full_html=False, include_plotlyjs=False, config=_CHART_CONFIG))


def mean_score(row: Row, headlines: Sequence[tuple[str, str]]) -> float | None:
    """Plain mean of a point's headline scores (accuracies and correlations alike): one number to rank by."""
    values = [row.get(headline_column(*h)) for h in headlines]
    scored = [v for v in values if v is not None and math.isfinite(v)]
    return sum(scored) / len(scored) if scored else None


def best_point(board: Sequence[Row], headlines: Sequence[tuple[str, str]]) -> Row | None:
    """The completed point with the highest mean headline score (first in sweep order on a tie)."""
    scored = [(mean_score(r, headlines), -i, r) for i, r in enumerate(board) if r["status"] == "completed"]
    valid = [(score, order, r) for score, order, r in scored if score is not None]
    return max(valid, key=lambda t: (t[0], t[1]))[2] if valid else None


# -- stage throughput -----------------------------------------------------------------------------


def throughput_chart(timings: Sequence[Row], names: dict[str, str]) -> Markup | None:
    """One panel per stage: items per wall second in the stage's own unit (articles, chars, tokens, words,
    questions), one bar per owner (the whole run or a point); hover adds MB/s of input."""
    rows = [t for t in timings if t["items_per_s"] is not None]
    if not rows:
        return None
    stages = list(dict.fromkeys(t["stage"] for t in rows))
    units = {t["stage"]: t["item_unit"] for t in rows}
    fig = make_subplots(
        rows=1, cols=len(stages), subplot_titles=[chart_text(f"{s}: {units[s]}/s") for s in stages]
    )
    for col, stage in enumerate(stages, start=1):
        own = [t for t in rows if t["stage"] == stage]
        fig.add_bar(
            x=[chart_text(owner_name(t["point_id"], names)) for t in own],
            y=[t["items_per_s"] for t in own],
            customdata=[t["mb_per_s"] or 0.0 for t in own],
            marker_color=["#9aa5b1" if t["cached"] else "#3e7cb1" for t in own],
            hovertemplate="%{x}: %{y:,.0f}/s, %{customdata:,.2f} MB/s in<extra></extra>",
            showlegend=False,
            row=1,
            col=col,
        )
    fig.update_xaxes(showticklabels=False)
    return div(fig, height=320)


def owner_name(point_id: str | None, names: dict[str, str]) -> str:
    """Who a timing belongs to: the whole run, or a point (by id if it has no `points` row yet)."""
    return "whole run" if point_id is None else names.get(point_id, point_id)


# -- parameter effects and the Pareto front -------------------------------------------------------


def swept_params(points: Sequence[Row]) -> list[str]:
    """Params whose value differs between points (the sweep's axes), in name order; `workers` only
    changes speed and is kept, since its effect on time is the point of sweeping it."""
    keys = sorted({k for p in points for k in p["params"]})
    return [k for k in keys if len({json.dumps(p["params"].get(k)) for p in points}) > 1]


def _value_order(encoded: str) -> tuple[int, float, str]:
    """Numbers in numeric order, then everything else by text, so an axis reads 3, 5, 10."""
    value = json.loads(encoded)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def effect_chart(
    points: Sequence[Row], board: Sequence[Row], headlines: Sequence[tuple[str, str]], names: dict[str, str]
) -> Markup | None:
    """Per swept param, every point's mean headline score (top) and train seconds (bottom) against the
    param's value: a param whose markers move together across values matters."""
    params = swept_params(points)
    if not params:
        return None
    by_id = {p["point_id"]: p for p in points}
    fig = make_subplots(
        rows=2, cols=len(params), shared_yaxes=True, subplot_titles=params, vertical_spacing=0.12
    )
    for i, row in enumerate(board):
        score, train_s = mean_score(row, headlines), row["train_s"]
        for col, key in enumerate(params, start=1):
            value = chart_text(str(by_id[row["point_id"]]["params"].get(key)))
            common = {
                "mode": "markers",
                "marker": {"size": 11, "color": color(i)},
                "name": chart_text(names[row["point_id"]]),
                "legendgroup": row["point_id"],
            }
            if score is not None:
                fig.add_scatter(
                    x=[value],
                    y=[score],
                    showlegend=col == 1,
                    hovertemplate="%{x}: mean score %{y:.3f}",
                    row=1,
                    col=col,
                    **common,
                )
            if train_s is not None:
                fig.add_scatter(
                    x=[value],
                    y=[train_s],
                    showlegend=False,
                    hovertemplate="%{x}: train %{y:,.1f} s",
                    row=2,
                    col=col,
                    **common,
                )
    for col, key in enumerate(params, start=1):
        values = sorted({json.dumps(p["params"].get(key)) for p in points}, key=_value_order)
        order = [chart_text(str(json.loads(v))) for v in values]
        for row_no in (1, 2):
            fig.update_xaxes(type="category", categoryorder="array", categoryarray=order, row=row_no, col=col)
    fig.update_yaxes(title_text="mean headline score", row=1, col=1)
    fig.update_yaxes(title_text="train wall s", row=2, col=1)
    return div(fig, height=560)


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both axes (cheaper or as cheap, and better), cheapest
    first: the settings worth choosing between."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -scores[i]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if scores[i] > best:
            front.append(i)
            best = scores[i]
    return front


def pareto_chart(
    board: Sequence[Row],
    headlines: Sequence[tuple[str, str]],
    names: dict[str, str],
    references: Sequence[Row] = (),
) -> Markup | None:
    """Train seconds against mean headline score with the Pareto front drawn through; reference points
    (baselines on the same dump) as open diamonds."""
    rows = [(r, mean_score(r, headlines)) for r in board]
    shown = [(r, s) for r, s in rows if r["train_s"] is not None and s is not None]
    if not shown:
        return None
    fig = go.Figure()
    front = pareto_front([r["train_s"] for r, _ in shown], [s for _, s in shown])
    fig.add_scatter(
        x=[shown[i][0]["train_s"] for i in front],
        y=[shown[i][1] for i in front],
        mode="lines",
        line={"color": "#9aa5b1", "dash": "dot", "shape": "hv"},
        name="Pareto front",
        hoverinfo="skip",
    )
    for i, (row, score) in enumerate(shown):
        fig.add_scatter(
            x=[row["train_s"]],
            y=[score],
            mode="markers",
            marker={
                "size": 14,
                "color": color(i),
                "line": {"width": 2, "color": "#1f2933"} if i in front else {},
            },
            name=chart_text(names[row["point_id"]]),
            hovertemplate="train %{x:,.1f} s, mean score %{y:.3f}",
        )
    for ref in references:
        ref_score = mean_score(ref, headlines)
        if ref["train_s"] is None or ref_score is None:
            continue
        fig.add_scatter(
            x=[ref["train_s"]],
            y=[ref_score],
            mode="markers",
            marker={"size": 14, "symbol": "diamond-open", "color": "#b42318", "line": {"width": 2}},
            name=chart_text(f"reference: {ref['pipeline']} {ref['label']}"),
            hovertemplate="reference: train %{x:,.1f} s, mean score %{y:.3f}",
        )
    fig.update_layout(xaxis_title="train wall seconds", yaxis_title="mean of headline scores")
    return div(fig)


# -- per-category heatmap and learning curves -----------------------------------------------------


def category_heatmap(metrics: Sequence[Row], names: dict[str, str]) -> Markup | None:
    """3CosAdd accuracy per analogy category (rows) and point (columns); hover adds coverage and counts.
    Across `rules` variants the highest value wins, as in `point_summary`."""
    cells: dict[tuple[str, str], dict[str, Row]] = {}
    for m in metrics:
        if m["method"] != ANALOGY_METHOD or m["category"] == "all":
            continue
        cell = cells.setdefault((m["eval_set"], m["category"]), {})
        if m["point_id"] not in cell or m["value"] > cell[m["point_id"]]["value"]:
            cell[m["point_id"]] = m
    if not cells:
        return None
    ids = list(names)
    keys = list(cells)
    z = [[cells[k][p]["value"] * 100 if p in cells[k] else None for p in ids] for k in keys]
    custom = [
        [
            [cells[k][p]["coverage"] * 100, cells[k][p]["seen"], cells[k][p]["total"]]
            if p in cells[k]
            else [0, 0, 0]
            for p in ids
        ]
        for k in keys
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[chart_text(names[p]) for p in ids],
            y=[chart_text(f"{s} / {c}") for s, c in keys],
            customdata=custom,
            colorscale="Viridis",
            colorbar={"title": {"text": "acc. %"}},
            hovertemplate="%{y} · %{x}: %{z:.1f} %<br>coverage %{customdata[0]:.1f} % "
            "(%{customdata[1]} of %{customdata[2]} questions)<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return div(fig, height=max(360, 22 * len(keys) + 120))


def learning_curves(epochs: Sequence[Row], names: dict[str, str]) -> Markup | None:
    """One panel per tracked metric (loss, quick eval, probe cosines), one line per point, over epochs."""
    metrics = list(dict.fromkeys(e["metric"] for e in epochs if e["metric"] != "seconds"))
    if not metrics:
        return None
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[chart_text(m) for m in metrics])
    owners = list(dict.fromkeys(e["point_id"] for e in epochs))
    for i, owner in enumerate(owners):
        for k, metric in enumerate(metrics):
            series = [
                (e["epoch"], e["value"]) for e in epochs if e["point_id"] == owner and e["metric"] == metric
            ]
            if not series:
                continue
            fig.add_scatter(
                x=[s[0] for s in series],
                y=[s[1] for s in series],
                mode="lines+markers",
                line={"color": color(i)},
                name=chart_text(names.get(owner, owner)),
                legendgroup=owner,
                showlegend=k == 0,
                hovertemplate=f"{chart_text(metric)} epoch %{{x}}: %{{y:.4f}}",
                row=k // cols + 1,
                col=k % cols + 1,
            )
    fig.update_xaxes(title_text="epoch", dtick=1)
    return div(fig, height=300 * rows + 80)


# -- the best model's space -----------------------------------------------------------------------


def _word_map(coords: Matrix, words: list[str]) -> go.Figure:
    """A labelled 2D scatter of words (first two columns of `coords`), coloured by frequency rank."""
    return go.Figure(
        go.Scatter(
            x=coords[:, 0],
            y=coords[:, 1],
            mode="markers+text",
            text=words,
            textposition="top center",
            marker={"size": 5, "color": np.arange(len(words)), "colorscale": "Viridis"},
            hovertemplate="%{text}<extra></extra>",
        )
    )


def projection_charts(vecs: Vectors, top_n: int = TOP_WORDS) -> dict[str, Markup]:
    """2D and 3D PCA and a 2D t-SNE of the model's `top_n` most frequent words (file order = frequency)."""
    n = min(top_n, len(vecs.words))
    if n < 3:
        return {}
    words = [chart_text(w) for w in vecs.words[:n]]
    matrix = np.asarray(vecs.matrix[:n], dtype=np.float64)
    coords, explained = pca(matrix, 3)
    axis = [f"PC{i + 1} ({explained[i] * 100:.1f} % of variance)" for i in range(coords.shape[1])]
    charts: dict[str, Markup] = {}
    fig = _word_map(coords, words)
    fig.update_layout(xaxis_title=axis[0], yaxis_title=axis[1])
    charts["pca2d"] = div(fig, height=620)
    if coords.shape[1] >= 3:
        fig = go.Figure(
            go.Scatter3d(
                x=coords[:, 0],
                y=coords[:, 1],
                z=coords[:, 2],
                mode="markers",  # 300 labels in 3D hide each other; hover names the word
                text=words,
                marker={"size": 3, "color": np.arange(n), "colorscale": "Viridis"},
                hovertemplate="%{text}<extra></extra>",
            )
        )
        fig.update_layout(scene={"xaxis_title": "PC1", "yaxis_title": "PC2", "zaxis_title": "PC3"})
        charts["pca3d"] = div(fig, height=620)
    fig = _word_map(tsne(matrix), words)
    fig.update_layout(xaxis={"showticklabels": False}, yaxis={"showticklabels": False})
    charts["tsne"] = div(fig, height=620)
    return charts


def probe_words(config: Row) -> list[str]:
    """The run's probe words (`sweep.probes` in its resolved config), each once, in order."""
    pairs = config.get("sweep", {}).get("probes", [])
    return list(dict.fromkeys(w for pair in pairs for w in pair))


def report_vectors(vectors_dir: str, limit: int = REPORT_WORDS) -> tuple[Path, Vectors] | None:
    """The first `limit` rows of a point's model and the file they come from; None without one. The
    word2vec binary (or text) the train stage writes beside `vectors.kv` is read only as far as those rows,
    where the `.kv` pickle would be read whole."""
    if not vectors_dir:
        return None
    for name in (_BIN, _TXT, _KV):
        path = Path(vectors_dir) / name
        if path.is_file():
            return path, load_vectors(path, limit)
    return None


def unknown_text(vecs: Vectors, vocab_size: int) -> str:
    """What the neighbours table says of a probe word not among the rows read."""
    if vocab_size > len(vecs.words):
        return f"not among the {len(vecs.words):,} most frequent words"
    return "not in the vocabulary"


def neighbour_rows(vecs: Vectors, words: Sequence[str], n: int = NEIGHBOURS) -> list[Row]:
    """Nearest neighbours by cosine of each probe word the model knows; unknown words are listed as such."""
    rows: list[Row] = []
    for word in words:
        if word not in vecs.index:
            rows.append({"word": word, "hits": []})
            continue
        rows.append({"word": word, "hits": [(h.word, f"{h.score:.3f}") for h in similar(vecs, word, n)]})
    return rows


# -- across runs ----------------------------------------------------------------------------------


def trend_chart(store: Store, pipeline: str, headlines: Sequence[tuple[str, str]]) -> Markup | None:
    """The best score per headline of every completed run of the pipeline, by run start, with the dump
    date in the hover: how scheduled runs over successive dumps move."""
    runs = store.pipeline_runs(pipeline)
    if not runs:
        return None
    best: dict[str, list[float | None]] = {headline_column(*h): [] for h in headlines}
    for run in runs:
        board = store.leaderboard(run["run_id"])
        for column, values in best.items():
            scored = [r[column] for r in board if r.get(column) is not None and math.isfinite(r[column])]
            values.append(max(scored) if scored else None)
    fig = go.Figure()
    dumps = [[r["run_id"], str(r["dump_date"]) if r["dump_date"] else "undated dump"] for r in runs]
    labels = [f"{r['started_at']:%Y-%m-%d %H:%M} · {d}" for r, (_, d) in zip(runs, dumps, strict=True)]
    for i, (column, values) in enumerate(best.items()):
        if all(v is None for v in values):
            continue
        fig.add_scatter(
            x=labels,
            y=values,
            customdata=dumps,
            mode="lines+markers",
            line={"color": color(i)},
            name=chart_text(column),
            hovertemplate="run %{customdata[0]} (dump %{customdata[1]}): %{y:.4f}",
        )
    fig.update_layout(xaxis_title="run started (UTC) · dump date", yaxis_title="best score of the run")
    fig.update_xaxes(type="category")
    return div(fig)


# -- references -----------------------------------------------------------------------------------


def reference_points(store: Store, dump_sha256: str) -> list[Row]:
    """`point_summary` rows of the newest completed reference run per pipeline over the same dump bytes,
    each tagged with its run's pipeline."""
    seen: set[str] = set()
    rows: list[Row] = []
    for run in store.reference_runs(dump_sha256):
        if run["pipeline"] in seen:
            continue
        seen.add(run["pipeline"])
        rows += [{**r, "pipeline": run["pipeline"]} for r in store.leaderboard(run["run_id"])]
    return rows


# -- the Prefect UI -------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Corpus text inside a markdown table cell: HTML-escaped, pipes escaped."""
    return html.escape(text, quote=False).replace("|", "\\|")


def summary_markdown(store: Store, run_id: str) -> str:
    """The run's best point for the Prefect UI: its scores, its full params and its probe neighbours."""
    run = store.run(run_id)
    board = store.leaderboard(run_id)
    headlines = store.headlines(run_id)
    best = best_point(board, headlines)
    lines = [f"# {_md(run['pipeline'])} · run {run_id}", ""]
    if best is None:
        return "\n".join([*lines, "No completed point with scores."])
    lines += [f"Best point (highest mean headline score): **{_md(best['label'])}** `{best['point_id']}`", ""]
    lines += ["| score | value | coverage |", "|---|---:|---:|"]
    for eval_set, method in headlines:
        column = headline_column(eval_set, method)
        if best.get(column) is not None:
            lines.append(f"| {_md(column)} | {best[column]:.4f} | {best[column + '_cov']:.1%} |")
    params = json.dumps(best["params"], indent=2, ensure_ascii=False, sort_keys=True)
    lines += ["", "Parameters:", "", "```json", params, "```"]
    vectors_dir = next(p["vectors_dir"] for p in store.points(run_id) if p["point_id"] == best["point_id"])
    words = probe_words(run["config"])
    model = report_vectors(vectors_dir) if words else None
    if model is not None:
        vecs = model[1]
        lines += ["", "Nearest neighbours (cosine):", "", "| word | neighbours |", "|---|---|"]
        for row in neighbour_rows(vecs, words):
            hits = ", ".join(f"{_md(w)} {score}" for w, score in row["hits"])
            lines.append(f"| {_md(row['word'])} | {hits or unknown_text(vecs, best['vocab_size'])} |")
    return "\n".join(lines)
