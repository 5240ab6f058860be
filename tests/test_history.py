"""The benchmark history: the committed README is what the generator makes of the committed history, a run
appends one well-formed line, and a bad line is an error naming the file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tasks.bench import history
from tests.configs import EVAL_DIR, OUTPUTS, TINY_DUMP

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "reports" / "benchmarks" / "history.jsonl"


def test_committed_readme_is_generated_from_committed_history() -> None:
    readme = COMMITTED.parent / "README.md"
    assert readme.read_bytes().decode("utf-8") == history.render(history.load(COMMITTED))
    assert history.main(["render", "--check", "--history", str(COMMITTED)]) == 0


def test_project_readme_summary_is_generated_from_committed_history(tmp_path: Path) -> None:
    project = ROOT / "README.md"
    assert history.project_readme(COMMITTED) == project
    text = project.read_text(encoding="utf-8")
    assert history.with_summary(text, history.load(COMMITTED), project) == text
    summary = history.summary(history.load(COMMITTED))
    assert summary.count("\n| ") == len(history.SUMMARY) + 1  # the heading and one row per summary line
    with pytest.raises(history.HistoryError, match="no <!-- bench-summary:start -->"):
        history.with_summary("# a README without the section\n", [], tmp_path / "README.md")


def test_committed_history_covers_every_benchmark_with_a_source_for_each_earlier_run() -> None:
    records = history.load(COMMITTED)
    assert {"bench", "extract", "segment", "evaluate", "train", "synthetic"} <= {
        r["benchmark"] for r in records
    }
    assert all(
        re.fullmatch(r"README\.md at commit [0-9a-f]{7,}", r["source"]) for r in records if "source" in r
    )


def test_append_writes_one_line_and_regenerates_the_readme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(history.ENV, raising=False)
    figures = {
        "multistream": {"zhvec": {"seconds": 4.21}, "ratios": {"ok": True}},
        "runs": [{"s": 1}, {"s": 2}],
    }
    figures |= {"engine": "cjieba", "missing": None}
    path = history.append("extract", figures, tmp_path / "reports", command="python -m benchmarks.extract")
    assert path == tmp_path / "reports" / "benchmarks" / "history.jsonl"
    history.append("extract", {"multistream": {"zhvec": {"seconds": 4.0}}}, tmp_path / "reports")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(history.REQUIRED) == set(first)
    assert first["benchmark"] == "extract"
    assert first["command"] == "python -m benchmarks.extract"
    assert first["figures"] == {
        "multistream.zhvec.seconds": 4.21,
        "multistream.ratios.ok": True,
        "runs.1.s": 1,
        "runs.2.s": 2,
        "engine": "cjieba",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["utc"])
    assert first["commit"] is None or re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", first["commit"])
    assert isinstance(first["cores"], int) and isinstance(first["host"], str)
    assert list(first) == sorted(first)  # sorted keys: a diff of the history shows only what changed
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    assert readme == history.render(history.load(path))
    assert "| multistream.zhvec.seconds | 4.0 |" in readme  # the latest run's table
    rows = [line for line in readme.splitlines() if line.startswith(("| UTC ", "| 20"))]
    assert "| multistream zhvec s |" in rows[0]
    assert [row.removesuffix(" |").split(" | ")[4] for row in rows[1:]] == ["4.0", "4.21"]  # newest first


def test_environment_variable_names_the_history_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere" / "runs.jsonl"
    monkeypatch.setenv(history.ENV, str(target))
    assert history.append("train", {"cbow": {"gensim_vs_c": 1.5}}, tmp_path / "reports") == target
    assert [r["figures"] for r in history.load(target)] == [{"cbow.gensim_vs_c": 1.5}]
    assert (target.parent / "README.md").is_file()
    assert not (tmp_path / "reports").exists()


def _line(**change: object) -> str:
    record = {
        "utc": "2026-11-22T18:00:00Z",
        "commit": "abc1234",
        "host": "h",
        "cores": 2,
        "python": "3.11.2",
        "benchmark": "bench",
        "command": "zhvec bench d.xml.bz2",
        "figures": {"models.sg.speedup.preprocess": 16.6},
    }
    return json.dumps(record | change) + "\n"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"utc": "2026-11-22T18:00:00Z",\n', "not JSON"),
        ("\n", "empty line"),
        ('["a list"]\n', "expected a JSON object"),
        (_line(utc="yesterday"), "utc 'yesterday' is not an ISO 8601 time"),
        (_line(figures={"a": [1, 2]}), "figure 'a' must be a number"),
        (_line(figures={}), "figures must be a non-empty object"),
        (_line(cores="two"), "cores must be a whole number"),
        (_line(extra=1), "unknown key(s) extra"),
        (json.dumps({"utc": "2026-11-22T18:00:00Z"}) + "\n", "missing commit, host, cores"),
    ],
)
def test_a_malformed_line_names_the_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(_line() + bad + _line(), encoding="utf-8")
    with pytest.raises(history.HistoryError) as err:
        history.load(path)
    assert str(err.value).startswith(f"{path}:2: ")
    assert message in str(err.value)


def test_render_check_fails_naming_a_stale_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(_line() + _line(utc="2026-11-23T09:30:00Z", host="other"), encoding="utf-8")
    assert history.main(["render", "--check", "--history", str(path)]) == 1
    assert f"{tmp_path / 'README.md'}: not generated from {path}" in capsys.readouterr().err
    assert history.main(["render", "--history", str(path)]) == 0
    assert history.main(["render", "--check", "--history", str(path)]) == 0
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| 2026-")]
    assert [row.split(" | ")[2] for row in rows] == ["other", "h"]  # newest first
    (tmp_path / "history.jsonl").write_text("oops\n", encoding="utf-8")
    assert history.main(["render", "--history", str(path)]) == 2
    assert f"{path}:1: not JSON" in capsys.readouterr().err


BENCH_CONFIG = (
    OUTPUTS
    + """default: bench
pipelines:
  bench:
    dump: {dump}
    sweep: {{base: {{vector_size: 100, window: 5, negative: 5, sample: 1.0e-4, min_count: 5, epochs: 5}}}}
    evaluate:
      analogy: {{ca_translated: {eval}/ca8/ca_translated.txt}}
      similarity: {{}}
"""
)


def test_zhvec_bench_appends_its_summary_to_the_reports_folder_history(
    prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import main

    monkeypatch.delenv(history.ENV, raising=False)
    config = tmp_path / "pipelines.yaml"
    config.write_text(BENCH_CONFIG.format(root=tmp_path, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    assert main(["bench", str(TINY_DUMP), "--config", str(config), "--systems", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    path = tmp_path / "reports" / "benchmarks" / "history.jsonl"
    (record,) = history.load(path)
    assert record["benchmark"] == "bench"
    assert record["figures"] == history.flatten(summary)
    assert record["figures"]["run_id"] == summary["run_id"]
    assert "models.sg.systems.zhvec.preprocess_s" in record["figures"]
    assert (path.parent / "README.md").read_text(encoding="utf-8") == history.render([record])
