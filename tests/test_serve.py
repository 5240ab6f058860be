"""A run started by a `zhvec serve` deployment does what `zhvec run` does: the deployment's flow, loaded from
its entrypoint and called with its parameters as the served process calls it, loads the config once, holds
the workspace lock and submits its points to the configured task runner."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tasks.config
from flows.cli import main
from flows.schedule import scheduled_deployments
from tasks.config import Settings, load_settings
from tasks.core.workspace import LOCK, WorkspaceBusy
from tasks.results.store import Store
from tests.configs import EVAL_DIR, HOLD_LOCK, OUTPUTS, TINY_DUMP, TWO_EVAL_SETS

REPO = Path(__file__).resolve().parents[1]

CONFIG = (
    OUTPUTS
    + """
default: tiny
task_runner: {runner}
dask: {{address: {address}, timeout_s: 5}}
pipelines:
  tiny:
    dump: {dump}
    schedule: '0 3 * * 1'
    sweep:
      base: {{vector_size: 16, min_count: 2, epochs: 1, workers: 1}}
      grid: {{model: [sg, cbow]}}
      track_epochs: false
    evaluate:
"""
    + TWO_EVAL_SETS
)


def write_config(root: Path, runner: str = "local", address: str = "null") -> Path:
    path = root / "pipelines.yaml"
    text = CONFIG.format(root=root, runner=runner, address=address, dump=TINY_DUMP, eval=EVAL_DIR)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every parse of a pipelines.yaml from here on (the path of each)."""
    seen: list[Path] = []

    def counting(path: Path) -> Settings:
        seen.append(path)
        return load_settings(path)

    monkeypatch.setattr(tasks.config, "load_settings", counting)
    monkeypatch.setattr("flows.pipeline.load_settings", counting)
    yield seen


def served(config: Path) -> Callable[[], Any]:
    """The run a `zhvec serve` deployment starts: its flow loaded from the deployment's entrypoint, as the
    served process loads it, called with the deployment's parameters."""
    from prefect.flows import load_flow_from_entrypoint

    (deployment,) = scheduled_deployments(load_settings(config), config)
    assert deployment.entrypoint is not None
    flow = load_flow_from_entrypoint(deployment.entrypoint)
    parameters = dict(deployment.parameters)
    return lambda: flow(**parameters)


def test_served_run_on_a_busy_workspace_fails_naming_the_holder(prefect_server: None, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    start = served(config)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "work")], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        with pytest.raises(WorkspaceBusy) as caught:
            start()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert str(caught.value).startswith(
        f"{tmp_path / 'work'}: workspace in use by pid {proc.pid} on {socket.gethostname()} (pipeline held, "
    )
    assert not (tmp_path / "work" / "zhvec.duckdb").exists()


def test_served_run_loads_the_config_once_and_submits_points_to_dask(
    prefect_server: None, tmp_path: Path, loads: list[Path]
) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        config = write_config(tmp_path, "dask", cluster.scheduler_address)
        start = served(config)
        loads.clear()  # the deployment was built by `zhvec serve` once, before any run
        result = start()
        with cluster.get_client() as client:
            ran = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert ran == ["point"]  # the sweep's points went to the cluster, and nothing else did
    assert loads == [config.resolve()]
    assert (tmp_path / "work" / LOCK).read_text(encoding="utf-8") == ""  # held, then released
    with Store(tmp_path / "work" / "zhvec.duckdb", read_only=True) as store:
        statuses = [p["status"] for p in store.points(result.run_id)]
    assert statuses == ["completed", "completed"]
    assert [p.status for p in result.points] == statuses


def test_zhvec_run_loads_the_config_once(
    prefect_server: None, tmp_path: Path, loads: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["run", "--config", str(config)]) == 0
    assert loads == [config]
    assert capsys.readouterr().out.startswith("run ")
