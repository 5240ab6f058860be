from collections import Counter
from pathlib import Path

import pytest
from gensim.models import KeyedVectors

from tasks.config import SegmentOptions, TrainParams
from tasks.text.segment import segment_corpus
from tasks.vectors.evaluate import evaluate_all, load_vectors
from tasks.vectors.train import VECTOR_FILES, TrainError, TrainTracking, gensim_kwargs, train_word2vec


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
