"""The CA8 authors' analogy rules written out one question at a time: the independent check that the
vectorised evaluator (and what the flow stores) must agree with exactly."""

from __future__ import annotations

import numpy as np

from tasks.vectors.evaluate import ALL, AnalogySet

Key = tuple[str, str]  # (category, method)


def reference_ca8(
    words: list[str], raw: np.ndarray, aset: AnalogySet, top_n: int | None = None
) -> dict[Key, tuple[int, int, int]]:
    """(seen, total, correct) per (category, method): skip a question only when a, b or c is unknown, count
    an unknown answer as wrong, never answer a, b or c; 3CosMul on (cos+1)/2 with epsilon 0.01. Float64."""
    words = words[:top_n] if top_n else words
    unit = raw[: len(words)].astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    out: dict[Key, tuple[int, int, int]] = {}
    for method in ("3cosadd", "3cosmul"):
        all_seen = all_correct = 0
        for category, questions in aset.items():
            seen = correct = 0
            for a, b, c, d in questions:
                if a not in index or b not in index or c not in index:
                    continue
                seen += 1
                cos_a, cos_b, cos_c = (unit @ unit[index[w]] for w in (a, b, c))
                if method == "3cosadd":
                    scores = cos_b - cos_a + cos_c
                else:
                    scores = ((cos_b + 1) / 2) * ((cos_c + 1) / 2) / ((cos_a + 1) / 2 + 0.01)
                scores[[index[a], index[b], index[c]]] = -np.inf
                correct += words[int(np.argmax(scores))] == d
            out[(category, method)] = (seen, len(questions), correct)
            all_seen, all_correct = all_seen + seen, all_correct + correct
        out[(ALL, method)] = (all_seen, sum(len(q) for q in aset.values()), all_correct)
    return out
