"""Word segmentation with jieba or rjieba (jieba-rs), in line-aligned pieces on worker processes, one
sentence per output line.

Lines are cut whole (engine `jieba` gives exactly the tokens of `jieba.cut` on each line), then split after
the sentence-final marks, which both engines yield as tokens of their own, so gensim only ever sees windows
inside one sentence. Files are read in ~0.5 MB pieces cut at line starts, so one big input still keeps every
core busy and a worker's memory does not grow with the corpus; only the vocabulary (a set of distinct
tokens) is kept, in the parent.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO, Literal

from tasks.config import SegmentOptions
from tasks.errors import InputError
from tasks.shards import SENTENCE_END, cut_point, imap_shards, list_shards, utf8_error
from tasks.workspace import atomic_path

Engine = Literal["jieba", "rjieba"]
Cut = Callable[[str, bool], list[str]]
UserWord = tuple[str, int | None, str | None]
Sample = tuple[str, tuple[str, ...]]

_MARKS_WITH_BREAK = frozenset(mark + "\n" for mark in SENTENCE_END)
PIECE_BYTES = 512 << 10
TOKEN_MAP_LIMIT = 1 << 20
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_USER_WORD = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")  # jieba's own `re_userdict`
_DIGITS = re.compile(r"[\d.,:%％]*\d[\d.,:%％]*")
_LATIN = re.compile(r"[A-Za-z][A-Za-z'\-]*")


class SegmentError(InputError):
    """A shard, user dictionary or stopwords file that cannot be used."""


@dataclass(frozen=True)
class SegmentStats:
    """Counts of one segmentation; `eval_oov` maps each eval set to the share of its distinct words that
    never occur in the corpus, and `agreement_rate` is the share of the lines also cut by jieba (engine
    rjieba, `check_every`) whose Han tokens equal jieba's."""

    engine: str
    shards: int
    empty_shards: int
    pieces: int
    lines_in: int
    blank_lines: int
    sentences: int
    tokens: int
    dropped_tokens: int
    vocab_size: int
    bytes_in: int
    bytes_out: int
    seconds: float
    bytes_per_s: float
    agreement_lines: int = 0
    agreement_rate: float | None = None
    eval_oov: dict[str, float] = field(default_factory=dict)
    long_line_cuts: int = 0
    long_sentences: int = 0


@dataclass(frozen=True)
class Piece:
    """Bytes [start, end) of one input file, starting at a line start and ending after a newline (or EOF),
    or, when `cut`, inside a line too long for one piece (the line goes on in the next piece)."""

    path: Path
    start: int
    end: int
    cut: bool = False


_COUNTS = ("lines", "blank_lines", "sentences", "tokens", "raw_tokens", "long_sentences")


@dataclass(frozen=True)
class PieceResult:
    """What one piece gave: counts, its distinct words, and the lines sampled for the jieba check with
    their Han tokens."""

    lines: int
    blank_lines: int
    sentences: int
    tokens: int
    raw_tokens: int
    long_sentences: int
    vocab: frozenset[str]
    samples: tuple[Sample, ...]


def read_user_dict(path: Path) -> list[UserWord]:
    """jieba's user-dictionary format (`word [freq] [tag]` a line), parsed here once so both engines get the
    very same entries (rjieba has `add_word` but no loader) and a bad line is named."""
    if not path.is_file():
        raise SegmentError(f"user dictionary not found: {path}")
    entries: list[UserWord] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.strip().decode("utf-8").lstrip("\ufeff")
            except UnicodeDecodeError as exc:
                raise SegmentError(
                    f"{path}:{lineno}: user dictionary line is not UTF-8 ({exc.reason})"
                ) from None
            match = _USER_WORD.match(line)
            if match is None:  # only a blank line fails to match
                continue
            word, freq, tag = match.groups()
            entries.append((word, int(freq) if freq else None, tag.strip() if tag else None))
    return entries


def read_stopwords(path: Path) -> frozenset[str]:
    """One word a line; blank lines are ignored."""
    if not path.is_file():
        raise SegmentError(f"stopwords file not found: {path}")
    words = set()
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                word = raw.decode("utf-8").strip().lstrip("\ufeff")
            except UnicodeDecodeError as exc:
                raise SegmentError(f"{path}:{lineno}: stopwords line is not UTF-8 ({exc.reason})") from None
            if word:
                words.add(word)
    return frozenset(words)


@cache
def load_engine(engine: Engine, user_dicts: tuple[Path, ...] = ()) -> Cut:
    """`cut(text, hmm) -> tokens`, once per process: jieba's dictionary takes most of a second to load."""
    entries = [entry for path in user_dicts for entry in read_user_dict(path)]
    # Engines are imported here: a worker pays only for its own (rjieba builds a dictionary on import,
    # jieba imports pkg_resources).
    if engine == "rjieba":
        import rjieba

        if not entries:
            return rjieba.cut  # the instance rjieba builds on import: building another costs ~0.1 s
        rj = rjieba.Jieba()
        for word, freq, tag in entries:
            rj.add_word(word, freq, tag)
        return rj.cut
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    for word, freq, tag in entries:
        tk.add_word(word, freq, tag)

    def cut(text: str, hmm: bool) -> list[str]:
        return list(tk.cut(text, HMM=hmm))

    return cut


def han_tokens(tokens: list[str]) -> list[str]:
    """The tokens with a Chinese character: where the engines must agree (they differ on digit/Latin runs)."""
    return [t for t in tokens if _HAN.search(t)]


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PS" for ch in token)


def keep_token(token: str, drop: tuple[str, ...], stopwords: frozenset[str] = frozenset()) -> bool:
    """Whitespace never survives: the corpus format separates tokens by spaces."""
    if token in stopwords:
        return False
    if _HAN.match(token):  # most tokens: never whitespace, punctuation, digits or Latin
        return True
    if not token.strip():
        return False
    if "punct" in drop and _is_punct(token):
        return False
    if "digits" in drop and _DIGITS.fullmatch(token):
        return False
    return not ("latin" in drop and _LATIN.fullmatch(token))


class _TokenMap(dict[str, str]):
    """token -> what the corpus gets for it, decided once per distinct token: the token, "" when dropped, and
    a line break after a sentence-final mark or for a line break. Testing each token in Python would cost
    more than rjieba's cut; with this map a whole piece is filtered and split by C loops (map, join, split).
    Cleared when it gets big, so memory stays bounded on any corpus."""

    def __init__(self, drop: tuple[str, ...], stopwords: frozenset[str], split: bool) -> None:
        super().__init__()
        self.drop, self.stopwords, self.split = drop, stopwords, split

    def __missing__(self, token: str) -> str:
        if len(self) >= TOKEN_MAP_LIMIT:
            self.clear()
        if "\n" in token:  # an input line break ("\n", or "\r\n" from jieba) ends the sentence too
            out = "\n"
        else:
            out = token if keep_token(token, self.drop, self.stopwords) else ""
            if self.split and token in SENTENCE_END:
                out += "\n"
        self[token] = out
        return out


@cache
def token_map(drop: tuple[str, ...], stopwords: Path | None, split: bool) -> Callable[[str], str]:
    words = read_stopwords(stopwords) if stopwords is not None else frozenset()
    return _TokenMap(drop, words, split).__getitem__


def corpus_lines(mapped: list[str], limit: int) -> tuple[list[str], int]:
    """The sentences of mapped tokens as space-joined corpus lines of at most `limit` tokens, and how many
    sentences were longer (gensim would silently drop their tail, so they are cut into several lines)."""
    text = " ".join(filter(None, mapped)).replace(" \n", "\n").replace("\n ", "\n")
    sentences = [s for s in text.split("\n") if s]
    if all(len(s) < 2 * limit - 1 for s in sentences):  # shorter cannot hold more than `limit` tokens
        return sentences, 0
    capped: list[str] = []
    long = 0
    for sentence in sentences:
        tokens = sentence.split(" ")
        long += len(tokens) > limit
        capped += (" ".join(tokens[i : i + limit]) for i in range(0, len(tokens), limit))
    return capped, long


def _kept(mapped: list[str]) -> int:
    return len(mapped) - mapped.count("") - mapped.count("\n")


def segment_line(line: str, options: SegmentOptions) -> list[list[str]]:
    """The sentences one line becomes (what `segment_corpus` writes for it)."""
    tokens = load_engine(options.engine, options.user_dicts)(line, options.hmm)
    to_corpus = token_map(options.drop, options.stopwords, options.split_sentences)
    sentences = corpus_lines(list(map(to_corpus, tokens)), options.max_tokens_per_line)[0]
    return [s.split(" ") for s in sentences]


def _warm(options: SegmentOptions) -> None:
    """Worker initializer: load the dictionary and stopwords before the first piece arrives."""
    load_engine(options.engine, options.user_dicts)
    token_map(options.drop, options.stopwords, options.split_sentences)


def segment_piece(piece: Piece, dst: Path, options: SegmentOptions) -> PieceResult:
    """Segment one piece into `dst` with one engine call: both engines cut text in blocks that end at
    whitespace, so the piece's tokens are exactly those of its lines cut one by one, with the line breaks
    as tokens of their own. Invalid UTF-8 is an error naming the file and line: the corpus must not silently
    lose text. With engine rjieba the lines whose CRC-32 is 0 mod `check_every` (the same lines whatever
    the sharding) are returned with their Han tokens, for the jieba check.

    `dst` is a temporary part of the corpus, so it is written without the fsync of an atomic write.
    """
    cut = load_engine(options.engine, options.user_dicts)
    to_corpus = token_map(options.drop, options.stopwords, options.split_sentences)
    with piece.path.open("rb") as fh:
        fh.seek(piece.start)
        data = fh.read(piece.end - piece.start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SegmentError(utf8_error(piece.path)) from None
    lines, raw_lines = text.split("\n"), data.split(b"\n")
    if lines[-1] == "":  # the piece ends with a line break
        lines.pop()
        raw_lines.pop()
    tokens = cut(text, options.hmm)
    mapped = list(map(to_corpus, tokens))
    sentences, long_sentences = corpus_lines(mapped, options.max_tokens_per_line)
    with dst.open("w", encoding="utf-8") as out:
        out.writelines(f"{sentence}\n" for sentence in sentences)
    every = options.check_every if options.engine != "jieba" else 0
    samples = [
        (line, tuple(han_tokens(cut(line, options.hmm))))
        for line, raw in zip(lines, raw_lines, strict=True)
        if every and line.strip() and zlib.crc32(raw) % every == 0
    ]
    vocab = set(mapped)
    marks = vocab & _MARKS_WITH_BREAK  # a kept sentence mark is mapped to "。\n"
    words = frozenset((vocab - marks - {"", "\n"}) | {m.rstrip("\n") for m in marks})
    whole = lines[:-1] if piece.cut else lines  # a cut line is counted by the piece where it ends
    return PieceResult(
        lines=len(whole),
        blank_lines=sum(1 for line in whole if not line.strip()),
        sentences=len(sentences),
        tokens=_kept(mapped),
        raw_tokens=len(tokens) - data.count(b"\n"),
        long_sentences=long_sentences,
        vocab=words,
        samples=tuple(samples),
    )


def plan_pieces(inputs: list[Path], piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """Cut each file into ~`piece_bytes` ranges that start at line starts (empty files give none).

    A line longer than `piece_bytes` (say a 50 MB paragraph) is cut too, after a sentence end or a space
    (`cut_point`), so a worker never holds more than two pieces' worth of text.
    """
    pieces = []
    for path in inputs:
        size = path.stat().st_size
        start = 0
        with path.open("rb") as fh:
            while start < size:
                end, cut = size, False
                if start + piece_bytes < size:
                    fh.seek(start + piece_bytes - 1)
                    rest = fh.readline(piece_bytes)
                    end = fh.tell()
                    if not rest.endswith(b"\n") and end < size:  # cut the line within this piece
                        end, cut = _inside_line_cut(fh, start, start + piece_bytes)
                pieces.append(Piece(path, start, end, cut))
                start = end
    return pieces


def _inside_line_cut(fh: BinaryIO, start: int, end: int) -> tuple[int, bool]:
    """Where to end a piece [start, end) that ends inside a long line (see `cut_point`), and whether that is
    still inside a line."""
    fh.seek(start)
    window = fh.read(end - start)
    at = cut_point(window)
    return start + at, window[at - 1] != 0x0A


def _concatenate(parts: list[Path], dst: Path) -> None:
    with atomic_path(dst) as tmp, tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fin:
                shutil.copyfileobj(fin, out, 1 << 22)


def _inputs(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise SegmentError(f"input not found: {src}")
    shards = list_shards(src)
    if not shards:
        raise SegmentError(f"{src}: no .txt shards to segment")
    return shards


def segment_corpus(
    src: Path,
    corpus: Path,
    *,
    options: SegmentOptions,
    workers: int,
    eval_words: Mapping[str, frozenset[str]] | None = None,
    progress: bool = False,
) -> SegmentStats:
    """Segment a shard folder (or one file) into the single `corpus` file gensim's `corpus_file` reads.

    Dictionaries and stopwords are read before any work, so a bad one fails fast. `eval_words` (eval set
    name -> its distinct words) gives the out-of-vocabulary rates in the stats. The jieba check of the
    sampled lines runs here, in a thread, so only this process loads jieba's dictionary, while the workers
    segment.
    """
    started = time.perf_counter()
    for path in options.user_dicts:
        read_user_dict(path)
    if options.stopwords is not None:
        read_stopwords(options.stopwords)
    inputs = _inputs(src)
    pieces = plan_pieces(inputs)
    parts_dir = corpus.parent / f".{corpus.name}.parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(piece, parts_dir / f"{i:06d}.txt", options) for i, piece in enumerate(pieces)]
    totals: Counter[str] = Counter()
    vocab: set[str] = set()
    checked = agreed = 0
    with ThreadPoolExecutor(1) as checker:
        reference: Future[Cut] | None = None
        if options.engine != "jieba" and options.check_every:
            reference = checker.submit(load_engine, "jieba", options.user_dicts)
        results = imap_shards(
            segment_piece,
            jobs,
            workers=workers,
            initializer=_warm,
            initargs=(options,),
            progress="segment" if progress else None,
        )
        try:
            with closing(results):  # a failure here stops the workers now, not when the generator is freed
                for r in results:
                    vocab |= r.vocab
                    totals.update({name: getattr(r, name) for name in _COUNTS})
                    if r.samples and reference is not None:
                        jieba_cut = reference.result()
                        checked += len(r.samples)
                        agreed += sum(tuple(han_tokens(jieba_cut(t, options.hmm))) == h for t, h in r.samples)
            _concatenate([job[1] for job in jobs], corpus)
        finally:
            shutil.rmtree(parts_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    bytes_in = sum(p.stat().st_size for p in inputs)
    return SegmentStats(
        engine=options.engine,
        shards=len(inputs),
        empty_shards=sum(1 for p in inputs if p.stat().st_size == 0),
        pieces=len(pieces),
        lines_in=totals["lines"],
        blank_lines=totals["blank_lines"],
        sentences=totals["sentences"],
        tokens=totals["tokens"],
        dropped_tokens=totals["raw_tokens"] - totals["tokens"],
        vocab_size=len(vocab),
        bytes_in=bytes_in,
        bytes_out=corpus.stat().st_size,
        seconds=round(seconds, 3),
        bytes_per_s=round(bytes_in / seconds) if seconds else 0.0,
        agreement_lines=checked,
        agreement_rate=agreed / checked if checked else None,
        eval_oov={
            name: len(words - vocab) / len(words) for name, words in (eval_words or {}).items() if words
        },
        long_line_cuts=sum(piece.cut for piece in pieces),
        long_sentences=totals["long_sentences"],
    )
