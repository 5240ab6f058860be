"""The report's analysis pieces on small exact inputs: Pareto front, dump dates, projections, and reference
runs shown beside a run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tasks.core.records import Metric, PointResult, StageTiming
from tasks.dump.plan import plan_dump
from tasks.report.projection import kl_divergence, pca, tsne
from tasks.report.render import render_report
from tasks.report.sections import pareto_front
from tasks.results.store import Store


def test_pareto_front_keeps_points_nothing_beats_on_both_axes() -> None:
    costs = [10.0, 20.0, 5.0, 30.0, 20.0, 40.0]
    scores = [0.5, 0.4, 0.2, 0.7, 0.6, 0.7]
    assert pareto_front(costs, scores) == [2, 0, 4, 3]  # 1 is beaten by 0; 5 ties 3 but costs more


@pytest.mark.parametrize(
    ("dump", "expected"),
    [
        ("data/dumps/zhwiki-20240601-pages-articles-multistream.xml.bz2", date(2024, 6, 1)),
        (
            "https://dumps.wikimedia.org/zhwiki/20231020/zhwiki-20231020-pages-articles.xml.bz2",
            date(2023, 10, 20),
        ),
        ("data/dumps/zhwiki-latest-pages-articles-multistream.xml.bz2", None),
        ("data/sample/zhwiki-sample-pages-articles-multistream.xml.bz2", None),
        ("zhwiki-20241399-pages-articles.xml.bz2", None),
    ],
)
def test_dump_date_comes_from_the_file_name(dump: str, expected: date | None) -> None:
    source = dump if dump.startswith("https://") else Path(dump)
    assert plan_dump(source, None).date == expected


def test_pca_orders_axes_by_variance_with_stable_signs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [5.0, 2.0, 0.5]
    coords, explained = pca(x, 2)
    flipped, _ = pca(-x, 2)
    assert coords.shape == (200, 2) and explained[0] > explained[1] > 0 and explained.sum() < 1
    assert np.allclose(np.abs(coords[:, 0]), np.abs(x[:, 0] - x[:, 0].mean()), atol=0.5)
    assert np.allclose(coords, -flipped) or np.allclose(coords, flipped)


def test_tsne_separates_clusters_and_lowers_its_objective() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 20)) * 6
    x = np.vstack([c + rng.normal(size=(40, 20)) for c in centres])
    labels = np.repeat([0, 1, 2], 40)
    y = tsne(x, perplexity=15, iterations=300, seed=0)
    assert np.array_equal(y, tsne(x, perplexity=15, iterations=300, seed=0))
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(axis=1)] == labels).mean() == 1.0
    assert kl_divergence(x, y, 15) < 0.5 * kl_divergence(x, rng.normal(size=(120, 2)), 15)
    with pytest.raises(ValueError, match="at most 500 points"):
        tsne(np.zeros((501, 2)))


def _record(store: Store, pipeline: str, kind: str, label: str, accuracy: float) -> str:
    dump = "/d/zhwiki-20240601-pages-articles.xml.bz2"
    run_id = store.start_run(pipeline, {}, dump, "ab" * 32, "c0de", kind=kind, dump_date=date(2024, 6, 1))
    store.add_point(run_id, PointResult(f"{pipeline}-p", label, {"model": "sg"}, "completed", 10, 100))
    store.add_timings(run_id, [StageTiming("train", 12.0, 12.0, 1, 1, 1, 100, "words", f"{pipeline}-p")])
    store.add_metrics(
        run_id, f"{pipeline}-p", [Metric("ca8_semantic", "all", "3cosadd", "ca8", accuracy, 8, 10, 4)]
    )
    store.finish_run(run_id, "completed")
    return run_id


def test_reference_runs_on_the_same_dump_are_shown_marked(tmp_path: Path) -> None:
    with Store(tmp_path / "zhvec.duckdb") as store:
        _record(store, "naive", "reference", "naive-<b>tutorial</b>", 0.25)
        run_id = _record(store, "sample", "pipeline", "sg-d100", 0.5)
        page = render_report(store, run_id, tmp_path / "reports").read_text(encoding="utf-8")
        index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    row = page[page.index('<tr class="ref">') :].split("</tr>")[0]
    assert (
        "<td>naive</td>" in row
        and "naive-&lt;b&gt;tutorial&lt;/b&gt;" in row
        and "25.0 % (cov 80.0 %)" in row
    )
    assert (
        "reference: naive naive-&lt;b&gt;tutorial&lt;\\u002fb&gt;" in page
    )  # Pareto diamond; plotly writes / as \\u002f
    assert "dump date</th><td>2024-06-01" in page.replace("\n", "").replace("  ", "")
    assert "naive <em>(reference)</em>" in index


def test_a_database_from_before_the_tracker_columns_gains_them(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, pipeline VARCHAR NOT NULL, "
            "dump VARCHAR NOT NULL, dump_sha256 VARCHAR NOT NULL, code_version VARCHAR NOT NULL, "
            "host VARCHAR NOT NULL, cores INTEGER, status VARCHAR NOT NULL, "
            "error VARCHAR NOT NULL DEFAULT '', "
            "started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, config JSON NOT NULL)"
        )
        con.execute(
            "INSERT INTO runs VALUES "
            "('r1', 'sample', 'd', 'ab', 'c', 'h', 2, 'completed', '', now(), now(), '{}')"
        )
    with Store(path) as store:
        (old,) = store.runs()
        assert (old["kind"], old["dump_date"], old["flow_run_id"]) == ("pipeline", None, None)
        assert store.artifacts("r1") == []


@pytest.mark.parametrize(
    ("dump", "name"),
    [
        ("/d/zhwiki-20240601-pages-articles-multistream.xml.bz2", "p · dump 2024-06-01 · 2 points"),
        ("/d/zhwiki-latest-pages-articles-multistream.xml.bz2", "p · zhwiki-latest · 2 points"),
    ],
)
def test_flow_run_names_say_pipeline_dump_and_points(dump: str, name: str) -> None:
    from flows.pipeline import describe_run
    from tasks.config import Pipeline

    pipeline = Pipeline.model_validate({"dump": dump, "sweep": {"grid": {"model": ["sg", "cbow"]}}})
    assert describe_run("p", pipeline, plan_dump(Path(dump), None)) == name


def test_a_generated_corpus_run_is_named_synthetic() -> None:
    from flows.pipeline import describe_run
    from tasks.config import Pipeline

    pipeline = Pipeline.model_validate({"synthetic": {}, "sweep": {"grid": {"model": ["sg"]}}})
    assert describe_run("s", pipeline, None) == "s · synthetic · 1 point"
