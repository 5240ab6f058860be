import os
import stat
from pathlib import Path

import pytest

from tasks.core.identity import StageCode
from tasks.core.records import StageTiming
from tasks.core.workspace import atomic_path, stage_key, write_json_atomic
from tasks.stages import run_stage

CODE = StageCode(("tasks.core.records",))


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(final) as tmp:
        tmp.write_text("whole", encoding="utf-8")
    assert final.read_text(encoding="utf-8") == "whole"
    assert list(tmp_path.iterdir()) == [final]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_mode_the_umask_allows(tmp_path: Path, mask: int, mode: int) -> None:
    """Not mkstemp's 0600: other users of a shared workspace read the outputs when the umask lets them."""
    old = os.umask(mask)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x", encoding="utf-8")
        write_json_atomic(tmp_path / "out.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == mode


def test_stage_key_depends_on_inputs_params_and_code() -> None:
    base = stage_key("s", ["a"], {"x": 1}, "c1")
    assert base == stage_key("s", ["a"], {"x": 1}, "c1")
    assert len({base, stage_key("s", ["b"], {"x": 1}, "c1"), stage_key("s", ["a"], {"x": 2}, "c1")}) == 3
    assert base != stage_key("s", ["a"], {"x": 1}, "c2")


def test_finished_stage_is_skipped_and_interrupted_one_redone(tmp_path: Path) -> None:
    calls: list[Path] = []

    def body(out: Path) -> tuple[dict[str, int], dict[str, object]]:
        calls.append(out)
        (out / "result.txt").write_text("42", encoding="utf-8")
        return {"answer": 42}, {"bytes_in": 1, "bytes_out": 2, "items": 3, "item_unit": "things"}

    first = run_stage(tmp_path, "demo", ["in"], {"p": 1}, CODE, body)
    again = run_stage(tmp_path, "demo", ["in"], {"p": 1}, CODE, body)
    assert len(calls) == 1
    assert isinstance(again.timing, StageTiming) and again.timing.cached and not first.timing.cached
    assert again.stats == {"answer": 42} and again.key == first.key

    (Path(first.path) / "manifest.json").unlink()  # as if killed before the manifest was written
    (Path(first.path) / "stray.tmp").write_text("partial", encoding="utf-8")
    redone = run_stage(tmp_path, "demo", ["in"], {"p": 1}, CODE, body)
    assert len(calls) == 2 and not redone.timing.cached
    assert not (Path(first.path) / "stray.tmp").exists()


def test_resume_keeps_what_an_unfinished_attempt_left(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def body(out: Path) -> tuple[dict[str, int], dict[str, object]]:
        seen.append(sorted(p.name for p in out.iterdir()))
        (out / "piece-1.txt").write_text("done", encoding="utf-8")
        return {}, {"bytes_in": 0, "bytes_out": 4, "items": 1, "item_unit": "pieces"}

    first = run_stage(tmp_path, "demo", ["in"], {}, CODE, body, resume=True)
    (Path(first.path) / "manifest.json").unlink()  # killed after piece 1, before the manifest
    run_stage(tmp_path, "demo", ["in"], {}, CODE, body, resume=True)
    assert seen == [[], ["piece-1.txt"]]
