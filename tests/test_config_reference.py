"""The README's pipelines.yaml reference is generated from the config models and must be current."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tasks import config_reference
from tasks.config import Pipeline, SegmentOptions, Settings, TrainParams
from tasks.config_reference import COMMAND, END, START, main, models, render, splice

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_reference_is_current() -> None:
    readme = README.read_text(encoding="utf-8")
    assert splice(readme, render()) == readme, f"README's pipelines.yaml reference is stale: run `{COMMAND}`"


def test_every_field_of_every_model_has_a_description_and_a_row() -> None:
    reference = render()
    reached = [model for model, _ in models()]
    assert {Settings, Pipeline, SegmentOptions, TrainParams} <= set(reached)
    for model in reached:
        assert f"#### {model.__name__}: " in reference
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no Field(description=...)"
            assert f"| `{name}` |" in reference


def test_rows_show_type_bounds_default_and_escape_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    class Inner(BaseModel):
        mode: Literal["a", "b"] = Field("a", description="pick <one> | `x<y>`")

    class Outer(BaseModel):
        size: int = Field(3, ge=1, le=9, description="how many")
        inner: dict[str, Inner] = Field(default_factory=dict, description="named inners")
        needed: str = Field(description="no default")

    monkeypatch.setattr(config_reference, "Settings", Outer)
    reference = render()
    assert "#### Outer: top level\n" in reference
    assert "| `size` | integer, ≥ 1, ≤ 9 | `3` | how many |" in reference
    assert "| `inner` | map of Inner | `{}` | named inners |" in reference
    assert "| `needed` | string | required | no default |" in reference
    assert "#### Inner: `inner.<name>`\n" in reference
    assert "| `mode` | one of a, b | `a` | pick &lt;one&gt; \\| `x<y>` |" in reference


def test_command_rewrites_only_the_marked_section_and_check_reports_staleness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{START}\nold\n{END}\n\nafter\n", encoding="utf-8")
    assert main(["--readme", str(readme), "--check"]) == 1
    assert f"stale; run `{COMMAND}`" in capsys.readouterr().err
    assert main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == f"# title\n\n{START}\n{render()}{END}\n\nafter\n"
    assert main(["--readme", str(readme), "--check"]) == 0
    readme.write_text("no markers\n", encoding="utf-8")
    assert main(["--readme", str(readme), "--check"]) == 2
    assert f"expected one {START} followed by one {END}" in capsys.readouterr().err
