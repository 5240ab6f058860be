"""A dump's XML → its pages: the header checked, the `<page>` elements read and the XML cut after a `</page>`.

Pages are read by a scanner over the export schema (`<page>`, `<title>`, `<ns>`, `<id>`, `<redirect/>`,
`<text>`) rather than a general XML parser: MediaWiki writes this XML mechanically, and the scanner is
several times faster than ElementTree, which matters because parsing runs on the same cores as bz2. The
header is validated with a real XML parser; the scanner checks that pages are closed and nothing else sits
between them.

`pages` runs the compiled scanner `tasks/dump/_pages.c`; `python_pages` here is the reference it must equal
(tests/test_pages_c.py compares them).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import NamedTuple, NoReturn

from tasks.dump import _pages
from tasks.dump.errors import ExtractError

# The compiled scanner's source: part of the code identity of extracted text.

EXPORT_NAMESPACE = "http://www.mediawiki.org/xml/export-"
EXPORT_VERSIONS = ("0.10", "0.11")  # current Wikimedia dumps (0.11) and the version before
FOOTER = b"</mediawiki>"
_PAGE, _PAGE_END = b"<page>", b"</page>"
# Every export schema (0.3 … 0.11) opens a page with title, ns and id, then `<redirect …/>` if it is one.
_PAGE_HEAD = re.compile(rb"\s*<title>([^<]*)</title>\s*<ns>(-?\d+)</ns>\s*<id>(\d+)</id>\s*(<redirect\b)?")


class Page(NamedTuple):
    """One `<page>`; `text` is the current revision's wikitext (left empty for pages other than articles),
    `bad_utf8` whether its bytes were not all UTF-8 and `removed` how many characters that are not text
    (controls, lone surrogates, U+FFFD: see `tasks/dump/_pages.c`) were taken out of it. One bad byte or
    control character in an hours-long dump must neither stop the run nor reach the corpus (a NUL or a lone
    surrogate breaks the writers and gensim's reader), so they are dropped and counted."""

    title: str
    ns: int
    page_id: int
    redirect: bool
    text: str
    bad_utf8: bool = False
    removed: int = 0


Where = Page | str  # where an error is, in page terms: after this page, or a description


# --- reading pages --------------------------------------------------------------------------------------


def check_header(header: bytes, source: str, *, whole: bool = False) -> None:
    """Fail unless `header` (the XML before the first `<page>`) opens a MediaWiki export.

    `whole` says the header is the whole document (a dump without pages), so it is parsed as it is.
    """
    if not header.strip():
        raise ExtractError(f"{source}: empty, no XML in it")
    document = header if whole else header + FOOTER
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        tag = re.search(rb"<([A-Za-z_][\w:.-]*)", header)
        if tag and not tag.group(1).endswith(b"mediawiki"):
            _not_mediawiki(source, tag.group(1).decode("utf-8", "replace"), "")
        raise ExtractError(f"{source}: malformed XML before the first page ({exc})") from None
    uri, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "mediawiki" or not uri.startswith(EXPORT_NAMESPACE):
        _not_mediawiki(source, local, uri)
    version = uri.removeprefix(EXPORT_NAMESPACE).rstrip("/")
    if version not in EXPORT_VERSIONS:
        raise ExtractError(
            f"{source}: MediaWiki export version {version!r} (namespace {uri!r}) is not supported; "
            f"supported: {', '.join(EXPORT_VERSIONS)}"
        )


def _not_mediawiki(source: str, local: str, uri: str) -> NoReturn:
    raise ExtractError(
        f"{source}: not a MediaWiki export: root element is <{local}> in namespace {uri or '(none)'!r}, "
        f'expected <mediawiki xmlns="{EXPORT_NAMESPACE}0.11/">'
    )


def pages(xml: bytes, source: str, offset: int, *, last: bool, after: Where) -> list[Page]:
    """The `<page>` elements of `xml` (whole pages, then `</mediawiki>` if `last`), checked for structure.

    Only articles (namespace 0, no redirect flag) carry their text: decoding the text of pages that are
    skipped anyway is wasted work. `offset` is where `xml` starts in the decompressed dump; `after` says
    where that is in page terms, for errors (the page before, formatted only if there is an error).
    The compiled scanner (`tasks/dump/_pages.c`) reads the whole piece in one call: in Python, the scan was a
    worker's largest cost after bz2. `python_pages` is the reference it is tested against.
    """
    found, malformed = _pages.pages(xml, last, Page)
    if malformed is not None:
        what, position = malformed
        _malformed(source, what, offset + position, found[-1] if found else after)
    return found


def python_pages(xml: bytes, source: str, offset: int, *, last: bool, after: Where) -> Iterator[Page]:
    """`pages` in Python, a page at a time: the reference the compiled scanner must equal."""
    pos = 0
    find = xml.find
    while (start := find(_PAGE, pos)) >= 0:
        if start > pos and not xml[pos:start].isspace():
            what = f"unexpected content {xml[pos:start][:40]!r} between pages"
            _malformed(source, what, offset + pos, after)
        end = find(_PAGE_END, start)
        if end < 0:
            _malformed(source, "a <page> is not closed (truncated XML?)", offset + start, after)
        page = _page(xml, start + len(_PAGE), end, source, offset, after)
        yield page
        after = page
        pos = end + len(_PAGE_END)
    tail = xml[pos:].strip()
    if tail != (FOOTER if last else b""):
        if last and not tail:
            _malformed(source, "the dump ends without </mediawiki> (truncated XML?)", offset + pos, after)
        _malformed(source, f"unexpected content {tail[:40]!r} after the pages", offset + pos, after)


def _page(xml: bytes, start: int, end: int, source: str, offset: int, after: Where) -> Page:
    head = _PAGE_HEAD.match(xml, start, end)
    if head is None:
        _malformed(source, "a <page> does not start with <title>, <ns>, <id>", offset + start, after)
    title = _pages.xml_text(head[1].decode("utf-8", "replace"))[0]
    ns, page_id, redirect = int(head[2]), int(head[3]), head[4] is not None
    text, bad_utf8, removed = "", False, 0
    if ns == 0 and not redirect:
        where = xml.rfind(b"<text", start, end)  # a history dump's last revision is the current one
        if where >= 0:
            close = xml.find(b">", where, end)
            if close < 0:
                _malformed(source, f"<text> of page {page_id} {title!r} is cut", offset + where, after)
            if xml[close - 1] != 0x2F:  # `<text ... />` is an empty text
                stop = xml.find(b"</text>", close, end)
                if stop < 0:
                    what = f"<text> of page {page_id} {title!r} is not closed"
                    _malformed(source, what, offset + close, after)
                raw = xml[close + 1 : stop]
                try:
                    decoded = raw.decode("utf-8")
                except UnicodeDecodeError:
                    decoded, bad_utf8 = raw.decode("utf-8", "replace"), True
                text, removed = _pages.xml_text(decoded)
    return Page(title, ns, page_id, redirect, text, bad_utf8, removed)


def _malformed(source: str, what: str, offset: int, after: Where) -> NoReturn:
    if isinstance(after, Page):
        after = f"after page {after.page_id} {after.title!r}"
    raise ExtractError(f"{source}: malformed XML ({what}), {after}, near decompressed byte {offset}")


# --- cutting the XML after a `</page>` ------------------------------------------------------------------


def page_aligned(blocks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The XML of `blocks` re-cut to end after a `</page>` (the rest is carried into the next piece), and
    whether the piece is the final one, which holds whatever follows the last page."""
    carry = b""
    for block in blocks:
        data = carry + block if carry else block
        cut = data.rfind(_PAGE_END) + len(_PAGE_END)
        if cut < len(_PAGE_END):
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut], False
    yield carry, True


def page_chunks(blocks: Iterator[bytes], xml_chunk: int, source: str) -> Iterator[tuple[int, bytes, bool]]:
    """`(offset, xml, last)`: the pages of the XML read from `blocks` in pieces of at least `xml_chunk` bytes.

    The header is checked and left out. A piece ends with the first `</page>` at least `xml_chunk` bytes
    after its start if another `<page>` follows; the last piece runs to the end (with `</mediawiki>`). The
    cuts depend only on the XML, never on how it was read, so a re-run cuts the same shards.
    """
    pieces: list[bytes] = []
    held = 0
    need = xml_chunk
    offset = 0  # where pieces[0] starts in the XML
    in_pages = False
    while True:
        block = next(blocks, b"")
        pieces.append(block)
        held += len(block)
        if block and held < need:
            continue
        data = b"".join(pieces)
        if not in_pages:
            first = data.find(_PAGE)
            if first < 0 and block:
                pieces, need = [data], held + xml_chunk
                continue
            check_header(data if first < 0 else data[:first], source, whole=first < 0)
            if first < 0:
                return
            data, offset, in_pages = data[first:], first, True
        pos = 0
        while (end := data.find(_PAGE_END, pos + max(0, xml_chunk - len(_PAGE_END)))) >= 0:
            end += len(_PAGE_END)
            if data.find(_PAGE, end) < 0:
                break  # the next page is not read yet, or this is the last one
            yield offset + pos, data[pos:end], False
            pos = end
        if not block:
            yield offset + pos, data[pos:], True
            return
        pieces, offset = [data[pos:]], offset + pos
        held = len(pieces[0])
        need = max(xml_chunk, held + 1)
