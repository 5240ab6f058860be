"""The main flow: dump → prose → simplified → segmented corpus → one model per sweep point → metrics →
DuckDB → HTML report. It only sequences stages (tasks/stages.py) and hands what they return to the
recorder (flows/record.py), DuckDB's only writer; it holds the workspace lock and submits sweep points to
the configured task runner however it was started (`zhvec run`, `zhvec bench`, a `zhvec serve`
deployment)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
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
from prefect.task_runners import TaskRunner

import flows
import tasks
from flows.record import Recorder, record_report, recording
from tasks import stages
from tasks.config import (
    DASK_ADDRESS_ENV,
    ConfigError,
    Pipeline,
    Settings,
    TrainParams,
    load_settings,
)
from tasks.core.identity import source_version
from tasks.core.records import PointResult
from tasks.core.workspace import workspace_lock
from tasks.dump.plan import DumpPlan
from tasks.inputs import check_inputs
from tasks.vectors.train import TrainTracking

_HELD: ContextVar[frozenset[Path]] = ContextVar("zhvec_held_workspaces", default=frozenset())


@dataclass(frozen=True)
class RunResult:
    """What a run made: its id, its input (None for a generated corpus), the corpora it trained on (the
    segmented dump, or one per synthetic language), its recorded points and its report."""

    run_id: str
    pipeline: str
    dump: stages.DumpInput | None
    corpora: tuple[stages.StageOutput, ...]
    points: tuple[PointResult, ...]
    report: Path


def project_version() -> str:
    """Hash of every task and flow module: the code identity stored with each run."""
    return source_version(tasks, flows)


def describe_run(name: str, pl: Pipeline, plan: DumpPlan | None) -> str:
    """A flow-run name that says what runs: pipeline, dump (its date when the file name has one, from the
    run's plan; None for a generated corpus), points."""
    if plan is None:
        which = "synthetic"
    else:
        which = f"dump {plan.date.isoformat()}" if plan.date else plan.name.split("-pages-")[0]
    count = len(pl.points())
    return f"{name} · {which} · {count} point{'s' if count != 1 else ''}"


def _name_flow_run(name: str) -> None:
    """Give the running flow run its descriptive name, known only once the config is loaded (the flow's
    parameters name the config file, not its contents)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=name)


@contextmanager
def hold_workspace(root: Path, pipeline: str) -> Iterator[None]:
    """Hold the workspace lock (tasks/core/workspace.py) unless this call chain already holds it: the CLI
    takes it before the flow starts so that a busy workspace fails at once, and `zhvec bench` holds it
    across the pipeline run it starts; a run started any other way (a `zhvec serve` deployment) takes it
    here."""
    held = _HELD.get()
    if root in held:
        yield
        return
    with workspace_lock(root, pipeline):
        token = _HELD.set(held | {root})
        try:
            yield
        finally:
            _HELD.reset(token)


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


def check_task_runner(settings: Settings) -> str | None:
    """The Dask scheduler's address for `task_runner: dask`, checked to answer (None: a temporary local
    cluster, or `task_runner: local`)."""
    address = dask_address(settings) if settings.task_runner == "dask" else None
    if address is not None:
        check_dask(address, settings.dask.timeout_s)
    return address


def point_runner(settings: Settings) -> TaskRunner | None:
    """The runner sweep points are submitted to: None for `task_runner: local` (points run one after
    another in the flow), else a DaskTaskRunner on the configured scheduler or on a temporary local
    cluster. The flow builds it itself, so the runs of a deployment use it too."""
    address = check_task_runner(settings)
    if settings.task_runner == "local":
        return None
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address) if address else DaskTaskRunner()


def run(
    pipeline: str | None,
    config_path: str,
    settings: Settings | None = None,
    around: AbstractContextManager[object] | None = None,
) -> RunResult:
    """`zhvec run`: what can fail fast does so before the flow starts (inputs, the Dask scheduler, a busy
    workspace, which fails naming the run that holds it); the flow then finds the config loaded and the
    lock held. `settings` is `config_path` already loaded, if the caller has it; `around` is entered once
    those checks pass (the CLI's run log and Prefect API)."""
    settings = settings or load_settings(Path(config_path))
    name, pl = settings.pipeline(pipeline)
    plan = check_inputs(name, pl)
    check_task_runner(settings)
    with hold_workspace(settings.workspace, name), around or nullcontext():
        return run_pipeline(pipeline=name, config_path=config_path, settings=settings, plan=plan)


def _points(
    runner: TaskRunner | None,
    root: Path,
    corpus: stages.StageOutput,
    vocabs: dict[int, stages.StageOutput],
    pl: Pipeline,
    track: TrainTracking | None,
) -> Iterator[tuple[TrainParams, stages.PointOutput | Exception]]:
    """Each point's outcome in sweep order: one after another in the flow, or all submitted at once to the
    runner (Dask) and collected in order. `vocabs` holds the corpus's vocabulary per min_count."""
    formats = pl.sweep.formats
    if runner is None:
        for params in pl.points():
            try:
                words = vocabs[params.min_count]
                yield params, stages.point(root, corpus, words, params, pl.evaluate, track, formats)
            except Exception as exc:  # one bad point must not sink the sweep; it is recorded as failed
                yield params, exc
        return
    shared = {"root": root, "corpus": corpus, "sets": pl.evaluate, "track": track, "formats": formats}
    futures = [
        (p, runner.submit(stages.point, {**shared, "words": vocabs[p.min_count], "params": p}))
        for p in pl.points()
    ]
    for params, future in futures:
        try:
            yield params, future.result()
        except Exception as exc:
            yield params, exc


def _record_point(
    recorder: Recorder,
    pid: str,
    params: TrainParams,
    outcome: stages.PointOutput | Exception,
    language: str | None = None,
) -> PointResult:
    logger = get_run_logger()
    label = params.label() if language is None else f"{language}:{params.label()}"
    if isinstance(outcome, Exception):
        logger.error("point %s failed: %s", label, outcome)
        error = str(outcome) or type(outcome).__name__
        failed = PointResult(pid, label, params.model_dump(mode="json"), "failed", error=error)
        recorder.point(failed)
        return failed
    model, metrics = outcome.model, outcome.metrics
    point = PointResult(
        point_id=pid,
        label=label,
        params=params.model_dump(mode="json"),
        status="completed",
        vocab_size=model.vocab_size,
        train_words=model.trained_words,
        vectors_dir=model.path,
    )
    recorder.point(point, outcome.timings, metrics, model.epochs, outcome.artifacts)
    headline = {
        m.eval_set: round(m.value, 4)
        for m in metrics
        if m.category == "all" and m.method in ("3cosadd", "spearman", "spearman-alphabet")
    }
    logger.info("point %s: %s", label, headline)
    return point


def preprocess(
    root: Path, pl: Pipeline, dump: stages.DumpInput, workers: int
) -> tuple[stages.StageOutput, stages.StageOutput, stages.StageOutput]:
    """Dump → prose → simplified → segmented corpus (each stage skipped when its output exists)."""
    text = stages.extract(root, dump.dump, dump.sha256, dump.index, pl.extract, workers)
    simplified = stages.convert(root, text, pl.convert.config, workers)
    return text, simplified, stages.segment(root, simplified, pl.segment, workers, pl.evaluate)


def vocabularies(
    root: Path, corpus: stages.StageOutput, pl: Pipeline, workers: int
) -> dict[int, stages.StageOutput]:
    """The corpus's vocabulary for each min_count of the sweep: one count shared by all points using it."""
    counts = sorted({p.min_count for p in pl.points()})
    return {min_count: stages.vocab(root, corpus, min_count, workers) for min_count in counts}


@flow(name="zhvec", flow_run_name="{pipeline}", validate_parameters=False)
def run_pipeline(
    pipeline: str,
    config_path: str,
    dump: str | None = None,
    settings: Settings | None = None,
    plan: DumpPlan | None = None,
) -> RunResult:
    """Run one named pipeline from `pipelines.yaml` (on `dump` instead of its own, if given). `settings` is
    the config already loaded from `config_path` and `plan` its dump as `check_inputs` resolved it (the CLI
    and the bench pass both); a deployment passes only the path, and the config is loaded and its inputs
    checked here: once per run either way (a generated corpus has no plan: its input files are checked
    again)."""
    settings = settings or load_settings(Path(config_path))
    name, pl = settings.pipeline(pipeline)
    if dump is not None:
        pl = pl.with_dump(dump)
    if plan is None:
        plan = check_inputs(name, pl)
    _name_flow_run(describe_run(name, pl, plan))
    runner = point_runner(settings)
    with hold_workspace(settings.workspace, name), runner or nullcontext():
        return _run(settings, name, pl, plan, runner)


def _run(
    settings: Settings, name: str, pl: Pipeline, plan: DumpPlan | None, runner: TaskRunner | None
) -> RunResult:
    logger = get_run_logger()
    workers = pl.workers or os.cpu_count() or 1
    root = settings.workspace
    dump_input: stages.DumpInput | None = None
    if plan is not None:
        dump_input = stages.fetch(root, plan)
        source, identity = str(plan.source), dump_input.sha256
    elif pl.synthetic is not None:  # a generated corpus: identified by its generator's settings
        source, identity = "synthetic", stages.synthetic_identity(pl.synthetic)
    resolved = {
        "pipeline": name,
        **pl.model_dump(mode="json"),
        "points": [p.model_dump(mode="json") for p in pl.points()],
    }
    version = project_version()
    with recording(
        settings.database,
        name,
        resolved,
        source,
        identity,
        version,
        flow_run_id=flow_run.id,
        dump_date=plan.date if plan is not None else None,
    ) as recorder:
        logger.info(
            "run %s: pipeline %s, %d sweep points, %d workers",
            recorder.run_id,
            name,
            len(pl.points()),
            workers,
        )
        corpora: list[tuple[str | None, stages.StageOutput]]
        if dump_input is not None:
            text, simplified, corpus = preprocess(root, pl, dump_input, workers)
            corpora, timings = [(None, corpus)], [text.timing, simplified.timing, corpus.timing]
        elif pl.synthetic is not None:
            corpora = [(lang, stages.synthesize(root, pl.synthetic, lang)) for lang in pl.synthetic.languages]
            timings = [c.timing for _, c in corpora]
        recorder.timings(timings)
        track = stages.tracking(pl.evaluate, pl.sweep)
        total = len(pl.points()) * len(corpora)
        progress = create_progress_artifact(0.0, description=f"sweep points done of {total} ({name})")
        points = []
        for language, corpus in corpora:  # one corpus, or one per synthetic language
            vocabs = vocabularies(root, corpus, pl, workers)
            recorder.timings([v.timing for v in vocabs.values()])
            for params, outcome in _points(runner, root, corpus, vocabs, pl, track):
                pid = stages.point_id(corpus, params)
                points.append(_record_point(recorder, pid, params, outcome, language))
                update_progress_artifact(progress, 100.0 * len(points) / total)
    run_id = recorder.run_id
    report = stages.report(settings.database, run_id, settings.reports)
    record_report(settings.database, run_id, report.artifact)
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower())  # artifact keys allow only these
    description = f"zhvec {name} run {run_id}"
    create_table_artifact(report.leaderboard, key=f"{slug}-leaderboard", description=description)
    create_markdown_artifact(
        report.best_markdown, key=f"{slug}-best", description=f"best point of {description}"
    )
    create_link_artifact(report.path.as_uri(), link_text=f"HTML report of run {run_id}", key=f"{slug}-report")
    logger.info("report: %s", report.path)
    return RunResult(run_id, name, dump_input, tuple(c for _, c in corpora), tuple(points), report.path)
