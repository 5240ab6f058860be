"""Dump sources: a local path, or an http(s) URL downloaded into a cache folder with resume and verified
against the checksum file Wikimedia publishes beside every dump.

A full zhwiki dump is ~3 GB, so an interrupted download must not start over: bytes go to `<name>.part`,
a re-run asks the server for the rest (HTTP Range), and only a file whose SHA-1 (else MD5) matches the
published `<wiki>-<date>-sha1sums.txt` (`-md5sums.txt`) line is renamed to its final name. A mismatch is
refused and the `.part` file kept, so nothing unverified is ever read as a dump.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urljoin, urlsplit
from urllib.request import Request, urlopen

from tqdm import tqdm

from tasks.core.errors import InputError

BLOCK = 1 << 20
SUMS = (("sha1", "sha1sums"), ("md5", "md5sums"))
# A Wikimedia dump file name: its wiki, its date (or `latest`) and what it holds.
DUMP_NAME = re.compile(r"(?P<wiki>[a-z0-9_]+)-(?P<date>\d{8}|latest)-(?P<rest>.+)")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_MULTISTREAM = "-multistream.xml.bz2"
DUMP_FILE = "the .xml.bz2 dump file"
INDEX_FILE = "the multistream index file"


class FetchError(InputError):
    """A download that failed or did not verify; the message names the URL or file and what to do."""


@dataclass(frozen=True)
class DumpFiles:
    """A dump on local disk and its multistream index (None for a single-stream dump)."""

    dump: Path
    index: Path | None


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    hexdigest: str
    source: str  # the sums file it was read from, for messages


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def directory_given(path: Path, expected: str) -> str:
    """The one message for a folder passed where the dump or index file is expected (say the folder the dump
    was downloaded into), alike from the CLI, a pipeline and the extractor."""
    return f"{path}: is a directory; pass {expected}"


def index_name(dump_name: str) -> str | None:
    """`X-multistream.xml.bz2` → `X-multistream-index.txt.bz2`; None for a single-stream dump."""
    if not dump_name.endswith(_MULTISTREAM):
        return None
    return dump_name.removesuffix(".xml.bz2") + "-index.txt.bz2"


def find_index(dump: Path) -> Path | None:
    """`X-multistream-index.txt.bz2` beside `X-multistream.xml.bz2`, if it is there."""
    name = index_name(dump.name)
    return dump.with_name(name) if name and dump.with_name(name).is_file() else None


def resolve_dump(
    source: str | Path, cache: Path, *, index: Path | None = None, progress: bool = False, timeout: float = 60
) -> DumpFiles:
    """The dump (and index) to read: a local path as given, a URL downloaded and verified into `cache`.

    The index is `index` if given (it must be there), else the one beside a local dump if present, else for
    a URL of a multistream dump the one published beside it (downloaded and verified too). What is returned
    has been checked: `extract_dump` takes it as found.
    """
    if index is not None and index.is_dir():
        raise FetchError(directory_given(index, INDEX_FILE))
    if index is not None and not index.is_file():
        raise FetchError(f"{index}: multistream index not found")
    if not is_url(source):
        dump = Path(source)
        if dump.is_dir():
            raise FetchError(directory_given(dump, DUMP_FILE))
        if not dump.is_file():
            raise FetchError(f"{dump}: dump file not found")
        return DumpFiles(dump, index or find_index(dump))
    url = str(source)
    name = Path(urlsplit(url).path).name
    sums = published_checksums(url, timeout=timeout)
    dated, checksum = _lookup(sums, name, url)
    dump = download(url, cache / dated, checksum, progress=progress, timeout=timeout)
    if index is not None or (remote_index := index_name(name)) is None:
        return DumpFiles(dump, index)
    dated_index, index_sum = _lookup(sums, remote_index, url)
    fetched = download(
        urljoin(url, remote_index), cache / dated_index, index_sum, progress=progress, timeout=timeout
    )
    return DumpFiles(dump, fetched)


def published_checksums(url: str, *, timeout: float = 60) -> dict[str, Checksum]:
    """`{file name: checksum}` from the sums file beside the dump (SHA-1 preferred, else MD5)."""
    name = Path(urlsplit(url).path).name
    parsed = DUMP_NAME.fullmatch(name)
    if parsed is None:
        raise FetchError(
            f"{url}: cannot locate its checksum file: expected a dumps.wikimedia.org file name "
            "like zhwiki-20240601-pages-articles-multistream.xml.bz2"
        )
    tried = []
    for algorithm, suffix in SUMS:
        sums_url = urljoin(url, f"{parsed['wiki']}-{parsed['date']}-{suffix}.txt")
        tried.append(sums_url)
        try:
            with urlopen(Request(sums_url), timeout=timeout) as resp:
                body = resp.read().decode("utf-8", errors="replace")
        except HTTPError as exc:
            if exc.code == 404:
                continue
            raise FetchError(f"{sums_url}: HTTP {exc.code} {exc.reason}") from None
        except (URLError, HTTPException, OSError) as exc:
            raise FetchError(f"{sums_url}: cannot fetch the checksum file ({_reason(exc)})") from None
        return _parse_sums(body, algorithm, sums_url)
    raise FetchError(f"{url}: no checksum file published beside it (tried {', '.join(tried)})")


def _parse_sums(body: str, algorithm: str, source: str) -> dict[str, Checksum]:
    """`<hex>  <file>` lines (`*file` in binary mode) as written by sha1sum / md5sum."""
    width = hashlib.new(algorithm).digest_size * 2
    sums: dict[str, Checksum] = {}
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, filename = line.strip().partition(" ")
        filename = filename.strip().removeprefix("*")
        if len(digest) != width or not filename or re.fullmatch(r"[0-9a-fA-F]+", digest) is None:
            raise FetchError(f"{source}:{number}: not a `<{algorithm}>  <file>` line: {line[:100]!r}")
        sums[filename] = Checksum(algorithm, digest.lower(), source)
    return sums


def _lookup(sums: dict[str, Checksum], name: str, url: str) -> tuple[str, Checksum]:
    """The dated file name and checksum for `name`; a `-latest-` name matches the one dated entry it
    stands for, so the cache keeps dated names and a newer dump is never mistaken for a cached one."""
    if name in sums:
        return name, sums[name]
    parsed = DUMP_NAME.fullmatch(name)
    if parsed and parsed["date"] == "latest":
        dated = re.compile(rf"{re.escape(parsed['wiki'])}-\d{{8}}-{re.escape(parsed['rest'])}")
        matches = sorted(n for n in sums if dated.fullmatch(n))
        if len(matches) == 1:
            return matches[0], sums[matches[0]]
    source = next(iter(sums.values())).source if sums else url
    raise FetchError(f"{source}: lists no checksum for {name}")


def download(
    url: str, dest: Path, checksum: Checksum, *, progress: bool = False, timeout: float = 60
) -> Path:
    """`url` → `dest`, resuming `dest.part` with an HTTP Range request; `dest` appears only once verified.

    An existing `dest` was verified when it was renamed into place, so it is returned as is.
    """
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    total: int | None = None
    try:
        with urlopen(Request(url, headers=headers), timeout=timeout) as resp:
            if resp.status == 206:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if match is None or int(match[1]) != have:
                    raise FetchError(f"{url}: server resumed at {resp.headers.get('Content-Range')!r}")
                total = int(match[2]) if match[2] != "*" else None
            else:
                have = 0  # the server ignored the Range header: start over
                length = resp.headers.get("Content-Length")
                total = int(length) if length else None
            with (
                part.open("ab" if have else "wb") as out,
                tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                ) as bar,
            ):
                while block := resp.read(BLOCK):
                    out.write(block)
                    bar.update(len(block))
    except HTTPError as exc:
        if exc.code != 416 or not have:  # 416 on a resume: the partial file already holds everything
            raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (URLError, HTTPException, OSError) as exc:
        got = part.stat().st_size if part.is_file() else 0
        raise FetchError(
            f"{url}: download interrupted after {got} bytes ({_reason(exc)}); "
            f"{part} is kept, run again to resume"
        ) from None
    got = part.stat().st_size
    if total is not None and got < total:
        raise FetchError(
            f"{url}: connection closed after {got} of {total} bytes; {part} is kept, run again to resume"
        )
    digest = file_digest(part, checksum.algorithm)
    if digest != checksum.hexdigest:
        raise FetchError(
            f"{part}: {checksum.algorithm} {digest} does not match {checksum.hexdigest} published in "
            f"{checksum.source}; the download is kept for inspection, delete it to download again"
        )
    os.replace(part, dest)
    return dest


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while block := fh.read(4 * BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__
