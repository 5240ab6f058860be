import errno
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors, Word2Vec

from tasks.config import SegmentOptions, TrainParams
from tasks.core import activity
from tasks.core.workspace import NoSpaceError, StageDir
from tasks.text.segment import segment_corpus
from tasks.vectors.evaluate import evaluate_all, load_vectors
from tasks.vectors.train import (
    CHECKPOINT_PREFIX,
    VECTOR_FILES,
    TrainError,
    TrainStats,
    TrainTracking,
    epoch_alphas,
    gensim_kwargs,
    new_model,
    train_word2vec,
)
from tasks.vectors.vocab import count_vocabulary

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = REPO / "data" / "eval"
# Trains in a child process that stalls once epoch 3 begins (after the epoch 2 checkpoint), to be SIGKILLed.
KILLED_CHILD = """
import sys, time
from pathlib import Path
from tasks.config import TrainParams
from tasks.core import activity
from tasks.vectors.train import TrainTracking, train_word2vec

def stall(epoch: int) -> None:
    if epoch == 3:
        time.sleep(600)

activity.at_epoch = stall
corpus, out, eval_dir = map(Path, sys.argv[1:4])
params = TrainParams.model_validate_json(sys.argv[4])
train_word2vec(corpus, params, out, tracking=TrainTracking.default(eval_dir))
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = Path(__file__).parent / "fixtures" / "text" / "zhwiki_paragraphs.txt"
    out = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    segment_corpus(src, out, options=SegmentOptions(), workers=1)
    return out


def test_vocabulary_and_saved_formats(tmp_path: Path, corpus: Path) -> None:
    params = TrainParams(model="cbow", vector_size=16, window=3, min_count=3, epochs=2, workers=1)
    stats = train_word2vec(corpus, params, tmp_path, formats=("kv", "bin", "txt"))
    counts = Counter(corpus.read_text(encoding="utf-8").split())
    expected_vocab = {w for w, c in counts.items() if c >= 3}
    assert stats.vocab_size == len(expected_vocab)
    assert stats.corpus_words == sum(counts.values())
    assert stats.trained_words == 2 * stats.corpus_words
    kv = KeyedVectors.load(str(tmp_path / "vectors.kv"))
    txt = KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"), binary=False)
    binary = KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    assert set(kv.index_to_key) == expected_vocab
    assert kv.index_to_key == txt.index_to_key == binary.index_to_key
    assert kv.vector_size == 16
    assert abs(kv["的"] - binary["的"]).max() == 0.0
    assert not list(tmp_path.glob(".*tmp"))


def test_gensim_arguments_follow_word2vec_c() -> None:
    kwargs = gensim_kwargs(TrainParams(model="cbow", hs=1, negative=0, workers=3))
    assert (kwargs["sg"], kwargs["hs"], kwargs["negative"], kwargs["workers"]) == (0, 1, 0, 3)
    assert gensim_kwargs(TrainParams(model="sg"))["sg"] == 1


def test_empty_corpus_and_unreachable_min_count(tmp_path: Path, corpus: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(TrainError, match=r"empty\.txt: corpus file is missing or empty"):
        train_word2vec(empty, TrainParams(), tmp_path / "out")
    with pytest.raises(TrainError, match="min_count=100000"):
        train_word2vec(corpus, TrainParams(min_count=100000, workers=1), tmp_path / "out")


def test_per_epoch_tracking_rows(tmp_path: Path, corpus: Path) -> None:
    eval_dir = Path(__file__).resolve().parents[1] / "data" / "eval"
    tracking = TrainTracking.default(eval_dir)
    tracking = TrainTracking(
        tracking.analogy, tracking.similarity, probes=(("中国", "美国"), ("中国", "不在词表"))
    )
    params = TrainParams(model="sg", vector_size=16, window=3, min_count=3, epochs=3, workers=1)
    stats = train_word2vec(corpus, params, tmp_path, tracking=tracking)
    metrics = {"loss", "seconds", "tracking_share", "ca_translated_3cosadd", "wordsim240_spearman"}
    metrics.add("probe:中国|美国")
    assert {(r["epoch"], r["metric"]) for r in stats.epochs} == {(e, m) for e in (1, 2, 3) for m in metrics}
    value = {(r["epoch"], r["metric"]): r["value"] for r in stats.epochs}
    assert all(value[(e, "loss")] > 0 for e in (1, 2, 3))  # per-epoch deltas, not gensim's running total
    assert all(-1.0 <= value[(e, "probe:中国|美国")] <= 1.0 for e in (1, 2, 3))
    assert stats.tracking_seconds > 0 and stats.words_per_s > 0
    assert all(value[(e, "tracking_share")] > 0 for e in (1, 2, 3)) and stats.tracking_share > 0
    assert stats.formats == ["bin", "kv"] and not (tmp_path / VECTOR_FILES["txt"]).exists()  # text: opt-in
    assert stats.model_bytes == sum((tmp_path / VECTOR_FILES[f]).stat().st_size for f in ("kv", "bin"))
    # the last epoch's tracked scores are the final evaluation's of the saved vectors
    final = evaluate_all(
        load_vectors(tmp_path / "vectors.kv"), dict(tracking.analogy), dict(tracking.similarity)
    )
    last = {f"{m.eval_set}_{m.method}": m.value for m in final if m.category == "all"}
    assert value[(3, "ca_translated_3cosadd")] == last["ca_translated_3cosadd"]
    assert value[(3, "wordsim240_spearman")] == last["wordsim240_spearman"]
    untracked = train_word2vec(corpus, params, tmp_path / "plain")
    assert untracked.epochs == [] and untracked.tracking_seconds == 0.0
    # tracking reads the vectors only: with one thread and a seed the model is the same either way
    assert (tmp_path / "vectors.bin").read_bytes() == (tmp_path / "plain" / "vectors.bin").read_bytes()


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """Make training stop as epoch `epoch` begins, as a kill then would: the checkpoints it wrote stay."""

    def stop(e: int) -> None:
        if e == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(activity, "at_epoch", stop)


def _trained_epochs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The epochs training starts from now on, as the run's heartbeat would see them."""
    started: list[int] = []
    monkeypatch.setattr(activity, "at_epoch", started.append)
    return started


def test_point_killed_after_epoch_2_resumes_at_epoch_3(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = TrainParams(model="sg", vector_size=16, window=3, min_count=3, epochs=3, workers=1)
    out = tmp_path / "point"
    log = (tmp_path / "child.log").open("w")
    args = [str(corpus), str(out), str(EVAL_DIR), params.model_dump_json()]
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, *args], cwd=REPO, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while not (out / f"{CHECKPOINT_PREFIX}2").is_dir():
            assert child.poll() is None, (tmp_path / "child.log").read_text()
            assert time.monotonic() < deadline, "no checkpoint after epoch 2"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
        log.close()
    state = json.loads((out / f"{CHECKPOINT_PREFIX}2" / "state.json").read_text(encoding="utf-8"))
    started = _trained_epochs(monkeypatch)
    stats = train_word2vec(corpus, params, out, tracking=TrainTracking.default(EVAL_DIR))
    assert stats.resumed_from_epoch == 2 and started == [3]
    assert {r["epoch"] for r in stats.epochs} == {1, 2, 3}
    kept = state["tracking"]["rows"]
    assert [r for r in stats.epochs if r["epoch"] < 3] == kept  # as the killed run took them
    assert {r["metric"] for r in stats.epochs if r["epoch"] == 3} == {r["metric"] for r in kept}
    value = {(r["epoch"], r["metric"]): r["value"] for r in stats.epochs}
    assert all(value[(e, "seconds")] > 0 and value[(e, "loss")] > 0 for e in (1, 2, 3))
    assert value[(3, "seconds")] <= stats.train_seconds + 1e-4  # epoch 3 is this call's training
    # costed as one epoch of training, while the point is 3 epochs of the corpus
    assert stats.words_per_s == pytest.approx(stats.corpus_words / stats.train_seconds, rel=0.05)
    assert stats.trained_words == 3 * stats.corpus_words
    assert not list(out.glob(f"{CHECKPOINT_PREFIX}*")) and not list(out.glob(".*.tmp"))
    assert (out / "vectors.kv").is_file()


@pytest.mark.parametrize("model", ["sg", "fasttext"])
def test_resumed_point_scores_like_an_uninterrupted_one(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    ngrams = {"bucket": 1000} if model == "fasttext" else {}
    params = TrainParams(
        model=model, vector_size=16, window=3, min_count=3, epochs=3, seed=7, workers=1, **ngrams
    )
    whole = train_word2vec(corpus, params, tmp_path / "whole")
    _interrupt_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        train_word2vec(corpus, params, tmp_path / "resumed")
    monkeypatch.undo()
    resumed = train_word2vec(corpus, params, tmp_path / "resumed")
    assert (whole.resumed_from_epoch, resumed.resumed_from_epoch) == (0, 2)
    assert resumed.effective_words == pytest.approx(whole.effective_words, rel=0.01)
    a = KeyedVectors.load(str(tmp_path / "whole" / "vectors.kv"))
    b = KeyedVectors.load(str(tmp_path / "resumed" / "vectors.kv"))
    frequent = [w for w, _ in Counter(corpus.read_text(encoding="utf-8").split()).most_common(10)]
    for word in frequent:  # the same word's vector, and its nearest neighbours' cosines
        assert float(a[word] @ b[word] / np.linalg.norm(a[word]) / np.linalg.norm(b[word])) > 0.95
        near_a = [cos for _, cos in a.most_similar(word, topn=5)]
        near_b = [cos for _, cos in b.most_similar(word, topn=5)]
        assert near_b == pytest.approx(near_a, abs=0.05)
    scores = []
    for folder in ("whole", "resumed"):
        metrics = evaluate_all(
            load_vectors(tmp_path / folder / "vectors.kv"),
            {},
            {"wordsim240": EVAL_DIR / "wordsim" / "wordsim-240.txt"},
        )
        scores.append(next(m.value for m in metrics if m.method == "spearman"))
    assert abs(scores[0] - scores[1]) <= 0.1


def test_learning_rate_decays_over_the_whole_run(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [a for pair in epoch_alphas(0.025, 0.0001, 5) for a in pair] == pytest.approx(
        [0.025, 0.02002, 0.02002, 0.01504, 0.01504, 0.01006, 0.01006, 0.00508, 0.00508, 0.0001]
    )
    params = TrainParams(
        model="sg", vector_size=16, window=3, min_count=3, epochs=4, alpha=0.04, min_alpha=0.0, workers=1
    )
    single = new_model(params, count_vocabulary(corpus, params.min_count, workers=1))
    single.train(
        corpus_file=str(corpus),
        total_examples=single.corpus_count,
        total_words=single.corpus_total_words,
        epochs=4,
    )
    used: list[tuple[float, float, int]] = []
    train = Word2Vec.train

    def spy(self: Word2Vec, *args: object, **kwargs: object) -> tuple[int, int]:
        result = train(self, *args, **kwargs)
        used.append((self.alpha, self.min_alpha, self.epochs))  # what this call trained with
        return result

    monkeypatch.setattr(Word2Vec, "train", spy)
    train_word2vec(corpus, params, tmp_path)
    assert [e for *_, e in used] == [1, 1, 1, 1]
    assert [a for a, b, _ in used for a in (a, b)] == pytest.approx(
        [0.04, 0.03, 0.03, 0.02, 0.02, 0.01, 0.01, 0.0]
    )
    # one decay over the run, as in a single 4-epoch train(): the same vectors up to float32 rounding
    kv = KeyedVectors.load(str(tmp_path / "vectors.kv"))
    assert np.abs(kv.vectors - single.wv.vectors).max() < 1e-5


def test_checkpoint_of_other_params_is_ignored(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = TrainParams(model="sg", vector_size=16, window=3, min_count=3, epochs=3, workers=1)
    _interrupt_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train_word2vec(corpus, stale, tmp_path / "point")
    assert [p.name for p in (tmp_path / "point").iterdir()] == [f"{CHECKPOINT_PREFIX}1"]
    started = _trained_epochs(monkeypatch)
    params = stale.model_copy(update={"window": 2})
    stats = train_word2vec(corpus, params, tmp_path / "point")
    assert stats.resumed_from_epoch == 0 and started == [1, 2, 3]
    assert not list((tmp_path / "point").glob(f"{CHECKPOINT_PREFIX}*"))
    train_word2vec(corpus, params, tmp_path / "fresh")
    assert (tmp_path / "point" / "vectors.bin").read_bytes() == (
        tmp_path / "fresh" / "vectors.bin"
    ).read_bytes()


def test_resumed_stage_folder_drops_interrupted_writes_only(tmp_path: Path) -> None:
    folder = StageDir(tmp_path, "train", "key").prepare()
    (folder / f"{CHECKPOINT_PREFIX}1").mkdir()
    (folder / f".{CHECKPOINT_PREFIX}2.tmp").mkdir()
    (folder / ".vectors.kv.x1y2.tmp").write_bytes(b"half")
    (folder / "vectors.kv").write_bytes(b"whole")
    StageDir(tmp_path, "train", "key").prepare(resume=True)
    assert sorted(p.name for p in folder.iterdir()) == [f"{CHECKPOINT_PREFIX}1", "vectors.kv"]
    assert StageDir(tmp_path, "train", "key").prepare() == folder and not list(folder.iterdir())


def test_manifest_before_checkpoints_still_loads() -> None:
    old = {f.name: 0 for f in fields(TrainStats) if f.name != "resumed_from_epoch"}
    assert TrainStats(**old).resumed_from_epoch == 0


def test_disk_full_while_checkpointing_keeps_the_older_checkpoint(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save = Word2Vec.save

    def full_at_epoch_2(self: Word2Vec, fname: str, *args: object, **kwargs: object) -> None:
        if f"{CHECKPOINT_PREFIX}2" in fname:
            Path(fname).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", fname)
        save(self, fname, *args, **kwargs)

    monkeypatch.setattr(Word2Vec, "save", full_at_epoch_2)
    params = TrainParams(model="sg", vector_size=16, window=3, min_count=3, epochs=3, workers=1)
    with pytest.raises(NoSpaceError, match=f"{CHECKPOINT_PREFIX}2: not written, out of disk space"):
        train_word2vec(corpus, params, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f"{CHECKPOINT_PREFIX}1"]
    monkeypatch.undo()
    assert train_word2vec(corpus, params, tmp_path).resumed_from_epoch == 1
