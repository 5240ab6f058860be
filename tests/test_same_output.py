"""Outputs that must not change when the code is reorganised: SHA-256 of the sample's extracted text and
segmented corpus, the tiny single-stream fixture's text, and the cleaned prose of the real wikitext pages.
The checksums were taken with the code before the package was split into stage subpackages; a change that
alters them changes what users get and must say so."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tasks.config import load_settings
from tasks.dump.extract import extract_dump
from tasks.dump.wikitext import prose_text
from tasks.text.convert import convert_shards
from tasks.text.segment import segment_corpus

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"

PAGES = {
    "QUIC.wikitext": "c1c76cd2156166d351fe6b15e0d4a769aa01dbdb8b399cb7234b33e1273ff40c",
    "匹配Z变换方法.wikitext": "221b8ddb6a96fee85fa24cc773382aec46779c44490b37aa2cd54740ddb706f8",
    "等M圓及等N圓.wikitext": "f1c3c61d962d9d5e7b53efb2200a1cd0505dc9d8fa6bd81dca23b7df875ebd7e",
    "面天樹蛙.wikitext": "9262842dcffdc276216a35f9c2dfb9ed7b17456cb032b30f61a5ecbbedd54ad0",
    "面容ID.wikitext": "c1afc57ce941a89270830943f7ec1050c57fbfb8e9e0c4161774bdf0d915700b",
}
SAMPLE_TEXT = "658b68e9ae50b8917f60c4312121f8ae9a607492b6604d65b55b00ea510bde49"
SAMPLE_CORPUS = "a803a7ea9ea4302e6dba527e2569337d3ea2a1fa64d8635e38de09442a1df9f1"
TINY_SINGLE_STREAM_TEXT = "ad4127f63c299156902f8b8fcc68e19182fdd695868f4a8c915e528d4d6ba495"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shards_sha256(folder: Path) -> str:
    return sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.txt"))))


@pytest.mark.parametrize("name", sorted(PAGES))
def test_real_pages_clean_to_the_same_prose(name: str) -> None:
    text = (FIXTURES / "wikitext" / name).read_text(encoding="utf-8")
    assert sha256(prose_text(text).encode()) == PAGES[name]


def test_sample_text_and_corpus_are_unchanged(tmp_path: Path) -> None:
    _, pl = load_settings(REPO / "pipelines.yaml").pipeline("sample")
    assert pl.dump is not None
    extract_dump(Path(pl.dump), tmp_path / "text", options=pl.extract, workers=2)
    assert shards_sha256(tmp_path / "text") == SAMPLE_TEXT
    convert_shards(tmp_path / "text", tmp_path / "simplified", config=pl.convert.config, workers=2)
    segment_corpus(tmp_path / "simplified", tmp_path / "corpus.txt", options=pl.segment, workers=2)
    assert sha256((tmp_path / "corpus.txt").read_bytes()) == SAMPLE_CORPUS


def test_single_stream_text_is_unchanged(tmp_path: Path) -> None:
    _, pl = load_settings(REPO / "pipelines.yaml").pipeline("sample")
    extract_dump(
        FIXTURES / "zhwiki-tiny-pages-articles.xml.bz2", tmp_path / "text", options=pl.extract, workers=2
    )
    assert shards_sha256(tmp_path / "text") == TINY_SINGLE_STREAM_TEXT
