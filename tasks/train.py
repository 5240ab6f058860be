"""Word2Vec training through gensim's C routines (`corpus_file` mode), one model per sweep point."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gensim.models import Word2Vec
from gensim.models.word2vec import FAST_VERSION

from tasks.config import TrainParams
from tasks.errors import InputError
from tasks.workspace import atomic_path

VECTOR_FILES = ("vectors.kv", "vectors.txt", "vectors.bin")


class TrainError(InputError):
    """A corpus that cannot be trained on, or a gensim without its C routines."""


@dataclass(frozen=True)
class TrainStats:
    vocab_size: int
    corpus_words: int
    trained_words: int
    workers: int
    bytes_out: int


def gensim_kwargs(params: TrainParams) -> dict[str, object]:
    """Map our sweep point to gensim's argument names (word2vec.c's `-cbow 0` is gensim's `sg=1`)."""
    return {
        "sg": 1 if params.model == "sg" else 0,
        "hs": params.hs,
        "vector_size": params.vector_size,
        "window": params.window,
        "negative": params.negative,
        "ns_exponent": params.ns_exponent,
        "sample": params.sample,
        "epochs": params.epochs,
        "min_count": params.min_count,
        "alpha": params.alpha,
        "min_alpha": params.min_alpha,
        "seed": params.seed,
        "workers": params.workers or os.cpu_count() or 1,
    }


def train_word2vec(corpus: Path, params: TrainParams, out_dir: Path) -> TrainStats:
    """Train on `corpus` (one sentence per line) and save KeyedVectors plus word2vec text and binary."""
    if FAST_VERSION < 0:
        raise TrainError(
            "gensim was installed without its compiled routines; corpus_file training needs them"
        )
    if not corpus.is_file() or corpus.stat().st_size == 0:
        raise TrainError(f"{corpus}: corpus file is missing or empty")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    kwargs = gensim_kwargs(params)
    model = Word2Vec(**kwargs)  # type: ignore[arg-type]
    model.build_vocab(corpus_file=str(corpus))
    if len(model.wv) == 0:
        raise TrainError(f"{corpus}: no word reaches min_count={params.min_count}")
    model.train(
        corpus_file=str(corpus),
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=model.epochs,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    kv, txt, binary = (out_dir / name for name in VECTOR_FILES)
    with atomic_path(kv) as tmp:
        model.wv.save(str(tmp), separately=[])  # one file, so the atomic rename covers all of it
    with atomic_path(txt) as tmp:
        model.wv.save_word2vec_format(str(tmp), binary=False)
    with atomic_path(binary) as tmp:
        model.wv.save_word2vec_format(str(tmp), binary=True)
    return TrainStats(
        vocab_size=len(model.wv),
        corpus_words=model.corpus_total_words,
        trained_words=model.corpus_total_words * params.epochs,
        workers=int(kwargs["workers"]),  # type: ignore[call-overload]
        bytes_out=sum((out_dir / name).stat().st_size for name in VECTOR_FILES),
    )
