"""Extraction speed and memory on a ≥ 50 MB-bz2 benchmark dump, against the tutorial's gensim `WikiCorpus` and
against plain bz2 decompression, measured in one run on the same files and cores.

Builds (once, then reuses from `--cache`) benchmark dumps with `python -m benchmarks.dumpgen bench` from the
shared corpora (real zhwiki text and CCTV news in generated zhwiki markup), in both layouts, at `--mb` MB of
XML and at twice that. Then, for each layout, each command in a fresh process, timed by wall clock with the
peak RSS of its process tree sampled every 50 ms:
- `lbzip2 -dc -n <cores>` and `bzip2 -dc` to /dev/null (the decompression limit; lbzip2 skipped if absent);
- gensim `WikiCorpus` exactly as `naive_pipeline.py` uses it (processes=2, token_min_len=1,
  token_max_len=10**6, one line of tokens per article written to a text file);
- `zhvec extract` with `--workers <cores>` into an empty folder, on the dump and on the 2× dump.
Prints seconds, MB/s of bz2 input, and the ratios: speed-up over WikiCorpus, throughput as a share of lbzip2's
and bzip2's, and peak RSS on the 2× dump over the 1× dump. Also the cleaner's own speed on the five real
zhwiki pages in tests/fixtures/wikitext. Each run is appended to reports/benchmarks/history.jsonl (and
the README beside it regenerated) unless `--no-history`.

    python -m benchmarks.extract [--mb 280] [--workers N] [--cache work/bench] [--repeat 1]
                                 [--layouts multistream single] [--no-wikicorpus] [--json] [--no-history]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from tasks.bench import history

ROOT = Path(__file__).resolve().parents[1]
MB = 1e6
LAYOUTS = {"multistream": "-multistream.xml.bz2", "single": ".xml.bz2"}

WIKICORPUS = """
import sys
from gensim.corpora import WikiCorpus
dump, out_path = sys.argv[1], sys.argv[2]
wiki = WikiCorpus(dump, dictionary={}, processes=2, token_min_len=1, token_max_len=10**6)
n_articles = 0
with open(out_path, "w", encoding="utf-8") as out:
    for tokens in wiki.get_texts():
        out.write(" ".join(tokens) + "\\n")
        n_articles += 1
print(n_articles)
"""


def dump_path(cache: Path, mb: int, layout: str) -> Path:
    return cache / f"zhwiki-bench{mb}mb-pages-articles{LAYOUTS[layout]}"


def ensure_dumps(cache: Path, mb: int) -> None:
    """Build the benchmark dumps of `mb` MB of XML in both layouts unless they are already there."""
    if all(dump_path(cache, mb, layout).is_file() for layout in LAYOUTS):
        return
    print(f"building the {mb} MB benchmark dumps in {cache} (once; a few minutes)", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "benchmarks.dumpgen", "bench", "--target-mb", str(mb), "-o", str(cache)]
        + ["--layout", "both"],
        cwd=ROOT,
        check=True,
        stdout=sys.stderr,
    )


class Run(NamedTuple):
    seconds: float  # wall clock
    cpu_seconds: float  # user + system of the process and every descendant it waited for
    peak_rss: int  # bytes, the process and its descendants, sampled every 50 ms
    stdout: str


def run_measured(cmd: list[str], **popen: Any) -> Run:
    """Run `cmd` to completion and measure it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=popen.pop("stdout", out), stderr=subprocess.DEVNULL, **popen)
        root = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    total += p.memory_info().rss
            except psutil.Error:
                pass
            peak = max(peak, total)
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed with status {proc.returncode}")
    return Run(seconds, cpu, peak, text)


def measure_layout(
    dump: Path, double: Path, workers: int, repeat: int, wikicorpus: bool, scratch: Path
) -> dict[str, Any]:
    """Every command on one layout; with `repeat` > 1 each keeps its fastest run (and that run's RSS)."""
    index = dump.with_name(dump.name.removesuffix(".xml.bz2") + "-index.txt.bz2")
    runs: dict[str, list[Run]] = {}
    load_before = os.getloadavg()[0]

    def record(name: str, cmd: list[str], **popen: Any) -> None:
        runs.setdefault(name, []).append(run_measured(cmd, **popen))

    def extract(source: Path, name: str) -> None:
        out = scratch / "out"
        shutil.rmtree(out, ignore_errors=True)  # an empty folder: no shard is resumed
        cmd = [sys.executable, "-m", "flows.cli", "extract", str(source), "-o", str(out)]
        record(name, [*cmd, "--workers", str(workers), "--json"], cwd=ROOT)

    for _ in range(repeat):
        if shutil.which("lbzip2"):
            record("lbzip2", ["lbzip2", "-dc", "-n", str(workers), str(dump)], stdout=subprocess.DEVNULL)
        record("bzip2", ["bzip2", "-dc", str(dump)], stdout=subprocess.DEVNULL)
        extract(dump, "zhvec")
        extract(double, "zhvec_2x")
        if wikicorpus:
            record("wikicorpus", [sys.executable, "-c", WIKICORPUS, str(dump), str(scratch / "wiki.txt")])
    best = {name: min(results, key=lambda r: r.seconds) for name, results in runs.items()}
    least_cpu = {name: min(r.cpu_seconds for r in results) for name, results in runs.items()}
    size = dump.stat().st_size
    result: dict[str, Any] = {
        "dump": str(dump),
        "bz2_mb": round(size / MB, 1),
        "index": index.is_file(),
        "double_dump": str(double),
        "double_bz2_mb": round(double.stat().st_size / MB, 1),
        "workers": workers,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # other work on the machine
    }
    for name, run in best.items():
        source = double if name == "zhvec_2x" else dump
        result[name] = {
            "seconds": round(run.seconds, 2),
            "cpu_seconds": round(least_cpu[name], 2),
            "bz2_mb_per_s": round(source.stat().st_size / MB / run.seconds, 2),
            "peak_rss_mb": round(run.peak_rss / 2**20, 1),
        }
    stats = json.loads(best["zhvec"].stdout)
    result["zhvec"] |= {
        "articles": stats["articles"],
        "xml_mb_per_s": round(
            sum(s["xml_bytes"] for s in stats["per_shard"]) / MB / best["zhvec"].seconds, 1
        ),
        "shards": len(stats["shards"]),
    }
    ours = best["zhvec"]
    ratios: dict[str, float] = {}
    if "wikicorpus" in best:
        result["wikicorpus"]["articles"] = int(best["wikicorpus"].stdout.split()[-1])
        ratios["speedup_vs_wikicorpus"] = round(best["wikicorpus"].seconds / ours.seconds, 2)
        ratios["cpu_ratio_wikicorpus_over_ours"] = round(least_cpu["wikicorpus"] / least_cpu["zhvec"], 2)
    if "lbzip2" in best:
        ratios["throughput_vs_lbzip2"] = round(best["lbzip2"].seconds / ours.seconds, 2)
    else:
        result["lbzip2"] = "skipped: lbzip2 is not installed (apt-get install lbzip2)"
    ratios["throughput_vs_bzip2"] = round(best["bzip2"].seconds / ours.seconds, 2)
    ratios["rss_2x_over_1x"] = round(best["zhvec_2x"].peak_rss / ours.peak_rss, 3)
    result["ratios"] = ratios
    return result


def cleaner_speed(target_chars: int = 20_000_000) -> dict[str, Any]:
    """The cleaner alone (`prose_text`, as extraction calls it), in this process, on the five real pages
    repeated to ~`target_chars` characters."""
    from tasks.dump.wikitext import prose_text

    pages = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests/fixtures/wikitext").glob("*.wikitext"))
    ]
    reps = max(1, target_chars // sum(map(len, pages)))
    start = time.process_time()
    for _ in range(reps):
        for page in pages:
            prose_text(page)
    seconds = time.process_time() - start
    chars = reps * sum(map(len, pages))
    utf8 = reps * sum(len(p.encode()) for p in pages)
    return {
        "chars": chars,
        "cpu_seconds": round(seconds, 2),
        "mchars_per_cpu_s": round(chars / 1e6 / seconds, 1),
        "mb_per_cpu_s": round(utf8 / MB / seconds, 1),
    }


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The run's figures for the history: per layout and the cleaner's, without the dumps' paths."""
    layouts = {
        layout: {key: value for key, value in r.items() if key not in ("dump", "double_dump")}
        for layout, r in result["layouts"].items()
    }
    return {**layouts, "cleaner": result["cleaner"]}


def _print(result: dict[str, Any]) -> None:
    for layout, r in result["layouts"].items():
        print(
            f"\n{layout}: {r['dump']} ({r['bz2_mb']} MB bz2), {r['workers']} workers, "
            f"load average {r['load_average'][0]} → {r['load_average'][1]}"
        )
        for name in ("lbzip2", "bzip2", "wikicorpus", "zhvec", "zhvec_2x"):
            if isinstance(r.get(name), dict):
                m = r[name]
                extra = f", {m['articles']} articles" if "articles" in m else ""
                print(
                    f"  {name:>10}: {m['seconds']:7.2f} s ({m['cpu_seconds']:6.1f} CPU s)"
                    f"  {m['bz2_mb_per_s']:6.2f} MB/s bz2  peak RSS {m['peak_rss_mb']:7.1f} MB{extra}"
                )
            elif name in r:
                print(f"  {name:>10}: {r[name]}")
        for key, value in r["ratios"].items():
            print(f"  {key:>24}: {value}")
    c = result["cleaner"]
    print(f"\nwikitext cleaner: {c['mchars_per_cpu_s']} M chars/s ({c['mb_per_cpu_s']} MB/s UTF-8) per core")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extract", description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=280, help="XML size of the benchmark dump, MB")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=ROOT / "work" / "bench", help="where dumps are kept")
    parser.add_argument("--repeat", type=int, default=1, help="runs per command; the fastest is kept")
    parser.add_argument("--layouts", nargs="+", choices=sorted(LAYOUTS), default=["multistream", "single"])
    parser.add_argument("--no-wikicorpus", action="store_true", help="skip the (slow) gensim baseline")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-history", action="store_true", help="do not append this run to reports/benchmarks/history.jsonl"
    )
    args = parser.parse_args(argv)
    for mb in (args.mb, 2 * args.mb):
        ensure_dumps(args.cache, mb)
    result: dict[str, Any] = {"cores": os.cpu_count(), "layouts": {}}
    with tempfile.TemporaryDirectory(prefix="zhvec-bench-extract-") as scratch:
        for layout in args.layouts:
            dump, double = dump_path(args.cache, args.mb, layout), dump_path(args.cache, 2 * args.mb, layout)
            result["layouts"][layout] = measure_layout(
                dump, double, args.workers, args.repeat, not args.no_wikicorpus, Path(scratch)
            )
    result["cleaner"] = cleaner_speed()
    if not args.no_history:
        history.append("extract", figures(result), ROOT / "reports")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
