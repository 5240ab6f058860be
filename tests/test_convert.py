import random
from pathlib import Path

import opencc
import pytest

from tasks.text.convert import ConvertError, convert_bytes, convert_shards


def convert_text(text: str, config: str) -> str:
    """OpenCC's own entry for a str: the reference."""
    return text if config == "none" else opencc.OpenCC(config).convert(text)


def test_t2s_converts_traditional_and_keeps_simplified() -> None:
    text = "數學是利用符號語言研究數量、結構。"
    assert convert_bytes(text.encode(), "t2s") == "数学是利用符号语言研究数量、结构。"
    assert convert_bytes("数学".encode(), "t2s") == "数学"
    assert convert_bytes("軟體".encode(), "tw2sp") == "软件"
    assert convert_bytes("數學".encode(), "none") == "數學"


@pytest.mark.parametrize("config", ["t2s", "tw2sp", "hk2s", "none"])
def test_bytes_entry_equals_text_entry_and_never_passes_invalid_utf8(config: str) -> None:
    """`convert_bytes` skips the decode that used to check the UTF-8: every corruption of real traditional
    text (bytes replaced, inserted or cut, next to convertible words) must still raise."""
    text = "數學是利用符號語言研究數量、結構、變化以及空間等概念的一門學科。軟體與網路，臺灣。\n" * 3
    data = text.encode()
    assert convert_bytes(data, config) == convert_text(text, config)
    rng = random.Random(7)
    corruptions = [bytes([byte]) for byte in (0x80, 0xBF, 0xC0, 0xC3, 0xE5, 0xED, 0xF0, 0xF4, 0xF8, 0xFF)]
    corruptions += [b"\xe5\x9c", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\x80", b"\xe0\x80\x80"]
    invalid = 0
    for _ in range(300):
        at = rng.randrange(len(data))
        bad = rng.choice(corruptions)
        cut = rng.choice([0, 0, 1, 2])
        corrupted = data[:at] + bad + data[at + cut :]
        try:
            expected = corrupted.decode("utf-8")
        except UnicodeDecodeError:
            invalid += 1
            with pytest.raises(UnicodeDecodeError):
                convert_bytes(corrupted, config)
        else:
            assert convert_bytes(corrupted, config) == convert_text(expected, config)
    assert invalid > 250


def test_shard_folder_equals_whole_text_conversion(
    tmp_path: Path, paragraphs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tasks.text.convert.BYTES_PER_WORKER", 1)  # two worker processes even for tiny shards
    lines = paragraphs.read_text(encoding="utf-8").splitlines(keepends=True)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"text-{i:05d}.txt").write_text("".join(lines[i::3]), encoding="utf-8")
    stats = convert_shards(src, tmp_path / "out", config="t2s", workers=2)
    assert stats.shards == 3
    assert stats.lines == len(lines)
    for i in range(3):
        expected = convert_text("".join(lines[i::3]), "t2s")
        assert (tmp_path / "out" / f"text-{i:05d}.txt").read_text(encoding="utf-8") == expected
    assert not list((tmp_path / "out").glob(".*"))


def test_bad_config_and_bad_utf8_are_named(tmp_path: Path) -> None:
    src = tmp_path / "bad.txt"
    src.write_bytes("好\n".encode() + b"\xff\xfe\n")
    with pytest.raises(ConvertError, match="unknown OpenCC config 'x2y'"):
        convert_shards(src, tmp_path / "o.txt", config="x2y", workers=1)
    with pytest.raises(ConvertError, match=r"bad\.txt:2: invalid UTF-8 at byte 1 of the line"):
        convert_shards(src, tmp_path / "o.txt", config="t2s", workers=1)
    assert not (tmp_path / "o.txt").exists()


def test_empty_shard_is_counted(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "text-00000.txt").write_text("數學\n", encoding="utf-8")
    (src / "text-00001.txt").write_bytes(b"")
    stats = convert_shards(src, tmp_path / "out", config="t2s", workers=1)
    assert (stats.shards, stats.empty_shards, stats.lines) == (2, 1, 1)
    assert (tmp_path / "out" / "text-00001.txt").read_bytes() == b""
