from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from tasks.config import Pipeline
from tasks.core.records import Metric, PointResult, StageTiming
from tasks.report.render import fmt_score, point_names, render_report, varying_params
from tasks.results.store import Store

HOSTILE = "<script>alert(1)</script>"
HOSTILE_SET = "<script>alert(2)</script>"
CATEGORIES = {
    "ca8_morphological": ("A", "AB", "prefix", "suffix"),
    "ca8_semantic": ("geography", "history", "nature", "people"),
    "ca_translated": ("capital-common-countries", "city-in-state", "family"),
}
SIMILARITY = {"wordsim240": 240, "wordsim297": 297, HOSTILE_SET: 50}


def _timing(stage: str, wall_s: float, items: int, unit: str, point_id: str | None = None) -> StageTiming:
    return StageTiming(
        stage=stage,
        wall_s=wall_s,
        cpu_s=wall_s * 3.5,
        peak_rss_bytes=1_200_000_000,
        bytes_in=350_000_000,
        bytes_out=180_000_000,
        items=items,
        item_unit=unit,
        point_id=point_id,
        cached=stage == "extract",
    )


def _metrics(accuracy: float, coverage: float, rho: float) -> list[Metric]:
    """Every default set with categories, both analogy methods; `all` rows carry the given numbers."""
    rows: list[Metric] = []
    for eval_set, categories in CATEGORIES.items():
        for method, bonus in (("3cosadd", 0.0), ("3cosmul", 0.02)):
            total = 1000
            seen = round(total * coverage)
            rows.append(Metric(eval_set, "all", method, "ca8", accuracy + bonus, seen, total, 0))
            for i, category in enumerate(categories):
                acc = accuracy + bonus + 0.01 * i
                rows.append(Metric(eval_set, category, method, "ca8", acc, 200, 250, round(acc * 200)))
    for eval_set, total in SIMILARITY.items():
        rows.append(Metric(eval_set, "all", "spearman", "ca8", rho, round(total * 0.95), total))
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    points = [
        PointResult(
            "a1b2c3d4e5", "sg-d100-w5-n5-e5", {"model": "sg", "window": 5}, "completed", 120_000, 9_000_000
        ),
        PointResult("f6e5d4c3b2", HOSTILE, {"model": "cbow", "window": 5}, "completed", 118_000, 9_000_000),
    ]
    dump = "/data/zhwiki-latest-pages-articles.xml.bz2"
    config = Pipeline.model_validate({"dump": dump}).model_dump(mode="json")
    s = Store(tmp_path / "zhvec.duckdb")
    run_id = s.start_run("sample", config, dump, "9f" * 32, "abc1234")
    s.add_timings(
        run_id,
        [
            _timing("extract", 120.0, 5000, "articles"),
            _timing("convert", 40.0, 30_000_000, "chars"),
            _timing("segment", 300.0, 20_000_000, "tokens"),
        ],
    )
    for point, (acc, cov, rho) in zip(points, ((0.246, 0.812, 0.512), (0.198, 0.774, 0.468)), strict=True):
        s.add_point(run_id, point)
        s.add_timings(
            run_id,
            [
                _timing("train", 600.0, 45_000_000, "words", point.point_id),
                _timing("evaluate", 30.0, 2500, "questions", point.point_id),
            ],
        )
        s.add_metrics(run_id, point.point_id, _metrics(acc, cov, rho))
    s.finish_run(run_id, "completed")
    yield s
    s.close()


def test_run_page_is_complete_and_self_contained(store: Store, tmp_path: Path) -> None:
    run_id = store.latest_run("sample")
    assert run_id is not None
    path = render_report(store, run_id, tmp_path / "reports")
    page = path.read_text(encoding="utf-8")
    assert path == tmp_path / "reports" / "sample" / run_id / "index.html"
    assert page.count(get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]*\ssrc=", page)
    assert not re.search(r"<link[^>]*href=[\"']?(https?:)?//", page)
    assert "sg-d100-w5-n5-e5" in page
    assert "24.6 % (cov 81.2 %)" in page  # headline 3CosAdd with coverage
    assert "0.512 (cov 95.0 %)" in page  # headline Spearman with coverage
    assert "26.6 % (cov 80.0 %)" in page  # a per-category 3CosMul cell
    for section in ("runs", "stage_throughput", "point_summary", "metrics"):
        assert f"<code>{section}</code>" in page
    assert "abc1234" in page and "capital-common-countries" in page


def test_corpus_text_cannot_inject_markup(store: Store, tmp_path: Path) -> None:
    run_id = store.latest_run("sample")
    assert run_id is not None
    page = render_report(store, run_id, tmp_path / "reports").read_text(encoding="utf-8")
    assert HOSTILE not in page and HOSTILE_SET not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert page.count("<script") == page.count("</script>")


def test_index_lists_runs_newest_first(store: Store, tmp_path: Path) -> None:
    rendered = store.latest_run("sample")
    assert rendered is not None
    unrendered = store.start_run("sample", {}, "d.bz2", "ab", "abc1234")
    reports = tmp_path / "reports"
    render_report(store, rendered, reports)
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert index.index(unrendered) < index.index(rendered)
    assert f'<a href="sample/{rendered}/index.html">{rendered}</a>' in index
    assert f'href="sample/{unrendered}' not in index
    assert "24.6 % (cov 81.2 %)" in index  # best ca8_morphological 3CosAdd of the run
    assert HOSTILE_SET not in index


def test_fmt_score_shows_coverage() -> None:
    assert fmt_score("3cosadd", 0.246, 0.812) == "24.6 % (cov 81.2 %)"
    assert fmt_score("spearman", 0.5123, 0.95) == "0.512 (cov 95.0 %)"
    assert fmt_score("3cosmul", None, None) == "—"
    assert fmt_score("spearman", float("nan"), 0.0) == "— (cov 0.0 %)"


def test_point_names_disambiguate_repeated_labels() -> None:
    points = [
        {"point_id": "aaaaaaaaaa", "label": "sg-d100", "params": {"min_count": 5, "window": 5}},
        {"point_id": "bbbbbbbbbb", "label": "sg-d100", "params": {"min_count": 10, "window": 5}},
        {"point_id": "cccccccccc", "label": "cbow-d100", "params": {"min_count": 5, "window": 5}},
    ]
    assert point_names(points) == {
        "aaaaaaaaaa": "sg-d100 [aaaaaaaa]",
        "bbbbbbbbbb": "sg-d100 [bbbbbbbb]",
        "cccccccccc": "cbow-d100",
    }
    assert varying_params(points) == {
        "aaaaaaaaaa": "min_count=5",
        "bbbbbbbbbb": "min_count=10",
        "cccccccccc": "min_count=5",
    }
    assert varying_params(points[:1]) == {"aaaaaaaaaa": "min_count=5, window=5"}
