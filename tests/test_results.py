"""`zhvec results` as text: the swept params tell the points apart, else the point labels do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasks.core.records import PointResult, StageTiming
from tasks.results.rows import format_results, point_results
from tasks.results.store import Store


def _row(label: str, **params: Any) -> dict[str, Any]:
    return {
        "label": label,
        "params": params,
        "status": "completed",
        "train_s": 1.0,
        "words_per_s": 1000.0,
        "metrics": {"ws240_spearman": 0.5},
    }


def test_swept_params_are_the_columns() -> None:
    text = format_results("r1", [_row("sg-w3", model="sg", window=3), _row("sg-w5", model="sg", window=5)])
    assert text.splitlines()[1].split() == ["window", "status", "train_s", "words/s", "ws240_spearman"]
    assert "sg-w3" not in text


def test_points_with_the_same_params_are_told_apart_by_label() -> None:
    rows = [_row("proximity:sg", model="sg"), _row("random:sg", model="sg")]
    lines = format_results("r1", rows).splitlines()
    assert lines[1].split()[:2] == ["point", "model"]
    assert [line.split()[0] for line in lines[2:]] == ["proximity:sg", "random:sg"]


def test_words_per_s_is_the_reports_figure_and_gensims_own_is_named_apart(tmp_path: Path) -> None:
    """`words_per_s` = trained words per train-stage wall second, as the report's point_summary shows;
    gensim's figure over its training seconds alone is `gensim_words_per_s`."""
    train = StageTiming(
        stage="train", wall_s=4.0, cpu_s=8.0, peak_rss_bytes=1, bytes_in=1, bytes_out=1, items=9_000_000,
        item_unit="words", point_id="p1", extra={"words_per_s": 3_000_000.0, "effective_words_per_s": 2e6},
    )  # fmt: skip
    point = PointResult(
        point_id="p1", label="sg", params={"model": "sg"}, status="completed", vocab_size=10,
        train_words=9_000_000, vectors_dir="v",
    )  # fmt: skip
    with Store(tmp_path / "z.duckdb") as store:
        run_id = store.start_run("sample", {}, "d.bz2", "ab12", "v1")
        store.add_point(run_id, point)
        store.add_timings(run_id, [train])
        (row,) = point_results(store, run_id)
        (board,) = store.leaderboard(run_id)
    assert row["words_per_s"] == board["words_per_s"] == pytest.approx(9_000_000 / 4.0)
    assert (row["gensim_words_per_s"], row["effective_words_per_s"]) == (3_000_000.0, 2e6)
