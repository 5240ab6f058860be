"""Open pages in headless Chromium over the DevTools protocol and report what a user's browser would show:
console errors, uncaught exceptions, failed loads, the text a person sees, screenshots, and the result of a
JavaScript probe.

A plain websocket client (the `websockets` package Prefect already depends on) is enough: no browser
download, no driver binary. Chromium is started with a fresh profile and no network features, so a report
must render from the file alone, and a web app (the Prefect UI) from its own server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
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

    def wait_for(self, method: str, timeout: float, since: int = 0) -> None:
        """Wait for an event `method` among the events from index `since` on."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events[since:]):
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
    """Start Chromium with a throwaway profile; yield its browser websocket URL; always stop it, with every
    process it started (its own process group), before the profile is removed."""
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
            start_new_session=True,
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
            # keep reading what it logs, so that a full pipe never blocks it
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            end_group(proc.pid)


def end_group(pgid: int, timeout: float = 10) -> None:
    """SIGKILL what is left of the process group `pgid` (Chromium's renderers) and wait until it is gone."""
    deadline = time.monotonic() + timeout
    try:
        os.killpg(pgid, signal.SIGKILL)
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)
            time.sleep(0.05)
    except ProcessLookupError:
        return


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


class Page:
    """The one tab of a running Chromium: navigate, read what is shown, click, take screenshots."""

    def __init__(self, session: _Session) -> None:
        self._s = session

    def goto(self, url: str, timeout: float = 120) -> None:
        """Navigate and wait for the load event (a single-page app renders after it: see `wait_for_text`)."""
        mark = len(self._s.events)
        self._s.call("Page.navigate", url=url)
        self._s.wait_for("Page.loadEventFired", timeout=timeout, since=mark)

    def settle(self, seconds: float) -> None:
        """Let the page run for a while, collecting what it reports: charts render after the load event."""
        self._s.drain(seconds)

    def _evaluate(self, expression: str) -> tuple[Any, str | None]:
        value = self._s.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        error = value["exceptionDetails"].get("text") if "exceptionDetails" in value else None
        return value["result"].get("value"), error

    def evaluate(self, expression: str) -> Any:
        """The (JSON-serialisable) value of a JavaScript expression; an exception in it raises."""
        result, error = self._evaluate(expression)
        if error is not None:
            raise RuntimeError(f"{expression[:60]!r}: {error}")
        return result

    def text(self) -> str:
        """The page's rendered text, as a person sees it (`innerText` leaves out hidden elements)."""
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def wait_for_text(self, wanted: Sequence[str], timeout: float, interval: float = 0.5) -> str:
        """Poll the rendered text until it holds every string of `wanted`; return it. A timeout names the
        strings still missing."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.text()
            missing = [w for w in wanted if w not in shown]
            if not missing:
                return shown
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"not shown within {timeout} s: {missing}; the page shows:\n{shown[:3000]}"
                )
            self.settle(interval)

    def click(self, text: str, selector: str = "a, button, [role=tab], [role=tablist] > *") -> None:
        """Click, as a mouse does (press and release at its centre), the first element matching `selector`
        whose rendered text is exactly `text`."""
        script = f"""(() => {{
          const hit = Array.from(document.querySelectorAll({json.dumps(selector)}))
            .find(e => e.innerText.trim() === {json.dumps(text)});
          if (!hit) return null;
          hit.scrollIntoView({{block: 'center'}});
          const box = hit.getBoundingClientRect();
          return [box.x + box.width / 2, box.y + box.height / 2];
        }})()"""
        centre = self.evaluate(script)
        if centre is None:
            raise LookupError(f"nothing to click with the text {text!r} ({selector})")
        x, y = centre
        for kind in ("mousePressed", "mouseReleased"):
            self._s.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path) -> Path:
        """A PNG of the viewport, written to `path`."""
        shot = self._s.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far, one line each."""
        return [e for e in map(_error_text, self._s.events) if e]


@contextmanager
def open_browser(binary: str, viewport: tuple[int, int] | None = None) -> Iterator[Page]:
    """Chromium with a throwaway profile and one tab (`viewport`: its width and height in CSS pixels, else
    Chromium's default); stopped on exit."""
    with _browser(binary) as url:
        port = url.split(":")[2].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            target = next(t for t in json.load(reply) if t["type"] == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            s = _Session(ws)
            for domain in ("Runtime", "Log", "Page"):
                s.call(f"{domain}.enable")
            if viewport is not None:
                width, height = viewport
                s.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
            yield Page(s)


def open_page(path: Path, probe: str, binary: str, settle_s: float = 2.0) -> PageReport:
    """Load `path` from file://, let it settle, evaluate the JavaScript expression `probe`, and return the
    errors seen plus the probe's (JSON-serialisable) value."""
    with open_browser(binary) as page:
        page.goto(path.resolve().as_uri())
        page.settle(settle_s)
        value, error = page._evaluate(probe)
        page.settle(0.2)
        report = PageReport(errors=page.errors(), probe=value)
    if error is not None:
        report.errors.append(f"probe: {error}")
    return report
