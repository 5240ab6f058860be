"""Dump sources: downloads from a loopback HTTP server laid out like dumps.wikimedia.org (resume, checksums,
the multistream index), and local paths."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flows.cli import main
from tasks.config import load_settings
from tasks.dump.fetch import FetchError, resolve_dump

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2"
SAMPLE_INDEX = REPO / "data" / "sample" / "zhwiki-sample-pages-articles-multistream-index.txt.bz2"
TINY_SINGLE = REPO / "tests" / "fixtures" / "zhwiki-tiny-pages-articles.xml.bz2"
DATED = "/zhwiki/20240601/"
DUMP = "zhwiki-20240601-pages-articles-multistream.xml.bz2"
INDEX = "zhwiki-20240601-pages-articles-multistream-index.txt.bz2"
SINGLE = "zhwiki-20240601-pages-articles.xml.bz2"


@dataclass
class Site:
    """What the loopback server serves and what it was asked for."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # path → bytes sent before the connection drops
    ignore_range: bool = False
    base: str = ""

    def sums(self, folder: str, algorithm: str, names: dict[str, str]) -> None:
        """Publish `<wiki>-<date>-<algorithm>sums.txt` in `folder` for {listed name: served path}."""
        stem = names and next(iter(names)).split("-pages")[0]
        lines = "".join(
            f"{hashlib.new(algorithm, self.files[path]).hexdigest()}  {name}\n"
            for name, path in names.items()
        )
        self.files[f"{folder}{stem}-{algorithm}sums.txt"] = lines.encode()


class _Handler(BaseHTTPRequestHandler):
    site: Site
    timeout = 10  # a stuck test client cannot hold a server thread for long

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        site = self.site
        site.requests.append((self.path, self.headers.get("Range")))
        body = site.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        ranged = self.headers.get("Range")
        if ranged and not site.ignore_range:
            start = int(ranged.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = site.cut_after.pop(self.path, None)
        self.wfile.write(body[start : start + cut] if cut is not None else body[start:])
        if cut is not None:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the test asserts on `Site.requests` instead."""


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    handler = type("Handler", (_Handler,), {"site": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    served.files = {
        DATED + DUMP: SAMPLE.read_bytes(),
        DATED + INDEX: SAMPLE_INDEX.read_bytes(),
        DATED + SINGLE: TINY_SINGLE.read_bytes(),
    }
    served.sums(DATED, "sha1", {name: DATED + name for name in (DUMP, INDEX, SINGLE)})
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_full_download_verifies_and_fetches_the_index(site: Site, tmp_path: Path) -> None:
    files = resolve_dump(site.base + DATED + DUMP, tmp_path)
    assert files.dump == tmp_path / DUMP and files.index == tmp_path / INDEX
    assert files.dump.read_bytes() == SAMPLE.read_bytes()
    assert files.index.read_bytes() == SAMPLE_INDEX.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DUMP, INDEX])
    assert site.requests == [
        (DATED + "zhwiki-20240601-sha1sums.txt", None),
        (DATED + DUMP, None),
        (DATED + INDEX, None),
    ]
    site.requests.clear()
    assert resolve_dump(site.base + DATED + DUMP, tmp_path) == files  # verified files are not fetched again
    assert site.requests == [(DATED + "zhwiki-20240601-sha1sums.txt", None)]


def test_resume_after_a_truncated_partial_file(site: Site, tmp_path: Path) -> None:
    half = len(SAMPLE.read_bytes()) // 2
    (tmp_path / f"{DUMP}.part").write_bytes(SAMPLE.read_bytes()[:half])
    files = resolve_dump(site.base + DATED + DUMP, tmp_path)
    assert files.dump.read_bytes() == SAMPLE.read_bytes()
    assert (DATED + DUMP, f"bytes={half}-") in site.requests
    assert not list(tmp_path.glob("*.part"))


def test_dropped_connection_keeps_the_partial_file_and_a_rerun_resumes(site: Site, tmp_path: Path) -> None:
    site.cut_after[DATED + SINGLE] = 10_000
    url = site.base + DATED + SINGLE
    with pytest.raises(FetchError) as caught:
        resolve_dump(url, tmp_path)
    size = len(TINY_SINGLE.read_bytes())
    assert str(caught.value).startswith(f"{url}: ")
    assert f"{tmp_path / SINGLE}.part is kept, run again to resume" in str(caught.value)
    assert (tmp_path / f"{SINGLE}.part").stat().st_size == 10_000 < size
    assert not (tmp_path / SINGLE).exists()
    files = resolve_dump(url, tmp_path)
    assert files.dump.read_bytes() == TINY_SINGLE.read_bytes() and files.index is None
    assert site.requests[-1] == (DATED + SINGLE, "bytes=10000-")


def test_checksum_mismatch_is_refused_and_the_download_kept(site: Site, tmp_path: Path) -> None:
    site.files[DATED + "zhwiki-20240601-sha1sums.txt"] = f"{'0' * 40}  {SINGLE}\n".encode()
    with pytest.raises(FetchError) as caught:
        resolve_dump(site.base + DATED + SINGLE, tmp_path)
    actual = hashlib.sha1(TINY_SINGLE.read_bytes()).hexdigest()
    part = tmp_path / f"{SINGLE}.part"
    assert str(caught.value) == (
        f"{part}: sha1 {actual} does not match {'0' * 40} published in "
        f"{site.base}{DATED}zhwiki-20240601-sha1sums.txt; the download is kept for inspection, "
        "delete it to download again"
    )
    assert part.read_bytes() == TINY_SINGLE.read_bytes()
    assert not (tmp_path / SINGLE).exists()


def test_server_ignoring_range_starts_over(site: Site, tmp_path: Path) -> None:
    site.ignore_range = True
    (tmp_path / f"{SINGLE}.part").write_bytes(b"stale bytes of an older file")
    files = resolve_dump(site.base + DATED + SINGLE, tmp_path)
    assert files.dump.read_bytes() == TINY_SINGLE.read_bytes()


def test_latest_names_and_md5_sums(site: Site, tmp_path: Path) -> None:
    latest = "/zhwiki/latest/"
    site.files[latest + "zhwiki-latest-pages-articles.xml.bz2"] = TINY_SINGLE.read_bytes()
    site.sums(latest, "md5", {SINGLE: latest + "zhwiki-latest-pages-articles.xml.bz2"})
    site.files[latest + "zhwiki-latest-md5sums.txt"] = site.files.pop(latest + "zhwiki-20240601-md5sums.txt")
    files = resolve_dump(site.base + latest + "zhwiki-latest-pages-articles.xml.bz2", tmp_path)
    assert files.dump == tmp_path / SINGLE  # cached under the dated name the sums file gives
    assert files.dump.read_bytes() == TINY_SINGLE.read_bytes()
    assert [path for path, _ in site.requests][:2] == [
        latest + "zhwiki-latest-sha1sums.txt",
        latest + "zhwiki-latest-md5sums.txt",
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/zhwiki/20240601/zhwiki-20240601-pages-meta-history.xml.bz2",
            "sha1sums.txt: lists no checksum for",
        ),
        ("/other/20240601/zhwiki-20240601-pages-articles.xml.bz2", "no checksum file published beside it"),
        ("/zhwiki/20240601/dump.xml.bz2", "cannot locate its checksum file"),
    ],
)
def test_unverifiable_urls_are_refused(site: Site, tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        resolve_dump(site.base + path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_on_the_server(site: Site, tmp_path: Path) -> None:
    site.sums(DATED, "sha1", {"zhwiki-20240601-pages-articles.xml.bz2": DATED + SINGLE})
    del site.files[DATED + SINGLE]
    with pytest.raises(FetchError, match=rf"{SINGLE}: HTTP 404"):
        resolve_dump(site.base + DATED + SINGLE, tmp_path)


def test_local_paths(tmp_path: Path) -> None:
    assert resolve_dump(SAMPLE, tmp_path) == resolve_dump(str(SAMPLE), tmp_path)
    assert resolve_dump(SAMPLE, tmp_path).index == SAMPLE_INDEX
    assert resolve_dump(TINY_SINGLE, tmp_path).index is None
    with pytest.raises(FetchError, match="nowhere.xml.bz2: dump file not found"):
        resolve_dump(tmp_path / "nowhere.xml.bz2", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("role", ["dump", "index"])
def test_a_directory_for_the_dump_or_index_says_so_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], role: str
) -> None:
    """The folder the dump was downloaded into, passed instead of the file: the same line from the fetcher,
    `zhvec extract` and a pipeline's `dump:` / `index:` (after the key)."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    expected = f"{folder}: is a directory; pass " + (
        "the .xml.bz2 dump file" if role == "dump" else "the multistream index file"
    )
    dump, index = (folder, None) if role == "dump" else (SAMPLE, folder)
    with pytest.raises(FetchError, match=f"^{re.escape(expected)}$"):
        resolve_dump(dump, tmp_path, index=index)
    args = ["extract", str(dump), "-o", str(tmp_path / "out"), *(["--index", str(index)] if index else [])]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == f"zhvec extract: error: {expected}"
    config = tmp_path / "pipelines.yaml"
    entry = f"dump: {dump}" + (f", index: {index}" if index else "")
    config.write_text(f"workspace: {tmp_path / 'work'}\ndefault: p\npipelines:\n  p: {{{entry}}}\n")
    assert main(["run", "p", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == f"zhvec run: error: pipelines.p.{role}: {expected}"
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_cli_says_a_half_downloaded_dump_is_truncated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / SAMPLE.name
    dump.write_bytes(SAMPLE.read_bytes()[: SAMPLE.stat().st_size // 2])
    (tmp_path / SAMPLE_INDEX.name).write_bytes(SAMPLE_INDEX.read_bytes())
    assert main(["extract", str(dump), "-o", str(tmp_path / "out"), "--workers", "1", "--json"]) == 2
    error = f"zhvec extract: error: {dump}: truncated: 1.4 MB of at least 2.8 MB; re-download"
    assert capsys.readouterr().err.strip() == error


def test_cli_extracts_from_a_url(site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = site.base + DATED + DUMP
    args = ["extract", url, "-o", str(tmp_path / "out"), "--cache", str(tmp_path / "dumps"), "--workers", "1"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dump"] == str(tmp_path / "dumps" / DUMP)
    assert main(["extract", str(SAMPLE), "-o", str(tmp_path / "local"), "--workers", "1", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert result["articles"] == local["articles"] > 0 and result["shards"] == local["shards"]
    for name in result["shards"]:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert {"articles", "chars", "bytes_in", "bytes_out", "seconds", "per_shard"} <= set(result)


def test_pipelines_yaml_accepts_a_url(tmp_path: Path) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        "default: web\npipelines:\n"
        "  web: {dump: 'https://dumps.wikimedia.org/zhwiki/20240601/zhwiki-20240601-pages-articles.xml.bz2'}\n"
        "  disk: {dump: data/zhwiki-pages-articles.xml.bz2}\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.pipelines["web"].dump == (
        "https://dumps.wikimedia.org/zhwiki/20240601/zhwiki-20240601-pages-articles.xml.bz2"
    )
    assert settings.pipelines["disk"].dump == tmp_path / "data" / "zhwiki-pages-articles.xml.bz2"
