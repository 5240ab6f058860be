"""The Prefect API a CLI run reports to: the one `PREFECT_API_URL` names, else a temporary server of its own.

Prefect would start a temporary server by itself on first use, but in the terminal's process group: Ctrl-C
reached the server first, and the run then retried a dead API for minutes. zhvec starts it instead, the
way Prefect does (uvicorn on Prefect's app, UI off), in a session of its own so that only zhvec gets the
terminal's signals, bound to this process's life (tasks/core/lifeline.py) so that no kill leaves it
behind, and stopped here once Prefect's log and event queues have been sent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

STARTUP_TIMEOUT_S = 120.0  # ~13 s on an idle 2-core machine; far more under load
_DRAIN_S = 10.0
_PORT_TAKEN = 3  # uvicorn's exit status when its port is taken


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(port: int) -> list[str]:
    import prefect

    return [
        sys.executable,
        "-m",
        "tasks.core.lifeline",
        str(os.getpid()),
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(prefect.__file__).parent.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def _environment() -> dict[str, str]:
    from prefect.settings import get_current_settings

    settings = get_current_settings().to_environment_variables(exclude_unset=True)
    return {**os.environ, **settings, "PREFECT_UI_ENABLED": "0"}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _start(log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    """A server answering on a free port (another one is tried if the port was taken meanwhile)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        port = _free_port()
        proc = subprocess.Popen(
            _command(port),
            env=_environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/api"
        while proc.poll() is None and time.monotonic() < deadline:
            if _healthy(url):
                return proc, url
            time.sleep(0.1)
        if proc.poll() != _PORT_TAKEN:
            _stop(proc)
            raise RuntimeError(
                f"the temporary Prefect server did not start within {STARTUP_TIMEOUT_S:g} s (exit status "
                f"{proc.returncode}); its output is in {log.name}"
            )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drain_prefect() -> None:
    """Send what Prefect still queues (logs, events) while its API is there to take it."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with suppress(Exception):  # a queue that cannot be sent must not fail a finished run
            worker.drain_all(timeout=_DRAIN_S)


@contextmanager
def prefect_api(log_path: Path) -> Iterator[str]:
    """Yield the API URL runs in this block report to: `PREFECT_API_URL` if set, else a temporary server
    of this process (its own output goes to `log_path`), stopped when the block ends. Prefect's queues
    are sent first, unless the block was interrupted: a stop must not wait for them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    given = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if given:
        with _drained():
            yield str(given)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc, url = _start(log)
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}), _drained():
                os.environ["PREFECT_API_URL"] = url  # for processes the run starts (Dask workers)
                try:
                    yield url
                finally:
                    del os.environ["PREFECT_API_URL"]
        finally:
            _stop(proc)


@contextmanager
def _drained() -> Iterator[None]:
    """Send Prefect's queues when the block ends, unless it was interrupted: a stop must not wait."""
    try:
        yield
    except Exception:
        drain_prefect()
        raise
    drain_prefect()
