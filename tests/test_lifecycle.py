"""A run's life as an operator lives it: Ctrl-C (SIGINT to the process group, as a terminal sends it),
SIGINT to the pid and SIGTERM stop `zhvec run` within 10 s in extract, segment and train, with a temporary
Prefect server and with a dedicated one, naming where it stopped in one line; a re-run resumes; SIGKILL
leaves no process behind; a killed point resumes at its next epoch; a running run can be watched.

The stage under test is made to hang by tests/stall/sitecustomize.py, so a signal always lands in it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from flows.cli import main
from tasks.results.store import Store
from tests.configs import EVAL_DIR, OUTPUTS, TINY_DUMP, TWO_EVAL_SETS
from tests.servers import Server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STALL = REPO / "tests" / "stall"
# The bundled sample: enough shards that extract and segment run on the process pool's two workers.
SAMPLE = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2"
STOP_S = 10.0
START_S = 240.0  # until the stalled stage is reached: a temporary server takes ~13 s, more under load
CONFIG = (
    OUTPUTS
    + """
default: tiny
pipelines:
  tiny:
    dump: {dump}
    workers: 2
    sweep:
      base: {{model: cbow, vector_size: 16, min_count: 2, epochs: 3, workers: 1}}
    evaluate:
"""
    + TWO_EVAL_SETS
)


def _config(root: Path) -> Path:
    config = root / "pipelines.yaml"
    config.write_text(CONFIG.format(root=root, dump=SAMPLE, eval=EVAL_DIR), encoding="utf-8")
    return config


def _env(server: Server | None, stall: str | None = None, mark: Path | None = None) -> dict[str, str]:
    """The environment of a `zhvec run`: the dedicated server's, or none (a temporary server of the run's
    own), with the stage to hang in."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    if server is not None:
        env |= server.env
    if stall is not None:
        env |= {"ZHVEC_TEST_STALL": stall, "ZHVEC_TEST_STALL_MARK": str(mark), "PYTHONPATH": str(STALL)}
    return env


def _zhvec_run(config: str, server: Server, umask: int = -1) -> subprocess.CompletedProcess[str]:
    """`zhvec run --config CONFIG` to its end, reporting to `server`."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--config", config],
        cwd=REPO,
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=300,
        umask=umask,
    )


def _tree(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def _alive(processes: list[psutil.Process]) -> list[str]:
    """Those of `processes` still running (a zombie has ended)."""
    left = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(p.cmdline()[:6]))
        except psutil.NoSuchProcess:
            continue
    return left


def _all_gone(processes: list[psutil.Process], within_s: float = STOP_S) -> list[str]:
    deadline = time.monotonic() + within_s
    while (left := _alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def launched() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; whatever of their groups is left is killed at its end."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        tree = _tree(proc.pid) if proc.poll() is None else []
        for p in tree:
            p.kill()
        proc.wait()


def _start_stalled(
    root: Path,
    server: Server | None,
    stage: str,
    launched: list[subprocess.Popen[str]],
    args: list[str] | None = None,
) -> subprocess.Popen[str]:
    """`zhvec run` (or `zhvec ARGS`) in a session of its own (a terminal's process group), hung in `stage`."""
    mark = root / f"stalled-{stage}"
    cmd = [sys.executable, "-m", "flows.cli", *(args or ["run", "--config", str(_config(root))])]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_env(server, stage, mark),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    launched.append(proc)
    deadline = time.monotonic() + START_S
    while not mark.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {stage}:\n{proc.communicate()[0]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the run did not reach {stage} within {START_S} s")
        time.sleep(0.05)
    return proc


def _results(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["results", "--config", str(root / "pipelines.yaml"), "--json"]) == 0
    shown: dict[str, object] = json.loads(capsys.readouterr().out)
    return shown


def _cached_stages(root: Path, run_id: str) -> dict[str, bool]:
    with Store(root / "work" / "zhvec.duckdb", read_only=True) as store:
        return {t["stage"]: t["cached"] for t in store.timings(run_id) if t["point_id"] is None}


WAYS = {
    "ctrl-c": (lambda proc: os.killpg(proc.pid, signal.SIGINT), 130),
    "sigint": (lambda proc: proc.send_signal(signal.SIGINT), 130),
    "sigterm": (lambda proc: proc.send_signal(signal.SIGTERM), 143),
}
EXPECTED = {
    "extract": "extract",
    "segment": "segment",
    "train": "train of point cbow-d16-w5-n5-e3, epoch 2",
}


@pytest.mark.parametrize("api", ["temporary", "dedicated"])
@pytest.mark.parametrize("stage", ["extract", "segment", "train"])
@pytest.mark.parametrize("way", list(WAYS))
def test_a_signal_stops_the_run_in_one_line_and_a_re_run_resumes(
    way: str,
    stage: str,
    api: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    launched: list[subprocess.Popen[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dedicated: Server = request.getfixturevalue("dedicated_server")
    proc = _start_stalled(tmp_path, dedicated if api == "dedicated" else None, stage, launched)
    tree = _tree(proc.pid)
    send, status = WAYS[way]
    sent = time.monotonic()
    send(proc)
    try:
        output, _ = proc.communicate(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{way} during {stage}: still running {STOP_S} s later")
    assert time.monotonic() - sent < STOP_S
    assert proc.returncode == status, output
    line = f"zhvec run: interrupted during {EXPECTED[stage]}; re-run to resume"
    assert output.splitlines()[-1] == line, output
    assert "Traceback" not in output and "nanobind" not in output, output
    assert _all_gone(tree) == []

    shown = _results(tmp_path, capsys)
    assert (shown["status"], shown["stage"]) == ("interrupted", stage)
    assert shown["error"] == line.removeprefix("zhvec run: ")
    interrupted = str(shown["run_id"])

    again = _zhvec_run(str(tmp_path / "pipelines.yaml"), dedicated)
    assert again.returncode == 0, again.stderr
    shown = _results(tmp_path, capsys)
    assert shown["status"] == "completed" and shown["run_id"] != interrupted
    finished_before = {
        "extract": [],
        "segment": ["extract", "convert"],
        "train": ["extract", "convert", "segment"],
    }
    cached = _cached_stages(tmp_path, str(shown["run_id"]))
    assert [s for s in ("extract", "convert", "segment") if cached[s]] == finished_before[stage]
    assert not list((tmp_path / "work").rglob(".*.tmp"))


@pytest.mark.parametrize("stage", ["segment", "train"])
def test_sigkill_leaves_no_process_behind(
    stage: str, tmp_path: Path, launched: list[subprocess.Popen[str]]
) -> None:
    proc = _start_stalled(tmp_path, None, stage, launched)
    tree = _tree(proc.pid)
    names = " ".join(" ".join(p.cmdline()) for p in tree)
    assert "uvicorn" in names and "resource_tracker" in names  # the server and the pool's helpers
    assert sum("spawn_main" in " ".join(p.cmdline()) for p in tree) == (2 if stage == "segment" else 0)
    proc.kill()
    proc.wait()
    assert _all_gone(tree) == []


def test_a_point_killed_after_epoch_2_of_3_resumes_at_epoch_3(
    dedicated_server: Server,
    tmp_path: Path,
    launched: list[subprocess.Popen[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    os.environ["ZHVEC_TEST_STALL_EPOCH"] = "3"
    try:
        proc = _start_stalled(tmp_path, dedicated_server, "train", launched)
    finally:
        del os.environ["ZHVEC_TEST_STALL_EPOCH"]
    point_dir = next((tmp_path / "work" / "train").iterdir())
    assert [p.name for p in point_dir.glob("checkpoint-*")] == ["checkpoint-2"]
    proc.kill()
    proc.wait()

    again = _zhvec_run(str(tmp_path / "pipelines.yaml"), dedicated_server)
    assert again.returncode == 0, again.stderr
    shown = _results(tmp_path, capsys)
    with Store(tmp_path / "work" / "zhvec.duckdb", read_only=True) as store:
        (train,) = [t for t in store.timings(str(shown["run_id"])) if t["stage"] == "train"]
        epochs = store.epoch_history(str(shown["run_id"]))
    assert train["extra"]["resumed_from_epoch"] == 2 and not train["cached"]
    assert sorted({r["epoch"] for r in epochs}) == [1, 2, 3]
    assert not list(point_dir.glob("checkpoint-*"))


def test_a_running_run_can_be_watched(
    tmp_path: Path, launched: list[subprocess.Popen[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    proc = _start_stalled(tmp_path, None, "train", launched)
    time.sleep(12)  # past one heartbeat
    shown = _results(tmp_path, capsys)
    assert (shown["status"], shown["stage"], shown["point"], shown["epoch"]) == (
        "running",
        "train",
        "cbow-d16-w5-n5-e3",
        2,
    )
    assert isinstance(shown["heartbeat_s"], float) and 0 <= shown["heartbeat_s"] < 30
    assert main(["results", "--config", str(tmp_path / "pipelines.yaml")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "; running: train of point cbow-d16-w5-n5-e3, epoch 2 (heartbeat " in first
    assert main(["report", "--config", str(tmp_path / "pipelines.yaml")]) == 0
    assert Path(capsys.readouterr().out.strip()).is_file()
    assert proc.poll() is None  # reading did not disturb the run
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(STOP_S) == 143


def test_a_failing_run_ends_in_one_line_naming_its_log(dedicated_server: Server, tmp_path: Path) -> None:
    dump = tmp_path / TINY_DUMP.name
    dump.write_bytes(TINY_DUMP.read_bytes()[: TINY_DUMP.stat().st_size // 2])
    index = TINY_DUMP.with_name(TINY_DUMP.name.replace(".xml.bz2", "-index.txt.bz2"))
    (tmp_path / index.name).write_bytes(index.read_bytes())
    config = tmp_path / "pipelines.yaml"
    config.write_text(CONFIG.format(root=tmp_path, dump=dump, eval=EVAL_DIR), encoding="utf-8")
    failed = _zhvec_run(str(config), dedicated_server)
    assert failed.returncode == 2
    output = failed.stdout + failed.stderr
    assert "Traceback" not in output and "nanobind" not in output, output
    (log,) = (tmp_path / "work" / "logs").iterdir()
    last = failed.stderr.splitlines()[-1]
    assert last.startswith(f"zhvec run: error: {dump}: truncated: ")
    assert last.endswith(f"; re-download (during extract; full log: {log})")
    assert "Traceback" in log.read_text(encoding="utf-8")  # the details are kept, in the log


def test_files_written_under_umask_022_are_0644(dedicated_server: Server, tmp_path: Path) -> None:
    done = _zhvec_run(str(_config(tmp_path)), dedicated_server, umask=0o022)
    assert done.returncode == 0, done.stderr
    files = [p for p in (tmp_path / "work").rglob("*") if p.is_file()]
    modes = {oct(p.stat().st_mode & 0o777) for p in files}
    assert len(files) > 20 and modes == {"0o644"}, {str(p): oct(p.stat().st_mode & 0o777) for p in files}
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path / "reports").rglob("*") if p.is_file()} == {
        "0o644"
    }


@pytest.mark.parametrize("way", ["ctrl-c", "sigterm"])
def test_a_single_stage_command_stops_in_one_line(
    way: str, tmp_path: Path, launched: list[subprocess.Popen[str]]
) -> None:
    args = ["extract", str(SAMPLE), "-o", str(tmp_path / "text"), "--workers", "2"]
    proc = _start_stalled(tmp_path, None, "extract", launched, args)
    tree = _tree(proc.pid)
    send, status = WAYS[way]
    send(proc)
    output, _ = proc.communicate(timeout=STOP_S)
    assert proc.returncode == status, output
    assert output.splitlines()[-1] == "zhvec extract: interrupted during extract; re-run to resume", output
    assert "Traceback" not in output
    assert _all_gone(tree) == []
    assert not list((tmp_path / "text").glob(".*.tmp"))
