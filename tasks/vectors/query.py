"""Ask a trained model questions: nearest neighbours of a word, and `a is to b as c is to ?`.

The scores are the evaluator's (tasks/vectors/evaluate.py): cosine on unit rows, 3CosAdd, and 3CosMul on
(cos + 1) / 2 with ε = 0.01, with the query words never answered, so `zhvec analogy` shows the answer an
evaluation counted right or wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tasks.core.errors import InputError
from tasks.results.store import Store, headline_column
from tasks.vectors.evaluate import MUL_EPSILON, Method, Vectors
from tasks.vectors.train import KV_FILE


class UnknownWordError(InputError):
    """A query word the model does not know; names every such word so one retry fixes all of them."""


class NoModelError(InputError):
    """No completed run with a scored point to default to."""


@dataclass(frozen=True)
class Hit:
    word: str
    score: float


def _rows(vecs: Vectors, words: Sequence[str]) -> list[int]:
    missing = [w for w in words if w not in vecs.index]
    if missing:
        raise UnknownWordError(f"not in the model's vocabulary: {', '.join(missing)}")
    return [vecs.index[w] for w in words]


def _best(scores: npt.NDArray[np.float64], exclude: Sequence[int], n: int, vecs: Vectors) -> list[Hit]:
    """The n highest scores, ties broken by row (more frequent word first), excluded rows never shown."""
    scores[list(exclude)] = -np.inf
    n = min(n, len(scores) - len(set(exclude)))
    if n <= 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.lexsort((top, -scores[top]))]
    return [Hit(vecs.words[i], float(scores[i])) for i in top]


def similar(vecs: Vectors, word: str, n: int = 10) -> list[Hit]:
    """The n words with the highest cosine to `word`, the word itself left out."""
    (row,) = _rows(vecs, [word])
    scores = vecs.matrix @ vecs.matrix[row].astype(np.float64)
    return _best(scores, [row], n, vecs)


def analogy(vecs: Vectors, a: str, b: str, c: str, method: Method = "3cosadd", n: int = 10) -> list[Hit]:
    """Best answers to `a : b :: c : ?`, a, b and c excluded as in evaluation.

    3CosAdd scores cos(x,b) − cos(x,a) + cos(x,c); 3CosMul scores sim(x,b)·sim(x,c)/(sim(x,a)+ε) with
    sim = (cos+1)/2, the CA8 authors' definition, so the numbers shown are that formula's values.
    """
    rows = _rows(vecs, [a, b, c])
    cos_a, cos_b, cos_c = (vecs.matrix @ vecs.matrix[r].astype(np.float64) for r in rows)
    if method == "3cosadd":
        scores = cos_b - cos_a + cos_c
    elif method == "3cosmul":
        scores = (cos_b + 1) / 2 * ((cos_c + 1) / 2) / ((cos_a + 1) / 2 + MUL_EPSILON)
    else:
        raise ValueError(f"unknown analogy method {method!r}; known: 3cosadd, 3cosmul")
    return _best(scores, rows, n, vecs)


def _mean_headline(row: dict[str, Any], columns: Sequence[str]) -> float:
    values = [row[c] for c in columns if row.get(c) is not None]
    return sum(values) / len(values) if values else -np.inf


def best_model(store: Store) -> Path:
    """Vectors of the latest completed run's best point: the highest mean of its headline scores.

    The mean mixes accuracies and correlations on purpose: it is only a default for ad-hoc queries,
    and picks the point that does well across every set rather than on one.
    """
    run_id = next((r["run_id"] for r in store.runs() if r["status"] == "completed"), None)
    if run_id is None:
        raise NoModelError("no completed run in the results database; pass --model")
    columns = [headline_column(s, m) for s, m in store.headlines(run_id)]
    scored = [r for r in store.leaderboard(run_id) if r["status"] == "completed"]
    if not scored:
        raise NoModelError(f"run {run_id} has no completed point; pass --model")
    best = max(scored, key=lambda r: _mean_headline(r, columns))
    where = {p["point_id"]: p["vectors_dir"] for p in store.points(run_id)}
    return Path(where[best["point_id"]]) / KV_FILE


def hits_json(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    return [{"word": h.word, "score": h.score} for h in hits]
