"""The benchmark flow on the tiny real-text dump: zhvec, the tutorial pipeline and word2vec.c recorded side
by side and scored by the same evaluator; and the comparison/projection arithmetic on known rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.bench import check_bench_points, run_bench
from tasks.bench.figures import SystemPoint, compare, format_comparison, project
from tasks.config import ConfigError, load_settings
from tests.configs import ALL_EVAL_SETS, EVAL_DIR, OUTPUTS, TINY_DUMP

CONFIG = (
    OUTPUTS
    + """
default: bench
pipelines:
  bench:
    dump: {dump}
    sweep:
      base: {{vector_size: 100, window: 5, negative: 5, sample: 1.0e-4, min_count: 5, epochs: 5}}
      grid: {{model: [sg, cbow]}}
      track_epochs: false
    evaluate: &eval
"""
    + ALL_EVAL_SETS
    + """  tweaked:
    dump: {dump}
    sweep: {{base: {{window: 3}}}}
    evaluate: *eval
"""
)


@pytest.fixture(scope="module")
def bench(prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("bench")
    config = root / "pipelines.yaml"
    config.write_text(CONFIG.format(root=root, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    return root, run_bench(pipeline="bench", config_path=str(config), dump=str(TINY_DUMP))


def query(root: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "work" / "zhvec.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_all_three_systems_are_recorded_and_scored_alike(bench: tuple[Path, dict[str, Any]]) -> None:
    root, summary = bench
    runs = dict(query(root, "SELECT pipeline, status FROM runs"))
    assert runs == {"bench": "completed", "bench-baselines": "completed"}
    config = json.loads(query(root, "SELECT config FROM runs WHERE pipeline = 'bench-baselines'")[0][0])
    assert config["reference_of"] == summary["run_id"]
    systems = query(
        root,
        "SELECT params->>'system', params->>'model', count(DISTINCT m.eval_set) FROM points p "
        "JOIN metrics m USING (run_id, point_id) WHERE p.run_id = ? AND m.category = 'all' GROUP BY ALL",
        summary["baselines_run_id"],
    )
    assert sorted(systems) == [("tutorial", "cbow", 5), ("tutorial", "sg", 5)] + [
        ("word2vec_c", "cbow", 5),
        ("word2vec_c", "sg", 5),
    ]
    tutorial_stages = query(
        root,
        "SELECT DISTINCT stage FROM stage_timings WHERE run_id = ? AND point_id IS NOT NULL",
        summary["baselines_run_id"],
    )
    assert {s for (s,) in tutorial_stages} == {"extract", "convert", "segment", "train"}


def test_report_of_the_zhvec_run_shows_the_comparison(bench: tuple[Path, dict[str, Any]]) -> None:
    root, summary = bench
    page = (root / "reports" / "bench" / summary["run_id"] / "index.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="bench">') : page.index('<section id="trend">')]
    assert section.count("<h3>") == 2 and "word2vec_c" in section and "preprocess s" in section
    assert "bench-baselines" in page  # its points are reference rows too
    assert '<a href="#bench">benchmark</a>' in page


def test_summary_has_every_ratio_and_score(bench: tuple[Path, dict[str, Any]]) -> None:
    _, summary = bench
    assert set(summary["models"]) == {"sg", "cbow"}
    for row in summary["models"].values():
        assert set(row["systems"]) == {"zhvec", "tutorial", "word2vec_c"}
        assert set(row["speedup"]) == {"extract", "convert", "segment", "train", "preprocess", "end_to_end"}
        assert all(v is not None and v > 0 for v in row["speedup"].values())
        for side in row["systems"].values():
            assert len(side["scores"]) == 5 and side["train_words_per_s"] > 0
        assert row["gensim_vs_word2vec_c"] > 0
        assert set(row["quality"]) >= {"mean_diff_points", "coverage_at_least", "none_2_below"}
    assert summary["sweep"]["points"] == 2
    text = format_comparison(summary)
    assert "tutorial" in text and "word2vec_c" in text and "sweep of 2 points" in text


def test_a_pipeline_unlike_the_tutorial_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text(CONFIG.format(root=tmp_path, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    name, pl = load_settings(config).pipeline("tweaked")
    with pytest.raises(ConfigError, match=r"pipelines.tweaked.sweep: point sg-d100-w3-n5-e5 differs"):
        check_bench_points(name, pl)


def _point(system: str, stages: dict[str, float], score: float, coverage: float) -> SystemPoint:
    scores = {k: (score, coverage) for k in ("a_3cosadd", "b_3cosadd", "c_spearman")}
    return SystemPoint(system, "sg", stages, 1000, scores)


def test_compare_ratios_and_quality_verdict() -> None:
    ours = _point("zhvec", {"extract": 2, "convert": 1, "segment": 1, "train": 10}, 0.31, 0.9)
    tut = _point("tutorial", {"extract": 20, "convert": 10, "segment": 30, "train": 10}, 0.30, 0.8)
    c = _point("word2vec_c", {"train": 15}, 0.305, 0.9)
    row = compare([ours], [tut, c])["models"]["sg"]
    assert row["speedup"]["preprocess"] == 15.0 and row["speedup"]["end_to_end"] == 5.0
    assert row["gensim_vs_word2vec_c"] == 1.5
    assert row["systems"]["zhvec"]["train_words_per_s"] == 100
    assert row["quality"] == {
        "diff_points": {"a_3cosadd": 1.0, "b_3cosadd": 1.0, "c_spearman": 1.0},
        "mean_diff_points": 1.0,
        "coverage_at_least": True,
        "mean_at_least": True,
        "none_2_below": True,
    }


def test_projection_is_the_line_through_two_sizes() -> None:
    small = (100_000_000, {"extract": 30.0, "train sg": 100.0})
    big = (200_000_000, {"extract": 50.0, "train sg": 200.0})
    got = project([small, big], cores=2, target_bytes=3_000_000_000, target_cores=(2, 8))
    # extract: 10 s fixed + 20 s per 100 MB -> 10 + 600 s on 2 cores, 10 + 150 s on 8
    assert got["hours"]["extract"] == {"2": round(610 / 3600, 2), "8": round(160 / 3600, 2)}
    assert got["hours"]["train sg"] == {"2": round(3000 / 3600, 2), "8": round(750 / 3600, 2)}
    assert got["total_hours"]["2"] == round(610 / 3600, 2) + round(3000 / 3600, 2)


def test_zhvec_alone_gives_its_figures_without_ratios() -> None:
    ours = _point("zhvec", {"extract": 2, "convert": 1, "segment": 1, "train": 10}, 0.31, 0.9)
    result = compare([ours], [])
    assert "sweep" not in result and "speedup" not in result["models"]["sg"]
    assert result["models"]["sg"]["systems"]["zhvec"]["end_to_end_s"] == 14
    assert format_comparison(result).splitlines()[0].split() == ["model", "sg", "zhvec", "zhvec", "speed-up"]
