"""What this process is working on now (stage, sweep point, epoch). A run's heartbeat records it, so a
reader can watch a run from another terminal, and an interrupted run names it in its last line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Activity:
    stage: str | None = None
    point: str | None = None
    epoch: int | None = None

    def describe(self) -> str:
        """`train of point sg-d300-w5-n5-e5, epoch 3`, `segment`, or `start` before any stage."""
        text = self.stage or "start"
        if self.point is not None:
            text += f" of point {self.point}"
        if self.epoch is not None:
            text += f", epoch {self.epoch}"
        return text


_now = Activity()


def current() -> Activity:
    return _now


@contextmanager
def doing(stage: str, point: str | None = None) -> Iterator[None]:
    """Mark `stage` (of `point`, else of the point in hand) as the work in hand for the block. What was in
    hand before comes back when the block ends well; when it raises, the stage that failed stays in hand
    for the error line and the run's record to name."""
    global _now
    before = _now
    _now = Activity(stage, point if point is not None else before.point)
    yield
    _now = before


def at_epoch(epoch: int) -> None:
    """Training has started epoch `epoch` (1-based) of the work in hand."""
    global _now
    _now = replace(_now, epoch=epoch)
