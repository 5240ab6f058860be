import multiprocessing
import time

from tasks.measure import measure


def _hold_memory(megabytes: int, seconds: float) -> None:
    block = bytearray(megabytes << 20)
    block[::4096] = b"x" * len(block[::4096])
    time.sleep(seconds)


def test_counts_children_started_inside_and_ignores_older_ones() -> None:
    ctx = multiprocessing.get_context("spawn")
    older = ctx.Process(target=_hold_memory, args=(300, 3.0))
    older.start()
    time.sleep(1.5)  # spawned, and holding its 300 MB
    with measure(interval=0.02) as quiet:
        time.sleep(0.1)
    with measure(interval=0.02) as busy:
        child = ctx.Process(target=_hold_memory, args=(200, 0.6))
        child.start()
        child.join()
    older.join()
    assert quiet.peak_rss_bytes < 250 << 20  # the 300 MB child started before the block is not ours
    assert busy.peak_rss_bytes > quiet.peak_rss_bytes + (150 << 20)
    assert busy.wall_s >= 0.6 and busy.cpu_s > 0
