"""Word2Vec and FastText training through gensim's C routines (`corpus_file` mode), one model per sweep
point."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensim.models import FastText, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.word2vec import FAST_VERSION

from tasks.config import DEFAULT_PROBES, FASTTEXT_BUCKET, TrainParams
from tasks.core.errors import InputError
from tasks.core.workspace import atomic_path
from tasks.vectors import evaluate as evaluate_mod

VECTOR_FILES = ("vectors.kv", "vectors.txt", "vectors.bin")


class TrainError(InputError):
    """A corpus that cannot be trained on, or a gensim without its C routines."""


@dataclass(frozen=True)
class TrainTracking:
    """What to measure after every epoch: quick eval sets (name → file) and probe word pairs."""

    analogy: Mapping[str, Path] = field(default_factory=dict)
    similarity: Mapping[str, Path] = field(default_factory=dict)
    probes: tuple[tuple[str, str], ...] = DEFAULT_PROBES

    @classmethod
    def default(cls, eval_dir: Path) -> TrainTracking:
        """CA_translated (3CosAdd) and wordsim-240: the cheapest sets that still move with quality."""
        return cls(
            analogy={"ca_translated": eval_dir / "ca8" / "ca_translated.txt"},
            similarity={"wordsim240": eval_dir / "wordsim" / "wordsim-240.txt"},
        )


class _EpochTracker(CallbackAny2Vec):  # type: ignore[misc]
    """Per-epoch rows `{epoch, metric, value}`; gensim's loss is cumulative within one `train()`, so the
    row holds the epoch's delta. Eval time is kept apart so training seconds stay comparable."""

    def __init__(self, tracking: TrainTracking) -> None:
        self.analogies = {k: evaluate_mod.load_analogies(p) for k, p in tracking.analogy.items()}
        self.similarities = {k: evaluate_mod.load_similarity(p) for k, p in tracking.similarity.items()}
        self.probes = tracking.probes
        self.rows: list[dict[str, Any]] = []
        self.tracking_seconds = 0.0
        self._epoch = 0
        self._loss = 0.0
        self._start = 0.0

    def on_epoch_begin(self, model: Word2Vec) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, model: Word2Vec) -> None:
        seconds = time.perf_counter() - self._start
        self._epoch += 1
        values = {"seconds": seconds}
        if not isinstance(model, FastText):  # gensim keeps no loss for FastText: no row rather than 0s
            loss = float(model.get_latest_training_loss())
            values["loss"] = loss - self._loss
            self._loss = loss
        start = time.perf_counter()
        values.update(self._scores(model))
        self.tracking_seconds += time.perf_counter() - start
        self.rows += [{"epoch": self._epoch, "metric": k, "value": float(v)} for k, v in values.items()]

    def _scores(self, model: Word2Vec) -> dict[str, float]:
        if isinstance(model, FastText):  # its word vectors are only summed with their n-grams after train()
            model.wv.adjust_vectors()
        vecs = evaluate_mod.vectors_from(model.wv.index_to_key, model.wv.vectors)
        scores: dict[str, float] = {}
        for name, aset in self.analogies.items():
            for m in evaluate_mod.evaluate_analogies(vecs, aset, name=name, methods=("3cosadd",)):
                if m.category == "all":
                    scores[f"{name}_3cosadd"] = m.value
        for name, pairs in self.similarities.items():
            for m in evaluate_mod.evaluate_similarity(vecs, pairs, name=name):
                if m.method == "spearman":
                    scores[f"{name}_spearman"] = m.value
        for a, b in self.probes:
            if a in vecs.index and b in vecs.index:
                scores[f"probe:{a}|{b}"] = float(vecs.matrix[vecs.index[a]] @ vecs.matrix[vecs.index[b]])
        return scores


@dataclass(frozen=True)
class TrainStats:
    """`words_per_s` counts corpus words × epochs per training second (word2vec.c's measure);
    `effective_words_per_s` counts the words gensim trained on after down-sampling."""

    vocab_size: int
    corpus_words: int
    trained_words: int
    effective_words: int
    workers: int
    bytes_out: int
    model_bytes: int
    train_seconds: float
    tracking_seconds: float
    words_per_s: float
    effective_words_per_s: float
    epochs: list[dict[str, Any]]
    model: str  # sg, cbow or fasttext: tells evaluation whether n-gram vectors exist


def gensim_kwargs(params: TrainParams) -> dict[str, object]:
    """Map a zhvec sweep point to gensim's argument names (word2vec.c's `-cbow 0` is gensim's `sg=1`);
    fasttext trains skip-gram, fastText's own default for unsupervised vectors."""
    ngrams: dict[str, object] = {}
    if params.model == "fasttext":
        min_n, max_n = params.ngram_range()
        ngrams = {"min_n": min_n, "max_n": max_n, "bucket": params.bucket or FASTTEXT_BUCKET}
    return {
        **ngrams,
        "sg": 0 if params.model == "cbow" else 1,
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


def train_word2vec(
    corpus: Path, params: TrainParams, out_dir: Path, tracking: TrainTracking | None = None
) -> TrainStats:
    """Train on `corpus` (one sentence per line) and save KeyedVectors plus word2vec text and binary
    (for fasttext the `.kv` keeps the n-gram vectors, so unseen words get vectors; the others: words only).

    With `tracking`, loss, quick eval scores and probe cosines are taken after every epoch (`epochs` rows).
    """
    if FAST_VERSION < 0:
        raise TrainError(
            "gensim was installed without its compiled routines; corpus_file training needs them"
        )
    if not corpus.is_file() or corpus.stat().st_size == 0:
        raise TrainError(f"{corpus}: corpus file is missing or empty")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    kwargs = gensim_kwargs(params)
    model = (FastText if params.model == "fasttext" else Word2Vec)(**kwargs)  # type: ignore[arg-type]
    model.build_vocab(corpus_file=str(corpus))
    if len(model.wv) == 0:
        raise TrainError(f"{corpus}: no word reaches min_count={params.min_count}")
    tracker = _EpochTracker(tracking) if tracking is not None else None
    start = time.perf_counter()
    effective, _ = model.train(
        corpus_file=str(corpus),
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=model.epochs,
        compute_loss=tracker is not None,  # train() resets it: it must be given here, not to Word2Vec()
        callbacks=[tracker] if tracker else (),
    )
    tracking_seconds = tracker.tracking_seconds if tracker else 0.0
    train_seconds = max(time.perf_counter() - start - tracking_seconds, 1e-9)
    out_dir.mkdir(parents=True, exist_ok=True)
    kv, txt, binary = (out_dir / name for name in VECTOR_FILES)
    with atomic_path(kv) as tmp:
        model.wv.save(str(tmp), separately=[])  # one file, so the atomic rename covers all of it
    with atomic_path(txt) as tmp:
        model.wv.save_word2vec_format(str(tmp), binary=False)
    with atomic_path(binary) as tmp:
        model.wv.save_word2vec_format(str(tmp), binary=True)
    model_bytes = sum((out_dir / name).stat().st_size for name in VECTOR_FILES)
    trained = model.corpus_total_words * params.epochs
    return TrainStats(
        vocab_size=len(model.wv),
        corpus_words=model.corpus_total_words,
        trained_words=trained,
        effective_words=int(effective),
        workers=int(kwargs["workers"]),  # type: ignore[call-overload]
        bytes_out=model_bytes,
        model_bytes=model_bytes,
        train_seconds=round(train_seconds, 4),
        tracking_seconds=round(tracking_seconds, 4),
        words_per_s=round(trained / train_seconds, 1),
        effective_words_per_s=round(effective / train_seconds, 1),
        epochs=tracker.rows if tracker else [],
        model=params.model,
    )
