"""2D/3D pictures of a vector space for the report: PCA by SVD and a small exact t-SNE, both in numpy.

The report shows only a model's top-N words (N ≤ 500), so the O(N²) exact t-SNE gradient costs well under a
second per picture and no extra dependency (scikit-learn, a BLAS-heavy install) is needed for it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
MAX_TSNE_POINTS = 500


def pca(matrix: npt.ArrayLike, components: int) -> tuple[Matrix, Matrix]:
    """Coordinates of the centred rows on the top `components` principal axes, and the share of the
    variance each axis explains. Signs are fixed (largest |loading| positive) so a re-run draws the same
    picture, not a mirror image."""
    x = np.asarray(matrix, dtype=np.float64)
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(components, len(s))
    signs = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
    signs[signs == 0] = 1.0
    coords = u[:, :k] * s[:k] * signs
    total = float((s**2).sum())
    explained = (s[:k] ** 2) / total if total > 0 else np.zeros(k)
    return coords, explained


def _conditional_p(distances: Matrix, perplexity: float, tol: float = 1e-5, steps: int = 64) -> Matrix:
    """Row-wise Gaussian affinities whose entropy matches log(perplexity), by bisection on the precision."""
    n = len(distances)
    target = np.log(perplexity)
    p = np.zeros((n, n))
    for i in range(n):
        d = np.delete(distances[i], i)
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(steps):
            w = np.exp(-(d - d.min()) * beta)
            total = w.sum()
            entropy = np.log(total) + beta * float(((d - d.min()) * w).sum()) / total
            if abs(entropy - target) < tol:
                break
            if entropy > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = w / total
    return p


def tsne(
    matrix: npt.ArrayLike,
    perplexity: float = 30.0,
    iterations: int = 500,
    seed: int = 0,
    learning_rate: float = 200.0,
) -> Matrix:
    """2D t-SNE (van der Maaten & Hinton 2008): exact gradient, early exaggeration ×12 for the first 100
    steps, momentum 0.5 then 0.8, per-coordinate gains. Deterministic for a given seed."""
    x = np.asarray(matrix, dtype=np.float64)
    n = len(x)
    if n > MAX_TSNE_POINTS:
        raise ValueError(f"exact t-SNE is meant for at most {MAX_TSNE_POINTS} points, got {n}")
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {n}")
    perplexity = min(perplexity, (n - 1) / 3)
    sq = (x**2).sum(axis=1)
    distances = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    p = _conditional_p(distances, perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    y = np.random.default_rng(seed).normal(0.0, 1e-4, size=(n, 2))
    velocity = np.zeros_like(y)
    gains = np.ones_like(y)
    for step in range(iterations):
        exaggeration = 12.0 if step < 100 else 1.0
        momentum = 0.5 if step < 250 else 0.8
        ysq = (y**2).sum(axis=1)
        num = 1.0 / (1.0 + ysq[:, None] + ysq[None, :] - 2 * y @ y.T)
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        pq = (exaggeration * p - q) * num
        grad = 4.0 * ((np.diag(pq.sum(axis=1)) - pq) @ y)
        same = np.sign(grad) == np.sign(velocity)
        gains = np.maximum(np.where(same, gains * 0.8, gains + 0.2), 0.01)
        velocity = momentum * velocity - learning_rate * gains * grad
        y = y + velocity
        y = y - y.mean(axis=0)
    return y


def kl_divergence(matrix: npt.ArrayLike, embedding: npt.ArrayLike, perplexity: float = 30.0) -> float:
    """KL(P‖Q) of an embedding, t-SNE's objective: lets a test check that the optimiser actually optimised."""
    x = np.asarray(matrix, dtype=np.float64)
    y = np.asarray(embedding, dtype=np.float64)
    n = len(x)
    sq = (x**2).sum(axis=1)
    p = _conditional_p(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0), min(perplexity, (n - 1) / 3))
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    ysq = (y**2).sum(axis=1)
    num = 1.0 / (1.0 + ysq[:, None] + ysq[None, :] - 2 * y @ y.T)
    np.fill_diagonal(num, 0.0)
    q = np.maximum(num / num.sum(), 1e-12)
    mask = ~np.eye(n, dtype=bool)
    return float((p[mask] * np.log(p[mask] / q[mask])).sum())
