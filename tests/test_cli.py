"""Bad input to `zhvec run` is one line naming the problem, exit status 2, and no work done."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import build_parser, main
from tasks.config import ConvertOptions, ExtractOptions, SegmentOptions, TrainParams

REPO = Path(__file__).resolve().parents[1]
KNOWN = "bench, sample, sample-fasttext, sample-nodict, synthetic, zhwiki"  # the pipelines in pipelines.yaml


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(f"workspace: {tmp_path / 'work'}\ndefault: p\npipelines:\n{body}", encoding="utf-8")
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


def test_missing_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, "  p:\n    dump: nowhere/zhwiki-x.xml.bz2\n")
    code, err = run_cli(["run", "p", "--config", str(path)], capsys)
    assert code == 2
    assert err.count("\n") == 0
    assert "pipelines.p.dump: dump file not found:" in err and "nowhere/zhwiki-x.xml.bz2" in err
    assert not (tmp_path / "work").exists()


def test_unknown_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["run", "nope", "--config", str(REPO / "pipelines.yaml")], capsys)
    assert code == 2
    assert err == f"zhvec run: error: unknown pipeline 'nope'; known: {KNOWN}"


def test_invalid_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, "  p:\n    dump: x.xml.bz2\n    sweep: {grid: {windw: [3]}}\n")
    code, err = run_cli(["run", "--config", str(path)], capsys)
    assert code == 2
    assert err.count("\n") == 0 and "windw" in err and str(path) in err
    assert not (tmp_path / "work").exists()


def test_console_entry_point_reports_and_exits_nonzero(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "nope", "--config", str(REPO / "pipelines.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"zhvec run: error: unknown pipeline 'nope'; known: {KNOWN}"]


def test_segment_and_convert_print_json_stats(
    tmp_path: Path, paragraphs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["segment", str(paragraphs), "-o", str(tmp_path / "c.txt"), "--engine", "jieba", "--workers", "1"]
    assert main([*args, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["engine"] == "jieba" and stats["tokens"] > stats["vocab_size"] > 0
    assert stats["seconds"] > 0 and stats["mb_per_s"] > 0
    assert main(["convert", str(paragraphs), "-o", str(tmp_path / "s.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == len(
        paragraphs.read_text(encoding="utf-8").splitlines()
    )


def test_segment_bad_utf8_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes("好的\n".encode() + b"\xff\n")
    code, err = run_cli(
        ["segment", str(bad), "-o", str(tmp_path / "c.txt"), "--workers", "1", "--json"], capsys
    )
    assert code == 2
    assert err == f"zhvec segment: error: {bad}:2: invalid UTF-8 at byte 1 of the line (invalid start byte)"


def test_a_reader_that_stops_early_is_no_error() -> None:
    """`zhvec … | head`: when the reader goes, the command ends quietly with status 0."""
    script = (
        "import sys, flows.cli as cli\n"
        "cli.cmd_results = lambda args: [print('x' * 100) for _ in range(100_000)]\n"
        "sys.exit(cli.main(['results']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"x" * 100 + b"\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def test_option_defaults_and_choices_come_from_the_config_models() -> None:
    parser = build_parser()
    train = parser.parse_args(["train", "corpus.txt", "-o", "out"])
    for field in (
        "model",
        "vector_size",
        "window",
        "negative",
        "hs",
        "sample",
        "epochs",
        "min_count",
        "seed",
    ):
        assert getattr(train, field) == TrainParams.model_fields[field].default, field
    segment = parser.parse_args(["segment", "in", "-o", "out"])
    assert segment.engine == SegmentOptions.model_fields["engine"].default
    assert tuple(segment.drop) == SegmentOptions.model_fields["drop"].default
    assert segment.check_every == SegmentOptions.model_fields["check_every"].default
    assert segment.min_agreement == SegmentOptions.model_fields["min_agreement"].default
    convert = parser.parse_args(["convert", "in", "-o", "out"])
    assert convert.opencc == ConvertOptions.model_fields["config"].default
    assert parser.parse_args(["extract", "d.bz2", "-o", "o"]).min_chars == ExtractOptions().min_chars
    assert parser.parse_args(["train", "c", "-o", "o", "--model", "fasttext"]).model == "fasttext"


def test_convert_names_the_opencc_config_opencc(
    tmp_path: Path, paragraphs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--config` is pipelines.yaml for every other command; convert's OpenCC choice is `--opencc`."""
    out = tmp_path / "same.txt"
    assert main(["convert", str(paragraphs), "-o", str(out), "--opencc", "none", "--json"]) == 0
    assert out.read_text(encoding="utf-8") == paragraphs.read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["convert", "in", "-o", "out", "--opencc", "s2t"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["convert", "in", "-o", "out", "--config", "t2s"])
    capsys.readouterr()
