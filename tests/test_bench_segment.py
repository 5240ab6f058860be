"""The segment benchmark's split of its text among loops run at once (the rest needs ../shared's corpora)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.segment import text_parts


def test_parts_cut_each_shard_into_runs_of_whole_lines(tmp_path: Path) -> None:
    text = tmp_path / "text"
    text.mkdir()
    shards = {
        "text-00000.txt": "".join(f"第{i}行，中文。\n" for i in range(100)).encode(),
        "text-00001.txt": "一行而已\n".encode(),
        "text-00002.txt": b"",
    }
    for name, data in shards.items():
        (text / name).write_bytes(data)
    parts = text_parts(text, 3, tmp_path)
    for name, data in shards.items():
        runs = [(part / name).read_bytes() for part in parts]
        assert b"".join(runs) == data
        assert all(run.endswith(b"\n") for run in runs if run)
    sizes = [len((part / "text-00000.txt").read_bytes()) for part in parts]
    assert max(sizes) - min(sizes) <= 2 * len("第99行，中文。\n".encode())
