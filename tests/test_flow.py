"""The whole flow on the tiny real-text dump, under one Prefect test server: stored results must equal an
independent evaluation of the exported vectors, and a re-run must reuse every finished stage."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import run, run_pipeline
from tasks.dump import fetch
from tasks.vectors.evaluate import load_analogies, load_vectors
from tests.ca8_reference import reference_ca8
from tests.configs import ALL_EVAL_SETS, EVAL_DIR, OUTPUTS, TINY_DUMP, TWO_EVAL_SETS

STAGES = {"extract", "convert", "segment", "vocab", "train", "evaluate"}
SETS = {"ca8_morphological", "ca8_semantic", "ca_translated", "wordsim240", "wordsim297"}

CONFIG = (
    OUTPUTS
    + """
default: tiny
pipelines:
  tiny:
    dump: {dump}
    sweep:
      base: {{vector_size: 24, min_count: 2, epochs: 2, negative: 5, sample: 0.001}}
      grid: {{model: [sg, cbow]}}
    evaluate:
"""
    + ALL_EVAL_SETS
)


@pytest.fixture(scope="module")
def finished_run(prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("flow")
    config = root / "pipelines.yaml"
    config.write_text(CONFIG.format(root=root, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    run_id = run_pipeline(pipeline="tiny", config_path=str(config)).run_id
    return root, run_id


def query(root: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "work" / "zhvec.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_run_records_points_metrics_timings_and_report(finished_run: tuple[Path, str]) -> None:
    root, run_id = finished_run
    assert query(root, "SELECT status FROM runs WHERE run_id = ?", run_id) == [("completed",)]
    points = query(root, "SELECT point_id, status, vocab_size FROM points WHERE run_id = ?", run_id)
    assert len(points) == 2 and all(status == "completed" and vocab > 100 for _, status, vocab in points)
    stages = {s for (s,) in query(root, "SELECT DISTINCT stage FROM stage_timings WHERE run_id = ?", run_id)}
    assert stages >= STAGES
    for point_id, _, _ in points:
        sets = query(
            root,
            "SELECT DISTINCT eval_set FROM metrics WHERE run_id = ? AND point_id = ? AND category = 'all'",
            run_id,
            point_id,
        )
        assert {s for (s,) in sets} == SETS
    coverage = query(root, "SELECT min(total), max(coverage) FROM metrics WHERE run_id = ?", run_id)[0]
    assert coverage[0] > 0 and 0 < coverage[1] <= 1  # type: ignore[operator]
    assert (root / "reports" / "tiny" / run_id / "index.html").is_file()
    assert (root / "reports" / "index.html").is_file()
    config = query(root, "SELECT config FROM runs WHERE run_id = ?", run_id)[0][0]
    assert '"vector_size": 24' in str(config)


def test_both_points_share_one_vocabulary_count(finished_run: tuple[Path, str]) -> None:
    """Two points, one corpus, one min_count: the vocabulary is counted once, before either trains."""
    root, run_id = finished_run
    sql = "SELECT cached, items, wall_s, bytes_in, extra FROM stage_timings WHERE run_id = ?"
    sql += " AND stage = 'vocab'"
    ((cached, items, wall, bytes_in, extra),) = query(root, sql, run_id)
    stats = json.loads(str(extra))
    assert (
        not cached and wall > 0 and bytes_in > 0 and items == stats["total_words"] > stats["vocab_size"] > 100
    )
    assert stats["min_count"] == 2
    assert len(list((root / "work" / "vocab").iterdir())) == 1


def test_segment_corpus_statistics_land_in_stage_timings(finished_run: tuple[Path, str]) -> None:
    root, run_id = finished_run
    sql = "SELECT extra FROM stage_timings WHERE run_id = ? AND stage = 'segment'"
    extra = json.loads(str(query(root, sql, run_id)[0][0]))
    assert (
        extra["engine"] == "cjieba" and extra["sentences"] > 0 and extra["tokens"] > extra["vocab_size"] > 0
    )
    assert set(extra["eval_oov"]) == SETS and all(0 < v <= 1 for v in extra["eval_oov"].values())
    assert extra["bytes_per_s"] > 0 and {"agreement_lines", "agreement_rate", "seconds"} <= set(extra)
    assert (extra["long_line_cuts"], extra["long_sentences"]) == (0, 0)  # hostile text is counted here


def test_extract_per_shard_statistics_land_in_stage_timings(finished_run: tuple[Path, str]) -> None:
    root, run_id = finished_run
    sql = "SELECT extra, bytes_in, items FROM stage_timings WHERE run_id = ? AND stage = 'extract'"
    raw, bytes_in, items = query(root, sql, run_id)[0]
    extra = json.loads(str(raw))
    assert bytes_in == TINY_DUMP.stat().st_size and items == extra["articles"] > 0
    shards = extra["per_shard"]
    assert [s["name"] for s in shards] == extra["shards"]
    assert sum(s["articles"] for s in shards) == items and sum(s["bytes_in"] for s in shards) == bytes_in
    assert all(s["chars"] > 0 and s["bytes_out"] > 0 and s["seconds"] > 0 for s in shards)
    assert extra["bad_utf8_pages"] == 0 and extra["removed_chars"] == sum(s["removed_chars"] for s in shards)


def test_stored_counts_equal_independent_ca8_evaluation(finished_run: tuple[Path, str]) -> None:
    root, run_id = finished_run
    points = query(root, "SELECT point_id, vectors_dir FROM points WHERE run_id = ?", run_id)
    for point_id, vectors_dir in points:
        vecs = load_vectors(Path(str(vectors_dir)) / "vectors.bin")
        assert not (Path(str(vectors_dir)) / "vectors.txt").exists()  # the text file is opt-in
        for name, file in (("ca8_semantic", "semantic"), ("ca8_morphological", "morphological")):
            questions = load_analogies(EVAL_DIR / "ca8" / f"{file}.txt")
            expected = reference_ca8(vecs.words, vecs.matrix, questions)
            rows = query(
                root,
                "SELECT category, method, seen, total, correct FROM metrics "
                "WHERE run_id = ? AND point_id = ? AND eval_set = ? AND method LIKE '3cos%'",
                run_id,
                point_id,
                name,
            )
            assert {(c, m): (s, t, k) for c, m, s, t, k in rows} == expected


def test_rerun_reuses_every_stage_and_gives_the_same_metrics(finished_run: tuple[Path, str]) -> None:
    root, first = finished_run
    second = run_pipeline(pipeline="tiny", config_path=str(root / "pipelines.yaml")).run_id
    assert second != first
    cached = query(root, "SELECT bool_and(cached), count(*) FROM stage_timings WHERE run_id = ?", second)[0]
    assert cached == (True, 2 * 2 + 4)
    sql = "SELECT point_id, eval_set, category, method, value, seen FROM metrics WHERE run_id = ?"
    sql += " ORDER BY ALL"
    assert query(root, sql, first) == query(root, sql, second)


ONE_POINT = (
    OUTPUTS
    + """
default: once
pipelines:
  once:
    dump: {dump}
    workers: 1
    sweep: {{base: {{vector_size: 8, min_count: 2, epochs: 1}}}}
    evaluate:
"""
    + TWO_EVAL_SETS
)
TINY_SINGLE = TINY_DUMP.with_name("zhwiki-tiny-pages-articles.xml.bz2")
TINY_INDEX = TINY_DUMP.with_name("zhwiki-tiny-pages-articles-multistream-index.txt.bz2")


@pytest.mark.parametrize(
    ("dump", "index"), [(TINY_DUMP, TINY_INDEX), (TINY_SINGLE, None)], ids=["multistream", "single-stream"]
)
def test_a_run_looks_at_its_dump_and_for_its_index_once(
    prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dump: Path, index: Path | None
) -> None:
    """`zhvec run` resolves the dump once, as its config is checked before the flow starts; the flow, the
    fetch and the extract stage take that plan and neither check the dump nor look for its index again."""
    config = tmp_path / "pipelines.yaml"
    config.write_text(ONE_POINT.format(root=tmp_path, dump=dump, eval=EVAL_DIR), encoding="utf-8")
    looks: Counter[str] = Counter()

    def spying(method: str) -> Callable[[Path], bool]:
        real = getattr(Path, method)

        def spy(path: Path) -> bool:
            if path == dump:
                looks[method] += 1
            return bool(real(path))

        return spy

    for method in ("is_file", "is_dir"):
        monkeypatch.setattr(Path, method, spying(method))
    located: list[str] = []
    index_name = fetch.index_name

    def locating(name: str) -> str | None:
        located.append(name)
        return index_name(name)

    monkeypatch.setattr(fetch, "index_name", locating)
    result = run("once", str(config))
    assert looks == {"is_dir": 1, "is_file": 1}  # by check_inputs: not a folder, and there
    assert located == [dump.name]
    assert result.dump is not None and (result.dump.dump, result.dump.index) == (dump, index)
    assert [p.status for p in result.points] == ["completed"]
