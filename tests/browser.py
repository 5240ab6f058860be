"""Open a page in headless Chromium over the DevTools protocol and report what a user's browser would show:
console errors, uncaught exceptions, failed loads, and the result of a JavaScript probe.

A plain websocket client (the `websockets` package Prefect already depends on) is enough: no browser
download, no driver binary. Chromium is started with a fresh profile and no network features, so the page
must render from the file alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def chromium() -> str | None:
    """The Chromium binary: $CHROMIUM, else `chromium` / `chromium-browser` on PATH."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and (found := shutil.which(name)):
            return found
    return None


@dataclass
class PageReport:
    """What happened while the page loaded and settled."""

    errors: list[str] = field(default_factory=list)
    probe: Any = None


class _Session:
    """One DevTools websocket: numbered commands, events collected while waiting for replies."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv(timeout=remaining)))

    def drain(self, seconds: float) -> None:
        """Collect events for a while: charts render after the load event."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=remaining)))
            except TimeoutError:
                return


@contextmanager
def _browser(binary: str) -> Iterator[str]:
    """Start Chromium with a throwaway profile; yield its browser websocket URL; always stop it."""
    with tempfile.TemporaryDirectory(prefix="zhvec-chromium-") as profile:
        proc = subprocess.Popen(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 60
            url = None
            while url is None and time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line and proc.poll() is not None:
                    raise RuntimeError(f"chromium exited with status {proc.returncode} before listening")
                if match := _LISTENING.search(line):
                    url = match.group(1)
            if url is None:
                raise TimeoutError("chromium did not open its DevTools port within 60 s")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _error_text(event: dict[str, Any]) -> str | None:
    """A console error, an uncaught exception or a failed load, as one line; None for anything else."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return "console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return "exception: " + str(details.get("exception", {}).get("description", details.get("text")))
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        return f"log ({params['entry']['source']}): {params['entry']['text']}"
    return None


def open_page(path: Path, probe: str, binary: str, settle_s: float = 2.0) -> PageReport:
    """Load `path` from file://, let it settle, evaluate the JavaScript expression `probe`, and return the
    errors seen plus the probe's (JSON-serialisable) value."""
    with _browser(binary) as url:
        port = url.split(":")[2].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            page = next(t for t in json.load(reply) if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            s = _Session(ws)
            for domain in ("Runtime", "Log", "Page"):
                s.call(f"{domain}.enable")
            s.call("Page.navigate", url=path.resolve().as_uri())
            s.wait_for("Page.loadEventFired", timeout=120)
            s.drain(settle_s)
            value = s.call("Runtime.evaluate", expression=probe, returnByValue=True, awaitPromise=True)
            s.drain(0.2)
    report = PageReport(
        errors=[e for e in map(_error_text, s.events) if e], probe=value["result"].get("value")
    )
    if "exceptionDetails" in value:
        report.errors.append(f"probe: {value['exceptionDetails'].get('text')}")
    return report
