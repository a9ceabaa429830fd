"""Failing the jobs whose worker died, and naming what they published.

Run by every job worker before it claims, and by the service whenever it reads jobs, so no
job stays ``running`` after its worker is gone even when no worker is left to notice.
"""

from __future__ import annotations

import logging

import mlp
from core.jobs.records import Job
from core.jobs.table import JobTable
from core.store import ModelStore, StoreError

log = logging.getLogger("tinymlp.jobs")


def reap(jobs: JobTable, store: ModelStore, stale_after: float) -> list[Job]:
    """Fail the jobs whose worker died; one that died while publishing gets the version it
    published named, found by the job id its file carries."""
    reaped = jobs.reap(stale_after)
    for job in reaped:
        log.warning("job %s: failed, its worker stopped sending heartbeats", job.id)
        if job.publishing_at is not None and job.published_version is None:
            for v in reversed(store.versions(job.model)[-20:]):
                try:
                    training = store.open(job.model, v, with_optimizer=False).info.training
                except (mlp.ModelFileError, StoreError, OSError):
                    continue
                if training is not None and training.job == job.id:
                    jobs.record_published(job.id, v)
                    break
    return reaped
