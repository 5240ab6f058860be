"""The benchmark history: one JSON line per benchmark run in `reports/benchmarks/history.jsonl`, appended by
`zhvec bench` and `python -m benchmarks.<name>`, and `reports/benchmarks/README.md` generated from it (the
latest run's figures and every run's headline figures per benchmark), so no measurement is typed by hand.

    python -m tasks.bench.history render [--history PATH]    # rewrite the READMEs from the history
    python -m tasks.bench.history render --check             # exit 1 if a README is not current

`render` also rewrites the benchmark summary of the project README (between `SUMMARY_START` and
`SUMMARY_END`, when it is run on the repository's own history), so the figures there are the history's.

`$ZHVEC_BENCH_HISTORY` names another history file (its README goes beside it), e.g. for tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.core.workspace import atomic_path

ENV = "ZHVEC_BENCH_HISTORY"
FOLDER = "benchmarks"  # inside the reports folder
HISTORY = "history.jsonl"
README = "README.md"
REQUIRED = ("utc", "commit", "host", "cores", "python", "benchmark", "command", "figures")
OPTIONAL = ("source", "note")  # where a run recorded before the history existed was found, and what it says

Figure = int | float | bool | str
Record = dict[str, Any]

# Per benchmark: what it measures, how to run it, and the figures shown in its history table.
BENCHMARKS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "bench": (
        "zhvec against the tutorial pipeline and word2vec.c on one dump, seconds are wall "
        "(figures as in `zhvec bench --json`)",
        "zhvec bench DUMP",
        [
            ("models.sg.speedup.preprocess", "sg preprocessing ×tutorial"),
            ("models.cbow.speedup.preprocess", "cbow preprocessing ×tutorial"),
            ("models.sg.systems.zhvec.preprocess_s", "zhvec preprocessing s"),
            ("models.sg.quality.mean_diff_points", "sg quality vs tutorial"),
            ("models.cbow.quality.mean_diff_points", "cbow quality vs tutorial"),
            ("models.sg.gensim_vs_word2vec_c", "sg gensim ×word2vec.c"),
        ],
    ),
    "extract": (
        "extraction against gensim's WikiCorpus and bz2 decompression, on both dump layouts",
        "python -m benchmarks.extract",
        [
            ("multistream.ratios.speedup_vs_wikicorpus", "multistream ×WikiCorpus"),
            ("multistream.ratios.throughput_vs_lbzip2", "multistream share of lbzip2"),
            ("multistream.zhvec.seconds", "multistream zhvec s"),
            ("single.ratios.speedup_vs_wikicorpus", "single ×WikiCorpus"),
            ("single.ratios.throughput_vs_lbzip2", "single share of lbzip2"),
            ("single.zhvec.seconds", "single zhvec s"),
            ("cleaner.mchars_per_cpu_s", "cleaner M chars/CPU s"),
        ],
    ),
    "segment": (
        "conversion and segmentation against the tutorial's serial loops, on the same real text",
        "python -m benchmarks.segment",
        [
            ("segment.jieba.speedup", "engine jieba ×loop"),
            ("segment.at_once.speedup", "loops at once ×loop"),
            ("segment.default.speedup", "default engine ×loop"),
            ("segment.default.engine", "default engine"),
            ("segment.rjieba.speedup", "rjieba ×loop"),
            ("convert.stage_n_workers_mb_s_per_core", "convert MB/s per core"),
            ("convert.stage_n_workers_marginal_mb_s_per_core", "convert marginal MB/s per core"),
        ],
    ),
    "evaluate": (
        "the full evaluation suite on a 1,000,000-word model, and the gensim rules against gensim",
        "python -m benchmarks.evaluate",
        [
            ("suite.evaluate_s", "suite s"),
            ("suite.evaluate_cpu_s", "suite CPU s"),
            ("suite.peak_rss_mb_during_evaluate", "suite peak RSS MB"),
            ("gensim.speedup", "gensim rules ×gensim"),
        ],
    ),
    "train": (
        "training with gensim's corpus_file path against word2vec.c, same corpus, params and threads",
        "python -m benchmarks.train",
        [
            ("cbow.gensim_vs_c", "cbow gensim ×C"),
            ("sg.gensim_vs_c", "sg gensim ×C"),
            ("cbow.gensim_tracked_vs_c", "cbow tracked ×C"),
            ("sg.gensim_tracked_vs_c", "sg tracked ×C"),
            ("cbow.gensim_s", "cbow gensim s"),
            ("sg.gensim_s", "sg gensim s"),
        ],
    ),
    "tracking": (
        "per-epoch tracking of a 1,000,000 × 300 model; the vocabulary count against gensim's build_vocab",
        "python -m benchmarks.tracking",
        [
            ("tracking.before_s", "tracking s per epoch, before"),
            ("tracking.after_s", "tracking s per epoch"),
            ("tracking.same_scores", "same scores"),
            ("vocab.corpus_mb", "vocab corpus MB"),
            ("vocab.gensim_build_vocab_s", "gensim build_vocab s"),
            ("vocab.count_s", "vocab count s"),
            ("vocab.same_vocabulary", "same vocabulary"),
        ],
    ),
    "synthetic": (
        "`zhvec run synthetic` from nothing, against the one-minute budget",
        "python -m benchmarks.synthetic",
        [
            ("runs.1.wall_s", "run 1 s"),
            ("runs.2.wall_s", "run 2 s"),
            ("runs.1.rho.proximity", "run 1 proximity ρ"),
            ("runs.1.rho.random", "run 1 random ρ"),
        ],
    ),
    "scale": (
        "the CA8 authors' point end to end (extract → report) on a zhwiki-scale dump, "
        "from an empty workspace",
        "python -m benchmarks.scale run PIPELINE",
        [
            ("pipeline", "pipeline"),
            ("wall_s", "wall s"),
            ("peak_rss_gb", "peak RSS GB"),
            ("workspace_vs_dump", "workspace ×dump"),
            ("corpus_words", "corpus words"),
            ("vocab_size", "vocabulary"),
            ("scores.ca8_semantic_3cosadd", "ca8_semantic"),
        ],
    ),
    "scale_cores": (
        "each stage of a zhwiki-scale dump with 1 and with 2 workers (train: one epoch): the serial share "
        "the projection to more cores uses",
        "python -m benchmarks.scale cores PIPELINE",
        [
            ("cores.extract.serial_share", "extract serial"),
            ("cores.convert.serial_share", "convert serial"),
            ("cores.segment.serial_share", "segment serial"),
            ("cores.vocab.serial_share", "vocab serial"),
            ("cores.train.serial_share", "train serial"),
        ],
    ),
    "scale_preprocess": (
        "extract, convert, segment and the vocabulary count of a zhwiki-scale dump on every core, without "
        "training (for the full size)",
        "python -m benchmarks.scale preprocess PIPELINE",
        [
            ("pipeline", "pipeline"),
            ("dump_bytes", "dump bytes"),
            ("corpus_words", "corpus words"),
            ("vocab_size", "vocabulary"),
            ("min_count", "min_count"),
            ("extract_s", "extract s"),
            ("segment_s", "segment s"),
        ],
    ),
    "scale_projection": (
        "the CA8 point at zhwiki's full size, projected from the scale runs "
        "(the arithmetic is in benchmarks/scale.py)",
        "python -m benchmarks.scale project",
        [
            ("full.cores2.total_h", "2 cores h"),
            ("full.cores8.total_h", "8 cores h"),
            ("full.cores32.total_h", "32 cores h"),
            ("sweep3.one_machine_h", "3 points, 1 machine h"),
            ("sweep3.three_machines_h", "3 points, 3 machines h"),
            ("full.vocab_size", "vocabulary (Heaps)"),
            ("full.peak_rss_gb", "peak RSS GB"),
        ],
    ),
    "report": (
        "the report of a zhwiki-sized run (a 1,000,000 × 300 best model): render, page size, headless "
        "Chromium's load",
        "python -m benchmarks.report",
        [
            ("render.render_s", "render s"),
            ("render.peak_rss_mb", "render peak RSS MB"),
            ("report_mb", "report MB"),
            ("chromium.all_charts_drawn_s", "Chromium all charts drawn s"),
            ("words", "words"),
        ],
    ),
    "dask_sweep": (
        "a 3-point sweep run locally and on a Dask scheduler with 3 single-thread worker processes, and "
        "the wall it projects for 3 machines",
        "python -m benchmarks.dask_sweep",
        [
            ("local.sweep_wall_s", "local sweep s"),
            ("dask.sweep_wall_s", "Dask sweep s"),
            ("dask.overhead_s", "Dask overhead s"),
            ("projection.three_machines_s", "3 machines s (projected)"),
            ("projection.speedup_vs_local", "×local (projected)"),
        ],
    ),
    "run": (
        "`zhvec run` of a pipeline as the project README recorded it before this history existed "
        "(nothing appends these now)",
        "",
        [
            ("wall_s", "wall s"),
            ("flow_s", "flow s"),
            ("segment_engine", "engine"),
            ("coverage_pct.ca8_morphological", "ca8_morphological coverage %"),
        ],
    ),
}

# The project README's summary: (what is measured, benchmark, figure keys shown as "a / b", command).
SUMMARY: list[tuple[str, str, tuple[str, ...], str]] = [
    (
        "preprocessing (extract + convert + segment) ×the tutorial pipeline, sg / cbow",
        "bench",
        ("models.sg.speedup.preprocess", "models.cbow.speedup.preprocess"),
        "zhvec bench DUMP",
    ),
    (
        "mean of the five headline scores minus the tutorial's, points, sg / cbow",
        "bench",
        ("models.sg.quality.mean_diff_points", "models.cbow.quality.mean_diff_points"),
        "zhvec bench DUMP",
    ),
    (
        "training speed, gensim ×word2vec.c on the same corpus, sg / cbow",
        "bench",
        ("models.sg.gensim_vs_word2vec_c", "models.cbow.gensim_vs_word2vec_c"),
        "zhvec bench DUMP",
    ),
    (
        "extract ×gensim WikiCorpus, multistream / single stream",
        "extract",
        ("multistream.ratios.speedup_vs_wikicorpus", "single.ratios.speedup_vs_wikicorpus"),
        "python -m benchmarks.extract",
    ),
    (
        "extract throughput as a share of lbzip2's, multistream / single stream",
        "extract",
        ("multistream.ratios.throughput_vs_lbzip2", "single.ratios.throughput_vs_lbzip2"),
        "python -m benchmarks.extract",
    ),
    (
        "segment ×a serial jieba loop, default engine / engine jieba / MB of text",
        "segment",
        ("segment.default.speedup", "segment.jieba.speedup", "segment.input_mb"),
        "python -m benchmarks.segment",
    ),
    (
        "full evaluation of a 1,000,000 × 300 model, seconds",
        "evaluate",
        ("suite.evaluate_s",),
        "python -m benchmarks.evaluate",
    ),
    (
        "the CA8 authors' point end to end on a zhwiki-scale dump: pipeline / wall s / peak RSS GB",
        "scale",
        ("pipeline", "wall_s", "peak_rss_gb"),
        "python -m benchmarks.scale run scale-quarter",
    ),
    (
        "the CA8 point at full zhwiki size, projected hours on 2 / 8 / 32 cores",
        "scale_projection",
        ("full.cores2.total_h", "full.cores8.total_h", "full.cores32.total_h"),
        "python -m benchmarks.scale project",
    ),
    (
        "report of a run whose best model is 1,000,000 × 300: render s / Chromium draws it, s / MB",
        "report",
        ("render.render_s", "chromium.all_charts_drawn_s", "report_mb"),
        "python -m benchmarks.report",
    ),
    (
        "analogies with `--rules gensim` ×gensim's evaluate_word_analogies",
        "evaluate",
        ("gensim.speedup",),
        "python -m benchmarks.evaluate",
    ),
]
SUMMARY_START = "<!-- bench-summary:start -->"
SUMMARY_END = "<!-- bench-summary:end -->"


class HistoryError(ValueError):
    """A history file that cannot be read as benchmark runs; the message names the file and line."""


def history_path(reports: Path) -> Path:
    """The history file: `$ZHVEC_BENCH_HISTORY`, else `<reports>/benchmarks/history.jsonl`."""
    env = os.environ.get(ENV)
    return Path(env) if env else reports / FOLDER / HISTORY


def flatten(figures: Mapping[str, Any], prefix: str = "") -> dict[str, Figure]:
    """Nested results as one level of dotted names (list items numbered from 1). Only numbers, booleans and
    text are figures; None, and NaN or infinite numbers, are left out."""
    flat: dict[str, Figure] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, list | tuple):
            flat |= flatten({str(i): v for i, v in enumerate(value, start=1)}, f"{name}.")
        elif isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
            flat[name] = value
    return flat


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def code_commit() -> str | None:
    """HEAD of the checkout this code runs from, `-dirty` if tracked files changed (the reports folder, which
    this history is in, and Markdown, which a run's summary rewrites, aside); None outside a git checkout."""
    sha = _git("rev-parse", "--short", "HEAD")
    if sha is None:
        return None
    changes = _git(
        "status", "--porcelain", "--untracked-files=no", "--", ":(top,exclude)reports", ":(top,exclude)*.md"
    )
    return f"{sha}-dirty" if changes else sha


def command_line() -> str:
    """This process's command as typed: `python -m module args` or `zhvec args`, without the folders."""
    argv = sys.orig_argv
    if len(argv) > 2 and argv[1] == "-m":
        return shlex.join(["python", *argv[1:]])
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def make_record(benchmark: str, figures: Mapping[str, Any], command: str | None = None) -> Record:
    """One run of `benchmark` as a history record, stamped with the time, code, machine and command."""
    return {
        "utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": code_commit(),
        "host": platform.node() or None,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "benchmark": benchmark,
        "command": command if command is not None else command_line(),
        "figures": flatten(figures),
    }


def dumps(record: Record) -> str:
    """A record as its history line."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, allow_nan=False)


def append(benchmark: str, figures: Mapping[str, Any], reports: Path, command: str | None = None) -> Path:
    """Append one run's `figures` (nested results are flattened) to the history and regenerate its README;
    return the history file."""
    path = history_path(reports)
    record = make_record(benchmark, figures, command)
    check_record(record, f"{benchmark} run")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(dumps(record) + "\n")
    write_readme(path)
    return path


def check_record(record: Any, where: str) -> None:
    """Raise HistoryError (prefixed with `where`) unless `record` is a well-formed run."""
    if not isinstance(record, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise HistoryError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise HistoryError(f"{where}: unknown key(s) {', '.join(unknown)}")
    try:
        datetime.fromisoformat(record["utc"])
    except (TypeError, ValueError):
        raise HistoryError(f"{where}: utc {record['utc']!r} is not an ISO 8601 time") from None
    if not isinstance(record["benchmark"], str) or not record["benchmark"]:
        raise HistoryError(f"{where}: benchmark must be a name")
    for key in ("commit", "host", "python", "command", *OPTIONAL):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise HistoryError(f"{where}: {key} must be text or null")
    cores = record["cores"]
    if cores is not None and (isinstance(cores, bool) or not isinstance(cores, int)):
        raise HistoryError(f"{where}: cores must be a whole number or null")
    figures = record["figures"]
    if not isinstance(figures, dict) or not figures:
        raise HistoryError(f"{where}: figures must be a non-empty object")
    for name, value in figures.items():
        if not isinstance(value, bool | int | float | str) or "\n" in str(value):
            raise HistoryError(f"{where}: figure {name!r} must be a number, true/false or one line of text")


def load(path: Path) -> list[Record]:
    """The runs of a history file, in file order; a malformed line is an error naming the file and line."""
    records = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                raise HistoryError(f"{path}:{number}: empty line")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HistoryError(f"{path}:{number}: not JSON ({exc})") from None
            check_record(record, f"{path}:{number}")
            records.append(record)
    return records


def cell(value: Any) -> str:
    """A value as a table cell, the same way on every machine: floats as Python prints them (the shortest
    form that reads back the same), booleans as yes/no, nothing as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|")


def _when(record: Record) -> datetime:
    return datetime.fromisoformat(record["utc"]).astimezone(UTC)


def _order(names: Iterable[str]) -> list[str]:
    known = [name for name in BENCHMARKS if name in names]
    return known + sorted(set(names) - set(known))


def _section(name: str, runs: Sequence[Record]) -> list[str]:
    description, command, headlines = BENCHMARKS.get(name, (f"runs of `{name}`", "", []))
    runs = sorted(runs, key=_when)  # stable: runs at the same time keep their file order
    latest = runs[-1]
    lines = [f"## {name}", "", description + (f": `{command}`." if command else ".")]
    lines += ["", f"Latest run: {_stamp(latest)}."]
    if latest.get("command"):
        lines.append(f"Command: `{latest['command']}`.")
    lines += ["", "| figure | value |", "|---|---:|"]
    lines += [f"| {cell(key)} | {cell(latest['figures'][key])} |" for key in sorted(latest["figures"])]
    shown = [(key, label) for key, label in headlines if any(key in r["figures"] for r in runs)]
    if not shown:  # a benchmark without chosen headlines: its first figures by name
        names = sorted({key for r in runs for key in r["figures"]})[:4]
        shown = [(key, key) for key in names]
    lines += ["", f"All {len(runs)} run(s), newest first:", ""]
    lines.append("| UTC | commit | host | cores | " + " | ".join(cell(label) for _, label in shown) + " |")
    lines.append("|---|---|---|---:|" + "---:|" * len(shown))
    notes = []
    for r in reversed(runs):
        values = " | ".join(cell(r["figures"].get(key, "")) for key, _ in shown)
        lines.append(
            f"| {r['utc']} | {cell(r['commit'])} | {cell(r['host'])} | {cell(r['cores'])} | {values} |"
        )
        said = "; ".join(f"{key}: {r[key]}" for key in OPTIONAL if r.get(key))
        if said:
            notes.append(f"- {r['utc']}: {said}")
    if notes:
        lines += ["", *notes]
    return [*lines, ""]


def _stamp(record: Record) -> str:
    return (
        f"{record['utc']}, commit {cell(record['commit'])}, host {cell(record['host'])}, "
        f"{cell(record['cores'])} cores, Python {cell(record['python'])}"
    )


def render(records: Sequence[Record]) -> str:
    """The README of a history: per benchmark, the latest run's figures and a table of every run."""
    lines = [
        "# Benchmark history",
        "",
        f"Generated from [`{HISTORY}`]({HISTORY}) by `python -m tasks.bench.history render`; do not edit.",
        "Each line of the history is one run, appended by the run itself (`zhvec bench`,",
        "`python -m benchmarks.<name>`): its UTC time, the commit of the code (`-dirty`: with uncommitted",
        "changes to tracked files), the host, its cores and its figures as the benchmark recorded them.",
        "Runs measured before the history existed were taken from the project README (`source` names the",
        "commit): their time is the one the README stated, else the time it first recorded them; their",
        "commit is the newest at that time; their host is unknown.",
        "",
    ]
    by_name: dict[str, list[Record]] = {}
    for r in records:
        by_name.setdefault(r["benchmark"], []).append(r)
    if not by_name:
        lines += ["No run recorded yet.", ""]
    for name in _order(by_name):
        lines += _section(name, by_name[name])
    return "\n".join(lines).rstrip("\n") + "\n"


def summary(records: Sequence[Record]) -> str:
    """The project README's benchmark table: each row from the newest run that recorded its figures."""
    lines = [
        SUMMARY_START,
        "| what is measured | figure | run (UTC, commit) | command |",
        "|---|---:|---|---|",
    ]
    for what, name, keys, command in SUMMARY:
        runs = [r for r in records if r["benchmark"] == name and all(k in r["figures"] for k in keys)]
        if not runs:
            continue
        latest = sorted(runs, key=_when)[-1]  # as in `render`: of equal times, the last in the file
        figure = " / ".join(cell(latest["figures"][k]) for k in keys)
        lines.append(f"| {what} | {figure} | {latest['utc'][:10]}, {cell(latest['commit'])} | `{command}` |")
    return "\n".join([*lines, SUMMARY_END])


def with_summary(readme_text: str, records: Sequence[Record], readme: Path) -> str:
    """`readme_text` with its benchmark summary replaced by the one generated from `records`."""
    start, end = readme_text.find(SUMMARY_START), readme_text.find(SUMMARY_END)
    if start < 0 or end < start:
        raise HistoryError(f"{readme}: no {SUMMARY_START} … {SUMMARY_END} section to fill")
    return readme_text[:start] + summary(records) + readme_text[end + len(SUMMARY_END) :]


def project_readme(history: Path) -> Path | None:
    """The project README whose summary `history` feeds: the one of the repository holding
    `reports/benchmarks/history.jsonl`, when it has the summary section; None for any other history."""
    readme = history.parent.parent.parent / README
    if history.parent.name != FOLDER or history.parent.parent.name != "reports" or not readme.is_file():
        return None
    return readme if SUMMARY_START in readme.read_text(encoding="utf-8") else None


def generated(history: Path) -> dict[Path, str]:
    """Every file generated from `history`, with its text: the README beside it and the project README."""
    records = load(history)
    texts = {history.parent / README: render(records)}
    project = project_readme(history)
    if project is not None:
        texts[project] = with_summary(project.read_text(encoding="utf-8"), records, project)
    return texts


def write_readme(history: Path) -> Path:
    """Rewrite the README beside `history` (and the project README's summary) from it; return the README's
    path."""
    for path, text in generated(history).items():
        _write(path, text)
    return history.parent / README


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.bench.history", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("render", help="rewrite the README beside the history from it")
    p.add_argument("--history", type=Path, help=f"default: ${ENV}, else reports/{FOLDER}/{HISTORY}")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the README is not current")
    args = parser.parse_args(argv)
    history = args.history or history_path(Path("reports"))
    try:
        texts = generated(history)
    except (OSError, HistoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = [
            p for p, text in texts.items() if (p.read_text(encoding="utf-8") if p.is_file() else None) != text
        ]
        for path in stale:
            print(
                f"{path}: not generated from {history}; run `python -m tasks.bench.history render`",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path, text in texts.items():
        _write(path, text)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
