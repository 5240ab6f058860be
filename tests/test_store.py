from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tasks.core.records import EpochRow, Metric, PointResult, StageTiming
from tasks.results.store import DEFAULT_HEADLINES, DatabaseBusy, Store

REPO = Path(__file__).resolve().parents[1]

CONFIG: dict[str, Any] = {"dump": Path("/data/zhwiki.xml.bz2"), "sweep": {"grid": {"window": [5, 10]}}}


def _timing(
    stage: str,
    wall_s: float,
    point_id: str | None = None,
    items: int = 1000,
    item_unit: str = "articles",
    **kw: Any,
) -> StageTiming:
    return StageTiming(
        stage=stage,
        wall_s=wall_s,
        cpu_s=wall_s * 3,
        peak_rss_bytes=500_000_000,
        bytes_in=4_000_000,
        bytes_out=2_000_000,
        items=items,
        item_unit=item_unit,
        point_id=point_id,
        **kw,
    )


def _point(point_id: str = "p1", label: str = "sg-d100-w5-n5-e5", **kw: Any) -> PointResult:
    fields: dict[str, Any] = {
        "params": {"model": "sg", "window": 5},
        "status": "completed",
        "vocab_size": 120_000,
        "train_words": 9_000_000,
        "vectors_dir": f"/work/train/{point_id}",
    }
    return PointResult(point_id=point_id, label=label, **(fields | kw))


def _headline_metrics(scale: float) -> list[Metric]:
    """All five default sets at category 'all', plus rows the headline columns must ignore."""
    return [
        Metric("ca8_morphological", "all", "3cosadd", "ca8", 0.20 * scale, 800, 1000, int(160 * scale)),
        Metric("ca8_morphological", "all", "3cosmul", "ca8", 0.90, 800, 1000, 720),
        Metric("ca8_morphological", "A", "3cosadd", "ca8", 0.95, 100, 100, 95),
        Metric("ca8_semantic", "all", "3cosadd", "ca8", 0.30 * scale, 600, 1000, int(180 * scale)),
        Metric("ca_translated", "all", "3cosadd", "ca8", 0.10 * scale, 500, 1000, int(50 * scale)),
        Metric("wordsim240", "all", "spearman", "ca8", 0.40 * scale, 228, 240),
        Metric("wordsim297", "all", "spearman", "ca8", 0.50 * scale, 282, 297),
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "zhvec.duckdb"


def test_schema_is_created_idempotently(db: Path) -> None:
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
    with Store(db) as store:
        assert [r["run_id"] for r in store.runs()] == [run_id]
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        summary_cols = [r[0] for r in con.execute("DESCRIBE point_summary").fetchall()]
    finally:
        con.close()
    assert {"runs", "points", "stage_timings", "metrics", "stage_throughput", "point_summary"} <= names
    for eval_set, method in DEFAULT_HEADLINES:
        assert f"{eval_set}_{method}" in summary_cols
        assert f"{eval_set}_{method}_cov" in summary_cols


def test_run_round_trip(db: Path) -> None:
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        (running,) = store.runs()
        store.finish_run(run_id, "failed", "segment: out of memory")
        (finished,) = store.runs()
    assert running["status"] == "running"
    assert running["finished_at"] is None
    assert running["cores"] and running["host"]
    assert running["config"] == {"dump": "/data/zhwiki.xml.bz2", "sweep": {"grid": {"window": [5, 10]}}}
    assert (finished["status"], finished["error"]) == ("failed", "segment: out of memory")
    assert finished["finished_at"] >= finished["started_at"]
    assert run_id.startswith(f"{finished['started_at']:%Y%m%d-%H%M%S}-")


def test_latest_run_filters_by_pipeline(db: Path) -> None:
    with Store(db) as store:
        assert store.latest_run() is None
        first = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        second = store.start_run("full", CONFIG, "d.bz2", "ab12", "v1")
        assert store.latest_run() == second
        assert store.latest_run("sample") == first
        assert store.latest_run("other") is None


def test_timing_point_and_metric_round_trip(db: Path) -> None:
    extract = _timing("extract", 20.0, extra={"articles": 1000, "skipped": 3})
    train = _timing("train", 4.0, point_id="p1", cached=True)
    metric = Metric("wordsim240", "all", "spearman", "ca8", 0.45, 200, 240)
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        store.add_timings(run_id, [extract, train])
        store.add_point(run_id, _point())
        store.add_metrics(run_id, "p1", [metric])
        timings, points, metrics = store.timings(run_id), store.points(run_id), store.metrics(run_id)
    assert [{k: t[k] for k in extract.as_dict()} for t in timings] == [extract.as_dict(), train.as_dict()]
    assert timings[0]["items_per_s"] == pytest.approx(50.0)
    assert timings[0]["mb_per_s"] == pytest.approx(0.2)
    assert points == [{"run_id": run_id, **_point().as_dict()}]
    assert metrics == [{"run_id": run_id, "point_id": "p1", **metric.as_dict(), "coverage": 200 / 240}]


def test_leaderboard_pivots_headlines(db: Path) -> None:
    extra_set = [
        Metric("custom_sim", "all", "spearman", "ca8", 0.61, 90, 100),
        Metric("ca8_semantic", "all", "3cosadd", "strict", 0.25, 300, 1000, 75),
    ]
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        store.add_point(run_id, _point("p1"))
        store.add_point(run_id, _point("p2", label="cbow-d100-w5-n5-e5"))
        trained = [  # p2 resumed from a checkpoint: its train stage ran one epoch of three
            _timing("train", 4.0, "p1", items=9_000_000, item_unit="words"),
            _timing("train", 2.0, "p2", items=3_000_000, item_unit="words"),
        ]
        store.add_timings(run_id, trained)
        store.add_metrics(run_id, "p1", _headline_metrics(1.0) + extra_set)
        store.add_metrics(run_id, "p2", _headline_metrics(2.0))
        board = store.leaderboard(run_id)
    p1, p2 = board
    assert (p1["point_id"], p2["point_id"]) == ("p1", "p2")
    assert p1["train_s"] == 4.0
    assert p1["words_per_s"] == pytest.approx(9_000_000 / 4.0)
    assert p2["words_per_s"] == pytest.approx(3_000_000 / 2.0)  # what ran, not the whole point's words
    assert p1["ca8_morphological_3cosadd"] == pytest.approx(0.20)
    assert p1["ca8_morphological_3cosadd_cov"] == pytest.approx(0.8)
    assert p1["ca8_semantic_3cosadd"] == pytest.approx(0.30)
    assert p1["ca8_semantic_3cosadd_cov"] == pytest.approx(0.6)
    assert p1["wordsim297_spearman"] == pytest.approx(0.50)
    assert p1["wordsim297_spearman_cov"] == pytest.approx(282 / 297)
    assert p2["ca_translated_3cosadd"] == pytest.approx(0.20)
    assert p2["wordsim240_spearman"] == pytest.approx(0.80)
    assert p1["custom_sim_spearman"] == pytest.approx(0.61)
    assert p2["custom_sim_spearman"] is None


def test_rerecording_replaces_point_metrics_and_timings(db: Path) -> None:
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        store.add_point(run_id, _point("p1", status="failed", error="boom"))
        store.add_point(run_id, _point("p2"))
        store.add_timings(run_id, [_timing("train", 9.0, "p1"), _timing("extract", 5.0)])
        store.add_metrics(run_id, "p1", _headline_metrics(1.0))
        store.add_point(run_id, _point("p1", vocab_size=7))
        store.add_timings(run_id, [_timing("train", 3.0, "p1"), _timing("extract", 6.0)])
        store.add_metrics(run_id, "p1", [Metric("wordsim240", "all", "spearman", "ca8", 0.3, 1, 2)])
        points, timings, metrics = store.points(run_id), store.timings(run_id), store.metrics(run_id)
    assert [(p["point_id"], p["status"], p["error"], p["vocab_size"]) for p in points] == [
        ("p1", "completed", "", 7),
        ("p2", "completed", "", 120_000),
    ]
    assert sorted((t["stage"], t["wall_s"]) for t in timings) == [("extract", 6.0), ("train", 3.0)]
    assert [(m["eval_set"], m["value"]) for m in metrics] == [("wordsim240", 0.3)]


def test_failed_write_rolls_back_whole_batch(db: Path) -> None:
    bad = Metric("wordsim297", "all", "spearman", "ca8", None, 1, 2)  # type: ignore[arg-type]
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        store.add_point(run_id, _point())
        store.add_metrics(run_id, "p1", _headline_metrics(1.0))
        before = store.metrics(run_id)
        with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
            store.add_metrics(run_id, "p1", [Metric("wordsim240", "all", "spearman", "ca8", 0.1, 1, 2), bad])
        assert store.metrics(run_id) == before
        with pytest.raises(duckdb.ConstraintException):
            unitless = replace(_timing("convert", 1.0), item_unit=None)  # type: ignore[arg-type]
            store.add_timings(run_id, [_timing("extract", 1.0), unitless])
        assert store.timings(run_id) == []


def test_writes_to_unknown_run_are_refused(db: Path) -> None:
    with Store(db) as store, pytest.raises(KeyError, match="nope"):
        store.add_point("nope", _point())


def test_one_run_by_id(db: Path) -> None:
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        assert store.run(run_id) == next(r for r in store.runs() if r["run_id"] == run_id)
        with pytest.raises(KeyError, match="unknown run_id 'nope'"):
            store.run("nope")


def test_read_only_open(db: Path) -> None:
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        store.add_point(run_id, _point())
    with Store(db, read_only=True) as store:
        assert store.latest_run("sample") == run_id
        assert [p["point_id"] for p in store.leaderboard(run_id)] == ["p1"]
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            store.finish_run(run_id, "completed")


HOLDER = """
import sys, time
from pathlib import Path
from tasks.results.store import Store
with Store(Path(sys.argv[1]), read_only=sys.argv[3] == "read"):
    print("open", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(db: Path, seconds: float, mode: str = "write") -> subprocess.Popen[str]:
    """A process holding the database open (`write` or `read`) for `seconds`, once it has said so."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(seconds), mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "open\n"
    return proc


def test_a_reader_that_finds_the_file_held_too_long_gets_one_clear_error(db: Path) -> None:
    proc = _hold(db, 600)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseBusy) as caught, Store(db, read_only=True, wait_s=0.5):
            pass
        assert time.monotonic() - started >= 0.5
    finally:
        proc.kill()
        proc.wait()
    assert (
        str(caught.value)
        == f"{db}: in use by process {proc.pid} for 0.5 s without a pause; retry in a moment"
    )
    with Store(db, read_only=True) as store:  # the writer is gone: readable again
        assert store.runs() == []


def test_readers_and_writers_wait_for_each_other_briefly(db: Path) -> None:
    """A short write (the recorder's) is waited out by a reader, and a reader's command by the recorder."""
    Store(db).close()
    for mode in ("write", "read"):
        proc = _hold(db, 1.0, mode)
        try:
            with Store(db, read_only=mode == "write", wait_s=30) as store:
                assert store.runs() == []
        finally:
            proc.kill()
            proc.wait()


def test_epoch_history_round_trip_and_replace(db: Path) -> None:
    rows = [EpochRow(2, "loss", 5.0), EpochRow(1, "probe:北京|上海", 0.5), EpochRow(1, "loss", 9.0)]
    with Store(db) as store:
        run_id = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        store.add_point(run_id, PointResult("p2", "b", {}, "completed"))
        store.add_point(run_id, PointResult("p1", "a", {}, "completed"))
        store.add_epochs(run_id, "p1", rows)
        store.add_epochs(run_id, "p2", rows[:1])
        store.add_epochs(run_id, "p2", [EpochRow(1, "loss", 7.0)])  # a re-run replaces
        history = store.epoch_history(run_id)
        with pytest.raises(KeyError, match="unknown run_id"):
            store.add_epochs("nope", "p1", rows)
    assert [(h["point_id"], h["epoch"], h["metric"], h["value"]) for h in history] == [
        ("p2", 1, "loss", 7.0),
        ("p1", 1, "loss", 9.0),
        ("p1", 1, "probe:北京|上海", 0.5),
        ("p1", 2, "loss", 5.0),
    ]


def test_headlines_follow_the_runs_config(db: Path) -> None:
    """A run's `evaluate.headlines` orders its headlines; a run recorded without the key gets the default."""
    chosen = {"evaluate": {"analogy": {"ca8_semantic": "a.txt"}, "similarity": {"wordsim240": "s.txt"}}}
    chosen["evaluate"]["headlines"] = ["wordsim240", "ca8_semantic"]  # type: ignore[index]
    with Store(db) as store:
        old = store.start_run("sample", CONFIG, "d.bz2", "ab12", "v1")
        new = store.start_run("sample", chosen, "d.bz2", "ab12", "v1")
        for run_id in (old, new):
            store.add_point(run_id, _point("p1"))
            store.add_metrics(run_id, "p1", _headline_metrics(1.0))
        assert store.headlines(old) == list(DEFAULT_HEADLINES)
        assert store.headlines(new)[:2] == [("wordsim240", "spearman"), ("ca8_semantic", "3cosadd")]
        assert set(store.headlines(new)) == set(DEFAULT_HEADLINES)  # the other scored sets follow
        assert store.leaderboard(new)[0]["wordsim240_spearman"] == pytest.approx(0.40)
