"""Build zhwiki-style MediaWiki export-0.11 dumps (.xml.bz2) from real Chinese Wikipedia prose.

No real zhwiki dump is reachable offline, so the bundled sample, the test fixtures and the benchmark dumps are
built here: real article prose (WikiExtractor output, DRCD/CMRC2018 paragraphs, CCTV news for bulk) wrapped in
generated but realistic wikitext, serialised as Wikimedia serialises dumps (MediaWiki's XmlDumpWriter layout;
recompressxml's multistream layout and index). Every choice is seeded from the inputs, so the output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import itertools
import json
import lzma
import os
import random
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import opencc

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO_ROOT.parent / "shared" / "data" / "corpora"

# ----------------------------------------------------------------------------------------------------------
# XML: the layout of MediaWiki's XmlDumpWriter (schema 0.11) and of Wikimedia's multistream files
# ----------------------------------------------------------------------------------------------------------

EXPORT_NS = "http://www.mediawiki.org/xml/export-0.11/"

# zhwiki's <namespaces> exactly as its dumps list them (canonical English names; Chinese names are aliases).
ZHWIKI_NAMESPACES: tuple[tuple[int, str, str], ...] = (
    (-2, "first-letter", "Media"),
    (-1, "first-letter", "Special"),
    (0, "first-letter", ""),
    (1, "first-letter", "Talk"),
    (2, "first-letter", "User"),
    (3, "first-letter", "User talk"),
    (4, "first-letter", "Wikipedia"),
    (5, "first-letter", "Wikipedia talk"),
    (6, "first-letter", "File"),
    (7, "first-letter", "File talk"),
    (8, "first-letter", "MediaWiki"),
    (9, "first-letter", "MediaWiki talk"),
    (10, "first-letter", "Template"),
    (11, "first-letter", "Template talk"),
    (12, "first-letter", "Help"),
    (13, "first-letter", "Help talk"),
    (14, "first-letter", "Category"),
    (15, "first-letter", "Category talk"),
    (100, "first-letter", "Portal"),
    (101, "first-letter", "Portal talk"),
    (102, "first-letter", "WikiProject"),
    (103, "first-letter", "WikiProject talk"),
    (118, "first-letter", "Draft"),
    (119, "first-letter", "Draft talk"),
    (828, "first-letter", "Module"),
    (829, "first-letter", "Module talk"),
    (2300, "first-letter", "Gadget"),
    (2301, "first-letter", "Gadget talk"),
    (2302, "case-sensitive", "Gadget definition"),
    (2303, "case-sensitive", "Gadget definition talk"),
    (2600, "first-letter", "Topic"),
)
NS_PREFIX = {key: name for key, _, name in ZHWIKI_NAMESPACES if key > 0}


def _namespace_line(key: int, case: str, name: str) -> str:
    if not name:
        return f'      <namespace key="{key}" case="{case}" />'
    return f'      <namespace key="{key}" case="{case}">{name}</namespace>'


HEADER = "\n".join(
    [
        f'<mediawiki xmlns="{EXPORT_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{EXPORT_NS} http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" '
        'xml:lang="zh">',
        "  <siteinfo>",
        "    <sitename>Wikipedia</sitename>",
        "    <dbname>zhwiki</dbname>",
        "    <base>https://zh.wikipedia.org/wiki/Wikipedia:%E9%A6%96%E9%A1%B5</base>",
        "    <generator>MediaWiki 1.38.0-wmf.19</generator>",
        "    <case>first-letter</case>",
        "    <namespaces>",
        *(_namespace_line(*ns) for ns in ZHWIKI_NAMESPACES),
        "    </namespaces>",
        "  </siteinfo>",
        "",
    ]
)
FOOTER = "</mediawiki>\n"


@dataclass(frozen=True)
class DumpPage:
    """One page as a dump holds it: `title` carries its namespace prefix, `redirect` its target if any."""

    title: str
    ns: int
    page_id: int
    text: str
    redirect: str | None = None


@dataclass(frozen=True)
class Revision:
    """The revision metadata a dump carries; invented, but a pure function of the page so output is stable."""

    rev_id: int
    parent_id: int | None
    timestamp: str
    username: str | None
    user_id: int | None
    ip: str | None
    minor: bool
    comment: str | None


EDITORS: tuple[tuple[str, int], ...] = (
    ("Sample-editor", 1107731),
    ("維基樣本編者", 2054410),
    ("示例编者", 1834102),
    ("Example-bot", 3125506),
    ("Zhsample", 946311),
)
ANON_IPS = ("203.0.113.27", "198.51.100.142", "2001:db8:4f1::1a", "192.0.2.88")
COMMENTS = (
    None,
    "修正笔误",
    "补充内容",
    "/* 参考资料 */ 修正格式",
    "[[WP:BOT|机器人]]：修复失效链接",
    "小修改",
    "/* 歷史 */ 補充來源",
    "增加內部連結",
)
FIRST_EDIT = datetime(2018, 1, 1, tzinfo=UTC)


def xml_escape(text: str) -> str:
    """Escape as MediaWiki does in dumps: `& < > "` become entities, apostrophes stay (wikitext bold)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def mediawiki_sha1(text: str) -> str:
    """SHA-1 of the UTF-8 text in base 36, zero-padded to 31 digits: MediaWiki's rev_sha1 form."""
    number = int(hashlib.sha1(text.encode()).hexdigest(), 16)
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits
    return digits.rjust(31, "0")


def revision_for(page: DumpPage) -> Revision:
    """Plausible revision metadata derived from the page's id and title only."""
    h = int.from_bytes(hashlib.sha256(f"{page.page_id}\0{page.title}".encode()).digest()[:16], "big")
    rev_id = 55_000_000 + page.page_id * 16 + h % 16
    h //= 16
    parent_id = None if h % 10 == 0 else rev_id - 1 - (h // 10) % 3_000_000
    h //= 10 * 3_000_000
    when = FIRST_EDIT + timedelta(seconds=h % (4 * 365 * 86400))
    h //= 4 * 365 * 86400
    anonymous = page.redirect is None and h % 9 == 0
    username, user_id = EDITORS[(h // 9) % len(EDITORS)]
    h //= 9 * len(EDITORS)
    return Revision(
        rev_id=rev_id,
        parent_id=parent_id,
        timestamp=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        username=None if anonymous else username,
        user_id=None if anonymous else user_id,
        ip=ANON_IPS[h % len(ANON_IPS)] if anonymous else None,
        minor=h % 5 == 0,
        comment=COMMENTS[(h // 5) % len(COMMENTS)],
    )


def page_xml(page: DumpPage) -> str:
    """One `<page>` element, indented and ordered like XmlDumpWriter's output (2-space steps)."""
    rev = revision_for(page)
    sha1 = mediawiki_sha1(page.text)
    lines = [
        "  <page>",
        f"    <title>{xml_escape(page.title)}</title>",
        f"    <ns>{page.ns}</ns>",
        f"    <id>{page.page_id}</id>",
    ]
    if page.redirect is not None:
        lines.append(f'    <redirect title="{xml_escape(page.redirect)}" />')
    lines += ["    <revision>", f"      <id>{rev.rev_id}</id>"]
    if rev.parent_id is not None:
        lines.append(f"      <parentid>{rev.parent_id}</parentid>")
    lines += [f"      <timestamp>{rev.timestamp}</timestamp>", "      <contributor>"]
    if rev.ip is not None:
        lines.append(f"        <ip>{rev.ip}</ip>")
    else:
        lines += [
            f"        <username>{xml_escape(str(rev.username))}</username>",
            f"        <id>{rev.user_id}</id>",
        ]
    lines.append("      </contributor>")
    if rev.minor:
        lines.append("      <minor />")
    if rev.comment is not None:
        lines.append(f"      <comment>{xml_escape(rev.comment)}</comment>")
    lines += [
        f"      <origin>{rev.rev_id}</origin>",
        "      <model>wikitext</model>",
        "      <format>text/x-wiki</format>",
        f'      <text bytes="{len(page.text.encode())}" sha1="{sha1}" xml:space="preserve">'
        f"{xml_escape(page.text)}</text>",
        f"      <sha1>{sha1}</sha1>",
        "    </revision>",
        "  </page>",
    ]
    return "\n".join(lines) + "\n"


def index_path_for(dump: Path) -> Path:
    """`x-multistream.xml.bz2` -> `x-multistream-index.txt.bz2`, Wikimedia's naming."""
    name = dump.name.removesuffix(".bz2").removesuffix(".xml")
    return dump.with_name(f"{name}-index.txt.bz2")


@contextmanager
def _atomic_output(path: Path) -> Iterator[BinaryIO]:
    """Write to a temp file beside `path` and rename it in place only if the block finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _batches(pages: Iterable[DumpPage], size: int) -> Iterator[list[DumpPage]]:
    it = iter(pages)
    while batch := list(itertools.islice(it, size)):
        yield batch


def write_dump(
    pages: Iterable[DumpPage], path: Path, *, multistream: bool, pages_per_stream: int = 100
) -> Path | None:
    """Write `pages` as a dump at `path`; return the multistream index path (None for single-stream).

    Multistream is laid out as recompressxml does it: one bz2 stream for the header through `</siteinfo>`,
    one per `pages_per_stream` pages, one for the closing tag; index lines are
    `offset-of-the-page's-stream:page_id:title` with the title as escaped in the XML.
    """
    if not multistream:
        with _atomic_output(path) as out:
            packer = bz2.BZ2Compressor(9)
            out.write(packer.compress(HEADER.encode()))
            for page in pages:
                out.write(packer.compress(page_xml(page).encode()))
            out.write(packer.compress(FOOTER.encode()))
            out.write(packer.flush())
        return None
    index = index_path_for(path)
    with _atomic_output(path) as out, _atomic_output(index) as index_out:
        index_packer = bz2.BZ2Compressor(9)
        offset = out.write(bz2.compress(HEADER.encode(), 9))
        for batch in _batches(pages, pages_per_stream):
            lines = "".join(f"{offset}:{p.page_id}:{xml_escape(p.title)}\n" for p in batch)
            index_out.write(index_packer.compress(lines.encode()))
            offset += out.write(bz2.compress("".join(page_xml(p) for p in batch).encode(), 9))
        out.write(bz2.compress(FOOTER.encode(), 9))
        index_out.write(index_packer.flush())
    return index


def page_kind(page: DumpPage) -> str:
    """`article`, `redirect`, or the namespace name: the categories the sample's README counts."""
    if page.ns == 0:
        return "redirect" if page.redirect is not None else "article"
    return NS_PREFIX[page.ns]


# ----------------------------------------------------------------------------------------------------------
# Sources: real prose, read into one shape
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    """Real prose of one article (lead first, then sections of paragraphs), or verbatim wikitext."""

    title: str
    sections: tuple[tuple[str, ...], ...]
    source: str
    wikitext: str | None = None
    date: str | None = None

    def paragraphs(self) -> Iterator[str]:
        return (p for section in self.sections for p in section)


TITLE_FORBIDDEN = str.maketrans(
    {"[": "［", "]": "］", "{": "｛", "}": "｝", "|": "｜", "#": "＃", "<": "＜", ">": "＞"}
)


def clean_title(raw: str, limit: int = 80) -> str:
    """A valid MediaWiki title: no forbidden characters, spaces not underscores, first letter capitalised."""
    title = " ".join(raw.translate(TITLE_FORBIDDEN).replace("_", " ").split())[:limit].strip()
    return title[:1].upper() + title[1:]


def sections_from_extractor_text(title: str, text: str) -> tuple[tuple[str, ...], ...]:
    """WikiExtractor repeats the title as line one and leaves a run of blank lines where a heading was."""
    first, _, rest = text.partition("\n")
    body = rest if first.strip() == title else text
    blocks = re.split(r"\n{3,}", body.strip("\n"))
    sections = (tuple(p.strip("\n") for p in block.split("\n\n") if p.strip()) for block in blocks)
    return tuple(s for s in sections if s)


def read_wikitext_samples(folder: Path) -> list[Article]:
    """The raw wikitext pages, verbatim; a guessed title loses its `(title guessed ...)` note."""
    manifest = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    return [
        Article(
            title=re.sub(r"\s*\([^)]*guessed[^)]*\)\s*$", "", entry["title"]),
            sections=(),
            source="wikitext",
            wikitext=(folder / entry["file"]).read_text(encoding="utf-8"),
        )
        for entry in manifest["files"]
    ]


def read_extractor_docs(path: Path) -> Iterator[Article]:
    """WikiExtractor's `<doc id url title>` text output."""
    text = path.read_text(encoding="utf-8")
    for m in re.finditer(r'<doc id="\d+" url="[^"]*" title="([^"]*)">\n(.*?)</doc>', text, re.S):
        title = clean_title(m.group(1))
        yield Article(title, sections_from_extractor_text(m.group(1), m.group(2)), "wikiextractor-txt")


def read_extractor_jsonl(path: Path) -> Iterator[Article]:
    """WikiExtractor `--json` output: one {id,url,title,text} per line."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            title = clean_title(doc["title"])
            yield Article(
                title, sections_from_extractor_text(doc["title"], doc["text"]), "wikiextractor-json"
            )


def _group_paragraphs(paragraphs: Sequence[str], size: int = 2) -> tuple[tuple[str, ...], ...]:
    """Lead is the first paragraph; the rest fall into sections of `size`."""
    rest = paragraphs[1:]
    return (tuple(paragraphs[:1]), *(tuple(rest[i : i + size]) for i in range(0, len(rest), size)))


def read_paragraph_sets(path: Path) -> Iterator[Article]:
    """DRCD/CMRC2018 `{source,variant,title,paragraphs}` lines; a title split over dev/test is one article."""
    merged: dict[str, tuple[str, list[str]]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            source = "DRCD" if row["source"].startswith("DRCKnowledgeTeam") else "CMRC2018"
            _, paragraphs = merged.setdefault(clean_title(row["title"]), (source, []))
            paragraphs += [p for p in row["paragraphs"] if p.strip() and p not in paragraphs]
    for title, (source, paragraphs) in merged.items():
        yield Article(title, _group_paragraphs(paragraphs), source)


def read_news(path: Path) -> Iterator[Article]:
    """CCTV 新闻联播 items, streamed from .xz; editor credit lines dropped, repeated titles dated."""
    seen: set[str] = set()
    with lzma.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            paragraphs = [
                p.strip()
                for p in item["text"].split("\n")
                if p.strip() and not re.match(r"[(（]视频编辑", p.strip())
            ]
            if not paragraphs:
                continue
            base = clean_title(re.sub(r"^\[视频\]", "", item["title"]))
            d = item["date"]
            title = base if base not in seen else f"{base} ({d[:4]}年{int(d[4:6])}月{int(d[6:])}日)"
            title = next(
                t for n in itertools.count(1) if (t := title if n == 1 else f"{title} {n}") not in seen
            )
            seen.add(title)
            yield Article(title, _group_paragraphs(paragraphs, 3), "CCTV", date=d)


def merge_articles(articles: Iterable[Article]) -> list[Article]:
    """One article per title: a later duplicate adds only the paragraphs the first lacks, as a section."""
    by_title: dict[str, Article] = {}
    for art in articles:
        first = by_title.get(art.title)
        if first is None:
            by_title[art.title] = art
            continue
        known = "\n".join(first.paragraphs())
        extra = tuple(p for p in art.paragraphs() if p not in known)
        if extra and first.wikitext is None:
            by_title[art.title] = Article(
                first.title, (*first.sections, extra), first.source, date=first.date
            )
    return list(by_title.values())


def sample_articles(corpora: Path) -> list[Article]:
    """All real material of the bundled sample, in dump order (the jastfkjg file duplicates enix223)."""
    return merge_articles(
        itertools.chain(
            read_wikitext_samples(corpora / "zhwiki_wikitext_samples"),
            read_extractor_docs(corpora / "zhwiki_wikiextractor_enix223_AA_wiki_00.txt"),
            read_extractor_jsonl(corpora / "zhwiki_wikiextractor_json_KazuhiraDZ_wiki_00.jsonl"),
            read_paragraph_sets(corpora / "zhwiki_paragraphs_DRCD_cmrc2018.jsonl"),
        )
    )


# ----------------------------------------------------------------------------------------------------------
# Wikitext: realistic markup generated around the real prose, which itself stays intact
# ----------------------------------------------------------------------------------------------------------


@cache
def _opencc(config: str) -> Any:
    return opencc.OpenCC(config)


def to_hans(text: str) -> str:
    return str(_opencc("t2s").convert(text))


def to_hant(text: str) -> str:
    return str(_opencc("s2t").convert(text))


def is_hant(text: str) -> bool:
    """Mostly traditional script? zhwiki articles mix both; the majority decides the generated labels."""
    head = text[:800]
    simplified, traditional = to_hans(head), to_hant(head)
    if len(simplified) != len(head) or len(traditional) != len(head):
        return len(simplified) < len(traditional)
    return sum(map(str.__ne__, head, simplified)) > sum(map(str.__ne__, head, traditional))


LABELS: dict[bool, dict[str, str]] = {
    False: {
        "see": "参见",
        "refs": "参考资料",
        "ext": "外部链接",
        "chronicle": "大事年表",
        "year": "年份",
        "event": "事件",
        "related": "相关条目",
        "talk_head": "关于来源",
        "talk_ask": "这句需要可靠来源。",
        "talk_done": "已补充来源，请复核。",
        "talk": "留言",
        "dyk": "新条目推荐/存档",
        "cat_intro": "本分类收录与{}相关的条目。",
        "cat_root": "页面分类",
        "nav_cat": "导航模板",
        "variant_redirect": "{{简繁重定向}}",
        "alias_redirect": "{{别名重定向}}",
        "redirect": "#重定向",
    },
    True: {
        "see": "參見",
        "refs": "參考文獻",
        "ext": "外部連結",
        "chronicle": "大事年表",
        "year": "年份",
        "event": "事件",
        "related": "相關條目",
        "talk_head": "關於來源",
        "talk_ask": "這句需要可靠來源。",
        "talk_done": "已補充來源，請複核。",
        "talk": "留言",
        "dyk": "新条目推荐/存档",
        "cat_intro": "本分類收錄與{}相關的條目。",
        "cat_root": "頁面分類",
        "nav_cat": "導航模板",
        "variant_redirect": "{{簡繁重定向}}",
        "alias_redirect": "{{別名重定向}}",
        "redirect": "#重定向",
    },
}
HEADINGS: dict[bool, tuple[str, ...]] = {
    False: (
        "概述",
        "历史",
        "背景",
        "发展",
        "特点",
        "结构",
        "影响",
        "现状",
        "评价",
        "文化",
        "研究",
        "争议",
        "应用",
    ),
    True: (
        "概述",
        "歷史",
        "背景",
        "發展",
        "特點",
        "結構",
        "影響",
        "現況",
        "評價",
        "文化",
        "研究",
        "爭議",
        "應用",
    ),
}
# Title suffix -> the topic category such an article sits in, and the infobox it would carry.
TOPICS: tuple[tuple[str, str, str], ...] = (
    ("大学", "大学", "Infobox university"),
    ("大學", "大学", "Infobox university"),
    ("学", "学科", "Infobox academic discipline"),
    ("學", "学科", "Infobox academic discipline"),
    ("市", "城市", "Infobox settlement"),
    ("县", "县份", "Infobox settlement"),
    ("縣", "县份", "Infobox settlement"),
    ("鄉", "乡镇", "Infobox settlement"),
    ("乡", "乡镇", "Infobox settlement"),
    ("島", "岛屿", "Infobox islands"),
    ("岛", "岛屿", "Infobox islands"),
    ("站", "车站", "Infobox station"),
    ("系列", "系列作品", "Infobox media franchise"),
    ("公司", "公司", "Infobox company"),
    ("寺", "寺庙", "Infobox religious building"),
    ("语", "语言", "Infobox language"),
    ("語", "语言", "Infobox language"),
    ("族", "民族", "Infobox ethnic group"),
    ("战争", "战争", "Infobox military conflict"),
    ("戰爭", "战争", "Infobox military conflict"),
    ("事件", "事件", "Infobox event"),
    ("·", "人物", "Infobox person"),
)
NOTETA_GROUPS = ("IT", "Math", "Physics", "Chemistry", "Biology", "Geography", "Movie", "Music", "Politics")
ENTITIES = {"·": "&middot;", "—": "&mdash;", "×": "&times;", "°": "&deg;"}
PROTECTED = re.compile(r"-\{.*?\}-|<[^<>\n]*>|\[\[.*?\]\]|\{\{.*?\}\}|\[https?:[^\]]*\]", re.S)
QUOTED = re.compile(r"[《「]([^《》「」\n|\[\]{}<>=]{2,16})[》」]")
LATIN_NAME = re.compile(r"[（(]([A-Za-z][A-Za-z .'\-]{2,40}[A-Za-z])[）)]")


def topic_of(title: str) -> tuple[str, str] | None:
    """(category, infobox) guessed from the title's suffix, e.g. `…大學` -> 大学 / Infobox university."""
    for suffix, category, infobox in TOPICS:
        if (title.endswith(suffix) or (suffix == "·" and suffix in title)) and len(title) > len(suffix):
            return category, infobox
    return None


def latin_name(article: Article) -> str | None:
    """The Latin-script name given in parentheses right after the title's first mention in the lead."""
    lead = "\n".join(article.sections[0]) if article.sections else ""
    at = lead.find(article.title)
    m = LATIN_NAME.match(lead, at + len(article.title)) if at >= 0 else None
    return m.group(1) if m else None


class LinkIndex:
    """Known titles by their first two characters, so link candidates are found in one pass over the prose."""

    def __init__(self, titles: Iterable[str]) -> None:
        self.titles = frozenset(titles)
        by_prefix: dict[str, list[str]] = {}
        for t in self.titles:
            if len(t) >= 2 and not (t.isascii() and len(t) < 4):
                by_prefix.setdefault(t[:2], []).append(t)
        self._by_prefix = {k: tuple(sorted(v, key=lambda t: (-len(t), t))) for k, v in by_prefix.items()}

    def occurrences(self, text: str) -> list[tuple[int, int]]:
        """Non-overlapping (start, end) spans of known titles, longest match first, left to right."""
        found: list[tuple[int, int]] = []
        i, n = 0, len(text) - 1
        while i < n:
            step = 1
            for t in self._by_prefix.get(text[i : i + 2], ()):
                if text.startswith(t, i):
                    found.append((i, i + len(t)))
                    step = len(t)
                    break
            i += step
        return found


@dataclass
class Draft:
    """What one article's generated markup has used so far: links, refs, the rng driving the choices."""

    title: str
    hant: bool
    rng: random.Random
    links: LinkIndex
    linked: list[str] = field(default_factory=list)
    ref_names: list[str] = field(default_factory=list)
    refs: int = 0

    @property
    def label(self) -> dict[str, str]:
        return LABELS[self.hant]


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    """Does [start, end) touch any span? A zero-width insertion only conflicts strictly inside a span."""
    if start == end:
        return any(s < start < e for s, e in spans)
    return any(s < end and start < e for s, e in spans)


def _link(word: str, rng: random.Random) -> str:
    """`[[W]]`, or piped to the other script's title as zhwiki links often are, or chinapedia's `[[W|W]]`."""
    other = to_hans(word) if to_hans(word) != word else to_hant(word)
    roll = rng.random()
    if other != word and roll < 0.4:
        return f"[[{other}|{word}]]"
    if roll < 0.5:
        return f"[[{word}|{word}]]"
    return f"[[{word}]]"


def _conversion(word: str, rng: random.Random) -> str:
    """`-{zh-hans:..;zh-hant:..}-` (or the zh-cn/tw/hk form); `-{W}-` when the word has no variant."""
    hans, hant = to_hans(word), to_hant(word)
    if hans == hant:
        return f"-{{{word}}}-"
    if rng.random() < 0.7:
        return f"-{{zh-hans:{hans};zh-hant:{hant};}}-"
    return f"-{{zh-cn:{hans}; zh-tw:{hant}; zh-hk:{hant};}}-"


def _citation(draft: Draft, anchor: str) -> str:
    """A cite template about the article, on example.org (no real source is claimed)."""
    rng = draft.rng
    year = 2008 + rng.randrange(14)
    url = f"https://www.example.org/{quote(draft.title)}/{rng.randrange(1000, 9999)}"
    kind = rng.choice(("web", "web", "news", "book"))
    if kind == "book":
        isbn = f"978{rng.randrange(10**9, 10**10)}"
        return f"{{{{cite book|title={draft.title}|year={year}|isbn={isbn}|page={rng.randrange(1, 400)}}}}}"
    date = f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    return f"{{{{cite {kind}|url={url}|title={anchor}|website=example.org|accessdate={date}|language=zh}}}}"


def _ref(draft: Draft, anchor: str) -> str:
    """A fresh `<ref>`, a named one, or a reuse of a named one (`<ref name=":0" />`)."""
    rng = draft.rng
    draft.refs += 1
    if draft.ref_names and rng.random() < 0.3:
        return f'<ref name="{rng.choice(draft.ref_names)}" />'
    if rng.random() < 0.4:
        name = f":{len(draft.ref_names)}" if rng.random() < 0.5 else f"src{len(draft.ref_names) + 1}"
        draft.ref_names.append(name)
        return f'<ref name="{name}">{_citation(draft, anchor)}</ref>'
    return f"<ref>{_citation(draft, anchor)}</ref>"


def _variant_word(text: str, taken: Sequence[tuple[int, int]], rng: random.Random) -> tuple[int, int] | None:
    """A free two-character CJK span whose simplified and traditional forms differ, for conversion markup."""
    for i in rng.sample(range(len(text) - 1), min(24, max(0, len(text) - 1))):
        word = text[i : i + 2]
        cjk = all("\u4e00" <= ch <= "\u9fff" for ch in word)
        if cjk and to_hans(word) != to_hant(word) and not _overlaps(i, i + 2, taken):
            return i, i + 2
    return None


def mark_paragraph(text: str, draft: Draft, *, lead: bool) -> str:
    """Wrap real prose in links, bold, refs, conversion markup and entities; the words themselves stay."""
    rng = draft.rng
    protected = [m.span() for m in PROTECTED.finditer(text)]
    edits: list[tuple[int, int, str]] = []

    def free(start: int, end: int) -> bool:
        return not _overlaps(start, end, protected) and not _overlaps(
            start, end, [(s, e) for s, e, _ in edits]
        )

    if lead and (at := text.find(draft.title)) >= 0 and free(at, at + len(draft.title)):
        edits.append((at, at + len(draft.title), f"'''{draft.title}'''"))
    quoted = [m.span(1) for m in QUOTED.finditer(text)]
    for start, end in sorted(draft.links.occurrences(text) + quoted):
        word = text[start:end]
        if len(edits) > 8 or word == draft.title or word in draft.linked or not free(start, end):
            continue
        if rng.random() < 0.6:
            draft.linked.append(word)
            edits.append((start, end, _link(word, rng)))
    if rng.random() < 0.2 and (span := _variant_word(text, protected + [(s, e) for s, e, _ in edits], rng)):
        edits.append((*span, _conversion(text[span[0] : span[1]], rng)))
    for m in re.finditer("。", text):
        if rng.random() < 0.15 and free(m.end(), m.end()):
            anchor = re.sub(r"[\s|{}\[\]=<>]", "", text[max(0, m.start() - 12) : m.start()].split("，")[-1])
            edits.append((m.end(), m.end(), _ref(draft, anchor or draft.title)))
    for m in re.finditer("[·—×°]", text):
        if rng.random() < 0.3 and free(m.start(), m.end()):
            edits.append((m.start(), m.end(), ENTITIES[m.group()]))
    out, pos = [], 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        out += [text[pos:start], replacement]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _infobox(article: Article, draft: Draft, topic: tuple[str, str] | None, alias: str | None) -> str:
    """Template parameters only, never prose: name, image, alias, a year found in the text."""
    rng = draft.rng
    rows = [("name", article.title)]
    if rng.random() < 0.7:
        rows += [("image", f"{article.title}.jpg"), ("image_size", "250px"), ("caption", article.title)]
    if alias:
        rows.append(("native_name", alias))
    if article.date:
        rows.append(("date", f"{article.date[:4]}-{article.date[4:6]}-{article.date[6:]}"))
    elif years := re.findall(r"(\d{4})年", "".join(itertools.islice(article.paragraphs(), 3))):
        rows.append(("established", f"{years[0]}年"))
    name = "Infobox news event" if article.date else (topic[1] if topic else "Infobox")
    return "{{" + name + "\n" + "\n".join(f"| {k} = {v}" for k, v in rows) + "\n}}"


def _chronicle(article: Article, draft: Draft) -> str | None:
    """A `{| class="wikitable"` of years and the words following them in the text."""
    rows: list[tuple[str, str]] = []
    for m in re.finditer(r"(\d{3,4})年([^，。；：、\n|!{}\[\]<>]{2,14})", "\n".join(article.paragraphs())):
        if m.group(1) not in (r[0] for r in rows):
            rows.append((m.group(1), m.group(2)))
    if len(rows) < 2:
        return None
    lab = draft.label
    body = "".join(f"|-\n| {y}年 || {what}\n" for y, what in rows[:6])
    head = f"|+ {article.title}{lab['chronicle']}\n! {lab['year']} !! {lab['event']}\n"
    return f'{{| class="wikitable"\n{head}{body}|}}'


def article_wikitext(article: Article, links: LinkIndex, *, hant: bool, navbox: str | None = None) -> str:
    """Realistic zhwiki wikitext around the article's real paragraphs, seeded by its source and title."""
    if article.wikitext is not None:
        return article.wikitext
    draft = Draft(article.title, hant, random.Random(f"{article.source}\0{article.title}"), links)
    rng, lab = draft.rng, draft.label
    topic = topic_of(article.title)
    alias = latin_name(article)
    blocks: list[str] = []
    if rng.random() < 0.15:
        word = next((w for w in (article.title, to_hant(article.title)) if to_hans(w) != to_hant(w)), None)
        pair = f"\n|1 = zh-hans:{to_hans(word)}; zh-hant:{to_hant(word)};" if word else ""
        blocks.append(f"{{{{noteTA\n|G1 = {rng.choice(NOTETA_GROUPS)}{pair}\n}}}}")
    if rng.random() < 0.6:
        blocks.append(_infobox(article, draft, topic, alias))
    if rng.random() < 0.08:
        blocks.append("<!-- 请勿移除此模板，相关讨论见讨论页 -->")
    blocks.append(
        "\n\n".join(mark_paragraph(p, draft, lead=i == 0) for i, p in enumerate(article.sections[0]))
    )
    names = list(HEADINGS[hant])
    rng.shuffle(names)
    for n, section in enumerate(article.sections[1:]):
        heading = names[n % len(names)] + ("" if n < len(names) else str(n // len(names) + 1))
        level = "===" if n and rng.random() < 0.15 else "=="
        blocks.append(f"{level} {heading} {level}" if rng.random() < 0.8 else f"{level}{heading}{level}")
        if rng.random() < 0.25:
            caption = f"{article.title}{'' if rng.random() < 0.5 else '（' + heading + '）'}"
            style = rng.choice(("thumb", "thumb|right|220px", "缩略图"))
            prefix = "File" if rng.random() < 0.7 else "文件"
            blocks.append(f"[[{prefix}:{article.title} {n + 1}.jpg|{style}|{caption}]]")
        if rng.random() < 0.06:
            blocks.append(f"<!-- {heading}部分待补充 -->")
        blocks += [mark_paragraph(p, draft, lead=False) for p in section]
    if rng.random() < 0.2 and (table := _chronicle(article, draft)):
        blocks.append(table)
    if len(draft.linked) >= 2 and rng.random() < 0.4:
        see = rng.sample(draft.linked, min(4, len(draft.linked)))
        blocks.append(f"== {lab['see']} ==\n" + "\n".join(f"* [[{w}]]" for w in see))
    if draft.refs:
        blocks.append(f"== {lab['refs']} ==\n" + ("{{Reflist}}" if rng.random() < 0.8 else "<references />"))
    if rng.random() < 0.2:
        blocks.append(
            f"== {lab['ext']} ==\n* [https://www.example.org/wiki/{quote(article.title)} {article.title}]"
        )
    if navbox:
        blocks.append(f"{{{{{navbox}}}}}")
    blocks.append("\n".join(f"[[Category:{c}]]" for c in article_categories(article)))
    if alias:
        blocks[-1] += f"\n\n[[en:{alias}]]"
    elif rng.random() < 0.2:
        blocks[-1] += f"\n\n[[ja:{article.title}]]"
    return "\n\n".join(blocks)


def article_categories(article: Article) -> list[str]:
    """The topic category from the title, a year category for news, else an eponymous one."""
    topic = topic_of(article.title)
    cats = [topic[0]] if topic else []
    if article.date:
        cats.append(f"{article.date[:4]}年中国")
    return cats or [article.title]


# ----------------------------------------------------------------------------------------------------------
# Companion pages: redirects and pages in other namespaces
# ----------------------------------------------------------------------------------------------------------


def redirect_titles(article: Article, hant: bool) -> list[tuple[str, str]]:
    """(redirect title, template) candidates: the other-script title, a Latin alias from the lead."""
    out = []
    other = to_hans(article.title) if hant else to_hant(article.title)
    if other != article.title:
        out.append((other, LABELS[hant]["variant_redirect"]))
    if alias := latin_name(article):
        out.append((clean_title(alias), LABELS[hant]["alias_redirect"]))
    return out


def _signature(user: str, when: datetime, hant: bool) -> str:
    weekday = "一二三四五六日"[when.weekday()]
    talk = LABELS[hant]["talk"]
    stamp = f"{when.year}年{when.month}月{when.day}日 ({weekday}) {when:%H:%M} (UTC)"
    return f"--[[User:{user}|{user}]]（[[User talk:{user}|{talk}]]） {stamp}"


def talk_text(article: Article, hant: bool, rng: random.Random) -> str:
    """A WikiProject banner and a short source discussion quoting the article's first sentence."""
    lab = LABELS[hant]
    first = next(article.paragraphs(), article.title)
    sentence = re.split(r"(?<=[。！？])", first)[0]
    asked = FIRST_EDIT + timedelta(minutes=rng.randrange(4 * 365 * 1440))
    answered = asked + timedelta(minutes=rng.randrange(30, 5000))
    asker, answerer = rng.sample([name for name, _ in EDITORS], 2)
    project = rng.choice(NOTETA_GROUPS)
    klass = rng.choice(("stub", "start", "C", "B"))
    return (
        f"{{{{WikiProject banner shell|class={klass}|1=\n"
        f"{{{{WikiProject {project}|importance=low}}}}\n}}}}\n\n"
        f"== {lab['talk_head']} ==\n「{sentence}」{lab['talk_ask']}{_signature(asker, asked, hant)}\n"
        f":{lab['talk_done']}{_signature(answerer, answered, hant)}"
    )


def navbox_text(name: str, titles: Sequence[str], hant: bool) -> str:
    """A `{{Navbox}}` template page listing a group of articles."""
    items = " · ".join(f"[[{t}]]" for t in titles)
    return (
        f"{{{{Navbox\n| name = {name}\n| title = {name}\n| state = autocollapse\n| list1 = {items}\n}}}}"
        f"<noinclude>\n{{{{collapsible option}}}}\n[[Category:{LABELS[hant]['nav_cat']}]]\n</noinclude>"
    )


def category_text(name: str, main: str, hant: bool) -> str:
    lab = LABELS[hant]
    return f"{{{{Cat main|{main}}}}}\n{lab['cat_intro'].format(name)}\n\n[[Category:{lab['cat_root']}]]"


def dyk_text(entries: Sequence[tuple[str, str]], heading: str) -> str:
    """A 新条目推荐 (DYK) archive: `……[[Title]]: first sentence?` lines quoting real lead sentences."""
    lines = [f"* ……'''[[{title}]]'''：{sentence.rstrip('。！？')}？" for title, sentence in entries]
    return "{{Wikipedia:新条目推荐/存档/header}}\n\n== " + heading + " ==\n" + "\n".join(lines)


@dataclass(frozen=True)
class Companions:
    """How often generated pages accompany articles; all but redirects run on counters, not chances."""

    redirect_chance: float = 0.5
    talk_every: int = 12
    navbox_every: int = 40
    dyk_every: int = 150


def full_title(title: str, ns: int) -> str:
    """`Talk:X` etc.: dumps title pages with the namespace's canonical (English) name."""
    return f"{NS_PREFIX[ns]}:{title}" if ns else title


@dataclass
class _Assembly:
    """Running state of one pass: ids, titles taken, the current navbox group, pending DYK entries."""

    next_id: int
    suffix: str
    used: set[str] = field(default_factory=set)
    group: list[str] = field(default_factory=list)
    group_name: str = ""
    dyk: list[tuple[str, str]] = field(default_factory=list)
    articles: int = 0
    dyks: int = 0

    def free(self, title: str, ns: int = 0) -> bool:
        return full_title(title, ns) not in self.used

    def page(self, title: str, ns: int, text: str, redirect: str | None = None) -> DumpPage:
        """A page with the next id (ids grow with small gaps, as deletions leave them)."""
        page_id = self.next_id
        self.next_id += 1 + hashlib.sha256(title.encode()).digest()[0] % 3
        self.used.add(full_title(title, ns))
        return DumpPage(full_title(title, ns), ns, page_id, text, redirect)


def assemble(
    articles: Iterable[Article], links: LinkIndex, *, first_id: int, companions: Companions, suffix: str = ""
) -> Iterator[DumpPage]:
    """Article pages in order, each followed by the redirects and other-namespace pages it occasions.

    `suffix` is appended to every title so a second pass over the same material gives distinct pages.
    """
    state = _Assembly(next_id=first_id, suffix=suffix)
    for source_article in articles:
        article = replace(source_article, title=source_article.title + suffix)
        if not state.free(article.title):
            continue
        yield from _article_pages(article, links, state, companions)


def _article_pages(
    article: Article, links: LinkIndex, state: _Assembly, companions: Companions
) -> Iterator[DumpPage]:
    n = state.articles
    state.articles += 1
    hant = is_hant(article.wikitext or "\n".join(article.paragraphs()))
    rng = random.Random(f"companions\0{article.title}")
    if n % companions.navbox_every == 0:
        state.group, state.group_name = [], f"{article.title}{LABELS[hant]['related']}"
    in_navbox = article.wikitext is None and rng.random() < 0.5
    navbox = state.group_name if in_navbox else None
    yield state.page(article.title, 0, article_wikitext(article, links, hant=hant, navbox=navbox))
    state.group.append(article.title)
    for title, template in redirect_titles(article, hant):
        taken = not state.free(title) or title.removesuffix(state.suffix) in links.titles
        if not taken and rng.random() < companions.redirect_chance:
            marker = LABELS[hant]["redirect"] if rng.random() < 0.5 else "#REDIRECT"
            yield state.page(title, 0, f"{marker} [[{article.title}]]\n\n{template}", redirect=article.title)
    if article.sections and n % companions.talk_every == companions.talk_every - 1:
        yield state.page(article.title, 1, talk_text(article, hant, rng))
    topic = topic_of(article.title)
    if topic and state.free(topic[0] + state.suffix, 14):
        yield state.page(topic[0] + state.suffix, 14, category_text(topic[0], article.title, hant))
    if article.sections:
        state.dyk.append((article.title, re.split(r"(?<=[。！？])", next(article.paragraphs()))[0]))
    if n % companions.navbox_every == companions.navbox_every - 1 and state.free(state.group_name, 10):
        yield state.page(state.group_name, 10, navbox_text(state.group_name, state.group, hant))
    if n % companions.dyk_every == companions.dyk_every - 1 and state.dyk:
        k = state.dyks
        state.dyks += 1
        month = f"{2018 + k // 12}年{k % 12 + 1}月"
        title = f"{LABELS[hant]['dyk']}/{month}{state.suffix}"
        yield state.page(title, 4, dyk_text(state.dyk[-8:], f"{month}{rng.randrange(1, 29)}日"))
        state.dyk = []


# ----------------------------------------------------------------------------------------------------------
# The three products: sample, fixture, bench
# ----------------------------------------------------------------------------------------------------------

SAMPLE_NAME = "zhwiki-sample-pages-articles-multistream.xml.bz2"
TINY_STEM = "zhwiki-tiny-pages-articles"


def _link_index(articles: Iterable[Article]) -> LinkIndex:
    return LinkIndex(a.title for a in articles)


def sample_pages(corpora: Path) -> list[DumpPage]:
    """The bundled sample: all real material once, with its generated companions."""
    return _sample_pages_of(sample_articles(corpora))


def _sample_pages_of(articles: list[Article]) -> list[DumpPage]:
    return list(assemble(articles, _link_index(articles), first_id=13, companions=Companions()))


def fixture_pages(corpora: Path) -> list[DumpPage]:
    """About 30 pages for fast extraction tests: a few short articles of every source plus companions."""
    articles = sample_articles(corpora)
    raw = [a for a in articles if a.title in ("等M圓及等N圓", "面天樹蛙", "匹配Z变换方法")]
    picked: list[Article] = list(raw)
    for source in ("wikiextractor-txt", "wikiextractor-json", "DRCD", "CMRC2018"):
        pool = [a for a in articles if a.source == source and 300 < len("".join(a.paragraphs())) < 3000]
        picked += pool[:3]
    tiny = Companions(redirect_chance=0.6, talk_every=5, navbox_every=6, dyk_every=9)
    return list(assemble(picked, _link_index(articles), first_id=13, companions=tiny))


def bench_pages(corpora: Path, target_bytes: int) -> Iterator[DumpPage]:
    """Sample material then CCTV news as articles, cycled with distinct titles until the XML is ~target_bytes.

    News is streamed from the .xz file on every pass, so memory stays flat however large the target. One
    source document has no title; MediaWiki has no untitled pages (and gensim's WikiCorpus, the benchmark's
    baseline, fails on one), so it is left out here.
    """
    articles = [article for article in sample_articles(corpora) if article.title]
    links = _link_index(articles)
    size = len(HEADER.encode()) + len(FOOTER)
    next_id = 13
    for cycle in itertools.count(1):
        material = itertools.chain(articles, read_news(corpora / "xwlb_cctv_news_2012-2026.jsonl.xz"))
        suffix = "" if cycle == 1 else f" ({cycle})"
        for page in assemble(material, links, first_id=next_id, companions=Companions(), suffix=suffix):
            yield page
            next_id = page.page_id + 1
            size += len(page_xml(page).encode())
            if size >= target_bytes:
                return


# ----------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------


def _summary(pages: Iterable[DumpPage]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(Counter(page_kind(p) for p in pages).items()))


def _report(path: Path) -> None:
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


def _cmd_sample(args: argparse.Namespace) -> None:
    articles = sample_articles(args.corpora)
    pages = _sample_pages_of(articles)
    dump = args.output / SAMPLE_NAME
    index = write_dump(pages, dump, multistream=True)
    for path in (dump, index):
        if path:
            _report(path)
    print("articles by source:", dict(Counter(a.source for a in articles)))
    print("pages by kind:", _summary(pages))


def _cmd_fixture(args: argparse.Namespace) -> None:
    pages = fixture_pages(args.corpora)
    multi = args.output / f"{TINY_STEM}-multistream.xml.bz2"
    single = args.output / f"{TINY_STEM}.xml.bz2"
    index = write_dump(pages, multi, multistream=True, pages_per_stream=10)
    write_dump(pages, single, multistream=False)
    samples = args.corpora / "zhwiki_wikitext_samples"
    (args.output / "wikitext").mkdir(parents=True, exist_ok=True)
    for src in sorted(samples.iterdir()):
        shutil.copyfile(src, args.output / "wikitext" / src.name)
    for path in (multi, index, single):
        if path:
            _report(path)
    print("pages by kind:", _summary(pages))


def _cmd_bench(args: argparse.Namespace) -> None:
    target = args.target_mb * 1_000_000
    stem = f"zhwiki-bench{args.target_mb}mb-pages-articles"
    layouts = ("multistream", "single") if args.layout == "both" else (args.layout,)
    for layout in layouts:
        multistream = layout == "multistream"
        dump = args.output / (f"{stem}-multistream.xml.bz2" if multistream else f"{stem}.xml.bz2")
        index = write_dump(bench_pages(args.corpora, target), dump, multistream=multistream)
        for path in (dump, index):
            if path:
                _report(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dumpgen",
        description="Build zhwiki export-0.11 dumps from real zhwiki prose.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, help_text: str, default_out: str, run: Callable[[argparse.Namespace], None]
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA, help="the shared corpora folder")
        sub.add_argument("-o", "--output", type=Path, default=REPO_ROOT / default_out, help="output folder")
        sub.set_defaults(run=run)
        return sub

    command("sample", "the bundled multistream sample dump and its index", "data/sample", _cmd_sample)
    command(
        "fixture",
        "tiny test dumps (multistream + single) and the raw wikitext pages",
        "tests/fixtures",
        _cmd_fixture,
    )
    bench = command(
        "bench", "large benchmark dumps (sample material + CCTV news, cycled)", "work/bench", _cmd_bench
    )
    bench.add_argument("--target-mb", type=int, required=True, help="uncompressed XML size to reach, in MB")
    bench.add_argument("--layout", choices=("multistream", "single", "both"), default="multistream")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.corpora.is_dir():
        print(f"corpora folder not found: {args.corpora}", file=sys.stderr)
        return 2
    args.run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
