from pathlib import Path

import jieba
import pytest

from tasks.config import SegmentOptions
from tasks.segment import SegmentError, keep_token, segment_corpus, segment_line, tokenizer


def serial_reference(path: Path, options: SegmentOptions) -> list[list[str]]:
    """Serial jieba.cut per line, then the same sentence split and filter: what any worker count must give."""
    tk = tokenizer(options.user_dicts)
    out: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cut = [t.strip() for t in tk.cut(line, HMM=options.hmm)]
        sentence: list[str] = []
        for token in cut:
            if token and keep_token(token, options.drop):
                sentence.append(token)
            if token in set("。！？!?；;…") and sentence:
                out.append(sentence)
                sentence = []
        if sentence:
            out.append(sentence)
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_tokens_equal_serial_jieba(tmp_path: Path, paragraphs: Path, workers: int) -> None:
    lines = paragraphs.read_text(encoding="utf-8").splitlines(keepends=True)
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(4):
        (shards / f"text-{i:05d}.txt").write_text("".join(lines[i * 30 : (i + 1) * 30]), encoding="utf-8")
    options = SegmentOptions()
    stats = segment_corpus(shards, tmp_path / "corpus.txt", options=options, workers=workers)
    got = [line.split(" ") for line in (tmp_path / "corpus.txt").read_text(encoding="utf-8").splitlines()]
    assert got == serial_reference(paragraphs, options)
    assert stats.sentences == len(got)
    assert stats.tokens == sum(len(s) for s in got)
    assert stats.lines_in == len(lines)


def test_plain_jieba_tokens_are_kept_in_order() -> None:
    line = "数学是利用符号语言研究数量、结构、变化以及空间等概念的一门学科。"
    expected = [t for t in jieba.cut(line) if t not in "、。"]
    assert segment_line(line, SegmentOptions()) == [expected]


def test_sentence_split_and_filters() -> None:
    opts = SegmentOptions(drop=("punct", "digits", "latin"))
    assert segment_line("他在2019年去了Google。然后回家！", opts) == [
        ["他", "在", "年", "去", "了"],
        ["然后", "回家"],
    ]
    keep = SegmentOptions(drop=(), split_sentences=False)
    assert segment_line("你好。再见", keep) == [["你好", "。", "再见"]]


def test_long_lines_are_capped() -> None:
    opts = SegmentOptions(max_tokens_per_line=3, split_sentences=False)
    assert [len(s) for s in segment_line("我 我 我 我 我 我 我", opts)] == [3, 3, 1]


def test_user_dictionary_keeps_words_whole(tmp_path: Path) -> None:
    d = tmp_path / "user.dict"
    d.write_text("猜一猜 10 v\n", encoding="utf-8")
    line = "我们猜一猜吧"
    assert "猜一猜" not in segment_line(line, SegmentOptions())[0]
    assert "猜一猜" in segment_line(line, SegmentOptions(user_dicts=(d,)))[0]


def test_missing_user_dictionary_is_named(tmp_path: Path, paragraphs: Path) -> None:
    options = SegmentOptions(user_dicts=(tmp_path / "missing.dict",))
    with pytest.raises(SegmentError, match=r"user dictionary not found: .*missing\.dict"):
        segment_corpus(paragraphs, tmp_path / "c.txt", options=options, workers=1)
