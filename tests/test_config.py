import shutil
from pathlib import Path

import pytest

from tasks import bundled
from tasks.config import ConfigError, EvalSets, Sweep, TrainParams, load_settings
from tasks.inputs import check_inputs

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repo_pipelines_validate_and_sample_has_eight_points() -> None:
    settings = load_settings(REPO / "pipelines.yaml")
    name, sample = settings.pipeline(None)
    assert name == "sample"
    points = sample.points()
    assert len(points) >= 8 and {(p.hs, p.negative) for p in points} == {(0, 5), (1, 0)}
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
    with pytest.raises(
        ConfigError,
        match=r"unknown pipeline 'nope'; known: bench, sample, sample-fasttext, sample-nodict, synthetic, "
        r"zhwiki",
    ):
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


def test_segment_stopwords_path_is_resolved_and_checked(tmp_path: Path) -> None:
    (tmp_path / "d.xml.bz2").write_bytes(b"")
    body = "default: p\npipelines:\n  p:\n    dump: d.xml.bz2\n"
    body += "    segment: {engine: jieba, stopwords: stop.txt}\n"
    name, pl = load_settings(write(tmp_path, body)).pipeline("p")
    assert (pl.segment.engine, pl.segment.stopwords) == ("jieba", tmp_path / "stop.txt")
    with pytest.raises(ConfigError, match=r"pipelines\.p\.segment\.stopwords: file not found: .*stop\.txt"):
        check_inputs(name, pl)


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (
            "{grid: {window: [5, 0]}}",
            r"point 2 of 2 \(window=0\): window: Input should be greater than or equal to 1",
        ),
        (
            "{grid: {model: [sg, skipgram]}}",
            r"model: allowed values: 'sg', 'cbow' or 'fasttext' \(got 'skipgram'\)",
        ),
        ("{base: {ns_exponent: 1.5}}", r"ns_exponent: Input should be less than or equal to 1"),
        ("{base: {sample: -0.1}}", r"sample: Input should be greater than or equal to 0"),
        ("{base: {min_count: 0}}", r"min_count: Input should be greater than or equal to 1"),
        ("{base: {alpha: 0.01, min_alpha: 0.02}}", r"min_alpha \(0\.02\) must not exceed alpha \(0\.01\)"),
        ("{points: [{windw: 3}]}", r"windw: unknown key; allowed: model, hs, vector_size, window"),
    ],
)
def test_every_sweep_value_is_checked_before_work(tmp_path: Path, sweep: str, message: str) -> None:
    path = write(tmp_path, f"default: p\npipelines:\n  p:\n    dump: x.bz2\n    sweep: {sweep}\n")
    with pytest.raises(ConfigError, match=r"pipelines\.p\.sweep: .*" + message):
        load_settings(path)


def test_task_runner_and_dask_address(tmp_path: Path) -> None:
    body = "default: p\ntask_runner: dask\ndask: {address: 'tcp://10.0.0.1:8786'}\n"
    body += "pipelines:\n  p:\n    dump: x\n"
    settings = load_settings(write(tmp_path, body))
    assert (settings.task_runner, settings.dask.address) == ("dask", "tcp://10.0.0.1:8786")
    with pytest.raises(ConfigError, match=r"task_runner: allowed values: 'local' or 'dask'"):
        load_settings(write(tmp_path, "default: p\ntask_runner: ray\npipelines:\n  p:\n    dump: x\n"))


def test_points_without_grid_do_not_add_the_base_point() -> None:
    points = Sweep(base={"epochs": 1}, points=[{"model": "cbow"}]).resolve()
    assert [(p.model, p.epochs) for p in points] == [("cbow", 1)]
    assert Sweep(base={"epochs": 2}).resolve() == [TrainParams(epochs=2)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    workers: many\n", r"pipelines\.p\.workers: Input should be a valid integer"),
        ("    segment: {hmm: sometimes}\n", r"pipelines\.p\.segment\.hmm: Input should be a valid boolean"),
        (
            "    sweep: {grid: {window: 5}}\n",
            r"pipelines\.p\.sweep\.grid\.window: Input should be a valid list",
        ),
        ("    evaluate: [ca8]\n", r"pipelines\.p\.evaluate: Input should be .*EvalSets"),
    ],
    ids=["int", "bool", "grid-not-a-list", "mapping"],
)
def test_wrong_type_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, "default: p\npipelines:\n  p:\n    dump: x.bz2\n" + body))


def test_missing_eval_file_and_a_directory_as_dump_are_named_before_work(tmp_path: Path) -> None:
    (tmp_path / "d.xml.bz2").write_bytes(b"")
    body = "default: p\npipelines:\n  p:\n    dump: d.xml.bz2\n"
    body += "    evaluate: {analogy: {mine: nowhere.txt}, similarity: {}}\n"
    name, pl = load_settings(write(tmp_path, body)).pipeline("p")
    with pytest.raises(
        ConfigError, match=r"pipelines\.p\.evaluate\.analogy\.mine: file not found: .*nowhere"
    ):
        check_inputs(name, pl)
    (tmp_path / "dumps").mkdir()
    name, pl = load_settings(write(tmp_path, body.replace("d.xml.bz2", "dumps"))).pipeline("p")
    folder = r"^pipelines\.p\.dump: .*/dumps: is a directory; pass the \.xml\.bz2 dump file$"
    with pytest.raises(ConfigError, match=folder):
        check_inputs(name, pl)


def test_a_copied_pipelines_yaml_finds_the_shipped_inputs_and_keeps_its_outputs(tmp_path: Path) -> None:
    """Inputs missing beside the YAML file come from the files zhvec ships; outputs stay beside it."""
    copy = tmp_path / "pipelines.yaml"
    shutil.copy(REPO / "pipelines.yaml", copy)
    settings = load_settings(copy)
    name, sample = settings.pipeline(None)
    check_inputs(name, sample)
    assert sample.dump == bundled.root() / "data/sample/zhwiki-sample-pages-articles-multistream.xml.bz2"
    assert sample.segment.user_dicts == (bundled.root() / "data/dicts/eval_vocab.txt",)
    assert sample.evaluate.analogy["ca8_semantic"] == bundled.root() / "data/eval/ca8/semantic.txt"
    assert (settings.workspace, settings.reports) == (tmp_path / "work", tmp_path / "reports")
    _, zhwiki = settings.pipeline("zhwiki")  # not shipped: named beside the YAML file, as before
    assert zhwiki.dump == tmp_path / "data/dumps/zhwiki-latest-pages-articles-multistream.xml.bz2"
    mine = tmp_path / "data" / "dicts" / "eval_vocab.txt"  # a file beside the YAML file wins
    mine.parent.mkdir(parents=True)
    mine.write_text("副院长 3\n", encoding="utf-8")
    assert load_settings(copy).pipeline(None)[1].segment.user_dicts == (mine,)


def test_headline_and_tracked_sets_are_config_with_todays_defaults(tmp_path: Path) -> None:
    sets = EvalSets()
    assert sets.headlines == (
        "ca8_morphological",
        "ca8_semantic",
        "ca_translated",
        "wordsim240",
        "wordsim297",
    )
    assert sets.tracked == ("ca_translated", "wordsim240")
    assert EvalSets(analogy={}, similarity={}).headlines == sets.headlines  # defaults: whichever sets exist
    (tmp_path / "d.xml.bz2").write_bytes(b"")
    body = (
        "default: p\npipelines:\n  p:\n    dump: d.xml.bz2\n    evaluate: {headlines: [wordsim240, nope]}\n"
    )
    with pytest.raises(
        ConfigError, match=r"pipelines\.p\.evaluate: headlines: nope not among the analogy or similarity sets"
    ):
        load_settings(write(tmp_path, body))
    body = body.replace("headlines: [wordsim240, nope]", "tracked: [wordsim297]")
    assert load_settings(write(tmp_path, body)).pipeline("p")[1].evaluate.tracked == ("wordsim297",)


def test_per_epoch_tracking_follows_evaluate_tracked() -> None:
    from tasks.stages import tracking

    default = tracking(EvalSets(), Sweep())
    assert default is not None and (list(default.analogy), list(default.similarity)) == (
        ["ca_translated"],
        ["wordsim240"],
    )
    chosen = tracking(EvalSets(tracked=("wordsim297",)), Sweep())
    assert chosen is not None and (chosen.analogy, list(chosen.similarity)) == ({}, ["wordsim297"])
