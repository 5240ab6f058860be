"""`zhvec similar`, `zhvec analogy` and the functions behind them; `zhvec evaluate` on files given by name."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from scipy import stats

from flows.cli import main
from tasks.core.records import Metric, PointResult
from tasks.results.store import Store
from tasks.vectors.evaluate import Vectors, evaluate_analogies, load_analogies, load_vectors, vectors_from
from tasks.vectors.query import NoModelError, UnknownWordError, analogy, best_model, similar

# 2-d directions (degrees) with lengths 1..n, so only the angle matters: cos(dX, dY) = cos(X − Y)
ANGLES = (0, 10, 30, 60, 90, 135, 180)


def angle_vectors() -> tuple[list[str], np.ndarray]:
    words = [f"d{t}" for t in ANGLES]
    raw = np.array(
        [
            [(i + 1) * math.cos(math.radians(t)), (i + 1) * math.sin(math.radians(t))]
            for i, t in enumerate(ANGLES)
        ],
        dtype=np.float32,
    )
    return words, raw


@pytest.fixture
def vecs() -> Vectors:
    return vectors_from(*angle_vectors())


def save_kv(path: Path, words: list[str], raw: np.ndarray) -> Path:
    kv = KeyedVectors(raw.shape[1])
    kv.add_vectors(words, raw)
    kv.save(str(path))
    return path


def test_similar_ranks_by_cosine_without_the_word(vecs: Vectors) -> None:
    hits = similar(vecs, "d0", n=3)
    assert [h.word for h in hits] == ["d10", "d30", "d60"]
    assert [h.score for h in hits] == pytest.approx(
        [math.cos(math.radians(t)) for t in (10, 30, 60)], abs=1e-6
    )
    assert [h.word for h in similar(vecs, "d0", n=100)] == [f"d{t}" for t in ANGLES[1:]]


def test_similar_tie_goes_to_the_more_frequent_word(vecs: Vectors) -> None:
    words, raw = angle_vectors()
    tied = vectors_from([*words, "twin"], np.vstack([raw, raw[1:2]]))  # "twin" has d10's direction
    assert [h.word for h in similar(tied, "d0", n=2)] == ["d10", "twin"]


def test_analogy_excludes_the_question_words(vecs: Vectors) -> None:
    # d0 : d30 :: d60 : ? — 3CosAdd scores cos(x,b) − cos(x,a) + cos(x,c): d90 1.366 > d135 0.707
    hits = analogy(vecs, "d0", "d30", "d60", "3cosadd", n=2)
    assert [h.word for h in hits] == ["d90", "d135"]
    assert hits[0].score == pytest.approx(math.cos(math.radians(60)) + math.cos(math.radians(30)), abs=1e-6)
    assert {h.word for h in analogy(vecs, "d0", "d30", "d60", n=10)}.isdisjoint({"d0", "d30", "d60"})
    # 3CosMul = sim_b·sim_c/(sim_a + 0.01), sim = (cos + 1)/2: d180, opposite a, wins with
    # 0.067·0.25/0.01 = 1.675 over d135 (1.491) and d90 (1.372)
    mul = analogy(vecs, "d0", "d30", "d60", "3cosmul", n=3)
    sim_b, sim_c = ((math.cos(math.radians(t)) + 1) / 2 for t in (150, 120))
    assert [h.word for h in mul] == ["d180", "d135", "d90"]
    assert mul[0].score == pytest.approx(sim_b * sim_c / 0.01, rel=1e-5)


def test_analogy_answer_is_what_evaluation_counts(tmp_path: Path, vecs: Vectors) -> None:
    path = tmp_path / "q.txt"
    path.write_text(": c\nd0 d30 d60 d90\nd0 d30 d90 d135\n", encoding="utf-8")
    for method in ("3cosadd", "3cosmul"):
        correct = [
            m.correct for m in evaluate_analogies(vecs, load_analogies(path), name="q", methods=(method,))
        ]
        answers = [analogy(vecs, "d0", "d30", c, method, n=1)[0].word for c in ("d60", "d90")]
        assert correct[0] == sum(a == d for a, d in zip(answers, ("d90", "d135"), strict=True))


def test_unknown_words_are_all_named(vecs: Vectors) -> None:
    with pytest.raises(UnknownWordError, match="not in the model's vocabulary: zz1, zz2"):
        analogy(vecs, "zz1", "d0", "zz2")
    with pytest.raises(UnknownWordError, match="vocabulary: 猫"):
        similar(vecs, "猫")


# --- the default model: best point of the latest completed run ----------------------------------------


def record_run(store: Store, status: str, points: dict[str, tuple[Path, float]]) -> str:
    run_id = store.start_run("p", {}, "dump.xml.bz2", "0" * 64, "v1")
    for point_id, (vectors_dir, score) in points.items():
        store.add_point(run_id, PointResult(point_id, point_id, {}, "completed", 7, 7, str(vectors_dir)))
        store.add_metrics(
            run_id,
            point_id,
            [
                Metric("ca8_semantic", "all", "3cosadd", "ca8", score, 10, 20, int(score * 10)),
                Metric("wordsim240", "all", "spearman", "ca8", score / 2, 200, 240),
            ],
        )
    store.finish_run(run_id, status)
    return run_id


def test_best_model_is_the_best_point_of_the_latest_completed_run(tmp_path: Path) -> None:
    with Store(tmp_path / "r.duckdb") as store:
        with pytest.raises(NoModelError, match="no completed run"):
            best_model(store)
        record_run(store, "completed", {"old": (tmp_path / "old", 0.9)})
        record_run(store, "completed", {"low": (tmp_path / "low", 0.2), "high": (tmp_path / "high", 0.4)})
        record_run(store, "failed", {"newest": (tmp_path / "newest", 0.99)})
        assert best_model(store) == tmp_path / "high" / "vectors.kv"


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err.strip()


def test_cli_similar_and_analogy_default_to_the_best_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.duckdb"
    (tmp_path / "pipelines.yaml").write_text(
        f"database: {db}\ndefault: p\npipelines:\n  p:\n    dump: d.xml.bz2\n", encoding="utf-8"
    )
    config = ["--config", str(tmp_path / "pipelines.yaml")]
    code, _, err = cli(["similar", "d0", *config], capsys)
    assert (code, err) == (
        2,
        f"zhvec similar: error: no results database yet: {db} (run `zhvec run` first, or pass --model)",
    )

    (tmp_path / "best").mkdir()
    save_kv(tmp_path / "best" / "vectors.kv", *angle_vectors())
    with Store(db) as store:
        record_run(store, "completed", {"a": (tmp_path / "worse", 0.1), "b": (tmp_path / "best", 0.3)})

    code, out, _ = cli(["similar", "d30", "-n", "2", "--json", *config], capsys)
    result = json.loads(out)
    assert code == 0
    assert result["model"] == str(tmp_path / "best" / "vectors.kv")
    assert [r["word"] for r in result["results"]] == ["d10", "d0"]

    code, out, _ = cli(["analogy", "d0", "d30", "d60", "--method", "3cosmul", "-n", "1", *config], capsys)
    assert code == 0
    assert out.splitlines()[0] == f"model: {tmp_path / 'best' / 'vectors.kv'}"
    assert out.splitlines()[1].split() == ["1", "1.6747", "d180"]

    code, _, err = cli(["analogy", "d0", "猫", "d60", *config], capsys)
    assert (code, err) == (2, "zhvec analogy: error: not in the model's vocabulary: 猫")


def test_cli_query_with_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    words, raw = angle_vectors()
    kv = KeyedVectors(2)
    kv.add_vectors(words, raw)
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    code, out, _ = cli(["analogy", "d0", "d30", "d60", "--model", str(tmp_path / "v.bin"), "--json"], capsys)
    assert code == 0 and json.loads(out)["results"][0]["word"] == "d90"
    code, _, err = cli(["similar", "d0", "--model", str(tmp_path / "nope.kv")], capsys)
    assert (code, err) == (
        2,
        f"zhvec similar: error: --model: vectors file not found: {tmp_path / 'nope.kv'}",
    )


# --- zhvec evaluate with files given on the command line -----------------------------------------------


def test_cli_evaluate_named_files_per_category(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_kv(tmp_path / "v.kv", *angle_vectors())
    (tmp_path / "my_analogies.txt").write_text(
        ": plus30\nd0 d30 d60 d90\nd0 d30 zz d90\n: none\nd0 d30 d60 zz\n"
    )
    (tmp_path / "pairs.txt").write_text("d0\td10\t9\nd0\td90\t4\nd0\td180\t1\nd0\tzz\t3\n")
    args = ["evaluate", str(tmp_path / "v.kv"), "--analogy", str(tmp_path / "my_analogies.txt")]
    code, out, _ = cli([*args, "--similarity", str(tmp_path / "pairs.txt"), "--json"], capsys)
    summary = json.loads(out)
    assert code == 0
    assert set(summary) == {"my_analogies", "pairs"}
    add = summary["my_analogies"]["3cosadd"]
    assert (add["seen"], add["total"], add["correct"], add["coverage"]) == (2, 3, 1, 2 / 3)
    assert add["categories"]["plus30"] == {
        "seen": 1,
        "total": 2,
        "correct": 1,
        "accuracy": 1.0,
        "coverage": 0.5,
    }
    assert add["categories"]["none"]["correct"] == 0
    cosines = [math.cos(math.radians(t)) for t in (10, 90, 180)]
    pearson = stats.pearsonr([9, 4, 1], cosines).statistic
    assert summary["pairs"] == {
        "covered": 3,
        "total": 4,
        "coverage": 0.75,
        "spearman": 1.0,
        "pearson": pytest.approx(pearson, abs=1e-6),
    }

    code, out, _ = cli([*args, "--rules", "gensim"], capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3  # 3cosadd only: the file and its two categories
    assert lines[0].split()[:3] == ["my_analogies", "3cosadd:", "1.0000"]  # gensim skips the unknown answer
    assert "seen 1/3, coverage 33.3%" in lines[0]


def test_cli_evaluate_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_kv(tmp_path / "v.kv", *angle_vectors())
    bad = tmp_path / "bad.txt"
    bad.write_text(": c\nd0 d30 d60\n", encoding="utf-8")
    code, _, err = cli(["evaluate", str(tmp_path / "v.kv"), "--analogy", str(bad)], capsys)
    assert (code, err) == (2, f"zhvec evaluate: error: {bad}:2: expected 4 words `a b c d`, got 3")
    code, _, err = cli(
        ["evaluate", str(tmp_path / "v.kv"), "--similarity", str(tmp_path / "none.txt")], capsys
    )
    assert (code, err) == (2, f"zhvec evaluate: error: --similarity: file not found: {tmp_path / 'none.txt'}")
    code, _, err = cli(["evaluate", str(tmp_path / "v.kv"), "--top-n", "0"], capsys)
    assert (code, err) == (2, "zhvec evaluate: error: --top-n must be at least 1, got 0")


def test_loaded_model_answers_like_the_in_memory_one(tmp_path: Path, vecs: Vectors) -> None:
    loaded = load_vectors(save_kv(tmp_path / "v.kv", *angle_vectors()))
    assert similar(loaded, "d60", n=6) == similar(vecs, "d60", n=6)
