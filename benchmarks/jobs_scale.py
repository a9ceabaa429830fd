"""The job queue with a million finished jobs in it: ``/metrics`` and ``GET /train/jobs`` (the
first page, a page deep in the list by its cursor, and both filtered by model) p50 and p99
through a real gunicorn (2 workers), on SQLite and on PostgreSQL, side by side in one run.
Target: p99 <= 50 ms for each, on both backends.

Each backend's table is made by the job table itself (its migrations, its triggers), then
filled in bulk inside the database (one INSERT ... SELECT, not through the API): 1,000,000
jobs on 7 models over the last 25 days, succeeded, failed and cancelled. The triggers keep
the counts and histograms /metrics reads as the rows go in. Requests go one at a time over
one keep-alive connection. PostgreSQL is Debian's, started in a temporary folder.

    python -m benchmarks.jobs_scale [--jobs 1000000] [--requests 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from core.jobs import open_jobs
from core.jobs.table import encode_cursor
from harness.processes import Gunicorn, Postgres
from harness.stores import build_store

TOKEN = "jobs-scale-token-0123456789"
MODELS = ("red", "xor", "sine", "checkerboard", "quadrant", "iris", "house_prices")
SPAN_DAYS = 25  # inside the 30-day retention, so nothing would be swept meanwhile

# Row i: model i % 7, submitted i steps of the span apart (oldest first), claimed 0..59 s
# later, run 5..604 s; eight in ten succeeded, one failed, one cancelled.
MODEL_OF_I = "CASE i % 7 " + " ".join(f"WHEN {k} THEN '{m}'" for k, m in enumerate(MODELS)) + " END"


def fill_sqlite(table, count: int) -> None:
    import sqlite3

    now_us = time.time_ns() // 1000
    span_us = SPAN_DAYS * 86_400 * 10**6
    db = sqlite3.connect(table.path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute(f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}),
        j AS (SELECT i, {now_us} - {span_us} + i * ({span_us} / {count}) AS sub, {MODEL_OF_I} AS model FROM n)
        INSERT INTO jobs (id, model, status, params, submitted_at, started_at, finished_at, heartbeat_at, worker,
                          parent_version, published_version, promoted, progress, error)
        SELECT printf('%016x', i), model,
               CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' ELSE 'succeeded' END,
               '{{"epochs": 5, "promote": "if_better"}}', sub, sub + (i % 60) * 1000000,
               sub + (i % 60) * 1000000 + (5 + i % 600) * 1000000, sub + (i % 60) * 1000000 + 5000000,
               'bench:1:000000', 1, CASE WHEN i % 10 > 1 THEN 2 END, CASE WHEN i % 10 > 1 THEN 1 END, '[]',
               CASE i % 10 WHEN 0 THEN 'its worker stopped answering' WHEN 1 THEN 'cancelled on request' END
          FROM j""")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # settled: not read through a 400 MB write-ahead log
    db.close()


def fill_postgres(url: str, count: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"""
            INSERT INTO tinymlp.jobs (id, model, status, params, submitted_at, started_at, finished_at,
                                      heartbeat_at, worker, parent_version, published_version, promoted, progress,
                                      error)
            SELECT lpad(to_hex(i), 16, '0'), {MODEL_OF_I},
                   CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' ELSE 'succeeded' END,
                   '{{"epochs": 5, "promote": "if_better"}}', sub, sub + (i % 60) * interval '1 s',
                   sub + (i % 60 + 5 + i % 600) * interval '1 s', sub + (i % 60 + 5) * interval '1 s',
                   'bench:1:000000', 1, CASE WHEN i % 10 > 1 THEN 2 END, CASE WHEN i % 10 > 1 THEN 1 END, '[]',
                   CASE i % 10 WHEN 0 THEN 'its worker stopped answering' WHEN 1 THEN 'cancelled on request' END
              FROM (SELECT i, now() - interval '{SPAN_DAYS} days' + i * (interval '{SPAN_DAYS} days' / {count}) AS sub
                      FROM generate_series(1, {count}) AS i) s""")
        conn.execute("VACUUM ANALYZE tinymlp.jobs")
        conn.execute("CHECKPOINT")  # settled: the bulk load's checkpoint does not land among the requests


def timed(session: requests.Session, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = session.get(url, timeout=30)
        out.append((time.perf_counter() - start) * 1e3)
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")
    return out


def measure(models_dir: Path, tmp: Path, tag: str, env: dict, table, count: int, n: int) -> dict:
    deep_at = int(count * 0.9)
    with table._tx(write=False) as cur:  # (a benchmark's shortcut to row 900,000: clients follow 'next')
        cur.execute(f"SELECT * FROM jobs ORDER BY submitted_at DESC, id DESC LIMIT 1 OFFSET {deep_at}")
        deep = encode_cursor(table._job(cur.fetchone()))
        cur.execute(f"SELECT * FROM jobs WHERE model = 'red' ORDER BY submitted_at DESC, id DESC LIMIT 1 "
                    f"OFFSET {deep_at // len(MODELS)}")
        deep_red = encode_cursor(table._job(cur.fetchone()))
    paths = {"/metrics": "/metrics", "jobs, first page": "/train/jobs",
             "jobs, page 9,000 (cursor)": f"/train/jobs?cursor={deep}",
             "jobs?model=red, first page": "/train/jobs?model=red",
             "jobs?model=red, deep page": f"/train/jobs?model=red&cursor={deep_red}"}
    results = {}
    with Gunicorn(models_dir, workers=2, log_path=tmp / f"gunicorn-{tag}.log",
                  env={**env, "TINYMLP_TRAIN_TOKEN": TOKEN}) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        try:
            for path in paths.values():
                timed(session, server.base + path, 20)  # warm: both workers, their pools, the page cache
            body = session.get(server.base + "/metrics").text
            assert f'tinymlp_jobs{{status="succeeded"}} {count * 8 // 10:.1f}' in body, body[-2000:]
            for what, path in paths.items():
                ms = sorted(timed(session, server.base + path, n))
                results[what] = (statistics.median(ms), ms[int(len(ms) * 0.99) - 1])
        except Exception:
            print(server.log_path.read_text()[-5000:])
            raise
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinymlp-jobs-scale-") as tmp, Postgres() as pg:
        tmp = Path(tmp)
        models = tmp / "models"
        build_store(models)
        results, fill_s = {}, {}
        for backend in ("sqlite", "postgres"):
            url = pg.create_database("scale") if backend == "postgres" else None
            state = tmp / "state"
            table = open_jobs(state, url)
            start = time.perf_counter()
            fill_sqlite(table, args.jobs) if url is None else fill_postgres(url, args.jobs)
            fill_s[backend] = time.perf_counter() - start
            env = {"TINYMLP_STATE_DIR": str(state), **({"TINYMLP_DATABASE_URL": url} if url else {})}
            try:
                results[backend] = measure(models, tmp, backend, env, table, args.jobs, args.requests)
            finally:
                table.close()
    print(f"{args.jobs:,} finished jobs; {args.requests} requests each, one at a time, gunicorn with 2 workers; "
          "target p99 <= 50 ms")
    print(f"bulk fill: SQLite {fill_s['sqlite']:.0f} s, PostgreSQL {fill_s['postgres']:.0f} s "
          "(counts and histograms kept by triggers as the rows went in)")
    print(f"{'':30s} {'SQLite p50':>11s} {'p99':>8s}   {'PostgreSQL p50':>14s} {'p99':>8s}   met")
    for what in results["sqlite"]:
        (s50, s99), (p50, p99) = results["sqlite"][what], results["postgres"][what]
        met = "yes" if max(s99, p99) <= 50 else "NO"
        print(f"{what:30s} {s50:8.1f} ms {s99:5.1f} ms   {p50:11.1f} ms {p99:5.1f} ms   {met}")


if __name__ == "__main__":
    main()
