"""The Prefect UI as a person sees it: a real `prefect server start` on a loopback port, a `zhvec run` against
it, then the UI in headless Chromium showing the flow run's descriptive name, its task runs and its artifacts;
and a `zhvec serve` deployment on a one-minute cron that the server's scheduler really fires.

Every process the tests start runs in its own process group and is stopped with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.browser import Page, chromium, open_browser
from tests.configs import EVAL_DIR, OUTPUTS, TINY_DUMP
from tests.servers import Server, start, stop, tail

pytestmark = pytest.mark.slow

RUN_S = 300
FIRE_S = 180  # the cron's next minute, the runner's 10 s poll, the run itself
UI_S = 60

RUN_CONFIG = (
    OUTPUTS
    + """
default: ui
pipelines:
  ui:
    dump: {dump}
    sweep:
      base: {{vector_size: 16, min_count: 2, epochs: 1, workers: 1}}
      grid: {{model: [sg, cbow]}}
      track_epochs: false
    evaluate:
      analogy: {{ca_translated: {eval}/ca8/ca_translated.txt}}
      similarity: {{wordsim240: {eval}/wordsim/wordsim-240.txt}}
"""
)
SERVE_CONFIG = (
    OUTPUTS
    + """
default: minutely
pipelines:
  minutely:
    schedule: "* * * * *"
    synthetic: {{languages: [proximity], sentences: 300, sentence_length: 12, vocabulary: 26}}
    evaluate: {{analogy: {{}}, similarity: {{}}}}
    sweep:
      base: {{model: sg, vector_size: 16, window: 5, sample: 0, min_count: 1, epochs: 2, workers: 1}}
      track_epochs: false
"""
)


@pytest.fixture(scope="module")
def browser() -> str:
    binary = chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: .ci/run must install it")
        pytest.skip("chromium is not installed (CI installs it in .ci/run)")
    return binary


@dataclass(frozen=True)
class Run:
    root: Path
    run_id: str
    flow_run_id: str
    report: Path


@pytest.fixture(scope="module")
def run(dedicated_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`zhvec run` in a subprocess, reporting to the server."""
    root = tmp_path_factory.mktemp("ui-run")
    config = root / "pipelines.yaml"
    config.write_text(RUN_CONFIG.format(root=root, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--config", str(config)],
        cwd=root,
        env=dedicated_server.env,
        capture_output=True,
        text=True,
        timeout=RUN_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]  # run <id> completed: 2 points; database …
    run_id = first.split()[1]
    with duckdb.connect(str(root / "work" / "zhvec.duckdb"), read_only=True) as con:
        row = con.execute("SELECT flow_run_id FROM runs WHERE run_id = ?", [run_id]).fetchone()
    assert row is not None and row[0]
    return Run(root, run_id, str(row[0]), root / "reports" / "ui" / run_id / "index.html")


@pytest.fixture
def page(browser: str) -> Iterator[Page]:
    with open_browser(browser, viewport=(1440, 1000)) as tab:
        yield tab


def shown(page: Page, wanted: list[str], shot: Path) -> str:
    """The page's text once it shows all of `wanted` (the app renders after loading, data after that);
    a screenshot `shot` of what it showed instead when it does not within UI_S."""
    try:
        return page.wait_for_text(wanted, UI_S)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\nscreenshot: {page.screenshot(shot)}") from None


@pytest.mark.parametrize(
    "ui",
    [
        pytest.param("", id="v1"),  # where the "View at" links in Prefect's run logs lead
        pytest.param("/v2", id="v2"),  # where the server's root leads a browser without a saved choice
    ],
)
def test_the_ui_shows_the_flow_run_its_task_runs_and_its_artifacts(
    dedicated_server: Server, run: Run, page: Page, tmp_path: Path, ui: str
) -> None:
    flow_run = dedicated_server.api(f"flow_runs/{run.flow_run_id}")
    assert flow_run["name"] == "ui · zhwiki-tiny · 2 points"  # describe_run's, set once the flow started
    task_runs = dedicated_server.api("task_runs/filter", {"flow_runs": {"id": {"any_": [run.flow_run_id]}}})
    names = sorted(t["name"] for t in task_runs)
    assert sorted({n.split("-")[0] for n in names}) == [
        "convert",
        "extract",
        "fetch",
        "point",
        "report",
        "segment",
        "vocab",
    ]
    artifacts = dedicated_server.api(
        "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run.flow_run_id]}}}
    )
    by_key = {a["key"]: a for a in artifacts if a["key"]}
    assert sorted(by_key) == ["ui-best", "ui-leaderboard", "ui-report"]
    best = re.search(r"Best point \(highest mean headline score\): \*\*(\S+)\*\*", by_key["ui-best"]["data"])
    assert best is not None

    page.goto(f"{dedicated_server.url}{ui}/runs/flow-run/{run.flow_run_id}")
    shown(page, [flow_run["name"], "Completed", f"{len(names)} Task runs"], tmp_path / "flow-run.png")
    page.click("Task Runs")
    shown(page, names, tmp_path / "task-runs.png")
    page.click("Artifacts")
    shown(page, [*by_key, f"zhvec ui run {run.run_id}"], tmp_path / "artifacts.png")

    def artifact(key: str, wanted: list[str]) -> None:
        page.goto(f"{dedicated_server.url}{ui}/artifacts/artifact/{by_key[key]['id']}")
        shown(page, [key, *wanted], tmp_path / f"{key}.png")

    artifact("ui-leaderboard", ["label", "wordsim240_spearman", "sg-d16-w5-n5-e1", "cbow-d16-w5-n5-e1"])
    artifact("ui-best", [f"Best point (highest mean headline score): {best.group(1)}", "Nearest neighbours"])
    artifact("ui-report", [f"HTML report of run {run.run_id}"])
    links = page.evaluate(
        "Array.from(document.querySelectorAll('a')).filter(a => a.innerText.startsWith('HTML report'))"
        ".map(a => a.getAttribute('href'))"
    )
    # V2 drops the href of a file:// link (and Chromium would not open one from an http page anyway)
    assert links == [run.report.as_uri() if ui == "" else None]
    assert run.report.is_file()


def test_a_served_one_minute_cron_fires_a_run_within_two_minutes(
    dedicated_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("serve")
    config = root / "pipelines.yaml"
    config.write_text(SERVE_CONFIG.format(root=root), encoding="utf-8")
    log = root / "serve.log"
    started = datetime.now(UTC)
    proc = start(
        [sys.executable, "-m", "flows.cli", "serve", "--config", str(config)], dedicated_server.env, root, log
    )
    try:
        fired = finished_run(dedicated_server, "minutely", proc, log)
    finally:
        stop(proc, signal.SIGINT)
    assert fired["state_type"] == "COMPLETED", tail(log)
    assert fired["auto_scheduled"]  # the server's scheduler made it from the cron, not a manual trigger
    assert fired["name"] == "minutely · synthetic · 1 point"
    assert datetime.fromisoformat(fired["expected_start_time"]).second == 0  # on the minute
    assert (datetime.fromisoformat(fired["start_time"]) - started).total_seconds() < 120
    with duckdb.connect(str(root / "work" / "zhvec.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT status, flow_run_id FROM runs").fetchall()
    assert rows == [("completed", fired["id"])]


def finished_run(server: Server, deployment: str, proc: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """The first run of `deployment` to reach a final state, polled for at most FIRE_S seconds while the
    serving process `proc` lives."""
    deadline = time.monotonic() + FIRE_S
    final = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"zhvec serve exited with status {proc.returncode}:\n{tail(log)}")
        found = server.api("deployments/filter", {"deployments": {"name": {"any_": [deployment]}}})
        if found:
            runs = server.api(
                "flow_runs/filter",
                {
                    "flow_runs": {
                        "deployment_id": {"any_": [found[0]["id"]]},
                        "state": {"type": {"any_": final}},
                    },
                    "sort": "START_TIME_ASC",
                },
            )
            if runs:
                return dict(runs[0])
        time.sleep(2)
    pytest.fail(f"no run of deployment {deployment} finished within {FIRE_S} s:\n{tail(log)}")
