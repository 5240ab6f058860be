"""`zhvec run synthetic` from nothing: wall time against the one-minute budget, and the structure it finds.

Each repeat runs the real command in a fresh process on a fresh workspace (nothing cached), with the
`synthetic` pipeline of the repo's pipelines.yaml, so the time includes Prefect's temporary server. Prints
per repeat: the command's wall seconds, its share of the 60 s budget, the flow's own seconds (the run's
start to finish in DuckDB), and Spearman ρ per language; plus the 1-minute load average, since other jobs
share the cores. Each run is appended to reports/benchmarks/history.jsonl (and the README beside it
regenerated) unless `--no-history`.

    python -m benchmarks.synthetic [--repeat 2] [--json] [--no-history]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 60.0  # issue 11: the synthetic pipeline runs in under a minute


def _config(folder: Path) -> Path:
    """The repo's `synthetic` pipeline with workspace, database and reports inside `folder`."""
    repo = yaml.safe_load((ROOT / "pipelines.yaml").read_text(encoding="utf-8"))
    config = {
        "workspace": str(folder / "work"),
        "database": str(folder / "work" / "zhvec.duckdb"),
        "reports": str(folder / "reports"),
        "default": "synthetic",
        "pipelines": {"synthetic": repo["pipelines"]["synthetic"]},
    }
    path = folder / "pipelines.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def run_once() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zhvec-synthetic-") as tmp:
        config = _config(Path(tmp))
        zhvec = Path(sys.executable).with_name("zhvec")
        env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        start = time.perf_counter()
        subprocess.run(
            [str(zhvec), "run", "synthetic", "--config", str(config)],
            check=True,
            env=env,
            capture_output=True,
        )
        wall = time.perf_counter() - start
        with duckdb.connect(str(Path(tmp) / "work" / "zhvec.duckdb"), read_only=True) as con:
            (flow_s,) = con.execute("SELECT epoch(finished_at) - epoch(started_at) FROM runs").fetchone() or (
                None,
            )
            rho = dict(
                con.execute(
                    "SELECT eval_set, value FROM metrics "
                    "WHERE method = 'spearman-alphabet' AND category = 'all'"
                ).fetchall()
            )
    return {
        "wall_s": round(wall, 2),
        "share_of_budget": round(wall / BUDGET_S, 3),
        "flow_s": round(float(flow_s), 2) if flow_s is not None else None,
        "rho": {k: round(v, 4) for k, v in rho.items()},
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-history", action="store_true", help="do not append this run to reports/benchmarks/history.jsonl"
    )
    args = parser.parse_args(argv)
    results = [run_once() for _ in range(args.repeat)]
    if not args.no_history:
        from tasks.bench import history

        history.append("synthetic", {"budget_s": BUDGET_S, "runs": results}, ROOT / "reports")
    if args.json:
        print(json.dumps({"budget_s": BUDGET_S, "runs": results}))
        return 0
    for n, r in enumerate(results, start=1):
        rho = ", ".join(f"{k} ρ={v:.3f}" for k, v in sorted(r["rho"].items()))
        print(
            f"run {n}: {r['wall_s']:.1f} s wall ({r['share_of_budget']:.2f} of the {BUDGET_S:.0f} s budget), "
            f"flow {r['flow_s']} s; {rho}; load average {r['load_avg_1min']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
