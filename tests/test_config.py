from pathlib import Path

import pytest

from tasks.config import ConfigError, Sweep, TrainParams, check_inputs, load_settings

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repo_pipelines_validate_and_sample_has_four_points() -> None:
    settings = load_settings(REPO / "pipelines.yaml")
    name, sample = settings.pipeline(None)
    assert name == "sample"
    points = sample.points()
    assert len(points) >= 4
    assert {p.model for p in points} == {"sg", "cbow"}
    assert sample.dump.is_absolute()
    check_inputs(name, sample)


def test_zhwiki_pipeline_has_the_ca8_authors_point() -> None:
    _, zhwiki = load_settings(REPO / "pipelines.yaml").pipeline("zhwiki")
    ca8 = TrainParams(model="sg", vector_size=300, window=5, sample=1e-5, negative=5, epochs=5, min_count=5)
    assert ca8 in zhwiki.points()


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    dump: x.bz2\n    segmnt: {}\n")
    with pytest.raises(ConfigError, match=r"pipelines\.p\.segmnt: unknown key"):
        load_settings(path)


def test_bad_value_names_key_and_allowed_values(tmp_path: Path) -> None:
    path = write(tmp_path, "default: p\npipelines:\n  p:\n    dump: x.bz2\n    convert: {config: t2x}\n")
    with pytest.raises(ConfigError, match=r"pipelines\.p\.convert\.config: allowed values: 't2s'"):
        load_settings(path)


def test_negative_window_and_empty_grid_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path, "default: p\npipelines:\n  p:\n    dump: x.bz2\n    sweep: {grid: {window: [-1]}}\n"
    )
    with pytest.raises(ConfigError, match=r"pipelines\.p\.sweep"):
        load_settings(path)
    path = write(tmp_path, "default: p\npipelines:\n  p:\n    dump: x.bz2\n    sweep: {grid: {window: []}}\n")
    with pytest.raises(ConfigError, match=r"grid\.window is empty"):
        load_settings(path)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p: [\n")
    with pytest.raises(ConfigError, match=r"pipelines\.yaml:\d+: not valid YAML"):
        load_settings(path)


def test_missing_dump_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "default: p\npipelines:\n  p:\n    dump: nowhere.xml.bz2\n")
    name, pl = load_settings(path).pipeline("p")
    with pytest.raises(ConfigError, match=r"pipelines\.p\.dump: dump file not found: .*nowhere\.xml\.bz2"):
        check_inputs(name, pl)


def test_unknown_pipeline_lists_known(tmp_path: Path) -> None:
    settings = load_settings(REPO / "pipelines.yaml")
    with pytest.raises(ConfigError, match=r"unknown pipeline 'nope'; known: sample, zhwiki"):
        settings.pipeline("nope")


def test_sweep_grid_is_cartesian_plus_points_without_duplicates() -> None:
    sweep = Sweep(
        base={"epochs": 1},
        grid={"model": ["sg", "cbow"], "window": [3, 5]},
        points=[{"model": "sg", "window": 3}, {"model": "cbow", "hs": 1, "negative": 0}],
    )
    points = sweep.resolve()
    assert len(points) == 5
    assert all(p.epochs == 1 for p in points)


def test_no_objective_rejected() -> None:
    with pytest.raises(ValueError, match="hs or negative must be > 0"):
        TrainParams(hs=0, negative=0)
