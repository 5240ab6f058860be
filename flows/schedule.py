"""Scheduled runs: one Prefect deployment per pipeline that has a `schedule:` (cron) in `pipelines.yaml`.

`zhvec serve` hands these to `prefect.serve`, which registers them with the API and runs each on its
schedule in this process; the Prefect UI then lists the deployments, their next runs and every flow run.
"""

from __future__ import annotations

from pathlib import Path

from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from flows.pipeline import run_pipeline
from tasks.config import Settings


def scheduled_deployments(settings: Settings, config_path: Path) -> list[RunnerDeployment]:
    """A deployment named after each scheduled pipeline, running `run_pipeline` with the absolute config
    path (the served process may start elsewhere) on the pipeline's cron, in UTC. The flow loads the
    config, takes the workspace lock and builds the configured task runner itself, so these runs do as
    `zhvec run` does. The entrypoint is the module path (`flows.pipeline.run_pipeline`), not a file: the
    flow then pickles by reference when it ships points to Dask workers, and serving works from any
    folder."""
    config = str(config_path.resolve())
    return [
        run_pipeline.to_deployment(
            name=name,
            cron=pl.schedule,
            parameters={"pipeline": name, "config_path": config},
            description=pl.description or f"zhvec pipeline {name}",
            tags=["zhvec", name],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for name, pl in settings.pipelines.items()
        if pl.schedule is not None
    ]
