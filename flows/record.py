"""DuckDB's only writer. A run's records are written one short transaction at a time, each on a connection
of its own, so that readers (`zhvec results`, `zhvec report`, the queries) can open the file while the run
goes on; a heartbeat moves the run's `last_seen` and records its stage, point and epoch every
`HEARTBEAT_S`, in every stage. The SQL is in tasks/results/store.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from flows import interrupt
from tasks.core import activity
from tasks.core.records import ArtifactRecord, EpochRow, Metric, PointResult, StageTiming
from tasks.results.store import INTERRUPTED, WRITE_WAIT_S, DatabaseBusy, Store

HEARTBEAT_S = 10.0
_HEARTBEAT_WAIT_S = 5.0  # a beat that finds the file held longer is skipped: the next one comes soon


class Recorder:
    """One run's records; each call opens the database, writes in one transaction and closes it."""

    def __init__(self, database: Path, run_id: str) -> None:
        self._database = database
        self.run_id = run_id
        self._lock = threading.Lock()  # the heartbeat thread writes too

    @contextmanager
    def _store(self, wait_s: float = WRITE_WAIT_S) -> Iterator[Store]:
        with self._lock, Store(self._database, wait_s=wait_s) as store:
            yield store

    def timings(self, timings: Sequence[StageTiming]) -> None:
        with self._store() as store:
            store.add_timings(self.run_id, timings)

    def point(
        self,
        point: PointResult,
        timings: Sequence[StageTiming] = (),
        metrics: Sequence[Metric] = (),
        epochs: Sequence[EpochRow] = (),
        artifacts: Sequence[ArtifactRecord] = (),
    ) -> None:
        """A sweep point (or a baseline) with what it cost, its scores, its epoch rows and its files; a
        failed point is recorded with its error alone."""
        with self._store() as store:
            store.add_point(self.run_id, point)
            if timings:
                store.add_timings(self.run_id, timings)
            if point.status == "completed":
                store.add_metrics(self.run_id, point.point_id, metrics)
                store.add_epochs(self.run_id, point.point_id, epochs)
            if artifacts:
                store.add_artifacts(self.run_id, artifacts)

    def beat(self, doing: activity.Activity) -> None:
        """The run is alive and at `doing`; skipped if a reader holds the file for long."""
        try:
            with self._store(_HEARTBEAT_WAIT_S) as store:
                store.heartbeat(self.run_id, doing.stage, doing.point, doing.epoch)
        except DatabaseBusy:
            pass

    def finish(self, status: str, error: str = "", doing: activity.Activity | None = None) -> None:
        with self._store() as store:
            if doing is not None:
                store.heartbeat(self.run_id, doing.stage, doing.point, doing.epoch)
            store.finish_run(self.run_id, status, error=error)

    def interrupted(self, stop: interrupt.Interrupted) -> None:
        self.finish(INTERRUPTED, str(stop), stop.where)


class _Heartbeat(threading.Thread):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__(name="zhvec-heartbeat", daemon=True)
        self._recorder = recorder
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(HEARTBEAT_S):
            self._recorder.beat(activity.current())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@contextmanager
def recording(
    database: Path,
    pipeline: str,
    config: dict[str, Any],
    source: str,
    source_sha256: str,
    code_version: str,
    kind: str = "pipeline",
    flow_run_id: str | None = None,
    dump_date: date | None = None,
) -> Iterator[Recorder]:
    """Record one run: write down as killed the runs whose process died before they finished, record this
    run's start (with its pid, and the date of its dump from the run's plan), yield its recorder while a
    heartbeat keeps it seen, then mark it completed, interrupted (with the stage, point and epoch it was
    in) or failed (with the error)."""
    with Store(database, wait_s=WRITE_WAIT_S) as store:
        store.mark_killed()
        run_id = store.start_run(
            pipeline,
            config,
            source,
            source_sha256,
            code_version,
            kind=kind,
            flow_run_id=flow_run_id,
            dump_date=dump_date,
        )
    recorder = Recorder(database, run_id)
    heartbeat = _Heartbeat(recorder)
    heartbeat.start()
    try:
        with interrupt.last_words(recorder.interrupted):
            yield recorder
    except BaseException as exc:
        heartbeat.stop()
        stop = interrupt.as_interrupt(exc)
        if stop is not None:
            recorder.interrupted(stop)
        else:
            recorder.finish("failed", str(exc) or type(exc).__name__, activity.current())
        raise
    heartbeat.stop()
    recorder.finish("completed", doing=activity.Activity())


def record_report(database: Path, run_id: str, report: ArtifactRecord) -> None:
    """The identity of a run's report, written once the report exists."""
    with Store(database, wait_s=WRITE_WAIT_S) as store:
        store.add_artifacts(run_id, [report])
