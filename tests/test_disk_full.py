"""A full disk (ENOSPC) while a point writes its vectors, or while `zhvec export` writes its file: the error
names the file and says the disk is full, every finished stage is kept whole, no temp file is left, and a
re-run once space is free reuses the finished stages and completes."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from gensim.models import KeyedVectors

from flows.cli import main
from flows.pipeline import run_pipeline
from tasks.core.workspace import MANIFEST
from tasks.vectors import vocab as vocab_mod
from tests.configs import EVAL_DIR, OUTPUTS, TINY_DUMP, TWO_EVAL_SETS

CONFIG = (
    OUTPUTS
    + """
default: tiny
pipelines:
  tiny:
    dump: {dump}
    workers: 1
    sweep:
      base: {{vector_size: 8, min_count: 2, epochs: 1, workers: 1}}
      track_epochs: false
    evaluate:
"""
    + TWO_EVAL_SETS
)
FINISHED = ("extract", "convert", "segment", "vocab")


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """word2vec-format writes put some bytes down, then the disk is full."""

    def refuse(self: KeyedVectors, fname: str, *args: Any, **kwargs: Any) -> None:
        Path(fname).write_bytes(b"12 8\npartial")
        raise OSError(errno.ENOSPC, "No space left on device", fname)

    monkeypatch.setattr(KeyedVectors, "save_word2vec_format", refuse)


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file() and p.name.endswith(".tmp")]


def test_disk_full_while_training_keeps_finished_stages_and_resumes(
    prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text(CONFIG.format(root=tmp_path, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    work = tmp_path / "work"
    with monkeypatch.context() as patch:
        _full_disk(patch)
        failed = run_pipeline(pipeline="tiny", config_path=str(config))
    (point,) = failed.points
    assert point.status == "failed"
    assert "vectors.bin: not written, out of disk space" in point.error and "re-run to resume" in point.error
    assert str(work / "train") in point.error
    for stage in FINISHED:  # each finished stage: one folder, its manifest, its outputs whole
        (folder,) = (work / stage).iterdir()
        assert (folder / MANIFEST).is_file()
    (segment,) = (work / "segment").iterdir()
    written = json.loads((segment / MANIFEST).read_text(encoding="utf-8"))["timing"]["bytes_out"]
    assert (segment / "corpus.txt").stat().st_size == written
    (vocab,) = (work / "vocab").iterdir()
    assert vocab_mod.read_vocabulary(vocab / vocab_mod.VOCAB_FILE).total_words > 0
    (train,) = (work / "train").iterdir()
    assert not (train / MANIFEST).exists() and not (train / "vectors.bin").exists()
    assert _temp_files(work) == []

    second = run_pipeline(pipeline="tiny", config_path=str(config))  # space freed
    assert [p.status for p in second.points] == ["completed"]
    with duckdb.connect(str(work / "zhvec.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT stage, cached FROM stage_timings WHERE run_id = ?", [second.run_id]
        ).fetchall()
    cached = dict(rows)
    assert all(cached[stage] for stage in FINISHED) and not cached["train"]
    assert KeyedVectors.load_word2vec_format(str(train / "vectors.bin"), binary=True).vector_size == 8
    assert _temp_files(work) == []


def test_disk_full_while_exporting_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kv = KeyedVectors(4)
    kv.add_vectors(["北京", "上海", "中国"], np.arange(12, dtype=np.float32).reshape(3, 4))
    model = tmp_path / "vectors.kv"
    kv.save(str(model))
    out = tmp_path / "export" / "vectors.txt"
    args = ["export", str(model), "--format", "word2vec-txt", "-o", str(out)]
    with monkeypatch.context() as patch:
        _full_disk(patch)
        assert main(args) != 0
    error = capsys.readouterr().err
    assert f"{out}: not written, out of disk space" in error
    assert not out.exists() and _temp_files(tmp_path) == [] and model.is_file()
    assert main(args) == 0  # space freed
    assert KeyedVectors.load_word2vec_format(str(out)).index_to_key == kv.index_to_key
