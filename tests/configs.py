"""What the flow tests' pipelines.yaml files share, as `str.format` text: the outputs under `{root}`, the
bundled eval sets under `{eval}` (`EVAL_DIR`), and the tiny fixture dump they run on; and the child script
that holds a workspace lock for the lock tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY_DUMP = REPO / "tests" / "fixtures" / "zhwiki-tiny-pages-articles-multistream.xml.bz2"
EVAL_DIR = REPO / "data" / "eval"

OUTPUTS = """\
workspace: {root}/work
database: {root}/work/zhvec.duckdb
reports: {root}/reports
"""

# The five headline sets, as the body of a pipeline's `evaluate:` key.
ALL_EVAL_SETS = """\
      analogy:
        ca8_morphological: {eval}/ca8/morphological.txt
        ca8_semantic: {eval}/ca8/semantic.txt
        ca_translated: {eval}/ca8/ca_translated.txt
      similarity:
        wordsim240: {eval}/wordsim/wordsim-240.txt
        wordsim297: {eval}/wordsim/wordsim-297.txt
"""

# One analogy set and one similarity set, as the body of a pipeline's `evaluate:` key: the quickest runs.
TWO_EVAL_SETS = """\
      analogy: {{ca_translated: {eval}/ca8/ca_translated.txt}}
      similarity: {{wordsim240: {eval}/wordsim/wordsim-240.txt}}
"""

# Run with the workspace as argv[1]: takes its lock, says "locked", and holds it until killed.
HOLD_LOCK = """
import sys, time
from pathlib import Path
from tasks.core.workspace import workspace_lock
with workspace_lock(Path(sys.argv[1]), "held"):
    print("locked", flush=True)
    time.sleep(600)
"""
