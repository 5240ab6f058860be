"""The benchmark flow: on one dump, zhvec (a normal run of the `bench` pipeline), the tutorial pipeline
(benchmarks/naive_pipeline.py, once per model, as it always redoes everything) and the original word2vec.c
on zhvec's corpus, all scored by zhvec's evaluator. The baselines are recorded as a run of their own
(pipeline `<name>-baselines`, config `reference_of` = zhvec's run), so they show in the report and in SQL
like any run. Only this process writes DuckDB."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.pipeline import preprocess, project_version, run_pipeline
from tasks import stages
from tasks.bench import baselines
from tasks.bench import figures as bench_mod
from tasks.config import ConfigError, Pipeline, Settings, TrainParams, load_settings
from tasks.core.records import PointResult, StageTiming
from tasks.dump.fetch import DumpFiles
from tasks.report.render import render_report
from tasks.results.store import REFERENCE_KIND, Store


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
    store: Store,
    ref_id: str,
    system: str,
    output: stages.StageOutput,
    params: TrainParams,
    timings: list[StageTiming],
) -> None:
    point = PointResult(
        point_id=output.key,
        label=f"{system} {params.label()}",
        params=params.model_dump(mode="json") | {"system": system},
        status="completed",
        vocab_size=int(output.stats["vocab"]),
        train_words=next(t.items for t in timings if t.stage == "train"),
        vectors_dir=output.path,
    )
    store.add_point(ref_id, point)
    store.add_timings(ref_id, timings)


def run_baselines(
    settings: Settings,
    name: str,
    pl: Pipeline,
    files: DumpFiles,
    dump_sha: str,
    corpus: stages.StageOutput,
    run_id: str,
    systems: tuple[str, ...],
) -> str:
    """Run and record the baselines of zhvec's run `run_id` as one reference run; return its id."""
    logger = get_run_logger()
    root, db = settings.workspace, settings.database
    workers = pl.workers or os.cpu_count() or 1
    config = {"reference_of": run_id, "systems": list(systems), "dump": str(files.dump)}
    with Store(db) as store:
        ref_id = store.start_run(
            f"{name}-baselines", config, str(files.dump), dump_sha, project_version(), kind=REFERENCE_KIND
        )
    try:
        for params in pl.points():
            if "tutorial" in systems:
                logger.info("tutorial pipeline, %s", params.model)
                out = stages.tutorial(root, files.dump, dump_sha, params.model, params.epochs)
                timings = baselines.tutorial_timings(
                    out.stats, files.dump.stat().st_size, params.epochs, out.key
                )
                _, metrics = stages.evaluate(root, out, pl.evaluate)
                with Store(db) as store:
                    _record_baseline(store, ref_id, "tutorial", out, params, timings)
                    store.add_metrics(ref_id, out.key, metrics)
            if "word2vec_c" in systems:
                logger.info("word2vec.c, %s", params.model)
                out = stages.word2vec_c(root, corpus, params, params.workers or workers)
                train = replace(out.timing, stage="train", point_id=out.key)
                _, metrics = stages.evaluate(root, out, pl.evaluate)
                with Store(db) as store:
                    _record_baseline(store, ref_id, "word2vec_c", out, params, [train])
                    store.add_metrics(ref_id, out.key, metrics)
        with Store(db) as store:
            store.finish_run(ref_id, "completed")
    except BaseException as exc:
        with Store(db) as store:
            store.finish_run(ref_id, "failed", error=str(exc) or type(exc).__name__)
        raise
    return ref_id


@flow(name="zhvec-bench", flow_run_name="bench-{pipeline}", validate_parameters=False)
def run_bench(
    pipeline: str,
    config_path: str,
    dump: str,
    systems: tuple[str, ...] = bench_mod.BASELINES,
) -> dict[str, Any]:
    """Run the comparison on `dump` and return zhvec's run id, the baselines' run id and the comparison."""
    settings = load_settings(Path(config_path))
    name, pl = settings.pipeline(pipeline)
    check_bench_points(name, pl)
    pl = pl.with_dump(dump)
    if "word2vec_c" in systems:
        baselines.word2vec_c_binary()  # fail before hours of work, not after
    run_id = run_pipeline(pipeline=name, config_path=config_path, dump=dump)
    with Store(settings.database) as store:
        run = store.run(run_id)
    ref_id = None
    if systems:  # none: zhvec alone, e.g. another dump size for the projection
        root, workers = settings.workspace, pl.workers or os.cpu_count() or 1
        files = stages.fetch(root, pl.dump, pl.index)
        dump_sha = run["dump_sha256"]  # hashed by the run above; a full dump takes seconds to hash again
        corpus = preprocess(root, pl, files, dump_sha, workers)[2]  # done by the run above: found, not redone
        ref_id = run_baselines(settings, name, pl, files, dump_sha, corpus, run_id, systems)
    with Store(settings.database) as store:
        summary = bench_mod.summary(store, run, ref_id)
        if ref_id is not None:
            render_report(store, run_id, settings.reports)  # now with the baselines as reference rows
    create_markdown_artifact(bench_markdown(summary), key="bench", description=f"zhvec bench {run_id}")
    return {"run_id": run_id, "baselines_run_id": ref_id, **summary}


def bench_markdown(summary: dict[str, Any]) -> str:
    """The comparison as a Markdown table for the Prefect UI."""
    lines = ["| model | system | preprocess s | train s | words/s | mean score | speed-up (preprocess) |"]
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for model, row in summary["models"].items():
        for system, s in row["systems"].items():
            speed = row.get("speedup", {}).get("preprocess") if system == "zhvec" else ""
            lines.append(
                f"| {model} | {system} | {s['preprocess_s']} | {s['train_s']} | {s['train_words_per_s']:,} "
                f"| {s['mean_score']} | {speed or ''} |"
            )
    return "\n".join(lines)
