from __future__ import annotations

import dataclasses
import logging
import random
import sys
import unicodedata
import zlib
from functools import cache
from pathlib import Path

import jieba
import pytest
import rjieba

from tasks.config import ExtractOptions, SegmentOptions
from tasks.dump.extract import extract_dump
from tasks.text import segment
from tasks.text.convert import convert_shards
from tasks.text.dicts import EVAL_DICT
from tasks.text.segment import (
    BLOCK_PUNCT,
    SENTENCE_END,
    SYMBOLS_END,
    Engine,
    SegmentError,
    blank,
    blanked_sentences,
    eval_oov,
    han_tokens,
    keep_token,
    load_engine,
    plan_pieces,
    segment_blanked,
    segment_corpus,
    segment_job,
    segment_line,
    segment_mapped,
    token_map,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DUMP = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2"


@cache
def reference_tokenizer(user_dicts: tuple[Path, ...] = ()) -> jieba.Tokenizer:
    """Plain jieba with its own user-dictionary loader: independent of the stage's parser."""
    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    for path in user_dicts:
        tk.load_userdict(str(path))
    return tk


def serial_reference(cuts: list[list[str]], options: SegmentOptions) -> list[list[str]]:
    """The whole-line `jieba.cut` tokens of each line, split after sentence-end tokens and filtered."""
    out: list[list[str]] = []
    for tokens in cuts:
        sentence: list[str] = []
        for token in tokens:
            if keep_token(token, options.drop):
                sentence.append(token)
            if token in SENTENCE_END and sentence:
                out.append(sentence)
                sentence = []
        if sentence:
            out.append(sentence)
    return out


def corpus_lines(path: Path) -> list[list[str]]:
    return [line.split(" ") for line in path.read_text(encoding="utf-8").splitlines()]


def text_lines(folder: Path) -> list[str]:
    return [line for p in sorted(folder.glob("*.txt")) for line in p.read_text(encoding="utf-8").split("\n")]


@pytest.fixture(scope="module")
def sample_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample dump, extracted and converted to simplified: the whole sample corpus's input."""
    root = tmp_path_factory.mktemp("sample")
    extract_dump(SAMPLE_DUMP, root / "text", options=ExtractOptions(), workers=2)
    convert_shards(root / "text", root / "simplified", config="t2s", workers=2)
    return root / "simplified"


@pytest.fixture(scope="module")
def sample_jieba_cuts(sample_text: Path) -> list[list[str]]:
    """Serial `jieba.cut` of every line of the sample, with the eval-vocabulary dictionary."""
    tk = reference_tokenizer((EVAL_DICT,))
    return [list(tk.cut(line)) for line in text_lines(sample_text)]


@pytest.mark.parametrize("engine", ["jieba", "cjieba"])
def test_engine_equals_serial_jieba_on_whole_sample(
    tmp_path: Path, sample_text: Path, sample_jieba_cuts: list[list[str]], engine: Engine
) -> None:
    """The corpus and counts of two workers; cjieba also checks every line that is not blank with jieba."""
    options = SegmentOptions(engine=engine, user_dicts=(EVAL_DICT,), check_every=1)
    stats = segment_corpus(sample_text, tmp_path / "corpus.txt", options=options, workers=2)
    got = corpus_lines(tmp_path / "corpus.txt")
    assert got == serial_reference(sample_jieba_cuts, options)
    assert (stats.sentences, stats.tokens) == (len(got), sum(map(len, got)))
    assert stats.vocab_size == len({t for s in got for t in s})
    assert stats.dropped_tokens == sum(map(len, sample_jieba_cuts)) - stats.tokens
    checked = sum(1 for line in text_lines(sample_text) if line.strip()) if engine == "cjieba" else 0
    assert (stats.agreement_lines, stats.agreement_rate) == (checked, 1.0 if checked else None)


def test_cjieba_tokens_equal_jieba_s_on_whole_sample(
    sample_text: Path, sample_jieba_cuts: list[list[str]]
) -> None:
    """Every token of every line, with the HMM on and off."""
    lines = text_lines(sample_text)
    cut = load_engine("cjieba", (EVAL_DICT,))
    assert [cut(line, True) for line in lines] == sample_jieba_cuts
    no_hmm = reference_tokenizer((EVAL_DICT,))
    assert [cut(line, False) for line in lines] == [list(no_hmm.cut(line, HMM=False)) for line in lines]


def test_rjieba_han_tokens_agree_with_jieba_on_whole_sample(
    sample_text: Path, sample_jieba_cuts: list[list[str]]
) -> None:
    """Both engines with the eval-vocabulary dictionary; every non-blank line of the sample counts."""
    cut = load_engine("rjieba", (EVAL_DICT,))
    pairs = [
        (line, ref)
        for line, ref in zip(text_lines(sample_text), sample_jieba_cuts, strict=True)
        if line.strip()
    ]
    agree = sum(han_tokens(cut(line, True)) == han_tokens(ref) for line, ref in pairs)
    assert agree / len(pairs) >= 0.999, f"{agree}/{len(pairs)} lines agree"


def test_eval_dictionary_lowers_ca8_oov_on_whole_sample(tmp_path: Path, sample_text: Path) -> None:
    from tasks.config import EvalSets
    from tasks.text.dicts import eval_set_words

    defaults = EvalSets()
    words = eval_set_words(
        EvalSets(
            analogy={k: REPO / v for k, v in defaults.analogy.items()},
            similarity={k: REPO / v for k, v in defaults.similarity.items()},
        )
    )
    plain, with_dict = (
        segment_corpus(
            sample_text,
            tmp_path / f"{len(dicts)}.txt",
            options=SegmentOptions(user_dicts=dicts, check_every=200 if dicts else 0),
            workers=1,
            words_file=tmp_path / f"{len(dicts)}.words",
        )
        for dicts in ((), (EVAL_DICT,))
    )
    plain_oov, dict_oov = (eval_oov(tmp_path / f"{n}.words", words) for n in (0, 1))
    for name in ("ca8_morphological", "ca8_semantic"):
        assert dict_oov[name] < plain_oov[name]
    sampled = [
        line for line in text_lines(sample_text) if line.strip() and zlib.crc32(line.encode()) % 200 == 0
    ]
    assert (plain.agreement_lines, with_dict.agreement_lines) == (0, len(sampled))
    assert with_dict.agreement_rate is not None and with_dict.agreement_rate >= 0.98


def test_tokens_equal_serial_jieba_in_process(tmp_path: Path, paragraphs: Path) -> None:
    """One in-process worker here; the whole-sample test above runs two worker processes."""
    lines = paragraphs.read_text(encoding="utf-8").splitlines(keepends=True)
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(4):
        (shards / f"text-{i:05d}.txt").write_text("".join(lines[i * 30 : (i + 1) * 30]), encoding="utf-8")
    options = SegmentOptions(engine="jieba")
    stats = segment_corpus(shards, tmp_path / "corpus.txt", options=options, workers=1)
    got = corpus_lines(tmp_path / "corpus.txt")
    tk = reference_tokenizer()
    cuts = [list(tk.cut(line)) for line in paragraphs.read_text(encoding="utf-8").split("\n")]
    assert got == serial_reference(cuts, options)
    assert stats.sentences == len(got)
    assert stats.tokens == sum(len(s) for s in got)
    assert stats.lines_in == len(lines)
    assert (stats.engine, stats.agreement_lines, stats.agreement_rate) == ("jieba", 0, None)


def test_one_big_file_is_split_into_pieces_with_the_same_output(tmp_path: Path, paragraphs: Path) -> None:
    pieces = plan_pieces([paragraphs], piece_bytes=4096)
    data = paragraphs.read_bytes()
    assert [p.start for p in pieces] == [0, *(p.end for p in pieces[:-1])]
    assert pieces[-1].end == len(data)
    assert all(data[p.start - 1 : p.start] == b"\n" for p in pieces[1:])
    options = SegmentOptions(engine="rjieba", check_every=1)
    whole = segment_corpus(paragraphs, tmp_path / "one.txt", options=options, workers=1)
    split = segment_corpus(paragraphs, tmp_path / "two.txt", options=options, workers=2)
    assert (tmp_path / "one.txt").read_bytes() == (tmp_path / "two.txt").read_bytes()
    assert whole.vocab_size == split.vocab_size
    assert whole.agreement_lines == split.agreement_lines == whole.lines_in - whole.blank_lines


def test_agreement_check_compares_han_tokens_with_jieba(tmp_path: Path, paragraphs: Path) -> None:
    options = SegmentOptions(engine="rjieba", check_every=1)
    stats = segment_corpus(paragraphs, tmp_path / "c.txt", options=options, workers=1)
    tk = reference_tokenizer()
    rj = load_engine("rjieba")
    lines = [line for line in paragraphs.read_text(encoding="utf-8").split("\n") if line.strip()]
    agree = sum(han_tokens(rj(line, True)) == han_tokens(list(tk.cut(line))) for line in lines)
    assert stats.agreement_lines == len(lines)
    assert stats.agreement_rate == agree / len(lines)


def test_plain_jieba_tokens_are_kept_in_order() -> None:
    line = "数学是利用符号语言研究数量、结构、变化以及空间等概念的一门学科。"
    expected = [t for t in jieba.cut(line) if t not in "、。"]
    assert segment_line(line, SegmentOptions(engine="jieba")) == [expected]
    assert segment_line(line, SegmentOptions(engine="rjieba")) == [expected]
    assert segment_line(line, SegmentOptions(engine="cjieba")) == [expected]


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


@pytest.mark.parametrize("engine", ["jieba", "rjieba"])
def test_user_dictionary_keeps_words_whole(tmp_path: Path, engine: Engine) -> None:
    d = tmp_path / "user.dict"
    d.write_text("猜一猜 10 v\n", encoding="utf-8")
    line = "我们猜一猜吧"
    assert "猜一猜" not in segment_line(line, SegmentOptions(engine=engine))[0]
    assert "猜一猜" in segment_line(line, SegmentOptions(engine=engine, user_dicts=(d,)))[0]


def test_stopwords_are_dropped_and_counted(tmp_path: Path) -> None:
    stop = tmp_path / "stop.txt"
    stop.write_text("的\n了\n\n", encoding="utf-8")
    src = tmp_path / "in.txt"
    src.write_text("我的书丢了。\n", encoding="utf-8")
    stats = segment_corpus(src, tmp_path / "c.txt", options=SegmentOptions(stopwords=stop), workers=1)
    assert corpus_lines(tmp_path / "c.txt") == [["我", "书", "丢"]]
    assert (stats.tokens, stats.dropped_tokens) == (3, 3)


def test_vocabulary_and_eval_oov(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("北京是中国的首都。\n\n东京是日本的首都。\n", encoding="utf-8")
    stats = segment_corpus(
        src,
        tmp_path / "c.txt",
        options=SegmentOptions(),
        workers=1,
        words_file=tmp_path / "words.txt",
    )
    assert corpus_lines(tmp_path / "c.txt") == [
        ["北京", "是", "中国", "的", "首都"],
        ["东京", "是", "日本", "的", "首都"],
    ]
    assert (stats.lines_in, stats.blank_lines, stats.sentences, stats.vocab_size) == (3, 1, 2, 7)
    assert (tmp_path / "words.txt").read_text(encoding="utf-8").split() == sorted(
        {"北京", "是", "中国", "的", "首都", "东京", "日本"}
    )
    eval_words = {"capitals": frozenset({"北京", "东京", "巴黎", "伦敦"}), "empty": frozenset()}
    assert eval_oov(tmp_path / "words.txt", eval_words) == {"capitals": 0.5}
    assert stats.bytes_in == src.stat().st_size and stats.bytes_per_s > 0


def test_a_worker_reports_each_word_once_per_run(tmp_path: Path) -> None:
    """Workers send the parent only words they have not sent before in the same run; a new run (say a
    second `segment_corpus` in the same process) starts afresh, so its vocabulary is whole again."""
    src = tmp_path / "in.txt"
    src.write_text("北京是中国的首都。\n东京是日本的首都。\n", encoding="utf-8")
    first, second = plan_pieces([src], piece_bytes=28)
    options = SegmentOptions()
    words = [
        segment_job(piece, tmp_path / f"{i}.txt", options, "run-1").vocab
        for i, piece in enumerate([first, second])
    ]
    assert words == [{"北京", "是", "中国", "的", "首都"}, {"东京", "日本"}]
    assert segment_job(second, tmp_path / "again.txt", options, "run-2").vocab == {
        "东京",
        "是",
        "日本",
        "的",
        "首都",
    }
    for n in (1, 2):  # whole vocabularies however the work is split
        stats = segment_corpus(src, tmp_path / f"c{n}.txt", options=options, workers=n)
        assert stats.vocab_size == 7


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "text-00000.txt").write_text("你好。\n", encoding="utf-8")
    (shards / "text-00001.txt").write_bytes("第一行\n第二行\n".encode() + b"\xe4\xbd\n")
    with pytest.raises(SegmentError, match=r"text-00001\.txt:3: invalid UTF-8 at byte 1 of the line"):
        segment_corpus(shards, tmp_path / "c.txt", options=SegmentOptions(check_every=0), workers=2)
    assert not (tmp_path / "c.txt").exists() and not list(tmp_path.glob(".c.txt*"))


def test_empty_shard_is_counted(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "text-00000.txt").write_text("你好。\n", encoding="utf-8")
    (shards / "text-00001.txt").write_bytes(b"")
    stats = segment_corpus(shards, tmp_path / "c.txt", options=SegmentOptions(), workers=1)
    assert (stats.shards, stats.empty_shards, stats.pieces, stats.tokens) == (2, 1, 1, 1)


def test_missing_or_bad_dictionaries_fail_before_any_work(tmp_path: Path, paragraphs: Path) -> None:
    out = tmp_path / "c.txt"
    options = SegmentOptions(user_dicts=(tmp_path / "missing.dict",))
    with pytest.raises(SegmentError, match=r"user dictionary not found: .*missing\.dict"):
        segment_corpus(paragraphs, out, options=options, workers=2)
    with pytest.raises(SegmentError, match=r"stopwords file not found: .*stop\.txt"):
        segment_corpus(paragraphs, out, options=SegmentOptions(stopwords=tmp_path / "stop.txt"), workers=2)
    bad = tmp_path / "bad.dict"
    bad.write_bytes("好词 5\n".encode() + b"\xff 3\n")
    with pytest.raises(SegmentError, match=r"bad\.dict:2: user dictionary line is not UTF-8"):
        segment_corpus(paragraphs, out, options=SegmentOptions(user_dicts=(bad,)), workers=2)
    with pytest.raises(SegmentError, match="no .txt shards"):
        segment_corpus(tmp_path, out, options=SegmentOptions(), workers=2)
    assert not out.exists() and not list(tmp_path.glob(".c.txt*"))


# Line breaks of every kind, blanks next to sentence ends, block tokens of `BLOCK_PUNCT` only (alone, inside
# words, between blanks and between sentence ends), astral symbols and ideographs, control characters.
TRICKY = (
    "他说：“今天，我们去了U.S.A.！”然后……又回来了。。\r\n"
    "C++ 与 C# 的 3.5% 和 50％；价格 -5 到 +7 & 更多__init__ 1990-2000 -- ... . - +\n"
    "\t全角\u3000空格\xa0和\x0b竖表\x1c分隔\u2028行\r。回车句号\r\r\n"
    "表情😀与𠀀字、«引号»《书名》〈〉【】——~·|@^`$￥¥©®™°±×÷\n"
    "\n   \n。.。-！ . ？\n"
    "\x00控制\x07字符 e\u0301 Ω ² ½ ١٢٣ русский 日本語のテキスト 한국어!?;\n"
    "无结尾换行"
)


BMP_AND_SMP = "".join(map(chr, (*range(0xD800), *range(0xE000, SYMBOLS_END))))  # no surrogates


def test_blanking_covers_every_punctuation_symbol_and_space() -> None:
    """`SYMBOLS_END` bounds the blanking table's loop: nothing to blank lies past it."""
    assert not any(
        unicodedata.category(chr(c))[0] in "PS" or chr(c).isspace()
        for c in range(SYMBOLS_END, sys.maxunicode + 1)
    )
    dropped = {c for c in BMP_AND_SMP if c != "\n" and c not in BLOCK_PUNCT and not keep_token(c, ("punct",))}
    for split in (False, True):
        expected = ["\n" if split and c in SENTENCE_END else " " if c in dropped else c for c in BMP_AND_SMP]
        assert list(blank(BMP_AND_SMP, split)) == expected


@pytest.mark.parametrize("engine", ["jieba", "rjieba"])
def test_blanked_characters_are_never_inside_a_block(engine: Engine) -> None:
    """A blanked character inside a block could be cut into one word with its neighbours: each is put in a
    dictionary word between two Han characters, which must still come out as three tokens."""
    blanked = [c for c, b in zip(BMP_AND_SMP, blank(BMP_AND_SMP, False), strict=True) if b != c]
    words = [f"中{c}国" for c in blanked if not c.isspace()] + ["中+国"]  # "+" is in the blocks
    if engine == "rjieba":
        rj = rjieba.Jieba()
        for word in words:
            rj.add_word(word, 10**9, None)
        tokens = rj.cut("\n".join(words), True)
    else:
        tk = jieba.Tokenizer()
        for word in words:
            tk.add_word(word, 10**9)
        tokens = list(tk.cut("\n".join(words)))
    assert len(words) > 8000
    assert set(tokens) & set(words) == {"中+国"}


def test_blanked_sentences_equal_the_token_map() -> None:
    """Random token sequences of a blanked text: blanks and block tokens next to each other in any order."""
    to_corpus = token_map(("punct",), None, True)
    rng = random.Random(0)
    for _ in range(20000):
        tokens = rng.choices(["词", "ab", "3.5", ".", "-", "..", " ", "\n"], k=rng.randrange(12))
        mapped = " ".join(filter(None, map(to_corpus, tokens))).replace(" \n", "\n").replace("\n ", "\n")
        expected = [s for s in mapped.split("\n") if s]
        assert blanked_sentences(tokens) == (expected, {t for t in tokens if t in (".", "-", "..")}), tokens


@pytest.mark.parametrize("engine", ["jieba", "rjieba"])
@pytest.mark.parametrize(("split", "limit"), [(True, 10000), (False, 10000), (True, 2)])
def test_blanked_and_mapped_paths_agree_on_tricky_text(engine: Engine, split: bool, limit: int) -> None:
    options = SegmentOptions(engine=engine, split_sentences=split, max_tokens_per_line=limit)
    blanked, mapped = segment_blanked(TRICKY, options), segment_mapped(TRICKY, options)
    assert blanked == mapped
    assert mapped.raw_tokens == len(load_engine(engine)(TRICKY, True))  # "\r\n" is one token
    assert {"C++", "3.5%", "50", "\x00", "\u0301", "𠀀"} <= mapped.vocab
    assert not mapped.vocab & {".", "-", "--", "...", "+", "&", "__", "😀", "。", "\r"}


@pytest.mark.parametrize(
    ("engine", "source"), [("rjieba", "sample_text"), ("rjieba", "paragraphs"), ("jieba", "paragraphs")]
)
def test_blanked_and_mapped_paths_write_the_same_corpus(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    engine: Engine,
    source: str,
) -> None:
    """In-process workers, so the patch applies. Engine jieba on the whole sample is checked against serial
    jieba and the token filters above (`serial_reference` is the token map's rule)."""
    src: Path = request.getfixturevalue(source)
    options = SegmentOptions(engine=engine, user_dicts=(EVAL_DICT,), check_every=7)
    fast = segment_corpus(src, tmp_path / "fast.txt", options=options, workers=1)
    monkeypatch.setattr(segment, "blanks_punct", lambda _options: False)
    mapped = segment_corpus(src, tmp_path / "mapped.txt", options=options, workers=1)
    assert (tmp_path / "fast.txt").read_bytes() == (tmp_path / "mapped.txt").read_bytes()
    assert dataclasses.replace(fast, seconds=0, bytes_per_s=0) == dataclasses.replace(
        mapped, seconds=0, bytes_per_s=0
    )
    assert fast.dropped_tokens > 0 and fast.tokens > 1000
