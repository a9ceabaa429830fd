"""From submit to claim, with an idle job worker: PostgreSQL, where a submit wakes the worker
(NOTIFY), against SQLite, where it polls; side by side in one run. Target on PostgreSQL: a
claim within 50 ms of a submit while the worker looks no more often than every 5 s.

One real ``python -m trainer worker`` per backend, with TINYMLP_JOB_POLL=5; jobs are
submitted one at a time, each once the worker has finished the one before and gone idle
again (a pause of 0.3 to 0.8 s). Submit and claim times both come from the database's
clock (``started_at - submitted_at``). The jobs are tiny (xor, 1 epoch of 100 samples):
what is measured is the queue. PostgreSQL is Debian's, started in a temporary folder.

    python -m benchmarks.jobs_wakeup [--jobs 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from core.jobs import JobParams, Policy, open_jobs
from harness.processes import Postgres, TrainerWorker
from harness.stores import build_store

POLL = "5"


def run(models: Path, tmp: Path, tag: str, n_jobs: int, database_url: str | None) -> list[float]:
    state = tmp / f"state-{tag}"
    table = open_jobs(state, database_url, max_queued=1000)
    env = {"TINYMLP_JOB_POLL": POLL, **({"TINYMLP_DATABASE_URL": database_url} if database_url else {})}
    worker = TrainerWorker(models, state, log_path=tmp / f"worker-{tag}.log", env=env).start()
    waits = []
    rng = random.Random(0)
    try:
        time.sleep(2.0)  # the worker is up, idle and listening
        for i in range(n_jobs):
            job = table.submit("xor", JobParams(epochs=1, samples=100, seed=i, promote=Policy.NEVER), 1)
            while not (job := table.get(job.id)).status.finished:
                time.sleep(0.02)
            waits.append((job.started_at - job.submitted_at).total_seconds() * 1e3)
            time.sleep(rng.uniform(0.3, 0.8))
    finally:
        worker.stop()
        table.close()
    return sorted(waits)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=40)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinymlp-wakeup-") as tmp, Postgres() as pg:
        tmp = Path(tmp)
        build_store(tmp / "models")
        results = {"PostgreSQL (NOTIFY)": run(tmp / "models", tmp, "pg", args.jobs, pg.create_database("wakeup")),
                   "SQLite (polls)": run(tmp / "models", tmp, "sqlite", args.jobs, None)}
    print(f"submit to claim, {args.jobs} jobs one at a time to an idle worker, TINYMLP_JOB_POLL={POLL} s; "
          "target on PostgreSQL: within 50 ms")
    for what, ms in results.items():
        p99 = ms[max(0, int(round(len(ms) * 0.99)) - 1)]
        print(f"{what:22s} median {statistics.median(ms):8.1f} ms   p99 {p99:8.1f} ms   max {ms[-1]:8.1f} ms")


if __name__ == "__main__":
    main()
