"""The one process pool: jobs run on spawned worker processes and their results come back in job order.

`worker_pool` starts the workers and `WorkerPool.imap` feeds them; `map_shards` and `imap_shards` run a
per-shard function over a list of shards with a progress bar (convert, segment). Extraction uses the pool
directly: it starts the workers before its jobs are planned and bounds how many are in flight.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from tqdm import tqdm

R = TypeVar("R")


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
        running are let finish (what they write lands), so a bad input stops the work early.
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
                future = executor.submit(fn, *job)
                if done is not None:
                    future.add_done_callback(partial(_call_done, done, job))
                pending.append(future)
                while in_flight is not None and pending and (len(pending) > in_flight or pending[0].done()):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise


@contextmanager
def worker_pool(
    workers: int, *, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[WorkerPool]:
    """`workers` spawned processes, each running `initializer(*initargs)` first, all started at once so they
    start up (import their modules, run the initializer) while the caller plans its jobs; one worker (or
    fewer) means no process: the initializer and the jobs run in this process.

    Spawn, not fork: the caller may be a threaded Prefect worker, and forking threads is unsafe.
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield WorkerPool(None)
        return
    ctx = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs)
    try:
        for _ in range(workers):  # the executor starts a process per job submitted while none is idle
            executor.submit(_ready)
        yield WorkerPool(executor)
    finally:
        executor.shutdown(cancel_futures=True)


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
