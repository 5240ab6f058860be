"""Run a per-shard function over worker processes, in shard order, with an optional progress bar."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

R = TypeVar("R")

SENTENCE_END = frozenset("。！？!?；;…")
# Where a line too long to handle whole is cut, best first: after a sentence end (the segmenter ends the
# sentence there anyway), else after whitespace. Neither OpenCC's phrases nor the segmenters' words span such
# a character, so the converted text and the tokens are those of the uncut line.
_SENTENCE_CUTS = (b"\n", *(mark.encode() for mark in SENTENCE_END))
_SPACE_CUTS = (b" ", b"\t")


def cut_point(window: bytes) -> int:
    """Where to end `window`, the start of a text that goes on: after its last line break or sentence end,
    else after its last space, else before the last UTF-8 character that starts in it (only a text without
    punctuation or spaces for megabytes gets there). Always > 0 for a window of 2 bytes or more, so a caller
    makes progress."""
    for marks in (_SENTENCE_CUTS, _SPACE_CUTS):
        after = max(window.rfind(mark) + len(mark) if mark in window else 0 for mark in marks)
        if after:
            return after
    at = len(window) - 1
    while at > 1 and 0x80 <= window[at] < 0xC0:
        at -= 1
    return at


def list_shards(folder: Path) -> list[Path]:
    """The shard files of a stage folder, in name order; hidden temp files are not shards."""
    return sorted(p for p in folder.glob("*.txt") if not p.name.startswith("."))


def utf8_error(path: Path) -> str:
    """Name the first line of `path` that is not UTF-8: a decoder reading big blocks only knows the block.

    Lines are split at b"\\n", which never occurs inside a UTF-8 sequence, so each line decodes alone.
    """
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"{path}:{lineno}: invalid UTF-8 at byte {exc.start + 1} of the line ({exc.reason})"
    return f"{path}: invalid UTF-8"


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

    On the first failure the jobs not yet started are cancelled, so a bad shard stops the work early.
    """
    bar = tqdm(total=len(jobs), desc=progress, unit="shard", disable=progress is None)
    try:
        if workers <= 1 or len(jobs) <= 1:
            if initializer is not None:
                initializer(*initargs)
            for job in jobs:
                yield fn(*job)
                bar.update()
            return
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
            futures: deque[Future[R]] = deque()
            for job in jobs:
                fut = pool.submit(fn, *job)
                fut.add_done_callback(lambda _f: bar.update())
                futures.append(fut)
            try:
                while futures:
                    yield futures.popleft().result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()
