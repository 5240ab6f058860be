"""Wall, CPU and peak RSS of a piece of work, including the worker processes it starts."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psutil

from tasks.core.records import StageTiming


def _tree_rss(proc: psutil.Process, ignore: frozenset[int] = frozenset()) -> int:
    """RSS of `proc` and its descendants, less those in `ignore` (e.g. a Prefect server started earlier)."""
    total = 0
    for p in [proc, *(c for c in proc.children(recursive=True) if c.pid not in ignore)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


@dataclass
class Meter:
    """Filled in when the `measure` block exits."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0

    def timing(
        self,
        stage: str,
        *,
        bytes_in: int,
        bytes_out: int,
        items: int,
        item_unit: str,
        point_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> StageTiming:
        return StageTiming(
            stage=stage,
            wall_s=round(self.wall_s, 4),
            cpu_s=round(self.cpu_s, 4),
            peak_rss_bytes=self.peak_rss_bytes,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            items=items,
            item_unit=item_unit,
            point_id=point_id,
            extra=extra or {},
        )


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@contextmanager
def measure(interval: float = 0.2) -> Iterator[Meter]:
    """Sample the RSS of this process and the children it starts meanwhile; CPU counts this process and
    its reaped children.

    Worker pools must be shut down inside the block for their CPU time to be counted.
    """
    meter = Meter()
    proc = psutil.Process()
    older = frozenset(c.pid for c in proc.children(recursive=True))
    stop = threading.Event()
    peak = [_tree_rss(proc, older)]

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], _tree_rss(proc, older))

    sampler = threading.Thread(target=sample, daemon=True)
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    sampler.start()
    try:
        yield meter
    finally:
        stop.set()
        sampler.join()
        meter.wall_s = time.perf_counter() - wall0
        meter.cpu_s = _cpu_seconds() - cpu0
        meter.peak_rss_bytes = max(peak[0], _tree_rss(proc, older))
