"""Word2Vec and FastText training through gensim's C routines (`corpus_file` mode), one model per sweep
point."""

from __future__ import annotations

import itertools
import json
import logging
import os
import pickle
import shutil
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
from tasks.core import activity
from tasks.core.errors import InputError
from tasks.core.identity import StageCode
from tasks.core.workspace import DISK_FULL, NoSpaceError, atomic_path, fsync_path
from tasks.vectors import evaluate as evaluate_mod
from tasks.vectors import vocab as vocab_mod

# Each format's file; vectors.kv is always written (evaluation and queries read it).
VECTOR_FILES: dict[VectorFormat, str] = {"kv": "vectors.kv", "bin": "vectors.bin", "txt": "vectors.txt"}
KV_FILE = VECTOR_FILES["kv"]
# What makes the vectors: this code (with the vocabulary it is built from) and gensim's and numpy's builds.
CODE = StageCode((__name__,), libraries=("gensim", "numpy"))
# `checkpoint-<epochs finished>/`: the model and state a killed training resumes from, gone once it ends.
CHECKPOINT_PREFIX = "checkpoint-"
_CHECKPOINT_MODEL = "model"
_CHECKPOINT_STATE = "state.json"

logger = logging.getLogger(__name__)


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

    def on_train_begin(self, model: Word2Vec) -> None:
        self._loss = 0.0  # every train() call (one per epoch) starts gensim's running loss again

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

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: the rows so far and their tracking seconds (the loss counter is not
        kept: it restarts with every train() call)."""
        return {"rows": self.rows, "tracking_seconds": self.tracking_seconds}

    def restore(self, state: Mapping[str, Any], epochs: int) -> None:
        """Carry on after `epochs` epochs whose tracking a checkpoint kept as `state`."""
        self.rows = list(state["rows"])
        self.tracking_seconds = float(state["tracking_seconds"])
        self._epoch = epochs

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
    per-epoch tracking's seconds per training second.

    A point resumed from a checkpoint (`resumed_from_epoch` epochs kept, 0 for a fresh start) is costed by
    what this call trained: the seconds, their share and the per-second figures count its epochs only,
    while `trained_words`, `effective_words` and the `epochs` rows are the whole point's."""

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
    resumed_from_epoch: int = 0  # a default, so manifests written before checkpoints still load


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
        _write(wv, out_dir / name)
    return sum((out_dir / name).stat().st_size for name in names)


def write_missing_formats(out_dir: Path, formats: Sequence[VectorFormat]) -> list[str]:
    """The files of `formats` a trained point lacks (it was trained asking for others), written from its
    vectors.kv: a format is a way of writing the same vectors, never a reason to train again."""
    missing = [VECTOR_FILES[f] for f in formats if not (out_dir / VECTOR_FILES[f]).is_file()]
    if missing:
        wv = KeyedVectors.load(str(out_dir / KV_FILE))
        for name in missing:
            _write(wv, out_dir / name)
    return missing


def _write(wv: KeyedVectors, path: Path) -> None:
    with atomic_path(path) as tmp:
        if path.name == KV_FILE:
            wv.save(str(tmp), separately=[])  # one file, so the atomic rename covers all of it
        else:
            wv.save_word2vec_format(str(tmp), binary=path.name == VECTOR_FILES["bin"])


def epoch_alphas(alpha: float, min_alpha: float, epochs: int) -> list[tuple[float, float]]:
    """Each epoch's (start, end) learning rate: the linear decay from `alpha` to `min_alpha` over the whole
    run that one multi-epoch `train()` applies (gensim's `get_alpha`/`get_next_alpha`), so training one
    epoch per call learns what a single call would."""
    rates = [alpha - (alpha - min_alpha) * e / epochs for e in range(epochs + 1)]
    return list(itertools.pairwise(rates))


def _identity(
    params: TrainParams, vocab: vocab_mod.Vocabulary, tracking: TrainTracking | None
) -> dict[str, Any]:
    """What a checkpoint must have been trained with to be resumed (as JSON reads it back): the point's
    params but the thread count (it changes speed, not what is learned), the corpus and what is tracked."""
    tracked = None
    if tracking is not None:
        tracked = {
            "analogy": sorted(tracking.analogy),
            "similarity": sorted(tracking.similarity),
            "probes": [list(pair) for pair in tracking.probes],
        }
    return {
        "params": params.model_dump(mode="json") | {"workers": None},
        "corpus": {"words": vocab.total_words, "sentences": vocab.sentences, "vocab": len(vocab.counts)},
        "tracking": tracked,
    }


def _checkpoints(out_dir: Path) -> list[Path]:
    """The checkpoint folders in `out_dir`, newest first."""
    found = [
        p for p in out_dir.glob(f"{CHECKPOINT_PREFIX}*") if p.name.removeprefix(CHECKPOINT_PREFIX).isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX)), reverse=True)


def _save_checkpoint(out_dir: Path, model: Word2Vec, state: Mapping[str, Any]) -> None:
    """Write `checkpoint-<epochs>/` under a temp name, rename it into place, then drop the older one: a
    kill at any moment leaves the newest complete checkpoint (at worst beside a `.tmp` folder the next start
    removes). A full disk is a `NoSpaceError` naming the checkpoint; the older one is then kept."""
    final = out_dir / f"{CHECKPOINT_PREFIX}{state['epochs']}"
    tmp = out_dir / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        model.save(str(tmp / _CHECKPOINT_MODEL))  # big arrays go to .npy files beside it: hence a folder
        (tmp / _CHECKPOINT_STATE).write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        for path in [*tmp.iterdir(), tmp]:
            fsync_path(path)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        fsync_path(out_dir)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        raise NoSpaceError(
            exc.errno,
            f"{final}: not written, out of disk space ({exc.strerror}); free some space and re-run to "
            "resume from the checkpoint before it",
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for older in _checkpoints(out_dir):
        if older != final:
            shutil.rmtree(older)


def _load_checkpoint(
    out_dir: Path, identity: Mapping[str, Any], model_class: type[Word2Vec]
) -> tuple[Word2Vec, dict[str, Any]] | None:
    """The newest checkpoint in `out_dir` made with `identity`, with its state; every other one (older,
    made with other params, or unreadable) is removed, as a fresh start would overwrite it anyway."""
    for tmp in out_dir.glob(f".{CHECKPOINT_PREFIX}*.tmp"):  # one a kill interrupted
        shutil.rmtree(tmp)
    resumed = None
    for folder in _checkpoints(out_dir):
        if resumed is None:
            try:
                state = json.loads((folder / _CHECKPOINT_STATE).read_text(encoding="utf-8"))
                if state["identity"] == identity:
                    resumed = model_class.load(str(folder / _CHECKPOINT_MODEL)), state
                    continue
                logger.warning("%s: made with other params or corpus, not resumed", folder)
            except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as exc:
                logger.warning("%s: unreadable checkpoint (%s), not resumed", folder, exc)
        shutil.rmtree(folder)
    return resumed


def _tracked(tracker: _EpochTracker | None) -> float:
    """Seconds `tracker` has spent on its measures so far: not training time."""
    return tracker.tracking_seconds if tracker else 0.0


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

    Training goes one epoch per `train()` call and leaves a checkpoint in `out_dir` after each but the
    last, so a killed training started again on the same `out_dir` resumes at the epoch it was in.
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
    identity = _identity(params, vocab, tracking)
    tracker = _EpochTracker(tracking) if tracking is not None else None
    resumed = _load_checkpoint(out_dir, identity, FastText if params.model == "fasttext" else Word2Vec)
    if resumed is None:
        model = new_model(params, vocab)
        kept: dict[str, Any] = {"epochs": 0, "effective_words": 0, "train_seconds": 0.0}
    else:
        model, kept = resumed
        model.workers = workers  # the thread count is this run's, as for a fresh start
        if tracker:
            tracker.restore(kept["tracking"], kept["epochs"])
        logger.info(
            "%s: resuming at epoch %d of %d (%.1f s of training kept)",
            out_dir,
            kept["epochs"] + 1,
            params.epochs,
            kept["train_seconds"],
        )
    resumed_from = int(kept["epochs"])
    tracked_before = _tracked(tracker)
    effective = 0
    train_seconds = 0.0
    alphas = epoch_alphas(params.alpha, params.min_alpha, params.epochs)
    for epoch in range(resumed_from, params.epochs):
        activity.at_epoch(epoch + 1)
        start_alpha, end_alpha = alphas[epoch]
        tracked = _tracked(tracker)
        start = time.perf_counter()
        trained, _ = model.train(
            corpus_file=str(corpus),
            total_examples=model.corpus_count,
            total_words=model.corpus_total_words,
            epochs=1,
            start_alpha=start_alpha,
            end_alpha=end_alpha,
            compute_loss=tracker is not None,  # train() resets it: it must be given here, not to Word2Vec()
            callbacks=[tracker] if tracker else (),
        )
        train_seconds += time.perf_counter() - start - (_tracked(tracker) - tracked)
        effective += trained
        # train() set these for its one epoch; a checkpoint keeps the point's own (and train() keeps the
        # model's min_alpha for a falsy end_alpha of 0.0: then params.min_alpha, 0.0 too)
        model.alpha, model.min_alpha, model.epochs = params.alpha, params.min_alpha, params.epochs
        if epoch + 1 < params.epochs:
            state = {
                "identity": identity,
                "epochs": epoch + 1,
                "effective_words": kept["effective_words"] + effective,
                "train_seconds": round(kept["train_seconds"] + train_seconds, 4),
                "tracking": tracker.state() if tracker else None,
            }
            _save_checkpoint(out_dir, model, state)
    train_seconds = max(train_seconds, 1e-9)
    tracking_seconds = _tracked(tracker) - tracked_before
    model_bytes = save_vectors(model.wv, out_dir, formats)
    for folder in _checkpoints(out_dir):
        shutil.rmtree(folder)
    return TrainStats(
        vocab_size=len(model.wv),
        corpus_words=model.corpus_total_words,
        trained_words=model.corpus_total_words * params.epochs,
        effective_words=int(kept["effective_words"] + effective),
        workers=model.workers,
        bytes_out=model_bytes,
        model_bytes=model_bytes,
        train_seconds=round(train_seconds, 4),
        tracking_seconds=round(tracking_seconds, 4),
        tracking_share=round(tracking_seconds / train_seconds, 4),
        words_per_s=round(model.corpus_total_words * (params.epochs - resumed_from) / train_seconds, 1),
        effective_words_per_s=round(effective / train_seconds, 1),
        epochs=tracker.rows if tracker else [],
        model=params.model,
        formats=sorted({"kv", *formats}),
        resumed_from_epoch=resumed_from,
    )
