"""Score word vectors on analogy (CA8, CA-translated) and similarity (wordsim) benchmarks.

Analogies follow the CA8 authors' rules by default (`rules="ca8"`, as in their `ana_eval_dense.py`), or
reproduce gensim's `KeyedVectors.evaluate_word_analogies` (`rules="gensim"`) so numbers can be compared
with either. All questions of all files are answered in one walk over the vocabulary in chunks: one BLAS
product per chunk for the distinct input words, then per question only the chunks its score bound does
not rule out (`_Chunked`). Memory stays bounded by the chunk size; `python -m benchmarks.evaluate` times it.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psutil
from gensim import utils as gensim_utils
from gensim.models import KeyedVectors
from scipy import stats

from tasks.core.errors import InputError
from tasks.core.identity import StageCode
from tasks.core.records import Metric

Method = Literal["3cosadd", "3cosmul"]
Rules = Literal["ca8", "gensim"]
Question = tuple[str, str, str, str]
AnalogySet = dict[str, list[Question]]
FloatMatrix = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# What makes the scores: this code, gensim (reading vectors), numpy and scipy (Spearman).
CODE = StageCode((__name__,), libraries=("gensim", "numpy", "scipy"))
ALL = "all"
DEFAULT_CATEGORY = "default"
METHODS: tuple[Method, ...] = ("3cosadd", "3cosmul")
RULES: tuple[Rules, ...] = ("ca8", "gensim")
SIMILARITY_METHODS = ("spearman", "pearson")
MUL_EPSILON = 0.01
GENSIM_RESTRICT_VOCAB = 300_000
GENSIM_TOPN = 5
CACHE_BLOCK_BYTES = 32 * 2**20  # a chunk's blocks: about a 32 MB last-level cache
SUB_BLOCK_BYTES = 256 * 2**10  # a batch's score buffer: a quarter of a core's L2
MIN_CHUNK, MAX_CHUNK = 256, 8192
TILE = 32  # words per tile of a score bound: tighter bounds vs more bound arithmetic
MUL_BOUND_SLACK = 1e-6
PICKLE_MAGIC = b"\x80"
NORM_BLOCK_ROWS = 65536  # rows normalised per step: a 300-d block is 75 MB


class EvalFileError(InputError):
    """A malformed benchmark line, reported as `path:lineno: problem` so it can be fixed in an editor."""


@dataclass(frozen=True)
class Vectors:
    """Unit-length rows in file order, so row i is the i-th most frequent word and `top_n` is a slice."""

    words: list[str]
    index: dict[str, int]
    matrix: FloatMatrix


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    """Numbered non-blank lines; universal newlines and `-sig` because the CA8 files ship with CRLF."""
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                yield lineno, line.strip()


def load_analogies(path: Path) -> AnalogySet:
    """`: category` headers then `a b c d` lines; questions before any header go to `default`."""
    aset: AnalogySet = {}
    category = DEFAULT_CATEGORY
    for lineno, line in _lines(path):
        if line.startswith(":"):
            category = line[1:].strip()
            if not category or category == ALL:
                raise EvalFileError(f"{path}:{lineno}: category name must be non-empty and not {ALL!r}")
            aset.setdefault(category, [])
            continue
        words = line.split()
        if len(words) != 4:
            raise EvalFileError(f"{path}:{lineno}: expected 4 words `a b c d`, got {len(words)}")
        aset.setdefault(category, []).append((words[0], words[1], words[2], words[3]))
    return aset


def load_similarity(path: Path) -> list[tuple[str, str, float]]:
    """`word word score` lines split on any whitespace, since wordsim-297 has stray spaces around words."""
    pairs = []
    for lineno, line in _lines(path):
        fields = line.split()
        if len(fields) != 3:
            raise EvalFileError(f"{path}:{lineno}: expected `word word score`, got {len(fields)} fields")
        try:
            score = float(fields[2])
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise EvalFileError(f"{path}:{lineno}: score {fields[2]!r} is not a finite number")
        pairs.append((fields[0], fields[1], score))
    return pairs


def unit_rows(matrix: FloatMatrix, out: FloatMatrix | None = None) -> FloatMatrix:
    """`matrix` with every row scaled to length 1 (zero rows stay zero), into `out` if given.

    Row blocks keep the temporaries small (a 1 M × 300 model would need a 1.2 GB square otherwise); each
    row's norm is its own reduction, so the result is the same bits as normalising the whole at once.
    """
    unit = np.empty_like(matrix) if out is None else out
    for lo in range(0, len(matrix), NORM_BLOCK_ROWS):
        block = matrix[lo : lo + NORM_BLOCK_ROWS]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        np.divide(block, np.where(norms > 0, norms, 1), out=unit[lo : lo + NORM_BLOCK_ROWS])
    return unit


def word_index(words: Sequence[str]) -> dict[str, int]:
    """Word → its first row."""
    index: dict[str, int] = {}
    for i, word in enumerate(words):
        index.setdefault(word, i)
    return index


def vectors_from(words: Sequence[str], raw: npt.ArrayLike) -> Vectors:
    """Normalise rows once so every cosine below is a plain dot product; zero rows stay zero."""
    matrix = np.asarray(raw, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise ValueError(f"need one row per word: {len(words)} words, matrix shape {matrix.shape}")
    return Vectors(list(words), word_index(words), unit_rows(matrix))


def _vector_format(path: Path) -> Literal["kv", "text", "binary"]:
    """Sniff rather than trust the suffix: word2vec text and binary share the `count dim` header line."""
    with gensim_utils.open(str(path), "rb") as f:
        header = f.readline()
        if header.startswith(PICKLE_MAGIC):
            return "kv"
        try:
            _, dim = (int(x) for x in header.split())
        except ValueError:
            raise ValueError(f"{path}: not word2vec nor gensim .kv (first line {header[:40]!r})") from None
        fields = f.readline().split()[1:]
    try:
        values = [float(x) for x in fields]
    except ValueError:
        return "binary"
    return "text" if len(values) == dim else "binary"


def load_keyed_vectors(path: Path, limit: int | None = None) -> KeyedVectors:
    """word2vec text or binary (compressed too, via gensim) or a gensim `.kv` file, as gensim loads it.

    `limit`: at most that many rows, the first (most frequent) ones. A word2vec file is read only that far;
    a `.kv` file is one pickle, read whole, then cut."""
    kind = _vector_format(path)
    if kind == "kv":
        kv = KeyedVectors.load(str(path))
        if not isinstance(kv, KeyedVectors):
            raise ValueError(f"{path}: holds a {type(kv).__name__}, not gensim KeyedVectors")
        return kv
    return KeyedVectors.load_word2vec_format(str(path), binary=kind == "binary", limit=limit)


def load_vectors(path: Path, limit: int | None = None) -> Vectors:
    """`load_keyed_vectors`, rows normalised, in file order; `limit`: only the first rows."""
    kv = load_keyed_vectors(path, limit)
    n = len(kv.index_to_key) if limit is None else min(limit, len(kv.index_to_key))
    return vectors_from(list(kv.index_to_key[:n]), kv.vectors[:n])


def _workers() -> int:
    """Cores this process may use: numpy's elementwise loops release the GIL, so threads scale on them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_chunk_size(block_rows: int) -> int:
    """Vocabulary words per chunk, for blocks of `block_rows` float32 rows (distinct input words, c words
    and (a, b) pairs per method).

    Sized so the chunk's blocks take ≈ CACHE_BLOCK_BYTES, about the last-level cache, which they are
    read from while every question is scored; at least MIN_CHUNK words so the product stays efficient
    for large files, but never over available RAM / 16, so memory stays bounded; a multiple of TILE.
    """
    per_word = 4 * max(1, block_rows)
    memory = psutil.virtual_memory().available // 16
    chunk = min(max(CACHE_BLOCK_BYTES // per_word, MIN_CHUNK), memory // per_word, MAX_CHUNK)
    return max(TILE, chunk // TILE * TILE)


def default_batch_size(chunk: int) -> int:
    """Questions scored together against one chunk: their two score buffers (≤ SUB_BLOCK_BYTES each)
    stay in a core's L2 cache between the gathers, the arithmetic and the max."""
    return max(1, SUB_BLOCK_BYTES // (4 * max(1, chunk)))


def _view(flat: FloatMatrix, rows: int, cols: int) -> FloatMatrix:
    """A C-contiguous (rows, cols) array on a preallocated buffer: no allocation, no page faults."""
    return flat[: rows * cols].reshape(rows, cols)


@dataclass
class _Ranking:
    """Running top k (value, row) per question, best first, ties to the lower row as a full argmax."""

    value: FloatMatrix
    row: IntArray

    @classmethod
    def empty(cls, n: int, k: int) -> _Ranking:
        return cls(np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64))

    def offer(self, questions: IntArray, scores: FloatMatrix, lo: int) -> None:
        """Merge one chunk's scores (column j = row lo + j) for some questions.

        Chunks arrive in row order, so an equal score never displaces an earlier one. Only questions
        whose chunk maximum beats their current k-th best are looked at again; after the first chunks
        that is few, so the max is the only full pass.
        """
        k = self.value.shape[1]
        best = scores.max(axis=1)
        live = np.flatnonzero(best > self.value[questions, -1])
        if not live.size:
            return
        questions = questions[live]
        if k == 1:
            self.value[questions, 0] = best[live]
            self.row[questions, 0] = scores[live].argmax(axis=1) + lo
            return
        sub = scores[live]
        at = np.arange(len(live))
        value = np.empty((len(live), k), dtype=np.float32)
        row = np.empty((len(live), k), dtype=np.int64)
        for j in range(k):
            col = sub.argmax(axis=1)
            value[:, j] = sub[at, col]
            row[:, j] = col + lo
            sub[at, col] = -np.inf
        value = np.concatenate([self.value[questions], value], axis=1)
        row = np.concatenate([self.row[questions], row], axis=1)
        keep = np.argsort(-value, axis=1, kind="stable")[:, :k]
        self.value[questions] = np.take_along_axis(value, keep, axis=1)
        self.row[questions] = np.take_along_axis(row, keep, axis=1)

    def rows(self) -> IntArray:
        return np.where(self.value > -np.inf, self.row, -1)


def _tile_max(block: FloatMatrix, out: FloatMatrix, scratch: FloatMatrix) -> None:
    """out[j, i] = max of row i over tile j, where tile j holds the columns ≡ j mod nt, and out[nt, i] the
    maximum of the whole row (nt = out rows − 1).

    Such strided tiles fold by halving: max(left half, right half) keeps every column in its tile
    while the width is a multiple of nt, and each fold is an elementwise maximum over long contiguous
    runs, which numpy vectorises (a reduction over short contiguous tiles is several times slower).
    `scratch` holds rows × width/2 values; `out` is (nt + 1, rows) so bounds are gathered by column.
    """
    rows, width = block.shape
    nt = out.shape[0] - 1
    tiles = out[:nt]
    if width <= nt:  # a last chunk narrower than nt: one column per tile, the rest empty
        tiles.fill(-np.inf)
        tiles[:width] = block.T
    else:
        folded = nt << int(math.log2(width // nt))  # the widest nt·2^s within the chunk
        half = max(nt, folded // 2)
        cur = _view(scratch, rows, half)
        if folded > nt:
            np.maximum(block[:, :half], block[:, half:folded], out=cur)
        else:
            np.copyto(cur, block[:, :nt])
        for start in range(folded, width, half):  # columns past the widest fold: ≡ mod half
            piece = block[:, start : start + half]
            np.maximum(cur[:, : piece.shape[1]], piece, out=cur[:, : piece.shape[1]])
        while half > nt:
            half //= 2
            np.maximum(cur[:, :half], cur[:, half : 2 * half], out=cur[:, :half])
        tiles[:] = cur[:, :nt].T
    np.max(tiles, axis=0, out=out[nt])


def _bound(method: Method, left: FloatMatrix, right: FloatMatrix) -> FloatMatrix:
    """Upper bound of `left ∘ right` scores from upper bounds of both parts; overwrites `left`.

    For 3CosMul the parts are clamped at 0 (a product bound needs non-negative factors), but cosines
    can round a hair below −1, making both factors tiny negatives with a positive product; the slack,
    far above (d·2⁻²⁴)², keeps the bound above such a product.
    """
    if method == "3cosadd":
        left += right
        return left
    left *= right
    left += MUL_BOUND_SLACK
    return left


class _Chunked:
    """Answers analogy questions against the vocabulary one chunk at a time (see `_rank`).

    Scores are split into a pair part and a c part, so the ~10 questions sharing each (a, b) pair share
    the pair arithmetic: 3CosAdd is (cos_b − cos_a) + cos_c, the same float32 operations in the same
    order as written out; 3CosMul is (cos_b + 1)/(cos_a + 1 + 2ε) · (cos_c + 1) = 2·sim_b·sim_c/(sim_a + ε)
    with sim = (cos + 1)/2, the same argmax.

    Most questions need not look at most chunks. The chunk is cut into tiles of about TILE words, and
    within a tile score ≤ max(pair part) ∘ max(c part), since + and · (of non-negatives) are monotone,
    in float32 rounding too. A question whose bound over every tile does not beat its k-th best so far
    (from earlier, lower rows, so a tie would not win either) skips the chunk; the rest are scored in
    full, so the result is exactly that of scoring everything.
    """

    def __init__(
        self,
        cand: FloatMatrix,
        abc: IntArray,
        methods: Sequence[Method],
        k: int,
        batch: int | None,
        chunk: int | None,
    ) -> None:
        # distinct input words with the c words first, so the c part is the leading rows of the cosines
        c_words = np.unique(abc[:, 2])
        distinct = np.concatenate([c_words, np.setdiff1d(abc[:, :2], c_words)])
        order = np.argsort(distinct)
        rows = order[np.searchsorted(distinct[order], abc)]
        pairs, pair_of = np.unique(rows[:, :2], axis=0, return_inverse=True)
        self.cand, self.abc, self.methods, self.k, self.n_c = cand, abc, methods, k, len(c_words)
        self.pairs, self.pair_of, self.c_of = pairs, pair_of.reshape(-1), rows[:, 2]
        self.inputs = cand[distinct]
        mul = "3cosmul" in methods
        self.chunk = chunk or default_chunk_size(
            len(distinct) + mul * len(c_words) + len(methods) * len(pairs)
        )
        self.batch = batch or default_batch_size(self.chunk)
        self.workers = _workers()
        self.spans = np.linspace(0, len(abc), self.workers + 1).astype(np.int64)
        self.pair_spans = np.linspace(0, len(pairs), self.workers + 1).astype(np.int64)
        self.c_spans = np.linspace(0, len(c_words), self.workers + 1).astype(np.int64)
        self.cos = np.empty(self.chunk * len(distinct), dtype=np.float32)
        self.right = np.empty(self.chunk * len(c_words) * mul, dtype=np.float32)
        self.left = {m: np.empty(self.chunk * len(pairs), dtype=np.float32) for m in methods}
        tiles = max(1, self.chunk // TILE) + 1  # the last row: the whole chunk's maximum
        self.left_max = {m: np.empty((tiles, len(pairs)), dtype=np.float32) for m in METHODS}
        self.right_max = {m: np.empty((tiles, len(c_words)), dtype=np.float32) for m in METHODS}
        self.buffers = [np.empty(2 * self.batch * self.chunk, dtype=np.float32) for _ in range(self.workers)]
        self.rankings = {m: _Ranking.empty(len(abc), k) for m in methods}

    def _blocks(self, part: int, cos: FloatMatrix) -> None:
        """This worker's share of the chunk's pair blocks, c parts and their tile maxima (see below)."""
        self._right(part, cos, "3cosmul" in self.methods)
        self._left(part, cos)

    def _right(self, part: int, cos: FloatMatrix, mul: bool) -> None:
        """Tile maxima of the c parts, the 3CosMul ones clamped at 0 since a product bound needs
        non-negative factors, and the rows of cos + 1 (3CosMul's c part) when `mul`."""
        scratch = self.buffers[part]  # the scoring buffers are free while blocks are built
        for lo in range(int(self.c_spans[part]), int(self.c_spans[part + 1]), self.batch):
            words = slice(lo, min(lo + self.batch, int(self.c_spans[part + 1])))
            add, plus1 = self.right_max["3cosadd"][:, words], self.right_max["3cosmul"][:, words]
            _tile_max(cos[words], add, scratch)
            if mul:
                np.add(add, 1, out=plus1)  # max(cos) + 1 = max(cos + 1): rounding is monotone
                np.maximum(plus1, 0, out=plus1)
                np.add(cos[words], 1, out=_view(self.right, self.n_c, cos.shape[1])[words])

    def _left(self, part: int, cos: FloatMatrix) -> None:
        """Rows of each method's pair block and their tile maxima, from one gather of cos_b and cos_a,
        `batch` rows at a time so each piece is still in cache when its maxima are taken."""
        width = cos.shape[1]
        den = _view(self.buffers[part], self.batch, width)
        scratch = self.buffers[part][self.batch * self.chunk :]
        blocks = {m: _view(self.left[m], len(self.pairs), width) for m in self.methods}
        for lo in range(int(self.pair_spans[part]), int(self.pair_spans[part + 1]), self.batch):
            hi = min(lo + self.batch, int(self.pair_spans[part + 1]))
            # cos_b goes where 3CosMul's block is built in place, after 3CosAdd has read it
            cos_b = blocks["3cosmul" if "3cosmul" in blocks else "3cosadd"][lo:hi]
            cos_a = den[: hi - lo]
            np.take(cos, self.pairs[lo:hi, 1], axis=0, out=cos_b, mode="clip")
            np.take(cos, self.pairs[lo:hi, 0], axis=0, out=cos_a, mode="clip")
            if "3cosadd" in blocks:
                out = blocks["3cosadd"][lo:hi]
                np.subtract(cos_b, cos_a, out=out)
                _tile_max(out, self.left_max["3cosadd"][:, lo:hi], scratch)
            if "3cosmul" in blocks:
                out = blocks["3cosmul"][lo:hi]  # = cos_b
                out += 1
                cos_a += 1 + 2 * MUL_EPSILON
                out /= cos_a
                bound = self.left_max["3cosmul"][:, lo:hi]
                _tile_max(out, bound, scratch)
                np.maximum(bound, 0, out=bound)

    def _live(self, questions: IntArray, method: Method) -> IntArray:
        """The questions whose bound beats their k-th best in some tile of the chunk: first against
        the whole chunk's maxima (one value per question), then tile by tile for the rest."""
        pairs, cs = self.pair_of[questions], self.c_of[questions]
        kth = self.rankings[method].value[questions, -1]
        coarse = _bound(method, self.left_max[method][-1, pairs], self.right_max[method][-1, cs])
        keep = coarse > kth
        questions, pairs, cs, kth = questions[keep], pairs[keep], cs[keep], kth[keep]
        tiles = self.left_max[method].shape[0] - 1
        fine = _bound(
            method,
            np.take(self.left_max[method][:tiles], pairs, axis=1),
            np.take(self.right_max[method][:tiles], cs, axis=1),
        )
        return questions[fine.max(axis=0) > kth]

    def _score(self, part: int, lo: int, cos: FloatMatrix, hit: IntArray) -> None:
        """This worker's live questions against the chunk starting at row lo, `batch` at a time; `hit`
        lists (question, column) of the a, b and c words inside the chunk, which are never answers."""
        width = cos.shape[1]
        flat = self.buffers[part]
        first, end = int(self.spans[part]), int(self.spans[part + 1])
        step = max(1, SUB_BLOCK_BYTES // (4 * len(self.left_max["3cosadd"])))  # bounds of a slice: ≤ L2
        for method, q0 in itertools.product(self.methods, range(first, end, step)):
            left = _view(self.left[method], len(self.pairs), width)
            right = cos if method == "3cosadd" else _view(self.right, self.n_c, width)
            questions = np.arange(q0, min(q0 + step, end))
            live = self._live(questions, method) if lo else questions
            for start in range(0, len(live), self.batch):
                questions = live[start : start + self.batch]
                scores = _view(flat, len(questions), width)
                other = _view(flat[self.batch * self.chunk :], len(questions), width)
                np.take(left, self.pair_of[questions], axis=0, out=scores, mode="clip")
                np.take(right, self.c_of[questions], axis=0, out=other, mode="clip")
                (np.add if method == "3cosadd" else np.multiply)(scores, other, out=scores)
                first, last = np.searchsorted(hit[0], (questions[0], questions[-1] + 1))
                asked, col = hit[0][first:last], hit[1][first:last]
                at = np.searchsorted(questions, asked)
                mine = questions[at] == asked
                scores[at[mine], col[mine]] = -np.inf
                self.rankings[method].offer(questions, scores, lo)

    def run(self) -> dict[str, IntArray]:
        with ThreadPoolExecutor(self.workers) as pool:

            def each_part(fn: Callable[..., None], *args: Any) -> None:
                for job in [pool.submit(fn, part, *args) for part in range(self.workers)]:
                    job.result()

            for lo in range(0, len(self.cand), self.chunk):
                hi = min(lo + self.chunk, len(self.cand))
                cos = _view(self.cos, len(self.inputs), hi - lo)
                np.matmul(self.inputs, self.cand[lo:hi].T, out=cos)
                q, j = np.nonzero((self.abc >= lo) & (self.abc < hi))
                each_part(self._blocks, cos)
                each_part(self._score, lo, cos, np.stack([q, self.abc[q, j] - lo]))
        return {m: r.rows() for m, r in self.rankings.items()}


def _rank(
    cand: FloatMatrix,
    abc: IntArray,
    methods: Sequence[Method],
    k: int,
    *,
    batch_size: int | None = None,
    chunk_size: int | None = None,
) -> dict[str, IntArray]:
    """Best k candidate rows per question and method, a, b and c excluded, -1 once a row runs out.

    The vocabulary is walked in chunks; per chunk one BLAS product gives the cosines of every distinct
    input word (a few thousand for all of CA8) with it, so the product costs (distinct words × V) rather
    than (3 × questions × V). Memory is the chunk's blocks plus two small buffers per core.
    """
    if not len(abc) or not len(cand):
        return {m: _Ranking.empty(len(abc), k).rows() for m in methods}
    return _Chunked(cand, abc, methods, k, batch_size, chunk_size).run()


def _row_lookup(words: Sequence[str], fold: bool) -> dict[str, int]:
    """Word → first row holding it; folded to upper case like gensim's `case_insensitive=True` when asked."""
    rows: dict[str, int] = {}
    for i, word in enumerate(words):
        rows.setdefault(word.upper() if fold else word, i)
    return rows


def _encode(questions: Sequence[Question], rows: Mapping[str, int], fold: bool) -> IntArray:
    """(Q, 4) rows of a, b, c, d; -1 where the word is out of vocabulary."""
    return np.array(
        [[rows.get(w.upper() if fold else w, -1) for w in q] for q in questions], dtype=np.int64
    ).reshape(-1, 4)


def _gensim_pick(candidates: list[int], inputs: list[int], canonical: IntArray) -> int:
    """gensim's answer from `most_similar`'s top 5: the first word whose upper-case form is not an input's.

    Rows are compared by their canonical (first upper-case match) row, so case variants of the inputs are
    passed over and a case variant of the answer counts as right; if all five are passed over the last one
    stands, as in gensim's loop. -1 ends the list early (a vocabulary of under 8 words).
    """
    picked = -1
    for cand in candidates:
        if cand < 0:
            break
        picked = int(canonical[cand])
        if picked not in inputs:
            break
    return picked


def _accuracy(
    name: str, category: str, method: str, rules: str, seen: int, total: int, correct: int
) -> Metric:
    value = correct / seen if seen else 0.0
    return Metric(name, category, method, rules, value, seen, total, correct)


def _check_methods(methods: Sequence[str], rules: str) -> None:
    if rules not in RULES:
        raise ValueError(f"unknown analogy rules {rules!r}; known: {', '.join(RULES)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown analogy method(s) {unknown}; known: {', '.join(METHODS)}")
    if rules == "gensim" and list(methods) != ["3cosadd"]:
        raise ValueError("rules 'gensim' define only 3cosadd (evaluate_word_analogies has no 3CosMul)")


def evaluate_analogy_sets(
    vecs: Vectors,
    asets: Mapping[str, AnalogySet],
    *,
    methods: Sequence[Method] = METHODS,
    rules: Rules = "ca8",
    top_n: int | None = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
) -> list[Metric]:
    """Accuracy per set and method for the whole file (category `all`) and each category, in file order.

    `ca8`: skip a question only when a, b or c is unknown; an unknown answer is seen and wrong.
    `gensim`: skip when any of the four is unknown, match words case-insensitively, vocabulary capped at
    300,000. Both never answer with a, b or c, so the few CA8 lines whose answer repeats an input are
    always wrong. `top_n` evaluates as if the model held only its first N words (CA8's `-t`, gensim's
    `restrict_vocab`). All sets are answered in one pass over the vocabulary, so words shared between
    files cost one product.
    """
    _check_methods(methods, rules)
    fold = rules == "gensim"
    n = len(vecs.words) if top_n is None else min(top_n, len(vecs.words))
    if fold and top_n is None:
        n = min(n, GENSIM_RESTRICT_VOCAB)
    rows = _row_lookup(vecs.words[:n], fold)
    questions = [q for aset in asets.values() for qs in aset.values() for q in qs]
    sizes = [len(qs) for aset in asets.values() for qs in aset.values()]
    category = np.repeat(np.arange(len(sizes)), sizes)
    encoded = _encode(questions, rows, fold)
    abc, d = encoded[:, :3], encoded[:, 3]
    seen = (abc >= 0).all(axis=1)
    if fold:
        seen &= d >= 0
    todo = np.flatnonzero(seen & (d >= 0))
    k = min(GENSIM_TOPN, n) if fold else 1
    ranked = _rank(vecs.matrix[:n], abc[todo], methods, k, batch_size=batch_size, chunk_size=chunk_size)

    totals = np.bincount(category, minlength=len(sizes))
    seen_counts = np.bincount(category[seen], minlength=len(sizes))
    canonical = np.array([rows[w.upper()] for w in vecs.words[:n]] if fold else [], dtype=np.int64)
    metrics = []
    for method in methods:
        hits = np.zeros(len(questions), dtype=bool)
        if fold:
            picks = [
                _gensim_pick(c, i, canonical)
                for c, i in zip(ranked[method].tolist(), abc[todo].tolist(), strict=True)
            ]
            hits[todo] = np.array(picks, dtype=np.int64) == d[todo]
        else:
            hits[todo] = ranked[method][:, 0] == d[todo]
        correct = np.bincount(category[hits], minlength=len(sizes))
        first = 0
        for name, aset in asets.items():
            ids = range(first, first + len(aset))
            metrics.append(
                _accuracy(
                    name,
                    ALL,
                    method,
                    rules,
                    int(seen_counts[ids].sum()),
                    int(totals[ids].sum()),
                    int(correct[ids].sum()),
                )
            )
            metrics += [
                _accuracy(name, cat, method, rules, int(seen_counts[i]), int(totals[i]), int(correct[i]))
                for i, cat in zip(ids, aset, strict=True)
            ]
            first += len(aset)
    return sorted(metrics, key=lambda m: list(asets).index(m.eval_set))


def evaluate_analogies(
    vecs: Vectors,
    aset: AnalogySet,
    *,
    name: str,
    methods: Sequence[Method] = METHODS,
    rules: Rules = "ca8",
    top_n: int | None = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
) -> list[Metric]:
    """One file's accuracies; see `evaluate_analogy_sets` for the rules."""
    return evaluate_analogy_sets(
        vecs,
        {name: aset},
        methods=methods,
        rules=rules,
        top_n=top_n,
        batch_size=batch_size,
        chunk_size=chunk_size,
    )


def _correlation(fn: Callable[..., Any], x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    """0.0 where the correlation is undefined (fewer than 2 pairs or a constant side) instead of NaN."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(fn(x, y).statistic)


def _cosines(left: FloatMatrix, right: FloatMatrix) -> npt.NDArray[np.float64]:
    """Row-wise cosines in float64, renormalised so a word paired with itself (wordsim-297 has three) is
    exactly 1 and such pairs tie in Spearman's ranks rather than being ordered by float32 rounding."""
    left64, right64 = left.astype(np.float64), right.astype(np.float64)
    dot = np.einsum("ij,ij->i", left64, right64)
    norms = np.sqrt(np.einsum("ij,ij->i", left64, left64) * np.einsum("ij,ij->i", right64, right64))
    return np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)


def evaluate_similarity(
    vecs: Vectors, pairs: Sequence[tuple[str, str, float]], *, name: str, rules: Rules = "ca8"
) -> list[Metric]:
    """Spearman and Pearson of human score vs cosine over the pairs with both words in the vocabulary.

    Scoring is the same under both rules; `rules` only tags the metrics so one run's results stay together.
    """
    covered = [(a, b, s) for a, b, s in pairs if a in vecs.index and b in vecs.index]
    left = vecs.matrix[[vecs.index[a] for a, _, _ in covered]]
    right = vecs.matrix[[vecs.index[b] for _, b, _ in covered]]
    cosine = _cosines(left, right)
    human = np.array([s for _, _, s in covered], dtype=np.float64)
    return [
        Metric(name, ALL, method, rules, _correlation(fn, human, cosine), len(covered), len(pairs))
        for method, fn in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr))
    ]


def evaluate_all(
    vecs: Vectors,
    analogy: Mapping[str, Path],
    similarity: Mapping[str, Path],
    *,
    rules: Rules = "ca8",
    methods: Sequence[Method] = METHODS,
    top_n: int | None = None,
) -> list[Metric]:
    """Every configured set; all files are parsed before any scoring so a bad line fails fast."""
    _check_methods(methods, rules)
    analogies = {name: load_analogies(path) for name, path in analogy.items()}
    similarities = {name: load_similarity(path) for name, path in similarity.items()}
    metrics = evaluate_analogy_sets(vecs, analogies, methods=methods, rules=rules, top_n=top_n)
    for name, pairs in similarities.items():
        metrics += evaluate_similarity(vecs, pairs, name=name, rules=rules)
    return metrics


def _counts(m: Metric) -> dict[str, Any]:
    return {
        "seen": m.seen,
        "total": m.total,
        "correct": m.correct,
        "accuracy": m.value,
        "coverage": m.coverage,
    }


def summary_json(metrics: Iterable[Metric]) -> dict[str, Any]:
    """The CLI's `--json` shape: per set, per analogy method totals with `categories`, or correlations."""
    out: dict[str, dict[str, Any]] = {}
    for m in metrics:
        entry = out.setdefault(m.eval_set, {})
        if m.method in SIMILARITY_METHODS:
            entry.update(covered=m.seen, total=m.total, coverage=m.coverage)
            entry[m.method] = m.value
        elif m.category == ALL:
            entry[m.method] = {**_counts(m), "categories": entry.get(m.method, {}).get("categories", {})}
        else:
            entry.setdefault(m.method, {}).setdefault("categories", {})[m.category] = _counts(m)
    return out
