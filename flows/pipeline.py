"""The main flow: dump → prose → simplified → segmented corpus → one model per sweep point → metrics →
DuckDB → HTML report. It only sequences stages and records what they return; it is DuckDB's only writer."""

from __future__ import annotations

import os
import re
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_table_artifact

from tasks import stages
from tasks.config import Pipeline, Settings, TrainParams, check_inputs, load_settings
from tasks.extract import find_index
from tasks.records import PointResult
from tasks.report import render_report
from tasks.store import Store
from tasks.workspace import code_version, file_sha256


def project_version() -> str:
    """Hash of every task and flow module: the code identity stored with each run."""
    folders = (Path(stages.__file__).parent, Path(__file__).parent)
    return code_version(*sorted(p for folder in folders for p in folder.glob("*.py")))


def _train_and_evaluate(
    root: Path, db: Path, run_id: str, corpus: stages.StageOutput, pl: Pipeline, params: TrainParams
) -> None:
    logger = get_run_logger()
    pid = stages.point_id(corpus, params)
    try:
        model = stages.train(root, corpus, params)
        scored, metrics = stages.evaluate(root, model, pl.evaluate)
    except Exception as exc:  # one bad point must not sink the sweep; it is recorded as failed
        logger.error("point %s failed: %s", params.label(), exc)
        failed = PointResult(pid, params.label(), params.model_dump(mode="json"), "failed", error=str(exc))
        with Store(db) as store:
            store.add_point(run_id, failed)
        return
    point = PointResult(
        point_id=pid,
        label=params.label(),
        params=params.model_dump(mode="json"),
        status="completed",
        vocab_size=int(model.stats["vocab_size"]),
        train_words=int(model.stats["trained_words"]),
        vectors_dir=model.path,
    )
    with Store(db) as store:
        store.add_point(run_id, point)
        store.add_timings(run_id, [model.timing, scored.timing])
        store.add_metrics(run_id, pid, metrics)
    headline = {
        m.eval_set: round(m.value, 4)
        for m in metrics
        if m.category == "all" and m.method in ("3cosadd", "spearman")
    }
    logger.info("point %s: %s", params.label(), headline)


@flow(name="zhvec", flow_run_name="{pipeline}", validate_parameters=False)
def run_pipeline(pipeline: str, config_path: str) -> str:
    """Run one named pipeline from `pipelines.yaml` and return the run id."""
    logger = get_run_logger()
    settings: Settings = load_settings(Path(config_path))
    name, pl = settings.pipeline(pipeline)
    check_inputs(name, pl)
    workers = pl.workers or os.cpu_count() or 1
    root, db = settings.workspace, settings.database
    dump_sha = file_sha256(pl.dump)
    resolved = {
        "pipeline": name,
        **pl.model_dump(mode="json"),
        "points": [p.model_dump(mode="json") for p in pl.points()],
    }
    with Store(db) as store:
        run_id = store.start_run(name, resolved, str(pl.dump), dump_sha, project_version())
    logger.info("run %s: pipeline %s, %d sweep points, %d workers", run_id, name, len(pl.points()), workers)
    try:
        text = stages.extract(root, pl.dump, dump_sha, pl.index or find_index(pl.dump), pl.extract, workers)
        simplified = stages.convert(root, text, pl.convert.config, workers)
        corpus = stages.segment(root, simplified, pl.segment, workers)
        with Store(db) as store:
            store.add_timings(run_id, [text.timing, simplified.timing, corpus.timing])
        for params in pl.points():
            _train_and_evaluate(root, db, run_id, corpus, pl, params)
        with Store(db) as store:
            store.finish_run(run_id, "completed")
            report = render_report(store, run_id, settings.reports)
            board = store.leaderboard(run_id)
    except BaseException as exc:
        with Store(db) as store:
            store.finish_run(run_id, "failed", error=str(exc) or type(exc).__name__)
        raise
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower())  # artifact keys allow only these
    create_table_artifact(board, key=f"{slug}-leaderboard", description=f"zhvec {name} run {run_id}")
    create_link_artifact(f"file://{report}", link_text=f"HTML report of run {run_id}", key=f"{slug}-report")
    logger.info("report: %s", report)
    return run_id
