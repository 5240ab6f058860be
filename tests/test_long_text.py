"""Hostile text shapes after extraction: a single 50 MB paragraph is converted and segmented with bounded
memory and the same output as if it were cut into its sentences; sentences over the token limit are cut and
counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tasks.config import SegmentOptions
from tasks.text.convert import convert_bytes
from tasks.text.segment import PIECE_BYTES, plan_pieces, segment_corpus

REPO = Path(__file__).resolve().parents[1]
PARAGRAPH_BYTES = 50_000_000
OPTIONS = SegmentOptions(check_every=0)

# Convert and segment a shard folder in a fresh process and report its peak RSS (with its workers).
STAGES = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from tasks.config import SegmentOptions
from tasks.text.convert import convert_shards
from tasks.core.measure import measure
from tasks.text.segment import segment_corpus
src, out = Path(sys.argv[1]), Path(sys.argv[2])
with measure() as meter:
    converted = convert_shards(src, out / "simplified", config="t2s", workers=2)
    segmented = segment_corpus(
        out / "simplified", out / "corpus.txt", options=SegmentOptions(check_every=0), workers=2
    )
print(json.dumps({"peak": meter.peak_rss_bytes, "convert": asdict(converted), "segment": asdict(segmented)}))
"""


def _t2s(text: str) -> str:
    return convert_bytes(text.encode(), "t2s")


def _corpus(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_a_50_mb_paragraph_is_handled_in_bounded_memory(tmp_path: Path, paragraphs: Path) -> None:
    unit = paragraphs.read_text(encoding="utf-8").replace("\n", "")  # real sentences, one paragraph
    assert unit.endswith("。")
    repeats = PARAGRAPH_BYTES // len(unit.encode()) + 1
    head, tail = "短的第一行。\n", "最后一行。\n"
    src = tmp_path / "text"
    src.mkdir()
    (src / "text-00000.txt").write_text(head + unit * repeats + "\n" + tail, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", STAGES, str(src), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(done.stdout)
    # Held whole, the line, its tokens and its corpus line took 1.8 GB in this test (the process and its two
    # workers); cut into pieces, 240 MB.
    assert report["peak"] < 700 << 20
    # the same text as lines of ordinary length, converted and segmented whole: what the output must be
    unit_simplified = _t2s(unit)
    assert _corpus(tmp_path / "simplified" / "text-00000.txt") == (
        _t2s(head) + unit_simplified * repeats + "\n" + _t2s(tail)
    )
    ref = tmp_path / "reference"
    ref.mkdir()
    for name, text in (("head", head), ("unit", unit_simplified + "\n"), ("tail", tail)):
        (ref / f"{name}.txt").write_text(_t2s(text), encoding="utf-8")
        segment_corpus(ref / f"{name}.txt", ref / f"{name}.corpus", options=OPTIONS, workers=1)
    assert _corpus(tmp_path / "corpus.txt") == (
        _corpus(ref / "head.corpus") + _corpus(ref / "unit.corpus") * repeats + _corpus(ref / "tail.corpus")
    )
    assert report["convert"]["lines"] == report["segment"]["lines_in"] == 3
    assert report["segment"]["long_line_cuts"] >= PARAGRAPH_BYTES // PIECE_BYTES - 1  # pieces ≤ PIECE_BYTES


def test_a_line_without_any_break_is_cut_at_character_boundaries(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("中" * 1000 + "\n" + "文" * 10 + "\n", encoding="utf-8")
    pieces = plan_pieces([src], piece_bytes=100)
    data = src.read_bytes()
    assert [p.start for p in pieces] == [0] + [p.end for p in pieces[:-1]] and pieces[-1].end == len(data)
    assert [p.end - p.start for p in pieces if p.cut] == [99] * 29  # 33 whole characters each
    assert "".join(data[p.start : p.end].decode("utf-8") for p in pieces) == data.decode("utf-8")
    src.write_text("中" * PIECE_BYTES + "\n" + "文" * 10 + "\n", encoding="utf-8")  # 3 pieces long
    stats = segment_corpus(src, tmp_path / "c.txt", options=OPTIONS, workers=1)
    assert (stats.lines_in, stats.pieces, stats.long_line_cuts) == (2, 4, 2)


def test_sentences_over_the_token_limit_are_cut_and_counted(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("我 " * 25_000 + "\n" + "短句。\n", encoding="utf-8")
    stats = segment_corpus(src, tmp_path / "c.txt", options=OPTIONS, workers=1)
    lengths = [len(line.split(" ")) for line in _corpus(tmp_path / "c.txt").splitlines()]
    assert lengths == [10_000, 10_000, 5_000, 1]
    assert (stats.long_sentences, stats.sentences) == (1, 4)
