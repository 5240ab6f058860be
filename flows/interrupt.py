"""Ctrl-C and SIGTERM stop a run within seconds, in any stage, and say where it stopped.

The first SIGINT or SIGTERM raises `Interrupted` in the main thread, where the work unwinds: the process
pool stops its workers, temp files go, finished stages and epochs stay, the recorder writes the run down as
interrupted. Prefect's flow engine swaps in its own SIGTERM handler while a flow runs; it re-sends the
signal to this handler once it has marked the flow run crashed, so both roads end here. Should the unwinding
hang (a C call that does not return), a watchdog ends the process anyway after `GRACE_S`, as does a second
signal; the helpers die with it (tasks/core/lifeline.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from prefect.exceptions import TerminationSignal

from tasks.core import activity

GRACE_S = 7.0
_LAST_WORDS_S = 1.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run was asked to stop (a BaseException, so no `except Exception` of a stage or a point swallows
    it); `where` is the work that was in hand when the signal came."""

    def __init__(self, signum: int, where: activity.Activity) -> None:
        super().__init__(f"interrupted during {where.describe()}; re-run to resume")
        self.signum = signum
        self.where = where

    @property
    def exit_status(self) -> int:
        """130 for SIGINT, 143 for SIGTERM: what a shell reports for a process those signals ended."""
        return 128 + self.signum


_received: Interrupted | None = None
_last_words: list[Callable[[Interrupted], None]] = []


def as_interrupt(exc: BaseException) -> Interrupted | None:
    """`exc` as the interrupt it stands for: ours, Prefect's SIGTERM bridge, a KeyboardInterrupt, or any
    exception raised after a stop signal came (a helper that died of the same Ctrl-C is part of the
    interrupt, not a failure of its own)."""
    if isinstance(exc, Interrupted):
        return exc
    if _received is not None:
        return _received
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(signal.SIGINT, activity.current())
    if isinstance(exc, TerminationSignal):
        return Interrupted(exc.signal, activity.current())
    return None


@contextmanager
def last_words(say: Callable[[Interrupted], None]) -> Iterator[None]:
    """Within the block, `say(interrupt)` is called by the watchdog before it ends a process whose
    unwinding hung (e.g. to write the run down as interrupted)."""
    _last_words.append(say)
    try:
        yield
    finally:
        _last_words.remove(say)


@contextmanager
def stop_on_signals(line_prefix: str) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Interrupted` (main thread only). `line_prefix` starts
    the one line the watchdog prints if it has to end the process itself."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        global _received
        if _received is not None:  # a second Ctrl-C: no more patience
            _hard_exit(_received, line_prefix)
        _received = Interrupted(signum, activity.current())
        watchdog = threading.Thread(target=_watch, args=(_received, line_prefix), daemon=True)
        watchdog.start()
        raise _received

    before = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, old in before.items():
            signal.signal(s, old)
        _received = None


def _watch(interrupt: Interrupted, line_prefix: str) -> None:
    threading.Event().wait(GRACE_S)
    _hard_exit(interrupt, line_prefix)


def _hard_exit(interrupt: Interrupted, line_prefix: str) -> None:
    """End the process now, after the last words (each on a thread of its own, given `_LAST_WORDS_S`: the
    main thread may hold what they need) and the one line."""
    for say in list(_last_words):
        speaker = threading.Thread(target=say, args=(interrupt,), daemon=True)
        speaker.start()
        speaker.join(_LAST_WORDS_S)
    print(f"{line_prefix}{interrupt}", file=sys.stderr, flush=True)
    os._exit(interrupt.exit_status)
