"""Dump extraction: both layouts and any worker count give the same text; bad input fails loudly, keeps the
finished shards and resumes from them."""

from __future__ import annotations

import bz2
import dataclasses
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.dumpgen import FOOTER, HEADER, DumpPage, page_xml, write_dump
from tasks.config import ExtractOptions
from tasks.dump import extract
from tasks.dump.errors import ExtractError
from tasks.dump.extract import ExtractStats, _chunks, extract_dump
from tasks.dump.fetch import find_index
from tasks.dump.pages import Page

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
TINY_MULTI = FIXTURES / "zhwiki-tiny-pages-articles-multistream.xml.bz2"
TINY_INDEX = FIXTURES / "zhwiki-tiny-pages-articles-multistream-index.txt.bz2"
TINY_SINGLE = FIXTURES / "zhwiki-tiny-pages-articles.xml.bz2"
SAMPLE = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2"
SAMPLE_INDEX = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream-index.txt.bz2"
KEEP_ALL = ExtractOptions()


def _text(out: Path, stats: ExtractStats) -> str:
    return "".join((out / name).read_text(encoding="utf-8") for name in stats.shards)


def _tiny_pages() -> list[Page]:
    """The fixture read independently of the extractor: the whole document parsed by ElementTree."""
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


def _prose(pages: list[Page]) -> str:
    from tasks.dump.wikitext import to_prose

    return "".join(line + "\n" for page in pages if _is_article(page) for line in to_prose(page.text))


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    """The first ~1.5 MB of the bundled sample's pages, as a complete export document."""
    xml = bz2.decompress(SAMPLE.read_bytes())
    cut = xml.index(b"</page>", 1_500_000) + len(b"</page>")
    return xml[:cut] + b"\n" + FOOTER.encode()


def _single_stream(path: Path, xml: bytes) -> Path:
    """`xml` as a single-stream dump with 100 kB bz2 blocks, so a test dump has many blocks."""
    path.write_bytes(bz2.compress(xml, 1))
    return path


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
    counts = [dataclasses.replace(stats, bytes_in=0, shards=[], per_shard=[]) for stats in runs.values()]
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
    expected = _prose(pages)
    assert _text(tmp_path, stats) == expected
    assert (stats.articles, stats.redirects, stats.other_ns) == (
        sum(map(_is_article, pages)),
        sum(page.ns == 0 and page.redirect for page in pages),
        sum(page.ns != 0 for page in pages),
    )
    assert stats.chars == len(expected) - expected.count("\n")
    assert stats.lines == expected.count("\n")
    assert stats.bytes_in == TINY_MULTI.stat().st_size
    assert stats.bytes_out == len(expected.encode())


@pytest.mark.parametrize("dump", [TINY_MULTI, TINY_SINGLE], ids=["multistream", "single"])
def test_per_shard_stats_add_up(tmp_path: Path, dump: Path) -> None:
    stats = extract_dump(dump, tmp_path, options=KEEP_ALL, workers=2, chunk_bytes=8000)
    assert [s.name for s in stats.per_shard] == stats.shards and len(stats.shards) > 1
    for field in ("articles", "redirects", "other_ns", "chars", "lines", "bytes_out"):
        assert sum(getattr(s, field) for s in stats.per_shard) == getattr(stats, field)
    assert sum(s.bytes_in for s in stats.per_shard) == dump.stat().st_size
    assert sum(s.xml_bytes for s in stats.per_shard) < len(bz2.decompress(TINY_SINGLE.read_bytes()))
    assert all(s.seconds > 0 and not s.resumed for s in stats.per_shard)
    for shard in stats.per_shard:
        assert (tmp_path / shard.name).stat().st_size == shard.bytes_out
        record = json.loads((tmp_path / shard.name).with_suffix(".json").read_text(encoding="utf-8"))
        assert record["stats"] == dataclasses.asdict(shard)


def test_every_article_yields_text_and_no_other_page_does(tmp_path: Path) -> None:
    from tasks.dump.wikitext import to_prose

    pages = _tiny_pages()
    stats = extract_dump(TINY_SINGLE, tmp_path, options=KEEP_ALL, workers=1)
    out = set(_text(tmp_path, stats).splitlines())
    article_lines = {line for page in pages if _is_article(page) for line in to_prose(page.text)}
    missing = [page.title for page in pages if _is_article(page) and not set(to_prose(page.text)) & out]
    assert missing == []
    others = {page.title: set(to_prose(page.text)) - article_lines for page in pages if not _is_article(page)}
    assert sum(map(len, others.values())) > 0
    assert {title: lines & out for title, lines in others.items() if lines & out} == {}


def test_sample_dump_every_article_yields_text_and_no_other_page_does(tmp_path: Path) -> None:
    from tasks.dump.wikitext import to_prose

    root = ET.fromstring(bz2.decompress(SAMPLE.read_bytes()))
    ns = root.tag[: root.tag.index("}") + 1]
    pages = [
        Page(
            title=page.findtext(ns + "title", ""),
            ns=int(page.findtext(ns + "ns", "")),
            page_id=int(page.findtext(ns + "id", "")),
            redirect=page.find(ns + "redirect") is not None,
            text=page.findtext(f"{ns}revision/{ns}text", ""),
        )
        for page in root.iter(ns + "page")
    ]
    prose = {page.page_id: to_prose(page.text) for page in pages}
    articles = [page for page in pages if _is_article(page)]
    stats = extract_dump(SAMPLE, tmp_path, options=KEEP_ALL, workers=2)
    assert [page.title for page in articles if not prose[page.page_id]] == []
    assert (stats.articles, stats.short_skipped) == (len(articles), 0)
    text = _text(tmp_path, stats)
    assert text == "".join(line + "\n" for page in articles for line in prose[page.page_id])
    out = set(text.splitlines())
    article_lines = {line for page in articles for line in prose[page.page_id]}
    others = [page for page in pages if not _is_article(page)]
    assert sum(bool(prose[page.page_id]) for page in others) > 100  # they do have prose of their own
    leaked = {page.title: set(prose[page.page_id]) - article_lines & out for page in others}
    assert {title: lines for title, lines in leaked.items() if lines} == {}


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


def test_any_export_version_entities_and_empty_texts(tmp_path: Path) -> None:
    header = (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">\n'
        "<siteinfo><sitename>W</sitename></siteinfo>\n"
    )
    pages = [
        "<page><title>甲 &amp; 乙</title><ns>0</ns><id>7</id><revision><id>1</id>"
        '<text xml:space="preserve">正文 &amp; 更多 &lt;b&gt; &#20013;&#x6587; &quot;引&quot; &amp;lt;</text>'
        "</revision></page>\n",
        '<page><title>乙</title><ns>0</ns><id>8</id><redirect title="甲" />'
        "<revision><id>2</id><text>#REDIRECT [[甲]]</text></revision></page>\n",
        "<page><title>Talk:甲</title><ns>1</ns><id>9</id><revision><id>3</id><text>讨论</text></revision></page>\n",
        "<page><title>丙</title><ns>0</ns><id>10</id>"
        '<revision><id>4</id><text bytes="0" /></revision></page>\n',
        "<page><title>丁</title><ns>0</ns><id>11</id><revision><id>5</id><text>旧版。</text></revision>"
        "<revision><id>6</id><text>新版。</text></revision></page>\n",
    ]
    single = _single_stream(
        tmp_path / "v10-pages-articles.xml.bz2", (header + "".join(pages) + FOOTER).encode()
    )
    multi = tmp_path / "v10-pages-articles-multistream.xml.bz2"
    _write_multistream(multi, header.encode(), [page.encode() for page in pages], per_stream=2)
    for dump in (single, multi):
        stats = extract_dump(dump, tmp_path / f"out-{dump.name}", options=KEEP_ALL, workers=1, chunk_bytes=1)
        assert _text(tmp_path / f"out-{dump.name}", stats) == '正文 & 更多 中文 "引" <\n新版。\n'
        assert (stats.articles, stats.redirects, stats.other_ns, stats.short_skipped) == (2, 1, 1, 1)


def test_find_index(tmp_path: Path) -> None:
    assert find_index(TINY_MULTI) == TINY_INDEX
    assert find_index(TINY_SINGLE) is None
    assert find_index(tmp_path / "zhwiki-pages-articles-multistream.xml.bz2") is None


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda _: bz2.compress(b"<?xml version='1.0'?><rss><channel /></rss>"), "not a MediaWiki export"),
        (lambda _: bz2.compress(b"<feed><entry><page>x</page></entry></feed>"), "not a MediaWiki export"),
        (lambda _: b"", "empty file"),
        (lambda _: bz2.compress(b""), "empty, no XML"),
        (lambda _: b"<mediawiki/>", r"not a bz2 file \(byte 0 is b'<med'"),
        (lambda tiny: tiny[: len(tiny) // 2], r"truncated: the bz2 data ends at \d+ bytes before the end of"),
        (
            lambda tiny: bz2.compress(bz2.decompress(tiny)[: len(tiny) // 2]),
            r"malformed XML \(a <page> is not closed .*\), after page \d+ '.*', near decompressed byte \d+",
        ),
        (
            lambda tiny: bz2.compress(bz2.decompress(tiny).replace(b"</mediawiki>", b"")),
            r"malformed XML \(the dump ends without </mediawiki>",
        ),
        (
            lambda tiny: bz2.compress(bz2.decompress(tiny).replace(b"</page>", b"</page>junk", 1)),
            r"malformed XML \(unexpected content b'junk.*' between pages\), after page \d+",
        ),
    ],
    ids=[
        "not-mediawiki",
        "other-xml-with-pages",
        "empty",
        "empty-bz2",
        "not-bz2",
        "truncated-bz2",
        "truncated-xml",
        "no-footer",
        "junk",
    ],
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
    ("source", "index", "keep", "reason"),
    [
        (SAMPLE, SAMPLE_INDEX, lambda n: n // 2, "1.4 MB of at least 2.8 MB"),
        (TINY_MULTI, TINY_INDEX, lambda n: n // 2, "16607 bytes of at least 28799 bytes"),
        (TINY_MULTI, TINY_INDEX, lambda _: 13951, "13951 bytes of at least 28799 bytes"),
        (SAMPLE, SAMPLE_INDEX, lambda n: n - 20, "the bz2 data ends at 2.9 MB before the end of its stream"),
        (
            TINY_MULTI,
            TINY_INDEX,
            lambda n: n - 1,
            "the bz2 data ends at 33214 bytes before the end of its stream",
        ),
    ],
    ids=["half-sample", "half-tiny", "between-streams", "last-stream-cut", "last-byte-cut"],
)
@pytest.mark.parametrize("workers", [1, 2])
def test_truncated_multistream_dump_says_so(
    tmp_path: Path, source: Path, index: Path, keep: Callable[[int], int], reason: str, workers: int
) -> None:
    """Cut short before the last stream its index names (13951 is where the tiny dump's second stream
    starts): known before any decoding, with the size it should at least have; cut in the last stream:
    known when decoding reaches the end."""
    data = source.read_bytes()
    dump = tmp_path / "cut-multistream.xml.bz2"
    dump.write_bytes(data[: keep(len(data))])
    (tmp_path / "cut-multistream-index.txt.bz2").write_bytes(index.read_bytes())
    with pytest.raises(ExtractError, match=f"^{re.escape(f'{dump}: truncated: {reason}; re-download')}$"):
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=workers, chunk_bytes=1 << 18)


@pytest.mark.parametrize("keep", [lambda n: n // 2, lambda n: n - 1], ids=["half", "last-byte-cut"])
def test_truncated_single_stream_dump_says_so(tmp_path: Path, keep: Callable[[int], int]) -> None:
    """No index gives the full size: the error says where the bz2 data ends."""
    data = TINY_SINGLE.read_bytes()
    dump = tmp_path / "cut-pages-articles.xml.bz2"
    dump.write_bytes(data[: keep(len(data))])
    size = keep(len(data))
    expected = (
        f"{dump}: truncated: the bz2 data ends at {size} bytes before the end of its stream; re-download"
    )
    with pytest.raises(ExtractError, match=f"^{re.escape(expected)}$"):
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=2)


def test_index_of_a_larger_dump_is_not_taken_for_truncation(tmp_path: Path) -> None:
    """A dump shorter than its index says, but whole (it ends as a bz2 stream does): the wrong index."""
    dump = tmp_path / "x-pages-articles-multistream.xml.bz2"
    dump.write_bytes(TINY_MULTI.read_bytes())
    index = tmp_path / "x-pages-articles-multistream-index.txt.bz2"
    index.write_bytes(SAMPLE_INDEX.read_bytes())
    with pytest.raises(
        ExtractError, match=f"^{re.escape(str(index))}: does not match {re.escape(str(dump))}: "
    ):
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)


def test_index_of_another_dump_is_refused(tmp_path: Path) -> None:
    dump = tmp_path / "x-pages-articles-multistream.xml.bz2"
    dump.write_bytes(TINY_MULTI.read_bytes())
    shifted = [f"{offset + 7}:1:x\n" for offset in _stream_offsets()]
    (tmp_path / "x-pages-articles-multistream-index.txt.bz2").write_bytes(
        bz2.compress("".join(shifted).encode())
    )
    with pytest.raises(ExtractError) as caught:
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)
    assert str(caught.value) == (
        f"{dump}: no bz2 stream starts at byte {_stream_offsets()[0] + 7}: "
        f"is {tmp_path / 'x-pages-articles-multistream-index.txt.bz2'} the index of this dump?"
    )


@pytest.mark.parametrize(
    ("index_text", "reason"),
    [
        (b"", "empty multistream index"),
        (b"624:1:a\n624:2:b\n\n", r":3: not an `offset:page_id:title` line: ''"),
        (b"624:1:a\nx:2:b\n", r":2: not an `offset:page_id:title` line: 'x:2:b'"),
        (b"624:1:\xff\n", "unreadable multistream index"),
    ],
)
def test_bad_index_is_named_with_its_line(tmp_path: Path, index_text: bytes, reason: str) -> None:
    dump = tmp_path / "x-pages-articles-multistream.xml.bz2"
    dump.write_bytes(TINY_MULTI.read_bytes())
    index = tmp_path / "x-pages-articles-multistream-index.txt.bz2"
    index.write_bytes(bz2.compress(index_text))
    with pytest.raises(ExtractError) as caught:
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)
    assert str(caught.value).startswith(str(index))
    assert re.search(reason, str(caught.value))


def test_index_lines_are_counted_across_read_blocks(tmp_path: Path) -> None:
    """The index is read in blocks of whole lines; a bad line far in is still named by its number."""
    lines = [f"{624 + i // 100 * 1000}:{i}:title {i}\n" for i in range(400_000)]
    lines[-2] = "bad line\n"
    index = tmp_path / "x-pages-articles-multistream-index.txt.bz2"
    index.write_bytes(bz2.compress("".join(lines).encode()))
    dump = tmp_path / "x-pages-articles-multistream.xml.bz2"
    dump.write_bytes(TINY_MULTI.read_bytes())
    with pytest.raises(ExtractError, match=f"{re.escape(str(index))}:399999: not an"):
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)


def test_chunks_shrink_towards_the_end_so_no_core_waits_long() -> None:
    bounds = list(range(0, 100_001, 100))  # a stream every 100 bytes
    sizes = [chunk[-1] - chunk[0] for chunk in _chunks(bounds, 10_000)]
    # full chunks while 4 chunks' worth is left, then a quarter of the rest, down to a quarter chunk
    assert sizes == [10_000] * 7 + [7500, 5700, 4200, 3200, 2500, 2500, 2500, 1900]
    assert [len(c) for c in _chunks([0, 5, 10, 15], 1)] == [2, 2, 2]  # tests cut a chunk per stream


def _stream_offsets() -> list[int]:
    return sorted({int(line.split(b":")[0]) for line in bz2.decompress(TINY_INDEX.read_bytes()).splitlines()})


@pytest.mark.parametrize("workers", [1, 2])
def test_corrupt_multistream_stream_keeps_finished_shards_and_resumes(tmp_path: Path, workers: int) -> None:
    clean = extract_dump(TINY_MULTI, tmp_path / "clean", options=KEEP_ALL, workers=1, chunk_bytes=1)
    offsets = _stream_offsets()
    good = TINY_MULTI.read_bytes()
    data = bytearray(good)
    data[offsets[1] + 40 : offsets[1] + 400] = bytes(360)  # the second chunk's stream is damaged
    dump = tmp_path / "damaged-multistream.xml.bz2"
    dump.write_bytes(bytes(data))
    (tmp_path / "damaged-multistream-index.txt.bz2").write_bytes(TINY_INDEX.read_bytes())
    out = tmp_path / "out"
    with pytest.raises(ExtractError) as caught:
        extract_dump(dump, out, options=KEEP_ALL, workers=workers, chunk_bytes=1)
    assert str(caught.value).startswith(f"{dump} (bz2 streams at bytes {offsets[1]}..{offsets[2]})")
    assert f"in the stream at bytes {offsets[1]}..{offsets[2]}" in str(caught.value)
    finished = sorted(p.name for p in out.iterdir())
    assert "text-00001.txt" not in finished and not any(name.startswith(".") for name in finished)
    assert {"text-00000.txt", "text-00000.json"} <= set(finished)
    for name in finished:
        if name.endswith(".txt"):
            assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
    dump.write_bytes(good)  # fixed: the re-run resumes
    again = extract_dump(dump, out, options=KEEP_ALL, workers=workers, chunk_bytes=1)
    assert again.resumed_shards == len([n for n in finished if n.endswith(".txt")]) > 0
    assert _text(out, again) == _text(tmp_path / "clean", clean)
    assert dataclasses.replace(again, per_shard=[], resumed_shards=0) == dataclasses.replace(
        clean, per_shard=[]
    )


@pytest.mark.parametrize("decoder", ["lbzip2", "indexed_bzip2"])
def test_both_multistream_decoders_give_the_same_text_and_name_a_bad_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoder: str
) -> None:
    if decoder == "lbzip2" and shutil.which("lbzip2") is None:
        pytest.skip("lbzip2 is not installed (apt-get install lbzip2)")
    if decoder == "indexed_bzip2":  # what a machine without lbzip2 uses
        monkeypatch.setattr("tasks.dump.decode.shutil.which", lambda _name: None)
    stats = extract_dump(TINY_MULTI, tmp_path / "clean", options=KEEP_ALL, workers=1, chunk_bytes=1)
    assert _text(tmp_path / "clean", stats) == _prose(_tiny_pages())
    offsets = _stream_offsets()
    data = bytearray(TINY_MULTI.read_bytes())
    data[offsets[1] + 40 : offsets[1] + 400] = bytes(360)
    dump = tmp_path / "damaged-multistream.xml.bz2"
    dump.write_bytes(bytes(data))
    (tmp_path / "damaged-multistream-index.txt.bz2").write_bytes(TINY_INDEX.read_bytes())
    with pytest.raises(ExtractError, match=f"in the stream at bytes {offsets[1]}..{offsets[2]}$"):
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1, chunk_bytes=1)


def test_corrupt_single_stream_block_keeps_finished_shards_and_resumes(
    tmp_path: Path, sample_xml: bytes
) -> None:
    good = _single_stream(tmp_path / "sample-pages-articles.xml.bz2", sample_xml)
    clean = extract_dump(good, tmp_path / "clean", options=KEEP_ALL, workers=2, chunk_bytes=40_000)
    data = bytearray(good.read_bytes())
    middle = len(data) * 3 // 4
    data[middle : middle + 64] = bytes(64)
    dump = tmp_path / "damaged-pages-articles.xml.bz2"
    dump.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(ExtractError) as caught:
        extract_dump(dump, out, options=KEEP_ALL, workers=2, chunk_bytes=40_000)
    message = str(caught.value)
    assert re.fullmatch(
        rf"{re.escape(str(dump))}: corrupt or truncated bz2 data \(.+\) in the bz2 blocks from "
        r"compressed byte (\d+) on \(decompressed byte \d+\)",
        message,
    )
    assert 0 < int(re.findall(r"compressed byte (\d+)", message)[0]) <= middle
    kept = sorted(p.name for p in out.glob("text-*.txt"))
    assert kept and not list(out.glob(".*"))
    for name in kept:
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
    dump.write_bytes(good.read_bytes())
    again = extract_dump(dump, out, options=KEEP_ALL, workers=2, chunk_bytes=40_000)
    assert again.resumed_shards == len(kept)
    assert _text(out, again) == _text(tmp_path / "clean", clean)


def test_resume_only_reuses_shards_of_the_same_input_and_options(tmp_path: Path) -> None:
    first = extract_dump(TINY_MULTI, tmp_path, options=KEEP_ALL, workers=1, chunk_bytes=1)
    same = extract_dump(TINY_MULTI, tmp_path, options=KEEP_ALL, workers=2, chunk_bytes=1)
    assert same.resumed_shards == len(first.shards)
    assert all(s.resumed for s in same.per_shard)
    strict = ExtractOptions(min_chars=1000)
    other = extract_dump(TINY_MULTI, tmp_path, options=strict, workers=1, chunk_bytes=1)
    assert other.resumed_shards == 0 and other.articles < first.articles
    (tmp_path / first.shards[0]).write_text("改过的\n", encoding="utf-8")  # a record no longer matches
    again = extract_dump(TINY_MULTI, tmp_path, options=strict, workers=1, chunk_bytes=1)
    assert again.resumed_shards == len(first.shards) - 1
    assert _text(tmp_path, again) == _text(tmp_path, other)


def test_leftovers_of_a_killed_or_other_run_are_removed(tmp_path: Path) -> None:
    (tmp_path / "text-00099.txt").write_text("旧的\n", encoding="utf-8")  # no record: unknown origin
    (tmp_path / ".text-00000.txt.k2j3.tmp").write_text("半个", encoding="utf-8")  # killed mid-write
    (tmp_path / "text-00098.json").write_text("{}", encoding="utf-8")  # record without its shard
    other = tmp_path / "other"
    extract_dump(TINY_MULTI, other, options=KEEP_ALL, workers=1, chunk_bytes=1)
    for path in other.iterdir():  # complete shards of another dump
        path.rename(tmp_path / path.name)
    other.rmdir()
    stats = extract_dump(TINY_SINGLE, tmp_path, options=KEEP_ALL, workers=1)
    assert stats.resumed_shards == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text-00000.json", "text-00000.txt"]
    assert stats.shards == ["text-00000.txt"]


def test_single_stream_shards_are_page_aligned_chunks(tmp_path: Path, sample_xml: bytes) -> None:
    dump = _single_stream(tmp_path / "s-pages-articles.xml.bz2", sample_xml)
    stats = extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=2, chunk_bytes=40_000)
    assert len(stats.shards) == pytest.approx(len(sample_xml) / 160_000, abs=2)
    assert all(s.xml_bytes >= 160_000 for s in stats.per_shard[:-1])
    multi = tmp_path / "m-pages-articles-multistream.xml.bz2"
    body = sample_xml[sample_xml.index(b"  <page>") : sample_xml.rindex(b"</page>") + len(b"</page>")]
    pages_xml = [b"  <page>" + part for part in body.split(b"  <page>")[1:]]
    _write_multistream(multi, sample_xml[: sample_xml.index(b"  <page>")], pages_xml)
    by_streams = extract_dump(multi, tmp_path / "multi", options=KEEP_ALL, workers=2)
    assert _text(tmp_path / "out", stats) == _text(tmp_path / "multi", by_streams)
    assert by_streams.articles == stats.articles > 50


def _write_multistream(path: Path, header: bytes, pages: list[bytes], per_stream: int = 100) -> None:
    """The recompressxml layout: header stream, a stream per `per_stream` pages, footer stream, and index."""
    data = bz2.compress(header)
    lines = []
    for i in range(0, len(pages), per_stream):
        lines.append(f"{len(data)}:{i + 1}:page{i}\n")
        data += bz2.compress(b"".join(pages[i : i + per_stream]))
    data += bz2.compress(FOOTER.encode())
    path.write_bytes(data)
    index = path.with_name(path.name.removesuffix(".xml.bz2") + "-index.txt.bz2")
    index.write_bytes(bz2.compress("".join(lines).encode()))


def test_dumpgen_pages_round_trip(tmp_path: Path) -> None:
    pages = [DumpPage(f"条目{i}", 0, i, f"第{i}篇&<b>正文</b>。") for i in range(1, 6)]
    xml = (HEADER + "".join(page_xml(p) for p in pages) + FOOTER).encode()
    dump = _single_stream(tmp_path / "rt-pages-articles.xml.bz2", xml)
    stats = extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)
    assert _text(tmp_path / "out", stats) == "".join(f"第{i}篇&正文。\n" for i in range(1, 6))


def test_wrong_export_version_and_a_directory_are_refused(tmp_path: Path) -> None:
    xml = bz2.decompress(TINY_SINGLE.read_bytes())
    version = re.search(rb"xml/export-(0\.1[01])/", xml)
    assert version is not None
    dump = tmp_path / "v09-pages-articles.xml.bz2"
    dump.write_bytes(bz2.compress(xml.replace(b"export-" + version[1], b"export-0.9")))
    with pytest.raises(ExtractError) as caught:
        extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)
    assert str(caught.value) == (
        f"{dump}: MediaWiki export version '0.9' (namespace 'http://www.mediawiki.org/xml/export-0.9/') "
        "is not supported; supported: 0.10, 0.11"
    )
    folder = tmp_path / "dumps-pages-articles.xml.bz2"
    folder.mkdir()
    with pytest.raises(
        ExtractError, match=rf"^{re.escape(str(folder))}: is a directory; pass the \.xml\.bz2 dump file$"
    ):
        extract_dump(folder, tmp_path / "out", options=KEEP_ALL, workers=1)


def test_a_resolved_dump_is_taken_as_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index passed (None: one stream), as a run's plan or `zhvec extract` resolved it, is not looked for
    again: the multistream dump is read as one stream, with the same text."""
    monkeypatch.setattr(extract, "find_index", lambda dump: pytest.fail(f"looked for the index of {dump}"))
    single = extract_dump(TINY_MULTI, tmp_path / "single", options=KEEP_ALL, workers=1, index=None)
    multi = extract_dump(TINY_MULTI, tmp_path / "multi", options=KEEP_ALL, workers=1, index=TINY_INDEX)
    layouts = [
        json.loads((tmp_path / out / "text-00000.json").read_text(encoding="utf-8"))["identity"]["layout"]
        for out in ("single", "multi")
    ]
    assert layouts == ["single", "multistream"]
    assert _text(tmp_path / "single", single) == _text(tmp_path / "multi", multi)


def test_hostile_text_is_cleaned_and_counted(tmp_path: Path) -> None:
    """Invalid UTF-8, control characters, references to surrogates, NUL or beyond Unicode: dropped, counted
    in the stats that land in the run record, and every shard is valid UTF-8 holding only text."""
    texts = [
        "甲\x00乙\x07丙\x1b丁。\r\n第二行\x0b\x0c\x1c\x1d\x1e\x85行。\n\t制表。".encode(),
        "代理&#xD800;对&#xDFFF;。&#0;&#x110000;&#1114112;数字&#x4E2D;。".encode(),
        "坏字节".encode() + b"\xff\xfe" + "在这里。".encode() + "半个".encode()[:-1] + b"\n",
    ]
    pages = b"".join(
        f"<page><title>T{i}</title><ns>0</ns><id>{i}</id><revision><text>".encode()
        + text
        + b"</text></revision></page>\n"
        for i, text in enumerate(texts, 1)
    )
    dump = _single_stream(
        tmp_path / "hostile-pages-articles.xml.bz2", HEADER.encode() + pages + FOOTER.encode()
    )
    stats = extract_dump(dump, tmp_path / "out", options=KEEP_ALL, workers=1)
    raw = (tmp_path / "out" / stats.shards[0]).read_bytes()
    assert raw.decode("utf-8").splitlines() == [
        "甲乙丙丁。",
        "第二行行。",
        "制表。",
        "代理对。数字中。",
        "坏字节在这里。半",
    ]
    assert (stats.articles, stats.bad_utf8_pages) == (3, 1)
    # 3 + 1 (\r) + 6 controls; 2 surrogates, NUL, 2 beyond Unicode; 2 replaced bytes and 1 cut character
    assert stats.removed_chars == 10 + 5 + 3
    record = json.loads((tmp_path / "out" / "text-00000.json").read_text(encoding="utf-8"))
    assert (record["stats"]["bad_utf8_pages"], record["stats"]["removed_chars"]) == (1, 18)
