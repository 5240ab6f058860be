"""The vocabulary stage: counted once per corpus and min_count, and the model built from it is the model
gensim's own scan (`build_vocab(corpus_file=...)`) builds: words, order, counts, down-sampling, totals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gensim.models import FastText, Word2Vec

from tasks import stages
from tasks.config import SegmentOptions, TrainParams
from tasks.core.records import StageTiming
from tasks.text.segment import segment_corpus
from tasks.vectors import vocab as vocab_mod
from tasks.vectors.train import gensim_kwargs, new_model

# What LineSentence (`line.split()` on the decoded line, b"\n" line ends) must meet: blank and
# whitespace-only lines, Unicode whitespace inside a line (ideographic space, no-break space, the
# separators \x1c-\x1f, NEL, line separator), CRLF, a line of over 10,000 tokens (two sentences), and a
# last line without its line break.
HOSTILE = (
    "\n"
    " \t \n"
    "北京\u3000上海\xa0中国\n"
    "中国\x1c美国\x1f经济\x85政治\u2028男人\r\n"
    + " ".join(["的"] * 12_345)
    + "\n\x0b\x0c\n"
    + "女人 北京 最后一行"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The segmented real-text fixture with the hostile lines in the middle and at the end."""
    src = Path(__file__).parent / "fixtures" / "text" / "zhwiki_paragraphs.txt"
    folder = tmp_path_factory.mktemp("vocab")
    segment_corpus(src, folder / "seg.txt", options=SegmentOptions(), workers=1)
    lines = (folder / "seg.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    out = folder / "corpus.txt"
    half = len(lines) // 2
    out.write_text("".join(lines[:half]) + HOSTILE + "\n" + "".join(lines[half:]) + HOSTILE, encoding="utf-8")
    return out


def _same_vocabulary(ours: Word2Vec, ref: Word2Vec) -> None:
    assert ours.wv.index_to_key == ref.wv.index_to_key
    assert ours.wv.key_to_index == ref.wv.key_to_index
    for attr in ("count", "sample_int"):
        assert np.array_equal(ours.wv.expandos[attr], ref.wv.expandos[attr]), attr
    assert np.array_equal(ours.cum_table, ref.cum_table)
    assert (ours.corpus_count, ours.corpus_total_words) == (ref.corpus_count, ref.corpus_total_words)


@pytest.mark.parametrize(
    ("model", "min_count", "sample"),
    [("sg", 5, 1e-5), ("cbow", 2, 1e-3), ("sg", 1, 0.0), ("fasttext", 3, 1e-4)],
)
def test_model_from_counted_vocabulary_equals_gensims_scan(
    corpus: Path, model: str, min_count: int, sample: float
) -> None:
    ngrams = {"bucket": 1000} if model == "fasttext" else {}
    params = TrainParams(model=model, min_count=min_count, sample=sample, workers=1, **ngrams)  # type: ignore[arg-type]
    ref = (FastText if model == "fasttext" else Word2Vec)(**gensim_kwargs(params))  # type: ignore[arg-type]
    ref.build_vocab(corpus_file=str(corpus))
    counted = vocab_mod.count_vocabulary(corpus, min_count)
    _same_vocabulary(new_model(params, counted), ref)
    assert counted.total_words > sum(counted.counts.values()) or min_count == 1  # rare words count too
    assert counted.lines == corpus.read_bytes().count(b"\n") + 1


def test_parts_and_blocks_give_the_same_vocabulary(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Split into byte ranges on worker processes, or read in blocks smaller than a line: same counts,
    same first-occurrence order."""
    whole = vocab_mod.count_vocabulary(corpus, 2)
    monkeypatch.setattr(vocab_mod, "MIN_PART_BYTES", 1)
    parallel = vocab_mod.count_vocabulary(corpus, 2, workers=2)
    monkeypatch.setattr(vocab_mod, "BLOCK_BYTES", 1000)  # the 12,345-token line spans many blocks
    blocks = vocab_mod.count_vocabulary(corpus, 2)
    for other in (parallel, blocks):
        assert list(other.counts.items()) == list(whole.counts.items())
        assert other.stats() == whole.stats()
    ranges = vocab_mod._line_ranges(corpus, 7)
    assert ranges[0][0] == 0 and ranges[-1][1] == corpus.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_written_vocabulary_reads_back_in_order(corpus: Path, tmp_path: Path) -> None:
    counted = vocab_mod.count_vocabulary(corpus, 3)
    vocab_mod.write_vocabulary(counted, tmp_path / "vocab.json")
    back = vocab_mod.read_vocabulary(tmp_path / "vocab.json")
    assert back == counted and list(back.counts) == list(counted.counts)
    assert not list(tmp_path.glob(".*"))


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.txt"
    bad.write_bytes("北京 上海\n中国 美国\n".encode() + b"\xff\xfe oops\n")
    with pytest.raises(vocab_mod.VocabularyError, match=r"corpus\.txt:3: invalid UTF-8"):
        vocab_mod.count_vocabulary(bad, 1)


def test_a_second_point_with_the_same_corpus_and_min_count_reuses_the_count(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two points of one sweep (same corpus, same min_count) ask for the vocabulary: one count, then a
    cache hit that hands both the same file; another min_count is a count of its own."""
    calls: list[int] = []
    count = vocab_mod.count_vocabulary

    def counting(path: Path, min_count: int, **kwargs: object) -> vocab_mod.Vocabulary:
        calls.append(min_count)
        return count(path, min_count, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vocab_mod, "count_vocabulary", counting)
    folder = tmp_path / "segment" / "k"
    folder.mkdir(parents=True)
    (folder / stages.CORPUS).write_bytes(corpus.read_bytes())
    timing = StageTiming("segment", 0, 0, 0, 0, 0, 0, "tokens")
    seg = stages.StageOutput("corpus-key", str(folder), timing, {})
    first = stages.vocab.fn(tmp_path, seg, 5, 1)
    second = stages.vocab.fn(tmp_path, seg, 5, 1)
    other = stages.vocab.fn(tmp_path, seg, 2, 1)
    assert calls == [5, 2]
    assert (first.timing.cached, second.timing.cached, other.timing.cached) == (False, True, False)
    assert first.path == second.path != other.path
    assert first.timing.stage == "vocab" and first.timing.items == first.stats["total_words"] > 0
    assert first.timing.wall_s > 0 and first.timing.bytes_in == corpus.stat().st_size
    assert first.stats["vocab_size"] < other.stats["vocab_size"] <= first.stats["distinct_words"]
