import multiprocessing
import time
from multiprocessing.synchronize import Event

import psutil

from tasks.core.measure import measure


def _hold_memory(megabytes: int, ready: Event, release: Event) -> None:
    block = bytearray(megabytes << 20)
    block[::4096] = b"x" * len(block[::4096])
    ready.set()
    release.wait(60)


def test_counts_children_started_inside_and_ignores_older_ones() -> None:
    ctx = multiprocessing.get_context("spawn")
    older_ready, older_release = ctx.Event(), ctx.Event()
    older = ctx.Process(target=_hold_memory, args=(300, older_ready, older_release))
    older.start()
    assert older_ready.wait(60)  # holding its 300 MB before the blocks below start
    own = psutil.Process().memory_info().rss
    with measure(interval=0.02) as quiet:
        time.sleep(0.2)
    ready, release = ctx.Event(), ctx.Event()
    with measure(interval=0.02) as busy:
        child = ctx.Process(target=_hold_memory, args=(200, ready, release))
        child.start()
        assert ready.wait(60)
        time.sleep(0.3)  # several sampling intervals while the child holds its memory
        release.set()
        child.join()
    older_release.set()
    older.join()
    assert quiet.peak_rss_bytes < own + (100 << 20)  # the 300 MB child from before the block is not counted
    assert busy.peak_rss_bytes > quiet.peak_rss_bytes + (150 << 20)
    assert busy.wall_s >= 0.3 and busy.cpu_s > 0
