"""A 3-point sweep run locally and on a Dask cluster of 3 worker processes, and what 3 machines would take.

The bundled sample dump is preprocessed once (a warm-up run with one cheap point), then the same sweep runs
twice through `zhvec run`'s code (flows/pipeline.py), its train and evaluate outputs removed in between so
both modes do the same work:

- local: `task_runner: local`, the points one after another in the flow;
- dask: `task_runner: dask` with `dask.address` at a scheduler started here as its own process
  (`dask scheduler`), and 3 `dask worker ADDRESS --nworkers 1 --nthreads 1` processes, each like a machine.

The flow and the workers report to one `prefect server start` of the benchmark's own, as on a cluster
(PREFECT_API_URL). The sweep is 3 points of the same config (the sample's base point: sg, 100 d, window 5,
5 epochs, tracked epochs) that differ only in `seed`, so they are 3 points (identical params are one) of
the same cost. Every point trains with `workers: null`, i.e. all the cores of the machine it runs on.

Per point: its train and evaluate stage walls (`stage_timings`); point wall = their sum. Per mode: the
sweep wall, the run's recorded wall (`runs.started_at` → `finished_at`: the points, the preprocessing found
done, the recording), and the wall of the whole `run()` call (Prefect's flow and the report included).

    dask overhead  = dask sweep wall − the longest dask point wall
                     (scheduling, shipping each point's arguments and result, the workers' first imports,
                     Prefect's task-run bookkeeping: what a cluster adds around the work itself)
    3 machines    ≈ max(local point wall) × cores_here / cores_per_machine + dask overhead

The projection assumes one point per machine, a point's wall scaling with the cores it trains on (gensim's
training threads scale about linearly at these counts), and `--machine-cores` cores per machine (default:
this machine's). On a 2-core machine the 3 workers share 2 cores, so their point walls are stretched;
the projection uses them only for the overhead. Also recorded: the pickled size of a point's arguments
(what the scheduler ships), and the corpus size, which each machine reads from the workspace (a cluster
needs the workspace on shared storage). The Prefect server, scheduler and worker processes are always
stopped, each with its process group. Appended to reports/benchmarks/history.jsonl unless `--no-history`.

    python -m benchmarks.dask_sweep [--machine-cores N] [--epochs 5] [--keep DIR] [--json] [--no-history]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 3
SEEDS = (1, 2, 3)
CONFIG = """
workspace: {root}/work
database: {root}/work/zhvec.duckdb
reports: {root}/reports
default: sweep
task_runner: {runner}
dask: {{address: {address}, timeout_s: 30}}
pipelines:
  warmup:
    dump: {dump}
    segment: {{user_dicts: [{dicts}]}}
    sweep: {{base: {{vector_size: 8, min_count: 3, epochs: 1}}, track_epochs: false}}
  sweep:
    dump: {dump}
    segment: {{user_dicts: [{dicts}]}}
    sweep:
      base: {{model: sg, vector_size: 100, window: 5, negative: 5, sample: 1.0e-4, min_count: 3,
             epochs: {epochs}}}
      grid: {{seed: {seeds}}}
"""


def write_config(root: Path, runner: str, address: str | None, epochs: int) -> Path:
    path = root / f"pipelines-{runner}.yaml"
    text = CONFIG.format(
        root=root,
        runner=runner,
        address=address or "null",
        dump=ROOT / "data" / "sample" / "zhwiki-sample-pages-articles-multistream.xml.bz2",
        dicts=ROOT / "data" / "dicts" / "eval_vocab.txt",
        epochs=epochs,
        seeds=list(SEEDS),
    )
    path.write_text(text, encoding="utf-8")
    return path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a process started in its own session, then SIGKILL whatever is left of its group (a
    `dask worker` is a nanny plus the worker it started)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def _started(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` as its own process group, output to `log`; always stopped, with its children, on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        yield proc
    finally:
        _stop(proc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def prefect_server(folder: Path) -> Iterator[str]:
    """A `prefect server start` of its own (home in `folder`) that this process and the workers it starts
    report to, as a cluster's would: without PREFECT_API_URL every Dask worker starts a temporary server of
    its own, which costs each tens of seconds and keeps its task runs from the flow's server."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    os.environ |= {"PREFECT_HOME": str(folder / "prefect"), "PREFECT_API_URL": url}
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with _started(argv, folder / "prefect-server.log") as proc:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
                    if json.load(reply) is True:
                        break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start: see {folder / 'prefect-server.log'}")
            time.sleep(0.5)
        yield url


@contextmanager
def dask_cluster(folder: Path, workers: int) -> Iterator[str]:
    """A scheduler and `workers` single-thread workers, each its own process group; yield the address."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    info = folder / "scheduler.json"
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    with ExitStack() as stack:
        proc = stack.enter_context(
            _started([*scheduler, "--scheduler-file", str(info)], folder / "scheduler.log")
        )
        deadline = time.monotonic() + 60
        while not info.is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: see {folder / 'scheduler.log'}")
            time.sleep(0.1)
        address = str(json.loads(info.read_text(encoding="utf-8"))["address"])
        for i in range(1, workers + 1):
            argv = [dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--name", f"machine-{i}"]
            argv += ["--no-dashboard", "--local-directory", str(folder / f"worker-{i}")]
            stack.enter_context(_started(argv, folder / f"worker-{i}.log"))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address


def _recorded(database: Path, run_id: str) -> dict[str, Any]:
    """A run's recorded wall and its points' train and evaluate walls, in sweep order."""
    from tasks.results.store import Store

    with Store(database, read_only=True) as store:
        run = store.run(run_id)
        labels = {p["point_id"]: p["params"]["seed"] for p in store.points(run_id)}
        walls: dict[int, dict[str, float]] = {}
        for t in store.timings(run_id):
            if t["point_id"] in labels and t["stage"] in ("train", "evaluate"):
                walls.setdefault(labels[t["point_id"]], {})[t["stage"]] = t["wall_s"]
        status = [p["status"] for p in store.points(run_id)]
    if status != ["completed"] * len(SEEDS):
        raise SystemExit(f"run {run_id}: points {status}, expected {len(SEEDS)} completed")
    points = {
        f"seed{seed}": {
            "train_s": round(w["train"], 2),
            "evaluate_s": round(w["evaluate"], 2),
            "point_s": round(w["train"] + w["evaluate"], 2),
        }
        for seed, w in sorted(walls.items())
    }
    return {
        "run_id": run_id,
        "sweep_wall_s": round((run["finished_at"] - run["started_at"]).total_seconds(), 2),
        "points": points,
        "max_point_s": max(p["point_s"] for p in points.values()),
    }


def _clear_points(root: Path) -> None:
    """Remove the trained points, so the next mode trains and evaluates them again."""
    for stage in ("train", "evaluate"):
        shutil.rmtree(root / "work" / stage, ignore_errors=True)


def _run(config: Path) -> tuple[Any, float]:
    from flows.pipeline import run

    t0 = time.perf_counter()
    result = run("sweep", str(config))
    return result, round(time.perf_counter() - t0, 2)


def _shipped(config: Path, corpus: Any) -> dict[str, float]:
    """What the scheduler ships per point (its pickled arguments, as flows/pipeline.py submits them) and
    the corpus every machine reads from the workspace."""
    import cloudpickle

    from tasks import stages
    from tasks.config import load_settings

    settings = load_settings(config)
    _, pl = settings.pipeline("sweep")
    track = stages.tracking(pl.evaluate, pl.sweep)
    args = {"root": settings.workspace, "corpus": corpus, "sets": pl.evaluate, "track": track}
    return {
        "point_args_kb": round(len(cloudpickle.dumps({**args, "params": pl.points()[0]})) / 1024, 1),
        "corpus_mb": round((Path(corpus.path) / stages.CORPUS).stat().st_size / 1e6, 1),
    }


def measure(root: Path, epochs: int, machine_cores: int) -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0))
    local_config = write_config(root, "local", None, epochs)
    database = root / "work" / "zhvec.duckdb"
    from flows.pipeline import run

    t0 = time.perf_counter()
    run("warmup", str(local_config))
    results: dict[str, Any] = {
        "cores": cores,
        "epochs": epochs,
        "warmup_s": round(time.perf_counter() - t0, 1),
    }

    local, wall = _run(local_config)
    results["local"] = {**_recorded(database, local.run_id), "run_call_s": wall}
    _clear_points(root)
    with dask_cluster(root, WORKERS) as address:
        dask_config = write_config(root, "dask", address, epochs)
        on_dask, wall = _run(dask_config)
    dask = {
        **_recorded(database, on_dask.run_id),
        "run_call_s": wall,
        "workers": WORKERS,
        "threads_per_worker": 1,
    }
    dask["overhead_s"] = round(dask["sweep_wall_s"] - dask["max_point_s"], 2)
    results["dask"] = dask
    results["shipped"] = _shipped(local_config, local.corpora[0])
    scaling = cores / machine_cores
    three = results["local"]["max_point_s"] * scaling + dask["overhead_s"]
    results["projection"] = {
        "machines": WORKERS,
        "cores_per_machine": machine_cores,
        "point_scaling": round(scaling, 3),
        "three_machines_s": round(three, 2),
        "speedup_vs_local": round(results["local"]["sweep_wall_s"] / three, 2),
        "formula": "max(local point wall) × cores_here / cores_per_machine "
        "+ (dask sweep wall − max dask point wall)",
    }
    results["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs of every point")
    parser.add_argument("--machine-cores", type=int, help="cores per projected machine (default: this one's)")
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-history", action="store_true", help="do not append this run to the history")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cluster is stopped on a kill too
    machine_cores = args.machine_cores or len(os.sched_getaffinity(0))
    with ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            folder = args.keep.resolve()
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zhvec-dask-sweep-")))
        stack.enter_context(prefect_server(folder))
        results = measure(folder, args.epochs, machine_cores)
    if not args.no_history:
        from tasks.bench import history

        history.append("dask_sweep", results, ROOT / "reports")
    if args.json:
        print(json.dumps(results))
        return
    for mode in ("local", "dask"):
        r = results[mode]
        points = ", ".join(f"{p['point_s']} s (train {p['train_s']})" for p in r["points"].values())
        print(f"{mode}: sweep {r['sweep_wall_s']} s (run() call {r['run_call_s']} s); points {points}")
    p, s = results["projection"], results["shipped"]
    print(
        f"dask overhead {results['dask']['overhead_s']} s; shipped per point {s['point_args_kb']} KB of "
        "arguments, "
        f"corpus {s['corpus_mb']} MB read from the workspace\n"
        f"3 machines of {p['cores_per_machine']} cores ≈ {results['local']['max_point_s']} s × "
        f"{p['point_scaling']} + {results['dask']['overhead_s']} s = {p['three_machines_s']} s "
        f"({p['speedup_vs_local']}× the local sweep)"
    )


if __name__ == "__main__":
    main()
