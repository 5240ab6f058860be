"""The jieba check of the default engine: a compiled dictionary that drifted from jieba's fails the segment
stage with one line naming the first differing line; jieba's own dictionary passes and records the rate."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import jieba
import pytest

from flows.cli import main
from tasks import stages
from tasks.config import EvalSets, SegmentOptions
from tasks.core.records import StageTiming
from tasks.text import _cut, segment
from tasks.text.segment import AgreementError, segment_corpus

# A word jieba's dictionary lacks, made so frequent that engine cjieba joins its two characters wherever
# they meet: "的" and the "一" of the next word, which jieba cuts apart.
DRIFT_WORD = "的一"
SHARD_LINES = ["今天天气很好。", "", "他是我的一个朋友。", "我们的一个老师来了。"]


@pytest.fixture(scope="module")
def jieba_tokenizer() -> jieba.Tokenizer:
    """Plain jieba, the reference the drifted engine is measured against here."""
    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    return tk


@pytest.fixture
def drifted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, bool], list[str]]]:
    """Engine cjieba with a compiled dictionary that holds `DRIFT_WORD` while the jieba check's does not;
    the workers run in this process (`workers=1`), so the patch reaches them. Yields the drifted cut."""
    words = tmp_path / "drift.txt"
    words.write_text(f"{DRIFT_WORD} 100000000\n", encoding="utf-8")
    compiled = segment.compiled_dictionary((words,))
    monkeypatch.setattr(segment, "compiled_dictionary", lambda user_dicts=(): compiled)
    segment.load_engine.cache_clear()  # its cjieba cut holds the compiled dictionary it was made with
    yield partial(_cut.cut, compiled)
    segment.load_engine.cache_clear()


@pytest.fixture
def shard(tmp_path: Path) -> Path:
    path = tmp_path / "text" / "text-00000.txt"
    path.parent.mkdir()
    path.write_text("\n".join(SHARD_LINES) + "\n", encoding="utf-8")
    return path


def first_difference(path: Path, cut: Callable[[str, bool], list[str]], tk: jieba.Tokenizer) -> int:
    """The number of the first line of `path` that is not blank and that `cut` cuts unlike jieba."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return next(
        n for n, line in enumerate(lines, 1) if line.strip() and cut(line, True) != list(tk.cut(line))
    )


def test_drifted_dictionary_fails_naming_the_first_differing_line(
    tmp_path: Path, shard: Path, drifted: Callable[[str, bool], list[str]], jieba_tokenizer: jieba.Tokenizer
) -> None:
    assert drifted(SHARD_LINES[0], True) == list(jieba_tokenizer.cut(SHARD_LINES[0]))
    assert first_difference(shard, drifted, jieba_tokenizer) == 3
    options = SegmentOptions(check_every=1)
    with pytest.raises(AgreementError) as failed:
        segment_corpus(shard.parent, tmp_path / "corpus.txt", options=options, workers=1)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(
        f"{shard}:3: engine cjieba disagrees with jieba on 2 of 3 checked lines "
        "(agreement 33.333%, below the floor 99.900%); first difference: jieba "
    )
    assert "; first difference: jieba 我/的/一个/朋友/。 vs cjieba 我/的一/个/朋友/。; " in message
    assert message.endswith("; a lower segment.min_agreement (zhvec segment --min-agreement) accepts it")
    assert not (tmp_path / "corpus.txt").exists()
    assert not (tmp_path / ".corpus.txt.parts").exists()


def test_drift_on_real_paragraphs_names_the_line_and_a_lower_floor_records_the_rate(
    tmp_path: Path,
    paragraphs: Path,
    drifted: Callable[[str, bool], list[str]],
    jieba_tokenizer: jieba.Tokenizer,
) -> None:
    lines = [line for line in paragraphs.read_text(encoding="utf-8").split("\n") if line.strip()]
    agree = sum(drifted(line, True) == list(jieba_tokenizer.cut(line)) for line in lines)
    assert 0 < agree < len(lines)
    line = first_difference(paragraphs, drifted, jieba_tokenizer)
    with pytest.raises(
        AgreementError, match=rf"^{re.escape(str(paragraphs))}:{line}: engine cjieba disagrees with jieba on "
    ):
        segment_corpus(paragraphs, tmp_path / "c.txt", options=SegmentOptions(check_every=1), workers=1)
    rate = agree / len(lines)
    options = SegmentOptions(check_every=1, min_agreement=rate)  # at the floor is not below it
    stats = segment_corpus(paragraphs, tmp_path / "c.txt", options=options, workers=1)
    assert (stats.agreement_lines, stats.agreement_rate) == (len(lines), rate)
    assert (tmp_path / "c.txt").stat().st_size > 0


def test_jieba_s_dictionary_passes_and_records_the_rate(tmp_path: Path, paragraphs: Path) -> None:
    lines = [line for line in paragraphs.read_text(encoding="utf-8").split("\n") if line.strip()]
    options = SegmentOptions(check_every=1)
    stats = segment_corpus(paragraphs, tmp_path / "c.txt", options=options, workers=2)
    assert (stats.agreement_lines, stats.agreement_rate) == (len(lines), 1.0)
    default = segment_corpus(paragraphs, tmp_path / "d.txt", options=SegmentOptions(), workers=1)
    assert default.agreement_rate == 1.0 and default.agreement_lines > 0
    assert (tmp_path / "c.txt").read_bytes() == (tmp_path / "d.txt").read_bytes()


def test_cli_prints_one_line_and_exits_2(
    tmp_path: Path, shard: Path, drifted: Callable[[str, bool], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.txt"
    args = ["segment", str(shard), "-o", str(out), "--workers", "1", "--check-every", "1", "--json"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(
        f"zhvec segment: error: {shard}:3: engine cjieba disagrees with jieba on 2 of 3"
    )
    assert not out.exists()
    assert main([*args, "--min-agreement", "0.3"]) == 0
    assert out.exists()
    assert main([*args, "--min-agreement", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("zhvec segment: error: min_agreement: Input should be less")


def test_failed_stage_leaves_no_manifest_and_keeps_its_input(
    tmp_path: Path, shard: Path, drifted: Callable[[str, bool], list[str]]
) -> None:
    """The stage wrapper writes the manifest only after the body returns: a failed check leaves nothing that
    looks finished, and the converted text it read stays for the next attempt."""
    text = stages.StageOutput(
        "text", str(shard.parent), StageTiming("convert", 0, 0, 0, 0, 0, 0, "chars"), {}
    )
    no_eval = EvalSets(analogy={}, similarity={})
    root = tmp_path / "work"
    with pytest.raises(AgreementError, match=rf"^{re.escape(str(shard))}:3: "):
        stages.segment.fn(root, text, SegmentOptions(check_every=1), 1, no_eval)
    (folder,) = (root / "segment").iterdir()
    assert list(folder.iterdir()) == []
    assert shard.read_text(encoding="utf-8") == "\n".join(SHARD_LINES) + "\n"


def test_the_line_is_counted_across_shards_and_pieces(
    tmp_path: Path,
    paragraphs: Path,
    monkeypatch: pytest.MonkeyPatch,
    drifted: Callable[[str, bool], list[str]],
    jieba_tokenizer: jieba.Tokenizer,
) -> None:
    """Both shards start with 40 lines the drift leaves alone; the second goes on with the paragraphs, cut
    into ~4 KB pieces, so the first difference lies in a later piece of the second shard."""
    line = first_difference(paragraphs, drifted, jieba_tokenizer)
    lines = paragraphs.read_text(encoding="utf-8").split("\n")
    agreeing = [t for t in lines if t.strip() and drifted(t, True) == list(jieba_tokenizer.cut(t))][:40]
    assert len(agreeing) == 40
    shards = tmp_path / "text"
    shards.mkdir()
    (shards / "text-00000.txt").write_text("\n".join(agreeing) + "\n", encoding="utf-8")
    second = shards / "text-00001.txt"
    second.write_bytes(("\n".join(agreeing) + "\n").encode() + paragraphs.read_bytes())
    monkeypatch.setattr(segment, "PIECE_BYTES", 4096)
    pieces = segment.plan_pieces([second], 4096)
    assert pieces[0].end < len("\n".join(agreeing).encode())
    with pytest.raises(AgreementError, match=rf"^{re.escape(str(second))}:{40 + line}: "):
        segment_corpus(shards, tmp_path / "c.txt", options=SegmentOptions(check_every=1), workers=1)
