"""DuckDB's only writer. A run's records go through one connection, opened when the run starts and closed
when it ends (`recording`); anything that only reads (the report, the CLI) opens the database read-only
afterwards. The SQL is in tasks/results/store.py."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tasks.core.records import ArtifactRecord, EpochRow, Metric, PointResult, StageTiming
from tasks.results.store import Store


class Recorder:
    """One run's records, written on the run's connection; each call is its own transaction."""

    def __init__(self, store: Store, run_id: str) -> None:
        self._store = store
        self.run_id = run_id

    def timings(self, timings: Sequence[StageTiming]) -> None:
        self._store.add_timings(self.run_id, timings)

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
        self._store.add_point(self.run_id, point)
        if timings:
            self._store.add_timings(self.run_id, timings)
        if point.status == "completed":
            self._store.add_metrics(self.run_id, point.point_id, metrics)
            self._store.add_epochs(self.run_id, point.point_id, epochs)
        if artifacts:
            self._store.add_artifacts(self.run_id, artifacts)


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
) -> Iterator[Recorder]:
    """Open the database for one run: write down as killed the runs whose process died before they
    finished, record this run's start (with its pid), yield its recorder, then mark it completed (or
    failed, with the error, when the block raises) and close the connection. Each write of the run also
    updates its `last_seen`, which is when a killed run was last known alive."""
    with Store(database) as store:
        store.mark_killed()
        run_id = store.start_run(
            pipeline, config, source, source_sha256, code_version, kind=kind, flow_run_id=flow_run_id
        )
        try:
            yield Recorder(store, run_id)
        except BaseException as exc:
            store.finish_run(run_id, "failed", error=str(exc) or type(exc).__name__)
            raise
        store.finish_run(run_id, "completed")


def record_report(database: Path, run_id: str, report: ArtifactRecord) -> None:
    """The identity of a run's report, written once the report exists. The report is rendered from a
    read-only connection after the run's own is closed (DuckDB opens a file either for one writer or for
    readers), so this one row needs a short connection of its own."""
    with Store(database) as store:
        store.add_artifacts(run_id, [report])
