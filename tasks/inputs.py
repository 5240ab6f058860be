"""A pipeline's input files, checked before any work, and its dump planned: the run's one look at them.

Not part of tasks/config.py, which every stage imports for its options: the dump's code stays out of the
identity of the stages that never read a dump (tasks/core/identity.py)."""

from __future__ import annotations

from pathlib import Path

from tasks.config import ConfigError, Pipeline
from tasks.dump.fetch import DUMP_FILE, INDEX_FILE, directory_given
from tasks.dump.plan import DumpPlan, plan_dump


def check_inputs(name: str, pipeline: Pipeline) -> DumpPlan | None:
    """Fail before any work when an input file named by the pipeline is missing; return the plan of its
    dump (None for a generated corpus), which a run takes as checked: its one look at the dump."""
    if isinstance(pipeline.dump, Path) and pipeline.dump.is_dir():
        raise ConfigError(f"pipelines.{name}.dump: {directory_given(pipeline.dump, DUMP_FILE)}")
    if isinstance(pipeline.dump, Path) and not pipeline.dump.is_file():
        raise ConfigError(f"pipelines.{name}.dump: dump file not found: {pipeline.dump}")
    if pipeline.index is not None and pipeline.index.is_dir():
        raise ConfigError(f"pipelines.{name}.index: {directory_given(pipeline.index, INDEX_FILE)}")
    if pipeline.index is not None and not pipeline.index.is_file():
        raise ConfigError(f"pipelines.{name}.index: index file not found: {pipeline.index}")
    for d in pipeline.segment.user_dicts:
        if not d.is_file():
            raise ConfigError(f"pipelines.{name}.segment.user_dicts: file not found: {d}")
    if pipeline.segment.stopwords is not None and not pipeline.segment.stopwords.is_file():
        raise ConfigError(f"pipelines.{name}.segment.stopwords: file not found: {pipeline.segment.stopwords}")
    for kind, sets in (("analogy", pipeline.evaluate.analogy), ("similarity", pipeline.evaluate.similarity)):
        for key, p in sets.items():
            if not p.is_file():
                raise ConfigError(f"pipelines.{name}.evaluate.{kind}.{key}: file not found: {p}")
    return None if pipeline.dump is None else plan_dump(pipeline.dump, pipeline.index)
