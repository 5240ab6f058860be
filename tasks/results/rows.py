"""`zhvec results`: every point of a run as one flat row (params, outcome, training cost, headline scores),
read from the store, so sweep results are reachable without SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tasks.core.activity import Activity
from tasks.results.store import RUNNING, TRAIN_STAGE, Store, headline_column, status_text

SHOWN_PARAMS = ("model", "hs", "vector_size", "window", "negative", "sample", "epochs", "min_count")
# What `zhvec results --json` tells of the run itself: 'killed' with last_seen for a run whose process died;
# the stage, point and epoch a running run was at on its last heartbeat (or where it was interrupted).
RUN_FIELDS = (
    "pipeline",
    "status",
    "error",
    "host",
    "pid",
    "started_at",
    "finished_at",
    "last_seen",
    "stage",
    "point",
    "epoch",
)


def heartbeat_age(run: dict[str, Any]) -> float | None:
    """Seconds since a running run was last seen (its heartbeat comes every few seconds), else None."""
    if run["status"] != RUNNING or run.get("last_seen") is None:
        return None
    return round((datetime.now(UTC).replace(tzinfo=None) - run["last_seen"]).total_seconds(), 1)


def run_fields(run: dict[str, Any]) -> dict[str, Any]:
    """The run's own fields (a `Store.run` row) shown beside its points, with `heartbeat_s`."""
    return {**{k: run.get(k) for k in RUN_FIELDS}, "heartbeat_s": heartbeat_age(run)}


def run_state(run: dict[str, Any]) -> str:
    """The run's status as the text table's first line adds it: nothing for a completed run; for a running
    one, what it is doing and when it was last seen; else the status (a killed run's with when it was last
    seen) and its error."""
    if run["status"] == "completed":
        return ""
    age = heartbeat_age(run)
    if age is not None:
        doing = Activity(run.get("stage"), run.get("point"), run.get("epoch")).describe()
        return f"{status_text(run)}: {doing} (heartbeat {age:.0f} s ago)"
    return status_text(run) + (f": {run['error']}" if run["error"] else "")


def point_results(store: Store, run_id: str) -> list[dict[str, Any]]:
    """One row per point in sweep order: the leaderboard row plus the train stage's own measurements
    (CPU seconds, peak RSS, model bytes, whether it was reused), and the headline scores in the order the
    run's `evaluate.headlines` gives.

    `words_per_s` is the report's figure: trained words (corpus words x epochs) per wall second of the
    train stage (`train_s`). `gensim_words_per_s` and `effective_words_per_s` (the words left after
    down-sampling) count per second of gensim's training alone: no per-epoch tracking
    or saving."""
    train = {t["point_id"]: t for t in store.timings(run_id) if t["stage"] == TRAIN_STAGE}
    columns = [headline_column(*h) for h in store.headlines(run_id)]
    rows = []
    for row in store.leaderboard(run_id):
        timing = train.get(row["point_id"])
        extra = timing["extra"] if timing else {}
        rows.append(
            {
                "point_id": row["point_id"],
                "label": row["label"],
                "status": row["status"],
                "params": row["params"],
                "train_s": timing["wall_s"] if timing else None,
                "cpu_s": timing["cpu_s"] if timing else None,
                "peak_rss_bytes": timing["peak_rss_bytes"] if timing else None,
                "cached": timing["cached"] if timing else None,
                "words_per_s": row["words_per_s"],
                "gensim_words_per_s": extra.get("words_per_s"),
                "effective_words_per_s": extra.get("effective_words_per_s"),
                "vocab_size": row["vocab_size"],
                "model_bytes": extra.get("model_bytes"),
                "metrics": {c: row[c] for c in columns if row.get(c) is not None},
            }
        )
    return rows


def format_results(run_id: str, rows: list[dict[str, Any]], state: str = "") -> str:
    """A plain-text table: the swept params, status, cost and each headline score (— where absent), in
    the rows' order, under a line naming the run and, unless it completed, its `run_state`."""
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    params = [p for p in SHOWN_PARAMS if len({str(r["params"].get(p)) for r in rows}) > 1] or ["model"]
    shown = [tuple(str(r["params"].get(p)) for p in params) for r in rows]
    labelled = len(set(shown)) < len(shown)  # same params, other corpora (a synthetic run's languages)
    head = [*(["point"] if labelled else []), *params, "status", "train_s", "words/s", *metrics]
    table = [head]
    for r, cells_of_params in zip(rows, shown, strict=True):
        cells = [*([r["label"]] if labelled else []), *cells_of_params]
        cells += [r["status"], _fmt(r["train_s"], ".1f"), _fmt(r["words_per_s"], ",.0f")]
        cells += [_fmt(r["metrics"].get(m), ".4f") for m in metrics]
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [f"run {run_id}: {len(rows)} points" + (f"; {state}" if state else "")]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines)


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)
