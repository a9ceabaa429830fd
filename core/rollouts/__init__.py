"""Rolling out a new version: its record in the store (``<name>/rollout.json``), its counters
in the shared database, the comparisons and guards, and the steps that start and end it.

- ``records``: the rollout record (mode, stable, candidate, percent, guards, status, reason);
- ``figures``: comparing two versions' answers, the counts each process keeps, their totals,
  the guards' verdict and the figures ``GET /models/<name>/rollout`` answers;
- ``table``: the counters in SQLite or PostgreSQL (its SQL per backend in ``sql/``);
- ``control``: start, promote, end and settle, under the model's lock.
"""

from __future__ import annotations

from core.rollouts.control import (
    AlreadyRunning,
    NoRollout,
    NotRunning,
    RolloutError,
    SameVersion,
    Unsuitable,
    VersionMissing,
)
from core.rollouts.figures import Comparer, Ending, Tally, Totals, figures, verdict
from core.rollouts.records import Guard, Guards, Mode, RecordError, Rollout, Status
from core.rollouts.table import RolloutTable, Unavailable, UnknownRollout

__all__ = ["AlreadyRunning", "Comparer", "Ending", "Guard", "Guards", "Mode", "NoRollout", "NotRunning",
           "RecordError", "Rollout", "RolloutError", "RolloutTable", "SameVersion", "Status", "Tally", "Totals",
           "Unavailable", "UnknownRollout", "Unsuitable", "VersionMissing", "figures", "verdict"]
