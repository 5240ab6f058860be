"""Makes one stage of a zhvec process hang, so tests can stop, kill or watch a run in that stage.

Loaded by Python at start-up when this folder is on PYTHONPATH (the run's spawned pool workers inherit
it). `ZHVEC_TEST_STALL=<stage>` names the stage: for `train`, the start of epoch `ZHVEC_TEST_STALL_EPOCH`
(default 2) sleeps, in the run's process; for any other stage, every job the process pool runs in it
sleeps, in the workers. The first to sleep creates the file `ZHVEC_TEST_STALL_MARK`, for the test to wait on.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

STAGE = os.environ.get("ZHVEC_TEST_STALL")
MARK = Path(os.environ.get("ZHVEC_TEST_STALL_MARK", "stalled"))


def _stall() -> None:
    MARK.touch()
    time.sleep(600)


def _stalled(fn: Any, *job: Any) -> Any:
    """A pool job that never gets to its work."""
    _stall()
    return fn(*job)


def _install(stage: str) -> None:
    from tasks.core import activity, pool

    if stage == "train":
        epoch = int(os.environ.get("ZHVEC_TEST_STALL_EPOCH", "2"))
        at_epoch = activity.at_epoch

        @functools.wraps(at_epoch)
        def stalling_at_epoch(n: int) -> None:
            at_epoch(n)
            if n == epoch:
                _stall()

        activity.at_epoch = stalling_at_epoch  # type: ignore[assignment]
        return
    imap = pool.WorkerPool.imap

    @functools.wraps(imap)
    def stalling_imap(self: Any, fn: Any, jobs: Any, **kwargs: Any) -> Any:
        if activity.current().stage == stage:
            fn = functools.partial(_stalled, fn)
        return imap(self, fn, jobs, **kwargs)

    pool.WorkerPool.imap = stalling_imap  # type: ignore[method-assign]


if STAGE:
    _install(STAGE)
