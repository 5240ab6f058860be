"""A run's full log goes to a file of its own; the terminal keeps the progress lines and loses the
tracebacks, so a failing or interrupted run ends with its one line, which names this file."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOGS = "logs"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s - %(message)s"


class _FirstLine(logging.Formatter):
    """Formats as `inner` does, but only a record's first line and no traceback."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        short = logging.makeLogRecord(record.__dict__)
        short.msg, short.args = record.getMessage().split("\n", 1)[0].rstrip(" :"), None
        short.exc_info = short.exc_text = short.stack_info = None
        return self._inner.format(short)


def log_path(workspace: Path) -> Path:
    """`<workspace>/logs/<UTC time>-<pid>.log`: known before the run has an id."""
    return workspace / LOGS / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}.log"


@contextmanager
def run_log(path: Path) -> Iterator[Path]:
    """Within the block, every log record of the process also goes, whole, to `path`, and the console
    handlers (Prefect's, on the root logger) print first lines only."""
    import prefect  # noqa: F401 - sets up Prefect's logging, whose console handler is changed here

    root = logging.getLogger()
    consoles = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    formatters = {h: h.formatter for h in consoles}
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(to_file)
    for handler in consoles:
        handler.setFormatter(_FirstLine(handler.formatter or logging.Formatter()))
    try:
        yield path
    finally:
        for handler, formatter in formatters.items():
            handler.setFormatter(formatter)  # type: ignore[arg-type]
        root.removeHandler(to_file)
        to_file.close()
