"""The results database (DuckDB): one file holding every run, so runs can be compared with plain SQL.

Only the recorder (flows/record.py) opens it for writing; everything else opens it read-only. DuckDB lets
one process open a file for writing, or any number for reading, so neither side holds it for long: the
recorder opens it for each write (a short transaction) and readers for one command, and a side that finds it
taken retries for a bounded time (`wait_s` of `Store`) before giving up with `DatabaseBusy`. Tables:

`runs` — one row per flow run.
    run_id VARCHAR PK (`YYYYmmdd-HHMMSS-<6 hex>`, UTC), pipeline, dump (path), dump_sha256, code_version,
    host, cores (os.cpu_count, NULL if unknown), status ('running', then whatever `finish_run` sets, or
    'killed'),
    error ('' when none), started_at TIMESTAMP (UTC), finished_at TIMESTAMP (UTC, NULL while running),
    config JSON (the fully resolved pipeline config), dump_date DATE (from a `zhwiki-YYYYMMDD-…` dump
    file name, NULL for `latest` or other names), kind ('pipeline', or 'reference' for a baseline recorded
    to compare against, e.g. the naive tutorial pipeline), flow_run_id (the Prefect flow run, NULL outside
    one), pid (of the process writing the run), last_seen TIMESTAMP (UTC, that process's latest write or
    heartbeat; pid and last_seen are NULL in runs recorded before they were kept), stage, point (label),
    epoch: the work in hand at the last heartbeat (tasks/core/activity.py), or when the run was interrupted.
    Statuses: 'running', 'completed', 'failed' (error holds why), 'interrupted' (stopped by SIGINT or
    SIGTERM; error says during what). A run whose process died without finishing it (SIGKILL, power loss)
    is read as status 'killed' (see `observed`), and the next run's recorder writes that status down
    (`mark_killed`).
`points` — one row per trained sweep point; PK (run_id, point_id).
    run_id, point_id, label, params JSON (TrainParams), status, vocab_size, train_words, vectors_dir, error,
    seq (insertion order, kept when a point is re-recorded, so sweep order survives re-runs).
`stage_timings` — what each stage cost; per-point stages (train, evaluate) carry point_id, others NULL
    (vocab: one row per corpus and min_count, shared by the points that train with it).
    seq (insertion order), run_id, stage, point_id, wall_s, cpu_s, peak_rss_bytes, bytes_in, bytes_out,
    items, item_unit, cached BOOLEAN (work was reused; the cost shown is from when it was done), extra JSON.
`metrics` — one row per score; PK (run_id, point_id, eval_set, category, method, rules).
    run_id, point_id, eval_set, category ('all' = whole file), method ('3cosadd', '3cosmul', 'spearman'),
    rules, value (accuracy as a fraction, or the correlation), seen, total, correct (NULL for similarity),
    coverage (seen / total). fastText points add the same rows with method '<method>+subword': unseen words
    answered from their character n-grams, coverage counted with those vectors (tasks/vectors/subword.py).
    Synthetic languages: eval_set 'synthetic-<language>', rules 'alphabet', method 'spearman-alphabet'
    (ρ of cosine distance vs alphabet distance over word pairs) and 'neighbour-alphabet' (share of words
    whose nearest neighbour is an alphabet neighbour) (tasks/synthetic/languages.py).
`epoch_history` — per-epoch tracking of a point, long format: run_id, point_id, epoch (1-based), metric
    ('loss' = that epoch's share of gensim's loss, 'seconds' = its training time, 'tracking_share' = the
    seconds its tracking took per training second, '<set>_3cosadd', '<set>_spearman',
    'probe:<w1>|<w2>' = cosine), value.
`artifacts` — files a run produced, with their identity: run_id, point_id (NULL for run-level files such
    as the report), path, kind ('vectors-kv', 'vectors-bin', 'vectors-txt' (only with `sweep.formats`),
    'report'), sha256, bytes.
Views:
`params` — the resolved config per point, long format: run_id, point_id, name, value JSON.
`stage_throughput` — stage_timings plus items_per_s and mb_per_s (bytes_in in 10^6 bytes per wall second).
`point_summary` — one row per point with train_s (wall of its `train` stage), words_per_s
    (the words that stage trained / train_s: corpus words × the epochs it ran, fewer for a point resumed
    from a checkpoint) and the headline scores of the default `evaluate.headlines` as columns
    `<set>_<method>` and `<set>_<method>_cov`, taken from category 'all' (3cosadd for analogy sets,
    spearman for similarity sets). Should a set/method be recorded under several `rules`, the highest
    value wins and its coverage comes from the same row.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import psutil

from tasks.config import EvalSets
from tasks.core.errors import InputError
from tasks.core.records import ArtifactRecord, EpochRow, Metric, PointResult, StageTiming

TRAIN_STAGE = "train"
ANALOGY_HEADLINE = "3cosadd"
SIMILARITY_HEADLINE = "spearman"


def configured_headlines(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(eval_set, method) of each headline a run's resolved config names (`evaluate.headlines`), with the
    method its kind of set is ranked by; what a config recorded before that key existed lacks is taken
    from the model's defaults. A name that is not one of the run's sets has no score and is left out."""
    defaults = EvalSets()
    evaluate = config.get("evaluate") or {}
    analogy = evaluate.get("analogy", defaults.analogy)
    similarity = evaluate.get("similarity", defaults.similarity)
    return [
        (name, ANALOGY_HEADLINE if name in analogy else SIMILARITY_HEADLINE)
        for name in evaluate.get("headlines", defaults.headlines)
        if name in analogy or name in similarity
    ]


# The headline columns of the `point_summary` view: those of the default `evaluate.headlines`.
DEFAULT_HEADLINES: tuple[tuple[str, str], ...] = tuple(configured_headlines({}))
_JSON_COLUMNS = ("config", "params", "extra")
TABLES = ("runs", "points", "stage_timings", "metrics", "epoch_history", "artifacts")
VIEWS = ("params", "stage_throughput", "point_summary")
REFERENCE_KIND = "reference"
RUNNING = "running"
KILLED = "killed"
INTERRUPTED = "interrupted"
# How long a reader (a CLI command, the report) and the recorder wait for the file before giving up.
READ_WAIT_S = 30.0
WRITE_WAIT_S = 120.0
_START_SLACK_S = 2.0
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in .* \(PID (\d+)\)")


_TABLES = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    pipeline VARCHAR NOT NULL,
    dump VARCHAR NOT NULL,
    dump_sha256 VARCHAR NOT NULL,
    code_version VARCHAR NOT NULL,
    host VARCHAR NOT NULL,
    cores INTEGER,
    status VARCHAR NOT NULL,
    error VARCHAR NOT NULL DEFAULT '',
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    config JSON NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS points_seq;
CREATE TABLE IF NOT EXISTS points (
    run_id VARCHAR NOT NULL,
    point_id VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    params JSON NOT NULL,
    status VARCHAR NOT NULL,
    vocab_size BIGINT NOT NULL,
    train_words BIGINT NOT NULL,
    vectors_dir VARCHAR NOT NULL,
    error VARCHAR NOT NULL,
    seq BIGINT NOT NULL DEFAULT nextval('points_seq'),
    PRIMARY KEY (run_id, point_id)
);
CREATE SEQUENCE IF NOT EXISTS stage_timings_seq;
CREATE TABLE IF NOT EXISTS stage_timings (
    seq BIGINT NOT NULL DEFAULT nextval('stage_timings_seq'),
    run_id VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    point_id VARCHAR,
    wall_s DOUBLE NOT NULL,
    cpu_s DOUBLE NOT NULL,
    peak_rss_bytes BIGINT NOT NULL,
    bytes_in BIGINT NOT NULL,
    bytes_out BIGINT NOT NULL,
    items BIGINT NOT NULL,
    item_unit VARCHAR NOT NULL,
    cached BOOLEAN NOT NULL,
    extra JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id VARCHAR NOT NULL,
    point_id VARCHAR NOT NULL,
    eval_set VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    rules VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    seen BIGINT NOT NULL,
    total BIGINT NOT NULL,
    correct BIGINT,
    coverage DOUBLE NOT NULL,
    PRIMARY KEY (run_id, point_id, eval_set, category, method, rules)
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS dump_date DATE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS kind VARCHAR DEFAULT 'pipeline';
ALTER TABLE runs ADD COLUMN IF NOT EXISTS flow_run_id VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS pid BIGINT;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS last_seen TIMESTAMP;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS stage VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS point VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS epoch INTEGER;
CREATE TABLE IF NOT EXISTS artifacts (
    run_id VARCHAR NOT NULL,
    point_id VARCHAR,
    path VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE OR REPLACE VIEW params AS
SELECT run_id, point_id, k.name, json_extract(params, '$."' || k.name || '"') AS value
FROM points, unnest(json_keys(points.params)) AS k(name);
CREATE TABLE IF NOT EXISTS epoch_history (
    run_id VARCHAR NOT NULL,
    point_id VARCHAR NOT NULL,
    epoch INTEGER NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE NOT NULL
);
CREATE OR REPLACE VIEW stage_throughput AS
SELECT *,
    items / nullif(wall_s, 0) AS items_per_s,
    bytes_in / 1e6 / nullif(wall_s, 0) AS mb_per_s
FROM stage_timings;
"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def headline_column(eval_set: str, method: str) -> str:
    """Column name of a headline score; its coverage is the same name plus `_cov`."""
    return f"{eval_set}_{method}"


def _pivot_sql(headlines: Sequence[tuple[str, str]]) -> str:
    """Conditional aggregation turning category-'all' metric rows into one column pair per headline."""
    columns = []
    for eval_set, method in headlines:
        where = f"FILTER (WHERE eval_set = {_literal(eval_set)} AND method = {_literal(method)})"
        name = headline_column(eval_set, method)
        columns.append(f"max(value) {where} AS {_identifier(name)}")
        columns.append(f"arg_max(coverage, value) {where} AS {_identifier(name + '_cov')}")
    return (
        f"SELECT run_id, point_id, {', '.join(columns)} "
        "FROM metrics WHERE category = 'all' GROUP BY run_id, point_id"
    )


_POINT_SUMMARY = f"""
CREATE OR REPLACE VIEW point_summary AS
SELECT p.run_id, p.point_id, p.label, p.params, p.status, p.vocab_size, p.train_words,
    t.train_s, t.train_items / nullif(t.train_s, 0) AS words_per_s,
    m.* EXCLUDE (run_id, point_id),
    p.seq
FROM points p
LEFT JOIN (
    SELECT run_id, point_id, sum(wall_s) AS train_s, sum(items) AS train_items
    FROM stage_timings WHERE stage = {_literal(TRAIN_STAGE)} GROUP BY run_id, point_id
) t ON t.run_id = p.run_id AND t.point_id = p.point_id
LEFT JOIN ({_pivot_sql(DEFAULT_HEADLINES)}) m ON m.run_id = p.run_id AND m.point_id = p.point_id;
"""


def _utcnow() -> datetime:
    """Naive UTC, since the columns are plain TIMESTAMP."""
    return datetime.now(UTC).replace(tzinfo=None)


def _touch_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Note that the run's process was seen writing, in the write's own transaction. No foreign keys
    (DuckDB refuses updates to referenced rows), so orphans are refused here."""
    seen = con.execute(
        "UPDATE runs SET last_seen = ? WHERE run_id = ? RETURNING run_id", [_utcnow(), run_id]
    ).fetchone()
    if seen is None:
        raise KeyError(f"unknown run_id {run_id!r}")


def process_alive(pid: int, since: datetime) -> bool:
    """Whether process `pid` on this host can be the one that started a run at `since` (naive UTC): it
    exists, is no zombie, and started before the run did. A process that started later was given the pid
    of a dead one. psutil counts a process's start from the boot time, which the kernel gives in whole
    seconds, hence the slack."""
    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except psutil.NoSuchProcess:  # ZombieProcess is one too
        return False
    except psutil.AccessDenied:  # another user's process with that pid: it exists, its age is unknown
        return True
    return created <= since.replace(tzinfo=UTC).timestamp() + _START_SLACK_S


def observed(run: dict[str, Any]) -> dict[str, Any]:
    """A `runs` row as it stands now: a 'running' run of this host whose process is gone is 'killed'.

    A 'running' row with no pid was recorded by a zhvec from before pids were kept, whose runs held the
    database's one write connection to their end: it is dead, or the database could not have been opened.
    A run recorded on another host stays 'running': whether its process lives can't be told from here (and a
    file lock need not hold across hosts), so it is shown as running on that host (`status_text`)."""
    run.setdefault("pid", None)
    run.setdefault("last_seen", None)
    if run["status"] != RUNNING or run["host"] != socket.gethostname():
        return run
    if run["pid"] is not None and process_alive(run["pid"], run["started_at"]):
        return run
    return {**run, "status": KILLED, "error": run["error"] or _killed_error(run["pid"])}


def _killed_error(pid: int | None) -> str:
    process = "its process" if pid is None else f"its process (pid {pid})"
    return f"{process} ended without finishing the run"


def status_text(run: dict[str, Any]) -> str:
    """An `observed` run's status as shown to a person: a killed run with when it was last seen, a run
    of another host with that host."""
    if run["status"] == KILLED:
        seen = run.get("last_seen")
        return f"killed (last seen {seen:%Y-%m-%d %H:%M:%S} UTC)" if seen else "killed (last seen unknown)"
    if run["status"] == RUNNING and run["host"] != socket.gethostname():
        return f"running (on {run['host']})"
    return str(run["status"])


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class DatabaseBusy(InputError):
    """Another process has the results database open in a way that excludes this one (DuckDB allows one
    writer, or any number of readers)."""


def _connect(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying for up to `wait_s` while another process has it open the other way (a run's
    short write, or a reader's command)."""
    deadline = time.monotonic() + wait_s
    pause = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            holder = _LOCK_HOLDER.search(str(exc))
            if holder is None:
                raise
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"{path}: in use by process {holder.group(1)} for {wait_s:g} s without a pause; "
                    "retry in a moment"
                ) from None
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


class Store:
    """A connection to the results database; use as a context manager so it is always closed, and soon:
    while it is open, processes that want the file the other way wait (see the module docstring)."""

    def __init__(self, path: Path, read_only: bool = False, wait_s: float = READ_WAIT_S) -> None:
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._con = _connect(path, read_only, wait_s)
        if not read_only:
            with self._transaction() as con:
                con.execute(_TABLES)
                con.execute(_POINT_SUMMARY)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: a failed write must not leave half a point behind."""
        self._con.begin()
        try:
            yield self._con
        except BaseException:
            self._con.rollback()
            raise
        self._con.commit()

    def _dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._con.execute(sql, list(params))
        names = [d[0] for d in cursor.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for column in _JSON_COLUMNS:
                if isinstance(row.get(column), str):
                    row[column] = json.loads(row[column])
        return rows

    # -- write side -------------------------------------------------------------------------------

    def start_run(
        self,
        pipeline: str,
        config: dict[str, Any],
        dump: str,
        dump_sha256: str,
        code_version: str,
        kind: str = "pipeline",
        flow_run_id: str | None = None,
        dump_date: date | None = None,
    ) -> str:
        """Record a new run as 'running' and return its id; `kind='reference'` marks a baseline, `dump_date`
        is the date in the dump's name (tasks/dump/plan.py)."""
        started = _utcnow()
        run_id = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        with self._transaction() as con:
            con.execute(
                "INSERT INTO runs (run_id, pipeline, dump, dump_sha256, code_version, host, cores, status, "
                "started_at, config, dump_date, kind, flow_run_id, pid, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    pipeline,
                    dump,
                    dump_sha256,
                    code_version,
                    socket.gethostname(),
                    os.cpu_count(),
                    RUNNING,
                    started,
                    _json(config),
                    dump_date,
                    kind,
                    flow_run_id,
                    os.getpid(),
                    started,
                ],
            )
        return run_id

    def add_artifacts(self, run_id: str, artifacts: Sequence[ArtifactRecord]) -> None:
        """Record files a run produced; a path already recorded for this run is replaced."""
        with self._transaction() as con:
            _touch_run(con, run_id)
            for a in artifacts:
                con.execute("DELETE FROM artifacts WHERE run_id = ? AND path = ?", [run_id, a.path])
                con.execute(
                    "INSERT INTO artifacts (run_id, point_id, path, kind, sha256, bytes) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, a.point_id, a.path, a.kind, a.sha256, a.bytes],
                )

    def add_timings(self, run_id: str, timings: Sequence[StageTiming]) -> None:
        """Record stage costs; a (stage, point_id) already recorded for this run is replaced."""
        with self._transaction() as con:
            _touch_run(con, run_id)
            for t in timings:
                con.execute(
                    "DELETE FROM stage_timings "
                    "WHERE run_id = ? AND stage = ? AND point_id IS NOT DISTINCT FROM ?",
                    [run_id, t.stage, t.point_id],
                )
                con.execute(
                    "INSERT INTO stage_timings (run_id, stage, point_id, wall_s, cpu_s, peak_rss_bytes, "
                    "bytes_in, bytes_out, items, item_unit, cached, extra) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        t.stage,
                        t.point_id,
                        t.wall_s,
                        t.cpu_s,
                        t.peak_rss_bytes,
                        t.bytes_in,
                        t.bytes_out,
                        t.items,
                        t.item_unit,
                        t.cached,
                        _json(t.extra),
                    ],
                )

    def add_point(self, run_id: str, point: PointResult) -> None:
        """Record a sweep point; recording it again (a re-run) replaces it but keeps its place in order."""
        with self._transaction() as con:
            _touch_run(con, run_id)
            con.execute(
                "INSERT INTO points (run_id, point_id, label, params, status, vocab_size, train_words, "
                "vectors_dir, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, point_id) DO UPDATE SET label = excluded.label, "
                "params = excluded.params, status = excluded.status, vocab_size = excluded.vocab_size, "
                "train_words = excluded.train_words, vectors_dir = excluded.vectors_dir, "
                "error = excluded.error",
                [
                    run_id,
                    point.point_id,
                    point.label,
                    _json(point.params),
                    point.status,
                    point.vocab_size,
                    point.train_words,
                    point.vectors_dir,
                    point.error,
                ],
            )

    def add_metrics(self, run_id: str, point_id: str, metrics: Sequence[Metric]) -> None:
        """Record a point's full evaluation, replacing any earlier one so no stale score survives."""
        with self._transaction() as con:
            _touch_run(con, run_id)
            con.execute("DELETE FROM metrics WHERE run_id = ? AND point_id = ?", [run_id, point_id])
            for m in metrics:
                con.execute(
                    "INSERT INTO metrics (run_id, point_id, eval_set, category, method, rules, value, seen, "
                    "total, correct, coverage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        point_id,
                        m.eval_set,
                        m.category,
                        m.method,
                        m.rules,
                        m.value,
                        m.seen,
                        m.total,
                        m.correct,
                        m.coverage,
                    ],
                )

    def add_epochs(self, run_id: str, point_id: str, rows: Sequence[EpochRow]) -> None:
        """Record a point's per-epoch rows, replacing any earlier ones."""
        with self._transaction() as con:
            _touch_run(con, run_id)
            con.execute("DELETE FROM epoch_history WHERE run_id = ? AND point_id = ?", [run_id, point_id])
            if not rows:
                return
            con.executemany(
                "INSERT INTO epoch_history (run_id, point_id, epoch, metric, value) VALUES (?, ?, ?, ?, ?)",
                [[run_id, point_id, r.epoch, r.metric, r.value] for r in rows],
            )

    def heartbeat(self, run_id: str, stage: str | None, point: str | None, epoch: int | None) -> None:
        """The run is alive, working on `stage` (of `point`, in `epoch`)."""
        with self._transaction() as con:
            _touch_run(con, run_id)
            con.execute(
                "UPDATE runs SET stage = ?, point = ?, epoch = ? WHERE run_id = ?",
                [stage, point, epoch, run_id],
            )

    def finish_run(self, run_id: str, status: str, error: str = "") -> None:
        with self._transaction() as con:
            _touch_run(con, run_id)
            con.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE run_id = ?",
                [status, error, _utcnow(), run_id],
            )

    def mark_killed(self) -> list[str]:
        """Write down as 'killed' every run that `observed` finds dead (their finished_at stays NULL: when
        they stopped is known only as last_seen); returns their ids."""
        with self._transaction() as con:
            running = self._dicts("SELECT * FROM runs WHERE status = ?", [RUNNING])
            dead = [run for run in map(observed, running) if run["status"] == KILLED]
            for run in dead:
                con.execute(
                    "UPDATE runs SET status = ?, error = ? WHERE run_id = ?",
                    [KILLED, run["error"], run["run_id"]],
                )
        return [run["run_id"] for run in dead]

    # -- read side --------------------------------------------------------------------------------

    def _runs(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """`runs` rows as they stand now (`observed`): the status read-only readers show too."""
        return [observed(run) for run in self._dicts(sql, params)]

    def runs(self) -> list[dict[str, Any]]:
        """Every run, newest first."""
        return self._runs("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC")

    def run(self, run_id: str) -> dict[str, Any]:
        """One run's row; an unknown id is a KeyError."""
        rows = self._runs("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if not rows:
            raise KeyError(f"unknown run_id {run_id!r}")
        return rows[0]

    def latest_run(self, pipeline: str | None = None) -> str | None:
        """The newest run id, of `pipeline` if given, whatever its status."""
        row = self._con.execute(
            "SELECT run_id FROM runs WHERE ? IS NULL OR pipeline = ? "
            "ORDER BY started_at DESC, run_id DESC LIMIT 1",
            [pipeline, pipeline],
        ).fetchone()
        return None if row is None else str(row[0])

    def points(self, run_id: str) -> list[dict[str, Any]]:
        return self._dicts("SELECT * EXCLUDE (seq) FROM points WHERE run_id = ? ORDER BY seq", [run_id])

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT * EXCLUDE (run_id) FROM artifacts WHERE run_id = ? ORDER BY point_id NULLS FIRST, path",
            [run_id],
        )

    def reference_runs(self, dump_sha256: str) -> list[dict[str, Any]]:
        """Completed reference runs over the same dump bytes, newest first: the baselines a run is shown
        against (a baseline on another dump would not be comparable)."""
        return self._runs(
            "SELECT * FROM runs WHERE kind = ? AND dump_sha256 = ? AND status = 'completed' "
            "ORDER BY started_at DESC, run_id DESC",
            [REFERENCE_KIND, dump_sha256],
        )

    def pipeline_runs(self, pipeline: str) -> list[dict[str, Any]]:
        """Completed non-reference runs of a pipeline, oldest first: the trend over successive dumps."""
        return self._runs(
            "SELECT * FROM runs WHERE pipeline = ? AND kind <> ? AND status = 'completed' "
            "ORDER BY started_at, run_id",
            [pipeline, REFERENCE_KIND],
        )

    def export_parquet(self, out_dir: Path) -> list[Path]:
        """Write every table and view as `<name>.parquet` (DuckDB's COPY), for tools that don't read
        DuckDB files; returns the files written."""
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in (*TABLES, *VIEWS):
            path = out_dir / f"{name}.parquet"
            self._con.execute(
                f"COPY (SELECT * FROM {_identifier(name)}) TO {_literal(str(path))} (FORMAT parquet)"
            )
            written.append(path)
        return written

    def epoch_history(self, run_id: str) -> list[dict[str, Any]]:
        """Per-epoch rows of a run (point_id, epoch, metric, value), in sweep order then epoch."""
        return self._dicts(
            "SELECT e.point_id, e.epoch, e.metric, e.value FROM epoch_history e "
            "LEFT JOIN points p USING (run_id, point_id) WHERE e.run_id = ? "
            "ORDER BY p.seq NULLS LAST, e.point_id, e.epoch, e.metric",
            [run_id],
        )

    def timings(self, run_id: str) -> list[dict[str, Any]]:
        """Stage costs in the order they were recorded, with throughput from `stage_throughput`."""
        return self._dicts(
            "SELECT * EXCLUDE (seq) FROM stage_throughput WHERE run_id = ? ORDER BY seq", [run_id]
        )

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT m.* FROM metrics m LEFT JOIN points p USING (run_id, point_id) WHERE m.run_id = ? "
            "ORDER BY p.seq NULLS LAST, m.point_id, m.eval_set, m.category <> 'all', m.category, "
            "m.method, m.rules",
            [run_id],
        )

    def headlines(self, run_id: str) -> list[tuple[str, str]]:
        """(eval_set, method) of every headline score: those the run's config names, then any other set
        the run scored."""
        found = self._con.execute("SELECT config FROM runs WHERE run_id = ?", [run_id]).fetchone()
        configured = configured_headlines(json.loads(found[0]) if found else {})
        rows = self._con.execute(
            "SELECT DISTINCT eval_set, method FROM metrics WHERE run_id = ? AND category = 'all' "
            "AND method IN (?, ?) ORDER BY method <> ?, eval_set",
            [run_id, ANALOGY_HEADLINE, SIMILARITY_HEADLINE, ANALOGY_HEADLINE],
        ).fetchall()
        extra = [(str(s), str(m)) for s, m in rows if (s, m) not in configured]
        return [*configured, *extra]

    def leaderboard(self, run_id: str) -> list[dict[str, Any]]:
        """`point_summary` rows of a run, widened with the columns of headlines the view does not have."""
        extra = [h for h in self.headlines(run_id) if h not in DEFAULT_HEADLINES]
        if not extra:
            return self._dicts(
                "SELECT * EXCLUDE (seq) FROM point_summary WHERE run_id = ? ORDER BY seq", [run_id]
            )
        return self._dicts(
            f"SELECT s.* EXCLUDE (seq), x.* EXCLUDE (run_id, point_id) FROM point_summary s "
            f"LEFT JOIN ({_pivot_sql(extra)}) x ON x.run_id = s.run_id AND x.point_id = s.point_id "
            "WHERE s.run_id = ? ORDER BY s.seq",
            [run_id],
        )
