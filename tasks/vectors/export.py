"""Take trained vectors elsewhere: word2vec text/binary (any word2vec tool), gensim `.kv`, TensorBoard's
embedding projector (tensor TSV + metadata TSV), and an embedding matrix for a Keras/PyTorch embedding layer
(`.npy` with a zero padding row 0 + `word2idx.json`). Rows stay in the model's order, most frequent first,
so a top-N cut keeps the most frequent words. Every file is written to a temp name and renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from gensim.models import KeyedVectors

from tasks.core.errors import InputError
from tasks.core.workspace import atomic_path

Format = Literal["word2vec-txt", "word2vec-bin", "kv", "tensorboard", "embedding-matrix"]
FORMATS: tuple[Format, ...] = get_args(Format)
DEFAULT_TOP_N = 10_000  # the projector runs PCA / t-SNE in the browser, on every row it is given
# The most rows a TensorBoard export holds: the projector keeps every row in the browser tab (a 1 M × 300
# model is 3 GB of TSV text, far past what a tab loads) and samples PCA / t-SNE down to far fewer anyway.
MAX_TOP_N = 100_000
TENSORS, METADATA, PROJECTOR_CONFIG = "tensors.tsv", "metadata.tsv", "projector_config.pbtxt"
MATRIX, WORD2IDX = "embeddings.npy", "word2idx.json"
PADDING_INDEX = 0


class ExportError(InputError):
    """An export that cannot be written as asked (bad top-N, a word the format cannot hold)."""


@dataclass(frozen=True)
class ExportResult:
    format: str
    files: list[str]
    words: int
    dimensions: int


def export_word2vec(kv: KeyedVectors, out: Path, *, binary: bool) -> list[Path]:
    """word2vec.c's format: `count dim` header, then one word and its vector a line (or in binary)."""
    with atomic_path(out) as tmp:
        kv.save_word2vec_format(str(tmp), binary=binary)
    return [out]


def export_kv(kv: KeyedVectors, out: Path) -> list[Path]:
    """gensim's own file in one piece (fastText vectors keep their n-gram table, so OOV lookups work)."""
    with atomic_path(out) as tmp:
        kv.save(str(tmp), separately=[])
    return [out]


def _check_tsv_words(words: list[str]) -> None:
    bad = next((w for w in words if any(c in w for c in "\t\r\n")), None)
    if bad is not None:
        raise ExportError(f"word {bad!r} contains a tab or line break; a TSV row cannot hold it")


def check_top_n(top_n: int, name: str = "top-N") -> None:
    """A TensorBoard export's row count: at least 1, at most MAX_TOP_N (the CLI checks it, as `name`,
    before it loads a model)."""
    if top_n < 1:
        raise ExportError(f"{name} must be at least 1, got {top_n}")
    if top_n > MAX_TOP_N:
        raise ExportError(
            f"{name} {top_n:,} is over the TensorBoard export's maximum of {MAX_TOP_N:,} rows: the projector "
            f"holds every row in the browser; export at most the {MAX_TOP_N:,} most frequent words "
            "(word2vec-bin or embedding-matrix hold a whole model)"
        )


def export_tensorboard(kv: KeyedVectors, out_dir: Path, *, top_n: int = DEFAULT_TOP_N) -> list[Path]:
    """`tensors.tsv` (one vector a line, tab-separated) and `metadata.tsv` (one word a line, no header, as
    the projector wants for a single column) for the `top_n` (≤ MAX_TOP_N) most frequent words, plus a
    `projector_config.pbtxt` naming both so `tensorboard --logdir out_dir` shows them."""
    check_top_n(top_n)
    n = min(top_n, len(kv.index_to_key))
    words = list(kv.index_to_key[:n])
    _check_tsv_words(words)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors, metadata, config = (out_dir / name for name in (TENSORS, METADATA, PROJECTOR_CONFIG))
    with atomic_path(tensors) as tmp:
        np.savetxt(tmp, kv.vectors[:n], fmt="%.9g", delimiter="\t")  # 9 digits: float32 round-trips
    with atomic_path(metadata) as tmp:
        tmp.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    with atomic_path(config) as tmp:
        tmp.write_text(
            f'embeddings {{\n  tensor_path: "{TENSORS}"\n  metadata_path: "{METADATA}"\n}}\n',
            encoding="utf-8",
        )
    return [tensors, metadata, config]


def export_embedding_matrix(kv: KeyedVectors, out_dir: Path) -> list[Path]:
    """`embeddings.npy`: (words + 1) × dim float32 whose row 0 is zeros, the padding index of an embedding
    layer (Keras `mask_zero=True`, PyTorch `padding_idx=0`); `word2idx.json`: word → row, from 1."""
    out_dir.mkdir(parents=True, exist_ok=True)
    matrix = np.zeros((len(kv.index_to_key) + 1, kv.vector_size), dtype=np.float32)
    matrix[PADDING_INDEX + 1 :] = kv.vectors
    word2idx = {w: i + PADDING_INDEX + 1 for i, w in enumerate(kv.index_to_key)}
    npy, index = out_dir / MATRIX, out_dir / WORD2IDX
    with atomic_path(npy) as tmp, tmp.open("wb") as f:
        np.save(f, matrix)
    with atomic_path(index) as tmp:
        tmp.write_text(json.dumps(word2idx, ensure_ascii=False), encoding="utf-8")
    return [npy, index]


def export_vectors(kv: KeyedVectors, fmt: Format, out: Path, *, top_n: int = DEFAULT_TOP_N) -> ExportResult:
    """Write `kv` in `fmt` to `out`: a file for word2vec-txt/-bin and kv, a folder for the others."""
    if fmt == "word2vec-txt" or fmt == "word2vec-bin":
        files = export_word2vec(kv, out, binary=fmt == "word2vec-bin")
    elif fmt == "kv":
        files = export_kv(kv, out)
    elif fmt == "tensorboard":
        files = export_tensorboard(kv, out, top_n=top_n)
    elif fmt == "embedding-matrix":
        files = export_embedding_matrix(kv, out)
    else:
        raise ExportError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    words = min(top_n, len(kv.index_to_key)) if fmt == "tensorboard" else len(kv.index_to_key)
    return ExportResult(fmt, [str(f) for f in files], words, kv.vector_size)
