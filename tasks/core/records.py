"""Plain records that tasks return and the flow hands to the store: the only shapes that cross stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StageTiming:
    """What one stage (or one sweep point of it) cost; `items` counted in `item_unit`."""

    stage: str
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    bytes_in: int
    bytes_out: int
    items: int
    item_unit: str
    point_id: str | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Metric:
    """One score: analogy accuracy (`correct`/`seen`) or a similarity correlation over covered pairs.

    `category` is `"all"` for the whole file. For similarity sets `seen` is the covered pair count and
    `correct` is None.
    """

    eval_set: str
    category: str
    method: str
    rules: str
    value: float
    seen: int
    total: int
    correct: int | None = None

    @property
    def coverage(self) -> float:
        return self.seen / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PointResult:
    """A trained sweep point: its identity, params, outcome and where its vectors are."""

    point_id: str
    label: str
    params: dict[str, Any]
    status: str
    vocab_size: int = 0
    train_words: int = 0
    vectors_dir: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EpochRow:
    """One per-epoch figure of a trained point: `metric` is 'loss', 'seconds', '<set>_<method>' or
    'probe:<w1>|<w2>' (tasks/vectors/train.py)."""

    epoch: int
    metric: str
    value: float


@dataclass(frozen=True)
class ArtifactRecord:
    """A file a run produced (vectors, the report) with the identity needed to trust a copy of it."""

    path: str
    kind: str
    sha256: str
    bytes: int
    point_id: str | None = None
