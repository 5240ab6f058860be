"""The eval-vocabulary user dictionary (`data/dicts/eval_vocab.txt`): the benchmark words jieba would split.

A CA8 question counts only if its four words are in the model's vocabulary, so a word jieba cuts in two
(e.g. 副院长 → 副/院长) costs every question that uses it. Each such word gets an entry with the smallest
frequency that keeps it whole when cut alone (jieba's own `suggest_freq` rule), so segmentation elsewhere
barely moves. Words jieba already keeps whole get no entry: re-adding them is a no-op for jieba-rs but
makes Python jieba add their frequency to its total a second time (14.8 M on 60.1 M for these sets), which
would change its cuts everywhere and split the two engines.

Rebuild after changing the eval sets: `python -m tasks.text.dicts` (writes `data/dicts/eval_vocab.txt`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path

from tasks import bundled
from tasks.config import EvalSets
from tasks.core.workspace import atomic_path
from tasks.text import prefix_dict
from tasks.vectors.evaluate import load_analogies, load_similarity

EVAL_DICT = bundled.root() / "data" / "dicts" / "eval_vocab.txt"


def eval_set_words(sets: EvalSets) -> dict[str, frozenset[str]]:
    """Eval set name -> the distinct words its questions or pairs use."""
    words: dict[str, frozenset[str]] = {}
    for name, path in sets.analogy.items():
        words[name] = frozenset(w for qs in load_analogies(path).values() for q in qs for w in q)
    for name, path in sets.similarity.items():
        words[name] = frozenset(w for a, b, _ in load_similarity(path) for w in (a, b))
    return words


def eval_dict_entries(words: Iterable[str]) -> list[tuple[str, int]]:
    """(word, frequency) for each word jieba's default dictionary does not keep whole, sorted by word."""
    tk = prefix_dict.tokenizer()
    return [(w, tk.suggest_freq(w)) for w in sorted(set(words)) if tk.lcut(w, HMM=False) != [w]]


def write_user_dict(entries: Iterable[tuple[str, int]], path: Path) -> int:
    """Write `word freq` lines (jieba's user-dictionary format); returns the number of entries."""
    lines = [f"{word} {freq}\n" for word, freq in entries]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def build_eval_dict(sets: Mapping[str, frozenset[str]], path: Path = EVAL_DICT) -> int:
    """Build the user dictionary from every eval set's words; returns the number of entries."""
    return write_user_dict(eval_dict_entries(w for words in sets.values() for w in words), path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=EVAL_DICT)
    args = parser.parse_args(argv)
    defaults = EvalSets()
    sets = defaults.model_copy(
        update={
            "analogy": {k: bundled.root() / v for k, v in defaults.analogy.items()},
            "similarity": {k: bundled.root() / v for k, v in defaults.similarity.items()},
        }
    )
    n = build_eval_dict(eval_set_words(sets), args.output)
    print(f"{args.output}: {n} entries")


if __name__ == "__main__":
    main()
