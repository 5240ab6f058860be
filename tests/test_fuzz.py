"""The C modules under AddressSanitizer and UndefinedBehaviorSanitizer (tests/fuzz.py): built with warnings as
errors, then fuzzed for FUZZ_SECONDS each (env ZHVEC_FUZZ_SECONDS; `make fuzz SECONDS=…` runs longer) on
mutated real dumps, pages and text, with zero findings: no sanitizer report, no crash, and the output of the
Python reference on every input. The seed is new each run (ZHVEC_FUZZ_SEED fixes it) and is printed, with
the saved input, in a finding."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import fuzz

FUZZ_SECONDS = float(os.environ.get("ZHVEC_FUZZ_SECONDS", "60"))
SEED = int(os.environ.get("ZHVEC_FUZZ_SEED") or random.randrange(2**32))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("gcc") is None, reason="the sanitizer build needs gcc"),
]


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The three modules, built once with the sanitizers and -Wall -Wextra -Werror."""
    folder = tmp_path_factory.mktemp("sanitized")
    try:
        fuzz.build(folder)
    except fuzz.Finding as finding:
        pytest.fail(str(finding), pytrace=False)
    yield folder


@pytest.mark.parametrize("module", list(fuzz.MODULES))
def test_fuzzing_finds_nothing(module: str, sanitized: Path) -> None:
    try:
        summary = fuzz.fuzz(module, sanitized, FUZZ_SECONDS, SEED)
    except fuzz.Finding as finding:
        pytest.fail(str(finding), pytrace=False)
    assert summary.startswith(f"{module}: ") and "no finding" in summary, summary


def test_the_children_run_under_the_sanitizers() -> None:
    """A read past a heap buffer in a child is caught and its report is what a finding shows."""
    script = "import ctypes; ctypes.string_at(ctypes.create_string_buffer(64), 4096)"
    child = subprocess.run(
        [sys.executable, "-c", script], env=fuzz.runtime_env(), capture_output=True, text=True, timeout=60
    )
    assert child.returncode != 0
    assert fuzz._report(child.stderr).startswith("=") and "ERROR: AddressSanitizer" in child.stderr
