"""The main flow: dump → prose → simplified → segmented corpus → one model per sweep point → metrics →
DuckDB → HTML report. It only sequences stages and records what they return; it is DuckDB's only writer."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run

from tasks import stages
from tasks.config import (
    DASK_ADDRESS_ENV,
    ConfigError,
    Pipeline,
    Settings,
    TrainParams,
    check_inputs,
    load_settings,
)
from tasks.core.records import ArtifactRecord, PointResult
from tasks.core.workspace import code_version, file_sha256, workspace_lock
from tasks.dump.fetch import DumpFiles
from tasks.report.render import render_report
from tasks.report.sections import summary_markdown
from tasks.results.store import Store, dump_date
from tasks.vectors.train import VECTOR_FILES, TrainTracking


def project_version() -> str:
    """Hash of every task and flow module: the code identity stored with each run."""
    folders = (Path(stages.__file__).parent, Path(__file__).parent)
    return code_version(*sorted(p for folder in folders for p in folder.rglob("*.py")))


def describe_run(name: str, pl: Pipeline) -> str:
    """A flow-run name that says what runs: pipeline, dump (its date when the file name has one), points."""
    if pl.dump is None:
        which = "synthetic"
    else:
        date = dump_date(str(pl.dump))
        which = f"dump {date.isoformat()}" if date else Path(str(pl.dump)).name.split("-pages-")[0]
    count = len(pl.points())
    return f"{name} · {which} · {count} point{'s' if count != 1 else ''}"


def flow_run_name() -> str:
    """Prefect calls this when the run starts; a config that fails to load is reported by the flow itself,
    so the name then falls back to the pipeline parameter."""
    params = flow_run.parameters
    try:
        name, pl = load_settings(Path(params["config_path"])).pipeline(params["pipeline"])
    except ConfigError:
        return str(params["pipeline"])
    return describe_run(name, pl.with_dump(params["dump"]) if params.get("dump") else pl)


def file_artifacts(files: dict[Path, str], point_id: str | None) -> list[ArtifactRecord]:
    """Identity (size, SHA-256) of the files that exist among `files` (path → kind), so a copied model or
    report can be checked against the run that made it."""
    return [
        ArtifactRecord(str(path), kind, file_sha256(path), path.stat().st_size, point_id)
        for path, kind in files.items()
        if path.is_file()
    ]


def dask_address(settings: Settings) -> str | None:
    """The scheduler to use: $ZHVEC_DASK_ADDRESS, else `dask.address`, else None (a temporary cluster)."""
    return os.environ.get(DASK_ADDRESS_ENV) or settings.dask.address


def check_dask(address: str, timeout_s: float) -> None:
    """Fail before any work when the configured scheduler does not answer."""
    from distributed import Client

    try:
        Client(address, timeout=f"{timeout_s}s").close()
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"dask.address / ${DASK_ADDRESS_ENV}: no Dask scheduler reachable at {address!r} ({exc})"
        ) from None


def run(pipeline: str, config_path: str) -> str:
    """Run `run_pipeline` on the configured task runner (checking a Dask scheduler first), holding the
    workspace lock: a second run on the same workspace fails at once, naming this one."""
    settings = load_settings(Path(config_path))
    flow_fn = run_pipeline
    if settings.task_runner != "local":
        from prefect_dask import DaskTaskRunner

        address = dask_address(settings)
        if address is not None:
            check_dask(address, settings.dask.timeout_s)
        runner = DaskTaskRunner(address=address) if address else DaskTaskRunner()
        flow_fn = run_pipeline.with_options(task_runner=runner)
    with workspace_lock(settings.workspace, pipeline):
        return flow_fn(pipeline=pipeline, config_path=config_path)


def _points(
    settings: Settings,
    root: Path,
    corpus: stages.StageOutput,
    pl: Pipeline,
    track: TrainTracking | None,
) -> Iterator[tuple[TrainParams, stages.PointOutput | Exception]]:
    """Each point's outcome in sweep order: one after another locally, or all submitted at once to the
    flow's task runner (Dask) and collected in order."""
    if settings.task_runner == "local":
        for params in pl.points():
            try:
                yield params, stages.point(root, corpus, params, pl.evaluate, track)
            except Exception as exc:  # one bad point must not sink the sweep; it is recorded as failed
                yield params, exc
        return
    futures = [(p, stages.point.submit(root, corpus, p, pl.evaluate, track)) for p in pl.points()]
    for params, future in futures:
        try:
            yield params, future.result()
        except Exception as exc:
            yield params, exc


def _record_point(
    db: Path,
    run_id: str,
    pid: str,
    params: TrainParams,
    outcome: stages.PointOutput | Exception,
    language: str | None = None,
) -> None:
    logger = get_run_logger()
    label = params.label() if language is None else f"{language}:{params.label()}"
    if isinstance(outcome, Exception):
        logger.error("point %s failed: %s", label, outcome)
        error = str(outcome) or type(outcome).__name__
        failed = PointResult(pid, label, params.model_dump(mode="json"), "failed", error=error)
        with Store(db) as store:
            store.add_point(run_id, failed)
        return
    model, scored, metrics = outcome.model, outcome.scored, outcome.metrics
    point = PointResult(
        point_id=pid,
        label=label,
        params=params.model_dump(mode="json"),
        status="completed",
        vocab_size=int(model.stats["vocab_size"]),
        train_words=int(model.stats["trained_words"]),
        vectors_dir=model.path,
    )
    with Store(db) as store:
        store.add_point(run_id, point)
        checked = [outcome.checked.timing] if outcome.checked is not None else []
        store.add_timings(run_id, [model.timing, scored.timing, *checked])
        store.add_metrics(run_id, pid, metrics)
        store.add_epochs(run_id, pid, model.stats.get("epochs", []))
        vectors = {Path(model.path) / f: "vectors-" + f.rsplit(".", 1)[-1] for f in VECTOR_FILES}
        store.add_artifacts(run_id, file_artifacts(vectors, pid))
    headline = {
        m.eval_set: round(m.value, 4)
        for m in metrics
        if m.category == "all" and m.method in ("3cosadd", "spearman", "spearman-alphabet")
    }
    logger.info("point %s: %s", label, headline)


def preprocess(
    root: Path, pl: Pipeline, files: DumpFiles, dump_sha: str, workers: int
) -> tuple[stages.StageOutput, stages.StageOutput, stages.StageOutput]:
    """Dump → prose → simplified → segmented corpus (each stage skipped when its output exists)."""
    text = stages.extract(root, files.dump, dump_sha, files.index, pl.extract, workers)
    simplified = stages.convert(root, text, pl.convert.config, workers)
    return text, simplified, stages.segment(root, simplified, pl.segment, workers, pl.evaluate)


@flow(name="zhvec", flow_run_name=flow_run_name, validate_parameters=False)
def run_pipeline(pipeline: str, config_path: str, dump: str | None = None) -> str:
    """Run one named pipeline from `pipelines.yaml` (on `dump` instead of its own, if given) and return the
    run id."""
    logger = get_run_logger()
    settings: Settings = load_settings(Path(config_path))
    name, pl = settings.pipeline(pipeline)
    if dump is not None:
        pl = pl.with_dump(dump)
    check_inputs(name, pl)
    workers = pl.workers or os.cpu_count() or 1
    root, db = settings.workspace, settings.database
    if pl.dump is not None:
        files = stages.fetch(root, pl.dump, pl.index)
        source, dump_sha = str(pl.dump), file_sha256(files.dump)
    else:  # a generated corpus: identified by its generator's settings
        settings_json = json.dumps(pl.model_dump(mode="json")["synthetic"], sort_keys=True)
        source, dump_sha = "synthetic", hashlib.sha256(settings_json.encode()).hexdigest()
    resolved = {
        "pipeline": name,
        **pl.model_dump(mode="json"),
        "points": [p.model_dump(mode="json") for p in pl.points()],
    }
    with Store(db) as store:
        run_id = store.start_run(name, resolved, source, dump_sha, project_version(), flow_run_id=flow_run.id)
    logger.info("run %s: pipeline %s, %d sweep points, %d workers", run_id, name, len(pl.points()), workers)
    try:
        if pl.synthetic is not None:
            corpora = [stages.synthesize(root, pl.synthetic, lang) for lang in pl.synthetic.languages]
            timings = [c.timing for c in corpora]
        else:
            text, simplified, corpus = preprocess(root, pl, files, dump_sha, workers)
            corpora, timings = [corpus], [text.timing, simplified.timing, corpus.timing]
        with Store(db) as store:
            store.add_timings(run_id, timings)
        track = stages.tracking(pl.evaluate, pl.sweep)
        total = len(pl.points()) * len(corpora)
        progress = create_progress_artifact(0.0, description=f"sweep points done of {total} ({name})")
        done = 0
        for corpus in corpora:  # one corpus, or one per synthetic language
            language = corpus.stats.get("language")
            for params, outcome in _points(settings, root, corpus, pl, track):
                pid = stages.point_id(corpus, params, track)
                _record_point(db, run_id, pid, params, outcome, language)
                done += 1
                update_progress_artifact(progress, 100.0 * done / total)
        with Store(db) as store:
            store.finish_run(run_id, "completed")
            report = render_report(store, run_id, settings.reports)
            store.add_artifacts(run_id, file_artifacts({report: "report"}, None))
            board = store.leaderboard(run_id)
            best = summary_markdown(store, run_id)
    except BaseException as exc:
        with Store(db) as store:
            store.finish_run(run_id, "failed", error=str(exc) or type(exc).__name__)
        raise
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower())  # artifact keys allow only these
    create_table_artifact(board, key=f"{slug}-leaderboard", description=f"zhvec {name} run {run_id}")
    create_markdown_artifact(best, key=f"{slug}-best", description=f"best point of zhvec {name} run {run_id}")
    create_link_artifact(report.as_uri(), link_text=f"HTML report of run {run_id}", key=f"{slug}-report")
    logger.info("report: %s", report)
    return run_id
