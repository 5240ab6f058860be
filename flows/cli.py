"""`zhvec`: parse arguments, load the configuration, call a flow or one stage function, print the result."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The temporary Prefect server needs ~13 s to start on an idle 2-core machine; Prefect's 20 s default
# fails under load, which a long run must survive.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


class CliError(Exception):
    """A user mistake: printed as one line, exit status 2."""


# Commands that run flows: their stages name themselves (tasks/stages.py); the others are one stage.
_LONG_RUNS = ("run", "bench")


def _config_path(arg: str | None) -> Path:
    """--config, else ./pipelines.yaml, else the one zhvec ships (its pipelines run the bundled data; in
    an installed wheel its outputs land under the current folder)."""
    from tasks import bundled

    if arg:
        return Path(arg)
    local = Path(bundled.DEFAULT_CONFIG)
    return local if local.is_file() else (bundled.shipped(bundled.DEFAULT_CONFIG) or local)


def _default(model: type[BaseModel], field: str) -> Any:
    """A config model's default, so an option's default lives in one place (tasks/config.py)."""
    return model.model_fields[field].default


def _choices(model: type[BaseModel], field: str) -> list[Any]:
    """The values a config model's Literal field (or tuple of Literals) allows."""
    annotation = model.model_fields[field].annotation
    args = get_args(annotation)
    return list(get_args(args[0]) if args and args[-1] is Ellipsis else args)


def _workers(n: int | None) -> int:
    return n or os.cpu_count() or 1


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")


def _measured(fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    from tasks.core.measure import measure

    with measure() as meter:
        out = fn()
    return out, {
        "seconds": round(meter.wall_s, 3),
        "cpu_seconds": round(meter.cpu_s, 3),
        "peak_rss_mb": round(meter.peak_rss_bytes / 2**20, 1),
    }


class RunFailed(Exception):
    """A run that failed: its error, the stage it failed in, and its full log file, for one line."""

    def __init__(self, error: BaseException, log: Path) -> None:
        from tasks.core import activity

        where = activity.current().describe()
        super().__init__(
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__} "
            f"(during {where}; full log: {log})"
        )


@contextmanager
def _operated(workspace: Path) -> Iterator[None]:
    """A long run's life around `zhvec run` / `zhvec bench`: its full log in a file of its own (the
    terminal keeps first lines), its Prefect API (a temporary server unless PREFECT_API_URL names one),
    and a failure turned into one line naming that file, its traceback written there."""
    from flows.runlog import log_path, run_log
    from flows.server import prefect_api

    with run_log(log_path(workspace)) as log:
        try:
            with prefect_api(log):
                yield
        except Exception as exc:
            with log.open("a", encoding="utf-8") as fh:
                traceback.print_exception(exc, file=fh)
            raise RunFailed(exc, log) from None


def cmd_run(args: argparse.Namespace) -> None:
    from tasks.config import load_settings

    config = _config_path(args.config)
    settings = load_settings(config)  # the run's only parse of the file: the flow is handed the result

    from flows.pipeline import run

    around = _operated(settings.workspace)
    result = run(args.pipeline, str(config.resolve()), settings, around)
    print(f"run {result.run_id} completed: {len(result.points)} points; database {settings.database}")
    print(f"report: {result.report}")


def cmd_bench(args: argparse.Namespace) -> None:
    from tasks.config import load_settings

    config = _config_path(args.config)
    settings = load_settings(config)  # the run's only parse of the file: the flow is handed the result
    from flows.bench import bench
    from tasks.bench import history
    from tasks.bench.figures import format_comparison

    around = _operated(settings.workspace)
    summary = bench(args.pipeline, str(config.resolve()), args.dump, tuple(args.systems), settings, around)
    history.append("bench", summary, settings.reports)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    baselines = summary["baselines_run_id"] or "none"
    print(f"bench on {args.dump}: zhvec run {summary['run_id']}, baselines run {baselines}")
    print(format_comparison(summary))


def cmd_results(args: argparse.Namespace) -> None:
    from tasks.config import load_settings
    from tasks.results.rows import format_results, point_results, run_fields, run_state
    from tasks.results.store import Store

    settings = load_settings(_config_path(args.config))
    if args.pipeline is not None:
        settings.pipeline(args.pipeline)  # an unknown name is an error, not an empty answer
    if not settings.database.is_file():
        raise CliError(f"{settings.database}: no results database yet; run `zhvec run` first")
    with Store(settings.database, read_only=True) as store:
        run_id = store.latest_run(args.pipeline)
        if run_id is None:
            raise CliError(f"no run of pipeline {args.pipeline or '(any)'} in {settings.database}")
        run = store.run(run_id)
        rows = point_results(store, run_id)
    if args.json:
        shown = {"run_id": run_id, **run_fields(run), "points": rows}
        print(json.dumps(shown, ensure_ascii=False, default=str))
    else:
        print(format_results(run_id, rows, run_state(run)))


def cmd_extract(args: argparse.Namespace) -> None:
    from tasks.config import ExtractOptions, load_settings
    from tasks.dump.extract import extract_dump
    from tasks.dump.fetch import is_url, resolve_dump

    options = ExtractOptions(min_chars=args.min_chars, keep_disambiguation=not args.no_disambiguation)
    index = Path(args.index) if args.index else None
    if args.cache or not is_url(args.dump):
        cache = Path(args.cache or ".")
    else:
        cache = load_settings(_config_path(args.config)).workspace / "dumps"
    files = resolve_dump(args.dump, cache, index=index, progress=not args.json)
    stats, cost = _measured(
        lambda: extract_dump(
            files.dump,
            Path(args.output),
            options=options,
            workers=_workers(args.workers),
            index=files.index,
            progress=not args.json,
        )
    )
    mbps = stats.bytes_in / 2**20 / cost["seconds"] if cost["seconds"] else 0.0
    result = {"dump": str(files.dump), **asdict(stats), **cost, "mb_per_s": round(mbps, 2)}
    if not args.json:  # per-shard figures are in the JSON and in each shard's text-NNNNN.json
        result["shards"] = len(stats.shards)
        del result["per_shard"]
    _emit(result, args.json)


def cmd_convert(args: argparse.Namespace) -> None:
    from tasks.text.convert import convert_shards

    src = Path(args.input)
    if not src.exists():
        raise CliError(f"input not found: {src}")
    stats, cost = _measured(
        lambda: convert_shards(
            src, Path(args.output), config=args.opencc, workers=_workers(args.workers), progress=not args.json
        )
    )
    mbps = stats.bytes_in / 2**20 / cost["seconds"] if cost["seconds"] else 0.0
    _emit({**asdict(stats), **cost, "mb_per_s": round(mbps, 2)}, args.json)


def cmd_segment(args: argparse.Namespace) -> None:
    from tasks.config import SegmentOptions
    from tasks.text.segment import segment_corpus

    src = Path(args.input)
    if not src.exists():
        raise CliError(f"input not found: {src}")
    options = SegmentOptions(
        engine=args.engine,
        hmm=not args.no_hmm,
        user_dicts=tuple(Path(d) for d in args.user_dict),
        stopwords=Path(args.stopwords) if args.stopwords else None,
        check_every=args.check_every,
        min_agreement=args.min_agreement,
        drop=tuple(args.drop),
    )
    stats, cost = _measured(
        lambda: segment_corpus(
            src, Path(args.output), options=options, workers=_workers(args.workers), progress=not args.json
        )
    )
    mbps = stats.bytes_in / 2**20 / cost["seconds"] if cost["seconds"] else 0.0
    _emit({**asdict(stats), **cost, "mb_per_s": round(mbps, 2)}, args.json)


def cmd_train(args: argparse.Namespace) -> None:
    from tasks.config import TrainParams
    from tasks.vectors.train import train_word2vec

    params = TrainParams(
        model=args.model,
        vector_size=args.vector_size,
        window=args.window,
        negative=args.negative,
        hs=args.hs,
        sample=args.sample,
        epochs=args.epochs,
        min_count=args.min_count,
        seed=args.seed,
        workers=args.workers,
    )
    formats = tuple(args.formats)
    stats, cost = _measured(
        lambda: train_word2vec(Path(args.corpus), params, Path(args.output), formats=formats)
    )
    wps = stats.trained_words / cost["seconds"] if cost["seconds"] else 0.0
    figures = asdict(stats)
    figures["gensim_words_per_s"] = figures.pop("words_per_s")  # per second of gensim's training alone
    _emit({**figures, **cost, "words_per_s": round(wps)}, args.json)


def _named_files(paths: list[str], option: str) -> dict[str, Path]:
    """`--analogy`/`--similarity` files keyed by file stem, the name their scores are reported under."""
    named: dict[str, Path] = {}
    for arg in paths:
        path = Path(arg)
        if not path.is_file():
            raise CliError(f"{option}: file not found: {path}")
        if path.stem in named:
            raise CliError(f"{option}: two files named {path.stem!r}: {named[path.stem]} and {path}")
        named[path.stem] = path
    return named


def cmd_evaluate(args: argparse.Namespace) -> None:
    from tasks.config import EvalSets, load_settings
    from tasks.vectors.evaluate import Method, evaluate_all, load_vectors, summary_json

    vectors = Path(args.vectors)
    if not vectors.is_file():
        raise CliError(f"vectors file not found: {vectors}")
    if args.top_n is not None and args.top_n < 1:
        raise CliError(f"--top-n must be at least 1, got {args.top_n}")
    if args.analogy or args.similarity:
        analogy = _named_files(args.analogy, "--analogy")
        similarity = _named_files(args.similarity, "--similarity")
    else:
        sets: EvalSets = load_settings(_config_path(args.config)).pipeline(None)[1].evaluate
        analogy, similarity = dict(sets.analogy), dict(sets.similarity)
    methods: tuple[Method, ...] = ("3cosadd", "3cosmul") if args.method == "both" else (args.method,)
    if args.rules == "gensim":
        if args.method == "3cosmul":
            raise CliError("--rules gensim scores 3CosAdd only (gensim has no 3CosMul)")
        methods = ("3cosadd",)
    metrics = evaluate_all(
        load_vectors(vectors), analogy, similarity, rules=args.rules, methods=methods, top_n=args.top_n
    )
    if args.json:
        print(json.dumps(summary_json(metrics), ensure_ascii=False))
        return
    for m in metrics:
        name = m.eval_set if m.category == "all" else f"{m.eval_set}/{m.category}"
        seen = f"seen {m.seen}/{m.total}, coverage {m.coverage:.1%}"
        print(f"{name:<36} {m.method:>8}: {m.value:.4f}  ({seen})")


def _query_model(args: argparse.Namespace, option: str = "--model") -> Path:
    """--model (or the `option` naming it), else the best point of the latest completed run."""
    from tasks.config import load_settings
    from tasks.results.store import Store
    from tasks.vectors.query import best_model

    if args.model:
        model = Path(args.model)
        if not model.is_file():
            raise CliError(f"{option}: vectors file not found: {model}")
        return model
    database = load_settings(_config_path(args.config)).database
    if not database.is_file():
        raise CliError(f"no results database yet: {database} (run `zhvec run` first, or pass --model)")
    with Store(database, read_only=True) as store:
        model = best_model(store)
    if not model.is_file():
        raise CliError(f"the best model's vectors are gone: {model} (re-run `zhvec run`, or pass --model)")
    return model


def _print_hits(model: Path, query: dict[str, Any], hits: list[Any], as_json: bool) -> None:
    from tasks.vectors.query import hits_json

    if as_json:
        print(json.dumps({"model": str(model), **query, "results": hits_json(hits)}, ensure_ascii=False))
        return
    print(f"model: {model}")
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank:>4}  {hit.score:8.4f}  {hit.word}")


def cmd_similar(args: argparse.Namespace) -> None:
    from tasks.vectors.evaluate import load_vectors
    from tasks.vectors.query import similar

    if args.n < 1:
        raise CliError(f"-n must be at least 1, got {args.n}")
    model = _query_model(args)
    hits = similar(load_vectors(model), args.word, args.n)
    _print_hits(model, {"word": args.word, "score": "cosine"}, hits, args.json)


def cmd_analogy(args: argparse.Namespace) -> None:
    from tasks.vectors.evaluate import load_vectors
    from tasks.vectors.query import analogy

    if args.n < 1:
        raise CliError(f"-n must be at least 1, got {args.n}")
    model = _query_model(args)
    hits = analogy(load_vectors(model), args.a, args.b, args.c, args.method, args.n)
    _print_hits(model, {"a": args.a, "b": args.b, "c": args.c, "score": args.method}, hits, args.json)


def cmd_report(args: argparse.Namespace) -> None:
    from tasks.config import load_settings
    from tasks.report.render import render_report
    from tasks.results.store import Store

    settings = load_settings(_config_path(args.config))
    if not settings.database.is_file():
        raise CliError(f"no results database yet: {settings.database} (run `zhvec run` first)")
    with Store(settings.database, read_only=True) as store:
        run_id = args.run or store.latest_run(args.pipeline)
        if run_id is None:
            raise CliError(f"no runs recorded in {settings.database}")
        print(render_report(store, run_id, settings.reports))


def _export_parquet(args: argparse.Namespace) -> None:
    from tasks.config import load_settings
    from tasks.results.store import Store

    if args.model or args.format or args.output:
        raise CliError("--parquet exports the results database: give no MODEL, --format or -o with it")
    settings = load_settings(_config_path(args.config))
    if not settings.database.is_file():
        raise CliError(f"no results database yet: {settings.database} (run `zhvec run` first)")
    with Store(settings.database, read_only=True) as store:
        for path in store.export_parquet(Path(args.parquet)):
            print(path)


def cmd_export(args: argparse.Namespace) -> None:
    if args.parquet:
        _export_parquet(args)
        return
    if not (args.format and args.output):
        raise CliError("export needs --format and -o OUT (or --parquet DIR for the results database)")
    from tasks.vectors.evaluate import load_keyed_vectors
    from tasks.vectors.export import DEFAULT_TOP_N, check_top_n, export_vectors

    top_n = DEFAULT_TOP_N if args.top_n is None else args.top_n
    tensorboard = args.format == "tensorboard"
    if tensorboard:
        check_top_n(top_n, "--top-n")  # before a model is loaded
    model = _query_model(args, option="MODEL")
    limit = top_n if tensorboard else None  # a word2vec file is then read only that far
    result, cost = _measured(
        lambda: export_vectors(load_keyed_vectors(model, limit), args.format, Path(args.output), top_n=top_n)
    )
    _emit({"model": str(model), **asdict(result), **cost}, args.json)


def cmd_serve(args: argparse.Namespace) -> None:
    from tasks.config import load_settings

    config = _config_path(args.config)
    settings = load_settings(config)
    from flows.schedule import scheduled_deployments

    deployments = scheduled_deployments(settings, config)
    if not deployments:
        raise CliError(f"{config}: no pipeline has a `schedule:` (a cron expression) to serve")
    from prefect import serve

    serve(*deployments)


def build_parser() -> argparse.ArgumentParser:
    from tasks.config import ConvertOptions, ExtractOptions, SegmentOptions, Sweep, TrainParams

    parser = argparse.ArgumentParser(
        prog="zhvec", description="Chinese Wikipedia dump → word vectors → benchmark report."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a pipeline from pipelines.yaml (default: the bundled sample)")
    p.add_argument("pipeline", nargs="?", help="pipeline name (default: `default:` in pipelines.yaml)")
    p.add_argument("--config", help="pipelines.yaml path (default: ./pipelines.yaml, else zhvec's own)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("extract", help="dump (.xml.bz2 path or http(s) URL) → prose text shards")
    p.add_argument("dump", metavar="DUMP_OR_URL")
    p.add_argument("-o", "--output", required=True, help="folder for the text shards (a re-run resumes)")
    p.add_argument("--index", help="multistream index (found next to the dump when omitted)")
    p.add_argument("--workers", type=int)
    p.add_argument(
        "--min-chars",
        type=int,
        default=_default(ExtractOptions, "min_chars"),
        help="drop articles with less prose than this",
    )
    p.add_argument("--no-disambiguation", action="store_true", help="drop disambiguation pages")
    p.add_argument("--cache", help="download folder for a URL (default: <workspace>/dumps)")
    p.add_argument("--config", help="pipelines.yaml naming the workspace (for --cache's default)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("convert", help="OpenCC conversion of a text file or shard folder")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument(
        "--opencc",
        default=_default(ConvertOptions, "config"),
        choices=_choices(ConvertOptions, "config"),
        help="OpenCC config, as convert.config in pipelines.yaml (none: no conversion); default %(default)s",
    )
    p.add_argument("--workers", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "segment", help="jieba segmentation of a text file or shard folder into one corpus file"
    )
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="corpus file (one sentence a line)")
    p.add_argument(
        "--engine",
        default=_default(SegmentOptions, "engine"),
        choices=_choices(SegmentOptions, "engine"),
        help="default %(default)s (compiled, jieba's tokens); jieba = the reference; rjieba = jieba-rs",
    )
    p.add_argument("--no-hmm", action="store_true", help="switch off jieba's HMM for unknown words")
    p.add_argument("--user-dict", action="append", default=[], help="jieba user dictionary (repeatable)")
    p.add_argument("--stopwords", help="file of words to drop, one a line")
    p.add_argument(
        "--check-every",
        type=int,
        default=_default(SegmentOptions, "check_every"),
        help="cjieba/rjieba: also cut ~1 line in N with jieba (0: off); default %(default)s",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=_default(SegmentOptions, "min_agreement"),
        help="fail below this share of checked lines agreeing with jieba (0: never); default %(default)s",
    )
    p.add_argument(
        "--drop",
        nargs="*",
        default=list(_default(SegmentOptions, "drop")),
        choices=_choices(SegmentOptions, "drop"),
    )
    p.add_argument("--workers", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("train", help="train word2vec on a corpus file")
    p.add_argument("corpus")
    p.add_argument("-o", "--output", required=True, help="folder for vectors.kv (+ .bin, .txt)")
    p.add_argument("--model", choices=_choices(TrainParams, "model"), default=_default(TrainParams, "model"))
    p.add_argument("--vector-size", type=int, default=_default(TrainParams, "vector_size"))
    p.add_argument("--window", type=int, default=_default(TrainParams, "window"))
    p.add_argument("--negative", type=int, default=_default(TrainParams, "negative"))
    p.add_argument("--hs", type=int, choices=_choices(TrainParams, "hs"), default=_default(TrainParams, "hs"))
    p.add_argument("--sample", type=float, default=_default(TrainParams, "sample"))
    p.add_argument("--epochs", type=int, default=_default(TrainParams, "epochs"))
    p.add_argument("--min-count", type=int, default=_default(TrainParams, "min_count"))
    p.add_argument("--seed", type=int, default=_default(TrainParams, "seed"))
    p.add_argument("--workers", type=int, default=_default(TrainParams, "workers"))
    p.add_argument(
        "--formats",
        nargs="*",
        default=list(_default(Sweep, "formats")),
        choices=_choices(Sweep, "formats"),
        help="files to write: kv (always), bin, txt (word2vec.c text)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score word2vec-format vectors (text or binary) on the eval sets")
    p.add_argument("vectors")
    p.add_argument("--rules", choices=["ca8", "gensim"], default="ca8")
    p.add_argument("--method", choices=["3cosadd", "3cosmul", "both"], default="both")
    p.add_argument("--top-n", type=int, help="only the N most frequent words are answer candidates")
    p.add_argument(
        "--analogy", action="append", default=[], help="`: category` + `a b c d` file (repeatable)"
    )
    p.add_argument("--similarity", action="append", default=[], help="`word word score` file (repeatable)")
    p.add_argument("--config", help="pipelines.yaml whose default pipeline names the eval sets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    model_help = "vectors (word2vec text/binary or .kv; default: best point of the latest completed run)"
    p = sub.add_parser("similar", help="nearest neighbours of a word by cosine")
    p.add_argument("word")
    p.add_argument("--model", help=model_help)
    p.add_argument("-n", type=int, default=10, help="how many neighbours")
    p.add_argument("--config", help="pipelines.yaml naming the results database")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("analogy", help="a is to b as c is to ? (a, b and c are never answers)")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    p.add_argument("--model", help=model_help)
    p.add_argument("--method", choices=["3cosadd", "3cosmul"], default="3cosadd")
    p.add_argument("-n", type=int, default=10, help="how many answers")
    p.add_argument("--config", help="pipelines.yaml naming the results database")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_analogy)

    p = sub.add_parser("bench", help="zhvec vs the tutorial pipeline and word2vec.c on one dump")
    p.add_argument("dump", help="a .xml.bz2 dump (python -m benchmarks.dumpgen bench builds one)")
    p.add_argument("--pipeline", default="bench", help="the zhvec side's pipeline (default: bench)")
    p.add_argument(
        "--systems",
        nargs="*",
        default=["tutorial", "word2vec_c"],
        choices=["tutorial", "word2vec_c"],
        help="baselines to run (none: zhvec only, e.g. a second dump size for the projection)",
    )
    p.add_argument("--config")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "export",
        help="write vectors for other tools (word2vec, gensim, TensorBoard, Keras/PyTorch), or the results "
        "database as Parquet",
    )
    p.add_argument("model", nargs="?", metavar="MODEL", help=model_help)
    p.add_argument(
        "--format",
        choices=["word2vec-txt", "word2vec-bin", "kv", "tensorboard", "embedding-matrix"],
        help="tensorboard: tensors.tsv + metadata.tsv; embedding-matrix: embeddings.npy (row 0 = padding) "
        "+ word2idx.json",
    )
    p.add_argument("-o", "--output", help="a file (word2vec-*, kv) or a folder (the others)")
    p.add_argument("--parquet", metavar="DIR", help="instead: every table and view as DIR/<name>.parquet")
    p.add_argument(
        "--top-n", type=int, help="tensorboard: the N most frequent words (default 10,000, at most 100,000)"
    )
    p.add_argument("--config", help="pipelines.yaml naming the results database")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("results", help="every point of the latest run: params, status, cost, scores")
    p.add_argument("pipeline", nargs="?", help="latest run of this pipeline (default: of any)")
    p.add_argument("--config")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("report", help="(re)write the HTML report of a run")
    p.add_argument("--run", help="run id (default: the latest)")
    p.add_argument("--pipeline", help="latest run of this pipeline")
    p.add_argument("--config")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "serve", help="run every pipeline with a `schedule:` on its cron (Prefect deployments)"
    )
    p.add_argument("--config")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit status. `zhvec … | head` ends quietly with status 0 when the
    reader goes early, whether a print meets the closed pipe or the last flush does: that flush is made
    here, since at interpreter exit it would print "Exception ignored … BrokenPipeError" and exit 120."""
    try:
        return _command(argv)
    finally:
        _flush_stdout()


def entry() -> None:
    """The `zhvec` program: `main`, then an exit that skips the interpreter's teardown, where libraries'
    exit hooks would still print (nanobind's leak report after a failure) or wait (Prefect's queues, sent
    already by then)."""
    status = main()
    sys.stderr.flush()
    os._exit(status)


def _command(argv: list[str] | None) -> int:
    from flows.interrupt import as_interrupt, stop_on_signals

    args = build_parser().parse_args(argv)
    prefix = f"zhvec {args.command}: "
    with stop_on_signals(prefix):
        try:
            return _outcome(args)
        except BaseException as exc:
            stop = as_interrupt(exc)
            if stop is None:
                raise
            print(f"{prefix}{stop}", file=sys.stderr, flush=True)
            return stop.exit_status


def _outcome(args: argparse.Namespace) -> int:
    """Run the command; a user's mistake or a failed run is one line on stderr and status 2."""
    from pydantic import ValidationError

    from tasks.core import activity
    from tasks.core.errors import InputError

    try:
        if args.command in _LONG_RUNS:
            args.func(args)
        else:
            with activity.doing(args.command):
                args.func(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        print(
            f"zhvec {args.command}: error: {'.'.join(map(str, first['loc']))}: {first['msg']}",
            file=sys.stderr,
        )
        return 2
    except (CliError, InputError, OSError, RunFailed) as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            return 0  # `zhvec … | head`: the reader has all it wanted
        print(f"zhvec {args.command}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_closed():
            raise


def _stdout_closed() -> bool:
    """True when stdout is a pipe whose reader has gone; stdout then points at /dev/null, so the flush at
    exit does not fail a second time."""
    poll = select.poll()
    poll.register(sys.stdout.fileno(), select.POLLOUT)
    if not any(events & select.POLLERR for _, events in poll.poll(0)):
        return False
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return True


if __name__ == "__main__":
    entry()
