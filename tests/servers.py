"""A dedicated `prefect server start` on a loopback port, as a team would run one, for the tests that need a
server of their own (the UI, runs stopped while reporting to it); and the helpers that start and stop the
processes tests launch, each in a process group of its own so that nothing outlives a test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import end_group

SERVER_START_S = 120  # ~13 s on an idle 2-core machine; a loaded CI runner is slower


@dataclass(frozen=True)
class Server:
    """A running `prefect server start`: its base URL and the environment that points clients at it."""

    url: str
    env: dict[str, str]

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (no body) or POST `body` as JSON to /api/`path`; the decoded reply."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.load(reply)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """`cmd` in a process group of its own (its children stop with it), output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace_s: float = 20) -> None:
    """`sig` to the process group `proc` leads, SIGKILL after `grace_s`; then whatever the group still
    holds (a served flow run's subprocess) is killed too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    end_group(proc.pid)


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def prefect_server_start(root: Path) -> Iterator[Server]:
    """`prefect server start` with its home under `root`, healthy, stopped when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(root / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"{url}/api",
    }
    log = root / "server.log"
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = start(cmd, env, root, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited with status {proc.returncode}:\n{tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=5) as reply:
                    if json.load(reply) is True:
                        break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy within {SERVER_START_S} s:\n{tail(log)}")
            time.sleep(1)
        yield Server(url, env)
    finally:
        stop(proc)
