"""The compiled cleaner (`tasks/dump/_wikitext.c`) against the Python reference (`wikitext.python_prose`): the
same lines on real pages and on mangled ones built to hit every branch (unclosed, stray and nested markup,
variant rules, odd whitespace, the characters it leaves to Python)."""

from __future__ import annotations

import bz2
import random
from pathlib import Path

import pytest

from tasks.dump import _wikitext
from tasks.dump.wikitext import python_prose, to_prose

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PYTHON_ONLY = set("\u0130\u0131\u017f\u212a\uffff")  # the pages the compiled cleaner leaves to Python

# Markup pieces, whole and in halves, and the characters the passes treat specially.
PIECES = [
    *("{{", "}}", "-{", "}-", "[[", "]]", "{|", "|}", "|", "|-", "!", "\n", "\n\n", ":", ";", "=", "=="),
    *("=>",),
    *("zh-hans:", "zh-hant:", "zh-cn:", "zh-tw:", "zh:", "zh-hans :", " zh-hk: ", "zh-my", "A|", "H|", "R|"),
    *("T|", "-|", "zh-hans;zh-hant|", "<ref>", "</ref>", "<ref name=a/>", "<REF>", "</ref >"),
    *("<references/>",),
    *("<math>", "</math>", "<gallery>", "</gallery>", "<!--", "-->", "<br>", "<br/>", "< br />", "</br>"),
    *("<bR clear=all>", "<brx>", "</h2>", "</H3 >", "<h2>", "<span style=x>", "</span>", "<b>", "<bdi>"),
    *("<small>", "<u>", "<sup>", "<nowiki/>", "<", ">", "'''", "''", "'", "__TOC__", "__NOTOC__", "___A__"),
    *("[http://a.org/x 标签]", "[https://b.cn]", "[//c.net x]", "[ftp://d e\n f]", "[http://x\n]", "["),
    *("]", "http://e.com/a?b=1&c", "https://", "ftp://f", "（）", "（ ，）", "(,)", "( )", "（、；）", ")"),
    *("）", "*", "#", "**", ":;", "----", "---", "-----x", "File:", "文件:", "檔案:", "Category:", "分类:"),
    *(":Category:", "en:", "zh-classical:", "mw:", "EN:", "Image_:", "media :", "lang-en", "Lang-fr"),
    *("lang", "le", "tsl", "convert", "cvt", "nowrap", "small", "小", "大", "color", "font_color", "ill"),
    *("link-en", "lang-中", "Interlanguage link", "24", "至", "to", "mm", "disambig", "&amp;", "&nbsp;"),
    *("&lt;", "&#20013;", "&", " ", "  ", "\t", "\u3000", "\xa0", "\u2028", "\x1c", "\x85", "_", "-"),
    *("İ", "ı", "ſ", "K", "\uffff", "é", "中文", "汉字", "a", "B", "1"),
]


CODES = ["zh", "zh-hans", "zh-hant", "zh-cn", "zh-tw", "zh-hk", "zh-sg", "zh-mo", "zh-my", "zh-xx", "en"]
GAPS = ["", "", " ", "\t", "\u3000", "\n"]


def _mangled(rng: random.Random, prose: str) -> str:
    """Markup pieces and well-formed constructs, nested, in random order."""
    parts = []
    for _ in range(rng.randint(1, 40)):
        pick = rng.random()
        if pick < 0.2:
            parts.append(_words(rng, prose))
        elif pick < 0.45:
            parts.append(_construct(rng, prose, 0))
        else:
            parts.append(rng.choice(PIECES))
    return "".join(parts)


def _words(rng: random.Random, prose: str) -> str:
    start = rng.randrange(len(prose))
    return prose[start : start + rng.randint(1, 30)]


def _construct(rng: random.Random, prose: str, depth: int) -> str:
    def inner() -> str:
        if depth < 3 and rng.random() < 0.3:
            return _construct(rng, prose, depth + 1)
        return _words(rng, prose) if rng.random() < 0.8 else rng.choice(PIECES)

    def gap() -> str:
        return rng.choice(GAPS)

    kind = rng.randrange(7)
    if kind == 0:  # -{flags|zh-hans:…;zh-hant:…}-
        rule = "=>" if rng.random() < 0.1 else ""
        variants = "".join(
            f"{gap()}{rng.choice(CODES)}{gap()}:{inner()}{rule}{rng.choice(['', ';', ' ;', ';;', ' '])}"
            for _ in range(rng.randint(0, 4))
        )
        flags = rng.choice(["", "", "", "A|", "H|", "R|", "T|", "D|", "zh-hans;zh-hant|", "X|", " A ; D |"])
        return f"-{{{flags}{rng.choice(['', '', 'x', ' '])}{variants}}}-"
    if kind == 1:  # [[prefix:target|label]]
        prefixes = ["", "", "", "File:", "文件:", " 分類 :", "Category:", ":Category:", "en:", "mw:"]
        prefix = rng.choice(prefixes)
        label = f"|{inner()}" if rng.random() < 0.5 else ""
        return f"[[{gap()}{prefix}{inner()}{label}]]"
    if kind == 2:  # {{name|args}}
        names = ["lang", "Lang-en", "le", "tsl", "convert", "nowrap", "小", "color", "Infobox", "cite"]
        name = rng.choice(names)
        heads = ["", "a=", "en", "至", "to"]
        args = "".join(f"|{rng.choice(heads)}{inner()}" for _ in range(rng.randint(0, 4)))
        return f"{{{{{gap()}{name}{gap()}{args}}}}}"
    if kind == 3:  # a table, its markers indented or not
        indent = rng.choice(["", " ", ":", "::", "\t", " :", "x"])
        return f"\n{indent}{{| class=x\n|{inner()}\n|-\n!{inner()}\n{rng.choice(['', ' ', ':'])}|}}\n"
    if kind == 4:  # an element
        name = rng.choice(["ref", "REF", "math", "gallery", "references", "span", "pre"])
        return f"<{name}{rng.choice(['', ' name=a', ' /'])}>{inner()}</{name}{gap()}>"
    if kind == 5:  # a heading or list line
        marks = rng.choice(["==", "===", "*", "#", ":", ";", "*#", "|", "!"])
        close = marks if marks[0] == "=" else ""
        return f"\n{marks}{gap()}{inner()}{gap()}{close}\n"
    return f"[{rng.choice(['http://', 'https://', '//', 'ftp://'])}a.org/{inner()}{gap()}{inner()}]"


def _real_pages() -> list[str]:
    pages = [path.read_text(encoding="utf-8") for path in sorted((FIXTURES / "wikitext").glob("*.wikitext"))]
    xml = bz2.decompress((FIXTURES / "zhwiki-tiny-pages-articles.xml.bz2").read_bytes()).decode("utf-8")
    pages += [chunk.split(">", 1)[1].split("</text>")[0] for chunk in xml.split("<text")[1:]]
    return pages


def _assert_same(text: str, where: str = "") -> None:
    """The compiled cleaner gives the reference's lines, or leaves a page to it only for a reason."""
    compiled = _wikitext.prose_text(text)
    if compiled is None:
        assert set(text) & PYTHON_ONLY, where
    else:
        assert compiled == "".join(line + "\n" for line in python_prose(text)), where


def test_real_pages_give_the_reference_lines() -> None:
    pages = _real_pages()
    assert len(pages) > 20
    for page in pages:
        _assert_same(page)
        assert to_prose(page) == python_prose(page)


@pytest.mark.parametrize("seed", range(4))
def test_mangled_markup_gives_the_reference_lines(seed: int) -> None:
    rng = random.Random(seed)
    prose = (FIXTURES / "text" / "zhwiki_paragraphs.txt").read_text(encoding="utf-8")[:20000]
    pages = _real_pages()
    for case in range(2500):
        text = _mangled(rng, prose)
        if case % 10 == 0:  # real pages with markup spliced in
            page = rng.choice(pages)
            at = rng.randrange(len(page) + 1)
            text = page[:at] + text + page[at:]
        _assert_same(text, f"seed {seed}, case {case}: {text!r}")


def test_characters_python_matches_differently_are_left_to_python() -> None:
    for text in ("<ſpan>甲</span>", "<REF>乙</ref>\u212a", "丙\uffff丁"):
        assert _wikitext.prose_text(text) is None
        assert to_prose(text) == python_prose(text)
    assert _wikitext.prose_text("<span>甲</span>") == "甲\n"


def test_only_str_is_accepted() -> None:
    with pytest.raises(TypeError, match="wants a str"):
        _wikitext.prose_text(b"bytes")  # type: ignore[arg-type]
