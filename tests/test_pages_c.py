"""The compiled page scanner (`tasks/dump/_pages.c`, behind `pages.pages`) against the Python reference
(`pages.python_pages`): the same pages, field for field and type for type, or the same error, on the real
dumps and on thousands of generated pieces (odd spacing and heads, redirects, history dumps, empty and
unclosed texts, references, controls and bytes that are not UTF-8, garbage around and between pages); and
its cleaning of a <text> element's text (`xml_text`) against a regex reference."""

from __future__ import annotations

import bz2
import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tasks.dump import _pages
from tasks.dump.errors import ExtractError
from tasks.dump.pages import Page, Where, page_aligned, pages, python_pages

REPO = Path(__file__).resolve().parents[1]
DUMPS = [
    REPO / "tests" / "fixtures" / "zhwiki-tiny-pages-articles.xml.bz2",
    REPO / "tests" / "fixtures" / "zhwiki-tiny-pages-articles-multistream.xml.bz2",
    REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2",
]

Scan = Callable[..., Iterable[Page]]


def _outcome(
    scan: Scan, xml: bytes, last: bool, offset: int = 0, after: Where = "before the first page"
) -> object:
    """The pages with the type of each field (True == 1, and a str's equality depends on its kind), or the
    error."""
    try:
        pages = list(scan(xml, "dump.xml.bz2", offset, last=last, after=after))
    except (ExtractError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return [(type(page), [(type(field), field) for field in page]) for page in pages]


def _assert_same(xml: bytes, last: bool, offset: int = 0, after: Where = "before the first page") -> object:
    compiled = _outcome(pages, xml, last, offset, after)
    assert compiled == _outcome(python_pages, xml, last, offset, after), (xml, last)
    return compiled


def _body(dump: Path) -> bytes:
    xml = bz2.decompress(dump.read_bytes())
    return xml[xml.index(b"<page>") :]


@pytest.mark.parametrize("dump", DUMPS, ids=lambda path: path.name)
def test_real_dumps_give_the_reference_pages(dump: Path) -> None:
    body = _body(dump)
    pages = _assert_same(body, last=True)
    assert isinstance(pages, list) and len(pages) > 20
    rng = random.Random(dump.name)
    for _ in range(5):  # as a worker reads them: pieces cut after a `</page>`
        size = rng.randint(1000, 100_000)
        blocks = [body[i : i + size] for i in range(0, len(body), size)]
        offset, after = 0, "before the first page"
        for piece, final in page_aligned(blocks):
            _assert_same(piece, final, offset, after)
            offset += len(piece)
    for _ in range(50):  # and cut anywhere
        cut = rng.randrange(len(body))
        _assert_same(body[:cut], last=rng.random() < 0.5)


SPACES = [b"", b"", b" ", b"\n", b"\n    ", b"\t", b"\r\n", b"\x0b", b"\x0c", b"\n  \n"]
TITLES = [
    *(b"\xe7\x94\xb2", b"Talk:\xe4\xb9\x99", b"A &amp; B", b"&lt;x&gt;", b"&#20013;&#x6587;", b"", b"a\x01b"),
    *(b"&#0;", b"x&y", b"bad \xff byte", b"&quot;q&apos;", b"\xef\xbf\xbd", b"caf\xc3\xa9", b"a>b"),
    *(b"\xf0\x9f\x98\x80", b" spaced ", b"\xe4\xb8"),
]
NS = [b"0", b"0", b"0", b"0", b"1", b"-1", b"10", b"00", b"-0", b"-2", b"0" * 25, b"-" + b"0" * 20]
NS += [b"1" + b"0" * 20]
IDS = [b"1", b"42", b"007", b"9" * 18, b"9" * 19, b"1" * 30, b"123456"]
REDIRECTS = [b"", b"", b"", b"<redirect />", b'<redirect title="x" />', b"<redirects/>", b"<redirect>"]
REDIRECTS += [b"<redirect_x/>", b"<redirect-x/>", b"<redirect9/>", b"<redirect"]
TEXT_ATTRS = [b"", b' xml:space="preserve"', b' bytes="12" xml:space="preserve"', b" bytes='3'"]
EMPTY_TEXTS = [b'<text bytes="0" />', b"<text/>", b'<text deleted="deleted" />']
# Wikitext, references, controls, characters of every UTF-8 length, and sequences that are not UTF-8.
TEXT_PIECES = [
    *(b"\xe4\xb8\xad\xe6\x96\x87", b"\xe5\x8d\x9a\xe7\x89\xa9\xe9\xa6\x86\xe3\x80\x82", b"plain ascii "),
    *(b"{{cite|a=b}}", b"[[\xe9\x93\xbe|x]]", b"&lt;ref&gt;", b"&lt;/ref&gt;", b"&amp;", b"&amp;nbsp;"),
    *(b"&#x4E2D;", b"&#20013;", b"&#xD800;", b"&#x110000;", b"&#99999999999;", b"&quot;", b"&apos;"),
    *(b"&", b"&#", b"&#x", b"&lt", b"&#x;", b"&#;", b"&#xg;", b"&#65", b"\x00", b"\x07", b"\r", b"\t"),
    *(b"\n", b"\x1f", b"\x7f", b"\xc2\x85", b"\xc2\x9f", b"\xc2\xa0", b"\xef\xbf\xbd", b"\xef\xbf\xbe"),
    *(b"\xef\xbf\xbf", b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xf0\x9f\x98\x80", b"\xf4\x8f\xbf\xbf"),
    *(b"\xe0\xa0\x80", b"\xc3\xa9", b"\xff", b"\xfe", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf"),
    *(b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80"),
    *(b"\xe4\xb8", b"\x80", b"\xc2", b"\xf0\x9f\x98", b">", b"/>", b"abcdefgh", b" " * 9, b"~!@#$%^*()_+"),
    *(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",),
]
# What corrupts a piece when spliced in anywhere.
DAMAGE = [b"<", b">", b"<page>", b"</page>", b"<text", b"</text>", b"<text>", b"/", b"junk", b"\xff", b"&"]
DAMAGE += [b"</mediawiki>"]
DAMAGE += [b"<redirect/>", b"<title>", b"</title>", b"<ns>", b"<id>", b"-", b"7", b" ", b"\n"]
CUT_TEXTS = [b"<text", b"<text xml:space", b"<text>\xe4\xb8\xad", b"<text bytes='1'>abc</tex", b"<text/"]
FOOTERS = [b"</mediawiki>", b"\n</mediawiki>\n", b" \t</mediawiki>\x0c"]
TAILS = [b"", b"\n", b"junk", b"</mediawiki>x", b"</mediawiki", b"<page>", b"\n\n" + b"z" * 50, *FOOTERS]


def _text(rng: random.Random) -> bytes:
    return b"".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(0, 40)))


def _revision(rng: random.Random) -> bytes:
    if rng.random() < 0.1:
        text = rng.choice(EMPTY_TEXTS)
    else:
        text = b"<text" + rng.choice(TEXT_ATTRS) + b">" + _text(rng) + b"</text>"
    return b"<revision><id>5</id><timestamp>2024</timestamp>" + text + b"<sha1>x</sha1></revision>"


def _page(rng: random.Random) -> bytes:
    def gap() -> bytes:
        return rng.choice(SPACES)

    head = (
        gap() + b"<title>" + rng.choice(TITLES) + b"</title>" + gap() + b"<ns>" + rng.choice(NS) + b"</ns>"
        + gap() + b"<id>" + rng.choice(IDS) + b"</id>" + gap() + rng.choice(REDIRECTS)
    )  # fmt: skip
    revisions = b"".join(gap() + _revision(rng) for _ in range(rng.choice([0, 1, 1, 1, 2, 3])))
    if rng.random() < 0.03:
        revisions += rng.choice(CUT_TEXTS)
    return b"<page>" + head + revisions + gap() + b"</page>"


def _piece(rng: random.Random, last: bool) -> bytes:
    piece = rng.choice(SPACES)
    for _ in range(rng.randint(0, 6)):
        piece += _page(rng) + rng.choice(SPACES)
    if last and rng.random() < 0.8:
        piece += rng.choice(FOOTERS)
    elif rng.random() < 0.2:
        piece += rng.choice(TAILS)
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        at = rng.randrange(len(piece) + 1)
        if rng.random() < 0.7:
            piece = piece[:at] + rng.choice(DAMAGE) + piece[at:]
        else:
            piece = piece[:at] + piece[at + rng.randint(1, 20) :]
    if rng.random() < 0.05:
        piece = piece[: rng.randrange(len(piece) + 1)]
    return piece


@pytest.mark.parametrize("seed", range(4))
def test_generated_pieces_give_the_reference_pages_or_error(seed: int) -> None:
    rng = random.Random(seed)
    before = Page("前\x00'\"", 0, 99, False, "")
    outcomes = {"pages": 0, "errors": 0}
    for _ in range(2000):
        last = rng.random() < 0.5
        after: Where = before if rng.random() < 0.5 else "before the first page"
        compiled = _assert_same(_piece(rng, last), last, rng.randrange(10**9), after)
        outcomes["pages" if isinstance(compiled, list) else "errors"] += 1
    assert min(outcomes.values()) > 400, outcomes


def test_every_error_is_reached() -> None:
    page = b"<page><title>T</title><ns>0</ns><id>3</id><revision><text>x</text></revision></page>"
    cases = {
        b"junk" + page: "unexpected content b'\\njunk' between pages",
        page + b"\n<page><title>U</title>": "a <page> is not closed (truncated XML?)",
        b"<page><title>a<b</title><ns>0</ns><id>1</id></page>": "a <page> does not start with <title>",
        page.replace(b"<text>x</text></revision>", b"<text xml:space"): "<text> of page 3 'T' is cut",
        page.replace(b"</text>", b""): "<text> of page 3 'T' is not closed",
        page + b"  junk" * 20: "unexpected content b'junk  junk" + "  junk" * 5 + "' after the pages",
    }
    for xml, what in cases.items():
        for last in (False, True):
            message = _assert_same(page + b"\n" + xml, last, 1000)
            assert isinstance(message, str) and f"({what}" in message and "after page 3 'T'" in message
    message = _assert_same(page + b"\n", last=True, offset=1000)
    assert message == (
        "ExtractError: dump.xml.bz2: malformed XML (the dump ends without </mediawiki> (truncated XML?)), "
        f"after page 3 'T', near decompressed byte {1000 + len(page)}"
    )
    assert _assert_same(page + b"\n</mediawiki>\n", last=True) == _assert_same(page, last=False)


def test_numbers_too_long_for_python_fail_alike() -> None:
    xml = b"<page><title>T</title><ns>0</ns><id>" + b"1" * 5000 + b"</id></page>"
    message = _assert_same(xml, last=False)
    assert isinstance(message, str) and message.startswith("ValueError: Exceeds the limit")


def test_only_a_tuple_type_makes_pages() -> None:
    with pytest.raises(TypeError, match="wants a tuple type"):
        _pages.pages(b"", False, dict)  # type: ignore[type-var]


_XML_REF = re.compile(r"&(?:lt|gt|amp|quot|apos|#x([0-9a-fA-F]+)|#([0-9]+));")
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffd\ufffe\uffff]")


def _reference_xml_text(text: str) -> tuple[str, int]:
    def char(ref: re.Match[str]) -> str:
        named = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&apos;": "'"}.get(ref[0])
        number = int(ref[1], 16) if ref[1] else int(ref[2]) if ref[2] else 0
        return named or (chr(number) if number <= 0x10FFFF else "\ufffd")

    unescaped = _XML_REF.sub(char, text)
    cleaned = _NOT_TEXT.sub("", unescaped)
    return cleaned, len(unescaped) - len(cleaned)


def test_xml_text_resolves_references_and_drops_what_is_not_text() -> None:
    text = "a &lt;ref&gt; &amp;amp; &#20013;&#x6587; &#1;&#xD800;&#x110000;&#99999999999999;"
    assert _pages.xml_text(text) == ("a <ref> &amp; 中文 ", 4)
    assert _pages.xml_text("&#x; &#xg; &#; &ltx; &amp &") == ("&#x; &#xg; &#; &ltx; &amp &", 0)
    clean = "中文\ttext\n"
    text, removed = _pages.xml_text(clean)
    assert (text, removed) == (clean, 0) and text is clean
    rng = random.Random(7)
    pieces = ["&", "#", "x", ";", "lt", "gt", "amp", "quot", "apos", "1", "9", "a", "F", "g", "中", "\x00"]
    pieces += ["\x85", "\ufffd", "\uffff", "\x7f", "\t", "\n", "\r", "&#x", "&#", "10FFFF", "110000"]
    pieces += ["D800", "é"]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert _pages.xml_text(text) == _reference_xml_text(text), repr(text)
