from pathlib import Path

from tasks.config import EvalSets
from tasks.text.dicts import EVAL_DICT, build_eval_dict, eval_set_words
from tasks.text.segment import load_engine, read_user_dict

REPO = Path(__file__).resolve().parents[1]


def repo_eval_sets() -> EvalSets:
    defaults = EvalSets()
    return EvalSets(
        analogy={k: REPO / v for k, v in defaults.analogy.items()},
        similarity={k: REPO / v for k, v in defaults.similarity.items()},
    )


def test_committed_eval_dictionary_is_what_the_builder_writes(tmp_path: Path) -> None:
    words = eval_set_words(repo_eval_sets())
    assert sum(map(len, words.values())) > len(set().union(*words.values())) == 3608
    n = build_eval_dict(words, tmp_path / "eval_vocab.txt")
    assert (tmp_path / "eval_vocab.txt").read_bytes() == EVAL_DICT.read_bytes()
    entries = read_user_dict(EVAL_DICT)
    assert len(entries) == n == 255 and all(freq is not None and freq >= 1 for _, freq, _ in entries)
    assert {w for w, _, _ in entries} <= set().union(*words.values())


def test_eval_words_jieba_splits_are_kept_whole_with_the_dictionary() -> None:
    for engine in ("cjieba", "jieba", "rjieba"):
        plain, with_dict = load_engine(engine), load_engine(engine, (EVAL_DICT,))
        assert plain("副院长", True) == ["副", "院长"]
        assert with_dict("副院长", True) == ["副院长"]
        assert with_dict("他是上海卫视的副院长", True).count("上海卫视") == 1
