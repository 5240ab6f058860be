"""The compiled cut (`tasks/text/_cut.c`, engine cjieba) against jieba itself: the same tokens on real text
and on generated strings built to hit every branch (blocks and what lies between them, the HMM's runs, digit
and Latin runs with `.` and `%`, `\\r\\n`, user words with and without a frequency, force-split words); and
the same corpus and counts as the Python route of `segment_blanked`. The whole-sample test is in
test_segment.py, beside jieba's own."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import jieba
import pytest
from jieba import finalseg

from tasks.config import SegmentOptions
from tasks.text import _cut
from tasks.text.segment import SENTENCE_END, compile_tokenizer, segment_blanked, segment_text

WORDS = ["中国", "人民", "银行", "北京大学", "研究生", "命", "的", "了", "和", "长江大桥", "南京市"]
CHARS = [
    *"中国人民银行北京大学生研究命的了和长江大桥南京市张三李四王五赵六孙七",
    *"龘龖齉",  # rare characters, in no word: the HMM decides
    *"abcXYZ0123456789+#&._%-",
    *(" ", "\t", "\n", "\r", "\r\n", "\u3000", "\xa0", "\u2028"),
    *"。！？，、；：“”（）《》…—·",
    *("𠀀", "㐀", "鿖", "ä", "ゃ", "한", "²", "٣", "\ufeff", "\x00"),  # past jieba's Han range, and others
    *("3.5%", "1.2.3", "abc.12%", "x86_64", "C++", "Wi-Fi", "2019年", "90%", ".5", "a.b"),
]


def _texts(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(WORDS if rng.random() < 0.3 else CHARS) for _ in range(rng.randint(0, 60)))


def _tokenizer(entries: list[tuple[str, int | None]]) -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    for word, freq in entries:
        tk.add_word(word, freq)
    return tk


@pytest.fixture
def fresh_force_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """jieba keeps force-split words (added with frequency 0) in one global set: give this test its own."""
    monkeypatch.setattr(finalseg, "Force_Split_Words", set())


@pytest.mark.usefixtures("fresh_force_split")
@pytest.mark.parametrize("hmm", [True, False])
@pytest.mark.parametrize(
    "entries",
    [
        [],
        [("张三李四", 5), ("研究生命", None), ("龘龖", 3), ("C++", 10), ("x86_64", None)],
        [("长江", 0), ("三李", 0), ("王五赵", 0), ("孙七", 0)],  # force-split and removed words
    ],
    ids=["default", "user-words", "zero-frequency"],
)
def test_cut_equals_jieba_on_generated_text(hmm: bool, entries: list[tuple[str, int | None]]) -> None:
    tk = _tokenizer(entries)
    compiled = compile_tokenizer(tk)
    for text in _texts(len(entries) + hmm, 3000):
        assert _cut.cut(compiled, text, hmm) == list(tk.cut(text, HMM=hmm)), repr(text)


@pytest.mark.usefixtures("fresh_force_split")
def test_force_split_words_are_read_as_they_are_when_cutting() -> None:
    """jieba's force-split set is global: a word of frequency 0 added to any tokenizer later counts too."""
    tk = _tokenizer([])
    compiled = compile_tokenizer(tk)
    text = "他来到了网易杭研大厦"  # jieba's own example: the HMM finds 杭研
    found = [t for t in tk.cut(text) if len(t) > 1 and t not in tk.FREQ]  # the HMM's words
    assert found and _cut.cut(compiled, text, True) == list(tk.cut(text))
    _tokenizer([(found[0], 0)])
    assert found[0] not in tk.cut(text)
    assert _cut.cut(compiled, text, True) == list(tk.cut(text))


def test_cut_equals_jieba_on_real_paragraphs(paragraphs: Path) -> None:
    tk = _tokenizer([])
    compiled = compile_tokenizer(tk)
    text = paragraphs.read_text(encoding="utf-8")
    for hmm in (True, False):
        assert _cut.cut(compiled, text, hmm) == list(tk.cut(text, HMM=hmm))


@pytest.mark.parametrize("hmm", [True, False])
def test_segment_blanked_gives_the_python_route_s_corpus_and_counts(paragraphs: Path, hmm: bool) -> None:
    real = paragraphs.read_text(encoding="utf-8").split("\n")
    texts = [*("\n".join(real[i : i + 7]) for i in range(0, len(real), 7)), *_texts(7, 500)]
    for split in (True, False):
        compiled, python = (
            SegmentOptions(engine=engine, hmm=hmm, split_sentences=split) for engine in ("cjieba", "jieba")
        )
        for text in texts:
            assert segment_blanked(text, compiled) == segment_blanked(text, python), repr(text)


def test_a_generation_gives_each_dictionary_word_once() -> None:
    options = SegmentOptions(engine="cjieba")
    text = "北京大学的研究生在北京大学。龘龖齉 abc 3.5%"
    first = segment_text(text, options, generation=10**6)
    again = segment_text(text, options, generation=10**6)
    assert first.sentences == again.sentences
    assert {"北京大学", "研究生", "的"} <= first.vocab
    # the words outside the dictionary are given every time: segment_job keeps track of those
    assert again.vocab == {word for word in first.vocab if word not in _tokenizer([]).FREQ}
    assert again.vocab


def test_sentence_marks_end_lines() -> None:
    options = SegmentOptions(engine="cjieba")
    text = "".join(f"北京{mark}上海" for mark in sorted(SENTENCE_END))
    assert segment_text(text, options).sentences == ["北京", *["上海 北京"] * (len(SENTENCE_END) - 1), "上海"]


def test_bad_dictionaries_are_refused() -> None:
    model = (finalseg.start_P, finalseg.trans_P, finalseg.emit_P, set())
    with pytest.raises(ValueError, match="negative count"):
        _cut.dictionary({"中国": -1}, 10, *model)
    with pytest.raises(ValueError, match="total must be positive"):
        _cut.dictionary({"中国": 1}, 0, *model)
    with pytest.raises(TypeError, match="FREQ must map str to int"):
        _cut.dictionary({"中国": 1.5}, 10, *model)
    with pytest.raises(ValueError, match="HMM states"):
        _cut.dictionary({"中国": 1}, 10, {"X": 0.0}, *model[1:])
    with pytest.raises(ValueError):
        _cut.cut(object(), "中国", True)
