"""jieba word segmentation, shard by shard in worker processes, one sentence per output line.

Each line is cut whole with `jieba.cut` (so tokens equal a serial `jieba.cut` of that line) and the
tokens are then split at sentence-final punctuation and filtered: gensim then sees sentence contexts,
never windows that run across sentence ends.
"""

from __future__ import annotations

import logging
import re
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jieba

from tasks.config import SegmentOptions
from tasks.errors import InputError
from tasks.shards import list_shards, map_shards
from tasks.workspace import atomic_path

SENTENCE_END = frozenset("。！？!?；;…")
_DIGITS = re.compile(r"[\d.,:%％]*\d[\d.,:%％]*")
_LATIN = re.compile(r"[A-Za-z][A-Za-z'\-]*")

_tokenizer: jieba.Tokenizer | None = None
_tokenizer_key: tuple[Path, ...] | None = None


class SegmentError(InputError):
    """A shard or user dictionary that cannot be segmented."""


@dataclass(frozen=True)
class SegmentStats:
    shards: int
    lines_in: int
    sentences: int
    tokens: int
    dropped_tokens: int
    bytes_in: int
    bytes_out: int


def tokenizer(user_dicts: tuple[Path, ...]) -> jieba.Tokenizer:
    """One jieba dictionary per process: loading it takes about a second."""
    global _tokenizer, _tokenizer_key
    if _tokenizer is None or _tokenizer_key != user_dicts:
        jieba.setLogLevel(logging.WARNING)
        tk = jieba.Tokenizer()
        tk.initialize()
        for path in user_dicts:
            if not path.is_file():
                raise SegmentError(f"user dictionary not found: {path}")
            tk.load_userdict(str(path))
        _tokenizer, _tokenizer_key = tk, user_dicts
    return _tokenizer


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PS" for ch in token)


def keep_token(token: str, drop: tuple[str, ...]) -> bool:
    """Whitespace never survives: the corpus format separates tokens by spaces."""
    if not token.strip():
        return False
    if "punct" in drop and _is_punct(token):
        return False
    if "digits" in drop and _DIGITS.fullmatch(token):
        return False
    return not ("latin" in drop and _LATIN.fullmatch(token))


def sentences(tokens: Iterable[str], options: SegmentOptions) -> Iterator[list[str]]:
    """Split a line's tokens into sentences, filter them, and cap each at gensim's line limit."""
    current: list[str] = []
    for token in tokens:
        if keep_token(token, options.drop):
            current.append(token.strip())
        if options.split_sentences and token in SENTENCE_END and current:
            yield from _capped(current, options.max_tokens_per_line)
            current = []
    if current:
        yield from _capped(current, options.max_tokens_per_line)


def _capped(tokens: list[str], limit: int) -> Iterator[list[str]]:
    for start in range(0, len(tokens), limit):
        yield tokens[start : start + limit]


def segment_line(line: str, options: SegmentOptions) -> list[list[str]]:
    tk = tokenizer(options.user_dicts)
    return list(sentences(tk.cut(line, HMM=options.hmm), options))


def segment_file(src: Path, dst: Path, options: SegmentOptions) -> tuple[int, int, int, int]:
    """Segment one UTF-8 file into `dst` atomically; returns (lines, sentences, tokens, dropped)."""
    tk = tokenizer(options.user_dicts)
    lines = n_sent = n_tok = raw = 0
    with src.open(encoding="utf-8") as fin, atomic_path(dst) as tmp, tmp.open("w", encoding="utf-8") as out:
        try:
            for line in fin:
                lines += 1
                text = line.rstrip("\n")
                if not text.strip():
                    continue
                cut = list(tk.cut(text, HMM=options.hmm))
                raw += len(cut)
                for sent in sentences(cut, options):
                    out.write(" ".join(sent))
                    out.write("\n")
                    n_sent += 1
                    n_tok += len(sent)
        except UnicodeDecodeError as exc:
            raise SegmentError(f"{src}: invalid UTF-8 after line {lines}: {exc.reason}") from None
    return lines, n_sent, n_tok, raw - n_tok


def _concatenate(parts: list[Path], dst: Path) -> None:
    with atomic_path(dst) as tmp, tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fin:
                shutil.copyfileobj(fin, out, 1 << 22)


def segment_corpus(
    src: Path, corpus: Path, *, options: SegmentOptions, workers: int, progress: bool = False
) -> SegmentStats:
    """Segment a shard folder (or one file) into the single `corpus` file gensim's `corpus_file` reads."""
    for path in options.user_dicts:
        if not path.is_file():
            raise SegmentError(f"user dictionary not found: {path}")
    inputs = [src] if src.is_file() else list_shards(src)
    parts_dir = corpus.parent / f".{corpus.name}.parts"
    jobs = [(shard, parts_dir / f"{i:05d}.txt", options) for i, shard in enumerate(inputs)]
    results = map_shards(
        segment_file,
        jobs,
        workers=workers,
        initializer=tokenizer,
        initargs=(options.user_dicts,),
        progress="segment" if progress else None,
    )
    _concatenate([job[1] for job in jobs], corpus)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return SegmentStats(
        shards=len(inputs),
        lines_in=sum(r[0] for r in results),
        sentences=sum(r[1] for r in results),
        tokens=sum(r[2] for r in results),
        dropped_tokens=sum(r[3] for r in results),
        bytes_in=sum(p.stat().st_size for p in inputs),
        bytes_out=corpus.stat().st_size,
    )
