"""`zhvec … | head`: when the reader of stdout goes early, the command ends quietly, exit status 0 and nothing
on stderr, whether its output meets the closed pipe in a print or in the last flush."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# stdout block-buffered, as Python makes it for a pipe unless PYTHONUNBUFFERED is set
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _vectors(path: Path, words: int) -> Path:
    """word2vec text vectors w0 … w{words-1}, 2-d, no two alike."""
    lines = [f"{words} 2"] + [f"w{i} {1 + i % 7} {1 + i % 11 + i / words}" for i in range(words)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_evaluate_whose_reader_has_gone_before_it_prints(tmp_path: Path) -> None:
    """Everything evaluate prints fits the output buffer, so it meets the closed pipe in the final flush,
    which at interpreter exit would print "Exception ignored … BrokenPipeError" and exit 120."""
    analogy = tmp_path / "analogy.txt"
    analogy.write_text(": one\nw0 w1 w2 w3\nw4 w5 w6 w7\n: two\nw1 w2 w3 w4\n", encoding="utf-8")
    similarity = tmp_path / "similarity.txt"
    similarity.write_text("w0 w1 1.0\nw2 w3 2.0\nw4 w9 3.0\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "flows.cli", "evaluate", str(_vectors(tmp_path / "v.txt", 20))]
    cmd += ["--analogy", str(analogy), "--similarity", str(similarity)]
    proc = subprocess.Popen(cmd, env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the command has imported what it needs, let alone printed
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""
    again = subprocess.run(cmd, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    assert (
        len(again.stdout.splitlines()) == 8
    )  # it had lines to print: 'all' + 2 categories x 2 methods, ρ, r


def test_similar_piped_into_head(tmp_path: Path) -> None:
    """Thousands of lines: the prints meet the closed pipe long before the command ends."""
    model = _vectors(tmp_path / "v.txt", 6000)
    zhvec = [sys.executable, "-m", "flows.cli", "similar", "w0", "--model", str(model), "-n", "5000"]
    script = f"set -o pipefail; {shlex.join(zhvec)} | head -1"
    done = subprocess.run(
        ["bash", "-c", script], env=ENV, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"model: {model}\n", "")
