"""The report's best-model section reads only a model's first rows: the page is the same size for a small
and a large vocabulary, and probe words beyond those rows are named as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from tasks.config import Pipeline
from tasks.core.records import Metric, PointResult
from tasks.report.render import render_report
from tasks.report.sections import REPORT_WORDS, report_vectors
from tasks.results.store import Store

RARE_ROW = REPORT_WORDS + 20_000
PROBES = [["w0", "w1"], ["w2", "rare"]]


def write_model(out: Path, n_words: int) -> Path:
    """`vectors.kv` and `vectors.bin` as the train stage leaves them; the first rows are the same for every
    `n_words`, and a large model holds `rare` past the rows the report reads."""
    words = [f"w{i}" for i in range(n_words)]
    if n_words > RARE_ROW:
        words[RARE_ROW] = "rare"
    kv = KeyedVectors(8)
    kv.add_vectors(words, np.random.default_rng(0).standard_normal((n_words, 8), dtype=np.float32))
    out.mkdir(parents=True)
    kv.save(str(out / "vectors.kv"), separately=[])
    kv.save_word2vec_format(str(out / "vectors.bin"), binary=True)
    return out


def report_page(tmp_path: Path, n_words: int) -> str:
    vectors = write_model(tmp_path / f"v{n_words}", n_words)
    dump = "/d/zhwiki-20240601-pages-articles.xml.bz2"
    config = Pipeline.model_validate({"dump": dump, "sweep": {"probes": PROBES}}).model_dump(mode="json")
    with Store(tmp_path / f"db{n_words}.duckdb") as store:
        run_id = store.start_run("p", config, dump, "ab" * 32, "c0de")
        point = PointResult("pt", "sg-d8", {"model": "sg"}, "completed", n_words, 10**6, str(vectors))
        store.add_point(run_id, point)
        store.add_metrics(run_id, "pt", [Metric("ca8_semantic", "all", "3cosadd", "ca8", 0.5, 8, 10, 4)])
        store.finish_run(run_id, "completed")
        return render_report(store, run_id, tmp_path / f"r{n_words}").read_text(encoding="utf-8")


def test_report_size_does_not_grow_with_the_vocabulary(tmp_path: Path) -> None:
    small, large = report_page(tmp_path, 2_000), report_page(tmp_path, RARE_ROW + 1_000)
    assert abs(len(large) - len(small)) < 2_000
    assert "vectors.bin</code>" in large  # read from the word2vec binary, only as far as needed
    assert f"among the model's {REPORT_WORDS:,} most frequent words" in large
    assert f"not among the {REPORT_WORDS:,} most frequent words" in large
    assert "most frequent words: the report" not in small and "not in the vocabulary" in small


@pytest.mark.parametrize("name", ["vectors.bin", "vectors.kv"])
def test_report_vectors_are_the_first_rows(tmp_path: Path, name: str) -> None:
    model = write_model(tmp_path / "v", 3_000)
    if name == "vectors.kv":
        (model / "vectors.bin").unlink()
    loaded = report_vectors(str(model), limit=1_000)
    assert loaded is not None
    path, vecs = loaded
    assert path == model / name
    assert vecs.words == [f"w{i}" for i in range(1_000)] and vecs.matrix.shape == (1_000, 8)
    assert np.allclose(np.linalg.norm(vecs.matrix, axis=1), 1.0, atol=1e-5)
    assert report_vectors(str(tmp_path / "none")) is None and report_vectors("") is None
