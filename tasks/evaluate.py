"""Score word vectors on analogy (CA8, CA-translated) and similarity (wordsim) benchmarks.

Analogies follow the CA8 authors' rules by default (`rules="ca8"`, as in their `ana_eval_dense.py`), or
reproduce gensim's `KeyedVectors.evaluate_word_analogies` (`rules="gensim"`) so numbers can be compared
with either. Questions are answered in batches of dense float32 products, so a 100k-word model takes
seconds rather than the minutes a per-question loop would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psutil
from gensim import utils as gensim_utils
from gensim.models import KeyedVectors
from scipy import stats

from tasks.errors import InputError
from tasks.records import Metric

Method = Literal["3cosadd", "3cosmul"]
Rules = Literal["ca8", "gensim"]
Question = tuple[str, str, str, str]
AnalogySet = dict[str, list[Question]]
FloatMatrix = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

ALL = "all"
DEFAULT_CATEGORY = "default"
METHODS: tuple[Method, ...] = ("3cosadd", "3cosmul")
RULES: tuple[Rules, ...] = ("ca8", "gensim")
SIMILARITY_METHODS = ("spearman", "pearson")
MUL_EPSILON = 0.01
GENSIM_RESTRICT_VOCAB = 300_000
GENSIM_TOPN = 5
MAX_BLOCK_BYTES = 256 * 2**20
SUB_BLOCK_BYTES = 2**20
PICKLE_MAGIC = b"\x80"


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


def vectors_from(words: Sequence[str], raw: npt.ArrayLike) -> Vectors:
    """Normalise rows once so every cosine below is a plain dot product; zero rows stay zero."""
    matrix = np.asarray(raw, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise ValueError(f"need one row per word: {len(words)} words, matrix shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = (matrix / np.where(norms > 0, norms, 1)).astype(np.float32, copy=False)
    index: dict[str, int] = {}
    for i, word in enumerate(words):
        index.setdefault(word, i)
    return Vectors(list(words), index, unit)


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


def load_vectors(path: Path) -> Vectors:
    """word2vec text or binary (compressed too, via gensim) or a gensim `.kv` file, in file order."""
    kind = _vector_format(path)
    if kind == "kv":
        kv = KeyedVectors.load(str(path))
        if not isinstance(kv, KeyedVectors):
            raise ValueError(f"{path}: holds a {type(kv).__name__}, not gensim KeyedVectors")
    else:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=kind == "binary")
    return vectors_from(list(kv.index_to_key), kv.vectors)


def default_batch_size(n_candidates: int) -> int:
    """Questions per batch so the batch's cosine block stays ≤ min(256 MiB, available RAM / 16).

    The block has a float32 row per distinct input word, at most 3 per question (CA8's reused words make
    it several times smaller in practice); scoring then works through it a few questions at a time.
    """
    budget = min(MAX_BLOCK_BYTES, psutil.virtual_memory().available // 16)
    return max(1, budget // (3 * 4 * max(1, n_candidates)))


def _sub_block_rows(n_candidates: int) -> int:
    """Questions scored together: few enough that their score rows (≤ 1 MiB) stay in L2 cache between the
    gather, arithmetic and argmax passes, which is several times faster than streaming a B×V block."""
    return max(1, SUB_BLOCK_BYTES // (4 * max(1, n_candidates)))


def _score_3cosadd(cos: FloatMatrix, rows: IntArray) -> FloatMatrix:
    """cos(x,b) − cos(x,a) + cos(x,c); `rows` holds each question's a, b, c as rows of `cos`."""
    scores = cos[rows[:, 1]]
    scores -= cos[rows[:, 0]]
    scores += cos[rows[:, 2]]
    return scores


def _score_3cosmul(cos: FloatMatrix, rows: IntArray) -> FloatMatrix:
    """sim(x,b)·sim(x,c)/(sim(x,a)+ε) with sim = (cos+1)/2.

    Computed as the proportional (cos_b+1)(cos_c+1)/(cos_a+1+2ε): same argmax, fewer passes over the block.
    """
    scores = cos[rows[:, 1]]
    scores += 1
    other = cos[rows[:, 2]]
    other += 1
    scores *= other
    other = cos[rows[:, 0]]
    other += 1 + 2 * MUL_EPSILON
    scores /= other
    return scores


SCORERS: dict[str, Callable[[FloatMatrix, IntArray], FloatMatrix]] = {
    "3cosadd": _score_3cosadd,
    "3cosmul": _score_3cosmul,
}


def _top(scores: FloatMatrix, inputs: IntArray, k: int) -> IntArray:
    """Each row's k best columns, best first, with its inputs excluded; -1 once a row runs out."""
    rows = np.arange(len(scores))
    scores[rows[:, None], inputs] = -np.inf
    top = np.empty((len(scores), k), dtype=np.int64)
    for j in range(k):
        best = scores.argmax(axis=1)
        top[:, j] = np.where(scores[rows, best] > -np.inf, best, -1)
        scores[rows, best] = -np.inf
    return top


def _rank(
    cand: FloatMatrix, abc: IntArray, methods: Sequence[Method], k: int, batch_size: int
) -> dict[str, IntArray]:
    """Best k candidate rows per question and method, a, b and c excluded.

    One cosine block per batch (a BLAS product over the batch's distinct input words) serves every method;
    the scores are then assembled from its rows a few questions at a time.
    """
    ranked: dict[str, IntArray] = {m: np.empty((len(abc), k), dtype=np.int64) for m in methods}
    step = _sub_block_rows(len(cand))
    for start in range(0, len(abc), batch_size):
        block = abc[start : start + batch_size]
        distinct, inverse = np.unique(block, return_inverse=True)
        cos = cand[distinct] @ cand.T
        rows = inverse.reshape(block.shape)
        for lo in range(0, len(block), step):
            done = slice(start + lo, start + min(lo + step, len(block)))
            for method in methods:
                scores = SCORERS[method](cos, rows[lo : lo + step])
                ranked[method][done] = _top(scores, block[lo : lo + step], k)
    return ranked


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
    unknown = [m for m in methods if m not in SCORERS]
    if unknown:
        raise ValueError(f"unknown analogy method(s) {unknown}; known: {', '.join(SCORERS)}")
    if rules == "gensim" and list(methods) != ["3cosadd"]:
        raise ValueError("rules 'gensim' define only 3cosadd (evaluate_word_analogies has no 3CosMul)")


def evaluate_analogies(
    vecs: Vectors,
    aset: AnalogySet,
    *,
    name: str,
    methods: Sequence[Method] = METHODS,
    rules: Rules = "ca8",
    top_n: int | None = None,
    batch_size: int | None = None,
) -> list[Metric]:
    """Accuracy per method for the whole file (category `all`) and each category, in file order.

    `ca8`: skip a question only when a, b or c is unknown; an unknown answer is seen and wrong.
    `gensim`: skip when any of the four is unknown, match words case-insensitively, vocabulary capped at
    300,000. Both never answer with a, b or c, so the few CA8 lines whose answer repeats an input are
    always wrong. `top_n` evaluates as if the model held only its first N words (CA8's `-t`, gensim's
    `restrict_vocab`).
    """
    _check_methods(methods, rules)
    fold = rules == "gensim"
    n = len(vecs.words) if top_n is None else min(top_n, len(vecs.words))
    if fold and top_n is None:
        n = min(n, GENSIM_RESTRICT_VOCAB)
    rows = _row_lookup(vecs.words[:n], fold)
    questions = [q for qs in aset.values() for q in qs]
    category = np.repeat(np.arange(len(aset)), [len(qs) for qs in aset.values()])
    encoded = _encode(questions, rows, fold)
    abc, d = encoded[:, :3], encoded[:, 3]
    seen = (abc >= 0).all(axis=1)
    if fold:
        seen &= d >= 0
    todo = np.flatnonzero(seen & (d >= 0))
    k = min(GENSIM_TOPN, n) if fold else 1
    ranked = _rank(vecs.matrix[:n], abc[todo], methods, k, batch_size or default_batch_size(n))

    totals = np.bincount(category, minlength=len(aset))
    seen_counts = np.bincount(category[seen], minlength=len(aset))
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
        correct = np.bincount(category[hits], minlength=len(aset))
        metrics.append(_accuracy(name, ALL, method, rules, int(seen.sum()), len(questions), int(hits.sum())))
        metrics += [
            _accuracy(name, cat, method, rules, int(seen_counts[i]), int(totals[i]), int(correct[i]))
            for i, cat in enumerate(aset)
        ]
    return metrics


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
    metrics = []
    for name, aset in analogies.items():
        metrics += evaluate_analogies(vecs, aset, name=name, methods=methods, rules=rules, top_n=top_n)
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
