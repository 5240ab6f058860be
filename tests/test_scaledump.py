"""The zhwiki-scale dump: a Zipf tail of rare words glossed into real prose, and parts built in parallel that
join into one valid multistream dump, the same bytes whatever the worker count."""

from __future__ import annotations

import bz2
import math
import random
import re
from pathlib import Path

import pytest

from benchmarks import scaledump
from benchmarks.dumpgen import index_path_for
from benchmarks.scaledump import RARE_OFFSET, RARE_TYPES, build, rare_rank, rare_word, with_glosses
from tasks.config import ExtractOptions
from tasks.dump.extract import extract_dump

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora"
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason="shared corpora not beside the repo")


def test_rare_words_are_distinct_single_tokens() -> None:
    words = [rare_word(rank) for rank in range(50_000)]
    assert len(set(words)) == len(words)
    assert all(w.isascii() and w.isalpha() for w in words)  # one Latin run: one jieba token


def test_rare_ranks_follow_the_tail() -> None:
    ranks = [rare_rank(i / 20_000) for i in range(20_000)]
    assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] < RARE_TYPES
    # count ∝ 1/(r + r0): ranks below r0 take ln 2 / ln((M + r0) / r0) of all draws
    below = sum(r < RARE_OFFSET for r in ranks) / len(ranks)
    assert below == pytest.approx(math.log(2) / math.log((RARE_TYPES + RARE_OFFSET) / RARE_OFFSET), abs=1e-3)


def test_glosses_leave_the_prose_as_it_was() -> None:
    prose = ["今天，天气很好。我们去公园。", "北京是中国的首都"]
    glossed = with_glosses(prose, 5, random.Random(1))
    words = re.findall(r"（(?:英语：)?([A-Za-z ]+)）", "".join(glossed))
    assert sum(len(w.split()) for w in words) == 5
    assert [re.sub(r"（[^）]*）", "", p) for p in glossed] == prose


@needs_corpora
def test_parts_join_into_one_dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scaledump, "PART_ARTICLES", 70)  # 3 parts for 200 articles
    dump = tmp_path / "one" / "zhwiki-scaletest-pages-articles-multistream.xml.bz2"
    kinds = build(CORPORA, 200, dump, workers=1)
    assert kinds["article"] == 200 and kinds["redirect"] > 100 and kinds["Module"] == 1
    again = tmp_path / "two" / dump.name
    build(CORPORA, 200, again, workers=2)
    assert again.read_bytes() == dump.read_bytes()
    assert index_path_for(again).read_bytes() == index_path_for(dump).read_bytes()

    data = dump.read_bytes()
    lines = bz2.decompress(index_path_for(dump).read_bytes()).decode().splitlines()
    ids = [int(line.split(":")[1]) for line in lines]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == sum(kinds.values())
    for offset in sorted({int(line.split(":")[0]) for line in lines}):
        assert data[offset : offset + 3] == b"BZh"
    stats = extract_dump(dump, tmp_path / "text", options=ExtractOptions(), workers=2)
    assert stats.articles == 200 and stats.redirects == kinds["redirect"]
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((tmp_path / "text").glob("text-*.txt")))
    assert "cite web" not in text and "wikitable" not in text and "function p.main" not in text
    assert re.search(r"（[A-Z][a-z]+）", text)  # the glosses survive extraction
