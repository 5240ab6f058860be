"""Each stage's key is derived from what makes its output and nothing else: the project modules it imports
(found, not listed), its C, the libraries and data files it declares; eval sets, output formats and tracked
sets stay out; and a re-run says why each stage ran."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import run_pipeline
from tasks.bench import baselines
from tasks.core import identity, reuse
from tasks.dump import extract
from tasks.synthetic import languages
from tasks.text import convert, segment
from tasks.vectors import evaluate, subword, train, vocab
from tests.configs import EVAL_DIR, OUTPUTS, TINY_DUMP

REPO = Path(__file__).resolve().parents[1]
STAGES = {
    "extract": extract.CODE,
    "convert": convert.CODE,
    "segment": segment.CODE,
    "segment-rjieba": segment.RJIEBA_CODE,
    "vocab": vocab.CODE,
    "train": train.CODE,
    "evaluate": evaluate.CODE,
    "evaluate-subword": subword.CODE,
    "synthesize": languages.CODE,
    "tutorial": baselines.TUTORIAL_CODE,
    "word2vec_c": baselines.WORD2VEC_C_CODE,
}


@pytest.fixture
def fresh_identities() -> Iterator[None]:
    """Identities are computed once per process; a test that changes what they read starts afresh."""
    identity._module_parts.cache_clear()
    identity._data_hash.cache_clear()
    yield
    identity._module_parts.cache_clear()
    identity._data_hash.cache_clear()


def _versions() -> dict[str, str]:
    return {name: code.version() for name, code in STAGES.items()}


def _moved(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def test_a_stage_is_made_of_the_modules_it_imports_and_its_c() -> None:
    parts = segment.CODE.parts()
    assert {
        "module:tasks/text/segment.py",
        "module:tasks/text/shards.py",
        "module:tasks/text/prefix_dict.py",
    } <= set(parts)
    assert "c:tasks/text/_cut.c" in parts and "library:jieba" in parts and "data:jieba:dict.txt" in parts
    assert "module:tasks/vectors/train.py" not in parts
    extracted = extract.CODE.parts()
    assert {"c:tasks/dump/_pages.c", "c:tasks/dump/_wikitext.c", "c:tasks/dump/_text.h"} <= set(extracted)
    assert not any(name.startswith("library:") for name in extracted)
    assert "module:tasks/vectors/vocab.py" in train.CODE.parts()  # a point is built from the counted words


def test_editing_a_module_moves_the_keys_of_exactly_the_stages_that_import_it(
    fresh_identities: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _versions()
    real = identity._file_hash

    def edited(path: Path) -> str:
        return "edited" if path.name == "shards.py" else real(path)

    identity._module_parts.cache_clear()
    monkeypatch.setattr(identity, "_file_hash", edited)
    assert _moved(before, _versions()) == {"convert", "segment", "segment-rjieba", "vocab", "train"}


@pytest.mark.parametrize(
    ("library", "stages"),
    [
        ("OpenCC", {"convert", "tutorial"}),
        ("rjieba", {"segment-rjieba"}),
        ("gensim", {"train", "evaluate", "evaluate-subword", "synthesize", "tutorial"}),
        ("word2vec", {"word2vec_c"}),
    ],
)
def test_a_library_upgrade_moves_the_keys_of_the_stages_that_use_it(
    library: str, stages: set[str], fresh_identities: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _versions()
    real = identity.library_version
    monkeypatch.setattr(
        identity,
        "library_version",
        lambda name: "99.0" if name.lower() == library.lower() else real(name),
    )
    assert _moved(before, _versions()) == stages


def test_a_dictionary_change_moves_the_keys_of_the_stages_that_read_it(
    fresh_identities: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _versions()
    real = identity._file_hash
    monkeypatch.setattr(identity, "_file_hash", lambda p: "patched" if p.suffix == ".ocd2" else real(p))
    identity._data_hash.cache_clear()
    assert _moved(before, _versions()) == {"convert"}


def test_stages_py_lists_no_source_files() -> None:
    source = (REPO / "tasks" / "stages.py").read_text(encoding="utf-8")
    assert not any(word in source for word in ('.c"', '.py"', "__file__", "code_version", "COMPILED"))


def test_why_a_stage_ran_names_what_changed(tmp_path: Path) -> None:
    stage = tmp_path / "segment"
    assert reuse.why_run(stage, {"inputs": ["a"], "params": {}, "code_parts": {}}) == reuse.FIRST
    (stage / "k1").mkdir(parents=True)
    manifest = {
        "key": "k1",
        "inputs": ["a"],
        "params": {"hmm": True, "engine": "cjieba"},
        "code_parts": {"module:tasks/text/shards.py": "1", "library:jieba": "0.42.1", "c:x.c": "2"},
    }
    (stage / "k1" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    declared = {
        "inputs": ["b"],
        "params": {"hmm": False, "engine": "cjieba"},
        "code_parts": {"module:tasks/text/shards.py": "3", "library:jieba": "0.42.2", "c:y.c": "2"},
    }
    assert reuse.why_run(stage, declared) == (
        "vs k1: input changed; hmm true → false; c:x.c removed; c:y.c added; "
        'library:jieba "0.42.1" → "0.42.2"; module:tasks/text/shards.py changed'
    )
    assert reuse.why_run(stage, {k: manifest[k] for k in declared}) == reuse.UNFINISHED


CONFIG = (
    OUTPUTS
    + """
default: tiny
pipelines:
  tiny:
    dump: {dump}
    sweep:
      base: {{model: cbow, vector_size: 16, min_count: 2, epochs: 2, workers: 1}}
      formats: {formats}
    evaluate:
      analogy: {{ca_translated: {eval}/ca8/ca_translated.txt}}
      similarity: {similarity}
      tracked: {tracked}
"""
)
ONE = "{{wordsim240: {eval}/wordsim/wordsim-240.txt}}"
TWO = "{{wordsim240: {eval}/wordsim/wordsim-240.txt, wordsim297: {eval}/wordsim/wordsim-297.txt}}"


def _run(root: Path, similarity: str, formats: str = "[kv, bin]", tracked: str = "[ca_translated]") -> str:
    text = (
        CONFIG.replace("{similarity}", similarity).replace("{formats}", formats).replace("{tracked}", tracked)
    )
    config = root / "pipelines.yaml"
    config.write_text(text.format(root=root, dump=TINY_DUMP, eval=EVAL_DIR), encoding="utf-8")
    return run_pipeline(pipeline="tiny", config_path=str(config)).run_id


def _stages(root: Path, run_id: str) -> dict[str, tuple[bool, str]]:
    with duckdb.connect(str(root / "work" / "zhvec.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT stage, cached, json_extract_string(extra, '$.reuse') FROM stage_timings WHERE run_id = ?",
            [run_id],
        ).fetchall()
    return {stage: (cached, why) for stage, cached, why in rows}


def test_a_new_eval_set_a_format_or_tracked_sets_re_run_no_training(
    prefect_server: None, tmp_path: Path
) -> None:
    _run(tmp_path, ONE)
    (point,) = (tmp_path / "work" / "train").iterdir()
    trained = (point / "vectors.kv").stat().st_mtime_ns

    added = _stages(tmp_path, _run(tmp_path, TWO, tracked="[wordsim240]"))
    ran = {stage for stage, (cached, _) in added.items() if not cached}
    assert ran == {"evaluate"}
    assert added["evaluate"][1].startswith("vs ") and "input changed" in added["evaluate"][1]
    assert "wordsim297" in added["evaluate"][1]  # the similarity list grew
    assert all(why == "reused" for stage, (_, why) in added.items() if stage != "evaluate")

    txt = _stages(tmp_path, _run(tmp_path, TWO, formats="[txt]"))
    assert all(cached for cached, _ in txt.values())
    assert (point / "vectors.txt").is_file() and (point / "vectors.kv").stat().st_mtime_ns == trained
    assert [p.name for p in (tmp_path / "work" / "train").iterdir()] == [point.name]
