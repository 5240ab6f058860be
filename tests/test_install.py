"""A non-editable install runs the sample: `pip install .` into a fresh venv, then `zhvec run` on a copied
pipelines.yaml in an empty folder, with the repository not importable. Slow (a wheel build and the whole
sample pipeline, a few minutes); `pytest -m "not slow"` skips it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]


def _site_packages(venv: Path) -> Path:
    python = venv / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


@pytest.mark.slow
def test_a_wheel_install_runs_the_sample_from_an_empty_folder(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # zhvec itself from a wheel built from the repository; its dependencies from this environment's
    # site-packages, appended by a path file (whose own .pth files, the editable zhvec among them, are
    # not processed: only this venv's are).
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
        + ["--no-deps", str(REPO)],
        check=True,
        timeout=600,
    )
    (_site_packages(venv) / "dependencies.pth").write_text(
        f"{sysconfig.get_path('purelib')}\n{sysconfig.get_path('platlib')}\n", encoding="utf-8"
    )
    folder = tmp_path / "empty"
    folder.mkdir()
    shutil.copy(REPO / "pipelines.yaml", folder / "pipelines.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import flows, tasks; print(tasks.__file__, flows.__file__)"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    installed = _site_packages(venv)
    assert all(Path(f).is_relative_to(installed) for f in where.stdout.split()), where.stdout

    run = subprocess.run(
        [str(venv / "bin" / "zhvec"), "run"], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "completed: 8 points" in run.stdout
    reports = list((folder / "reports" / "sample").glob("*/index.html"))
    assert len(reports) == 1
    with duckdb.connect(str(folder / "work" / "zhvec.duckdb"), read_only=True) as con:
        status = con.execute("SELECT status FROM runs").fetchall()
        scored = con.execute("SELECT count(*) FROM metrics WHERE eval_set = 'wordsim240'").fetchone()
    assert status == [("completed",)] and scored is not None and scored[0] > 0

    # Without a pipelines.yaml here, zhvec's own is used, and its outputs are this folder's.
    (folder / "pipelines.yaml").unlink()
    results = subprocess.run(
        [str(venv / "bin" / "zhvec"), "results"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert results.returncode == 0, results.stderr
    assert results.stdout.startswith("run ") and ": 8 points" in results.stdout.splitlines()[0]
