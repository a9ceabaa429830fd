"""A training job as the client sees it: its state, refreshed on demand, waited for, cancelled.

    job = client.train("red", epochs=5, examples=[([250, 10, 10], "red")])
    job = job.wait(progress=True)         # a bar of epochs, until it finishes
    print(job.status, job.published_version, job.promotion_reason)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from client.api import Client

FINISHED = ("succeeded", "failed", "cancelled")


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

    @classmethod
    def from_json(cls, data: dict, client: Client | None = None) -> Job:
        names = set(cls.__dataclass_fields__) - {"_client"}
        return cls(**{k: v for k, v in data.items() if k in names}, _client=client)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def epochs(self) -> int:
        """The epochs the job trains (the service's default, 10, when none were asked for)."""
        return self.params.get("epochs") or 10

    @property
    def promotion_reason(self) -> str | None:
        return (self.promotion or {}).get("reason")

    def refresh(self) -> Job:
        """This job as the service has it now (the same object, updated)."""
        fresh = self._client.job(self.id)
        for name in self.__dataclass_fields__:
            if name != "_client":
                setattr(self, name, getattr(fresh, name))
        return self

    def wait(self, *, progress: bool = False, timeout: float | None = None, poll: float = 0.5) -> Job:
        """Poll until the job has finished; with ``progress``, a bar of its epochs on stderr.
        Returns the finished job (succeeded, failed or cancelled: look at ``status``);
        TimeoutError if it has not finished after ``timeout`` seconds."""
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=self.epochs, desc=f"{self.model} job {self.id}", unit="epoch", file=sys.stderr)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                self.refresh()
                if bar is not None:
                    bar.update(len(self.progress) - bar.n)
                    if self.progress:
                        last = self.progress[-1]
                        bar.set_postfix(loss=f"{last['loss']:.4g}", metric=f"{last['metric']:.4f}", refresh=False)
                    bar.set_description_str(f"{self.model} job {self.id} {self.status}", refresh=True)
                if self.finished:
                    return self
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} is still {self.status} after {timeout:g} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def cancel(self) -> Job:
        """Cancel it: a queued job at once, a running one at its next epoch. Conflict (409) if it
        has finished or begun to publish."""
        fresh = self._client.cancel(self.id)
        for name in self.__dataclass_fields__:
            if name != "_client":
                setattr(self, name, getattr(fresh, name))
        return self
