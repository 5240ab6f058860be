"""Word segmentation with jieba's algorithm, in line-aligned pieces on worker processes, one sentence per
output line. Three engines: `cjieba` (zhvec's compiled port, `tasks/text/_cut.c`) and `jieba` give exactly the
tokens of `jieba.cut`; `rjieba` (jieba-rs) the same Han tokens, but other digit/Latin runs.

A sample of the lines (`check_every`) is also cut with jieba itself, and the stage fails when fewer of
them agree than `min_agreement`: engine cjieba must give jieba's very tokens, rjieba its Han tokens.

Lines are cut whole, then split after the sentence-final marks, which every engine yields as tokens of their
own, so gensim only ever sees windows inside one sentence. Files are read in ~0.5 MB pieces (128 KB for
engine jieba) cut at line starts, so one big input still keeps every core busy and a worker's memory does
not grow with the corpus; only the vocabulary (a set of distinct tokens) is kept, in the parent.

With the usual options (punctuation dropped, nothing else) the punctuation is blanked out of the text before
the cut (`segment_blanked`), which leaves no decision to make per token; other options go through a map of
each distinct token (`segment_mapped`). Both give the same corpus and counts.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
import unicodedata
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from functools import cache, partial
from itertools import count, repeat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

import numpy as np
import numpy.typing as npt

from tasks.config import Engine, SegmentOptions
from tasks.core.errors import InputError
from tasks.core.identity import StageCode
from tasks.core.pool import imap_shards
from tasks.core.workspace import atomic_path
from tasks.text import _cut
from tasks.text.shards import SENTENCE_END, cut_point, list_shards, utf8_error

if TYPE_CHECKING:
    import jieba

Cut = Callable[[str, bool], list[str]]
UserWord = tuple[str, int | None, str | None]
Sample = tuple[int, str, tuple[str, ...]]  # a line's index in its piece, the line, its checked tokens

_MARKS_WITH_BREAK = frozenset(mark + "\n" for mark in SENTENCE_END)
PIECE_BYTES = 512 << 10
# engine jieba cuts ~1 MB/s a core: its pieces are smaller, so the last one leaves a worker idle for less long
JIEBA_PIECE_BYTES = 128 << 10
TOKEN_MAP_LIMIT = 1 << 20
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_USER_WORD = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")  # jieba's own `re_userdict`
_DIGITS = re.compile(r"[\d.,:%％]*\d[\d.,:%％]*")
_LATIN = re.compile(r"[A-Za-z][A-Za-z'\-]*")
# The punctuation and symbols inside the engines' blocks `[<Han>a-zA-Z0-9+#&._%-]+`: every engine cuts a block
# into words, and yields every other character (but "\r\n") as a token of its own.
BLOCK_PUNCT = "+#&._%-"
_BLOCK_PUNCT_TOKEN = re.compile(r"([-+#&._%](?<= [-+#&._%])[-+#&._%]*) ")  # a token of them, and its space
SYMBOLS_END = 0x20000  # no punctuation, symbol or whitespace character lies past plane 1 (tested)
# What makes the corpus: this code with its C cutter and prefix dictionary, jieba's version and dictionary
# (every engine reads it), and for engine rjieba, jieba-rs.
WORDS_FILE = "words.txt"  # the corpus's distinct words, for the eval sets' OOV rates
CODE = StageCode((__name__,), libraries=("jieba",), data=("jieba:dict.txt",))
RJIEBA_CODE = StageCode((__name__,), libraries=("jieba", "rjieba"), data=("jieba:dict.txt",))


class SegmentError(InputError):
    """A shard, user dictionary or stopwords file that cannot be used."""


class AgreementError(SegmentError):
    """Fewer checked lines agree with jieba than `min_agreement`: the engine or its dictionary drifted."""


@dataclass(frozen=True)
class SegmentStats:
    """Counts of one segmentation; `eval_oov` maps each eval set to the share of its distinct words that
    never occur in the corpus (filled in by the segment stage, see `eval_oov`), and `agreement_rate` is the
    share of the lines also cut by jieba (engines cjieba and rjieba, `check_every`) whose checked tokens
    (`checked_tokens`) equal jieba's."""

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
    their checked tokens."""

    lines: int
    blank_lines: int
    sentences: int
    tokens: int
    raw_tokens: int
    long_sentences: int
    vocab: frozenset[str]
    samples: tuple[Sample, ...]


def read_user_dict(path: Path) -> list[UserWord]:
    """jieba's user-dictionary format (`word [freq] [tag]` a line), parsed here once so every engine gets the
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


def _jieba_tokenizer(user_dicts: tuple[Path, ...]) -> jieba.Tokenizer:
    """jieba's default dictionary with the user words added by jieba's own `add_word` (which picks a
    missing frequency by cutting the word), for engine jieba and the dictionary of engine cjieba."""
    from tasks.text import prefix_dict

    tk = prefix_dict.tokenizer()
    for path in user_dicts:
        for word, freq, tag in read_user_dict(path):
            tk.add_word(word, freq, tag)
    return tk


def compile_tokenizer(tk: jieba.Tokenizer) -> object:
    """Engine cjieba's dictionary (`tasks/text/_cut.c`) of a jieba tokenizer: its very word counts, and
    jieba's HMM and force-split set."""
    from jieba import finalseg

    return _cut.dictionary(
        tk.FREQ, tk.total, finalseg.start_P, finalseg.trans_P, finalseg.emit_P, finalseg.Force_Split_Words
    )


@cache
def compiled_dictionary(user_dicts: tuple[Path, ...] = ()) -> object:
    """`compile_tokenizer` of jieba's dictionary with the user words, once per process."""
    return compile_tokenizer(_jieba_tokenizer(user_dicts))


@cache
def load_engine(engine: Engine, user_dicts: tuple[Path, ...] = ()) -> Cut:
    """`cut(text, hmm) -> tokens`, once per process: jieba's dictionary takes most of a second to load."""
    if engine == "cjieba":
        return partial(_cut.cut, compiled_dictionary(user_dicts))
    if engine == "jieba":
        tk = _jieba_tokenizer(user_dicts)
        return lambda text, hmm: list(tk.cut(text, HMM=hmm))
    import rjieba  # here: it builds its dictionary on import, which only this engine's workers need

    entries = [entry for path in user_dicts for entry in read_user_dict(path)]
    if not entries:
        return rjieba.cut  # the instance rjieba builds on import: building another costs ~0.1 s
    rj = rjieba.Jieba()
    for word, freq, tag in entries:
        rj.add_word(word, freq, tag)
    return rj.cut


def han_tokens(tokens: list[str]) -> list[str]:
    """The tokens with a Chinese character: where the engines must agree (they differ on digit/Latin runs)."""
    return [t for t in tokens if _HAN.search(t)]


def checked_tokens(engine: Engine, tokens: list[str]) -> tuple[str, ...]:
    """What the jieba check compares: every token for cjieba, a port of jieba; the Han tokens for rjieba,
    which cuts digit and Latin runs its own way by design."""
    return tuple(tokens if engine == "cjieba" else han_tokens(tokens))


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


class Segmented(NamedTuple):
    """What a text gives: its sentences as corpus lines, how many were cut for being longer than a line may
    be, how many tokens the engine gave (line breaks included) and the distinct words kept."""

    sentences: list[str]
    long_sentences: int
    raw_tokens: int
    vocab: frozenset[str]


def capped_lines(sentences: list[str], limit: int) -> tuple[list[str], int]:
    """The sentences (tokens separated by spaces) as corpus lines of at most `limit` tokens, and how many
    were longer (gensim would silently drop their tail, so they are cut into several lines)."""
    if max(map(len, sentences), default=0) < 2 * limit - 1:  # shorter cannot hold more than `limit` tokens
        return sentences, 0
    capped: list[str] = []
    long = 0
    for sentence in sentences:
        tokens = sentence.split(" ")
        long += len(tokens) > limit
        capped += (" ".join(tokens[i : i + limit]) for i in range(0, len(tokens), limit))
    return capped, long


def blanks_punct(options: SegmentOptions) -> bool:
    """Whether punctuation is blanked before the cut (`segment_blanked`): when it is dropped and nothing else
    is (digits, Latin words and stopwords are decided token by token)."""
    return set(options.drop) == {"punct"} and options.stopwords is None


@cache
def _blanking(split: bool) -> npt.NDArray[np.uint32]:
    """Code point -> what the cut gets instead: a space for whitespace but line breaks and for punctuation
    and symbols outside the blocks, a line break for a sentence end when splitting. Each of these is a token
    of its own before and after, so the blocks, and with them the words, are those of the original text."""
    table = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    for code in range(SYMBOLS_END):
        char = chr(code)
        if (char.isspace() and char != "\n") or (_is_punct(char) and char not in BLOCK_PUNCT):
            table[code] = ord(" ")
    if split:
        table[[ord(mark) for mark in SENTENCE_END]] = ord("\n")
    return table


def blank(text: str, split: bool) -> str:
    """`text` through `_blanking`, by one numpy lookup: `str.translate` costs ten times more."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return _blanking(split)[codes].tobytes().decode("utf-32-le")


def blanked_sentences(tokens: list[str]) -> tuple[list[str], set[str]]:
    """The sentences of the tokens of a blanked text, and the block tokens made of `BLOCK_PUNCT` only that
    were dropped with the blank tokens. Joined between spaces and line breaks, every token stands between
    two spaces: a dropped block token goes with the space after it, and each run of spaces left is odd (blank
    tokens and their separators) and becomes one space."""
    parts = _BLOCK_PUNCT_TOKEN.split(" ".join(["", "\n", *tokens, "\n", ""]))
    joined = "".join(parts[::2]).replace("  ", "")
    # a line break next to another is left at the start of a piece, with its space: the only edge blanks
    sentences = filter(None, map(str.strip, joined.split(" \n "), repeat("\n ")))
    return list(sentences), set(parts[1::2])


def segment_blanked(text: str, options: SegmentOptions, generation: int | None = None) -> Segmented:
    """`segment_mapped`'s result without a Python step per token: punctuation is blanked before the cut, so
    what is left to drop is the blank tokens and the block tokens made of `BLOCK_PUNCT` only, by regex and
    string operations on the space-joined tokens. Engine cjieba does it all in C, and leaves out of the
    vocabulary the dictionary words it already gave in `generation` (see `segment_job`)."""
    blanked = blank(text, options.split_sentences)
    if options.engine == "cjieba":
        dictionary = compiled_dictionary(options.user_dicts)
        generation = generation or next(_GENERATIONS)
        corpus, words, others, raw_tokens = _cut.segment_blanked(dictionary, blanked, options.hmm, generation)
        sentences = corpus.split("\n")[:-1]
        vocab = others.union(words)
    else:
        tokens = load_engine(options.engine, options.user_dicts)(blanked, options.hmm)
        sentences, dropped = blanked_sentences(tokens)
        vocab = set(tokens) - {" ", "\n", *dropped}
        raw_tokens = len(tokens)
    # "\r\n" was one token and is two blanks now; any other character outside the blocks was and is a token
    raw_tokens -= text.count("\r\n")
    return Segmented(*capped_lines(sentences, options.max_tokens_per_line), raw_tokens, frozenset(vocab))


def segment_mapped(text: str, options: SegmentOptions) -> Segmented:
    """The tokens of `text` filtered and split into sentences through the token map: any options."""
    tokens = load_engine(options.engine, options.user_dicts)(text, options.hmm)
    mapped = list(map(token_map(options.drop, options.stopwords, options.split_sentences), tokens))
    vocab = set(mapped)
    marks = vocab & _MARKS_WITH_BREAK  # a kept sentence mark is mapped to "。\n"
    words = frozenset((vocab - marks - {"", "\n"}) | {m.rstrip("\n") for m in marks})
    joined = " ".join(filter(None, mapped)).replace(" \n", "\n").replace("\n ", "\n")
    lines = capped_lines(list(filter(None, joined.split("\n"))), options.max_tokens_per_line)
    return Segmented(*lines, len(tokens), words)


def segment_text(text: str, options: SegmentOptions, generation: int | None = None) -> Segmented:
    """One engine call for the whole text: every engine cuts text in blocks that end at whitespace, so the
    tokens are exactly those of its lines cut one by one, with the line breaks as tokens of their own."""
    if blanks_punct(options):
        return segment_blanked(text, options, generation)
    return segment_mapped(text, options)


def segment_line(line: str, options: SegmentOptions) -> list[list[str]]:
    """The sentences one line becomes (what `segment_corpus` writes for it)."""
    return [s.split(" ") for s in segment_text(line, options).sentences]


def _warm(options: SegmentOptions) -> None:
    """Worker initializer: load the dictionary, stopwords and blanking table before the first piece."""
    load_engine(options.engine, options.user_dicts)
    if blanks_punct(options):
        _blanking(options.split_sentences)
    else:
        token_map(options.drop, options.stopwords, options.split_sentences)


def _samples(lines: list[str], data: bytes, every: int, options: SegmentOptions) -> tuple[Sample, ...]:
    """The lines whose CRC-32 is 0 mod `every` (the same lines whatever the sharding), with their index in
    the piece and their checked tokens."""
    crcs = np.fromiter(map(zlib.crc32, data.split(b"\n")), dtype=np.uint32, count=len(lines))
    cut = load_engine(options.engine, options.user_dicts)
    picked = ((int(i), lines[i]) for i in np.flatnonzero(crcs % every == 0))
    return tuple(
        (i, line, checked_tokens(options.engine, cut(line, options.hmm)))
        for i, line in picked
        if line.strip()
    )


def segment_piece(
    piece: Piece, dst: Path, options: SegmentOptions, generation: int | None = None
) -> PieceResult:
    """Segment one piece into `dst` (`segment_text`). Invalid UTF-8 is an error naming the file and line:
    the corpus must not silently lose text. With engines other than jieba, `check_every` lines are returned
    with their checked tokens, for the jieba check (`_samples`).

    `dst` is a temporary part of the corpus, so it is written without the fsync of an atomic write.
    """
    with piece.path.open("rb") as fh:
        fh.seek(piece.start)
        data = fh.read(piece.end - piece.start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SegmentError(utf8_error(piece.path)) from None
    lines = text.split("\n")
    if lines[-1] == "":  # the piece ends with a line break
        lines.pop()
    segmented = segment_text(text, options, generation)
    corpus = "\n".join([*segmented.sentences, ""])
    with dst.open("w", encoding="utf-8") as out:
        out.write(corpus)
    every = options.check_every if options.engine != "jieba" else 0
    whole = lines[:-1] if piece.cut else lines  # a cut line is counted by the piece where it ends
    return PieceResult(
        lines=len(whole),
        blank_lines=whole.count("") + sum(map(str.isspace, whole)),
        sentences=len(segmented.sentences),
        tokens=corpus.count(" ") + len(segmented.sentences),  # no token holds a space
        raw_tokens=segmented.raw_tokens - data.count(b"\n"),
        long_sentences=segmented.long_sentences,
        vocab=segmented.vocab,
        samples=_samples(lines, data, every, options) if every else (),
    )


@dataclass
class _Reported:
    """The words this process has reported in one run, and the generation under which engine cjieba marks
    the dictionary words it gave (so it leaves them out of the next pieces' vocabularies itself)."""

    generation: int
    words: set[str] = field(default_factory=set)


def _reported(run: str) -> _Reported:
    """What this process has already reported for `run` (one `segment_corpus` call); a new run forgets
    the old one, and a set grown past `TOKEN_MAP_LIMIT` starts afresh, so memory stays bounded."""
    if run not in _REPORTED or len(_REPORTED[run].words) > TOKEN_MAP_LIMIT:
        _REPORTED.clear()
        _REPORTED[run] = _Reported(next(_GENERATIONS))
    return _REPORTED[run]


_REPORTED: dict[str, _Reported] = {}
_GENERATIONS = count(1)


def segment_job(piece: Piece, dst: Path, options: SegmentOptions, run: str) -> PieceResult:
    """`segment_piece`, returning only the words this worker has not reported yet in this run: the parent
    needs just the union, and sending every piece's whole vocabulary cost it a core-second per 100 MB."""
    reported = _reported(run)
    result = segment_piece(piece, dst, options, reported.generation)
    new = result.vocab - reported.words
    reported.words |= new
    return replace(result, vocab=new)


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


@dataclass(frozen=True)
class Disagreement:
    """A checked line whose tokens differ from jieba's: line `index` of `piece`."""

    piece: Piece
    index: int
    expected: tuple[str, ...]
    got: tuple[str, ...]


def line_number(path: Path, offset: int) -> int:
    """The 1-based number of the line of `path` that holds byte `offset`, by counting line breaks before it
    in blocks (a failed check only: pieces are planned by bytes, not lines)."""
    breaks = 0
    with path.open("rb") as fh:
        while offset > 0:
            block = fh.read(min(offset, 1 << 22))
            if not block:
                break
            breaks += block.count(b"\n")
            offset -= len(block)
    return breaks + 1


def _shown(tokens: tuple[str, ...], limit: int = 8) -> str:
    """Up to `limit` tokens between slashes, with line breaks and other invisible characters escaped, so
    the error stays one line."""
    text = "/".join(tokens[:limit]) + ("/…" if len(tokens) > limit else "")
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def agreement_error(
    first: Disagreement, checked: int, agreed: int, options: SegmentOptions
) -> AgreementError:
    """One line: where the first differing line is, the tokens from where they part, the rate and the floor,
    and the setting that moves the floor."""
    start = next(
        (i for i, (a, b) in enumerate(zip(first.expected, first.got, strict=False)) if a != b),
        min(len(first.expected), len(first.got)),
    )
    at = max(start - 1, 0)  # one agreeing token before the difference, for context
    lineno = line_number(first.piece.path, first.piece.start) + first.index
    return AgreementError(
        f"{first.piece.path}:{lineno}: engine {options.engine} disagrees with jieba on "
        f"{checked - agreed} of {checked} checked lines (agreement {agreed / checked:.3%}, below the floor "
        f"{options.min_agreement:.3%}); first difference: jieba {_shown(first.expected[at:])} "
        f"vs {options.engine} {_shown(first.got[at:])}; a lower segment.min_agreement "
        "(zhvec segment --min-agreement) accepts it"
    )


def eval_oov(words_file: Path, eval_words: Mapping[str, frozenset[str]]) -> dict[str, float]:
    """Each eval set's share of distinct words that never occur in a corpus, from its `words_file`."""
    vocab = set(words_file.read_text(encoding="utf-8").split("\n"))
    return {name: len(words - vocab) / len(words) for name, words in eval_words.items() if words}


def segment_corpus(
    src: Path,
    corpus: Path,
    *,
    options: SegmentOptions,
    workers: int,
    words_file: Path | None = None,
    progress: bool = False,
) -> SegmentStats:
    """Segment a shard folder (or one file) into the single `corpus` file gensim's `corpus_file` reads.

    Dictionaries and stopwords are read before any work, so a bad one fails fast. `words_file`, if given,
    gets the corpus's distinct words, one a line (sorted), for `eval_oov`. The jieba check of the
    sampled lines runs here, in a thread, so only this process loads jieba's dictionary, while the workers
    segment; below `min_agreement` it raises `AgreementError` naming the first differing line, before the
    corpus is written.
    """
    started = time.perf_counter()
    for path in options.user_dicts:
        read_user_dict(path)
    if options.stopwords is not None:
        read_stopwords(options.stopwords)
    inputs = _inputs(src)
    pieces = plan_pieces(inputs, JIEBA_PIECE_BYTES if options.engine == "jieba" else PIECE_BYTES)
    parts_dir = corpus.parent / f".{corpus.name}.parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex
    jobs = [(piece, parts_dir / f"{i:06d}.txt", options, run) for i, piece in enumerate(pieces)]
    totals: Counter[str] = Counter()
    vocab: set[str] = set()
    checked = agreed = 0
    first: Disagreement | None = None
    with ThreadPoolExecutor(1) as checker:
        reference: Future[Cut] | None = None
        if options.engine != "jieba" and options.check_every:
            reference = checker.submit(load_engine, "jieba", options.user_dicts)
        results = imap_shards(
            segment_job,
            jobs,
            workers=workers,
            initializer=_warm,
            initargs=(options,),
            progress="segment" if progress else None,
        )
        try:
            with closing(results):  # a failure here stops the workers now, not when the generator is freed
                for piece, r in zip(pieces, results, strict=True):
                    vocab |= r.vocab
                    totals.update({name: getattr(r, name) for name in _COUNTS})
                    if r.samples and reference is not None:
                        jieba_cut = reference.result()
                        for index, line, got in r.samples:
                            expected = checked_tokens(options.engine, jieba_cut(line, options.hmm))
                            checked += 1
                            agreed += expected == got
                            if first is None and expected != got:
                                first = Disagreement(piece, index, expected, got)
            if first is not None and agreed / checked < options.min_agreement:
                raise agreement_error(first, checked, agreed, options)
            _concatenate([job[1] for job in jobs], corpus)
        finally:
            shutil.rmtree(parts_dir, ignore_errors=True)
            _REPORTED.pop(run, None)  # what this process reported itself, when it segmented in-process
    if words_file is not None:
        with atomic_path(words_file) as tmp:
            tmp.write_text("".join(f"{w}\n" for w in sorted(vocab)), encoding="utf-8")
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
        long_line_cuts=sum(piece.cut for piece in pieces),
        long_sentences=totals["long_sentences"],
    )
