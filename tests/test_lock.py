"""Two runs on one workspace: the second fails at once naming the first; a lock left by a killed run is taken
over; the results database stays consistent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.core.workspace import LOCK, WorkspaceBusy, workspace_lock
from tasks.results.store import Store
from tests.configs import EVAL_DIR, HOLD_LOCK, OUTPUTS, TINY_DUMP, TWO_EVAL_SETS

REPO = Path(__file__).resolve().parents[1]

CONFIG = (
    OUTPUTS
    + """
default: tiny
pipelines:
  tiny:
    dump: {dump}
    sweep:
      base: {{model: cbow, vector_size: 16, min_count: 2, epochs: 1, workers: 1}}
      track_epochs: false
    evaluate:
"""
    + TWO_EVAL_SETS
)


def _holder(root: Path) -> subprocess.Popen[str]:
    """A process holding the workspace lock until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(root)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def test_second_holder_is_refused_naming_the_first_and_a_killed_holder_is_taken_over(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        with pytest.raises(WorkspaceBusy) as caught, workspace_lock(tmp_path, "mine"):
            pass
        assert str(caught.value).startswith(
            f"{tmp_path}: workspace in use by pid {proc.pid} on {socket.gethostname()} (pipeline held, since "
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert json.loads((tmp_path / LOCK).read_text(encoding="utf-8"))["pid"] == proc.pid  # stale file left
    with workspace_lock(tmp_path, "mine"):  # the kernel dropped the dead process's lock: taken over
        assert json.loads((tmp_path / LOCK).read_text(encoding="utf-8"))["pid"] == os.getpid()
    assert (tmp_path / LOCK).read_text(encoding="utf-8") == ""


def test_two_zhvec_runs_on_one_workspace(prefect_server: None, tmp_path: Path) -> None:
    """The first run is paused (SIGSTOP) while it holds the lock, so the second certainly meets it."""
    from prefect.settings import PREFECT_API_URL

    config = tmp_path / "pipelines.yaml"
    text = CONFIG.format(root=tmp_path, dump=TINY_DUMP, eval=EVAL_DIR)
    config.write_text(text, encoding="utf-8")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the test run's Prefect server
    cmd = [sys.executable, "-m", "flows.cli", "run", "--config", str(config), "tiny"]
    first = subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = tmp_path / "work" / LOCK
    deadline = time.monotonic() + 120
    while not (lock.is_file() and f'"pid": {first.pid},' in lock.read_text(encoding="utf-8")):
        assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    assert second.stderr.startswith(
        f"zhvec run: error: {tmp_path / 'work'}: workspace in use by pid {first.pid} on "
        f"{socket.gethostname()} (pipeline tiny, since "
    )
    assert len(second.stderr.splitlines()) == 1
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    with Store(tmp_path / "work" / "zhvec.duckdb", read_only=True) as store:
        runs = store.runs()
        assert [(r["pipeline"], r["status"]) for r in runs] == [("tiny", "completed")]
        assert out.startswith(f"run {runs[0]['run_id']} completed: 1 points")
        assert [p["status"] for p in store.points(runs[0]["run_id"])] == ["completed"]
        stages = [t["stage"] for t in store.timings(runs[0]["run_id"])]
    assert stages == ["extract", "convert", "segment", "vocab", "train", "evaluate"]


BENCH_CONFIG = """
workspace: {root}/work
database: {root}/work/zhvec.duckdb
default: bench
pipelines:
  bench:
    dump: {dump}
    sweep: {{base: {{vector_size: 100, window: 5, negative: 5, sample: 1.0e-4, min_count: 5, epochs: 5}}}}
    evaluate:
      analogy: {{ca_translated: {eval}/ca8/ca_translated.txt}}
      similarity: {{}}
"""


def test_bench_on_a_busy_workspace_fails_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli import main

    config = tmp_path / "pipelines.yaml"
    config.write_text(BENCH_CONFIG.format(root=tmp_path, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    proc = _holder(tmp_path / "work")
    try:
        assert main(["bench", str(TINY_DUMP), "--config", str(config), "--systems"]) == 2
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    err = capsys.readouterr().err
    assert err.startswith(f"zhvec bench: error: {tmp_path / 'work'}: workspace in use by pid {proc.pid} on ")
    assert not (tmp_path / "work" / "zhvec.duckdb").exists()
