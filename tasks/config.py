"""`pipelines.yaml` as pydantic models: validated whole before any work starts, so a typo costs nothing.

Relative paths start from the YAML file's folder; an input not found there (the sample dump, the eval sets,
the eval-vocabulary dictionary) is taken from the files zhvec ships with (`tasks.bundled`), so a copy of
the default pipelines.yaml runs the sample from any folder, from an editable or a wheel install."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks import bundled
from tasks.core.errors import InputError


class ConfigError(InputError):
    """A configuration problem, phrased as one line naming the file and the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtractOptions(Strict):
    min_chars: int = Field(0, ge=0, description="drop articles with less prose than this (0 keeps all)")
    keep_disambiguation: bool = Field(True, description="keep disambiguation pages (false drops them)")


class ConvertOptions(Strict):
    config: Literal["t2s", "tw2s", "tw2sp", "hk2s", "none"] = Field(
        "t2s",
        description="OpenCC config to simplified: t2s, tw2s, tw2sp (Taiwan phrases too), hk2s; none: as is",
    )


Engine = Literal["cjieba", "jieba", "rjieba"]


class SegmentOptions(Strict):
    engine: Engine = Field(
        "cjieba",
        description="cjieba (zhvec's compiled jieba: jieba.cut's tokens, ~20x faster); jieba = jieba.cut "
        "itself; rjieba (jieba-rs: same Han tokens, differs on digit/Latin runs)",
    )
    hmm: bool = Field(True, description="jieba's HMM for words not in the dictionary")
    user_dicts: tuple[Path, ...] = Field(
        (), description="jieba-format user dictionaries, applied to every engine"
    )
    stopwords: Path | None = Field(None, description="UTF-8 file of words to drop, one a line")
    drop: tuple[Literal["punct", "digits", "latin"], ...] = Field(
        ("punct",), description="token classes to drop; whitespace tokens are always dropped"
    )
    split_sentences: bool = Field(
        True, description="end a corpus line after 。！？!?；;… (false: one line per paragraph)"
    )
    max_tokens_per_line: int = Field(
        10000, ge=1, le=10000, description="longer sentences are cut into several lines (gensim's limit)"
    )
    check_every: int = Field(
        200, ge=0, description="cjieba, rjieba: also cut ~1 line in N with jieba, report agreement (0: off)"
    )
    min_agreement: float = Field(
        0.999,
        ge=0,
        le=1,
        description="cjieba, rjieba: the stage fails when a smaller share of the checked lines agrees with "
        "jieba (cjieba: all tokens; rjieba: Han tokens); 0: never fails",
    )


# fastText's character n-grams: Chinese words are 1–4 characters, so n-grams of 1–3 characters of `<word>`
# (gensim adds the `<` `>` boundaries) hold the characters and character pairs, like CWE's character contexts.
FASTTEXT_MIN_N = 1
FASTTEXT_MAX_N = 3
FASTTEXT_BUCKET = 2_000_000  # gensim's and fastText's default number of n-gram hash buckets
FASTTEXT_ONLY = ("min_n", "max_n", "bucket")


class TrainParams(Strict):
    """One sweep point: the word2vec.c knobs gensim exposes; `model: fasttext` is gensim's FastText
    (skip-gram plus character n-grams `min_n`..`max_n` hashed into `bucket` rows), the only model those
    three keys apply to."""

    model: Literal["sg", "cbow", "fasttext"] = Field(
        "sg", description="sg: skip-gram; cbow: continuous bag of words; fasttext: skip-gram + char n-grams"
    )
    hs: Literal[0, 1] = Field(0, description="1: hierarchical softmax")
    vector_size: int = Field(100, ge=1, description="dimensions of each vector")
    window: int = Field(5, ge=1, description="largest distance between a word and its context words")
    negative: int = Field(5, ge=0, description="negative samples per word (0: no negative sampling)")
    ns_exponent: float = Field(0.75, ge=-1, le=1, description="negative-sampling table exponent")
    sample: float = Field(1e-4, ge=0, le=1, description="down-sampling threshold for frequent words (0: off)")
    epochs: int = Field(5, ge=1, description="passes over the corpus")
    min_count: int = Field(5, ge=1, description="words seen fewer times are left out of the vocabulary")
    alpha: float = Field(0.025, gt=0, description="learning rate at the start")
    min_alpha: float = Field(0.0001, ge=0, description="learning rate at the end (linear decay)")
    seed: int = Field(1, description="random seed")
    workers: int | None = Field(
        None, ge=1, description="training threads; null = os.cpu_count(); not part of a point's identity"
    )
    min_n: int | None = Field(
        None, ge=1, description=f"fasttext: shortest char n-gram (null: {FASTTEXT_MIN_N})"
    )
    max_n: int | None = Field(
        None, ge=1, description=f"fasttext: longest char n-gram (null: {FASTTEXT_MAX_N})"
    )
    bucket: int | None = Field(
        None, ge=1, description=f"fasttext: n-gram hash buckets (null: {FASTTEXT_BUCKET:,})"
    )

    @model_validator(mode="after")
    def _needs_an_objective(self) -> TrainParams:
        if self.hs == 0 and self.negative == 0:
            raise ValueError("hs or negative must be > 0 (both are 0: nothing to train)")
        if self.min_alpha > self.alpha:
            raise ValueError(f"min_alpha ({self.min_alpha}) must not exceed alpha ({self.alpha})")
        given = [k for k in FASTTEXT_ONLY if getattr(self, k) is not None]
        if self.model != "fasttext" and given:
            raise ValueError(
                f"{', '.join(given)} apply to model fasttext only (character n-grams); "
                f"remove them from this {self.model} point"
            )
        if self.model == "fasttext" and self.ngram_range()[0] > self.ngram_range()[1]:
            raise ValueError(
                f"min_n ({self.ngram_range()[0]}) must not exceed max_n ({self.ngram_range()[1]})"
            )
        return self

    def ngram_range(self) -> tuple[int, int]:
        """fastText's (min_n, max_n), defaults filled in."""
        return (
            FASTTEXT_MIN_N if self.min_n is None else self.min_n,
            FASTTEXT_MAX_N if self.max_n is None else self.max_n,
        )

    def label(self) -> str:
        """Short human name, e.g. `sg-d100-w5-n5`."""
        obj = f"n{self.negative}" if self.negative else "hs"
        ngrams = "-c{}{}".format(*self.ngram_range()) if self.model == "fasttext" else ""
        return f"{self.model}{ngrams}-d{self.vector_size}-w{self.window}-{obj}-e{self.epochs}"


VectorFormat = Literal["kv", "bin", "txt"]
DEFAULT_VECTOR_FORMATS: tuple[VectorFormat, ...] = ("kv", "bin")

# Pairs whose cosine is tracked per epoch: near neighbours of several kinds, all in the sample's vocabulary.
DEFAULT_PROBES: tuple[tuple[str, str], ...] = (
    ("北京", "上海"),
    ("中国", "美国"),
    ("经济", "政治"),
    ("男人", "女人"),
)


def _point_error(where: str, err: ValidationError) -> str:
    """One line naming the sweep point and its bad key, with the allowed values for a choice."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(point)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = f"unknown key; allowed: {', '.join(TrainParams.model_fields)}"
    elif first["type"] == "literal_error" and "expected" in first.get("ctx", {}):
        msg = f"allowed values: {first['ctx']['expected']}"
    return f"{where}: {key}: {msg} (got {first.get('input')!r})"


class Sweep(Strict):
    """Cartesian `grid` over `base`, plus explicit `points`; duplicates are dropped."""

    base: dict[str, Any] = Field(default_factory=dict, description="sweep-point keys shared by every point")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="sweep-point key → values; every combination is a point"
    )
    points: list[dict[str, Any]] = Field(
        default_factory=list, description="explicit points, each over `base`, added to the grid's"
    )
    track_epochs: bool = Field(True, description="loss, quick eval and probe cosines after every epoch")
    probes: tuple[tuple[str, str], ...] = Field(DEFAULT_PROBES, description="word pairs tracked per epoch")
    formats: tuple[VectorFormat, ...] = Field(
        DEFAULT_VECTOR_FORMATS,
        description="files each point writes: kv (vectors.kv, gensim; always written: evaluation reads it), "
        "bin (vectors.bin), txt (vectors.txt, word2vec.c text: GBs for a 1 M-word model; `zhvec export` "
        "writes it from a trained model too)",
    )

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
        for values in itertools.product(*(self.grid[k] for k in keys)) if keys else ():
            combos.append({**self.base, **dict(zip(keys, values, strict=True))})
        combos += [{**self.base, **p} for p in self.points]
        if not combos:
            combos = [dict(self.base)]
        resolved: list[TrainParams] = []
        for n, combo in enumerate(combos):
            try:
                params = TrainParams(**combo)
            except ValidationError as exc:
                where = f"point {n + 1} of {len(combos)} ({', '.join(f'{k}={v}' for k, v in combo.items())})"
                raise ValueError(_point_error(where, exc)) from None
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
        },
        description="analogy sets, name → file of `: category` lines and `a b c d` questions",
    )
    similarity: dict[str, Path] = Field(
        default_factory=lambda: {
            "wordsim240": Path("data/eval/wordsim/wordsim-240.txt"),
            "wordsim297": Path("data/eval/wordsim/wordsim-297.txt"),
        },
        description="similarity sets, name → file of `word word score` lines",
    )
    headlines: tuple[str, ...] = Field(
        ("ca8_morphological", "ca8_semantic", "ca_translated", "wordsim240", "wordsim297"),
        description="the sets whose score (3CosAdd for analogy sets, Spearman for similarity sets) heads "
        "the report, `zhvec results` and the `point_summary` view, in this order; other scored sets follow",
    )
    tracked: tuple[str, ...] = Field(
        ("ca_translated", "wordsim240"),
        description="the quick eval after every epoch (with `sweep.track_epochs`): these of the sets above",
    )

    @model_validator(mode="after")
    def _named_sets_exist(self) -> EvalSets:
        """Given explicitly, every name must be a set here; the defaults apply to whichever sets exist."""
        known = {*self.analogy, *self.similarity}
        for key in sorted(self.model_fields_set & {"headlines", "tracked"}):
            unknown = [n for n in getattr(self, key) if n not in known]
            if unknown:
                raise ValueError(
                    f"{key}: {', '.join(unknown)} not among the analogy or similarity sets "
                    f"({', '.join(sorted(known)) or 'none'})"
                )
        return self


class SyntheticOptions(Strict):
    """A generated corpus instead of a dump (tasks/synthetic/languages.py): languages whose structure is
    known."""

    languages: tuple[Literal["random", "proximity"], ...] = Field(
        ("random", "proximity"),
        description="random: words drawn independently; proximity: a walk to nearby alphabet words",
    )
    sentences: int = Field(10000, ge=1, description="sentences per language")
    sentence_length: int = Field(20, ge=2, description="words per sentence")
    vocabulary: int = Field(26, ge=3, le=1_000_000, description="words: aaa … zzz for 26")
    neighbour_window: int = Field(
        3, ge=1, description="proximity: the next word is at most this many alphabet positions away"
    )
    seed: int = Field(1, description="random seed of the generator (same seed, same corpus bytes)")

    @model_validator(mode="after")
    def _sensible(self) -> SyntheticOptions:
        if not self.languages or len(set(self.languages)) != len(self.languages):
            raise ValueError(f"languages must be distinct and non-empty, got {list(self.languages)}")
        if self.neighbour_window >= self.vocabulary - 1:
            raise ValueError(
                f"neighbour_window ({self.neighbour_window}) must be < vocabulary - 1 "
                f"({self.vocabulary - 1}), else every word is every word's neighbour"
            )
        return self


class Pipeline(Strict):
    description: str = Field(
        "", description="free text; also the description of its `zhvec serve` deployment"
    )
    dump: Path | str | None = Field(
        None,
        description="the dump file, or an http(s) URL: downloaded (resumably) into <workspace>/dumps and "
        "checked against the sha1sums/md5sums file published beside it",
    )
    synthetic: SyntheticOptions | None = Field(None, description="generate the corpus instead of a dump")
    index: Path | None = Field(None, description="multistream index; found next to the dump when omitted")
    workers: int | None = Field(None, ge=1, description="processes per stage; null = os.cpu_count()")
    extract: ExtractOptions = Field(ExtractOptions(), description="what the extract stage keeps")
    convert: ConvertOptions = Field(ConvertOptions(), description="OpenCC conversion")
    segment: SegmentOptions = Field(SegmentOptions(), description="word segmentation and token filters")
    sweep: Sweep = Field(Sweep(), description="the training points and what is tracked per epoch")
    evaluate: EvalSets = Field(EvalSets(), description="the eval sets every point is scored on")
    schedule: str | None = Field(
        None, description="cron expression (UTC) for `zhvec serve`, e.g. '0 3 * * 1'; null = not scheduled"
    )

    def points(self) -> list[TrainParams]:
        return self.sweep.resolve()

    def with_dump(self, dump: Path | str) -> Pipeline:
        """This pipeline on another dump (a path or URL; a multistream index is looked for beside it)."""
        source = dump if isinstance(dump, str) and dump.startswith(("http://", "https://")) else Path(dump)
        return self.model_copy(
            update={"dump": source.resolve() if isinstance(source, Path) else source, "index": None}
        )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        """Checked by the same class Prefect will schedule with, so `zhvec serve` cannot refuse it later."""
        if value is None:
            return value
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=value)
        except ValidationError:
            raise ValueError(
                f"not a valid cron expression: {value!r} (minute hour day month weekday)"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Pipeline:
        if (self.dump is None) == (self.synthetic is None):
            raise ValueError(
                "give exactly one of `dump` (a Wikipedia dump) or `synthetic` (a generated corpus)"
            )
        return self

    @field_validator("dump", mode="before")
    @classmethod
    def _path_unless_url(cls, value: object) -> object:
        """A URL stays a string; anything else is a path (pydantic would keep every string a string)."""
        if isinstance(value, str) and not value.startswith(("http://", "https://")):
            return Path(value)
        return value


DASK_ADDRESS_ENV = "ZHVEC_DASK_ADDRESS"


class DaskOptions(Strict):
    address: str | None = Field(
        None,
        description=f"scheduler, e.g. tcp://host:8786; ${DASK_ADDRESS_ENV} overrides; neither: a temporary "
        "local cluster",
    )
    timeout_s: float = Field(10.0, gt=0, description="how long to wait for the scheduler before failing")


class Settings(Strict):
    workspace: Path = Field(Path("work"), description="stage outputs, keyed by inputs, params and code")
    database: Path = Field(Path("work/zhvec.duckdb"), description="DuckDB file recording every run")
    reports: Path = Field(Path("reports"), description="HTML reports: index.html and <pipeline>/<run>/")
    default: str = Field("sample", description="pipeline `zhvec run` runs when none is named")
    task_runner: Literal["local", "dask"] = Field(
        "local", description="local: points one after another; dask: points as tasks on a Dask cluster"
    )
    dask: DaskOptions = Field(DaskOptions(), description="where `task_runner: dask` sends the points")
    pipelines: dict[str, Pipeline] = Field(description="name → pipeline")

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
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "literal_error" and "expected" in first.get("ctx", {}):
        msg = f"allowed values: {first['ctx']['expected']}"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{path}: {loc}: {msg}{more}"


def _resolve_paths(settings: Settings, root: Path, outputs: Path) -> Settings:
    """Make every relative path absolute, so runs work from any cwd. Outputs (workspace, database,
    reports) are relative to `outputs`; an input (dump, index, dictionaries, stopwords, eval sets) is
    looked for in `root` first, then among the files zhvec ships with (tasks/bundled: the sample dump,
    data/eval, data/dicts), so a copy of the default pipelines.yaml runs the sample from any folder. An
    input found in neither place keeps its path under `root`, which the missing-file error names."""

    def fix(p: Path, base: Path = root) -> Path:
        return p if p.is_absolute() else (base / p).resolve()

    def find(p: Path) -> Path:
        beside = fix(p)
        if p.is_absolute() or beside.exists():
            return beside
        return bundled.shipped(p) or beside

    pipelines = {}
    for name, pl in settings.pipelines.items():
        seg = pl.segment.model_copy(
            update={
                "user_dicts": tuple(find(d) for d in pl.segment.user_dicts),
                "stopwords": find(pl.segment.stopwords) if pl.segment.stopwords else None,
            }
        )
        ev = pl.evaluate.model_copy(
            update={
                "analogy": {k: find(v) for k, v in pl.evaluate.analogy.items()},
                "similarity": {k: find(v) for k, v in pl.evaluate.similarity.items()},
            }
        )
        pipelines[name] = pl.model_copy(
            update={
                "dump": find(pl.dump) if isinstance(pl.dump, Path) else pl.dump,
                "index": find(pl.index) if pl.index else None,
                "segment": seg,
                "evaluate": ev,
            }
        )
    return settings.model_copy(
        update={
            "workspace": fix(settings.workspace, outputs),
            "database": fix(settings.database, outputs),
            "reports": fix(settings.reports, outputs),
            "pipelines": pipelines,
        }
    )


def load_settings(path: Path) -> Settings:
    """Parse and validate `pipelines.yaml`; every failure is a one-line ConfigError.

    Relative paths start from the file's folder; inputs missing there are taken from the files zhvec
    ships with (see `_resolve_paths`). The copy of the default pipelines.yaml inside an installed wheel
    writes its outputs under the current folder instead, never into the installed package."""
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
    folder = path.parent.resolve()
    return _resolve_paths(settings, folder, Path.cwd().resolve() if folder == bundled.folder() else folder)
