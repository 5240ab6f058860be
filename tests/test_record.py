"""The recorder: a run's records on one connection, the run marked completed or failed when it ends, and no
other module opening the results database for writing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.record import record_report, recording
from tasks.core.records import ArtifactRecord, EpochRow, Metric, PointResult, StageTiming
from tasks.results.store import Store

REPO = Path(__file__).resolve().parents[1]
TIMING = StageTiming("train", 1.0, 2.0, 3, 4, 5, 6, "words", point_id="p1")


def test_a_run_is_recorded_on_one_connection_then_marked_completed(tmp_path: Path) -> None:
    db = tmp_path / "zhvec.duckdb"
    with recording(db, "p", {"k": 1}, "dump.bz2", "ab12", "v1") as recorder:
        point = PointResult("p1", "sg", {"model": "sg"}, "completed", vocab_size=7, train_words=70)
        metric = Metric("set", "all", "3cosadd", "ca8", 0.5, 2, 4, 1)
        recorder.point(point, [TIMING], [metric], [EpochRow(1, "loss", 2.0)])
        recorder.point(PointResult("p2", "cbow", {}, "failed", error="boom"))
    record_report(db, recorder.run_id, ArtifactRecord(str(tmp_path / "index.html"), "report", "cd34", 9))
    with Store(db, read_only=True) as store:
        run = store.run(recorder.run_id)
        assert (run["status"], run["error"], run["finished_at"] is not None) == ("completed", "", True)
        assert [(p["point_id"], p["status"], p["error"]) for p in store.points(recorder.run_id)] == [
            ("p1", "completed", ""),
            ("p2", "failed", "boom"),
        ]
        assert [m["value"] for m in store.metrics(recorder.run_id)] == [0.5]
        assert [(e["epoch"], e["metric"]) for e in store.epoch_history(recorder.run_id)] == [(1, "loss")]
        assert [t["stage"] for t in store.timings(recorder.run_id)] == ["train"]
        assert [a["kind"] for a in store.artifacts(recorder.run_id)] == ["report"]


def test_a_run_that_raises_is_marked_failed_with_its_error(tmp_path: Path) -> None:
    db = tmp_path / "zhvec.duckdb"
    with pytest.raises(RuntimeError, match="disk on fire"), recording(db, "p", {}, "d", "s", "v") as recorder:
        raise RuntimeError("disk on fire")
    with Store(db, read_only=True) as store:
        run = store.run(recorder.run_id)
    assert (run["status"], run["error"]) == ("failed", "disk on fire")


def test_only_the_recorder_opens_the_database_for_writing() -> None:
    """Every `Store(` in flows/ and tasks/ outside flows/record.py passes read_only=True."""
    writers = [
        f"{path.relative_to(REPO)}:{n}"
        for folder in ("flows", "tasks")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != REPO / "flows" / "record.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\bStore\(", line) and "read_only=True" not in line
    ]
    assert writers == []
