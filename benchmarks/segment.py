"""Convert and segment throughput against the tutorial's serial loops, on the same real text in one run.

Builds ~8 MB of real text (CCTV news transcripts and zhwiki-derived paragraphs, interleaved) and the first
16 MB of the same stream (twice the text, not a copy) in a temp dir, then measures:
- conversion: OpenCC alone on the stage's 4 MB blocks, the tutorial's per-line OpenCC loop, and the convert
  stage on 1 worker (in-process) and on N workers over a larger input and twice that (MB/s per core, and
  from the two sizes the marginal rate per core and the fixed start-up);
- segmentation: the tutorial's single-process `jieba.cut` loop (as in naive_pipeline.py) on the 8 MB, N
  copies of that loop at once, each on 1/N of the 8 MB (what N cores give jieba's code), and
  zhvec's engines jieba, rjieba and the default (with and without its per-run jieba check) on N workers on the
  8 MB and the 16 MB, interleaved `--repeat` times, best time of each: speed-ups over the loop on the same
  text, each run's marginal rate and fixed start-up cost (from the two sizes), and its peak RSS at both sizes.
Each segmentation runs in a fresh interpreter (zhvec via `zhvec segment --json`) and reports the time and
peak RSS (its process and workers) it measured itself. Each run is appended to
reports/benchmarks/history.jsonl (and the README beside it regenerated) unless `--no-history`.

    python -m benchmarks.segment [--mb 8] [--workers 2] [--convert-mb 128] [--repeat 3] [--json]
                                 [--no-history]

Heavy modules are imported inside the functions: spawned workers re-import this module as their main.
"""

from __future__ import annotations

import argparse
import json
import logging
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.dumpgen import DEFAULT_CORPORA

ROOT = Path(__file__).resolve().parents[1]
CORPORA = DEFAULT_CORPORA
NEWS = CORPORA / "xwlb_cctv_news_2012-2026.jsonl.xz"
WIKI_JSONL = (
    CORPORA / "zhwiki_paragraphs_DRCD_cmrc2018.jsonl",
    CORPORA / "zhwiki_wikiextractor_json_KazuhiraDZ_wiki_00.jsonl",
)
WIKI_DOCS = CORPORA / "zhwiki_wikiextractor_enix223_AA_wiki_00.txt"
SHARD_BYTES = 2 << 20
MB = 1e6


def _news_lines() -> Iterator[str]:
    with lzma.open(NEWS, "rt", encoding="utf-8") as fh:
        for record in fh:
            yield from json.loads(record)["text"].split("\n")


def _wiki_lines() -> Iterator[str]:
    for path in WIKI_JSONL:
        with path.open(encoding="utf-8") as fh:
            for record in fh:
                item = json.loads(record)
                yield from item.get("paragraphs") or item["text"].split("\n")
    with WIKI_DOCS.open(encoding="utf-8") as fh:
        yield from (line.rstrip("\n") for line in fh if not line.startswith(("<doc ", "</doc>")))


def real_text_lines() -> Iterator[str]:
    """Non-blank lines, alternating between news and zhwiki by bytes while both last."""
    sources = [_news_lines(), _wiki_lines()]
    written = [0, 0]
    while sources:
        i = min(range(len(sources)), key=written.__getitem__)
        line = next(sources[i], None)
        if line is None:
            del sources[i], written[i]
            continue
        if line.strip():
            written[i] += len(line.encode())
            yield line.strip()


def write_shards(folder: Path, total_bytes: int) -> int:
    """The first `total_bytes` of the real text as ~2 MB shards; returns the bytes written."""
    folder.mkdir(parents=True)
    written = shard = 0
    out = None
    try:
        for line in real_text_lines():
            if written >= total_bytes:
                break
            if out is None or out.tell() >= SHARD_BYTES:
                if out is not None:
                    out.close()
                out = (folder / f"text-{shard:05d}.txt").open("wb")
                shard += 1
            data = (line + "\n").encode()
            out.write(data)
            written += len(data)
    finally:
        if out is not None:
            out.close()
    return written


def measured(fn: Callable[[], Any]) -> tuple[float, int]:
    """Wall seconds and peak RSS (this process and its workers) of `fn()`."""
    from tasks.core.measure import measure

    with measure() as meter:
        fn()
    return meter.wall_s, meter.peak_rss_bytes


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.txt"))


def text_blocks(folder: Path, block_bytes: int) -> list[str]:
    """The shards' text in blocks of about `block_bytes` cut after a line break, as the stage reads it."""
    blocks = []
    for shard in _shards(folder):
        data = shard.read_bytes()
        start = 0
        while start < len(data):
            end = data.find(b"\n", start + block_bytes) + 1 or len(data)
            blocks.append(data[start:end].decode("utf-8"))
            start = end
    return blocks


def opencc_per_line(folder: Path, out: Path) -> None:
    """The tutorial's conversion: `cc.convert(line)` for each line."""
    import opencc

    cc = opencc.OpenCC("t2s")
    with out.open("w", encoding="utf-8") as dst:
        for shard in _shards(folder):
            with shard.open(encoding="utf-8") as src:
                for line in src:
                    dst.write(cc.convert(line))


def jieba_loop(folder: Path, out: Path) -> None:
    """naive_pipeline.py's segmentation: one process, a fresh jieba dictionary, `jieba.cut` line by line."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    with out.open("w", encoding="utf-8") as dst:
        for shard in _shards(folder):
            with shard.open(encoding="utf-8") as src:
                for line in src:
                    dst.write(" ".join(w for w in tk.cut(line.strip()) if w.strip()) + "\n")


def _stage_s(src: Path, dst: Path, workers: int) -> float:
    from tasks.text.convert import convert_shards

    return measured(lambda: convert_shards(src, dst, config="t2s", workers=workers))[0]


def bench_convert(raw: Path, raw2: Path, workers: int, convert_mb: float, tmp: Path) -> dict[str, Any]:
    import opencc

    from tasks.text.convert import BLOCK_BYTES, BYTES_PER_WORKER

    size = sum(p.stat().st_size for p in _shards(raw))
    blocks, cc = text_blocks(raw, BLOCK_BYTES), opencc.OpenCC("t2s")
    lib_s, _ = measured(lambda: [cc.convert(block) for block in blocks])  # OpenCC alone: no I/O
    line_s, _ = measured(lambda: opencc_per_line(raw, tmp / "perline.txt"))
    one_s = _stage_s(raw, tmp / "conv1", 1)
    unit = max(1, round(convert_mb * MB / sum(p.stat().st_size for p in _shards(raw2))))
    sizes, times = [], []
    for copies in (unit, 2 * unit):  # copies of the doubled text, at two sizes: rate and start-up apart
        big = tmp / "raw_big"
        big.mkdir()
        for i in range(copies):
            for shard in _shards(raw2):
                shutil.copy(shard, big / f"{i:03d}-{shard.name}")
        sizes.append(sum(p.stat().st_size for p in _shards(big)))
        times.append(_stage_s(big, tmp / "conv_big", workers))
        shutil.rmtree(big)
        shutil.rmtree(tmp / "conv_big")
    used = max(1, min(workers, sizes[0] // BYTES_PER_WORKER))  # as the stage decides
    marginal = (sizes[1] - sizes[0]) / MB / (times[1] - times[0])
    return {
        "opencc_library_mb_s": round(size / MB / lib_s, 1),
        "per_line_loop_mb_s": round(size / MB / line_s, 1),
        "stage_1_worker_mb_s": round(size / MB / one_s, 1),
        "stage_vs_library": round(lib_s / one_s, 2),
        "stage_n_workers_input_mb": round(sizes[0] / MB, 1),
        "stage_n_workers_used": used,
        "stage_n_workers_mb_s": round(sizes[0] / MB / times[0], 1),
        "stage_n_workers_mb_s_per_core": round(sizes[0] / MB / times[0] / used, 1),
        "stage_n_workers_doubled_s": round(times[1], 3),
        "stage_n_workers_marginal_mb_s_per_core": round(marginal / used, 1),
        "stage_n_workers_fixed_s": round(times[0] - sizes[0] / MB / marginal, 2),
    }


def _in_fresh_process(args: list[str]) -> dict[str, Any]:
    """Run a measured command in its own interpreter, so its peak RSS is its own (and its workers')."""
    proc = subprocess.run([sys.executable, "-m", *args, "--json"], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def text_parts(text: Path, n: int, tmp: Path) -> list[Path]:
    """`text` in `n` folders, one for each of `n` loops run at once: each shard cut into `n` runs of
    whole lines of about the same size, the i-th run to the i-th folder."""
    parts = [tmp / f"part-{i}" for i in range(n)]
    for folder in parts:
        folder.mkdir()
    for shard in _shards(text):
        data = shard.read_bytes()
        cuts = [0, *(data.find(b"\n", len(data) * i // n) + 1 or len(data) for i in range(1, n)), len(data)]
        for i, folder in enumerate(parts):
            (folder / shard.name).write_bytes(data[cuts[i] : cuts[i + 1]])
    return parts


def loops_at_once(parts: list[Path], tmp: Path) -> float:
    """MB/s of as many loops as parts, at once, each in a fresh process on its part: what the cores give
    jieba's Python code with no coordination at all, the ceiling for any run of that many workers."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.segment", "--loop", str(part), str(tmp / f"{part.name}.txt")],
            stdout=subprocess.PIPE,
            text=True,
        )
        for part in parts
    ]
    outputs = [proc.communicate()[0] for proc in procs]
    if any(proc.returncode for proc in procs):
        raise SystemExit(f"a loop at once failed: exit codes {[proc.returncode for proc in procs]}")
    seconds = [json.loads(out.splitlines()[-1])["seconds"] for out in outputs]
    return sum(
        sum(p.stat().st_size for p in _shards(part)) / MB / s for part, s in zip(parts, seconds, strict=True)
    )


RUNS = {  # what each zhvec run adds to `zhvec segment TEXT -o OUT --workers N --json`
    "jieba": ["--engine", "jieba"],
    "rjieba": ["--engine", "rjieba"],
    "default": [],
    "default_nocheck": ["--check-every", "0"],
}


def _ours(text: Path, out: Path, workers: int, extra: list[str]) -> dict[str, Any]:
    return _in_fresh_process(
        ["flows.cli", "segment", str(text), "-o", str(out), "--workers", str(workers), *extra]
    )


def bench_segment(text: Path, text2x: Path, workers: int, repeat: int, tmp: Path) -> dict[str, Any]:
    """The loop on `text` and zhvec's on `text` and `text2x`, interleaved `repeat` times; the best wall time
    of each counts, so a burst of load from another process on the machine does not decide a ratio; each
    round's own ratios (the loop against zhvec's runs right after it) show how far the machine's speed drifts.
    From the two sizes: each run's marginal rate (extra MB / extra s) and its fixed start-up cost. Each
    round also runs `workers` loops at once, each on its share of `text` (`loops_at_once`): the speed-up
    the machine's cores allow jieba's own code, against which engine jieba's is shown."""
    size, size2 = (sum(p.stat().st_size for p in _shards(t)) for t in (text, text2x))
    parts = text_parts(text, workers, tmp)
    best: dict[tuple[str, int], dict[str, Any]] = {}
    rounds: dict[str, list[float]] = {name: [] for name in ("at_once", *RUNS)}
    at_once_mb_s = 0.0
    for _ in range(repeat):
        timings = {
            ("loop", 1): _in_fresh_process(["benchmarks.segment", "--loop", str(text), str(tmp / "l.txt")])
        }
        mb_s = loops_at_once(parts, tmp)
        at_once_mb_s = max(at_once_mb_s, mb_s)
        rounds["at_once"].append(round(mb_s / (size / MB / timings["loop", 1]["seconds"]), 2))
        for name, extra in RUNS.items():
            for scale, src in ((1, text), (2, text2x)):
                timings[name, scale] = _ours(src, tmp / "corpus.txt", workers, extra)
            rounds[name].append(round(timings["loop", 1]["seconds"] / timings[name, 1]["seconds"], 2))
        for key, got in timings.items():
            if key not in best or got["seconds"] < best[key]["seconds"]:
                best[key] = got
    loop = best["loop", 1]["seconds"]
    row: dict[str, Any] = {
        "input_mb": round(size / MB, 2),
        "doubled_mb": round(size2 / MB, 2),
        "repeat": repeat,
    }
    row |= {"loop_s": loop, "loop_mb_s": round(size / MB / loop, 2)}
    row["at_once"] = {
        "mb_s": round(at_once_mb_s, 2),
        "speedup": round(at_once_mb_s / (size / MB / loop), 2),
        "round_speedups": rounds["at_once"],
    }
    for name in RUNS:
        one, two = best[name, 1], best[name, 2]
        marginal = (size2 - size) / MB / (two["seconds"] - one["seconds"])
        row[name] = {
            "s": one["seconds"],
            "speedup": round(loop / one["seconds"], 2),
            "round_speedups": rounds[name],
            "mb_s": round(size / MB / one["seconds"], 2),
            "doubled_s": two["seconds"],
            "marginal_mb_s": round(marginal, 2),
            "marginal_speedup": round(marginal / (size / MB / loop), 2),
            "fixed_s": round(one["seconds"] - size / MB / marginal, 2),
            "peak_rss_mb": one["peak_rss_mb"],
            "doubled_peak_rss_mb": two["peak_rss_mb"],
            "rss_ratio": round(two["peak_rss_mb"] / one["peak_rss_mb"], 3),
            "vocab": one["vocab_size"],
            "doubled_vocab": two["vocab_size"],
        }
    row["jieba"]["of_at_once"] = round(row["jieba"]["speedup"] / row["at_once"]["speedup"], 3)
    default = best["default", 1]
    row["default"] |= {
        "engine": default["engine"],
        "agreement_rate": default["agreement_rate"],
        "agreement_lines": default["agreement_lines"],
    }
    return row


def run(mb: float, workers: int, convert_mb: float, repeat: int, tmp: Path) -> dict[str, Any]:
    from tasks.text.convert import convert_shards

    raw, raw2 = tmp / "raw", tmp / "raw2x"
    size = write_shards(raw, int(mb * MB))
    write_shards(raw2, 2 * size)
    result: dict[str, Any] = {"workers": workers, "cpus": os.cpu_count()}
    result["convert"] = bench_convert(raw, raw2, workers, convert_mb, tmp)
    for src in (raw, raw2):
        convert_shards(src, tmp / f"{src.name}.zhs", config="t2s", workers=workers)
    result["segment"] = bench_segment(tmp / "raw.zhs", tmp / "raw2x.zhs", workers, repeat, tmp)
    return result


def table(result: dict[str, Any]) -> str:
    c, s, w = result["convert"], result["segment"], result["workers"]
    rows: list[tuple[str, str]] = [
        (f"{w} workers, {result['cpus']} CPUs", ""),
        ("convert, MB/s", ""),
        ("  OpenCC library alone, 4 MB blocks, 1 core", str(c["opencc_library_mb_s"])),
        ("  tutorial per-line loop, 1 core", str(c["per_line_loop_mb_s"])),
        (
            "  stage, 1 worker (in-process)",
            f"{c['stage_1_worker_mb_s']} ({c['stage_vs_library']}x the library)",
        ),
        (
            f"  stage, {c['stage_n_workers_used']} workers, {c['stage_n_workers_input_mb']} MB",
            f"{c['stage_n_workers_mb_s']} = {c['stage_n_workers_mb_s_per_core']} per core",
        ),
        (
            "    marginal rate per core, fixed start-up",
            f"{c['stage_n_workers_marginal_mb_s_per_core']}, {c['stage_n_workers_fixed_s']} s",
        ),
        (f"segment, best of {s['repeat']}", f"{s['input_mb']} MB: s, speed-up | {s['doubled_mb']} MB: s"),
        ("  tutorial jieba loop, 1 process", f"{s['loop_s']} ({s['loop_mb_s']} MB/s)"),
        (
            f"  {w} loops at once, each on 1/{w} of the text",
            f"{s['at_once']['mb_s']} MB/s x{s['at_once']['speedup']}"
            f" (rounds {' '.join(f'x{x}' for x in s['at_once']['round_speedups'])})",
        ),
    ]
    labels = {
        "jieba": "engine jieba",
        "rjieba": "engine rjieba",
        "default": f"default engine {s['default']['engine']}",
    }
    labels["default_nocheck"] = labels["default"] + ", check off"
    for name, label in labels.items():
        r = s[name]
        rows += [
            (f"  {label}, {w} workers", f"{r['s']} x{r['speedup']} | {r['doubled_s']}"),
            ("    speed-up in each round", " ".join(f"x{x}" for x in r["round_speedups"])),
            (
                "    marginal rate, fixed start-up",
                f"{r['marginal_mb_s']} MB/s = x{r['marginal_speedup']} the loop, {r['fixed_s']} s",
            ),
            (
                "    peak RSS MB, vocabulary",
                f"{r['peak_rss_mb']} -> {r['doubled_peak_rss_mb']} (x{r['rss_ratio']}),"
                f" {r['vocab']} -> {r['doubled_vocab']}",
            ),
        ]
        if name == "jieba":
            rows.append((f"    share of the {w} loops at once", f"{r['of_at_once']:.1%}"))
    rows.append(
        (
            "  Han tokens of the default engine = jieba's",
            f"{s['default']['agreement_rate']} of {s['default']['agreement_lines']} lines checked",
        )
    )
    width = max(len(label) for label, value in rows if value)
    return "\n".join(f"{label:<{width}}  {value}".rstrip() for label, value in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=float, default=8.0, help="MB of real text (the doubled run uses twice)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--convert-mb", type=float, default=128.0, help="MB for the multi-worker conversion")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the best time counts")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-history", action="store_true", help="do not append this run to reports/benchmarks/history.jsonl"
    )
    parser.add_argument("--loop", nargs=2, metavar=("TEXT_DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop:  # the baseline alone, in this fresh process (see bench_segment)
        seconds, rss = measured(lambda: jieba_loop(Path(args.loop[0]), Path(args.loop[1])))
        print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mb": round(rss / 2**20, 1)}))
        return
    if not NEWS.is_file():
        raise SystemExit(f"benchmark text not found: {NEWS}")
    with tempfile.TemporaryDirectory(prefix="zhvec-bench-") as tmp:
        started = time.perf_counter()
        result = run(args.mb, args.workers, args.convert_mb, args.repeat, Path(tmp))
        result["benchmark_s"] = round(time.perf_counter() - started, 1)
    if not args.no_history:
        from tasks.bench import history

        history.append("segment", result, ROOT / "reports")
    print(json.dumps(result, ensure_ascii=False) if args.json else table(result))


if __name__ == "__main__":
    main()
