"""A run whose process died (SIGKILL, power loss) is shown as `killed` with when it was last seen, by every
reader of the results database, and the next run's recorder writes that status down."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psutil
import pytest

from flows.cli import main
from flows.record import recording
from tasks.core.records import StageTiming
from tasks.results.store import Store, process_alive, status_text
from tests.configs import EVAL_DIR, OUTPUTS, TINY_DUMP, TWO_EVAL_SETS

REPO = Path(__file__).resolve().parents[1]

CONFIG = (
    OUTPUTS
    + """
default: tiny
pipelines:
  tiny:
    dump: {dump}
    sweep:
      base: {{model: cbow, vector_size: 16, min_count: 2, epochs: 3, workers: 1}}
      track_epochs: false
    evaluate:
"""
    + TWO_EVAL_SETS
)


def _utcnow() -> datetime:
    """Naive UTC, as the store's TIMESTAMP columns hold it."""
    return datetime.now(UTC).replace(tzinfo=None)


def _dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _set(db: Path, run_id: str, **columns: object) -> None:
    """Change a run's row behind the store's back, as another process or an older zhvec left it."""
    with duckdb.connect(str(db)) as con:
        for column, value in columns.items():
            con.execute(f"UPDATE runs SET {column} = ? WHERE run_id = ?", [value, run_id])


def _stored_status(db: Path) -> dict[str, str]:
    """Statuses as written in the table, not as read through the store."""
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT run_id, status FROM runs").fetchall())


def test_a_process_is_alive_only_if_it_exists_and_started_before_the_run() -> None:
    now = _utcnow()
    assert process_alive(os.getpid(), now)
    assert not process_alive(_dead_pid(), now)
    assert not process_alive(0, now) and not process_alive(-1, now)
    started = datetime.fromtimestamp(psutil.Process().create_time(), UTC).replace(tzinfo=None)
    assert not process_alive(os.getpid(), started - timedelta(hours=1))  # a pid taken over by a newer process


def test_a_killed_child_not_yet_reaped_is_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not process_alive(proc.pid, _utcnow())
    finally:
        proc.wait()


def test_readers_see_dead_runs_killed_and_the_next_recorder_writes_it_down(tmp_path: Path) -> None:
    db = tmp_path / "zhvec.duckdb"
    with Store(db) as store:
        alive = store.start_run("p", {}, "d", "sha", "v1")  # this process: alive
        killed = store.start_run("p", {}, "d", "sha", "v1")
        store.add_timings(killed, [StageTiming("extract", 1.0, 1.0, 1, 1, 1, 1, "articles")])
        elsewhere = store.start_run("p", {}, "d", "sha", "v1")
        finished = store.start_run("p", {}, "d", "sha", "v1")
        store.finish_run(finished, "completed")
    dead = _dead_pid()
    _set(db, killed, pid=dead)
    _set(db, elsewhere, pid=dead, host="another-host")
    _set(db, finished, pid=dead)
    with Store(db, read_only=True) as store:
        runs = {r["run_id"]: r for r in store.runs()}
        assert store.run(killed) == runs[killed]
    assert {k: r["status"] for k, r in runs.items()} == {
        alive: "running",
        killed: "killed",
        elsewhere: "running",
        finished: "completed",
    }
    assert runs[killed]["error"] == f"its process (pid {dead}) ended without finishing the run"
    assert runs[killed]["last_seen"] > runs[killed]["started_at"]  # the timings write was seen
    assert (
        status_text(runs[killed]) == f"killed (last seen {runs[killed]['last_seen']:%Y-%m-%d %H:%M:%S} UTC)"
    )
    assert status_text(runs[elsewhere]) == "running (on another-host)"
    assert status_text(runs[alive]) == "running"
    assert _stored_status(db)[killed] == "running"  # a reader writes nothing

    with recording(db, "p", {}, "d", "sha", "v1") as recorder:
        pass
    stored = _stored_status(db)
    assert (stored[killed], stored[alive], stored[elsewhere]) == ("killed", "running", "running")
    assert stored[recorder.run_id] == "completed"
    with Store(db, read_only=True) as store:
        again = store.run(killed)
    assert (again["error"], again["last_seen"], again["finished_at"]) == (
        runs[killed]["error"],
        runs[killed]["last_seen"],
        None,
    )


def test_each_write_moves_last_seen(tmp_path: Path) -> None:
    with Store(tmp_path / "zhvec.duckdb") as store:
        run_id = store.start_run("p", {}, "d", "sha", "v1")
        first = store.run(run_id)
        store.add_timings(run_id, [StageTiming("extract", 1.0, 1.0, 1, 1, 1, 1, "articles")])
        second = store.run(run_id)
        store.finish_run(run_id, "completed")
        third = store.run(run_id)
    assert first["pid"] == os.getpid() and first["last_seen"] == first["started_at"]
    assert first["last_seen"] < second["last_seen"] <= third["last_seen"]


def test_a_running_run_of_a_database_from_before_pids_is_killed(tmp_path: Path) -> None:
    """Before pids were kept there is no process to ask; but a run holds the database's write connection
    until it ends, so a database that opens has no run of this host still going."""
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, pipeline VARCHAR NOT NULL, "
            "dump VARCHAR NOT NULL, dump_sha256 VARCHAR NOT NULL, code_version VARCHAR NOT NULL, "
            "host VARCHAR NOT NULL, cores INTEGER, status VARCHAR NOT NULL, "
            "error VARCHAR NOT NULL DEFAULT '', "
            "started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, config JSON NOT NULL)"
        )
        con.execute(
            "INSERT INTO runs VALUES ('r1', 'p', 'd', 'ab', 'c', ?, 2, 'running', '', now(), NULL, '{}'), "
            "('r2', 'p', 'd', 'ab', 'c', 'another-host', 2, 'running', '', now(), NULL, '{}')",
            [socket.gethostname()],
        )
    with Store(db, read_only=True) as store:  # read-only: the table keeps its old columns
        old = {r["run_id"]: r for r in store.runs()}
    assert (old["r1"]["status"], old["r1"]["last_seen"], old["r1"]["pid"]) == ("killed", None, None)
    assert status_text(old["r1"]) == "killed (last seen unknown)"
    assert old["r2"]["status"] == "running"
    with Store(db) as store:  # the writer adds the columns and writes the status down
        store.mark_killed()
    assert _stored_status(db) == {"r1": "killed", "r2": "running"}


def test_a_sigkilled_run_shows_as_killed_in_results_and_the_report_index(
    prefect_server: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.settings import PREFECT_API_URL

    config = tmp_path / "pipelines.yaml"
    config.write_text(CONFIG.format(root=tmp_path, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the test run's Prefect server
    cmd = [sys.executable, "-m", "flows.cli", "run", "--config", str(config), "tiny"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (tmp_path / "work" / "train").is_dir():  # the run is recorded, and its stage timings too
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert main(["results", "--config", str(config), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["pid"], shown["finished_at"]) == ("killed", proc.pid, None)
    assert shown["error"] == f"its process (pid {proc.pid}) ended without finishing the run"
    last_seen = datetime.fromisoformat(shown["last_seen"])
    assert datetime.fromisoformat(shown["started_at"]) < last_seen <= _utcnow()
    assert main(["results", "--config", str(config)]) == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line.startswith(f"run {shown['run_id']}: ")
    assert (
        f"; killed (last seen {last_seen:%Y-%m-%d %H:%M:%S} UTC): its process (pid {proc.pid})" in first_line
    )

    assert main(["report", "--config", str(config)]) == 0
    page = Path(capsys.readouterr().out.strip())
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert f'<td class="killed">killed (last seen {last_seen:%Y-%m-%d %H:%M:%S} UTC)</td>' in index
    assert f'href="tiny/{shown["run_id"]}/index.html"' in index
    assert "killed (last seen" in page.read_text(encoding="utf-8")
