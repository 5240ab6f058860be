"""Dump extraction: both layouts and any worker count give the same text; bad input fails loudly, cleanly."""

from __future__ import annotations

import bz2
import dataclasses
import io
import re
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.config import ExtractOptions
from tasks.dumpgen import DumpPage, write_dump
from tasks.extract import ExtractError, ExtractStats, Page, extract_dump, find_index, iter_pages
from tasks.wikitext import to_prose

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_MULTI = FIXTURES / "zhwiki-tiny-pages-articles-multistream.xml.bz2"
TINY_INDEX = FIXTURES / "zhwiki-tiny-pages-articles-multistream-index.txt.bz2"
TINY_SINGLE = FIXTURES / "zhwiki-tiny-pages-articles.xml.bz2"
KEEP_ALL = ExtractOptions()


def _text(out: Path, stats: ExtractStats) -> str:
    return "".join((out / name).read_text(encoding="utf-8") for name in stats.shards)


def _tiny_pages() -> list[Page]:
    """The fixture read independently of `iter_pages`: the whole document parsed at once."""
    root = ET.fromstring(bz2.decompress(TINY_SINGLE.read_bytes()))
    ns = root.tag[: root.tag.index("}") + 1]
    return [
        Page(
            title=page.findtext(ns + "title", ""),
            ns=int(page.findtext(ns + "ns", "")),
            page_id=int(page.findtext(ns + "id", "")),
            redirect=page.find(ns + "redirect") is not None,
            text=page.findtext(f"{ns}revision/{ns}text", ""),
        )
        for page in root.iter(ns + "page")
    ]


def _is_article(page: Page) -> bool:
    return page.ns == 0 and not page.redirect


def test_layouts_and_worker_counts_give_identical_output(tmp_path: Path) -> None:
    runs = {
        (dump.name, workers): extract_dump(
            dump, tmp_path / f"{dump.name}-{workers}", options=KEEP_ALL, workers=workers, chunk_bytes=1
        )
        for dump in (TINY_MULTI, TINY_SINGLE)
        for workers in (1, 2)
    }
    texts = {key: _text(tmp_path / f"{key[0]}-{key[1]}", stats) for key, stats in runs.items()}
    assert len(set(texts.values())) == 1
    counts = [dataclasses.replace(stats, bytes_in=0, shards=[]) for stats in runs.values()]
    assert counts == [counts[0]] * len(counts)
    multi_1, multi_2 = runs[TINY_MULTI.name, 1], runs[TINY_MULTI.name, 2]
    assert multi_1.shards == multi_2.shards == [f"text-{i:05d}.txt" for i in range(len(multi_1.shards))]
    assert len(multi_1.shards) > 1
    for name in multi_1.shards:
        one = (tmp_path / f"{TINY_MULTI.name}-1" / name).read_bytes()
        assert one == (tmp_path / f"{TINY_MULTI.name}-2" / name).read_bytes()


def test_output_is_the_prose_of_the_articles_in_dump_order(tmp_path: Path) -> None:
    pages = _tiny_pages()
    stats = extract_dump(TINY_MULTI, tmp_path, options=KEEP_ALL, workers=1, progress=True)
    articles = [page for page in pages if _is_article(page)]
    expected = "".join(line + "\n" for page in articles for line in to_prose(page.text))
    assert _text(tmp_path, stats) == expected
    assert (stats.articles, stats.redirects, stats.other_ns) == (
        len(articles),
        sum(page.ns == 0 and page.redirect for page in pages),
        sum(page.ns != 0 for page in pages),
    )
    assert stats.chars == len(expected) - expected.count("\n")
    assert stats.lines == expected.count("\n")
    assert stats.bytes_in == TINY_MULTI.stat().st_size
    assert stats.bytes_out == len(expected.encode())


def test_every_article_yields_text_and_no_other_page_does(tmp_path: Path) -> None:
    pages = _tiny_pages()
    stats = extract_dump(TINY_SINGLE, tmp_path, options=KEEP_ALL, workers=1)
    out = set(_text(tmp_path, stats).splitlines())
    article_lines = {line for page in pages if _is_article(page) for line in to_prose(page.text)}
    missing = [page.title for page in pages if _is_article(page) and not set(to_prose(page.text)) & out]
    assert missing == []
    others = {page.title: set(to_prose(page.text)) - article_lines for page in pages if not _is_article(page)}
    assert sum(map(len, others.values())) > 0
    assert {title: lines & out for title, lines in others.items() if lines & out} == {}


def test_disambiguation_and_short_articles_follow_the_options(tmp_path: Path) -> None:
    dump = tmp_path / "x-pages-articles.xml.bz2"
    pages = [
        DumpPage("甲", 0, 1, "'''甲'''是第一篇条目。"),
        DumpPage("甲 (消歧义)", 0, 2, "'''甲'''可以指：\n* [[甲]]\n{{disambig}}"),
        DumpPage("短", 0, 3, "短文。"),
        DumpPage("空", 0, 4, "{{stub}}"),
        DumpPage("乙", 0, 5, "#REDIRECT [[甲]]"),
    ]
    write_dump(pages, dump, multistream=False)
    strict = extract_dump(
        dump, tmp_path / "strict", options=ExtractOptions(min_chars=5, keep_disambiguation=False), workers=1
    )
    assert _text(tmp_path / "strict", strict) == "甲是第一篇条目。\n"
    assert (strict.articles, strict.disambiguation_skipped, strict.short_skipped, strict.redirects) == (
        1,
        1,
        2,
        1,
    )
    loose = extract_dump(dump, tmp_path / "loose", options=KEEP_ALL, workers=1)
    assert _text(tmp_path / "loose", loose) == "甲是第一篇条目。\n甲可以指：\n甲\n短文。\n"
    assert (loose.articles, loose.disambiguation_skipped, loose.short_skipped) == (3, 0, 1)


def test_iter_pages_reads_any_export_version() -> None:
    xml = (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">'
        "<siteinfo><sitename>W</sitename></siteinfo>"
        '<page><title>甲</title><ns>0</ns><id>7</id><revision><id>1</id><text xml:space="preserve">'
        "正文 &amp; 更多</text></revision></page>"
        '<page><title>乙</title><ns>0</ns><id>8</id><redirect title="甲" />'
        "<revision><id>2</id><text>#REDIRECT [[甲]]</text></revision></page>"
        "<page><title>Talk:甲</title><ns>1</ns><id>9</id><revision><id>3</id><text /></revision></page>"
        "</mediawiki>"
    )
    assert list(iter_pages(io.BytesIO(xml.encode()))) == [
        Page("甲", 0, 7, False, "正文 & 更多"),
        Page("乙", 0, 8, True, "#REDIRECT [[甲]]"),
        Page("Talk:甲", 1, 9, False, ""),
    ]


def test_iter_pages_memory_stays_flat() -> None:
    pages = "".join(
        f"<page><title>页{i}</title><ns>0</ns><id>{i}</id><revision><text>正文{i}。</text></revision></page>"
        for i in range(20_000)
    )
    xml = f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/">{pages}</mediawiki>'.encode()
    tracemalloc.start()
    try:
        assert sum(1 for _ in iter_pages(io.BytesIO(xml))) == 20_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the whole tree of 20 000 pages would take ~18 MB


def test_find_index(tmp_path: Path) -> None:
    assert find_index(TINY_MULTI) == TINY_INDEX
    assert find_index(TINY_SINGLE) is None
    assert find_index(tmp_path / "zhwiki-pages-articles-multistream.xml.bz2") is None


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda _: bz2.compress(b"<?xml version='1.0'?><rss><channel /></rss>"), "not a MediaWiki export"),
        (lambda _: b"", "empty file"),
        (lambda _: bz2.compress(b""), "empty, no XML"),
        (lambda _: b"<mediawiki/>", "corrupt or truncated bz2"),
        (lambda tiny: tiny[: len(tiny) // 2], "corrupt or truncated bz2"),
        (
            lambda tiny: bz2.compress(bz2.decompress(tiny)[: len(tiny) // 2]),
            r"malformed XML .*, after page \d+ '",
        ),
    ],
    ids=["not-mediawiki", "empty", "empty-bz2", "not-bz2", "truncated-bz2", "truncated-xml"],
)
def test_bad_single_stream_dump_names_the_file(
    tmp_path: Path, damage: Callable[[bytes], bytes], reason: str
) -> None:
    dump = tmp_path / "bad-pages-articles.xml.bz2"
    dump.write_bytes(damage(TINY_SINGLE.read_bytes()))
    with pytest.raises(ExtractError) as caught:
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)
    assert str(caught.value).startswith(str(dump))
    assert re.search(reason, str(caught.value))


@pytest.mark.parametrize(
    ("keep", "reason"),
    [(lambda n: n - 20, "corrupt or truncated bz2"), (lambda n: n // 2, "does not match")],
    ids=["last-stream-cut", "streams-missing"],
)
def test_truncated_multistream_dump_names_the_file(
    tmp_path: Path, keep: Callable[[int], int], reason: str
) -> None:
    data = TINY_MULTI.read_bytes()
    dump = tmp_path / "cut-multistream.xml.bz2"
    dump.write_bytes(data[: keep(len(data))])
    (tmp_path / "cut-multistream-index.txt.bz2").write_bytes(TINY_INDEX.read_bytes())
    with pytest.raises(ExtractError) as caught:
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)
    assert str(dump) in str(caught.value)
    assert reason in str(caught.value)


def test_failed_run_leaves_only_complete_shards(tmp_path: Path) -> None:
    clean = extract_dump(TINY_MULTI, tmp_path / "clean", options=KEEP_ALL, workers=1, chunk_bytes=1)
    offsets = sorted(
        {int(line.split(b":")[0]) for line in bz2.decompress(TINY_INDEX.read_bytes()).splitlines()}
    )
    data = bytearray(TINY_MULTI.read_bytes())
    data[offsets[1] + 40 : offsets[1] + 400] = bytes(360)  # the second chunk's stream is damaged
    dump = tmp_path / "damaged-multistream.xml.bz2"
    dump.write_bytes(bytes(data))
    (tmp_path / "damaged-multistream-index.txt.bz2").write_bytes(TINY_INDEX.read_bytes())
    out = tmp_path / "out"
    with pytest.raises(ExtractError, match="damaged-multistream.xml.bz2"):
        extract_dump(dump, out, options=KEEP_ALL, workers=1, chunk_bytes=1)
    assert sorted(p.name for p in out.iterdir()) == ["text-00000.txt"]
    assert (out / "text-00000.txt").read_bytes() == (tmp_path / "clean" / clean.shards[0]).read_bytes()


def test_stale_shards_of_an_earlier_run_are_removed(tmp_path: Path) -> None:
    (tmp_path / "text-00099.txt").write_text("旧的\n", encoding="utf-8")
    stats = extract_dump(TINY_SINGLE, tmp_path, options=KEEP_ALL, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == stats.shards
