"""Evaluation through fastText's subword vectors: eval words missing from the vocabulary get a vector from
their character n-grams, so more questions can be answered than with word vectors alone.

Such scores are stored beside the plain ones in `metrics` with the method suffixed `+subword`
(`3cosadd+subword`, `3cosmul+subword`, `spearman+subword`, `pearson+subword`): same eval set, category and
rules, and `coverage` counted as the rules count it (CA8: a, b and c of a question, both words of a
pair) but with a word's vector taken from the vocabulary or else from its n-grams. A word counts as
having an n-gram vector only when at least one of its n-gram buckets was trained, i.e. is shared with some
vocabulary word: gensim would return a vector for any string (its untrained buckets hold their random
initial values), which would inflate coverage with noise. (fastText's n-grams never include the bare
boundary markers `<` and `>`, which every word would share.) Answer candidates are the
vocabulary plus those eval words, so a question whose answer is out of the vocabulary can be answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models import KeyedVectors
from gensim.models.fasttext import FastTextKeyedVectors, ft_ngram_hashes

from tasks.core.errors import InputError
from tasks.core.identity import StageCode
from tasks.core.records import Metric
from tasks.vectors.evaluate import ALL, evaluate_all, load_analogies, load_similarity, vectors_from

SUFFIX = "+subword"
# What makes a fastText point's scores: the evaluation's code and libraries, and this module.
CODE = StageCode((__name__,), libraries=("gensim", "numpy", "scipy"))


def load_fasttext(path: Path) -> FastTextKeyedVectors:
    """A gensim `.kv` file that holds fastText vectors with their n-gram table."""
    kv = KeyedVectors.load(str(path))
    if not isinstance(kv, FastTextKeyedVectors) or kv.bucket == 0:
        raise InputError(f"{path}: not fastText vectors with character n-grams ({type(kv).__name__})")
    return kv


def trained_buckets(kv: FastTextKeyedVectors) -> set[int]:
    """The n-gram rows training updates: gensim only trains the n-grams of vocabulary words."""
    buckets: set[int] = set()
    for word in kv.index_to_key:
        buckets.update(ft_ngram_hashes(word, kv.min_n, kv.max_n, kv.bucket))
    return buckets


def subword_words(kv: FastTextKeyedVectors, words: Iterable[str], trained: set[int]) -> list[str]:
    """The out-of-vocabulary `words` (sorted, distinct) with at least one trained n-gram."""
    return sorted(
        w
        for w in set(words)
        if w not in kv.key_to_index
        and trained.intersection(ft_ngram_hashes(w, kv.min_n, kv.max_n, kv.bucket))
    )


def _eval_words(analogy: Mapping[str, Path], similarity: Mapping[str, Path]) -> set[str]:
    words: set[str] = set()
    for path in analogy.values():
        for questions in load_analogies(path).values():
            words.update(w for q in questions for w in q)
    for path in similarity.values():
        words.update(w for a, b, _ in load_similarity(path) for w in (a, b))
    return words


def evaluate_subword(path: Path, analogy: Mapping[str, Path], similarity: Mapping[str, Path]) -> list[Metric]:
    """Every set scored with the vocabulary plus the eval words that get n-gram vectors; methods suffixed."""
    kv = load_fasttext(path)
    extra = subword_words(kv, _eval_words(analogy, similarity), trained_buckets(kv))
    rows = [kv.vectors, *([np.stack([kv.get_vector(w) for w in extra])] if extra else [])]
    vecs = vectors_from([*kv.index_to_key, *extra], np.vstack(rows))
    return [replace(m, method=m.method + SUFFIX) for m in evaluate_all(vecs, analogy, similarity)]


def coverage_rows(metrics: Sequence[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Report rows: per point and eval set, the plain score and coverage beside the `+subword` ones
    (category `all`, 3CosAdd for analogies, Spearman for similarity); only points that have subword rows."""
    plain = {
        (m["point_id"], m["eval_set"], m["method"], m["rules"]): m
        for m in metrics
        if m["category"] == ALL and m["method"] in ("3cosadd", "spearman")
    }
    rows = []
    for m in metrics:
        if m["category"] != ALL or m["method"] not in ("3cosadd" + SUFFIX, "spearman" + SUFFIX):
            continue
        base_method = m["method"].removesuffix(SUFFIX)
        base = plain.get((m["point_id"], m["eval_set"], base_method, m["rules"]))
        rows.append(
            {
                "point": names.get(m["point_id"], m["point_id"]),
                "eval_set": m["eval_set"],
                "method": base_method,
                "plain": None if base is None else (base["value"], base["coverage"]),
                "subword": (m["value"], m["coverage"]),
            }
        )
    return rows
