"""Sweeps end to end on the tiny real-text dump: the Dask runner gives the local runner's results, a SIGKILLed
sweep resumes with only its missing points, and `zhvec results` shows every point of the latest run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flows.cli import main
from flows.pipeline import check_dask, run
from tasks.config import ConfigError
from tasks.results.store import Store
from tests.configs import EVAL_DIR, OUTPUTS, TINY_DUMP

REPO = Path(__file__).resolve().parents[1]

CONFIG = (
    OUTPUTS
    + """
default: tiny
task_runner: {runner}
dask: {{address: {address}, timeout_s: 1}}
pipelines:
  tiny:
    dump: {dump}
    sweep:
      base: {{vector_size: 24, min_count: 2, negative: 5, sample: 0.001, workers: 1, seed: 7}}
      points:
        - {{model: sg, epochs: 2}}
        - {{model: cbow, epochs: 20, window: 8}}
        - {{model: sg, epochs: 10, window: 8, hs: 1, negative: 0}}
        - {{model: cbow, epochs: 1, min_count: 100000}}  # no word that frequent: training fails
      probes: [[中国, 美国], [北京, 上海]]
    evaluate:
      analogy: {{ca_translated: {eval}/ca8/ca_translated.txt}}
      similarity: {{wordsim240: {eval}/wordsim/wordsim-240.txt}}
"""
)


def write_config(root: Path, runner: str = "local", address: str = "null") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "pipelines.yaml"
    text = CONFIG.format(root=root, runner=runner, address=address, dump=TINY_DUMP, eval=EVAL_DIR)
    path.write_text(text, encoding="utf-8")
    return path


def outcome(root: Path, run_id: str) -> dict[str, Any]:
    """What a run learned, per point label: statuses, every metric, and the per-epoch rows except times."""
    with Store(root / "work" / "zhvec.duckdb", read_only=True) as store:
        labels = {p["point_id"]: p["label"] for p in store.points(run_id)}
        status = {p["label"]: p["status"] for p in store.points(run_id)}
        metrics = {
            (labels[m["point_id"]], m["eval_set"], m["category"], m["method"]): m["value"]
            for m in store.metrics(run_id)
        }
        epochs = {
            (labels[e["point_id"]], e["epoch"], e["metric"]): e["value"]
            for e in store.epoch_history(run_id)
            if e["metric"] not in ("seconds", "tracking_share")  # times differ from run to run
        }
    return {"status": status, "metrics": metrics, "epochs": epochs}


def vector_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "work" / "train").glob("*/vectors.*"))
    }


@pytest.fixture(scope="module")
def local_run(prefect_server: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("local")
    return root, run("tiny", str(write_config(root))).run_id


def test_dask_runner_matches_local_runner(local_run: tuple[Path, str], tmp_path: Path) -> None:
    from distributed import LocalCluster

    root, run_id = local_run
    expected = outcome(root, run_id)
    assert list(expected["status"].values()) == ["completed"] * 3 + ["failed"]
    assert {m for _, _, m in expected["epochs"]} == {
        "loss",
        "ca_translated_3cosadd",
        "wordsim240_spearman",
        "probe:中国|美国",
    }  # 上海 is not in the tiny dump's vocabulary: a probe pair with a missing word is skipped
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        config = write_config(tmp_path, "dask", cluster.scheduler_address)
        dask_run_id = run("tiny", str(config)).run_id
        with cluster.get_client() as client:
            ran = client.run(lambda: sorted(Path(os.getcwd()).parts))  # both worker processes are alive
    assert len(ran) == 2
    assert outcome(tmp_path, dask_run_id) == expected
    word2vec_files = {k: v for k, v in vector_files(root).items() if not k.endswith(".kv")}  # .kv: a pickle
    assert {k: vector_files(tmp_path)[k] for k in word2vec_files} == word2vec_files


def test_unreachable_dask_scheduler_fails_before_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no Dask scheduler reachable at 'tcp://127\.0\.0\.1:9'"):
        check_dask("tcp://127.0.0.1:9", timeout_s=1)
    config = write_config(tmp_path, "dask", "tcp://127.0.0.1:9")
    assert main(["run", "--config", str(config), "tiny"]) == 2
    assert not (tmp_path / "work").exists()


def test_results_command_lists_every_point(
    local_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, run_id = local_run
    assert main(["results", "tiny", "--config", str(root / "pipelines.yaml"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == run_id
    points = shown["points"]
    labels = ["sg-d24-w5-n5-e2", "cbow-d24-w8-n5-e20", "sg-d24-w8-hs-e10", "cbow-d24-w5-n5-e1"]
    assert [p["label"] for p in points] == labels
    for p in points[:3]:
        assert p["status"] == "completed" and p["words_per_s"] > 0 and p["model_bytes"] > 0
        assert set(p["metrics"]) == {"ca_translated_3cosadd", "wordsim240_spearman"}
    assert (points[3]["status"], points[3]["train_s"], points[3]["metrics"]) == ("failed", None, {})
    assert main(["results", "--config", str(root / "pipelines.yaml")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == f"run {run_id}: 4 points" and len(table) == 6


def test_failing_point_is_retried_once_then_recorded(local_run: tuple[Path, str]) -> None:
    from prefect.client.orchestration import get_client

    root, run_id = local_run
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_task_runs() if r.name == "point-cbow-w5"]
    # other tests on the test run's server may pass a point of the same name; every failed one ran twice
    failed_runs = [r for r in runs if r.state_type is not None and r.state_type.value == "FAILED"]
    assert failed_runs and all(r.run_count == 2 for r in failed_runs)
    with Store(root / "work" / "zhvec.duckdb", read_only=True) as store:
        failed = store.points(run_id)[3]
    assert failed["status"] == "failed" and "no word reaches min_count=100000" in failed["error"]


def test_sigkill_mid_sweep_then_rerun_trains_only_missing_points(
    prefect_server: None, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    config = write_config(tmp_path)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the test run's Prefect server
    cmd = [sys.executable, "-m", "flows.cli", "run", "--config", str(config), "tiny"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "work" / "train").glob("*/manifest.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "no point finished before the sweep ended"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = vector_files(tmp_path)
    done = {p.parent.name for p in (tmp_path / "work" / "train").glob("*/manifest.json")}
    assert 1 <= len(done) < 3  # of the 3 points that can be trained

    rerun = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with Store(tmp_path / "work" / "zhvec.duckdb", read_only=True) as store:
        run_id = store.latest_run("tiny")
        assert run_id is not None
        trains = [t for t in store.timings(run_id) if t["stage"] == "train"]
        statuses = [p["status"] for p in store.points(run_id)]
    assert statuses == ["completed"] * 3 + ["failed"]
    assert {t["point_id"] for t in trains if t["cached"]} == done  # only the missing points were trained
    assert len([t for t in trains if not t["cached"]]) == 3 - len(done)
    after = vector_files(tmp_path)
    assert {k: after[k] for k in finished} == finished  # byte-identical
