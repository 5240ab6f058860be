"""The scale projection's arithmetic, on two made-up runs whose answers are worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.scale import ZHWIKI_TOKENS, amdahl, heaps, project, rss_at, serial_shares

STAGES = ("extract", "convert", "segment", "vocab", "train", "evaluate")


def run(articles: int, words: int, vocab: int, train_s: float, train_gb: float) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "pipeline": f"scale-{articles}",
        "run_id": str(articles),
        "status": "completed",
        "cores": 2,
        "dump_bytes": articles * 2000,
        "corpus_words": words,
        "vocab_size": vocab,
        "stages.extract.articles": articles,
    }
    for stage in STAGES:
        figures[f"stages.{stage}.wall_s"] = train_s if stage == "train" else articles / 1000
        figures[f"stages.{stage}.peak_rss_gb"] = train_gb if stage in ("train", "evaluate") else 0.5
    figures["wall_s"] = sum(figures[f"stages.{s}.wall_s"] for s in STAGES) + 10
    return figures


SMALL = run(100_000, 10_000_000, 100_000, 200.0, 1.0)
LARGE = run(400_000, 44_000_000, 400_000, 880.0, 2.5)


def test_amdahl_keeps_the_serial_part() -> None:
    assert amdahl(100.0, 0.0, 2, 8) == 25.0
    assert amdahl(100.0, 1.0, 2, 32) == 100.0
    assert amdahl(100.0, 0.5, 2, 4) == 75.0


def test_heaps_and_memory_go_through_both_runs() -> None:
    assert heaps([SMALL, LARGE], 44_000_000) == pytest.approx(400_000)
    assert heaps([SMALL, LARGE], 10_000_000) == pytest.approx(100_000)
    assert rss_at([SMALL, LARGE], "train", 1_000_000) == pytest.approx(2.5 + 1.5 / 300_000 * 600_000)
    assert rss_at([SMALL, LARGE], "extract", 1_000_000) == 0.5


def test_projection_scales_the_largest_run_to_zhwiki() -> None:
    out = project([SMALL, LARGE], {"train": 0.0, "extract": 0.5}, dask_overhead_s=12.0)
    assert out["full.dump_bytes"] == 1_400_000 * 2000
    assert out["full.corpus_words"] == ZHWIKI_TOKENS
    assert out["full.cores2.train_s"] == round(880.0 * ZHWIKI_TOKENS / 44_000_000)  # 4,400 s
    assert out["full.cores8.train_s"] == 1100  # no serial part: a quarter of the 2-core wall
    assert out["full.cores2.extract_s"] == 1400  # 400 s per 400 k articles, scaled to 1.4 M
    assert out["full.cores8.extract_s"] == round(1400 * (0.5 + 0.5 / 4))
    assert out["full.other_s"] == 35  # 10 s outside the stages, scaled like the dump
    point = out["full.cores2.point_s"]
    pre = out["full.cores2.total_s"] - point
    assert out["sweep3.three_machines_h"] == round((pre + point + 12.0) / 3600, 2)
    assert out["sweep3.one_machine_h"] == round((pre + 3 * point) / 3600, 2)


def test_serial_shares_come_from_the_newest_cores_run() -> None:
    records = [
        {"benchmark": "scale_cores", "figures": {"cores.train.serial_share": 0.5}},
        {"benchmark": "scale_cores", "figures": {"cores.train.serial_share": 0.1, "cores.vocab.w1_s": 3}},
    ]
    assert serial_shares(records) == {"train": 0.1}
    assert serial_shares([]) == {}
