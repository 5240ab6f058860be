"""Dump → prose text shards: read the MediaWiki XML at bz2 speed, keep articles, write their prose one line a
line.

Work is cut into chunks of whole pages, and each chunk becomes one shard, written by a worker process:

* A multistream dump with its index is cut at bz2 stream boundaries into chunks of about `chunk_bytes`
  compressed bytes; each worker reads, decompresses, parses and cleans its own chunk, so only offsets cross
  processes.
* A single-stream dump is decompressed in parallel by indexed_bzip2 (threads over bz2 blocks) in the main
  process, which cuts the XML after a `</page>` every ~`XML_PER_BZ2 * chunk_bytes` bytes and hands the
  chunks to the workers.

Shards are numbered by position in the dump, never by which worker finished first, so the output is the same
for any number of workers, and both layouts yield the same text for the same pages. Each shard is renamed into
place as soon as it is complete (a next stage may start on it) and followed by `text-NNNNN.json`: its counts
and the identity of its input (the chunk's bytes, the options, the code). A re-run in the same folder skips
every shard whose record matches, so a run stopped by bad input or a kill resumes where it stopped.

Pages are read by a scanner over the export schema (`<page>`, `<title>`, `<ns>`, `<id>`, `<redirect/>`,
`<text>`) rather than a general XML parser: MediaWiki writes this XML mechanically, and the scanner (compiled,
in `tasks/dump/_prose.c`) is several times faster than ElementTree, which matters because parsing runs on the
same cores as bz2. The header is validated with a real XML parser; the scanner checks that pages are closed
and nothing else sits between them.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import multiprocessing
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, NoReturn

import indexed_bzip2
from tqdm import tqdm

from tasks.core.errors import InputError
from tasks.core.workspace import atomic_path, write_json_atomic
from tasks.dump import _prose
from tasks.dump.fetch import index_name
from tasks.dump.wikitext import is_disambiguation, is_redirect, prose_text

if TYPE_CHECKING:  # workers get a _Keep instead: importing pydantic would cost each ~0.1 s at start
    from tasks.config import ExtractOptions

MIN_CHUNK_BYTES = 256 << 10
MAX_CHUNK_BYTES = 4 << 20
XML_PER_BZ2 = 4  # zhwiki pages-articles: ~4 bytes of XML per byte of bz2, so shards of both layouts are alike
READ_BYTES = 1 << 20
EXPORT_NAMESPACE = "http://www.mediawiki.org/xml/export-"
EXPORT_VERSIONS = ("0.10", "0.11")  # current Wikimedia dumps (0.11) and the version before
FOOTER = b"</mediawiki>"
_PAGE, _PAGE_END = b"<page>", b"</page>"
_INDEX_LINE = re.compile(rb"^(\d+):", re.MULTILINE)  # `offset:page_id:title` of a multistream index
# Every export schema (0.3 … 0.11) opens a page with title, ns and id, then `<redirect …/>` if it is one.
_PAGE_HEAD = re.compile(rb"\s*<title>([^<]*)</title>\s*<ns>(-?\d+)</ns>\s*<id>(\d+)</id>\s*(<redirect\b)?")


class ExtractError(InputError):
    """A dump or index that cannot be read; the message names the file and where reading stopped."""


class Page(NamedTuple):
    """One `<page>`; `text` is the current revision's wikitext (left empty for pages other than articles),
    `bad_utf8` whether its bytes were not all UTF-8 and `removed` how many characters that are not text
    (controls, lone surrogates, U+FFFD: see `tasks/dump/_prose.c`) were taken out of it. One bad byte or
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


@dataclass(frozen=True)
class ShardStats:
    """One shard: what it holds, what it was made from and what it cost. `bytes_in` is the dump's bz2 bytes
    the shard came from (for a single-stream dump, to the bz2 block: indexed_bzip2 knows block offsets only);
    `xml_bytes` is the XML they decompress to."""

    name: str
    articles: int
    redirects: int
    other_ns: int
    disambiguation_skipped: int
    short_skipped: int
    chars: int
    lines: int
    bytes_in: int
    xml_bytes: int
    bytes_out: int
    seconds: float
    resumed: bool = False
    bad_utf8_pages: int = 0
    removed_chars: int = 0


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
    resumed_shards: int = 0
    per_shard: list[ShardStats] = field(default_factory=list)
    bad_utf8_pages: int = 0
    removed_chars: int = 0


@dataclass(frozen=True)
class _Keep:
    """Which articles a shard keeps (from ExtractOptions)."""

    disambiguation: bool
    min_chars: int


@dataclass(frozen=True)
class _Job:
    """One shard's work: XML pages given as bytes (single stream) or as bz2 streams of the dump to read."""

    number: int
    out_dir: Path
    source: str
    keep: _Keep
    identity: dict[str, object]
    last: bool
    xml: bytes = b""
    xml_offset: int = 0
    bytes_in: int = 0
    dump: Path | None = None
    streams: tuple[int, ...] = ()


# --- reading pages --------------------------------------------------------------------------------------


def _check_header(header: bytes, source: str, *, whole: bool = False) -> None:
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


def _pages(xml: bytes, source: str, offset: int, *, last: bool, after: Where) -> list[Page]:
    """The `<page>` elements of `xml` (whole pages, then `</mediawiki>` if `last`), checked for structure.

    Only articles (namespace 0, no redirect flag) carry their text: decoding the text of pages that are
    skipped anyway is wasted work. `offset` is where `xml` starts in the decompressed dump; `after` says
    where that is in page terms, for errors (the page before, formatted only if there is an error).
    The compiled scanner (`tasks/dump/_prose.c`) reads the whole piece in one call: in Python, the scan was a
    worker's largest cost after bz2. `python_pages` is the reference it is tested against.
    """
    pages, malformed = _prose.pages(xml, last, Page)
    if malformed is not None:
        what, position = malformed
        _malformed(source, what, offset + position, pages[-1] if pages else after)
    return pages


def python_pages(xml: bytes, source: str, offset: int, *, last: bool, after: Where) -> Iterator[Page]:
    """`_pages` in Python, a page at a time."""
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
    title = _prose.xml_text(head[1].decode("utf-8", "replace"))[0]
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
                text, removed = _prose.xml_text(decoded)
    return Page(title, ns, page_id, redirect, text, bad_utf8, removed)


def _malformed(source: str, what: str, offset: int, after: Where) -> NoReturn:
    if isinstance(after, Page):
        after = f"after page {after.page_id} {after.title!r}"
    raise ExtractError(f"{source}: malformed XML ({what}), {after}, near decompressed byte {offset}")


# --- the shards -----------------------------------------------------------------------------------------


def find_index(dump: Path) -> Path | None:
    """`X-multistream-index.txt.bz2` beside `X-multistream.xml.bz2`, if it is there."""
    name = index_name(dump.name)
    return dump.with_name(name) if name and dump.with_name(name).is_file() else None


def _shard_name(number: int) -> str:
    return f"text-{number:05d}.txt"


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
    found beside the dump; without one the dump is read as a single stream. Shards already complete in
    `out_dir` for the same input are kept and counted (resume); anything else there named like a shard
    is removed, so at the end the folder holds exactly this run's shards.
    """
    if dump.is_dir():
        raise ExtractError(f"{dump}: is a directory, not a dump file")
    if not dump.is_file():
        raise ExtractError(f"{dump}: dump file not found")
    size = dump.stat().st_size
    if size == 0:
        raise ExtractError(f"{dump}: empty file")
    with dump.open("rb") as fh:
        magic = fh.read(4)
    if re.fullmatch(rb"BZh[1-9]", magic) is None:
        raise ExtractError(f"{dump}: not a bz2 file (byte 0 is {magic!r}, expected b'BZh1'..b'BZh9')")
    index = index or find_index(dump)
    if index is not None and not index.is_file():
        raise ExtractError(f"{index}: multistream index not found")
    chunk_bytes = chunk_bytes or min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, size // 8))
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_unrecorded(out_dir)
    code = _code_identity()
    workers = max(1, workers)
    with (
        tqdm(total=size, unit="B", unit_scale=True, desc="extract", disable=not progress) as bar,
        _worker_pool(workers) as pool,
    ):
        jobs: Iterable[_Job]
        if index is None:
            jobs = _single_stream_jobs(dump, out_dir, options, workers, chunk_bytes * XML_PER_BZ2, code)
        else:
            jobs = _multistream_jobs(dump, index, out_dir, options, chunk_bytes, code, workers)
        per_shard = _run_jobs(jobs, pool, workers, bar)
    kept = {shard.name.removesuffix(".txt") for shard in per_shard}
    for stale in out_dir.glob("text-*"):
        if stale.name.split(".")[0] not in kept:
            stale.unlink()
    return _total(per_shard, size)


def _total(per_shard: list[ShardStats], size: int) -> ExtractStats:
    counts: Counter[str] = Counter()
    for shard in per_shard:
        counts.update({k: v for k, v in asdict(shard).items() if type(v) is int})
    return ExtractStats(
        articles=counts["articles"],
        redirects=counts["redirects"],
        other_ns=counts["other_ns"],
        disambiguation_skipped=counts["disambiguation_skipped"],
        short_skipped=counts["short_skipped"],
        chars=counts["chars"],
        lines=counts["lines"],
        bytes_in=size,
        bytes_out=counts["bytes_out"],
        shards=[s.name for s in per_shard],
        resumed_shards=sum(s.resumed for s in per_shard),
        per_shard=per_shard,
        bad_utf8_pages=counts["bad_utf8_pages"],
        removed_chars=counts["removed_chars"],
    )


def _code_identity() -> str:
    """This module's and the cleaner's source: a shard made by other code is not resumed."""
    from tasks.dump import wikitext

    digest = hashlib.sha256(Path(__file__).read_bytes())
    for source in (Path(wikitext.__file__), wikitext.COMPILED_SOURCE):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _remove_unrecorded(out_dir: Path) -> None:
    """Drop temp files of a killed run and shards without a completion record (or records without shards)."""
    for tmp in out_dir.glob(".text-*.tmp"):
        tmp.unlink()
    for path in out_dir.glob("text-*"):
        twin = path.with_suffix(".json" if path.suffix == ".txt" else ".txt")
        if path.suffix not in (".txt", ".json") or not twin.is_file():
            path.unlink()


@contextmanager
def _worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """`workers` spawned processes (None for one: the work then runs in this process), started at once so
    they import this module while the jobs are being planned (reading the index takes a while).

    Spawn, not fork: the caller may be a threaded Prefect worker, and forking threads is unsafe.
    """
    if workers == 1:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        for _ in range(workers):
            pool.submit(_ready)
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _ready() -> None:
    """Nothing: submitting it starts a worker process."""


def _run_jobs(
    jobs: Iterable[_Job], pool: ProcessPoolExecutor | None, workers: int, bar: tqdm
) -> list[ShardStats]:
    """Run the jobs on the pool's `workers` processes (here if there is no pool), a few in flight at most
    (jobs may carry XML), in any order.

    On the first failing shard the jobs not yet started are dropped; a failure while jobs are still being
    produced (a bz2 error in a single-stream dump) lets the shards in flight finish first, so they are kept.
    """
    results: dict[int, ShardStats] = {}
    if pool is None:
        for job in jobs:
            results[job.number] = _extract_chunk(job)
            bar.update(job.bytes_in)
        return [results[n] for n in sorted(results)]
    pending: deque[tuple[_Job, Future[ShardStats]]] = deque()

    def collect(keep: int) -> None:
        """Take the finished results in order, waiting while more than `keep` jobs are in flight (waiting
        for all of them would idle the workers that finish first)."""
        while pending and (len(pending) > keep or pending[0][1].done()):
            job, future = pending.popleft()
            results[job.number] = future.result()
            bar.update(job.bytes_in)

    try:
        for job in jobs:
            pending.append((job, pool.submit(_extract_chunk, job)))
            collect(keep=workers + 1)
        collect(keep=0)
    except ExtractError:
        for _, future in pending:
            if not future.cancel():
                future.exception()  # let shards already in work finish and land
        raise
    return [results[n] for n in sorted(results)]


def _extract_chunk(job: _Job) -> ShardStats:
    """Worker: one chunk of pages → one shard and its record; a shard recorded for this input is reused."""
    started = time.perf_counter()
    shard = job.out_dir / _shard_name(job.number)
    record = shard.with_suffix(".json")
    payload = job.xml if job.dump is None else _read_range(job.dump, job.streams[0], job.streams[-1])
    identity = {**job.identity, "sha1": hashlib.sha1(payload).hexdigest()}
    resumed = _resumable(shard, record, identity)
    if resumed is not None:
        return resumed
    if job.dump is None:
        blocks: Iterable[bytes] = (payload[i : i + READ_BYTES] for i in range(0, len(payload), READ_BYTES))
    else:
        blocks = _decompressed_streams(job.dump, payload, job.streams, job.source)
    counts: Counter[str] = Counter()
    offset = job.xml_offset
    after: Where = "before the first page"
    with atomic_path(shard) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out:
        for piece, final in _page_aligned(blocks):  # pieces of ~READ_BYTES: a worker's memory stays flat
            pages = _pages(piece, job.source, offset, last=job.last and final, after=after)
            counts["bad_utf8_pages"] += sum(page.bad_utf8 for page in pages)
            counts["removed_chars"] += sum(page.removed for page in pages)
            if pages:
                after = pages[-1]
            offset += len(piece)
            block, kept = _prose_block([page.text for page in pages if _is_article(page, counts)], job.keep)
            out.write(block)
            counts += kept
    stats = ShardStats(
        name=shard.name,
        articles=counts["articles"],
        redirects=counts["redirects"],
        other_ns=counts["other_ns"],
        disambiguation_skipped=counts["disambiguation_skipped"],
        short_skipped=counts["short_skipped"],
        chars=counts["chars"],
        lines=counts["lines"],
        bytes_in=job.bytes_in,
        xml_bytes=offset - job.xml_offset,
        bytes_out=shard.stat().st_size,
        seconds=round(time.perf_counter() - started, 4),
        bad_utf8_pages=counts["bad_utf8_pages"],
        removed_chars=counts["removed_chars"],
    )
    write_json_atomic(record, {"identity": identity, "stats": asdict(stats)})
    return stats


def _resumable(shard: Path, record: Path, identity: dict[str, object]) -> ShardStats | None:
    """The recorded stats if `shard` is complete and was made from this very input, else None."""
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        stats = ShardStats(**{**saved["stats"], "resumed": True})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if saved["identity"] != identity or not shard.is_file() or shard.stat().st_size != stats.bytes_out:
        return None
    return stats


def _is_article(page: Page, counts: Counter[str]) -> bool:
    """Namespace 0 and not a redirect (by the dump's flag or by the text)."""
    if page.ns != 0:
        counts["other_ns"] += 1
        return False
    if page.redirect or is_redirect(page.text):
        counts["redirects"] += 1
        return False
    return True


def _prose_block(texts: Iterable[str], keep: _Keep) -> tuple[str, Counter[str]]:
    """The shard text of a run of article wikitexts, and what was kept or skipped."""
    counts: Counter[str] = Counter()
    out: list[str] = []
    for text in texts:
        if not keep.disambiguation and is_disambiguation(text):
            counts["disambiguation_skipped"] += 1
            continue
        prose = prose_text(text)
        lines = prose.count("\n")
        chars = len(prose) - lines
        if chars == 0 or chars < keep.min_chars:
            counts["short_skipped"] += 1
            continue
        counts["articles"] += 1
        counts["chars"] += chars
        counts["lines"] += lines
        out.append(prose)
    return "".join(out), counts


def _page_aligned(blocks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
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


# --- multistream: chunks of bz2 streams, each read and decompressed by its worker ------------------------


def _multistream_jobs(
    dump: Path, index: Path, out_dir: Path, options: ExtractOptions, chunk_bytes: int, code: str, workers: int
) -> list[_Job]:
    size = dump.stat().st_size
    offsets = _stream_offsets(index, workers)
    if offsets[0] <= 0 or offsets[-1] >= size:
        raise ExtractError(
            f"{index}: does not match {dump}: "
            f"streams at bytes {offsets[0]}..{offsets[-1]}, dump is {size} bytes"
        )
    if _read_range(dump, offsets[0], offsets[0] + 3) != b"BZh":
        raise ExtractError(
            f"{dump}: no bz2 stream starts at byte {offsets[0]}: is {index} the index of this dump?"
        )
    head = _read_range(dump, 0, offsets[0])
    header = b"".join(_decompressed_streams(dump, head, (0, offsets[0]), f"{dump} (header)"))
    _check_header(header, str(dump))
    jobs = []
    groups = _chunks([*offsets, size], chunk_bytes)
    for number, streams in enumerate(groups):
        start, end = streams[0], streams[-1]
        jobs.append(
            _Job(
                number=number,
                out_dir=out_dir,
                source=f"{dump} (bz2 streams at bytes {start}..{end})",
                keep=_Keep(options.keep_disambiguation, options.min_chars),
                identity={"code": code, "options": options.model_dump(), "layout": "multistream"},
                last=end == size,
                bytes_in=end - (start if number else 0),  # the first shard also counts the header stream
                dump=dump,
                streams=tuple(streams),
            )
        )
    return jobs


def _stream_offsets(index: Path, workers: int) -> list[int]:
    """The distinct stream offsets of an `offset:page_id:title` index, ascending.

    The index is decompressed on `workers` threads and read in blocks of whole lines, each by one regex:
    it has a line per page (millions for zhwiki), and the workers wait for it before their first chunk.
    """
    offsets: set[bytes] = set()
    number = 0  # lines read before this block
    carry = b""
    try:
        with indexed_bzip2.open(str(index), parallelization=workers) as fh:
            while True:
                block = fh.read(4 * READ_BYTES)
                data = carry + block if block or not carry else carry + b"\n"  # a last line without \n
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
                data.decode("utf-8")
                heads = _INDEX_LINE.findall(data)
                if len(heads) != data.count(b"\n"):
                    _bad_index_line(index, data, number)
                offsets.update(heads)
                number += len(heads)
                if not block:
                    break
    except ExtractError:
        raise
    except (EOFError, OSError, ValueError, RuntimeError) as exc:
        raise ExtractError(f"{index}: unreadable multistream index ({exc})") from None
    if not offsets:
        raise ExtractError(f"{index}: empty multistream index")
    return sorted(map(int, offsets))


def _bad_index_line(index: Path, data: bytes, before: int) -> NoReturn:
    number, line = next(
        (n, x) for n, x in enumerate(data.split(b"\n"), before + 1) if not _INDEX_LINE.match(x)
    )
    raise ExtractError(f"{index}:{number}: not an `offset:page_id:title` line: {line.decode()[:80]!r}")


def _chunks(bounds: list[int], chunk_bytes: int) -> list[list[int]]:
    """Stream boundaries grouped into chunks of at least `chunk_bytes`, or a quarter of what is left when
    that is less (down to a quarter of `chunk_bytes`), so the last chunks are small and no core waits long
    for another to finish; the last chunk runs to the end. Each chunk is its list of boundaries, first to
    last."""
    chunks = [[bounds[0]]]
    for bound in bounds[1:]:
        chunks[-1].append(bound)
        start = chunks[-1][0]
        target = min(chunk_bytes, max(chunk_bytes, bounds[-1] - start) // 4)
        if bound - start >= target and bound != bounds[-1]:
            chunks.append([bound])
    return chunks


class _Window(io.RawIOBase):
    """Bytes [start, end) of an open file, as a file of their own, for indexed_bzip2 to read a chunk from.

    indexed_bzip2 1.7 never releases a Python file object it reads from, so this one holds no data (a
    BytesIO of the chunk would leak the chunk), only the caller's unbuffered handle.
    """

    def __init__(self, raw: io.RawIOBase, start: int, end: int) -> None:
        super().__init__()
        self._raw, self._start, self._size, self._pos = raw, start, end - start, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = (0, self._pos, self._size)[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        self._raw.seek(self._start + self._pos)
        got = self._raw.readinto(memoryview(buffer)[:n]) or 0
        self._pos += got
        return got


def _read_range(dump: Path, start: int, end: int) -> bytes:
    with dump.open("rb") as raw:
        raw.seek(start)
        return raw.read(end - start)


def _decompressed_streams(dump: Path, data: bytes, bounds: tuple[int, ...], source: str) -> Iterator[bytes]:
    """The XML of the bz2 streams at dump bytes bounds[0]..bounds[-1] (`data`), in blocks of `READ_BYTES`,
    so a worker's memory does not depend on how much XML a chunk holds.

    lbzip2, where it is installed, decodes fastest (and in a process of its own, while this one parses what
    it already gave); else indexed_bzip2, faster than libbz2. If the decoder fails, the streams are
    decompressed one by one with `bz2` to name the bad one by its offsets.
    """
    for start in bounds[:-1]:
        if data[start - bounds[0] : start - bounds[0] + 3] != b"BZh":
            raise ExtractError(f"{source}: no bz2 stream starts at byte {start}: is the index of this dump?")
    lbzip2 = shutil.which("lbzip2")
    try:
        yield from _lbzip2_blocks(lbzip2, data) if lbzip2 else _indexed_bzip2_blocks(dump, bounds)
        return
    except (RuntimeError, OSError, ValueError):
        pass
    for start, end in zip(bounds, bounds[1:], strict=False):
        try:
            bz2.decompress(data[start - bounds[0] : end - bounds[0]])
        except (OSError, ValueError, EOFError) as exc:
            raise ExtractError(
                f"{source}: corrupt or truncated bz2 data ({exc}) in the stream at bytes {start}..{end}"
            ) from None
    raise ExtractError(f"{source}: corrupt bz2 data ({lbzip2 or 'indexed_bzip2'} fails on it, bz2 does not)")


def _indexed_bzip2_blocks(dump: Path, bounds: tuple[int, ...]) -> Iterator[bytes]:
    with (
        dump.open("rb", buffering=0) as raw,
        indexed_bzip2.IndexedBzip2File(_Window(raw, bounds[0], bounds[-1]), parallelization=1) as reader,
    ):
        while block := reader.read(READ_BYTES):
            yield block


def _lbzip2_blocks(lbzip2: str, data: bytes) -> Iterator[bytes]:
    """`data` through `lbzip2 -dc -n 1`, fed by a thread (a pipe holds less than a chunk); OSError if it
    fails."""
    with subprocess.Popen(
        [lbzip2, "-dc", "-n", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        feeder = threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True)
        feeder.start()
        try:
            while block := proc.stdout.read(READ_BYTES):
                yield block
        except BaseException:  # the reader stopped early (or failed): no more output is wanted
            proc.kill()
            raise
        finally:
            feeder.join()
        error = proc.stderr.read().decode("utf-8", "replace").strip()
        if proc.wait() != 0:
            raise OSError(error or f"lbzip2 exited with {proc.returncode}")


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with suppress(BrokenPipeError), pipe:  # a decoder that fails stops reading
        pipe.write(data)


# --- single stream: indexed_bzip2 decompresses in parallel, the main process cuts page-aligned chunks ------


def _single_stream_jobs(
    dump: Path, out_dir: Path, options: ExtractOptions, workers: int, xml_chunk: int, code: str
) -> Iterator[_Job]:
    """Jobs of about `xml_chunk` XML bytes each, cut after a `</page>`, as decompression proceeds."""
    identity = {"code": code, "options": options.model_dump(), "layout": "single", "chunk": xml_chunk}
    size = dump.stat().st_size
    reader = indexed_bzip2.open(str(dump), parallelization=workers)
    try:
        compressed = 0  # bz2 bytes handed out so far
        chunks = _page_chunks(_decompressed(reader, dump), xml_chunk, str(dump))
        for number, (offset, xml, last) in enumerate(chunks):
            end = size if last else max(compressed, _compressed_offset(reader, offset + len(xml)))
            yield _Job(
                number=number,
                out_dir=out_dir,
                source=str(dump),
                keep=_Keep(options.keep_disambiguation, options.min_chars),
                identity=identity,
                last=last,
                xml=xml,
                xml_offset=offset,
                bytes_in=end - compressed,
            )
            compressed = end
    finally:
        reader.close()


def _page_chunks(blocks: Iterator[bytes], xml_chunk: int, source: str) -> Iterator[tuple[int, bytes, bool]]:
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
            _check_header(data if first < 0 else data[:first], source, whole=first < 0)
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


def _decompressed(reader: indexed_bzip2.IndexedBzip2File, dump: Path) -> Iterator[bytes]:
    """The dump's XML in blocks; a bz2 error names the compressed byte where the failing blocks start."""
    position = 0
    while True:
        try:
            block: bytes = reader.read(READ_BYTES)
        except (RuntimeError, OSError, ValueError) as exc:
            where = _compressed_offset(reader, position)
            raise ExtractError(
                f"{dump}: corrupt or truncated bz2 data ({str(exc).strip()}) in the bz2 blocks from "
                f"compressed byte {where} on (decompressed byte {position})"
            ) from None
        if not block:
            return
        position += len(block)
        yield block


def _compressed_offset(reader: indexed_bzip2.IndexedBzip2File, position: int) -> int:
    """The compressed byte where the bz2 block holding decompressed byte `position` starts (as far as
    indexed_bzip2 has found blocks yet)."""
    blocks = sorted((decompressed, bits) for bits, decompressed in reader.available_block_offsets().items())
    at = bisect_right(blocks, (position, float("inf"))) - 1
    return blocks[at][1] // 8 if at >= 0 else 0
