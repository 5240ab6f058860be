"""Traditional → simplified with OpenCC, shard by shard in worker processes, in large blocks.

OpenCC converts ~40–100 MB/s on whole blocks; calling it per line from Python costs more than the
conversion itself, so each shard is converted in a few multi-megabyte pieces cut at line ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from io import BufferedReader
from pathlib import Path

import opencc

from tasks.core.errors import InputError
from tasks.core.identity import StageCode
from tasks.core.pool import map_shards
from tasks.core.workspace import atomic_path
from tasks.text.shards import cut_point, list_shards, utf8_error

# What makes the simplified text: this code, OpenCC and its dictionaries (1.4.0 turned 坏 into 坯).
CODE = StageCode((__name__,), libraries=("opencc",), data=("opencc:clib/share/opencc",))
BLOCK_BYTES = 4 << 20
BYTES_PER_WORKER = 16 << 20  # starting a worker process costs about as much as converting this much


@dataclass(frozen=True)
class ConvertStats:
    """Counts of one conversion; `chars` are the characters written (t2s keeps nearly every length)."""

    shards: int
    empty_shards: int
    lines: int
    chars: int
    bytes_in: int
    bytes_out: int


class ConvertError(InputError):
    """A shard or OpenCC config that cannot be converted."""


@cache
def _converter(config: str) -> opencc.OpenCC:
    try:
        return opencc.OpenCC(config)
    except RuntimeError as exc:
        raise ConvertError(f"unknown OpenCC config {config!r}: {exc}") from None


def convert_bytes(data: bytes, config: str) -> str:
    """UTF-8 `data` converted (config `none`: only decoded), without decoding it first.
    `OpenCC.convert(str)` encodes its argument and hands the bytes to its base class: calling that directly
    saves a decode and an encode (~15 % of the stage). OpenCC copies what it does not convert byte for
    byte, so invalid UTF-8 reaches the output, whose decoding raises `UnicodeDecodeError` (tested)."""
    if config == "none":
        return data.decode("utf-8")
    cc = _converter(config)
    text: str = super(opencc.OpenCC, cc).convert(data, len(data))
    return text


def convert_file(src: Path, dst: Path, config: str) -> tuple[int, int]:
    """Convert one UTF-8 file into `dst` atomically; returns (lines, chars). Invalid UTF-8 is an error
    naming the file and line: conversion must not silently lose text.

    Blocks are read as bytes and go to OpenCC as bytes (`convert_bytes`): a text-mode read costs about a
    third of OpenCC's own time.
    """
    lines = chars = 0
    with src.open("rb") as fin, atomic_path(dst) as tmp, tmp.open("wb") as out:
        for block in _blocks(fin):
            try:
                text = convert_bytes(block, config)
            except UnicodeDecodeError:
                raise ConvertError(utf8_error(src)) from None
            out.write(text.encode("utf-8"))
            lines += block.count(b"\n")
            chars += len(text)
    return lines, chars


def _blocks(fin: BufferedReader) -> Iterator[bytes]:
    """The file in blocks of ~`BLOCK_BYTES` of whole lines, so a block never ends inside a character or a
    phrase; a line longer than a block (a 50 MB paragraph) is cut after a sentence end or a space
    (`cut_point`), so memory stays bounded whatever the line lengths."""
    carry = b""
    while block := carry + fin.read(BLOCK_BYTES):
        if not block.endswith(b"\n"):
            block += fin.readline(BLOCK_BYTES)
        carry = b""
        if not block.endswith(b"\n") and fin.peek(1):  # the line goes on
            at = cut_point(block)
            block, carry = block[:at], block[at:]
        yield block


def convert_shards(
    src: Path, dst: Path, *, config: str, workers: int, progress: bool = False
) -> ConvertStats:
    """Convert a shard folder (or one file) into `dst` (folder, or file when `src` is a file), on at most
    one worker process per `BYTES_PER_WORKER` of input: a small input is converted in-process."""
    if config != "none":
        _converter(config)  # fail on a bad config before any worker starts
    if src.is_file():
        jobs = [(src, dst, config)]
    else:
        jobs = [(shard, dst / shard.name, config) for shard in list_shards(src)]
    bytes_in = sum(j[0].stat().st_size for j in jobs)
    workers = max(1, min(workers, bytes_in // BYTES_PER_WORKER))
    results = map_shards(convert_file, jobs, workers=workers, progress="convert" if progress else None)
    return ConvertStats(
        shards=len(jobs),
        empty_shards=sum(1 for j in jobs if j[0].stat().st_size == 0),
        lines=sum(r[0] for r in results),
        chars=sum(r[1] for r in results),
        bytes_in=bytes_in,
        bytes_out=sum(j[1].stat().st_size for j in jobs),
    )
