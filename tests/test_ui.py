"""What users look at, end to end: one flow run over a tiny dump whose corpus carries
`<script>alert(1)</script>`, then the report in headless Chromium, the escaping, the Prefect artifacts and
flow-run name, the results store's tracker tables, Parquet export, and a scheduled deployment read back from
the API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from benchmarks.dumpgen import DumpPage, write_dump
from flows.cli import main
from flows.pipeline import run_pipeline
from tasks.config import ConfigError, load_settings
from tasks.core.workspace import file_sha256
from tasks.results.store import TABLES, VIEWS
from tasks.vectors.evaluate import load_vectors
from tests.browser import chromium, open_page
from tests.configs import EVAL_DIR, OUTPUTS

REPO = Path(__file__).resolve().parents[1]
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
DUMP_NAME = "zhwiki-20240101-pages-articles-multistream.xml.bz2"
CONFIG = (
    OUTPUTS
    + """
default: hostile
pipelines:
  hostile:
    dump: {root}/{dump}
    segment: {{drop: []}}
    schedule: "0 3 * * 1"
    sweep:
      base: {{vector_size: 16, min_count: 2, epochs: 2, negative: 5, sample: 0.001, seed: 3}}
      grid: {{model: [sg, cbow]}}
      probes: [[script, alert], ["{hostile}", 脚本]]
    evaluate:
      analogy:
        ca8_semantic: {eval}/ca8/semantic.txt
        ca_translated: {eval}/ca8/ca_translated.txt
      similarity:
        wordsim240: {eval}/wordsim/wordsim-240.txt
"""
)


def hostile_dump(path: Path) -> None:
    """118 real zhwiki paragraphs as articles, plus one whose title and prose hold the hostile string (the
    prose as wikitext writes it, entity-escaped, and bold; both survive extraction as literal text)."""
    paragraphs = (REPO / "tests" / "fixtures" / "text" / "zhwiki_paragraphs.txt").read_text(encoding="utf-8")
    pages = [DumpPage(f"段落{i}", 0, i + 1, p) for i, p in enumerate(paragraphs.splitlines()) if p.strip()]
    text = f"'''{HOSTILE}'''是一段脚本。网页中的 &lt;script&gt;alert(1)&lt;/script&gt; 会执行 alert 。"
    pages.append(DumpPage(HOSTILE, 0, 10_000, "\n\n".join([text] * 6)))
    write_dump(pages, path, multistream=True)


@pytest.fixture(scope="module")
def run(prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("ui")
    hostile_dump(root / DUMP_NAME)
    config = root / "pipelines.yaml"
    config.write_text(
        CONFIG.format(root=root, dump=DUMP_NAME, hostile=HOSTILE, eval=EVAL_DIR),
        encoding="utf-8",
    )
    return root, run_pipeline(pipeline="hostile", config_path=str(config)).run_id


def query(root: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "work" / "zhvec.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def page_of(root: Path, run_id: str) -> Path:
    return root / "reports" / "hostile" / run_id / "index.html"


CHART_PROBE = """(() => {
  const charts = Array.from(document.querySelectorAll('.plotly-graph-div'));
  const table = document.getElementById('sweep-table');
  const header = Array.from(table.querySelectorAll('th')).find(th => th.textContent === 'vocab');
  header.click();
  const vocab = Array.from(table.querySelectorAll('tr')).slice(1)
    .map(r => Number(r.children[3].dataset.sort));
  return {
    charts: charts.length,
    rendered: charts.filter(d => d.querySelector('.main-svg')).length,
    ids: Array.from(document.querySelectorAll('section')).map(s => s.id),
    vocab: vocab,
  };
})()"""


def test_report_renders_in_headless_chromium_without_errors(run: tuple[Path, str]) -> None:
    binary = chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: .ci/run must install it")
        pytest.skip("chromium is not installed (CI installs it in .ci/run)")
    root, run_id = run
    report = open_page(page_of(root, run_id), CHART_PROBE, binary)
    assert report.errors == []
    probe = report.probe
    # stage wall, throughput, analogy, similarity, effects, Pareto, heatmap, curves, PCA 2D + 3D, t-SNE,
    # trend
    assert probe["charts"] == 12 and probe["rendered"] == probe["charts"]
    assert probe["ids"][:3] == ["summary", "timings", "sweep"] and "references" in probe["ids"]
    assert probe["vocab"] == sorted(probe["vocab"]) and len(probe["vocab"]) == 2


def test_hostile_corpus_text_is_escaped_in_the_report(run: tuple[Path, str]) -> None:
    root, run_id = run
    page = page_of(root, run_id).read_text(encoding="utf-8")
    words = {
        w
        for (d,) in query(root, "SELECT vectors_dir FROM points WHERE run_id = ?", run_id)
        for w in load_vectors(Path(str(d)) / "vectors.kv").index
    }
    assert {
        "<",
        "/",
        ">",
        "script",
        "alert",
    } <= words  # the corpus really carried the markup into the vocabulary
    assert HOSTILE not in page and "<script>alert" not in page
    assert f"<td>{ESCAPED}</td>" in page  # the hostile probe word, in the neighbours table
    charts = page.split("Plotly.newPlot")[1:]
    assert any('"&lt;"' in chart for chart in charts)  # the token `<` as a chart label (PCA / t-SNE)
    opened = page.count("<script")
    assert opened == page.count("</script>") == 1 + 12 + 1  # plotly.js, one per chart, the table sorter


def test_prefect_lists_the_runs_artifacts_and_a_descriptive_name(run: tuple[Path, str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    root, run_id = run
    ((flow_run_id,),) = query(root, "SELECT flow_run_id FROM runs WHERE run_id = ?", run_id)
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(str(flow_run_id))
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    assert flow_run.name == "hostile · dump 2024-01-01 · 2 points"
    # Prefect stores a link artifact as markdown holding the link
    assert sorted((a.key or "", a.type or "") for a in found) == [
        ("", "progress"),
        ("hostile-best", "markdown"),
        ("hostile-leaderboard", "table"),
        ("hostile-report", "markdown"),
    ]
    by_key = {a.key or "": a for a in found}
    assert by_key[""].data == 100.0
    assert by_key["hostile-report"].data == f"[HTML report of run {run_id}]({page_of(root, run_id).as_uri()})"
    board = json.loads(str(by_key["hostile-leaderboard"].data))
    assert [row["label"] for row in board] == ["sg-d16-w5-n5-e2", "cbow-d16-w5-n5-e2"]
    markdown = str(by_key["hostile-best"].data)
    assert "Best point" in markdown and ESCAPED in markdown and HOSTILE not in markdown


def test_runs_and_artifacts_are_recorded_like_an_experiment_tracker(run: tuple[Path, str]) -> None:
    root, run_id = run
    ((day, kind, host, cores, status),) = query(
        root, "SELECT dump_date, kind, host, cores, status FROM runs WHERE run_id = ?", run_id
    )
    assert (str(day), kind, status) == ("2024-01-01", "pipeline", "completed") and host and cores
    files = query(root, "SELECT point_id, path, kind, sha256, bytes FROM artifacts WHERE run_id = ?", run_id)
    kinds = sorted(str(k) for _, _, k, _, _ in files)
    assert kinds == ["report", *["vectors-bin"] * 2, *["vectors-kv"] * 2]  # vectors-txt: opt-in
    for point_id, path, kind, sha, size in files:
        assert (point_id is None) == (kind == "report")
        assert sha == file_sha256(Path(str(path))) and size == Path(str(path)).stat().st_size
    params = query(root, "SELECT name, value FROM params WHERE run_id = ? ORDER BY name", run_id)
    assert ("model", '"cbow"') in params and ("vector_size", "16") in params


def test_export_writes_every_table_and_view_as_parquet(
    run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = run
    assert main(["export", "--parquet", str(tmp_path / "pq"), "--config", str(root / "pipelines.yaml")]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == [f"{name}.parquet" for name in (*TABLES, *VIEWS)]
    for name in (*TABLES, *VIEWS):
        (expected,) = query(root, f"SELECT count(*) FROM {name}")[0]
        got = duckdb.execute(f"SELECT count(*) FROM '{tmp_path / 'pq' / name}.parquet'").fetchone()
        assert got == (expected,)


def test_schedule_deployment_reads_back_from_the_api(run: tuple[Path, str]) -> None:
    from prefect.client.orchestration import get_client

    from flows.schedule import scheduled_deployments

    root, _ = run
    config = root / "pipelines.yaml"
    (deployment,) = scheduled_deployments(load_settings(config), config)
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
    assert stored.name == "hostile"
    assert [s.schedule.cron for s in stored.schedules] == ["0 3 * * 1"]  # type: ignore[union-attr]
    assert stored.parameters == {"pipeline": "hostile", "config_path": str(config.resolve())}


def test_bad_cron_is_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        "default: p\npipelines:\n  p: {dump: x.bz2, schedule: '61 * * * *'}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(err.value) == (
        f"{config}: pipelines.p.schedule: not a valid cron expression: '61 * * * *' "
        "(minute hour day month weekday)"
    )


def test_serve_without_any_schedule_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text("default: p\npipelines:\n  p: {dump: x.bz2}\n", encoding="utf-8")
    assert main(["serve", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"zhvec serve: error: {config}: no pipeline has a `schedule:` (a cron expression) to serve"
    )
