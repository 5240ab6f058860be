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

The bz2 is decoded by `tasks/dump/decode.py`, the pages read by `tasks/dump/pages.py`, their wikitext
cleaned by `tasks/dump/wikitext.py`, and the workers are the pool of `tasks/core/pool.py`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from tasks.core.identity import StageCode
from tasks.core.pool import worker_pool
from tasks.core.workspace import atomic_path, write_json_atomic
from tasks.dump import decode, pages
from tasks.dump.errors import ExtractError
from tasks.dump.fetch import DUMP_FILE, directory_given, find_index
from tasks.dump.pages import Page, Where
from tasks.dump.wikitext import is_disambiguation, is_redirect, prose_text

if TYPE_CHECKING:  # workers get a _Keep instead: importing pydantic would cost each ~0.1 s at start
    from tasks.config import ExtractOptions

# What makes the text: this module and what it imports (the decoder, page scanner, cleaner and their C).
CODE = StageCode((__name__,))
MIN_CHUNK_BYTES = 256 << 10
MAX_CHUNK_BYTES = 4 << 20
XML_PER_BZ2 = 4  # zhwiki pages-articles: ~4 bytes of XML per byte of bz2, so shards of both layouts are alike


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


# --- the shards -----------------------------------------------------------------------------------------


class Beside(Enum):
    """`extract_dump`'s default `index`, for a dump no caller has resolved: it checks the dump itself and
    looks for the index beside it."""

    INDEX = "the index beside the dump"


def _shard_name(number: int) -> str:
    return f"text-{number:05d}.txt"


def extract_dump(
    dump: Path,
    out_dir: Path,
    *,
    options: ExtractOptions,
    workers: int,
    index: Path | None | Beside = Beside.INDEX,
    progress: bool = False,
    chunk_bytes: int | None = None,
) -> ExtractStats:
    """Write the prose of every kept article to `out_dir/text-00000.txt`, … and count what was kept.

    Keeps namespace 0 minus redirects, disambiguation pages (unless `options.keep_disambiguation`) and
    articles with less than `options.min_chars` prose characters (or none). Shards already complete in
    `out_dir` for the same input are kept and counted (resume); anything else there named like a shard
    is removed, so at the end the folder holds exactly this run's shards.

    `index` is the dump's multistream index, or None to read it as a single stream, as the caller resolved
    both (`resolve_dump`, a run's plan): neither is looked at again. Left out, the dump is checked here and
    its index looked for beside it (none there: a single stream).
    """
    if index is Beside.INDEX:
        if dump.is_dir():
            raise ExtractError(directory_given(dump, DUMP_FILE))
        if not dump.is_file():
            raise ExtractError(f"{dump}: dump file not found")
        index = find_index(dump)
    size = dump.stat().st_size
    if size == 0:
        raise ExtractError(f"{dump}: empty file")
    with dump.open("rb") as fh:
        magic = fh.read(4)
    if re.fullmatch(rb"BZh[1-9]", magic) is None:
        raise ExtractError(f"{dump}: not a bz2 file (byte 0 is {magic!r}, expected b'BZh1'..b'BZh9')")
    chunk_bytes = chunk_bytes or min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, size // 8))
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_unrecorded(out_dir)
    code = CODE.version()
    workers = max(1, workers)
    # The workers start at once (one: none, the work runs here) and import this module through their
    # initializer while the jobs are planned (reading the index takes a while).
    with (
        tqdm(total=size, unit="B", unit_scale=True, desc="extract", disable=not progress) as bar,
        worker_pool(workers, initializer=_worker_start) as pool,
    ):
        jobs: Iterable[_Job]
        if index is None:
            jobs = _single_stream_jobs(dump, out_dir, options, workers, chunk_bytes * XML_PER_BZ2, code)
        else:
            jobs = _multistream_jobs(dump, index, out_dir, options, chunk_bytes, code, workers)
        # A few jobs in flight at most (single-stream jobs carry their XML); past that only the oldest is
        # waited for, so the workers that finish first stay fed. On a failure (a bad chunk, or a bz2 error
        # while the jobs are still being produced) the jobs not yet started are dropped, and the shards in
        # work land and are kept for a re-run.
        results = pool.imap(
            _extract_chunk,
            ((job,) for job in jobs),
            in_flight=workers + 1,
            done=lambda args: bar.update(args[0].bytes_in),
        )
        per_shard = list(results)
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


def _remove_unrecorded(out_dir: Path) -> None:
    """Drop temp files of a killed run and shards without a completion record (or records without shards)."""
    for tmp in out_dir.glob(".text-*.tmp"):
        tmp.unlink()
    for path in out_dir.glob("text-*"):
        twin = path.with_suffix(".json" if path.suffix == ".txt" else ".txt")
        if path.suffix not in (".txt", ".json") or not twin.is_file():
            path.unlink()


def _worker_start() -> None:
    """Nothing to set up: as a function of this module, it has each worker import this module (and with
    it the decoder, the scanner and the cleaner) when the pool starts."""


def _extract_chunk(job: _Job) -> ShardStats:
    """Worker: one chunk of pages → one shard and its record; a shard recorded for this input is reused."""
    started = time.perf_counter()
    shard = job.out_dir / _shard_name(job.number)
    record = shard.with_suffix(".json")
    payload = job.xml if job.dump is None else decode.read_range(job.dump, job.streams[0], job.streams[-1])
    identity = {**job.identity, "sha1": hashlib.sha1(payload).hexdigest()}
    resumed = _resumable(shard, record, identity)
    if resumed is not None:
        return resumed
    if job.dump is None:
        step = decode.READ_BYTES
        blocks: Iterable[bytes] = (payload[i : i + step] for i in range(0, len(payload), step))
    else:
        blocks = decode.decompressed_streams(job.dump, payload, job.streams, job.source)
    counts: Counter[str] = Counter()
    offset = job.xml_offset
    after: Where = "before the first page"
    with atomic_path(shard) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out:
        for piece, final in pages.page_aligned(blocks):  # pieces of ~READ_BYTES: a worker's memory stays flat
            found = pages.pages(piece, job.source, offset, last=job.last and final, after=after)
            counts["bad_utf8_pages"] += sum(page.bad_utf8 for page in found)
            counts["removed_chars"] += sum(page.removed for page in found)
            if found:
                after = found[-1]
            offset += len(piece)
            block, kept = _prose_block([page.text for page in found if _is_article(page, counts)], job.keep)
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


# --- multistream: chunks of bz2 streams, each read and decompressed by its worker ------------------------


def _multistream_jobs(
    dump: Path, index: Path, out_dir: Path, options: ExtractOptions, chunk_bytes: int, code: str, workers: int
) -> list[_Job]:
    size = dump.stat().st_size
    offsets = decode.stream_offsets(index, workers)
    if offsets[0] > 0 and offsets[-1] >= size and _cut_short(dump, offsets):
        raise decode.truncated(dump, at_least=offsets[-1])
    if offsets[0] <= 0 or offsets[-1] >= size:
        raise ExtractError(
            f"{index}: does not match {dump}: "
            f"streams at bytes {offsets[0]}..{offsets[-1]}, dump is {size} bytes"
        )
    if decode.read_range(dump, offsets[0], offsets[0] + 3) != b"BZh":
        raise ExtractError(
            f"{dump}: no bz2 stream starts at byte {offsets[0]}: is {index} the index of this dump?"
        )
    head = decode.read_range(dump, 0, offsets[0])
    header = b"".join(decode.decompressed_streams(dump, head, (0, offsets[0]), f"{dump} (header)"))
    pages.check_header(header, str(dump))
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


def _cut_short(dump: Path, offsets: list[int]) -> bool:
    """Whether a dump shorter than its index says was cut short rather than indexed by another dump's index:
    the first and last streams it holds start where the index says, and it ends inside a stream (or right
    where the index puts the next one). A few bytes tell, so a half-downloaded dump fails at once, not when
    decoding reaches its end."""
    size = dump.stat().st_size
    held = [at for at in offsets if at < size]
    starts = all(decode.read_range(dump, at, at + 3) == b"BZh" for at in {*held[:1], *held[-1:]})
    return starts and (size in offsets or not decode.ends_a_stream(dump))


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


# --- single stream: indexed_bzip2 decompresses in parallel, the main process cuts page-aligned chunks ------


def _single_stream_jobs(
    dump: Path, out_dir: Path, options: ExtractOptions, workers: int, xml_chunk: int, code: str
) -> Iterator[_Job]:
    """Jobs of about `xml_chunk` XML bytes each, cut after a `</page>`, as decompression proceeds."""
    identity = {"code": code, "options": options.model_dump(), "layout": "single", "chunk": xml_chunk}
    size = dump.stat().st_size
    with decode.SingleStream(dump, workers) as stream:
        compressed = 0  # bz2 bytes handed out so far
        chunks = pages.page_chunks(stream.blocks(), xml_chunk, str(dump))
        for number, (offset, xml, last) in enumerate(chunks):
            end = size if last else max(compressed, stream.compressed_offset(offset + len(xml)))
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
