"""Dump → prose text shards: stream the MediaWiki XML, keep articles, write their prose one line a line.

A multistream dump with its index is cut at bz2 stream boundaries into chunks of about `chunk_bytes`
compressed bytes (by default 1/64 of the dump, within 1..16 MiB: enough chunks to keep every worker busy,
few enough to keep shards large); each worker decompresses and parses its own chunk and writes its own
shard, so nothing but offsets crosses processes. A single-stream dump can only be decompressed in order,
so one reader parses it and workers only clean the page texts. Shards are numbered by position in the
dump, never by which worker finished first: the output is the same for any number of workers, and both
layouts yield the same text for the same pages.
"""

from __future__ import annotations

import bz2
import io
import itertools
import multiprocessing
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol
from xml.parsers import expat

from tqdm import tqdm

from tasks.config import ExtractOptions
from tasks.errors import InputError
from tasks.wikitext import is_disambiguation, is_redirect, to_prose
from tasks.workspace import atomic_path

MIN_CHUNK_BYTES = 1 << 20
MAX_CHUNK_BYTES = 16 << 20
BATCH_CHARS = 1 << 20
EXPORT_NAMESPACE = "http://www.mediawiki.org/xml/export-"
FOOTER = b"</mediawiki>\n"
_MULTISTREAM = "-multistream.xml.bz2"
_NO_ELEMENTS = expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]


class ExtractError(InputError):
    """A dump or index that cannot be read; the message names the file and where reading stopped."""


@dataclass(frozen=True, slots=True)
class Page:
    title: str
    ns: int
    page_id: int
    redirect: bool
    text: str


@dataclass(frozen=True)
class ExtractStats:
    articles: int
    redirects: int
    other_ns: int
    disambiguation_skipped: int
    short_skipped: int
    chars: int
    lines: int
    bytes_in: int
    bytes_out: int
    shards: list[str]


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Joined:
    """Several binary streams read back to back, so a chunk of pages parses as one document."""

    def __init__(self, *parts: _Readable) -> None:
        self._parts = deque(parts)

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative), like any binary reader."""
        if size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while self._parts:
            data = self._parts[0].read(size)
            if data:
                return data
            self._parts.popleft()
        return b""


def iter_pages(stream: BinaryIO | _Readable, *, source: str | None = None) -> Iterator[Page]:
    """Yield the pages of a MediaWiki export stream in order, in flat memory.

    Each page is cleared from the tree once yielded. Any export schema version is accepted (the namespace is
    taken from the root tag). `source` names the input in errors (default: the stream's `name`).
    """
    name = source or str(getattr(stream, "name", "<stream>"))
    where = "before the first page"
    root: ET.Element | None = None
    events = ET.iterparse(stream, events=("start", "end"))
    try:
        _, root = next(events)
        ns = _export_namespace(root.tag, name)
        page_tag = ns + "page"
        for event, elem in events:
            if event == "end" and elem.tag == page_tag:
                page = _page(elem, ns)
                yield page
                where = f"after page {page.page_id} {page.title!r}"
                root.clear()
    except ET.ParseError as exc:
        if root is None and exc.code == _NO_ELEMENTS:
            raise ExtractError(f"{name}: empty, no XML in it") from None
        raise ExtractError(f"{name}: malformed XML ({exc}), {where}{_offset(stream)}") from None
    except (EOFError, OSError) as exc:
        raise ExtractError(
            f"{name}: corrupt or truncated bz2 data ({exc}), {where}{_offset(stream)}"
        ) from None
    except ExtractError:
        raise
    except ValueError as exc:
        raise ExtractError(f"{name}: malformed <page> ({exc}), {where}") from None


def _export_namespace(tag: str, name: str) -> str:
    """`{http://www.mediawiki.org/xml/export-0.11/}` from the root tag, or an error for any other XML."""
    uri, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if local != "mediawiki" or not uri.startswith(EXPORT_NAMESPACE):
        raise ExtractError(
            f"{name}: not a MediaWiki export: root element is <{local}> in namespace {uri or '(none)'!r}, "
            f'expected <mediawiki xmlns="{EXPORT_NAMESPACE}0.11/">'
        )
    return "{" + uri + "}"


def _page(elem: ET.Element, ns: str) -> Page:
    text = ""
    for revision in elem.iterfind(ns + "revision"):
        text = revision.findtext(ns + "text") or ""  # a history dump's last revision is the current one
    return Page(
        title=elem.findtext(ns + "title") or "",
        ns=int(elem.findtext(ns + "ns") or 0),
        page_id=int(elem.findtext(ns + "id") or 0),
        redirect=elem.find(ns + "redirect") is not None,
        text=text,
    )


def _offset(stream: object) -> str:
    tell = getattr(stream, "tell", None)
    try:
        return f", near decompressed byte {tell()}" if tell else ""
    except (OSError, ValueError):
        return ""


def find_index(dump: Path) -> Path | None:
    """`X-multistream-index.txt.bz2` beside `X-multistream.xml.bz2`, if it is there."""
    if not dump.name.endswith(_MULTISTREAM):
        return None
    index = dump.with_name(dump.name.removesuffix(".xml.bz2") + "-index.txt.bz2")
    return index if index.is_file() else None


def extract_dump(
    dump: Path,
    out_dir: Path,
    *,
    options: ExtractOptions,
    workers: int,
    index: Path | None = None,
    progress: bool = False,
    chunk_bytes: int | None = None,
) -> ExtractStats:
    """Write the prose of every kept article to `out_dir/text-00000.txt`, … and count what was kept.

    Keeps namespace 0 minus redirects, disambiguation pages (unless `options.keep_disambiguation`) and
    articles with less than `options.min_chars` prose characters (or none). `index` defaults to the one
    found beside the dump; without one the dump is read as a single stream. Shards left in `out_dir` by an
    earlier run are removed first, so the folder holds exactly this run's shards.
    """
    if not dump.is_file():
        raise ExtractError(f"{dump}: dump file not found")
    size = dump.stat().st_size
    if size == 0:
        raise ExtractError(f"{dump}: empty file")
    index = index or find_index(dump)
    if index is not None and not index.is_file():
        raise ExtractError(f"{index}: multistream index not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("text-*.txt"):
        stale.unlink()
    chunk_bytes = chunk_bytes or min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, size // 64))
    with tqdm(total=size, unit="B", unit_scale=True, desc="extract", disable=not progress) as bar:
        if index is None:
            counts, shards = _extract_single(dump, out_dir, options, max(1, workers), chunk_bytes, bar)
        else:
            counts, shards = _extract_multistream(
                dump, index, out_dir, options, max(1, workers), chunk_bytes, bar
            )
    return ExtractStats(
        articles=counts["articles"],
        redirects=counts["redirects"],
        other_ns=counts["other_ns"],
        disambiguation_skipped=counts["disambiguation_skipped"],
        short_skipped=counts["short_skipped"],
        chars=counts["chars"],
        lines=counts["lines"],
        bytes_in=size,
        bytes_out=sum((out_dir / s).stat().st_size for s in shards),
        shards=shards,
    )


def _shard_name(number: int) -> str:
    return f"text-{number:05d}.txt"


def _is_article(page: Page, counts: Counter[str]) -> bool:
    """Namespace 0 and not a redirect (by the dump's flag or by the text)."""
    if page.ns != 0:
        counts["other_ns"] += 1
        return False
    if page.redirect or is_redirect(page.text):
        counts["redirects"] += 1
        return False
    return True


def _prose_block(texts: Iterable[str], options: ExtractOptions) -> tuple[str, Counter[str]]:
    """The shard text of a run of article wikitexts, and what was kept or skipped."""
    counts: Counter[str] = Counter()
    out: list[str] = []
    for text in texts:
        if not options.keep_disambiguation and is_disambiguation(text):
            counts["disambiguation_skipped"] += 1
            continue
        lines = to_prose(text)
        chars = sum(map(len, lines))
        if chars == 0 or chars < options.min_chars:
            counts["short_skipped"] += 1
            continue
        counts["articles"] += 1
        counts["chars"] += chars
        counts["lines"] += len(lines)
        out.extend(line + "\n" for line in lines)
    return "".join(out), counts


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    """Spawn, not fork: the caller may be a threaded Prefect worker, and forking threads is unsafe."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


# --- multistream: each worker decompresses, parses and writes one chunk of streams -----------------------


def _extract_multistream(
    dump: Path,
    index: Path,
    out_dir: Path,
    options: ExtractOptions,
    workers: int,
    chunk_bytes: int,
    bar: tqdm,
) -> tuple[Counter[str], list[str]]:
    size = dump.stat().st_size
    offsets = _stream_offsets(index)
    if offsets[0] <= 0 or offsets[-1] >= size:
        raise ExtractError(
            f"{index}: does not match {dump}: "
            f"streams at bytes {offsets[0]}..{offsets[-1]}, dump is {size} bytes"
        )
    with dump.open("rb") as raw:
        header = _decompress(raw.read(offsets[0]), f"{dump} (header stream)")
    chunks = _chunks(offsets, size, chunk_bytes)
    jobs = [
        (dump, start, end, header, b"" if end == size else FOOTER, options, out_dir / _shard_name(i))
        for i, (start, end) in enumerate(chunks)
    ]
    if workers == 1:
        results = []
        for job in jobs:
            results.append(_extract_chunk(*job))
            bar.update(job[2] - job[1])
    else:
        pool = _spawn_pool(workers)
        try:
            futures = {pool.submit(_extract_chunk, *job): job[2] - job[1] for job in jobs}
            for done in as_completed(futures):
                done.result()
                bar.update(futures[done])
            results = [f.result() for f in futures]
        finally:
            pool.shutdown(cancel_futures=True)
    return sum(results, Counter()), [_shard_name(i) for i in range(len(jobs))]


def _stream_offsets(index: Path) -> list[int]:
    """The distinct stream offsets of an `offset:page_id:title` index, ascending."""
    offsets: set[int] = set()
    try:
        with bz2.open(index, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                head, sep, _ = line.partition(":")
                if not sep or not head.isdigit():
                    raise ExtractError(f"{index}:{number}: not an `offset:page_id:title` line: {line[:80]!r}")
                offsets.add(int(head))
    except (EOFError, OSError, UnicodeDecodeError) as exc:
        raise ExtractError(f"{index}: unreadable multistream index ({exc})") from None
    if not offsets:
        raise ExtractError(f"{index}: empty multistream index")
    return sorted(offsets)


def _decompress(data: bytes, source: str) -> bytes:
    try:
        return bz2.decompress(data)
    except (OSError, ValueError) as exc:
        raise ExtractError(f"{source}: corrupt or truncated bz2 data ({exc})") from None


def _chunks(offsets: list[int], size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Consecutive streams grouped into byte ranges of at least `chunk_bytes`; the last runs to the end."""
    chunks = []
    start = offsets[0]
    for offset in offsets[1:]:
        if offset - start >= chunk_bytes:
            chunks.append((start, offset))
            start = offset
    chunks.append((start, size))
    return chunks


def _extract_chunk(
    dump: Path, start: int, end: int, header: bytes, footer: bytes, options: ExtractOptions, shard: Path
) -> Counter[str]:
    """Worker: the pages in dump bytes [start, end) → one shard. The shard appears only when complete."""
    with dump.open("rb") as raw:
        raw.seek(start)
        body = io.BytesIO(raw.read(end - start))
    pages = iter_pages(
        _Joined(io.BytesIO(header), bz2.BZ2File(body), io.BytesIO(footer)),
        source=f"{dump} (streams at bytes {start}..{end})",
    )
    counts: Counter[str] = Counter()
    texts = (page.text for page in pages if _is_article(page, counts))
    with atomic_path(shard) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out:
        for batch in _batched(texts, BATCH_CHARS):
            block, kept = _prose_block(batch, options)
            out.write(block)
            counts += kept
    return counts


def _batched(texts: Iterable[str], max_chars: int) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        batch.append(text)
        size += len(text)
        if size >= max_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# --- single stream: one reader parses, workers clean, shards are written in order -----------------------


def _extract_single(
    dump: Path, out_dir: Path, options: ExtractOptions, workers: int, chunk_bytes: int, bar: tqdm
) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    shards: list[str] = []
    with dump.open("rb") as raw, bz2.BZ2File(raw) as body:
        batches = _shard_batches(iter_pages(body, source=str(dump)), raw, chunk_bytes, counts, bar)
        cleaned = _clean_in_order(batches, options, workers)
        for number, group in itertools.groupby(cleaned, key=lambda item: item[0]):
            shards.append(_shard_name(number))
            with (
                atomic_path(out_dir / shards[-1]) as tmp,
                tmp.open("w", encoding="utf-8", newline="\n") as out,
            ):
                for _, block, kept in group:
                    out.write(block)
                    counts += kept
    return counts, shards


def _shard_batches(
    pages: Iterator[Page], raw: IO[bytes], chunk_bytes: int, counts: Counter[str], bar: tqdm
) -> Iterator[tuple[int, list[str]]]:
    """Page-aligned batches of article texts, each tagged with its shard number.

    A new shard starts after about `chunk_bytes` of compressed input, as multistream chunks do; the cut
    depends only on the read position, so it is the same for any number of workers.
    """
    shard = 0
    shard_start = 0
    batch: list[str] = []
    size = 0
    for page in pages:
        if not _is_article(page, counts):
            continue
        batch.append(page.text)
        size += len(page.text)
        position = raw.tell()
        if position - shard_start >= chunk_bytes or size >= BATCH_CHARS:
            yield shard, batch
            bar.update(position - bar.n)
            batch, size = [], 0
            if position - shard_start >= chunk_bytes:
                shard, shard_start = shard + 1, position
    if batch:
        yield shard, batch
    bar.update(bar.total - bar.n)


def _clean_in_order(
    batches: Iterator[tuple[int, list[str]]], options: ExtractOptions, workers: int
) -> Iterator[tuple[int, str, Counter[str]]]:
    """`_prose_block` over the batches on worker processes: results in input order, a few in flight."""
    if workers == 1:
        for shard, texts in batches:
            yield shard, *_prose_block(texts, options)
        return
    pool = _spawn_pool(workers)
    try:
        pending: deque[tuple[int, Future[tuple[str, Counter[str]]]]] = deque()
        for shard, texts in batches:
            pending.append((shard, pool.submit(_prose_block, texts, options)))
            if len(pending) > 2 * workers:
                number, future = pending.popleft()
                yield number, *future.result()
        while pending:
            number, future = pending.popleft()
            yield number, *future.result()
    finally:
        pool.shutdown(cancel_futures=True)
