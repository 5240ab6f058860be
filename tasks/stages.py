"""Thin Prefect tasks over the stage functions: key the output by inputs + params + code, skip finished
work, measure what runs, and return typed records (identities hashed, figures read) for the flow to store."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from tasks.bench import baselines as baselines_mod
from tasks.bench import figures as figures_mod
from tasks.config import (
    DEFAULT_VECTOR_FORMATS,
    EvalSets,
    ExtractOptions,
    SegmentOptions,
    Sweep,
    SyntheticOptions,
    TrainParams,
    VectorFormat,
)
from tasks.core import activity, reuse
from tasks.core.identity import StageCode, hash_parts
from tasks.core.measure import measure
from tasks.core.records import ArtifactRecord, EpochRow, Metric, StageTiming
from tasks.core.workspace import StageDir, file_sha256, stage_key, write_json_atomic
from tasks.dump import extract as extract_mod
from tasks.dump.plan import DumpPlan
from tasks.report.render import render_report
from tasks.report.sections import summary_markdown
from tasks.results.store import Store
from tasks.synthetic import languages as synthetic_mod
from tasks.text import convert as convert_mod
from tasks.text import dicts as dicts_mod
from tasks.text import segment as segment_mod
from tasks.vectors import evaluate as evaluate_mod
from tasks.vectors import subword as subword_mod
from tasks.vectors import train as train_mod
from tasks.vectors import vocab as vocab_mod

CORPUS = "corpus.txt"
METRICS = "metrics.json"


@dataclass(frozen=True)
class StageOutput:
    """A finished stage: its cache key, its output folder, what it cost, and its counts."""

    key: str
    path: str
    timing: StageTiming
    stats: dict[str, Any]


def _extend(out: StageOutput) -> dict[str, Any]:
    """A StageOutput's fields, for building the typed output of one stage from it."""
    return {f.name: getattr(out, f.name) for f in fields(StageOutput)}


@dataclass(frozen=True)
class DumpInput:
    """The run's planned dump on local disk, its multistream index (None for a single-stream dump), the
    SHA-256 of its bytes (the identity the extract stage and the run are keyed by) and the plan it came
    from (the name and date the run is known by)."""

    dump: Path
    index: Path | None
    sha256: str
    plan: DumpPlan


@dataclass(frozen=True)
class SyntheticCorpus(StageOutput):
    """A generated language's corpus: trained like a segmented dump, then scored against its alphabet."""

    language: synthetic_mod.Language
    neighbour_window: int


@dataclass(frozen=True)
class TrainedModel(StageOutput):
    """A train stage's vectors with the figures the run records."""

    model: str
    vocab_size: int
    trained_words: int
    epochs: tuple[EpochRow, ...]


@dataclass(frozen=True)
class BaselineOutput(StageOutput):
    """A baseline's vectors (the tutorial pipeline, word2vec.c), with its stage costs in zhvec's terms."""

    vocab_size: int
    timings: tuple[StageTiming, ...]


@dataclass(frozen=True)
class ReportOutput:
    """The run's HTML report with its identity, and the leaderboard and best point for the Prefect UI."""

    path: Path
    artifact: ArtifactRecord
    leaderboard: list[dict[str, Any]]
    best_markdown: str


def file_artifacts(files: Mapping[Path, str], point_id: str | None) -> list[ArtifactRecord]:
    """Identity (size, SHA-256) of the files that exist among `files` (path → kind), so a copied model or
    report can be checked against the run that made it."""
    return [
        ArtifactRecord(str(path), kind, file_sha256(path), path.stat().st_size, point_id)
        for path, kind in files.items()
        if path.is_file()
    ]


def synthetic_identity(options: SyntheticOptions) -> str:
    """A generated corpus's stand-in for a dump's SHA-256: the hash of its generator's settings."""
    settings_json = json.dumps(options.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(settings_json.encode()).hexdigest()


Body = Callable[[Path], tuple[dict[str, Any], dict[str, Any]]]


def run_stage(
    root: Path,
    stage: str,
    inputs: list[str],
    params: dict[str, Any],
    code: StageCode,
    body: Body,
    point_id: str | None = None,
    resume: bool = False,
) -> StageOutput:
    """Run `body(out_dir) -> (stats, io)` unless a manifest says this exact work is already done.

    The key is derived from the inputs, the parameters that shape the output and the stage's declared code
    (`StageCode`: its modules, what they import, its C, its libraries). Whether the output was reused or
    made, and why (`reuse.why_run`), goes into the log and the timing's `extra["reuse"]`. `resume` keeps
    what an unfinished earlier attempt left in the folder, for a body that resumes from it.
    """
    parts = code.parts()
    sd = StageDir(root, stage, stage_key(stage, inputs, params, hash_parts(parts)))
    if sd.done():
        manifest = sd.manifest()
        extra = {**manifest["timing"]["extra"], "reuse": "reused"}
        timing = StageTiming(**{**manifest["timing"], "extra": extra, "cached": True, "point_id": point_id})
        _log_reuse(stage, sd.key, None)
        return StageOutput(sd.key, str(sd.path), timing, manifest["stats"])
    declared = {"inputs": inputs, "params": params, "code_parts": parts}
    why = reuse.why_run(root / stage, declared)
    _log_reuse(stage, sd.key, why)
    out = sd.prepare(resume=resume)
    with activity.doing(stage), measure() as meter:
        stats, io = body(out)
    timing = meter.timing(stage, point_id=point_id, extra={**stats, "reuse": why}, **io)
    sd.finish(
        {
            "stage": stage,
            "key": sd.key,
            **declared,
            "code": hash_parts(parts),
            "timing": timing.as_dict(),
            "stats": stats,
        }
    )
    return StageOutput(sd.key, str(sd.path), timing, stats)


def _log_reuse(stage: str, key: str, why: str | None) -> None:
    """One line per stage: reused, or run and why; in the run's log when there is a run."""
    try:
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = get_run_logger()
    except MissingContextError:
        logger = logging.getLogger(__name__)
    if why is None:
        logger.info("%s %s: reused", stage, key)
    else:
        logger.info("%s %s: run (%s)", stage, key, why)


def _jsonable(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


@task(name="fetch", cache_policy=NO_CACHE)
def fetch(root: Path, plan: DumpPlan) -> DumpInput:
    """The planned dump on local disk (a path as planned, not looked at again; a URL downloaded into
    `<workspace>/dumps` and verified) and the SHA-256 of its bytes."""
    files = plan.files(root / "dumps", progress=True)
    return DumpInput(files.dump, files.index, file_sha256(files.dump), plan)


@task(name="extract", cache_policy=NO_CACHE)
def extract(
    root: Path, dump: Path, dump_sha256: str, index: Path | None, options: ExtractOptions, workers: int
) -> StageOutput:
    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        stats = extract_mod.extract_dump(
            dump, out, options=options, workers=workers, index=index, progress=True
        )
        io = {
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "items": stats.articles,
            "item_unit": "articles",
        }
        return asdict(stats), io

    return run_stage(root, "extract", [dump_sha256], _jsonable(options), extract_mod.CODE, body, resume=True)


@task(name="convert", cache_policy=NO_CACHE)
def convert(root: Path, text: StageOutput, config: str, workers: int) -> StageOutput:
    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        stats = convert_mod.convert_shards(
            Path(text.path), out, config=config, workers=workers, progress=True
        )
        io = {
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "items": stats.chars,
            "item_unit": "chars",
        }
        return asdict(stats), io

    return run_stage(root, "convert", [text.key], {"config": config}, convert_mod.CODE, body)


@task(name="segment", cache_policy=NO_CACHE)
def segment(
    root: Path, text: StageOutput, options: SegmentOptions, workers: int, sets: EvalSets
) -> StageOutput:
    """The corpus, keyed by what shapes its bytes: the eval sets only get their OOV rates in its stats
    (`eval_oov`), read from its list of words, so adding one does not segment again."""

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        stats = segment_mod.segment_corpus(
            Path(text.path),
            out / CORPUS,
            options=options,
            workers=workers,
            words_file=out / segment_mod.WORDS_FILE,
            progress=True,
        )
        io = {
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "items": stats.tokens,
            "item_unit": "tokens",
        }
        return asdict(stats), io

    extra_files = [*options.user_dicts, *filter(None, [options.stopwords])]
    inputs = [text.key, *(file_sha256(d) for d in extra_files)]
    params = _jsonable(options) | {"min_agreement": None}  # a check of the output, not a maker of it
    code = segment_mod.RJIEBA_CODE if options.engine == "rjieba" else segment_mod.CODE
    out = run_stage(root, "segment", inputs, params, code, body)
    oov = segment_mod.eval_oov(Path(out.path) / segment_mod.WORDS_FILE, dicts_mod.eval_set_words(sets))
    timing = replace(out.timing, extra={**out.timing.extra, "eval_oov": oov})
    return replace(out, timing=timing, stats={**out.stats, "eval_oov": oov})


@task(name="synthesize", cache_policy=NO_CACHE, task_run_name="synthesize-{language}")
def synthesize(root: Path, options: SyntheticOptions, language: synthetic_mod.Language) -> SyntheticCorpus:
    """Generate one synthetic language as a corpus stage: the train stage reads it like a segmented dump."""

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        stats = synthetic_mod.write_corpus(
            language,
            out,
            sentences=options.sentences,
            sentence_length=options.sentence_length,
            vocabulary=options.vocabulary,
            neighbour_window=options.neighbour_window,
            seed=options.seed,
            corpus_name=CORPUS,
        )
        io = {"bytes_in": 0, "bytes_out": stats.bytes_out, "items": stats.tokens, "item_unit": "tokens"}
        stats_dict = asdict(stats) | {"neighbour_window": options.neighbour_window}
        return stats_dict, io

    params = _jsonable(options) | {"language": language}
    del params["languages"]  # one language per stage: the others must not change its key
    stage = f"synthesize-{language}"  # one stage name per language: each has its own timing row
    out = run_stage(root, stage, [], params, synthetic_mod.CODE, body)
    return SyntheticCorpus(**_extend(out), language=language, neighbour_window=options.neighbour_window)


@task(name="structure", cache_policy=NO_CACHE)
def structure(root: Path, model: StageOutput, corpus: SyntheticCorpus) -> tuple[StageOutput, list[Metric]]:
    """Score a synthetic language's vectors against its alphabet (tasks/synthetic/languages.py)."""
    vectors = Path(model.path) / train_mod.KV_FILE
    alphabet = Path(corpus.path) / synthetic_mod.ALPHABET_FILE

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        metrics = synthetic_mod.structure_metrics(
            evaluate_mod.load_vectors(vectors),
            synthetic_mod.read_alphabet(alphabet),
            corpus.language,
            corpus.neighbour_window,
        )
        write_json_atomic(out / METRICS, {"metrics": [m.as_dict() for m in metrics]})
        io = {
            "bytes_in": vectors.stat().st_size,
            "bytes_out": (out / METRICS).stat().st_size,
            "items": sum(m.total for m in metrics if m.method == synthetic_mod.SPEARMAN_METHOD),
            "item_unit": "pairs",
        }
        return {"metrics": len(metrics)}, io

    out = run_stage(root, "structure", [model.key], {}, synthetic_mod.CODE, body, point_id=model.key)
    return out, _saved_metrics(out)


def _saved_metrics(out: StageOutput) -> list[Metric]:
    saved = (Path(out.path) / METRICS).read_text(encoding="utf-8")
    return [Metric(**m) for m in json.loads(saved)["metrics"]]


def tracking(sets: EvalSets, sweep: Sweep) -> train_mod.TrainTracking | None:
    """Per-epoch tracking for a sweep: the quick eval sets (`evaluate.tracked`) among the pipeline's, and
    its probe pairs."""
    if not sweep.track_epochs:
        return None
    return train_mod.TrainTracking(
        analogy={k: p for k, p in sets.analogy.items() if k in sets.tracked},
        similarity={k: p for k, p in sets.similarity.items() if k in sets.tracked},
        probes=sweep.probes,
    )


@task(name="vocab", cache_policy=NO_CACHE, task_run_name="vocab-min{min_count}")
def vocab(root: Path, corpus: StageOutput, min_count: int, workers: int) -> StageOutput:
    """The corpus's word counts for `min_count`, counted once for every sweep point that trains with it."""
    corpus_file = Path(corpus.path) / CORPUS

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        counted = vocab_mod.count_vocabulary(corpus_file, min_count, workers=workers, progress=True)
        vocab_mod.write_vocabulary(counted, out / vocab_mod.VOCAB_FILE)
        io = {
            "bytes_in": corpus_file.stat().st_size,
            "bytes_out": (out / vocab_mod.VOCAB_FILE).stat().st_size,
            "items": counted.total_words,
            "item_unit": "words",
        }
        return counted.stats(), io

    return run_stage(root, "vocab", [corpus.key], {"min_count": min_count}, vocab_mod.CODE, body)


def _train_identity(corpus: StageOutput, params: TrainParams) -> tuple[list[str], dict[str, Any]]:
    """What a point's vectors are made of: the corpus (its vocabulary is counted from it for
    params.min_count by the vocab stage, whose code the train stage imports) and the params but the thread
    count, which changes speed, not what is learned. The files written and the sets tracked per epoch
    are left out: they change no vector."""
    return [corpus.key], _jsonable(params) | {"workers": None}


def point_id(corpus: StageOutput, params: TrainParams) -> str:
    """A sweep point's id: the key of its training output, known before (and even without) training."""
    return stage_key("train", *_train_identity(corpus, params), train_mod.CODE.version())


@task(name="train", cache_policy=NO_CACHE, task_run_name="train-{params.model}-w{params.window}")
def train(
    root: Path,
    corpus: StageOutput,
    words: StageOutput,
    params: TrainParams,
    track: train_mod.TrainTracking | None = None,
    formats: tuple[VectorFormat, ...] = DEFAULT_VECTOR_FORMATS,
) -> TrainedModel:
    """Train one point on `corpus` with its vocabulary `words` (the vocab stage's output for the point's
    min_count), writing `formats`; a point trained before gets the formats it lacks from its vectors.kv."""
    corpus_file = Path(corpus.path) / CORPUS

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        counted = vocab_mod.read_vocabulary(Path(words.path) / vocab_mod.VOCAB_FILE)
        stats = train_mod.train_word2vec(
            corpus_file, params, out, tracking=track, vocab=counted, formats=formats
        )
        io = {
            "bytes_in": corpus_file.stat().st_size,
            "bytes_out": stats.bytes_out,
            # the words trained by this run of the stage: a resumed point's kept epochs cost it nothing
            "items": stats.corpus_words * (params.epochs - stats.resumed_from_epoch),
            "item_unit": "words",
        }
        return asdict(stats), io

    inputs, semantic = _train_identity(corpus, params)
    # resumed: a killed training's checkpoints stay in the folder (train_word2vec picks up from them)
    pid = point_id(corpus, params)
    out = run_stage(root, "train", inputs, semantic, train_mod.CODE, body, point_id=pid, resume=True)
    train_mod.write_missing_formats(Path(out.path), formats)
    stats = train_mod.TrainStats(**out.stats)  # what the body returned, or the manifest of an earlier run
    return TrainedModel(
        **_extend(out),
        model=stats.model,
        vocab_size=stats.vocab_size,
        trained_words=stats.trained_words,
        epochs=tuple(EpochRow(int(r["epoch"]), str(r["metric"]), float(r["value"])) for r in stats.epochs),
    )


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate(root: Path, model: StageOutput, sets: EvalSets) -> tuple[StageOutput, list[Metric]]:
    vectors = Path(model.path) / train_mod.KV_FILE
    subword = isinstance(model, TrainedModel) and model.model == "fasttext"

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        vecs = evaluate_mod.load_vectors(vectors)
        metrics = evaluate_mod.evaluate_all(vecs, dict(sets.analogy), dict(sets.similarity))
        if subword:  # the same sets again, unseen words answered from their n-grams (vectors/subword.py)
            metrics += subword_mod.evaluate_subword(vectors, dict(sets.analogy), dict(sets.similarity))
        write_json_atomic(out / METRICS, {"metrics": [m.as_dict() for m in metrics]})
        io = {
            "bytes_in": vectors.stat().st_size,
            "bytes_out": (out / METRICS).stat().st_size,
            "items": sum(m.total for m in metrics if m.category == "all"),
            "item_unit": "questions",
        }
        return {"metrics": len(metrics)}, io

    files = [*sets.analogy.values(), *sets.similarity.values()]
    inputs = [model.key, *(f"{p.name}:{file_sha256(p)}" for p in files)]
    params = {"analogy": sorted(sets.analogy), "similarity": sorted(sets.similarity)}
    code = subword_mod.CODE if subword else evaluate_mod.CODE
    out = run_stage(root, "evaluate", inputs, params, code, body, point_id=model.key)
    return out, _saved_metrics(out)


@dataclass(frozen=True)
class PointOutput:
    """A trained and scored sweep point, as one task returns it (from a Dask worker, too), with the
    identity of its vector files."""

    model: TrainedModel
    scored: StageOutput
    metrics: list[Metric]
    artifacts: list[ArtifactRecord]
    checked: StageOutput | None = None  # the structure check, for a synthetic language

    @property
    def timings(self) -> list[StageTiming]:
        checked = [self.checked.timing] if self.checked is not None else []
        return [self.model.timing, self.scored.timing, *checked]


@task(name="point", cache_policy=NO_CACHE, retries=1, task_run_name="point-{params.model}-w{params.window}")
def point(
    root: Path,
    corpus: StageOutput,
    words: StageOutput,
    params: TrainParams,
    sets: EvalSets,
    track: train_mod.TrainTracking | None = None,
    formats: tuple[VectorFormat, ...] = DEFAULT_VECTOR_FORMATS,
) -> PointOutput:
    """Train and evaluate one point as one unit of work, so a runner ships it whole to one worker; a
    failure is retried once (a finished train stage is reused by the retry)."""
    with activity.doing("train", params.label()):
        model = train.fn(root, corpus, words, params, track, formats)
        scored, metrics = evaluate.fn(root, model, sets)
    vectors = {Path(model.path) / name: f"vectors-{fmt}" for fmt, name in train_mod.VECTOR_FILES.items()}
    artifacts = file_artifacts(vectors, model.key)
    if not isinstance(corpus, SyntheticCorpus):
        return PointOutput(model, scored, metrics, artifacts)
    checked, found = structure.fn(root, model, corpus)
    return PointOutput(model, scored, [*metrics, *found], artifacts, checked)


@task(name="tutorial", cache_policy=NO_CACHE, task_run_name="tutorial-{model}")
def tutorial(root: Path, dump: Path, dump_sha: str, model: str, epochs: int) -> BaselineOutput:
    """The tutorial pipeline, dump to vectors, for one model (it always redoes its preprocessing)."""

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        result = baselines_mod.run_tutorial(dump, out, model, epochs)
        io = {
            "bytes_in": dump.stat().st_size,
            "bytes_out": (out / baselines_mod.VECTORS).stat().st_size,
            "items": result["report"]["corpus_words"] * epochs,
            "item_unit": "words",
        }
        return result, io

    params = {"model": model, "epochs": epochs}
    out = run_stage(root, "tutorial", [f"dump:{dump_sha}"], params, baselines_mod.TUTORIAL_CODE, body)
    timings = baselines_mod.tutorial_timings(out.stats, dump.stat().st_size, epochs, out.key)
    return BaselineOutput(**_extend(out), vocab_size=int(out.stats["vocab"]), timings=tuple(timings))


@task(name="word2vec_c", cache_policy=NO_CACHE, task_run_name="word2vec_c-{params.model}")
def word2vec_c(root: Path, corpus: StageOutput, params: TrainParams, threads: int) -> BaselineOutput:
    """The original word2vec.c trained on zhvec's corpus with a point's params."""
    corpus_file = Path(corpus.path) / CORPUS

    def body(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        result = baselines_mod.run_word2vec_c(corpus_file, params, threads, out)
        io = {
            "bytes_in": corpus_file.stat().st_size,
            "bytes_out": result["bytes_out"],
            "items": int(corpus.stats["tokens"]) * params.epochs,
            "item_unit": "words",
        }
        return result, io

    semantic = {**params.model_dump(mode="json"), "threads": threads}
    code = baselines_mod.WORD2VEC_C_CODE
    out = run_stage(root, "word2vec_c", [corpus.key], semantic, code, body, point_id=None)
    train_timing = replace(out.timing, stage="train", point_id=out.key)
    return BaselineOutput(**_extend(out), vocab_size=int(out.stats["vocab"]), timings=(train_timing,))


@task(name="report", cache_policy=NO_CACHE)
def report(database: Path, run_id: str, out_dir: Path) -> ReportOutput:
    """Write the run's HTML report (and refresh the index of runs) from a read-only connection, so it runs
    once the run's records are committed and the recorder's connection is closed."""
    with Store(database, read_only=True) as store:
        path = render_report(store, run_id, out_dir)
        board = store.leaderboard(run_id)
        best = summary_markdown(store, run_id)
    (artifact,) = file_artifacts({path: "report"}, None)
    return ReportOutput(path, artifact, board, best)


@task(name="bench-summary", cache_policy=NO_CACHE)
def bench_summary(database: Path, run_id: str, baselines_run_id: str | None) -> dict[str, Any]:
    """The comparison of zhvec's run with its baselines run (tasks/bench/figures.py), read-only."""
    with Store(database, read_only=True) as store:
        return figures_mod.summary(store, store.run(run_id), baselines_run_id)
