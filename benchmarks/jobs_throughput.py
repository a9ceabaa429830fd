"""Training jobs per minute with 1 and with 2 job workers, on SQLite and on PostgreSQL, side
by side in one run, and the time from submit to claim.

Each configuration gets the same 24 short jobs (xor, quadrant and checkerboard, 1 epoch of
500 samples each: what is measured is the queue and the worker's round trip, not training),
submitted at once to an empty table; real `python -m trainer worker` processes run them.
PostgreSQL is Debian's, started in a temporary folder.

    python -m benchmarks.jobs_throughput [--jobs 24]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from core.jobs import JobParams, JobStatus, open_jobs
from harness.processes import Postgres, TrainerWorker
from harness.stores import build_store

MODELS = ("xor", "quadrant", "checkerboard")


def run(seed_store: Path, tmp: Path, tag: str, workers: int, n_jobs: int, database_url: str | None) -> dict:
    models, state = tmp / f"models-{tag}", tmp / f"state-{tag}"
    shutil.copytree(seed_store, models)
    table = open_jobs(state, database_url, max_queued=1000)
    env = {"TINYMLP_JOB_POLL": "0.05", **({"TINYMLP_DATABASE_URL": database_url} if database_url else {})}
    procs = [TrainerWorker(models, state, log_path=tmp / f"{tag}-w{i}.log", env=env).start() for i in range(workers)]
    try:
        time.sleep(1.0)  # the workers are up and polling
        start = time.time()  # the job table's clock is this host's too
        ids = [table.submit(model, JobParams(epochs=1, samples=500, seed=i), 1).id
               for i, model in zip(range(n_jobs), itertools.cycle(MODELS))]
        while True:
            jobs = [table.get(i) for i in ids]
            if all(j.status.finished for j in jobs):
                break
            time.sleep(0.1)
        wall = max(j.finished_at for j in jobs).timestamp() - start
    finally:
        for p in procs:
            p.stop()
        table.close()
    assert all(j.status is JobStatus.SUCCEEDED for j in jobs), [j.error for j in jobs]
    waits = [(j.started_at - j.submitted_at).total_seconds() for j in jobs]
    first = min(waits)  # the first claim: the queue's own latency, before jobs wait for each other
    return {"per_minute": n_jobs / wall * 60, "wall": wall, "first_claim": first,
            "median_wait": statistics.median(waits), "workers_used": len({j.worker for j in jobs})}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=24)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinymlp-jobs-") as tmp, Postgres() as pg:
        tmp = Path(tmp)
        seed = tmp / "seed"
        build_store(seed)
        results = {}
        for backend in ("sqlite", "postgres"):
            for workers in (1, 2):
                tag = f"{backend}-{workers}"
                url = pg.create_database(f"bench_{workers}") if backend == "postgres" else None
                results[backend, workers] = run(seed, tmp, tag, workers, args.jobs, url)
    print(f"{args.jobs} short jobs (1 epoch of 500 samples) on 3 models, submitted at once")
    print("backend     workers   jobs/min   wall s   first submit->claim   median submit->claim   workers used")
    for (backend, workers), r in results.items():
        print(f"{backend:10s} {workers:8d} {r['per_minute']:10.1f} {r['wall']:8.1f} {r['first_claim'] * 1e3:15.0f} ms"
              f" {r['median_wait']:17.2f} s {r['workers_used']:14d}")
    for backend in ("sqlite", "postgres"):
        speedup = results[backend, 2]["per_minute"] / results[backend, 1]["per_minute"]
        print(f"{backend}: 2 workers / 1 worker = {speedup:.2f}x")


if __name__ == "__main__":
    main()
