"""Synthetic languages: exact generation rules, the structure metric on constructed vectors, and the whole
`synthetic` pipeline through Prefect with the issue's bounds (proximity ρ ≥ 0.8, random |ρ| ≤ 0.2)."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from flows.pipeline import run_pipeline
from tasks.config import ConfigError, load_settings
from tasks.synthetic.languages import (
    NEIGHBOUR_METHOD,
    SPEARMAN_METHOD,
    alphabet_words,
    generate,
    read_alphabet,
    structure_metrics,
    write_corpus,
)
from tasks.vectors.evaluate import vectors_from
from tests.configs import OUTPUTS

SIZES = {"sentences": 300, "sentence_length": 12, "vocabulary": 26, "neighbour_window": 2, "seed": 7}


def test_alphabet_words_are_in_alphabet_order() -> None:
    assert alphabet_words(3) == ["aaa", "bbb", "ccc"]
    assert alphabet_words(26)[-1] == "zzz"
    words = alphabet_words(700)
    assert words[:3] == ["aaa", "aab", "aac"] and words[26] == "aba"
    assert words == sorted(words) and len(set(words)) == 700
    assert len(alphabet_words(26**3 + 1)[-1]) == 4


def test_proximity_walks_only_to_alphabet_neighbours_and_is_seeded() -> None:
    walk = generate("proximity", **SIZES)
    assert walk.shape == (300, 12) and walk.min() >= 0 and walk.max() <= 25
    steps = np.abs(np.diff(walk, axis=1))
    assert steps.min() == 1 and steps.max() == 2  # never stays, never jumps further than the window
    assert np.array_equal(walk, generate("proximity", **SIZES))
    assert not np.array_equal(walk, generate("proximity", **{**SIZES, "seed": 8}))
    random = generate("random", **SIZES)
    assert set(np.unique(random)) == set(range(26)) and np.abs(np.diff(random, axis=1)).max() > 2


def test_write_corpus_files(tmp_path: Path) -> None:
    stats = write_corpus("proximity", tmp_path, **SIZES)
    lines = (tmp_path / "corpus.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 and all(len(line.split()) == 12 for line in lines)
    expected = [[alphabet_words(26)[i] for i in row] for row in generate("proximity", **SIZES).tolist()]
    assert [line.split() for line in lines] == expected
    assert read_alphabet(tmp_path / "alphabet.txt") == alphabet_words(26)
    assert (stats.sentences, stats.tokens, stats.vocabulary) == (300, 3600, 26)
    assert not list(tmp_path.glob(".*tmp"))


def test_structure_metrics_on_vectors_laid_out_along_the_alphabet() -> None:
    words = alphabet_words(26)
    angles = np.arange(26) * (math.pi / 26)  # a half circle: cosine falls with alphabet distance
    line = vectors_from(words, np.stack([np.cos(angles), np.sin(angles)], axis=1))
    rho, near = structure_metrics(line, words, "proximity", 1)
    assert (rho.eval_set, rho.method, near.method) == (
        "synthetic-proximity",
        SPEARMAN_METHOD,
        NEIGHBOUR_METHOD,
    )
    assert rho.value > 0.99 and (rho.seen, rho.total) == (325, 325)
    assert (near.value, near.correct, near.seen) == (1.0, 26, 26)
    shuffled = vectors_from(words[::-1][13:] + words[::-1][:13], line.matrix)  # alphabet order broken
    assert structure_metrics(shuffled, words, "random", 1)[0].value < 0.5
    missing = vectors_from(words[1:], line.matrix[1:])
    rho, near = structure_metrics(missing, words, "proximity", 1)
    assert (rho.seen, rho.total, near.seen, near.total) == (300, 325, 25, 26)


def test_config_needs_exactly_one_of_dump_and_synthetic(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("default: p\npipelines:\n  p:\n    synthetic: {vocabulary: 5}\n", encoding="utf-8")
    assert load_settings(path).pipelines["p"].synthetic is not None
    for body, error in [
        ("dump: x.bz2\n    synthetic: {}", r"pipelines\.p: give exactly one of `dump`"),
        ("description: neither", r"pipelines\.p: give exactly one of `dump`"),
        ("synthetic: {words: 5}", r"pipelines\.p\.synthetic\.words: unknown key"),
        (
            "synthetic: {vocabulary: 5, neighbour_window: 4}",
            r"neighbour_window \(4\) must be < vocabulary - 1",
        ),
        (
            "synthetic: {languages: [zipf]}",
            r"synthetic\.languages\.0: allowed values: 'random' or 'proximity'",
        ),
    ]:
        path.write_text(f"default: p\npipelines:\n  p:\n    {body}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=error):
            load_settings(path)


CONFIG = (
    OUTPUTS
    + """
default: synthetic
pipelines:
  synthetic:
    synthetic: {{sentences: 5000, sentence_length: 20, vocabulary: 26, neighbour_window: 3, seed: 1}}
    evaluate: {{analogy: {{}}, similarity: {{}}}}
    sweep:
      base: {{model: sg, vector_size: 16, window: 5, sample: 0, min_count: 1, epochs: 5, workers: 1}}
      probes: [[bbb, aaa], [bbb, zzz]]
"""
)


def test_synthetic_pipeline_recovers_the_structure(prefect_server: None, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(CONFIG.format(root=tmp_path), encoding="utf-8")
    run_id = run_pipeline(pipeline="synthetic", config_path=str(tmp_path / "p.yaml")).run_id
    with duckdb.connect(str(tmp_path / "work" / "zhvec.duckdb"), read_only=True) as con:
        assert con.execute("SELECT dump, status FROM runs").fetchall() == [("synthetic", "completed")]
        scores = dict(
            con.execute(
                "SELECT eval_set || '/' || method, value FROM metrics WHERE run_id = ? AND category = 'all'",
                [run_id],
            ).fetchall()
        )
        probes = con.execute(
            "SELECT count(*), count(DISTINCT point_id) FROM epoch_history WHERE metric LIKE 'probe:%'"
        ).fetchone()
        labels = {label for (label,) in con.execute("SELECT label FROM points").fetchall()}
        stages = {s for (s,) in con.execute("SELECT stage FROM stage_timings").fetchall()}
    assert scores["synthetic-proximity/spearman-alphabet"] >= 0.8
    assert abs(scores["synthetic-random/spearman-alphabet"]) <= 0.2
    assert scores["synthetic-proximity/neighbour-alphabet"] >= 0.9
    assert probes == (2 * 2 * 5, 2)  # 2 probes x 2 languages x 5 epochs
    assert labels == {"random:sg-d16-w5-n5-e5", "proximity:sg-d16-w5-n5-e5"}
    assert {"synthesize-random", "synthesize-proximity", "train", "structure"} <= stages
    page = (tmp_path / "reports" / "synthetic" / run_id / "index.html").read_text(encoding="utf-8")
    assert page.count(">as expected</td>") == 2 and "NOT as expected" not in page
    assert "Probe cosines per epoch" in page
