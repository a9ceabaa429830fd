"""The stack at scale (docker-compose.yml + docker/compose.scale.yml, three api replicas and two
job workers on PostgreSQL, behind the proxy), exercised through its one published port.

.ci/run starts it and runs this file with TINYMLP_STACK_URL, TINYMLP_TRAIN_TOKEN and
TINYMLP_STACK_SCALE set; without them these tests skip, saying so.
"""

from __future__ import annotations

import itertools
import os
import urllib.request

import pytest

from client import Client

URL = os.environ.get("TINYMLP_STACK_URL")
TOKEN = os.environ.get("TINYMLP_TRAIN_TOKEN")
SCALE = os.environ.get("TINYMLP_STACK_SCALE")

pytestmark = pytest.mark.skipif(not (URL and TOKEN and SCALE), reason="no stack at scale: .ci/run starts one and "
                                "sets TINYMLP_STACK_URL, TINYMLP_TRAIN_TOKEN and TINYMLP_STACK_SCALE")
MODELS = ("xor", "quadrant", "checkerboard")
ROW = {"xor": [0.1, 0.9], "quadrant": [1.0, 1.0], "checkerboard": [0.5, 0.5]}


def test_jobs_through_the_replicas_run_once_each_on_both_workers():
    with Client(URL, token=TOKEN) as tinymlp:
        # force: a 2-epoch job may well be much worse than its parent, which "always" refuses
        jobs = [tinymlp.train(model, epochs=2, samples=500, promote="force", seed=i)
                for i, model in zip(range(12), itertools.cycle(MODELS))]
        done = [job.wait(timeout=300) for job in jobs]
        assert [j.status for j in done] == ["succeeded"] * 12, [(j.status, j.error) for j in done]
        assert len({j.worker for j in tinymlp.jobs(limit=12)}) == 2  # both workers ran jobs
        for model in MODELS:
            mine = sorted((j for j in done if j.model == model), key=lambda j: j.started_at)
            assert sorted(j.published_version for j in mine) == [2, 3, 4, 5]
            assert all(a.finished_at <= b.started_at for a, b in zip(mine, mine[1:]))
            # What the service promises: once the job that moved `default` has finished, every
            # replica serves its version after its next store scan. wait(served=True) waits
            # that long (the reload interval /readyz reports, plus a margin), then confirms.
            newest = next(j for j in mine if j.published_version == 5)
            newest.wait(served=True, timeout=60)
            assert {tinymlp.predict(model, [ROW[model]]).version for _ in range(12)} == {5}


def test_every_replica_reports_the_same_queue():
    seen = set()
    for _ in range(12):  # the proxy spreads these over the replicas
        with urllib.request.urlopen(URL + "/metrics", timeout=10) as r:
            seen.add(next(line for line in r.read().decode().splitlines()
                          if line.startswith('tinymlp_jobs{status="succeeded"}')))
    assert len(seen) == 1, seen
