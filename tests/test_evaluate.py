"""Benchmark scoring checked three ways: by hand, against a plain per-question loop, and against gensim."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from scipy import stats

from tasks.config import EvalSets
from tasks.core.records import Metric
from tasks.vectors.evaluate import (
    ALL,
    AnalogySet,
    EvalFileError,
    Method,
    Vectors,
    _rank,
    _tile_max,
    evaluate_all,
    evaluate_analogies,
    evaluate_analogy_sets,
    evaluate_similarity,
    load_analogies,
    load_similarity,
    load_vectors,
    summary_json,
    vectors_from,
)
from tests.ca8_reference import Key, reference_ca8

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "data" / "eval"


def counts(metrics: list[Metric]) -> dict[Key, tuple[int, int, int | None]]:
    return {(m.category, m.method): (m.seen, m.total, m.correct) for m in metrics}


def planted(words: list[str], aset: AnalogySet, dim: int, seed: int) -> np.ndarray:
    """Random vectors where each category's pairs share an offset, so questions are neither all right nor
    all wrong (later questions overwrite earlier pairs, which keeps accuracy partial)."""
    rng = np.random.default_rng(seed)
    vec = {w: rng.standard_normal(dim) for w in words}
    for questions in aset.values():
        offset = rng.standard_normal(dim)
        for a, b, c, d in questions:
            for x, y in ((a, b), (c, d)):
                if x in vec and y in vec:
                    vec[y] = vec[x] + offset + 0.4 * rng.standard_normal(dim)
    return np.array([vec[w] for w in words], dtype=np.float32)


def vocabulary(eval_words: set[str], keep: float, size: int, seed: int) -> list[str]:
    """A shuffled vocabulary holding a `keep` share of the eval words, padded with fillers to `size`."""
    rng = np.random.default_rng(seed)
    kept = [w for w in sorted(eval_words) if rng.random() < keep]
    words = kept + [f"filler{i}" for i in range(size - len(kept))]
    return [words[i] for i in rng.permutation(len(words))]


# --- (1) by hand -------------------------------------------------------------------------------------

# 2-d vectors at these angles (degrees), lengths 1..8 so only the normalised direction matters:
# cos(dX, dY) = cos(X - Y). 3CosMul's sim = (cos + 1) / 2, so a word opposite `a` has sim_a = 0 and its
# score is sim_b * sim_c / 0.01.
ANGLES = (0, 30, 60, 90, 120, 180, 240, 270)

HAND_ANALOGIES = "\r\n".join(
    [
        # default: 3CosAdd d90(=b) 1.5 > d120 1.366 > d60 1.232 -> b excluded, d120 right;
        #          3CosMul d180 (opposite a) .5*.067/.01 = 3.35 > d120 .933*.5/.26 = 1.79 -> wrong
        "d0 d90 d30 d120",
        ": rot",
        "",
        # 3CosAdd d90 .366 > d120 0; 3CosMul d90 .933*.5/.76 = .614 > d120 .75*.25/.51 = .368 -> both right
        "d30 d60 d0 d90",
        # unknown answer: seen, wrong for both
        "d0 d90 d30 zzz",
        ": mix",
        # 3CosAdd d0(=b) 1.5 > d30 1.232 > d270 .134 -> b excluded, d30, wrong;
        # 3CosMul d270 (opposite a) .5*.067/.01 = 3.35 > d30 .933*.933/.76 = 1.146 -> right
        "d90 d0 d60 d270",
        ": oov",
        # unknown input: not seen
        "zzz d90 d30 d120",
    ]
)


@pytest.fixture
def hand(tmp_path: Path) -> tuple[Vectors, AnalogySet]:
    rows = [
        f"d{t} {(i + 1) * math.cos(math.radians(t)):.6f} {(i + 1) * math.sin(math.radians(t)):.6f}"
        for i, t in enumerate(ANGLES)
    ]
    (tmp_path / "hand.txt").write_text("\n".join([f"{len(ANGLES)} 2", *rows]) + "\n", encoding="utf-8")
    (tmp_path / "hand_analogy.txt").write_text(HAND_ANALOGIES, encoding="utf-8")
    return load_vectors(tmp_path / "hand.txt"), load_analogies(tmp_path / "hand_analogy.txt")


def test_hand_checked_ca8(hand: tuple[Vectors, AnalogySet]) -> None:
    vecs, aset = hand
    assert list(aset) == ["default", "rot", "mix", "oov"]
    assert counts(evaluate_analogies(vecs, aset, name="hand")) == {
        (ALL, "3cosadd"): (4, 5, 2),
        ("default", "3cosadd"): (1, 1, 1),
        ("rot", "3cosadd"): (2, 2, 1),
        ("mix", "3cosadd"): (1, 1, 0),
        ("oov", "3cosadd"): (0, 1, 0),
        (ALL, "3cosmul"): (4, 5, 2),
        ("default", "3cosmul"): (1, 1, 0),
        ("rot", "3cosmul"): (2, 2, 1),
        ("mix", "3cosmul"): (1, 1, 1),
        ("oov", "3cosmul"): (0, 1, 0),
    }


def test_hand_checked_gensim_skips_unknown_answers(hand: tuple[Vectors, AnalogySet]) -> None:
    vecs, aset = hand
    metrics = evaluate_analogies(vecs, aset, name="hand", rules="gensim", methods=("3cosadd",))
    assert counts(metrics)[(ALL, "3cosadd")] == (3, 5, 2)
    assert counts(metrics)[("rot", "3cosadd")] == (1, 2, 1)
    assert {m.value for m in metrics if m.category == "oov"} == {0.0}


def test_gensim_rules_have_no_3cosmul(hand: tuple[Vectors, AnalogySet]) -> None:
    with pytest.raises(ValueError, match="only 3cosadd"):
        evaluate_analogies(*hand, name="hand", rules="gensim")


# --- (2) against a per-question loop ------------------------------------------------------------------


@pytest.fixture(scope="module")
def semantic() -> tuple[list[str], np.ndarray, AnalogySet]:
    aset = load_analogies(EVAL / "ca8" / "semantic.txt")
    words = vocabulary({w for qs in aset.values() for q in qs for w in q}, 0.8, 2000, seed=1)
    return words, planted(words, aset, 50, seed=2), aset


@pytest.mark.parametrize(("top_n", "batch_size"), [(None, None), (1500, 37)])
def test_ca8_matches_per_question_reference(
    semantic: tuple[list[str], np.ndarray, AnalogySet], top_n: int | None, batch_size: int | None
) -> None:
    words, raw, aset = semantic
    got = counts(
        evaluate_analogies(vectors_from(words, raw), aset, name="sem", top_n=top_n, batch_size=batch_size)
    )
    want = reference_ca8(words, raw, aset, top_n)
    assert got == want
    seen, total, correct = want[(ALL, "3cosadd")]
    assert 0 < correct < seen < total  # partial coverage and accuracy, so the comparison means something
    assert want[(ALL, "3cosadd")] != want[(ALL, "3cosmul")]


# --- (3) against gensim -------------------------------------------------------------------------------


def gensim_sections(kv: KeyedVectors, path: Path, restrict_vocab: int) -> dict[Key, tuple[int, int]]:
    _, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict_vocab)
    return {
        (ALL if s["section"] == "Total accuracy" else s["section"], "3cosadd"): (
            len(s["correct"]) + len(s["incorrect"]),
            len(s["correct"]),
        )
        for s in sections
    }


def assert_same_as_gensim(words: list[str], raw: np.ndarray, path: Path, restrict_vocab: int) -> None:
    kv = KeyedVectors(raw.shape[1])
    kv.add_vectors(words, raw)
    want = gensim_sections(kv, path, restrict_vocab)
    metrics = evaluate_analogies(
        vectors_from(words, raw),
        load_analogies(path),
        name="x",
        rules="gensim",
        methods=("3cosadd",),
        top_n=restrict_vocab,
    )
    assert {(m.category, m.method): (m.seen, m.correct) for m in metrics} == want
    seen, correct = want[(ALL, "3cosadd")]
    assert 0 < correct < seen


@pytest.mark.parametrize("restrict_vocab", [300_000, 450])
def test_gensim_rules_match_evaluate_word_analogies(restrict_vocab: int) -> None:
    path = EVAL / "ca8" / "ca_translated.txt"
    aset = load_analogies(path)
    words = vocabulary({w for qs in aset.values() for q in qs for w in q}, 0.9, 600, seed=3)
    assert_same_as_gensim(words, planted(words, aset, 20, seed=4), path, restrict_vocab)


def test_gensim_rules_fold_case_like_gensim(tmp_path: Path) -> None:
    """Upper-case matching, first case variant wins, variants of the inputs are passed over."""
    pairs = [("Athens", "Greece"), ("Oslo", "Norway"), ("paris", "France"), ("Rome", "Italy")]
    variants = {"NORWAY": "Norway", "Paris": "paris", "oslo": "Oslo", "ITALY": "Italy"}
    rng = np.random.default_rng(5)
    offset = rng.standard_normal(8)
    vec: dict[str, np.ndarray] = {}
    for capital, country in pairs:
        vec[capital] = rng.standard_normal(8)
        vec[country] = vec[capital] + offset + 0.3 * rng.standard_normal(8)
    for variant, base in variants.items():
        vec[variant] = vec[base] + 0.05 * rng.standard_normal(8)
    for i in range(40):
        vec[f"filler{i}"] = rng.standard_normal(8)
    words = list(vec)
    path = tmp_path / "cased.txt"
    path.write_text(
        ": capitals\nathens greece oslo norway\nOslo Norway PARIS france\nROME ITALY athens GREECE\n"
        "paris france rome italy\nAthens Greece Paris FRANCE\n"
        ": variants\nOslo Norway oslo norway\nathens greece OSLO NORWAY\n"
        ": missing\nAthens Greece Madrid Spain\n",
        encoding="utf-8",
    )
    assert_same_as_gensim(words, np.array(list(vec.values()), dtype=np.float32), path, 300_000)


# --- (4) similarity -----------------------------------------------------------------------------------


def test_similarity_matches_scipy() -> None:
    path = EVAL / "wordsim" / "wordsim-297.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    direct = [(a.strip(), b.strip(), float(s)) for a, b, s in (line.split("\t") for line in lines)]
    assert ("开始", "比赛", 2.156) in direct  # the line written " 开始\t 比赛"
    eval_words = {w for a, b, _ in direct for w in (a, b)}
    words = vocabulary(eval_words - {"开始", "比赛"}, 0.8, 800, seed=6) + ["开始", "比赛"]
    raw = np.random.default_rng(7).standard_normal((len(words), 16)).astype(np.float32)
    spearman, pearson = evaluate_similarity(vectors_from(words, raw), load_similarity(path), name="ws297")

    vec = dict(zip(words, raw.astype(np.float64), strict=True))
    covered = [(a, b, s) for a, b, s in direct if a in vec and b in vec]
    human = [s for _, _, s in covered]
    cosine = [vec[a] @ vec[b] / math.sqrt((vec[a] @ vec[a]) * (vec[b] @ vec[b])) for a, b, _ in covered]
    assert ("开始", "比赛", 2.156) in covered
    assert ("足球", "足球", 4.98) in covered  # self-pairs are exactly 1 on both sides, so they tie
    assert 0 < len(covered) < 297
    assert (spearman.method, spearman.seen, spearman.total) == ("spearman", len(covered), 297)
    assert spearman.correct is None
    assert spearman.value == pytest.approx(stats.spearmanr(human, cosine).statistic, abs=1e-12)
    assert (pearson.method, pearson.seen) == ("pearson", len(covered))
    assert pearson.value == pytest.approx(stats.pearsonr(human, cosine).statistic, abs=1e-6)


def test_similarity_undefined_correlation_is_zero() -> None:
    vecs = vectors_from(["a", "b", "c"], np.eye(3, dtype=np.float32))
    metrics = evaluate_similarity(vecs, [("a", "b", 1.0), ("a", "zzz", 2.0)], name="tiny")
    assert [(m.value, m.seen, m.total) for m in metrics] == [(0.0, 1, 2), (0.0, 1, 2)]
    constant = evaluate_similarity(vecs, [("a", "b", 1.0), ("b", "c", 2.0)], name="tiny")
    assert [m.value for m in constant] == [0.0, 0.0]  # every cosine is 0


# --- (5) malformed files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "text", "lineno", "problem"),
    [
        (load_analogies, ": A\r\nx y z w\r\nx y z\r\n", 3, "expected 4 words"),
        (load_analogies, "x y z w\n:\n", 2, "category name"),
        (load_similarity, "a\tb\t1.0\n\na\tb\tlots\n", 3, "not a finite number"),
        (load_similarity, "a\tb\t1.0\na b c\t2.0\n", 2, "got 4 fields"),
    ],
)
def test_malformed_line_names_file_and_line(
    tmp_path: Path, loader: Callable[[Path], object], text: str, lineno: int, problem: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EvalFileError, match=re.escape(f"{path}:{lineno}: ") + f".*{problem}"):
        loader(path)


# --- (6) vector files ---------------------------------------------------------------------------------


def test_text_binary_and_kv_files_load_the_same(tmp_path: Path) -> None:
    words = [f"词{i}" for i in range(30)]
    raw = np.random.default_rng(8).standard_normal((30, 5)).astype(np.float32)
    raw[7] = 0
    kv = KeyedVectors(5)
    kv.add_vectors(words, raw)
    kv.save_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    kv.save(str(tmp_path / "v.kv"))

    loaded = [load_vectors(tmp_path / name) for name in ("v.txt", "v.bin", "v.kv")]
    for vecs in loaded:
        assert vecs.words == words
        assert vecs.index == {w: i for i, w in enumerate(words)}
        assert vecs.matrix.dtype == np.float32
        np.testing.assert_allclose(vecs.matrix, loaded[1].matrix, atol=1e-6)
    norms = np.linalg.norm(loaded[1].matrix, axis=1)
    np.testing.assert_allclose(np.delete(norms, 7), 1.0, atol=1e-6)
    assert norms[7] == 0.0


def test_unrecognised_vector_file(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("hello world\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not word2vec"):
        load_vectors(path)


# --- evaluate_all and the --json shape -----------------------------------------------------------------


def test_evaluate_all_summary_shape() -> None:
    sets = EvalSets()
    analogy = {name: ROOT / path for name, path in sets.analogy.items()}
    similarity = {name: ROOT / path for name, path in sets.similarity.items()}
    eval_words = {w for p in analogy.values() for qs in load_analogies(p).values() for q in qs for w in q}
    eval_words |= {w for p in similarity.values() for a, b, _ in load_similarity(p) for w in (a, b)}
    words = vocabulary(eval_words, 0.9, 4000, seed=9)
    raw = np.random.default_rng(10).standard_normal((len(words), 12)).astype(np.float32)

    summary = summary_json(evaluate_all(vectors_from(words, raw), analogy, similarity, top_n=3500))

    assert set(summary) == {"ca8_morphological", "ca8_semantic", "ca_translated", "wordsim240", "wordsim297"}
    semantic = summary["ca8_semantic"]
    assert set(semantic) == {"3cosadd", "3cosmul"}
    assert list(semantic["3cosmul"]) == ["seen", "total", "correct", "accuracy", "coverage", "categories"]
    assert list(semantic["3cosmul"]["categories"]) == ["geography", "nature", "history", "people"]
    assert semantic["3cosadd"]["total"] == 7636
    assert sum(c["seen"] for c in semantic["3cosadd"]["categories"].values()) == semantic["3cosadd"]["seen"]
    assert semantic["3cosadd"]["coverage"] == semantic["3cosadd"]["seen"] / 7636
    assert set(summary["wordsim240"]) == {"covered", "total", "coverage", "spearman", "pearson"}
    assert summary["wordsim240"]["total"] == 240


# --- (7) the vocabulary walked in chunks ---------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [96, 200, 1000])
def test_chunked_and_pruned_scoring_matches_reference(
    semantic: tuple[list[str], np.ndarray, AnalogySet], chunk_size: int
) -> None:
    """Chunks of several tiles, most questions skipping most chunks, still give the reference's counts."""
    words, raw = semantic[0], semantic[1]
    got = evaluate_analogies(vectors_from(words, raw), semantic[2], name="sem", chunk_size=chunk_size)
    assert counts(got) == reference_ca8(words, raw, semantic[2])


@pytest.mark.parametrize(("k", "method"), [(1, "3cosadd"), (1, "3cosmul"), (5, "3cosadd")])
def test_chunks_keep_ties_and_order_of_one_pass(k: int, method: Method) -> None:
    """Integer vectors make many exact ties: across chunk borders, with pruning, the top k (ties to the
    lower row) is the one a single pass over the whole vocabulary gives."""
    rng = np.random.default_rng(11)
    raw = rng.integers(-1, 2, (700, 3)).astype(np.float32)
    cand = vectors_from([str(i) for i in range(700)], raw).matrix
    abc = rng.integers(0, 700, (400, 3))
    abc[:50, 2] = abc[:50, 0]  # a repeated input
    one_pass = _rank(cand, abc, [method], k, chunk_size=700)[method]
    assert (one_pass[:, 0] >= 0).all() and len(np.unique(one_pass[:, 0])) > 10
    for chunk_size, batch_size in ((64, 7), (100, 400), (333, 1)):
        chunked = _rank(cand, abc, [method], k, batch_size=batch_size, chunk_size=chunk_size)[method]
        np.testing.assert_array_equal(chunked, one_pass)


def test_gensim_rules_in_chunks() -> None:
    path = EVAL / "ca8" / "ca_translated.txt"
    aset = load_analogies(path)
    words = vocabulary({w for qs in aset.values() for q in qs for w in q}, 0.9, 600, seed=12)
    raw = planted(words, aset, 20, seed=13)
    kv = KeyedVectors(raw.shape[1])
    kv.add_vectors(words, raw)
    want = gensim_sections(kv, path, 300_000)
    got = evaluate_analogies(
        vectors_from(words, raw), aset, name="x", rules="gensim", methods=("3cosadd",), chunk_size=64
    )
    assert {(m.category, m.method): (m.seen, m.correct) for m in got} == want


def test_files_scored_together_equal_files_scored_alone() -> None:
    sets = {name: load_analogies(EVAL / "ca8" / f"{name}.txt") for name in ("semantic", "ca_translated")}
    words = vocabulary({w for s in sets.values() for qs in s.values() for q in qs for w in q}, 0.8, 3000, 14)
    vecs = vectors_from(words, np.random.default_rng(15).standard_normal((3000, 16)).astype(np.float32))
    together = evaluate_analogy_sets(vecs, sets)
    alone = [m for name, aset in sets.items() for m in evaluate_analogies(vecs, aset, name=name)]
    assert together == alone


def test_both_methods_in_either_order_equal_each_alone() -> None:
    rng = np.random.default_rng(16)
    cand = vectors_from([str(i) for i in range(900)], rng.standard_normal((900, 8)).astype(np.float32)).matrix
    abc = rng.integers(0, 900, (300, 3))
    methods: list[Method] = ["3cosadd", "3cosmul"]
    alone = {m: _rank(cand, abc, [m], 1, chunk_size=100)[m] for m in methods}
    for order in (methods, methods[::-1]):
        both = _rank(cand, abc, order, 1, chunk_size=100)
        for m in order:
            np.testing.assert_array_equal(both[m], alone[m])


@pytest.mark.parametrize(("width", "tiles"), [(1024, 32), (1000, 31), (200, 6), (95, 32), (20, 32)])
def test_tile_max_of_strided_tiles(width: int, tiles: int) -> None:
    block = np.random.default_rng(17).standard_normal((3, width)).astype(np.float32)
    out = np.empty((tiles + 1, 3), dtype=np.float32)
    _tile_max(block, out, np.empty(3 * width, dtype=np.float32))
    for j in range(tiles):  # tile j holds the columns ≡ j (mod tiles); an empty tile is -inf
        column = block[:, j::tiles].max(axis=1) if j < width else np.full(3, -np.inf)
        np.testing.assert_array_equal(out[j], column)
    np.testing.assert_array_equal(out[tiles], block.max(axis=1))
