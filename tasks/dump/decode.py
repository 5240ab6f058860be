"""bz2 → XML: the dump's bz2 decoded, and the stream offsets of a multistream dump's index read.

A multistream dump is read as chunks of whole bz2 streams (`decompressed_streams`), each in the worker that
parses it: lbzip2 where it is installed, else indexed_bzip2. A single-stream dump is decompressed in one
process by indexed_bzip2 on several threads over its bz2 blocks (`SingleStream`).
"""

from __future__ import annotations

import bz2
import io
import re
import shutil
import subprocess
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

import indexed_bzip2

from tasks.dump.errors import ExtractError

READ_BYTES = 1 << 20
_INDEX_LINE = re.compile(rb"^(\d+):", re.MULTILINE)  # `offset:page_id:title` of a multistream index
_STREAM_END = 0x177245385090  # the 48-bit magic that ends every bz2 stream (at any bit position)


# --- a dump cut short ------------------------------------------------------------------------------------


def ends_a_stream(dump: Path) -> bool:
    """Whether the file ends as a bz2 stream does: its end magic, a 32-bit CRC and 0-7 bits of padding.

    A download cut short ends inside a stream instead (unless cut exactly between two streams), which tells
    a truncated dump from a corrupt one without decoding it.
    """
    with dump.open("rb") as fh:
        fh.seek(max(0, dump.stat().st_size - 11))
        tail = int.from_bytes(fh.read())
    return any(tail >> (32 + pad) & (1 << 48) - 1 == _STREAM_END for pad in range(8))


def megabytes(size: int) -> str:
    """A size as the extraction's progress bar shows it (MB = 10^6 bytes); bytes below 0.1 MB."""
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} bytes"


def truncated(dump: Path, at_least: int | None = None) -> ExtractError:
    """The error for a dump cut short: how much of it there is and, where known (from a multistream index),
    how much there should be at least."""
    size = dump.stat().st_size
    if at_least is None:
        what = f"the bz2 data ends at {megabytes(size)} before the end of its stream"
    else:
        what = f"{megabytes(size)} of at least {megabytes(at_least)}"
    return ExtractError(f"{dump}: truncated: {what}; re-download")


# --- the index of a multistream dump --------------------------------------------------------------------


def stream_offsets(index: Path, workers: int) -> list[int]:
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


# --- multistream: chunks of whole bz2 streams, each decoded in the worker that parses it ----------------


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


def read_range(dump: Path, start: int, end: int) -> bytes:
    """Bytes [start, end) of the dump: its header stream, or the bz2 streams of a chunk."""
    with dump.open("rb") as raw:
        raw.seek(start)
        return raw.read(end - start)


def decompressed_streams(dump: Path, data: bytes, bounds: tuple[int, ...], source: str) -> Iterator[bytes]:
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
            if end == dump.stat().st_size and not ends_a_stream(dump):
                raise truncated(dump) from None
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


# --- single stream: indexed_bzip2 decompresses in parallel in one process -------------------------------


class SingleStream:
    """A single-stream dump decompressed by indexed_bzip2 on `workers` threads (over its bz2 blocks)."""

    def __init__(self, dump: Path, workers: int) -> None:
        self.dump = dump
        self._reader = indexed_bzip2.open(str(dump), parallelization=workers)

    def __enter__(self) -> SingleStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._reader.close()

    def blocks(self) -> Iterator[bytes]:
        """The dump's XML in blocks; a bz2 error names the compressed byte where the failing blocks start."""
        position = 0
        while True:
            try:
                block: bytes = self._reader.read(READ_BYTES)
            except (RuntimeError, OSError, ValueError) as exc:
                if not ends_a_stream(self.dump):
                    raise truncated(self.dump) from None
                where = self.compressed_offset(position)
                raise ExtractError(
                    f"{self.dump}: corrupt or truncated bz2 data ({str(exc).strip()}) in the bz2 blocks from "
                    f"compressed byte {where} on (decompressed byte {position})"
                ) from None
            if not block:
                return
            position += len(block)
            yield block

    def compressed_offset(self, position: int) -> int:
        """The compressed byte where the bz2 block holding decompressed byte `position` starts (as far as
        indexed_bzip2 has found blocks yet)."""
        found = self._reader.available_block_offsets()
        blocks = sorted((decompressed, bits) for bits, decompressed in found.items())
        at = bisect_right(blocks, (position, float("inf"))) - 1
        return blocks[at][1] // 8 if at >= 0 else 0
