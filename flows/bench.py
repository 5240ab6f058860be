"""The benchmark flow: on one dump, zhvec (a normal run of the `bench` pipeline), the tutorial pipeline
(benchmarks/naive_pipeline.py, once per model, as it always redoes everything) and the original word2vec.c
on zhvec's corpus, all scored by zhvec's evaluator. The baselines are recorded as a run of their own
(pipeline `<name>-baselines`, config `reference_of` = zhvec's run), so they show in the report and in SQL
like any run; both runs are recorded through flows/record.py."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.pipeline import (
    RunResult,
    check_task_runner,
    hold_workspace,
    project_version,
    run_pipeline,
)
from flows.record import Recorder, record_report, recording
from tasks import stages
from tasks.bench import baselines
from tasks.bench import figures as bench_mod
from tasks.config import ConfigError, Pipeline, Settings, TrainParams, load_settings
from tasks.core.records import Metric, PointResult
from tasks.dump.plan import DumpPlan
from tasks.inputs import check_inputs
from tasks.results.store import REFERENCE_KIND


def check_bench_points(name: str, pl: Pipeline) -> None:
    """The tutorial's training settings are hard-wired: every point must be one of them, or the
    comparison would not be like for like."""
    if pl.synthetic is not None:
        raise ConfigError(f"pipelines.{name}: generates its corpus; the benchmark needs a dump pipeline")
    for p in pl.points():
        expected = baselines.tutorial_params(p.model, p.epochs)
        if p.model_copy(update={"workers": None}) != expected:
            raise ConfigError(
                f"pipelines.{name}.sweep: point {p.label()} differs from the tutorial's settings "
                f"({expected.label()}, sample {expected.sample}, min_count {expected.min_count})"
            )


def _record_baseline(
    recorder: Recorder,
    system: str,
    output: stages.BaselineOutput,
    params: TrainParams,
    metrics: list[Metric],
) -> None:
    point = PointResult(
        point_id=output.key,
        label=f"{system} {params.label()}",
        params=params.model_dump(mode="json") | {"system": system},
        status="completed",
        vocab_size=output.vocab_size,
        train_words=next(t.items for t in output.timings if t.stage == "train"),
        vectors_dir=output.path,
    )
    recorder.point(point, output.timings, metrics)


def run_baselines(
    settings: Settings, name: str, pl: Pipeline, zhvec: RunResult, systems: tuple[str, ...]
) -> str:
    """Run and record the baselines of zhvec's run as one reference run, on the dump and corpus that run
    used; return its id."""
    logger = get_run_logger()
    if zhvec.dump is None:
        raise ConfigError(f"pipelines.{name}: generates its corpus; the benchmark needs a dump pipeline")
    dump, (corpus,) = zhvec.dump, zhvec.corpora
    root = settings.workspace
    workers = pl.workers or os.cpu_count() or 1
    config = {"reference_of": zhvec.run_id, "systems": list(systems), "dump": str(dump.dump)}
    with recording(
        settings.database,
        f"{name}-baselines",
        config,
        str(dump.dump),
        dump.sha256,
        project_version(),
        kind=REFERENCE_KIND,
        dump_date=dump.plan.date,
    ) as recorder:
        for params in pl.points():
            if "tutorial" in systems:
                logger.info("tutorial pipeline, %s", params.model)
                out = stages.tutorial(root, dump.dump, dump.sha256, params.model, params.epochs)
                _, metrics = stages.evaluate(root, out, pl.evaluate)
                _record_baseline(recorder, "tutorial", out, params, metrics)
            if "word2vec_c" in systems:
                logger.info("word2vec.c, %s", params.model)
                out = stages.word2vec_c(root, corpus, params, params.workers or workers)
                _, metrics = stages.evaluate(root, out, pl.evaluate)
                _record_baseline(recorder, "word2vec_c", out, params, metrics)
    return recorder.run_id


def bench(
    pipeline: str,
    config_path: str,
    dump: str,
    systems: tuple[str, ...],
    settings: Settings | None = None,
    around: AbstractContextManager[object] | None = None,
) -> dict[str, Any]:
    """`zhvec bench`: what can fail fast does so before the flow starts (the pipeline's points, inputs,
    the Dask scheduler, a busy workspace); the flow then finds the config loaded and the lock held.
    `around` is entered once those checks pass (the CLI's run log and Prefect API)."""
    settings = settings or load_settings(Path(config_path))
    name, pl = settings.pipeline(pipeline)
    check_bench_points(name, pl)
    plan = check_inputs(name, pl.with_dump(dump))
    check_task_runner(settings)
    with hold_workspace(settings.workspace, name), around or nullcontext():  # it writes stages too
        return run_bench(
            pipeline=name, config_path=config_path, dump=dump, systems=systems, settings=settings, plan=plan
        )


@flow(name="zhvec-bench", flow_run_name="bench-{pipeline}", validate_parameters=False)
def run_bench(
    pipeline: str,
    config_path: str,
    dump: str,
    systems: tuple[str, ...] = bench_mod.BASELINES,
    settings: Settings | None = None,
    plan: DumpPlan | None = None,
) -> dict[str, Any]:
    """Run the comparison on `dump` and return zhvec's run id, the baselines' run id and the comparison.
    `settings` is the config already loaded from `config_path` and `plan` the dump as `check_inputs`
    resolved it, if the caller has them."""
    settings = settings or load_settings(Path(config_path))
    name, pl = settings.pipeline(pipeline)
    check_bench_points(name, pl)
    if "word2vec_c" in systems:
        baselines.word2vec_c_binary()  # fail before hours of work, not after
    with hold_workspace(settings.workspace, name):
        zhvec = run_pipeline(pipeline=name, config_path=config_path, dump=dump, settings=settings, plan=plan)
        ref_id = None
        if systems:  # none: zhvec alone, e.g. another dump size for the projection
            ref_id = run_baselines(settings, name, pl, zhvec, systems)
            report = stages.report(settings.database, zhvec.run_id, settings.reports)  # with the baselines
            record_report(settings.database, zhvec.run_id, report.artifact)
        summary = stages.bench_summary(settings.database, zhvec.run_id, ref_id)
    create_markdown_artifact(
        bench_mod.bench_markdown(summary), key="bench", description=f"zhvec bench {zhvec.run_id}"
    )
    return {"run_id": zhvec.run_id, "baselines_run_id": ref_id, **summary}
