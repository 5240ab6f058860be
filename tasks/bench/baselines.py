"""What zhvec is measured against, run faithfully: the tutorial pipeline users would otherwise copy
(benchmarks/naive_pipeline.py, unchanged in behaviour, in its own process) and the original word2vec.c on
zhvec's own corpus. Each leaves `vectors.kv`, so the evaluate stage scores them exactly like a sweep point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from gensim.models import KeyedVectors

from tasks import bundled
from tasks.config import TrainParams
from tasks.core.errors import InputError
from tasks.core.identity import StageCode
from tasks.core.measure import measure
from tasks.core.records import StageTiming

NAIVE_SCRIPT = bundled.root() / "benchmarks" / "naive_pipeline.py"
NAIVE_STAGES = ("extract", "convert", "segment", "train")
# What makes the baselines' vectors: the tutorial script and the libraries it calls; word2vec.c's build.
TUTORIAL_CODE = StageCode((__name__,), libraries=("gensim", "jieba", "OpenCC"), scripts=(NAIVE_SCRIPT,))
WORD2VEC_C_CODE = StageCode((__name__,), libraries=("word2vec",))
NAIVE_FILES = {"extract": "wiki.txt", "convert": "wiki.zhs.txt", "segment": "wiki.seg.txt"}
VECTORS = "vectors.kv"


class BaselineError(InputError):
    """A baseline could not run (missing tool, or it failed on the dump)."""


def tutorial_params(model: str, epochs: int) -> TrainParams:
    """The training settings hard-wired in the tutorial script, as a point zhvec can train too."""
    return TrainParams.model_validate(
        {"model": model, "vector_size": 100, "window": 5, "negative": 5, "hs": 0, "sample": 1e-4}
        | {"min_count": 5, "epochs": epochs}
    )


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise BaselineError(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def _save_kv(source: Path, out: Path, binary: bool) -> int:
    vectors = KeyedVectors.load_word2vec_format(str(source), binary=binary)
    vectors.save(str(out / VECTORS))
    return len(vectors)


def run_tutorial(
    dump: Path, out: Path, model: str, epochs: int, script: Path = NAIVE_SCRIPT
) -> dict[str, Any]:
    """Run the tutorial on `dump` from scratch (as it always does) and keep only its vectors.

    Returns its own per-stage seconds, CPU and peak RSS (so far) from its JSON line, the bytes each stage
    wrote, and the whole process tree's wall, CPU and peak RSS as measured from here.
    """
    work = out / "tutorial"
    cmd = [sys.executable, str(script), str(dump), str(work), "1" if model == "sg" else "0", str(epochs)]
    with measure() as meter:
        stdout = _run(cmd, f"{script.name} on {dump}")
    report: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    written = {stage: (work / name).stat().st_size for stage, name in NAIVE_FILES.items()}
    vocab = _save_kv(work / "vectors.txt", out, binary=False)
    shutil.rmtree(work)  # three full copies of the corpus: only the vectors are needed from here
    return {
        "report": report,
        "written": written,
        "vocab": vocab,
        "wall_s": meter.wall_s,
        "cpu_s": meter.cpu_s,
        "peak_rss_bytes": meter.peak_rss_bytes,
    }


def tutorial_timings(
    result: dict[str, Any], dump_bytes: int, epochs: int, point_id: str
) -> list[StageTiming]:
    """One row per tutorial stage, in the shape of zhvec's own stage rows. The tutorial redoes every stage
    for every model it trains, so all its rows belong to the point."""
    rep, written = result["report"], result["written"]
    bytes_in = {"extract": dump_bytes, "convert": written["extract"], "segment": written["convert"]}
    bytes_in["train"] = written["segment"]
    counted = {  # stage -> (items, unit); convert and segment count the bytes they wrote
        "extract": (rep["articles"], "articles"),
        "convert": (written["convert"], "bytes"),
        "segment": (written["segment"], "bytes"),
        "train": (rep["corpus_words"] * epochs, "words"),
    }
    return [
        StageTiming(
            stage=stage,
            wall_s=round(rep[f"{stage}_s"], 4),
            cpu_s=round(rep[f"{stage}_cpu_s"], 4),
            peak_rss_bytes=int(rep[f"{stage}_peak_rss_bytes"]),
            bytes_in=bytes_in[stage],
            bytes_out=written.get(stage, 0),
            items=counted[stage][0],
            item_unit=counted[stage][1],
            point_id=point_id,
            extra={"source": "tutorial"},
        )
        for stage in NAIVE_STAGES
    ]


def word2vec_c_binary() -> Path:
    """The `word2vec` executable that `pip install word2vec` builds next to this Python."""
    found = shutil.which("word2vec", path=str(Path(sys.executable).parent))
    if found is None:
        raise BaselineError("word2vec.c not found next to this Python: pip install word2vec")
    return Path(found)


def word2vec_c_args(corpus: Path, params: TrainParams, threads: int, out: Path) -> list[str]:
    """word2vec.c's flags for a point (`-cbow 0` is skip-gram; gensim's alpha and min_count)."""
    return [
        "-train", str(corpus), "-output", str(out), "-cbow", "1" if params.model == "cbow" else "0",
        "-size", str(params.vector_size), "-window", str(params.window), "-negative", str(params.negative),
        "-hs", str(params.hs), "-sample", str(params.sample), "-min-count", str(params.min_count),
        "-alpha", str(params.alpha), "-threads", str(threads), "-iter", str(params.epochs), "-binary", "1",
    ]  # fmt: skip


def run_word2vec_c(corpus: Path, params: TrainParams, threads: int, out: Path) -> dict[str, Any]:
    """Train word2vec.c on `corpus`, measured, and keep its vectors as `vectors.kv`."""
    binary = out / "vectors.bin"
    with measure() as meter:
        _run([str(word2vec_c_binary()), *word2vec_c_args(corpus, params, threads, binary)], "word2vec.c")
    vocab = _save_kv(binary, out, binary=True)
    size = binary.stat().st_size
    binary.unlink()
    return {
        "wall_s": meter.wall_s,
        "cpu_s": meter.cpu_s,
        "peak_rss_bytes": meter.peak_rss_bytes,
        "vocab": vocab,
        "bytes_out": size,
    }
