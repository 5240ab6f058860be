"""`zhvec results` as text: the swept params tell the points apart, else the point labels do."""

from __future__ import annotations

from typing import Any

from tasks.results.rows import format_results


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
