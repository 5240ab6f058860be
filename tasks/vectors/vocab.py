"""The vocabulary of a segmented corpus, counted once per corpus and min_count and shared by every sweep point
that trains on them: gensim's own scan (`build_vocab(corpus_file=...)`) is one Python loop over every token,
minutes on a zhwiki corpus, and it would run again for every point.

The counts equal gensim's: a corpus line is split as gensim's `LineSentence` splits it (`str.split()` on the
UTF-8 decoded line, a line cut every 10,000 tokens into sentences), and words are kept in the order of their
first occurrence, the order gensim's scan inserts them in and from which its sort breaks ties of equal counts.
Byte ranges cut at line breaks are counted in parallel and merged in corpus order, which keeps that order.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core.errors import InputError
from tasks.core.identity import StageCode
from tasks.core.pool import imap_shards
from tasks.core.workspace import atomic_path
from tasks.text.shards import utf8_error

# What makes the counts: this code alone (its sentence cuts follow gensim's constant, copied here).
CODE = StageCode((__name__,))
VOCAB_FILE = "vocab.json"
MAX_SENTENCE_WORDS = 10_000  # gensim's MAX_WORDS_IN_BATCH: LineSentence cuts longer lines into sentences
BLOCK_BYTES = 4 << 20  # read per step in a worker: the split list of one block stays small
MIN_PART_BYTES = 32 << 20  # a corpus smaller than this is counted in-process: a worker costs a start-up
# A line with at least this many characters may exceed MAX_SENTENCE_WORDS tokens (a token and its
# separator take two or more); only such lines are split again to count their sentences.
_LONG_LINE_CHARS = 2 * MAX_SENTENCE_WORDS - 1


class VocabularyError(InputError):
    """A corpus whose words cannot be counted (not UTF-8), or a vocabulary file that does not fit its use."""


@dataclass(frozen=True)
class Vocabulary:
    """Words seen at least `min_count` times, in first-occurrence order, with the corpus totals gensim
    needs: `total_words` counts every token (rare words too: alpha decays over all of them) and `sentences`
    is gensim's `corpus_count`."""

    min_count: int
    counts: dict[str, int]
    total_words: int
    sentences: int
    lines: int
    distinct_words: int

    def stats(self) -> dict[str, Any]:
        """The figures a stage records: everything but the counts themselves."""
        return {
            "min_count": self.min_count,
            "vocab_size": len(self.counts),
            "distinct_words": self.distinct_words,
            "total_words": self.total_words,
            "sentences": self.sentences,
            "lines": self.lines,
        }


@dataclass
class _Part:
    """One byte range's counts: words in first-occurrence order, sentences and lines."""

    counts: Counter[str]
    sentences: int
    lines: int


def _sentences(text: str) -> int:
    """LineSentence's sentences in `text` (whole lines): a line with a token is one, a line of more than
    MAX_SENTENCE_WORDS tokens one per started 10,000; blank and whitespace-only lines none."""
    n = 0
    for line in text.split("\n"):
        if not line or line.isspace():  # isspace and split() share Python's definition of whitespace
            continue
        n += 1 if len(line) < _LONG_LINE_CHARS else -(-len(line.split()) // MAX_SENTENCE_WORDS)
    return n


def _count_range(path: Path, start: int, end: int) -> _Part:
    """Count the words of bytes [start, end) of `path`, which begin and end at line starts, a block at a
    time, each cut after its last line break."""
    counts: Counter[str] = Counter()
    sentences = lines = 0
    with path.open("rb") as fh:
        fh.seek(start)
        left = end - start
        carry = b""
        while left > 0 or carry:
            block = fh.read(min(BLOCK_BYTES, left)) if left > 0 else b""
            left = left - len(block) if block else 0  # a file cut short ends the range
            data = carry + block
            cut = data.rfind(b"\n") + 1 if left > 0 else len(data)
            data, carry = data[:cut], data[cut:]
            if not data:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise VocabularyError(utf8_error(path)) from None
            counts.update(text.split())
            sentences += _sentences(text)
            lines += data.count(b"\n") + (not data.endswith(b"\n"))
    return _Part(counts, sentences, lines)


def _line_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """`parts` byte ranges of about equal size covering `path`, each starting at a line start."""
    size = path.stat().st_size
    starts = [0]
    with path.open("rb") as fh:
        for i in range(1, parts):
            at = max(size * i // parts, starts[-1])
            fh.seek(at)
            fh.readline()  # to the next line start
            starts.append(min(fh.tell(), size))
    bounds = [*starts, size]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def count_vocabulary(corpus: Path, min_count: int, *, workers: int = 1, progress: bool = False) -> Vocabulary:
    """Count `corpus` on up to `workers` processes, merging the parts in corpus order so that words keep
    their first-occurrence order."""
    if not corpus.is_file():
        raise VocabularyError(f"{corpus}: corpus file not found")
    parts = max(1, min(workers, corpus.stat().st_size // MIN_PART_BYTES))
    jobs = [(corpus, a, b) for a, b in _line_ranges(corpus, parts)]
    total: Counter[str] = Counter()
    sentences = lines = 0
    for part in imap_shards(_count_range, jobs, workers=parts, progress="vocab" if progress else None):
        total.update(part.counts)  # new words are appended: the order stays that of first occurrence
        sentences, lines = sentences + part.sentences, lines + part.lines
    kept = {word: count for word, count in total.items() if count >= min_count}
    return Vocabulary(min_count, kept, total.total(), sentences, lines, len(total))


def write_vocabulary(vocab: Vocabulary, path: Path) -> None:
    """One JSON file, counts in their first-occurrence order (json keeps a dict's order both ways)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        json.dump({**vocab.stats(), "counts": vocab.counts}, fh, ensure_ascii=False)


def read_vocabulary(path: Path) -> Vocabulary:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Vocabulary(
        min_count=int(data["min_count"]),
        counts={str(w): int(c) for w, c in data["counts"].items()},
        total_words=int(data["total_words"]),
        sentences=int(data["sentences"]),
        lines=int(data["lines"]),
        distinct_words=int(data["distinct_words"]),
    )
