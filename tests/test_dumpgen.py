"""The dump builder writes what Wikimedia writes: export-0.11 XML, multistream bz2 framing and its index."""

from __future__ import annotations

import bz2
import html
import itertools
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.dumpgen import (
    FOOTER,
    HEADER,
    Article,
    Draft,
    DumpPage,
    LinkIndex,
    bench_pages,
    clean_title,
    index_path_for,
    mark_paragraph,
    mediawiki_sha1,
    page_kind,
    page_xml,
    read_news,
    sections_from_extractor_text,
    to_hans,
    write_dump,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
TINY_MULTI = FIXTURES / "zhwiki-tiny-pages-articles-multistream.xml.bz2"
TINY_INDEX = FIXTURES / "zhwiki-tiny-pages-articles-multistream-index.txt.bz2"
TINY_SINGLE = FIXTURES / "zhwiki-tiny-pages-articles.xml.bz2"
SAMPLE = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2"
CORPORA = REPO.parent / "shared" / "data" / "corpora"
NS = "{http://www.mediawiki.org/xml/export-0.11/}"
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason="shared corpora not beside the repo")


def split_streams(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, decompressed) for each bz2 stream, each decompressed on its own from its first byte."""
    streams, offset = [], 0
    while offset < len(data):
        unpacker = bz2.BZ2Decompressor()
        streams.append((offset, unpacker.decompress(data[offset:])))
        assert unpacker.eof
        offset = len(data) - len(unpacker.unused_data)
    return streams


def parse_pages(fragment: bytes) -> list[ET.Element]:
    """`<page>` elements of a stream that holds only pages, wrapped the way a reader of one stream must."""
    root = ET.fromstring(
        b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/">' + fragment + FOOTER.encode()
    )
    return root.findall(f"{NS}page")


def read_index(path: Path) -> list[tuple[int, int, str]]:
    lines = bz2.decompress(path.read_bytes()).decode().splitlines()
    return [(int(o), int(i), html.unescape(t)) for o, i, t in (line.split(":", 2) for line in lines)]


def page_fields(page: ET.Element) -> dict[str, str | None]:
    redirect = page.find(f"{NS}redirect")
    return {
        "title": page.findtext(f"{NS}title"),
        "ns": page.findtext(f"{NS}ns"),
        "id": page.findtext(f"{NS}id"),
        "redirect": None if redirect is None else redirect.get("title"),
        "text": page.findtext(f"{NS}revision/{NS}text"),
    }


@pytest.fixture(scope="module")
def tiny_root() -> ET.Element:
    return ET.fromstring(bz2.decompress(TINY_SINGLE.read_bytes()))


def test_multistream_frames_header_pages_and_footer_in_separate_streams() -> None:
    streams = split_streams(TINY_MULTI.read_bytes())
    header, footer = streams[0][1].decode(), streams[-1][1].decode()
    assert header.startswith('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/"')
    assert header.endswith("  </siteinfo>\n")
    assert footer == "</mediawiki>\n"
    page_counts = [len(parse_pages(body)) for _, body in streams[1:-1]]
    assert all(0 < n <= 10 for n in page_counts) and page_counts[:-1] == [10] * (len(page_counts) - 1)


def test_index_offsets_point_at_the_streams_holding_the_listed_pages() -> None:
    streams = dict(split_streams(TINY_MULTI.read_bytes()))
    by_offset: dict[int, list[tuple[int, str]]] = {}
    for offset, page_id, title in read_index(TINY_INDEX):
        by_offset.setdefault(offset, []).append((page_id, title))
    assert set(by_offset) == set(list(streams)[1:-1])
    for offset, listed in by_offset.items():
        pages = [page_fields(p) for p in parse_pages(streams[offset])]
        assert listed == [(int(str(p["id"])), p["title"]) for p in pages]


def test_single_stream_holds_the_same_xml_as_the_multistream(tiny_root: ET.Element) -> None:
    joined = b"".join(body for _, body in split_streams(TINY_MULTI.read_bytes()))
    assert len(split_streams(TINY_SINGLE.read_bytes())) == 1
    assert bz2.decompress(TINY_SINGLE.read_bytes()) == joined
    assert tiny_root.tag == f"{NS}mediawiki" and tiny_root.get("version") == "0.11"
    assert tiny_root.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh"


def test_siteinfo_is_zhwikis(tiny_root: ET.Element) -> None:
    site = tiny_root.find(f"{NS}siteinfo")
    assert site is not None and site.findtext(f"{NS}dbname") == "zhwiki"
    names = {int(str(n.get("key"))): n.text for n in site.iter(f"{NS}namespace")}
    assert {0: None, 1: "Talk", 4: "Wikipedia", 10: "Template", 14: "Category", 828: "Module"}.items() <= (
        names.items()
    )


def test_fixture_has_every_kind_of_page(tiny_root: ET.Element) -> None:
    pages = [page_fields(p) for p in tiny_root.iter(f"{NS}page")]
    kinds = Counter(
        page_kind(DumpPage(str(p["title"]), int(str(p["ns"])), 0, "", p["redirect"])) for p in pages
    )
    assert kinds["article"] >= 12 and kinds["redirect"] >= 2
    assert sum(n for kind, n in kinds.items() if kind not in ("article", "redirect")) >= 2
    ids = [int(str(p["id"])) for p in pages]
    assert ids == sorted(set(ids))
    raw = {p["title"]: p["text"] for p in pages}
    for name in ("面天樹蛙", "匹配Z变换方法"):
        assert raw[name] == (FIXTURES / "wikitext" / f"{name}.wikitext").read_text(encoding="utf-8")


def test_redirects_carry_their_target_as_redirect_title(tiny_root: ET.Element) -> None:
    for page in map(page_fields, tiny_root.iter(f"{NS}page")):
        target = re.match(r"#(?:REDIRECT|重定向) \[\[([^\]]+)\]\]", str(page["text"]))
        assert (target.group(1) if target else None) == page["redirect"]


def test_text_carries_mediawiki_bytes_and_base36_sha1(tiny_root: ET.Element) -> None:
    assert mediawiki_sha1("") == "phoiac9h4m842xq45sp7s6u21eteeq1"
    for revision in tiny_root.iter(f"{NS}revision"):
        text = revision.find(f"{NS}text")
        assert text is not None and text.text is not None
        assert int(str(text.get("bytes"))) == len(text.text.encode())
        assert text.get("sha1") == revision.findtext(f"{NS}sha1") == mediawiki_sha1(text.text)


SMALL = [
    DumpPage("甲 & 乙", 0, 3, "'''甲'''是<b>粗</b> & \"引号\" 的[[乙]]。\n\n== 标题 ==\n正文。"),
    DumpPage("甲", 0, 5, "#REDIRECT [[甲 & 乙]]", redirect="甲 & 乙"),
    DumpPage("Talk:甲 & 乙", 1, 8, "讨论。--[[User:A|A]]"),
]


def test_write_dump_is_byte_deterministic_and_round_trips(tmp_path: Path) -> None:
    first = write_dump(SMALL, tmp_path / "a" / "x-multistream.xml.bz2", multistream=True, pages_per_stream=2)
    second = write_dump(SMALL, tmp_path / "b" / "x-multistream.xml.bz2", multistream=True, pages_per_stream=2)
    assert first is not None and second is not None
    assert first.read_bytes() == second.read_bytes()
    assert (tmp_path / "a" / "x-multistream.xml.bz2").read_bytes() == (
        tmp_path / "b" / "x-multistream.xml.bz2"
    ).read_bytes()
    root = ET.fromstring(bz2.decompress((tmp_path / "a" / "x-multistream.xml.bz2").read_bytes()))
    parsed = [page_fields(p) for p in root.iter(f"{NS}page")]
    assert [(p["title"], p["text"], p["redirect"]) for p in parsed] == [
        (p.title, p.text, p.redirect) for p in SMALL
    ]
    offsets = [offset for offset, _ in split_streams((tmp_path / "a" / "x-multistream.xml.bz2").read_bytes())]
    expected = [(offsets[1], 3, "甲 & 乙"), (offsets[1], 5, "甲"), (offsets[2], 8, "Talk:甲 & 乙")]
    assert read_index(first) == expected


def test_page_xml_is_indented_like_real_dumps() -> None:
    lines = page_xml(SMALL[1]).splitlines()
    assert lines[:5] == [
        "  <page>",
        "    <title>甲</title>",
        "    <ns>0</ns>",
        "    <id>5</id>",
        '    <redirect title="甲 &amp; 乙" />',
    ]
    assert lines[5] == "    <revision>" and lines[-2:] == ["    </revision>", "  </page>"]
    assert "      <model>wikitext</model>" in lines and "      <format>text/x-wiki</format>" in lines


def test_write_dump_leaves_nothing_behind_when_it_fails(tmp_path: Path) -> None:
    def broken() -> Iterator[DumpPage]:
        yield SMALL[0]
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        write_dump(broken(), tmp_path / "x-multistream.xml.bz2", multistream=True)
    assert list(tmp_path.iterdir()) == []


def test_index_is_named_as_wikimedia_names_it() -> None:
    dump = Path("zhwiki-sample-pages-articles-multistream.xml.bz2")
    assert index_path_for(dump).name == "zhwiki-sample-pages-articles-multistream-index.txt.bz2"


def unmark(wikitext: str) -> str:
    """Undo what mark_paragraph adds, as an extractor would."""
    text = re.sub(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", "", wikitext)
    text = re.sub(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]", r"\1", text).replace("'''", "")
    text = re.sub(
        r"-\{zh-(?:hans|cn):([^;]*);.*?\}-|-\{([^{}]*)\}-", lambda m: m.group(1) or m.group(2), text
    )
    return html.unescape(text)


@pytest.mark.parametrize("seed", range(12))
def test_marked_paragraph_keeps_the_prose(seed: int) -> None:
    prose = (
        "数学是研究数量、结构以及空间等概念的一门学科。物理学家牛顿·艾萨克在《自然哲学的数学原理》中提出了运动定律。"
        * 3
    )
    draft = Draft("数学", False, random.Random(seed), LinkIndex(["数学", "物理学", "空间", "运动定律"]))
    marked = mark_paragraph(prose, draft, lead=True)
    assert marked.startswith("'''数学'''") and "[[" in marked
    assert to_hans(unmark(marked)) == to_hans(prose)


def test_marked_paragraph_leaves_existing_markup_alone() -> None:
    prose = "街-{庄}-之上设区，后属-{zh-hans:空间;zh-hant:空間;}-。空间很大。"
    draft = Draft("X", False, random.Random(1), LinkIndex(["空间", "设区"]))
    marked = mark_paragraph(prose, draft, lead=False)
    assert "-{庄}-" in marked and "-{zh-hans:空间;zh-hant:空間;}-" in marked


def test_wikiextractor_text_loses_the_title_line_and_splits_at_heading_gaps() -> None:
    text = "数学\n\n数学是学科。\n\n它很古老。\n\n\n历史悠久。\n\n\n\n"
    assert sections_from_extractor_text("数学", text) == (("数学是学科。", "它很古老。"), ("历史悠久。",))


def test_titles_are_made_valid() -> None:
    assert clean_title("iPhone_[测试]|x") == "IPhone ［测试］｜x"


def sample_counts_documented() -> dict[str, int]:
    readme = (SAMPLE.parent / "README.md").read_text(encoding="utf-8")
    return {k: int(v) for k, v in re.findall(r"^\| `(\w+)` \| ([\d]+) \|", readme, re.M)}


def test_sample_matches_its_readme_and_budget() -> None:
    assert SAMPLE.stat().st_size <= 8_000_000
    root = ET.fromstring(bz2.decompress(SAMPLE.read_bytes()))
    pages = [page_fields(p) for p in root.iter(f"{NS}page")]
    kinds = Counter(
        page_kind(DumpPage(str(p["title"]), int(str(p["ns"])), 0, "", p["redirect"])) for p in pages
    )
    assert dict(kinds) == sample_counts_documented()
    ids = [int(str(p["id"])) for p in pages]
    assert ids == sorted(set(ids)) and len({p["title"] for p in pages}) == len(pages)


@needs_corpora
def test_news_items_become_articles_without_credit_lines() -> None:
    items = list(itertools.islice(read_news(CORPORA / "xwlb_cctv_news_2012-2026.jsonl.xz"), 50))
    assert all(isinstance(a, Article) and a.date and not a.title.startswith("[视频]") for a in items)
    assert not any("视频编辑" in p for a in items for p in a.paragraphs())
    assert len({a.title for a in items}) == len(items)


@needs_corpora
def test_bench_pages_stop_near_the_target() -> None:
    pages = list(bench_pages(CORPORA, 400_000))
    sizes = [len(page_xml(p).encode()) for p in pages]
    total = len(HEADER.encode()) + len(FOOTER) + sum(sizes)
    assert total - sizes[-1] < 400_000 <= total
    assert len({p.page_id for p in pages}) == len({p.title for p in pages}) == len(pages)
