"""Every export format loads back in the tool it is for, with exactly the vectors that went in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from flows.cli import main
from tasks.vectors.export import MAX_TOP_N, ExportError, export_vectors

WORDS = ["的", "中国", "北京", "word", "上海", "经济"]


@pytest.fixture
def kv() -> KeyedVectors:
    rng = np.random.default_rng(3)
    vectors = KeyedVectors(7)
    vectors.add_vectors(WORDS, rng.normal(size=(len(WORDS), 7)).astype(np.float32) / 3)
    return vectors


@pytest.mark.parametrize("fmt", ["word2vec-txt", "word2vec-bin"])
def test_word2vec_formats_load_in_gensim(kv: KeyedVectors, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "vectors"
    result = export_vectors(kv, fmt, out)  # type: ignore[arg-type]
    back = KeyedVectors.load_word2vec_format(str(out), binary=fmt == "word2vec-bin")
    assert back.index_to_key == WORDS
    assert np.array_equal(back.vectors, kv.vectors)
    assert (result.words, result.dimensions, result.files) == (6, 7, [str(out)])


def test_kv_loads_in_gensim(kv: KeyedVectors, tmp_path: Path) -> None:
    export_vectors(kv, "kv", tmp_path / "v.kv")
    back = KeyedVectors.load(str(tmp_path / "v.kv"))
    assert back.index_to_key == WORDS and np.array_equal(back.vectors, kv.vectors)
    assert [p.name for p in tmp_path.iterdir()] == ["v.kv"]  # one file, no side arrays, no temp left


def test_tensorboard_files_have_one_row_per_word(kv: KeyedVectors, tmp_path: Path) -> None:
    result = export_vectors(kv, "tensorboard", tmp_path / "tb", top_n=4)
    tensors = (tmp_path / "tb" / "tensors.tsv").read_text(encoding="utf-8").splitlines()
    metadata = (tmp_path / "tb" / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert metadata == WORDS[:4] and len(tensors) == 4 and result.words == 4
    assert all(len(line.split("\t")) == 7 for line in tensors)
    loaded = np.loadtxt(tmp_path / "tb" / "tensors.tsv", delimiter="\t", dtype=np.float32)
    assert np.array_equal(loaded, kv.vectors[:4])
    config = (tmp_path / "tb" / "projector_config.pbtxt").read_text(encoding="utf-8")
    assert 'tensor_path: "tensors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config
    export_vectors(kv, "tensorboard", tmp_path / "all", top_n=100)
    assert (tmp_path / "all" / "metadata.tsv").read_text(encoding="utf-8").splitlines() == WORDS
    with pytest.raises(ExportError, match="top-N must be at least 1, got 0"):
        export_vectors(kv, "tensorboard", tmp_path / "none", top_n=0)


def test_tensorboard_export_is_capped_naming_the_cap_and_the_ask(
    kv: KeyedVectors, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert MAX_TOP_N == 100_000
    with pytest.raises(
        ExportError, match=r"top-N 1,000,000 is over the TensorBoard export's maximum of 100,000"
    ):
        export_vectors(kv, "tensorboard", tmp_path / "all", top_n=1_000_000)
    assert not (tmp_path / "all").exists()
    assert export_vectors(kv, "tensorboard", tmp_path / "max", top_n=MAX_TOP_N).words == len(WORDS)
    kv.save_word2vec_format(str(tmp_path / "in.bin"), binary=True)
    argv = ["export", str(tmp_path / "in.bin"), "--format", "tensorboard", "-o", str(tmp_path / "tb")]
    assert main([*argv, "--top-n", "100001"]) == 2
    err = capsys.readouterr().err
    assert "--top-n 100,001 is over the TensorBoard export's maximum of 100,000 rows" in err
    assert not (tmp_path / "tb").exists()
    assert main([*argv, "--top-n", "3", "--json"]) == 0  # the binary is read only as far as the rows asked
    assert json.loads(capsys.readouterr().out)["words"] == 3
    assert (tmp_path / "tb" / "metadata.tsv").read_text(encoding="utf-8").splitlines() == WORDS[:3]


def test_tensorboard_refuses_a_word_a_tsv_cannot_hold(tmp_path: Path) -> None:
    bad = KeyedVectors(2)
    bad.add_vectors(["ok", "tab\there"], np.ones((2, 2), dtype=np.float32))
    with pytest.raises(ExportError, match=r"'tab\\there' contains a tab or line break"):
        export_vectors(bad, "tensorboard", tmp_path / "tb")


def test_embedding_matrix_has_a_zero_padding_row(kv: KeyedVectors, tmp_path: Path) -> None:
    export_vectors(kv, "embedding-matrix", tmp_path / "m")
    matrix = np.load(tmp_path / "m" / "embeddings.npy")
    word2idx = json.loads((tmp_path / "m" / "word2idx.json").read_text(encoding="utf-8"))
    assert matrix.shape == (7, 7) and matrix.dtype == np.float32
    assert not matrix[0].any()
    assert sorted(word2idx.values()) == list(range(1, 7)) and list(word2idx) == WORDS
    for word, row in word2idx.items():
        assert np.array_equal(matrix[row], kv[word])


def test_cli_export_reads_any_vector_file(
    kv: KeyedVectors, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kv.save_word2vec_format(str(tmp_path / "in.bin"), binary=True)
    argv = ["export", str(tmp_path / "in.bin"), "--format", "embedding-matrix", "-o", str(tmp_path / "m")]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["format"], printed["words"], printed["dimensions"]) == ("embedding-matrix", 6, 7)
    assert np.load(tmp_path / "m" / "embeddings.npy").shape == (7, 7)
    assert main(["export", str(tmp_path / "nope.kv"), "--format", "kv", "-o", str(tmp_path / "x")]) == 2
    assert "MODEL: vectors file not found" in capsys.readouterr().err
    assert main([*argv[:3], "tensorboard", "-o", str(tmp_path / "tb"), "--top-n", "0"]) == 2
    assert "--top-n must be at least 1, got 0" in capsys.readouterr().err
