"""Crash safety: SIGKILL during extract, segment and DuckDB writes, then a re-run, ends with the outputs of an
uninterrupted run; a full disk is a clear error; no file is ever half-written under its final name."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks import stages
from tasks.config import EvalSets, ExtractOptions, SegmentOptions
from tasks.core.records import StageTiming
from tasks.core.workspace import NoSpaceError, atomic_path, file_sha256
from tasks.dump.extract import extract_dump
from tasks.dump.fetch import find_index
from tasks.results.store import Store

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2"
INDEX = find_index(SAMPLE)
TINY = REPO / "tests" / "fixtures" / "zhwiki-tiny-pages-articles-multistream.xml.bz2"
SEGMENT = SegmentOptions(check_every=0)

EXTRACT_STAGE = """
import sys
from pathlib import Path
from tasks import stages
from tasks.config import ExtractOptions
from tasks.core.workspace import file_sha256
from tasks.dump.fetch import find_index
dump = Path(sys.argv[2])
stages.extract.fn(Path(sys.argv[1]), dump, file_sha256(dump), find_index(dump), ExtractOptions(), 1)
"""

SEGMENT_STAGE = """
import sys
from pathlib import Path
from tasks import stages
from tasks.config import EvalSets, SegmentOptions
from tasks.core.records import StageTiming
text = stages.StageOutput("text", sys.argv[2], StageTiming("convert", 0, 0, 0, 0, 0, 0, "chars"), {})
no_eval = EvalSets(analogy={}, similarity={})
stages.segment.fn(Path(sys.argv[1]), text, SegmentOptions(check_every=0), 2, no_eval)
"""


def _kill_when(cmd: list[str], ready: Callable[[], bool]) -> None:
    """Start `cmd`, SIGKILL it as soon as `ready()` holds (it must not finish first)."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _outputs(stage_dir: Path) -> dict[str, bytes]:
    """A finished stage folder's files, without what depends on time (the manifest, shard records)."""
    return {k: v for k, v in _files(stage_dir).items() if not k.endswith(".json")}


def test_sigkill_during_extract_then_rerun_gives_the_uninterrupted_output(tmp_path: Path) -> None:
    clean = stages.extract.fn(tmp_path / "clean", SAMPLE, file_sha256(SAMPLE), INDEX, ExtractOptions(), 1)
    root = tmp_path / "killed"
    folder = root / "extract" / clean.key

    def first_shard_recorded() -> bool:
        return folder.is_dir() and any(folder.glob("text-*.json"))

    _kill_when([sys.executable, "-c", EXTRACT_STAGE, str(root), str(SAMPLE)], first_shard_recorded)
    left = _files(folder)
    assert "manifest.json" not in left
    shards = [name for name in left if name.startswith("text-") and name.endswith(".txt")]
    assert 1 <= len(shards) < len(clean.stats["shards"])
    for name in shards:  # whatever has its final name is complete
        assert left[name] == (Path(clean.path) / name).read_bytes()
    again = stages.extract.fn(root, SAMPLE, file_sha256(SAMPLE), INDEX, ExtractOptions(), 1)
    assert again.key == clean.key and again.stats["resumed_shards"] >= 1
    assert _outputs(folder) == _outputs(Path(clean.path))
    assert {k: v for k, v in again.stats.items() if k not in ("per_shard", "resumed_shards")} == {
        k: v for k, v in clean.stats.items() if k not in ("per_shard", "resumed_shards")
    }


def test_sigkill_during_segment_then_rerun_gives_the_uninterrupted_corpus(
    tmp_path: Path, paragraphs: Path
) -> None:
    text = tmp_path / "text"
    text.mkdir()
    for n in range(2):  # 2 MB in 4 pieces: long enough to be killed in the middle
        (text / f"text-{n:05d}.txt").write_text(paragraphs.read_text(encoding="utf-8") * 10, encoding="utf-8")
    no_eval = EvalSets(analogy={}, similarity={})
    source = stages.StageOutput("text", str(text), StageTiming("convert", 0, 0, 0, 0, 0, 0, "chars"), {})
    clean = stages.segment.fn(tmp_path / "clean", source, SEGMENT, 1, no_eval)
    root = tmp_path / "killed"
    folder = root / "segment" / clean.key

    def a_piece_written() -> bool:
        return any(folder.glob(".corpus.txt.parts/*.txt"))

    _kill_when([sys.executable, "-c", SEGMENT_STAGE, str(root), str(text)], a_piece_written)
    assert not (folder / "corpus.txt").exists() and not (folder / "manifest.json").exists()
    again = stages.segment.fn(root, source, SEGMENT, 1, no_eval)  # any worker count: the same corpus
    assert sorted(p.name for p in folder.iterdir()) == ["corpus.txt", "manifest.json", "words.txt"]
    assert (folder / "corpus.txt").read_bytes() == (Path(clean.path) / "corpus.txt").read_bytes()
    assert {k: v for k, v in again.stats.items() if k not in ("seconds", "bytes_per_s")} == {
        k: v for k, v in clean.stats.items() if k not in ("seconds", "bytes_per_s")
    }


WRITER = """
import sys
from pathlib import Path
from tasks.core.records import Metric
from tasks.results.store import Store
db, run_id, points = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
metrics = [Metric("set", f"c{c}", "3cosadd", "ca8", c / 100, c, 100, c) for c in range(200)]
with Store(db) as store:
    for n in range(points):
        store.add_metrics(run_id, f"p{n:03d}", metrics)  # one transaction
        print(n, flush=True)
"""


def _written(db: Path, run_id: str) -> dict[str, int]:
    with Store(db, read_only=True) as store:
        counts: dict[str, int] = {}
        for m in store.metrics(run_id):
            counts[m["point_id"]] = counts.get(m["point_id"], 0) + 1
    return counts


def test_sigkill_during_duckdb_writes_leaves_whole_transactions(tmp_path: Path) -> None:
    db = tmp_path / "zhvec.duckdb"
    with Store(db) as store:
        run_id = store.start_run("p", {}, "dump", "sha", "code")
    cmd = [sys.executable, "-c", WRITER, str(db), run_id, "20"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    while int(proc.stdout.readline()) < 3:  # three points committed; the writer is busy with the next
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    counts = _written(db, run_id)
    assert {f"p{n:03d}" for n in range(4)} <= set(counts) and len(counts) < 20
    assert set(counts.values()) == {200}  # all of a point's rows, or none
    subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, check=True)  # the re-run
    assert _written(db, run_id) == {f"p{n:03d}": 200 for n in range(20)}


FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from tasks.config import ExtractOptions
from tasks.dump.extract import extract_dump
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
try:
    extract_dump(Path(sys.argv[1]), Path(sys.argv[2]), options=ExtractOptions(), workers=1, chunk_bytes=1)
except OSError as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
"""


def test_disk_full_while_writing_a_shard_is_a_clear_error_and_keeps_finished_shards(tmp_path: Path) -> None:
    clean = extract_dump(TINY, tmp_path / "clean", options=ExtractOptions(), workers=1, chunk_bytes=1)
    sizes = [s.bytes_out for s in clean.per_shard]
    assert sizes[0] < 20_000 < sizes[1]  # the limit lets the first shard through and stops the second
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", FULL_DISK, str(TINY), str(out), "20000"]
    failed = json.loads(subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout)
    assert failed == {
        "type": "NoSpaceError",
        "message": f"[Errno 27] {out / 'text-00001.txt'}: not written, out of disk space (File too large); "
        "nothing was left under that name, free some space and re-run to resume",
    }
    assert sorted(p.name for p in out.iterdir()) == ["text-00000.json", "text-00000.txt"]
    again = extract_dump(TINY, out, options=ExtractOptions(), workers=1, chunk_bytes=1)
    assert again.resumed_shards == 1
    assert _outputs(out) == _outputs(tmp_path / "clean")


def test_atomic_write_syncs_the_file_then_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("完整的\n", encoding="utf-8")
    assert synced == [False, True]  # the data, then the rename
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "完整的\n"


def test_no_space_error_names_the_final_file(tmp_path: Path) -> None:
    final = tmp_path / "corpus.txt"
    message = r"corpus\.txt: not written, out of disk space \(No space left"
    with pytest.raises(NoSpaceError, match=message), atomic_path(final):
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []
