"""A zhwiki-scale benchmark dump: ~1.4 M articles (or a fraction) in the multistream layout with its index.

The bench dumps of `benchmarks.dumpgen` cycle the same real articles, so their vocabulary stops growing after
the first pass and their bytes are mostly prose. A real zhwiki dump differs in both ways that matter at full
size: its vocabulary keeps growing (names, transliterations, species: ~1 M words at min_count 5), and most of
its ~13 GB of XML is markup the extractor throws away (reference lists, tables, templates, modules). This
module builds that shape from the same real prose:

- **Articles** are pieces of the real articles and news items (a lognormal number of characters around
  `PROSE_CHARS`, so stubs and long pages both occur), re-cut and re-ordered on every pass over the material.
- **Rare words**: generated Latin-script names inserted as glosses, `（Kabetu）` / `（英语：Kabetu Rovani）`,
  as zhwiki glosses foreign names. Their ranks follow a Zipf–Mandelbrot tail, count(r) ∝ 1/(r + RARE_OFFSET),
  that continues the real vocabulary's curve past its last rank.
- **Markup bytes**: list-defined reference lists (`{{Reflist|refs=…}}` of `{{cite web}}`) and data tables
  drawn from a pool built once per process, large enough that bz2's 900 kB blocks never see a repeat, plus
  the companion pages of `benchmarks.dumpgen` and Module (Lua) and File pages.

Pages are written by parallel processes, each a contiguous range of articles with its own page ids, then
joined: a multistream dump is a concatenation of bz2 streams, so the parts need only their index offsets
shifted.
"""

from __future__ import annotations

import argparse
import bz2
import math
import os
import random
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from benchmarks import dumpgen
from benchmarks.dumpgen import Article, DumpPage, LinkIndex

FULL_ARTICLES = 1_400_000
PROSE_CHARS = 355  # mean prose characters an article (lengths are lognormal around it), as zhwiki articles
RARE_OFFSET = 200_000  # the rank where the generated tail takes over from the real vocabulary
RARE_TYPES = 3_000_000
RARE_SCALE = 5_000_000  # count(r) = RARE_SCALE / (r + RARE_OFFSET) at full size: rank 800 k still has 5
FILLER_BLOCKS = 12_000
PAGES_PER_STREAM = 100
PART_ARTICLES = 43_750  # articles a part: the parts, and so the bytes, do not depend on the worker count
SIZES = {"full": 1.0, "quarter": 0.25, "sixteenth": 0.0625}
ONSETS = "b d f g h k l m n p r s t v z br dr gr kr tr st sk"
SYLLABLES = [c + v for c in ONSETS.split() for v in ("a", "e", "i", "o", "u", "ai", "ou")]


def rare_word(rank: int) -> str:
    """The generated word of a rank: its digits in base len(SYLLABLES) spelled as syllables (unique)."""
    n, parts = rank + len(SYLLABLES) ** 2, []
    while n:
        n, digit = divmod(n, len(SYLLABLES))
        parts.append(SYLLABLES[digit])
    return "".join(parts).capitalize()


def rare_rank(u: float) -> int:
    """Inverse CDF of P(r) ∝ 1/(r + RARE_OFFSET), r < RARE_TYPES, for a uniform `u` in [0, 1)."""
    span = math.log((RARE_TYPES + RARE_OFFSET) / RARE_OFFSET)
    return min(int(RARE_OFFSET * math.exp(u * span)) - RARE_OFFSET, RARE_TYPES - 1)


def rare_per_article() -> float:
    """Rare tokens per article, the same at every size: the tail's total at full size,
    RARE_SCALE × ln((RARE_TYPES + RARE_OFFSET) / RARE_OFFSET), spread over FULL_ARTICLES."""
    return RARE_SCALE * math.log((RARE_TYPES + RARE_OFFSET) / RARE_OFFSET) / FULL_ARTICLES


def with_glosses(paragraphs: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """`count` rare words put into the paragraphs as parenthesised glosses, before a comma or a full stop."""
    out = list(paragraphs)
    while count > 0:
        words = [rare_word(rare_rank(rng.random())) for _ in range(min(count, rng.choice((1, 1, 2))))]
        count -= len(words)
        gloss = f"（{words[0]}）" if len(words) == 1 else f"（英语：{' '.join(words)}）"
        i = rng.randrange(len(out))
        text = out[i]
        marks = [j for j, ch in enumerate(text) if ch in "，。"] or [len(text)]
        at = rng.choice(marks)
        out[i] = text[:at] + gloss + text[at:]
    return out


# ----------------------------------------------------------------------------------------------------------
# Pieces: the articles of one pass over the material
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    source: int  # index into the material
    first: int  # paragraph range [first, last)
    last: int
    title: str


def cut_pieces(material: Sequence[Article], cycle: int) -> list[Piece]:
    """One pass: the material in a fresh order, each article cut at paragraph ends into pieces of lognormal
    length (mean PROSE_CHARS characters)."""
    rng = random.Random(f"scale-cycle\0{cycle}")
    order = list(range(len(material)))
    rng.shuffle(order)
    sigma = 1.0
    mu = math.log(PROSE_CHARS) - sigma**2 / 2
    pieces: list[Piece] = []
    for source in order:
        paragraphs = list(material[source].paragraphs())
        start, size, target = 0, 0, rng.lognormvariate(mu, sigma)
        for i, text in enumerate(paragraphs):
            size += len(text)
            if size >= target or i == len(paragraphs) - 1:
                title = material[source].title
                if cycle or start:
                    title = f"{title} ({cycle + 1}-{start + 1})"
                pieces.append(Piece(source, start, i + 1, title))
                start, size, target = i + 1, 0, rng.lognormvariate(mu, sigma)
    return pieces


# ----------------------------------------------------------------------------------------------------------
# Markup filler: the bytes a real dump spends on references, tables, modules and file pages
# ----------------------------------------------------------------------------------------------------------

DOMAINS = ("news.example.cn", "www.example.org", "data.example.gov", "archive.example.net", "example.edu")


def _cite(rng: random.Random, title: str, n: int) -> str:
    year = rng.randrange(1995, 2025)
    date = f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    path = "/".join(f"{rng.getrandbits(40):x}" for _ in range(rng.randrange(1, 4)))
    url = f"https://{rng.choice(DOMAINS)}/{year}/{path}.html"
    archive = ""
    if rng.random() < 0.3:
        archive = f" |archiveurl=https://web.archive.org/web/{year + 1}{rng.randrange(10**10):010d}/{url}"
    return (
        f'<ref name="r{n}">{{{{cite web |url={url} |title={title} |date={date} '
        f"|accessdate={year + rng.randrange(0, 3)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        f"{archive}}}}}</ref>"
    )


def _table(rng: random.Random, title: str) -> str:
    years = sorted(rng.sample(range(1950, 2025), rng.randrange(4, 20)))
    cols = rng.randrange(2, 6)
    rows = "".join(
        "|-\n| " + " || ".join([f"{y}年", *(f"{rng.randrange(10**7):,}" for _ in range(cols))]) + "\n"
        for y in years
    )
    head = "! 年份 !! " + " !! ".join(f"指标{c + 1}" for c in range(cols))
    return f'{{| class="wikitable sortable"\n|+ {title}统计\n{head}\n{rows}|}}'


def _lua(rng: random.Random, name: str) -> str:
    fields = [f"f{rng.randrange(10**6)}" for _ in range(rng.randrange(20, 120))]
    body = "\n".join(
        f"\tlocal {f} = args['{f}'] or '{rng.randrange(10**9)}'\n\tif {f} ~= '' then out[#out + 1] = {f} end"
        for f in fields
    )
    return (
        f"-- Module:{name}\nlocal p = {{}}\n\nfunction p.main(frame)\n\tlocal args = frame.args\n"
        f"\tlocal out = {{}}\n{body}\n\treturn table.concat(out, ', ')\nend\n\nreturn p\n"
    )


@cache
def filler_pool(snippets: tuple[str, ...]) -> tuple[str, ...]:
    """Reference lists and data tables (each a few kB) that zhwiki articles carry and the extractor drops;
    cited titles are snippets of the real prose, so they compress as real titles do."""
    rng = random.Random("scale-filler")
    blocks = []
    for k in range(FILLER_BLOCKS):
        if k % 3 == 2:
            blocks.append(_table(rng, rng.choice(snippets)))
            continue
        refs = "\n".join(_cite(rng, rng.choice(snippets), n) for n in range(rng.randrange(3, 25)))
        blocks.append("{{Reflist|2|refs=\n" + refs + "\n}}")
    return tuple(blocks)


# ----------------------------------------------------------------------------------------------------------
# Pages of one part
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """Articles [start, stop) of the dump, made from `cycle`'s pieces [first, first + stop - start)."""

    number: int
    start: int
    stop: int
    spans: tuple[tuple[int, int, int], ...]  # (cycle, first piece, count)


def _pages_of(
    article_no: int, piece: Piece, material: Sequence[Article], links: LinkIndex, filler: Sequence[str]
) -> Iterator[DumpPage]:
    """One article and its companions; page ids 13 + 8·n + k keep the dump in id order across parts."""
    rng = random.Random(f"scale-article\0{article_no}")
    source = material[piece.source]
    paragraphs = list(source.paragraphs())[piece.first : piece.last]
    count = int(rng.expovariate(1 / rare_per_article()) + 0.5)
    paragraphs = with_glosses(paragraphs, count, rng)
    article = Article(piece.title, dumpgen._group_paragraphs(paragraphs), source.source, date=source.date)
    hant = source.source in ("DRCD", "wikiextractor-json")
    text = dumpgen.article_wikitext(article, links, hant=hant)
    extra = "\n\n".join(rng.choice(filler) for _ in range(rng.choice((0, 1, 2, 3, 3, 4, 5))))
    if extra:
        body, _, tail = text.rpartition("\n\n")
        text = f"{body}\n\n{extra}\n\n{tail}" if body else f"{text}\n\n{extra}"
    base = 13 + 8 * article_no
    yield DumpPage(article.title, 0, base, text)
    if rng.random() < 0.9:
        alias = rare_word(rare_rank(rng.random()))
        target = article.title
        marker = "#重定向" if rng.random() < 0.5 else "#REDIRECT"
        yield DumpPage(f"{alias}（{target}）", 0, base + 1, f"{marker} [[{target}]]", redirect=target)
    if article_no % 12 == 11:
        yield DumpPage(f"Talk:{article.title}", 1, base + 2, dumpgen.talk_text(article, hant, rng))
    if article_no % 15 == 0:
        info = f"{{{{Information\n|description={article.title}\n|source=自己的作品\n|date=2019-01-01\n}}}}"
        yield DumpPage(f"File:{article.title}.jpg", 6, base + 3, f"{info}\n\n{{{{cc-by-sa-4.0}}}}")
    if article_no % 40 == 39:
        name = f"{article.title}相关条目"
        yield DumpPage(f"Template:{name}", 10, base + 4, dumpgen.navbox_text(name, [article.title], hant))
    if article_no % 25 == 0:
        topic = f"{article.title}分类"
        yield DumpPage(f"Category:{topic}", 14, base + 5, dumpgen.category_text(topic, article.title, hant))
    if article_no % 400 == 0:
        name = rare_word(article_no)
        yield DumpPage(f"Module:{name}", 828, base + 6, _lua(rng, name))


def _material(corpora: Path) -> list[Article]:
    articles = [a for a in dumpgen.sample_articles(corpora) if a.title and a.wikitext is None]
    news = list(dumpgen.read_news(corpora / "xwlb_cctv_news_2012-2026.jsonl.xz"))
    return dumpgen.merge_articles(articles + news)


@cache
def _setup(corpora: Path) -> tuple[list[Article], LinkIndex, tuple[str, ...]]:
    material = _material(corpora)
    rng = random.Random("scale-snippets")
    paragraphs = [p for a in material for p in a.paragraphs() if len(p) > 40]
    snippets = []
    for text in rng.sample(paragraphs, min(len(paragraphs), 60_000)):
        at = rng.randrange(len(text) - 30)
        snippets.append(text[at : at + rng.randrange(8, 30)].replace("|", "｜"))
    return material, dumpgen._link_index(material), filler_pool(tuple(snippets))


def write_part(corpora: Path, part: Part, out: Path) -> tuple[Path, Path, Counter[str]]:
    """The part's bz2 streams (PAGES_PER_STREAM pages each) and its index lines, offsets from 0."""
    material, links, filler = _setup(corpora)
    kinds: Counter[str] = Counter()
    streams, index = out / f"part{part.number:03d}.bz2", out / f"part{part.number:03d}.idx"
    article_no = part.start
    with streams.open("wb") as data, index.open("w", encoding="utf-8") as lines:
        batch: list[DumpPage] = []
        offset = 0

        def flush() -> None:
            nonlocal offset, batch
            lines.writelines(f"{offset}:{p.page_id}:{dumpgen.xml_escape(p.title)}\n" for p in batch)
            offset += data.write(bz2.compress("".join(map(dumpgen.page_xml, batch)).encode(), 9))
            batch = []

        for cycle, first, count in part.spans:
            for piece in cut_pieces(material, cycle)[first : first + count]:
                for page in _pages_of(article_no, piece, material, links, filler):
                    kinds[dumpgen.page_kind(page)] += 1
                    batch.append(page)
                    if len(batch) == PAGES_PER_STREAM:
                        flush()
                article_no += 1
        if batch:
            flush()
    return streams, index, kinds


def plan_parts(corpora: Path, articles: int, parts: int) -> list[Part]:
    """Split articles [0, articles) into `parts` contiguous ranges, each as spans of the passes' pieces."""
    material, _, _ = _setup(corpora)
    spans: list[tuple[int, int, int]] = []  # (cycle, first, count) covering articles in order
    cycle, total = 0, 0
    while total < articles:
        n = min(len(cut_pieces(material, cycle)), articles - total)
        spans.append((cycle, 0, n))
        total += n
        cycle += 1
    bounds = [round(articles * k / parts) for k in range(parts + 1)]
    out = []
    for k in range(parts):
        start, stop, pos, mine = bounds[k], bounds[k + 1], 0, []
        for c, first, n in spans:
            lo, hi = max(start, pos), min(stop, pos + n)
            if lo < hi:
                mine.append((c, first + lo - pos, hi - lo))
            pos += n
        out.append(Part(k, start, stop, tuple(mine)))
    return out


def build(corpora: Path, articles: int, dump: Path, workers: int) -> Counter[str]:
    """Write the multistream dump and its index; parts are built in parallel and joined in order."""
    index = dumpgen.index_path_for(dump)
    dump.parent.mkdir(parents=True, exist_ok=True)
    kinds: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(dir=dump.parent, prefix=".scale-") as tmp:
        plan = plan_parts(corpora, articles, -(-articles // PART_ARTICLES))
        with ProcessPoolExecutor(workers) as pool:
            done = list(pool.map(write_part, [corpora] * len(plan), plan, [Path(tmp)] * len(plan)))
        with dumpgen._atomic_output(dump) as out, dumpgen._atomic_output(index) as index_out:
            packer = bz2.BZ2Compressor(9)
            offset = out.write(bz2.compress(dumpgen.HEADER.encode(), 9))
            for streams, lines, part_kinds in done:
                kinds.update(part_kinds)
                with lines.open(encoding="utf-8") as fh:
                    for line in fh:
                        at, rest = line.split(":", 1)
                        index_out.write(packer.compress(f"{int(at) + offset}:{rest}".encode()))
                with streams.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 24)
                offset += streams.stat().st_size
            out.write(bz2.compress(dumpgen.FOOTER.encode(), 9))
            index_out.write(packer.flush())
    return kinds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaledump", description=__doc__.split("\n")[0]
    )
    parser.add_argument("size", choices=sorted(SIZES), help="full: 1.4 M articles, quarter, sixteenth")
    parser.add_argument("--articles", type=int, help="override the article count (e.g. for a quick look)")
    parser.add_argument("--corpora", type=Path, default=dumpgen.DEFAULT_CORPORA)
    parser.add_argument("-o", "--output", type=Path, default=dumpgen.REPO_ROOT / "work" / "scale")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if not args.corpora.is_dir():
        print(f"corpora folder not found: {args.corpora}", file=sys.stderr)
        return 2
    articles = args.articles or round(FULL_ARTICLES * SIZES[args.size])
    dump = args.output / f"zhwiki-scale{args.size}-pages-articles-multistream.xml.bz2"
    kinds = build(args.corpora, articles, dump, args.workers)
    shutil.copyfile(Path(__file__).with_name("SCALE.md"), args.output / "README.md")
    for path in (dump, dumpgen.index_path_for(dump)):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    print("pages by kind:", ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
