"""The one process pool: jobs run on spawned worker processes and their results come back in job order.

`worker_pool` starts the workers and `WorkerPool.imap` feeds them; `map_shards` and `imap_shards` run a
per-shard function over a list of shards with a progress bar (convert, segment). Extraction uses the pool
directly: it starts the workers before its jobs are planned and bounds how many are in flight.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from tqdm import tqdm

from tasks.core.lifeline import die_with_parent

R = TypeVar("R")
_HELD = {signal.SIGINT, signal.SIGTERM}


class WorkerPool:
    """Worker processes that run jobs (a job is the tuple of a function's arguments); without processes
    (one worker) the jobs run in the calling process."""

    def __init__(self, executor: ProcessPoolExecutor | None) -> None:
        self._executor = executor

    def imap(
        self,
        fn: Callable[..., R],
        jobs: Iterable[tuple[Any, ...]],
        *,
        in_flight: int | None = None,
        done: Callable[[tuple[Any, ...]], None] | None = None,
    ) -> Generator[R, None, None]:
        """`fn(*job)` for each job, yielded in job order as the results are ready; `done(job)` is called as
        each job finishes (for a progress bar).

        Jobs are submitted as `jobs` yields them. With `in_flight`, at most that many are submitted and not
        yet taken; past it only the oldest is waited for, and results already finished are taken as they
        come: waiting for all of them would idle the workers that finish first, and bounding them bounds the
        memory of jobs that carry data. Without it every job is submitted at once.

        On the first failure, in a job or in `jobs` itself, the jobs not yet started are cancelled and those
        running are let finish (what they write lands), so a bad input stops the work early. An interrupt
        (Ctrl-C, SIGTERM) waits for nothing: `worker_pool` stops the workers.
        """
        if self._executor is None:
            for job in jobs:
                result = fn(*job)
                if done is not None:
                    done(job)
                yield result
            return
        executor = self._executor
        pending: deque[Future[R]] = deque()
        try:
            for job in jobs:
                future = executor.submit(_run_job, fn, *job)
                if done is not None:
                    future.add_done_callback(partial(_call_done, done, job))
                pending.append(future)
                while in_flight is not None and pending and (len(pending) > in_flight or pending[0].done()):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except Exception:
            executor.shutdown(wait=True, cancel_futures=True)
            raise


@contextmanager
def worker_pool(
    workers: int, *, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[WorkerPool]:
    """`workers` spawned processes, each running `initializer(*initargs)` first, all started at once so they
    start up (import their modules, run the initializer) while the caller plans its jobs; one worker (or
    fewer) means no process: the initializer and the jobs run in this process.

    Spawn, not fork: the caller may be a threaded Prefect worker, and forking threads is unsafe. The workers
    die with this process (`lifeline`), leave the terminal's Ctrl-C to it, and are stopped by it when it
    is interrupted, without waiting for their jobs.
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield WorkerPool(None)
        return
    ctx = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_start_worker, initargs=(os.getpid(), initializer, initargs)
    )
    try:
        with _signals_held():
            for _ in range(workers):  # the executor starts a process per job submitted while none is idle
                executor.submit(_ready)
        yield WorkerPool(executor)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # an interrupt: the jobs' results are not wanted
            _stop_workers(executor)
        raise
    finally:
        executor.shutdown(cancel_futures=True)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM in this thread while it starts workers: they inherit the mask, so a Ctrl-C
    that reaches them before they ignore it waits (and is then dropped) instead of printing a traceback.
    The signals still reach this process through its other threads."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)


def _start_worker(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """A worker's set-up: end with the parent, ignore the terminal's Ctrl-C (the parent decides), turn
    SIGTERM into an exit that runs `finally` blocks (temp files go), then the caller's initializer."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    if initializer is not None:
        initializer(*initargs)


_in_job = False
_stopped_by: int | None = None


def _run_job(fn: Callable[..., R], *job: Any) -> R:
    """`fn(*job)` in a worker, marked as running so that SIGTERM unwinds it, then ends the worker."""
    global _in_job
    _in_job = True
    try:
        return fn(*job)
    finally:
        _in_job = False
        if _stopped_by is not None:
            os._exit(128 + _stopped_by)


def _exit_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM in a worker: a job unwinds first (its `finally` blocks delete its temp files), an idle or
    starting worker just ends."""
    global _stopped_by
    _stopped_by = signum
    if _in_job:
        raise SystemExit(128 + signum)
    os._exit(128 + signum)


def _stop_workers(executor: ProcessPoolExecutor, grace_s: float = 2.0) -> None:
    """SIGTERM every worker, then SIGKILL those still alive after `grace_s` (one stuck in C code)."""
    processes = list(getattr(executor, "_processes", {}).values())
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _call_done(done: Callable[[tuple[Any, ...]], None], job: tuple[Any, ...], _future: Future[Any]) -> None:
    """A future's done-callback: `done(job)`, whatever the outcome."""
    done(job)


def _ready() -> None:
    """Nothing: submitting it starts a worker process."""


def map_shards(
    fn: Callable[..., R],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    progress: str | None = None,
) -> list[R]:
    """`[fn(*job) for job in jobs]` on `workers` spawned processes (one in-process when workers == 1)."""
    return list(
        imap_shards(fn, jobs, workers=workers, initializer=initializer, initargs=initargs, progress=progress)
    )


def imap_shards(
    fn: Callable[..., R],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    progress: str | None = None,
) -> Generator[R, None, None]:
    """`map_shards` as a generator: results come in job order as they are ready and are not kept, so a
    caller can fold big per-shard results (e.g. vocabularies) without holding all of them at once.

    All jobs are submitted at once, on no more workers than there are jobs; on the first failure the jobs
    not yet started are cancelled, so a bad shard stops the work early.
    """
    bar = tqdm(total=len(jobs), desc=progress, unit="shard", disable=progress is None)
    try:
        with worker_pool(min(workers, len(jobs)), initializer=initializer, initargs=initargs) as pool:
            yield from pool.imap(fn, jobs, done=lambda _job: bar.update())
    finally:
        bar.close()
