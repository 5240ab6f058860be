"""`pipelines.yaml` as pydantic models: validated whole before any work starts, so a typo costs nothing."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.errors import InputError


class ConfigError(InputError):
    """A configuration problem, phrased as one line naming the file and the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtractOptions(Strict):
    min_chars: int = Field(0, ge=0, description="drop articles with less prose than this (0 keeps all)")
    keep_disambiguation: bool = True


class ConvertOptions(Strict):
    config: Literal["t2s", "tw2s", "tw2sp", "hk2s", "none"] = "t2s"


class SegmentOptions(Strict):
    engine: Literal["jieba"] = "jieba"
    hmm: bool = True
    user_dicts: tuple[Path, ...] = ()
    drop: tuple[Literal["punct", "digits", "latin"], ...] = Field(
        ("punct",), description="token classes to drop; whitespace tokens are always dropped"
    )
    split_sentences: bool = True
    max_tokens_per_line: int = Field(10000, ge=1, le=10000)


class TrainParams(Strict):
    """One sweep point: the word2vec.c knobs gensim exposes."""

    model: Literal["sg", "cbow"] = "sg"
    hs: Literal[0, 1] = 0
    vector_size: int = Field(100, ge=1)
    window: int = Field(5, ge=1)
    negative: int = Field(5, ge=0)
    ns_exponent: float = 0.75
    sample: float = Field(1e-4, ge=0)
    epochs: int = Field(5, ge=1)
    min_count: int = Field(5, ge=1)
    alpha: float = Field(0.025, gt=0)
    min_alpha: float = Field(0.0001, ge=0)
    seed: int = 1
    workers: int | None = Field(None, ge=1, description="threads; null = os.cpu_count()")

    @model_validator(mode="after")
    def _needs_an_objective(self) -> TrainParams:
        if self.hs == 0 and self.negative == 0:
            raise ValueError("hs or negative must be > 0 (both are 0: nothing to train)")
        return self

    def label(self) -> str:
        """Short human name, e.g. `sg-d100-w5-n5`."""
        obj = f"n{self.negative}" if self.negative else "hs"
        return f"{self.model}-d{self.vector_size}-w{self.window}-{obj}-e{self.epochs}"


class Sweep(Strict):
    """Cartesian `grid` over `base`, plus explicit `points`; duplicates are dropped."""

    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    points: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("grid")
    @classmethod
    def _grid_values_nonempty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"grid.{key} is empty; give at least one value")
        return grid

    def resolve(self) -> list[TrainParams]:
        combos: list[dict[str, Any]] = []
        keys = list(self.grid)
        for values in itertools.product(*(self.grid[k] for k in keys)):
            combos.append({**self.base, **dict(zip(keys, values, strict=True))})
        combos += [{**self.base, **p} for p in self.points]
        if not combos:
            combos = [dict(self.base)]
        resolved: list[TrainParams] = []
        for combo in combos:
            params = TrainParams(**combo)
            if params not in resolved:
                resolved.append(params)
        return resolved

    @model_validator(mode="after")
    def _points_valid(self) -> Sweep:
        self.resolve()
        return self


class EvalSets(Strict):
    analogy: dict[str, Path] = Field(
        default_factory=lambda: {
            "ca8_morphological": Path("data/eval/ca8/morphological.txt"),
            "ca8_semantic": Path("data/eval/ca8/semantic.txt"),
            "ca_translated": Path("data/eval/ca8/ca_translated.txt"),
        }
    )
    similarity: dict[str, Path] = Field(
        default_factory=lambda: {
            "wordsim240": Path("data/eval/wordsim/wordsim-240.txt"),
            "wordsim297": Path("data/eval/wordsim/wordsim-297.txt"),
        }
    )


class Pipeline(Strict):
    description: str = ""
    dump: Path
    index: Path | None = Field(None, description="multistream index; found next to the dump when omitted")
    workers: int | None = Field(None, ge=1, description="processes per stage; null = os.cpu_count()")
    extract: ExtractOptions = ExtractOptions()
    convert: ConvertOptions = ConvertOptions()
    segment: SegmentOptions = SegmentOptions()
    sweep: Sweep = Sweep()
    evaluate: EvalSets = EvalSets()

    def points(self) -> list[TrainParams]:
        return self.sweep.resolve()


class Settings(Strict):
    workspace: Path = Path("work")
    database: Path = Path("work/zhvec.duckdb")
    reports: Path = Path("reports")
    default: str = "sample"
    pipelines: dict[str, Pipeline]

    @model_validator(mode="after")
    def _default_exists(self) -> Settings:
        if self.default not in self.pipelines:
            raise ValueError(
                f"default pipeline {self.default!r} is not among pipelines: {sorted(self.pipelines)}"
            )
        return self

    def pipeline(self, name: str | None) -> tuple[str, Pipeline]:
        name = name or self.default
        if name not in self.pipelines:
            raise ConfigError(f"unknown pipeline {name!r}; known: {', '.join(sorted(self.pipelines))}")
        return name, self.pipelines[name]


def _format_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "literal_error" and "expected" in first.get("ctx", {}):
        msg = f"allowed values: {first['ctx']['expected']}"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{path}: {loc}: {msg}{more}"


def _resolve_paths(settings: Settings, root: Path) -> Settings:
    """Make every relative path absolute against the YAML file's folder, so runs work from any cwd."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else (root / p).resolve()

    pipelines = {}
    for name, pl in settings.pipelines.items():
        seg = pl.segment.model_copy(update={"user_dicts": tuple(fix(d) for d in pl.segment.user_dicts)})
        ev = EvalSets(
            analogy={k: fix(v) for k, v in pl.evaluate.analogy.items()},
            similarity={k: fix(v) for k, v in pl.evaluate.similarity.items()},
        )
        pipelines[name] = pl.model_copy(
            update={
                "dump": fix(pl.dump),
                "index": fix(pl.index) if pl.index else None,
                "segment": seg,
                "evaluate": ev,
            }
        )
    return settings.model_copy(
        update={
            "workspace": fix(settings.workspace),
            "database": fix(settings.database),
            "reports": fix(settings.reports),
            "pipelines": pipelines,
        }
    )


def load_settings(path: Path) -> Settings:
    """Parse and validate `pipelines.yaml`; every failure is a one-line ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with a `pipelines` key")
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None
    return _resolve_paths(settings, path.parent.resolve())


def check_inputs(name: str, pipeline: Pipeline) -> None:
    """Fail before any work when an input file named by the pipeline is missing."""
    if not pipeline.dump.is_file():
        raise ConfigError(f"pipelines.{name}.dump: dump file not found: {pipeline.dump}")
    if pipeline.index is not None and not pipeline.index.is_file():
        raise ConfigError(f"pipelines.{name}.index: index file not found: {pipeline.index}")
    for d in pipeline.segment.user_dicts:
        if not d.is_file():
            raise ConfigError(f"pipelines.{name}.segment.user_dicts: file not found: {d}")
    for kind, sets in (("analogy", pipeline.evaluate.analogy), ("similarity", pipeline.evaluate.similarity)):
        for key, p in sets.items():
            if not p.is_file():
                raise ConfigError(f"pipelines.{name}.evaluate.{kind}.{key}: file not found: {p}")
