"""`model: fasttext` sweep points: validation of the n-gram keys, training through gensim's FastText, and
evaluation through subword vectors (an unseen word with trained n-grams counts in subword coverage)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gensim.models.fasttext import FastTextKeyedVectors
from pydantic import ValidationError

from tasks import stages
from tasks.config import EvalSets, SegmentOptions, Sweep, TrainParams
from tasks.core.records import Metric, PointResult, StageTiming
from tasks.report.render import render_report
from tasks.results.store import Store
from tasks.text.segment import segment_corpus
from tasks.vectors.subword import coverage_rows, load_fasttext, subword_words, trained_buckets
from tasks.vectors.train import TrainTracking, gensim_kwargs

UNSEEN = "北京市"  # not in the tiny corpus, but 北京 is: its characters' n-grams are trained
ALIEN = "𠀀"  # a CJK extension-B character that never occurs: no trained n-gram


def test_ngram_keys_are_validated_and_forbidden_for_word2vec() -> None:
    with pytest.raises(ValidationError, match="min_n apply to model fasttext only .* this sg point"):
        TrainParams(model="sg", min_n=2)
    with pytest.raises(ValidationError, match="min_n, bucket apply to model fasttext only"):
        TrainParams(model="cbow", min_n=2, bucket=10)
    with pytest.raises(ValidationError, match=r"min_n \(4\) must not exceed max_n \(3\)"):
        TrainParams(model="fasttext", min_n=4)
    with pytest.raises(ValueError, match=r"point 1 of 2 \(min_n=2, model=sg\): \(point\): min_n apply"):
        Sweep(base={"min_n": 2}, grid={"model": ["sg", "fasttext"]})
    params = TrainParams(model="fasttext", max_n=2, bucket=1000, workers=1)
    assert params.label() == "fasttext-c12-d100-w5-n5-e5"
    kwargs = gensim_kwargs(params)
    assert (kwargs["sg"], kwargs["min_n"], kwargs["max_n"], kwargs["bucket"]) == (1, 1, 2, 1000)
    assert gensim_kwargs(TrainParams(model="fasttext"))["bucket"] == 2_000_000
    assert "min_n" not in gensim_kwargs(TrainParams(model="sg"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> stages.StageOutput:
    folder = tmp_path_factory.mktemp("corpus")
    src = Path(__file__).parent / "fixtures" / "text" / "zhwiki_paragraphs.txt"
    stats = segment_corpus(src, folder / stages.CORPUS, options=SegmentOptions(), workers=1)
    timing = StageTiming("segment", 0.0, 0.0, 0, stats.bytes_in, stats.bytes_out, stats.tokens, "tokens")
    return stages.StageOutput("tiny-corpus", str(folder), timing, {})


def test_fasttext_gives_unseen_words_vectors_and_counts_them_in_subword_coverage(
    tmp_path: Path, corpus: stages.StageOutput
) -> None:
    params = TrainParams(model="fasttext", vector_size=16, min_count=3, epochs=2, bucket=100_000, workers=1)
    track = TrainTracking(probes=(("中国", "美国"),))
    words = stages.vocab.fn(tmp_path, corpus, 3, 1)
    model = stages.train.fn(tmp_path, corpus, words, params, track)
    assert model.stats["model"] == "fasttext"
    rows = model.stats["epochs"]
    assert {(r["epoch"], r["metric"]) for r in rows} == {
        (e, m) for e in (1, 2) for m in ("seconds", "tracking_share", "probe:中国|美国")
    }
    kv = load_fasttext(Path(model.path) / "vectors.kv")
    assert isinstance(kv, FastTextKeyedVectors) and (kv.min_n, kv.max_n) == (1, 3)
    assert "北京" in kv.key_to_index and UNSEEN not in kv.key_to_index and ALIEN not in kv.key_to_index
    assert np.linalg.norm(kv[UNSEEN]) > 0
    assert subword_words(kv, [UNSEEN, ALIEN, "北京", UNSEEN], trained_buckets(kv)) == [UNSEEN]

    analogy = tmp_path / "analogy.txt"
    analogy.write_text(f": capitals\n北京 上海 {UNSEEN} 中国\n北京 上海 {ALIEN} 中国\n", encoding="utf-8")
    similarity = tmp_path / "similarity.txt"
    similarity.write_text(f"北京 {UNSEEN} 5.0\n北京 {ALIEN} 1.0\n上海 中国 3.0\n", encoding="utf-8")
    sets = EvalSets(analogy={"tiny": analogy}, similarity={"pairs": similarity})
    _, metrics = stages.evaluate.fn(tmp_path, model, sets)
    seen = {(m.eval_set, m.category, m.method): (m.seen, m.total) for m in metrics}
    assert seen[("tiny", "all", "3cosadd")] == (0, 2)
    assert seen[("tiny", "all", "3cosadd+subword")] == (1, 2)
    assert seen[("tiny", "capitals", "3cosmul+subword")] == (1, 2)
    assert seen[("pairs", "all", "spearman")] == (1, 3)
    assert seen[("pairs", "all", "spearman+subword")] == (2, 3)

    word2vec = stages.train.fn(
        tmp_path, corpus, words, TrainParams(vector_size=16, min_count=3, epochs=1, workers=1)
    )
    _, plain = stages.evaluate.fn(tmp_path, word2vec, sets)
    assert not [m for m in plain if m.method.endswith("+subword")]


def test_coverage_rows_pair_plain_and_subword_scores() -> None:
    def row(
        point: str, method: str, value: float, coverage: float, category: str = "all"
    ) -> dict[str, object]:
        return {
            "point_id": point,
            "eval_set": "ca8_semantic",
            "category": category,
            "method": method,
            "rules": "ca8",
            "value": value,
            "coverage": coverage,
        }

    metrics = [
        row("w2v", "3cosadd", 0.01, 0.3),
        row("ft", "3cosadd", 0.02, 0.3),
        row("ft", "3cosadd+subword", 0.07, 1.0),
        row("ft", "3cosmul+subword", 0.08, 1.0),
        row("ft", "3cosadd+subword", 0.5, 1.0, category="capital"),
    ]
    assert coverage_rows(metrics, {"ft": "fasttext-c13"}) == [
        {
            "point": "fasttext-c13",
            "eval_set": "ca8_semantic",
            "method": "3cosadd",
            "plain": (0.02, 0.3),
            "subword": (0.07, 1.0),
        }
    ]


def test_report_shows_subword_scores_apart_from_the_headlines(tmp_path: Path) -> None:
    with Store(tmp_path / "r.duckdb") as store:
        run_id = store.start_run("p", {}, "dump", "0" * 64, "code")
        params = TrainParams(model="fasttext").model_dump(mode="json")
        store.add_point(run_id, PointResult("ft", "fasttext-c13", params, "completed", 10, 100, "/v"))
        store.add_metrics(
            run_id,
            "ft",
            [
                Metric("ca8_semantic", "all", "3cosadd", "ca8", 0.02, 30, 100, 1),
                Metric("ca8_semantic", "all", "3cosadd+subword", "ca8", 0.07, 100, 100, 7),
                Metric("wordsim240", "all", "spearman", "ca8", 0.25, 200, 240),
                Metric("wordsim240", "all", "spearman+subword", "ca8", 0.3, 240, 240),
            ],
        )
        store.finish_run(run_id, "completed")
        page = render_report(store, run_id, tmp_path / "reports").read_text(encoding="utf-8")
    section = page[page.index('id="subword"') : page.index("</section>", page.index('id="subword"'))]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))
    assert "ca8_semantic 3cosadd 2.0 % (cov 30.0 %) 7.0 % (cov 100.0 %)" in text
    assert "wordsim240 spearman 0.250 (cov 83.3 %) 0.300 (cov 100.0 %)" in text
    assert "+subword 3CosAdd" not in page and "ca8_semantic+subword" not in page  # not a headline column
    assert 'id="synthetic"' not in page
