"""Run a per-shard function over worker processes, in shard order, with an optional progress bar."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

R = TypeVar("R")


def list_shards(folder: Path) -> list[Path]:
    """The shard files of a stage folder, in name order; hidden temp files are not shards."""
    return sorted(p for p in folder.glob("*.txt") if not p.name.startswith("."))


def map_shards(
    fn: Callable[..., R],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    progress: str | None = None,
) -> list[R]:
    """`[fn(*job) for job in jobs]` on `workers` spawned processes (one in-process when workers == 1).

    Spawn, not fork: the caller may be a threaded Prefect worker, and forking threads is unsafe.
    """
    bar = tqdm(total=len(jobs), desc=progress, unit="shard", disable=progress is None)
    try:
        if workers <= 1 or len(jobs) <= 1:
            if initializer is not None:
                initializer(*initargs)
            results = []
            for job in jobs:
                results.append(fn(*job))
                bar.update()
            return results
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
            futures = [pool.submit(fn, *job) for job in jobs]
            for fut in futures:
                fut.add_done_callback(lambda _f: bar.update())
            return [f.result() for f in futures]
    finally:
        bar.close()
