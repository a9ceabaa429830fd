"""A training job as the client sees it: its state, refreshed on demand, waited for (until it
has finished, and if asked until every replica serves what it promoted), cancelled.

    job = client.train("red", epochs=5, examples=[([250, 10, 10], "red")])
    job = job.wait(progress=True, served=True)    # a bar of epochs; then every replica serves it
    print(job.status, job.published_version, job.promotion_reason)

What the service promises after a job moves ``default``: every API worker and replica serves
the new version after its next scan of the model store, i.e. within the reload interval that
``GET /readyz`` reports (``reload_interval``) plus the time to load the file.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from client.answers import boolean, integer, list_of, nullable, number, obj, text
from client.answers import field as get

if TYPE_CHECKING:
    from client.api import Client

FINISHED = ("succeeded", "failed", "cancelled")
DEFAULT_EPOCHS = 10  # the service's, when a job asks for none (trainer.pipeline.CONTINUE_EPOCHS; a test holds them)
# Seconds between a service's store scans when its /readyz does not say (one older than
# reload_interval): the largest interval the shipped manifests set, to be safe, not a default.
RELOAD_INTERVAL = 2.0
SERVED_MARGIN = 1.0  # seconds beyond the reload interval: the scan itself and loading the file
SERVED_BOUND = 30.0  # seconds to confirm the version is served, when the wait has no timeout

_PROGRESS = {"epoch": integer, "loss": number, "metric": number, "seconds": number}


def _progress(value, where: str) -> dict:
    record = obj(value, where)
    for key, check in _PROGRESS.items():
        get(record, key, check, where)
    return record


@dataclass
class Job:
    id: str
    model: str
    status: str
    params: dict
    parent_version: int | None = None
    published_version: int | None = None
    promoted: bool | None = None
    promotion: dict | None = None
    progress: list[dict] = field(default_factory=list)
    error: str | None = None
    cancel_requested: bool = False
    worker: str | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    _client: Client | None = field(default=None, repr=False, compare=False)
    _seen_finished: float | None = field(default=None, repr=False, compare=False)  # time.monotonic()

    @classmethod
    def from_json(cls, data, client: Client | None = None, where: str = "the job") -> Job:
        data = obj(data, where)
        params = get(data, "params", obj, where)
        get(params, "epochs", nullable(integer), f"{where}.params", default=None)
        promotion = get(data, "promotion", nullable(obj), where, default=None)
        if promotion is not None:
            get(promotion, "reason", nullable(text), f"{where}.promotion", default=None)
        optional = {"submitted_at": text, "started_at": text, "finished_at": text, "worker": text,
                    "parent_version": integer, "published_version": integer, "promoted": boolean, "error": text}
        return cls(get(data, "id", text, where), get(data, "model", text, where), get(data, "status", text, where),
                   params, promotion=promotion, progress=get(data, "progress", list_of(_progress), where, default=[]),
                   cancel_requested=get(data, "cancel_requested", boolean, where, default=False),
                   **{k: get(data, k, nullable(check), where, default=None) for k, check in optional.items()},
                   _client=client)

    def to_json(self) -> dict:
        """The job's fields as the service named them."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def epochs(self) -> int:
        """The epochs the job trains (the service's default, 10, when none were asked for)."""
        return self.params.get("epochs") or DEFAULT_EPOCHS

    @property
    def promotion_reason(self) -> str | None:
        return (self.promotion or {}).get("reason")

    def _update(self, fresh: Job) -> Job:
        for name in self.__dataclass_fields__:
            if not name.startswith("_"):
                setattr(self, name, getattr(fresh, name))
        return self

    def refresh(self) -> Job:
        """This job as the service has it now (the same object, updated)."""
        return self._update(self._client.job(self.id))

    def wait(self, *, progress: bool = False, timeout: float | None = None, poll: float = 0.5,
             served: bool = False) -> Job:
        """Poll until the job has finished; with ``progress``, a bar of its epochs on stderr.
        Returns the finished job (succeeded, failed or cancelled: look at ``status``).
        With ``served``, a job that succeeded and was promoted is then waited for until every
        replica serves its version (``wait_served``), all within ``timeout``.

        TimeoutError, saying what it saw, if that has not all happened after ``timeout``
        seconds (without one, the job is waited for as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _Bar(self) if progress else None
        try:
            while True:
                self.refresh()
                if bar is not None:
                    bar.show(self)
                if self.finished:
                    if self._seen_finished is None:  # the promise counts from the first sight
                        self._seen_finished = time.monotonic()
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} is still {self.status} after {timeout:g} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()
        if served:
            self.wait_served(timeout=None if deadline is None else deadline - time.monotonic(), poll=poll)
        return self

    def served_within(self) -> float:
        """Seconds after a promotion within which the service promises every replica serves it:
        its reload interval (from /readyz) plus a margin for the scan and the load."""
        interval = self._client.ready().reload_interval
        return (RELOAD_INTERVAL if interval is None else interval) + SERVED_MARGIN

    def wait_served(self, *, timeout: float | None = None, poll: float = 0.5) -> Job:
        """For a job that succeeded and was promoted (nothing to wait for otherwise): wait one
        reload interval plus a margin, counted from when ``wait`` first saw the job finished
        (or from now), after which the service promises every worker and replica serves the
        version; then poll ``GET /models/<name>`` until it serves that version, or a newer one
        that a later job promoted. TimeoutError, saying what it saw, if that takes more than
        ``timeout`` seconds (without one: ``SERVED_BOUND`` seconds past the promised time)."""
        if not (self.status == "succeeded" and self.promoted and self.published_version is not None):
            return self
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = self._seen_finished or time.monotonic()
        within = self.served_within()
        version, promised = self.published_version, seen + within
        if deadline is not None and promised > deadline:
            raise TimeoutError(f"job {self.id} promoted {self.model} v{version}; the service promises every "
                               f"replica serves it within {within:g} s, which is past this wait's timeout")
        time.sleep(max(0.0, promised - time.monotonic()))
        bound = deadline if deadline is not None else promised + SERVED_BOUND
        while True:
            served = self._client.model(self.model).served_version
            if served is not None and served >= version:
                return self
            if time.monotonic() >= bound:
                raise TimeoutError(f"job {self.id} promoted {self.model} v{version}, but "
                                   f"{self._client.url}/models/{self.model} still serves "
                                   f"{'nothing' if served is None else f'v{served}'} "
                                   f"{time.monotonic() - seen:.1f} s after the job finished "
                                   f"(promised within {within:g} s)")
            time.sleep(poll)

    def cancel(self) -> Job:
        """Cancel it: a queued job at once, a running one at its next epoch. Conflict (409) if it
        has finished or begun to publish."""
        return self._update(self._client.cancel(self.id))


class _Bar:
    """A tqdm bar of a job's epochs, its description the job's status. The description changes
    before the count, so a job that ran between two polls never shows as queued at 100%."""

    def __init__(self, job: Job):
        from tqdm import tqdm

        self.bar = tqdm(total=job.epochs, desc=self._desc(job), unit="epoch", file=sys.stderr)

    @staticmethod
    def _desc(job: Job) -> str:
        return f"{job.model} job {job.id} {job.status}"

    def show(self, job: Job) -> None:
        self.bar.total = job.epochs
        self.bar.set_description_str(self._desc(job), refresh=False)
        if job.progress:
            last = job.progress[-1]
            self.bar.set_postfix(loss=f"{last['loss']:.4g}", metric=f"{last['metric']:.4f}", refresh=False)
        self.bar.n = len(job.progress)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()

