"""Word2Vec and FastText training through gensim's C routines (`corpus_file` mode), one model per sweep
point."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models import FastText, KeyedVectors, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.word2vec import FAST_VERSION

from tasks.config import DEFAULT_PROBES, DEFAULT_VECTOR_FORMATS, FASTTEXT_BUCKET, TrainParams, VectorFormat
from tasks.core.errors import InputError
from tasks.core.workspace import atomic_path
from tasks.vectors import evaluate as evaluate_mod
from tasks.vectors import vocab as vocab_mod

# Each format's file; vectors.kv is always written (evaluation and queries read it).
VECTOR_FILES: dict[VectorFormat, str] = {"kv": "vectors.kv", "bin": "vectors.bin", "txt": "vectors.txt"}
KV_FILE = VECTOR_FILES["kv"]


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
    row holds the epoch's delta. Eval time is kept apart so training seconds stay comparable, and its
    share of the epoch's training time is a row of its own (`tracking_share`).

    The scores are those the final evaluation gives for the same vectors (every vocabulary word is an
    analogy candidate, rows normalised alike); only their set-up is done once per training instead of per
    epoch: the word index (the vocabulary does not change while training) and the buffer the normalised
    rows are written into.
    """

    def __init__(self, tracking: TrainTracking) -> None:
        self.analogies = {k: evaluate_mod.load_analogies(p) for k, p in tracking.analogy.items()}
        self.similarities = {k: evaluate_mod.load_similarity(p) for k, p in tracking.similarity.items()}
        self.probes = tracking.probes
        self.rows: list[dict[str, Any]] = []
        self.tracking_seconds = 0.0
        self._epoch = 0
        self._loss = 0.0
        self._start = 0.0
        self._words: list[str] = []
        self._index: dict[str, int] = {}
        self._unit: evaluate_mod.FloatMatrix | None = None

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
        if isinstance(model, FastText):  # its word vectors are only summed with their n-grams after train()
            model.wv.adjust_vectors()
        values.update(self.scores(model.wv))
        spent = time.perf_counter() - start
        self.tracking_seconds += spent
        values["tracking_share"] = spent / max(seconds, 1e-9)
        self.rows += [{"epoch": self._epoch, "metric": k, "value": float(v)} for k, v in values.items()]

    def _vectors(self, wv: KeyedVectors) -> evaluate_mod.Vectors:
        """`wv` normalised as `evaluate.vectors_from` does, into a buffer kept from epoch to epoch."""
        if len(self._words) != len(wv.index_to_key):
            self._words = list(wv.index_to_key)
            self._index = evaluate_mod.word_index(self._words)
        raw = np.asarray(wv.vectors, dtype=np.float32)
        if self._unit is None or self._unit.shape != raw.shape:
            self._unit = np.empty_like(raw)
        return evaluate_mod.Vectors(self._words, self._index, evaluate_mod.unit_rows(raw, out=self._unit))

    def scores(self, wv: KeyedVectors) -> dict[str, float]:
        """The quick eval and probe cosines of `wv` as it is now."""
        return self.scores_of(self._vectors(wv))

    def scores_of(self, vecs: evaluate_mod.Vectors) -> dict[str, float]:
        """The quick eval and probe cosines of unit-length vectors `vecs`."""
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
    `effective_words_per_s` counts the words gensim trained on after down-sampling; `tracking_share` is the
    per-epoch tracking's seconds per training second."""

    vocab_size: int
    corpus_words: int
    trained_words: int
    effective_words: int
    workers: int
    bytes_out: int
    model_bytes: int
    train_seconds: float
    tracking_seconds: float
    tracking_share: float
    words_per_s: float
    effective_words_per_s: float
    epochs: list[dict[str, Any]]
    model: str  # sg, cbow or fasttext: tells evaluation whether n-gram vectors exist
    formats: list[str]


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


def new_model(params: TrainParams, vocab: vocab_mod.Vocabulary) -> Word2Vec:
    """A model with `vocab` built in, as `build_vocab(corpus_file=...)` on the counted corpus would build it
    (same words, counts, order and down-sampling), and the corpus totals training needs: rare words count
    toward `corpus_total_words`, over which the learning rate decays."""
    if vocab.min_count != params.min_count:
        raise ValueError(f"vocabulary counted for min_count={vocab.min_count}, point has {params.min_count}")
    model = (FastText if params.model == "fasttext" else Word2Vec)(**gensim_kwargs(params))  # type: ignore[arg-type]
    model.build_vocab_from_freq(vocab.counts, corpus_count=vocab.sentences)
    model.corpus_total_words = vocab.total_words
    return model


def save_vectors(wv: KeyedVectors, out_dir: Path, formats: Sequence[VectorFormat]) -> int:
    """Write `formats` of `wv` (vectors.kv always), each atomically; their total bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys([KV_FILE, *(VECTOR_FILES[f] for f in formats)]))
    for name in names:
        with atomic_path(out_dir / name) as tmp:
            if name == KV_FILE:
                wv.save(str(tmp), separately=[])  # one file, so the atomic rename covers all of it
            else:
                wv.save_word2vec_format(str(tmp), binary=name == VECTOR_FILES["bin"])
    return sum((out_dir / name).stat().st_size for name in names)


def train_word2vec(
    corpus: Path,
    params: TrainParams,
    out_dir: Path,
    tracking: TrainTracking | None = None,
    *,
    vocab: vocab_mod.Vocabulary | None = None,
    formats: Sequence[VectorFormat] = DEFAULT_VECTOR_FORMATS,
) -> TrainStats:
    """Train on `corpus` (one sentence per line) and save its vectors in `formats` (for fasttext the `.kv`
    keeps the n-gram vectors, so unseen words get vectors; the others: words only).

    `vocab` is the corpus's vocabulary for `params.min_count` (`tasks/vectors/vocab.py`), counted here when
    not given. With `tracking`, loss, quick eval scores and probe cosines are taken after every epoch.
    """
    if FAST_VERSION < 0:
        raise TrainError(
            "gensim was installed without its compiled routines; corpus_file training needs them"
        )
    if not corpus.is_file() or corpus.stat().st_size == 0:
        raise TrainError(f"{corpus}: corpus file is missing or empty")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    workers = params.workers or os.cpu_count() or 1
    vocab = vocab or vocab_mod.count_vocabulary(corpus, params.min_count, workers=workers)
    if not vocab.counts:
        raise TrainError(f"{corpus}: no word reaches min_count={params.min_count}")
    model = new_model(params, vocab)
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
    model_bytes = save_vectors(model.wv, out_dir, formats)
    trained = model.corpus_total_words * params.epochs
    return TrainStats(
        vocab_size=len(model.wv),
        corpus_words=model.corpus_total_words,
        trained_words=trained,
        effective_words=int(effective),
        workers=model.workers,
        bytes_out=model_bytes,
        model_bytes=model_bytes,
        train_seconds=round(train_seconds, 4),
        tracking_seconds=round(tracking_seconds, 4),
        tracking_share=round(tracking_seconds / train_seconds, 4),
        words_per_s=round(trained / train_seconds, 1),
        effective_words_per_s=round(effective / train_seconds, 1),
        epochs=tracker.rows if tracker else [],
        model=params.model,
        formats=sorted({"kv", *formats}),
    )
