"""A rollout's counters in the shared database (``core.db``: SQLite under TINYMLP_STATE_DIR,
or PostgreSQL at TINYMLP_DATABASE_URL), beside the job table.

- ``begin`` makes a rollout's row (and forgets the counters of the model's earlier rollouts);
- ``flush`` adds one process's tally and, in the same transaction, reads the totals and asks
  ``judge`` (the guards) what they say; an ending it returns is claimed there and then. A
  rollout that has ended takes no more counts: its figures are those it ended with;
- ``end`` claims an ending (a promotion or an end asked for): the first claim wins, whoever
  makes it, on whichever replica; ``amend`` lets the winner say what came of it;
- ``totals`` reads what every process has added.

Each backend brings its SQL (``core/rollouts/sql/<backend>/``: migrations and named
statements); on PostgreSQL a flush locks its rollout's row first, so the flushes and the
ending of one rollout take turns, and SQLite's write transactions are serial already.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from core import db as dblib
from core.rollouts.figures import ARMS, BUCKETS, Ending, Tally, Totals
from core.rollouts.records import Guard, Rollout, Status

COMPONENT = "rollouts"  # this component's row in the database's schema_versions
Unavailable = dblib.Unavailable


class UnknownRollout(LookupError):
    """The database holds no counters for this rollout (its model started a newer one)."""


class RolloutTable:
    def __init__(self, db: dblib.Database, *, owns_db: bool = False):
        self.db = db
        self.owns_db = owns_db
        self.sql = dblib.queries("core.rollouts", db.backend)
        db.migrate(COMPONENT, dblib.migrations("core.rollouts", db.backend))

    @classmethod
    def open(cls, state_dir, database_url: str | None = None) -> RolloutTable:
        """In a database of its own (closed with the table)."""
        db = dblib.open_database(state_dir, database_url)
        with dblib.closed_on_error(db):
            return cls(db, owns_db=True)

    def describe(self) -> str:
        return self.db.describe()

    def close(self) -> None:
        if self.owns_db:
            self.db.close()

    @contextmanager
    def _tx(self):
        with self.db.transaction() as cur:
            yield cur

    def _run(self, cur, query: str, **params):
        cur.execute(self.sql[query], params)
        return cur

    # -- writing ---------------------------------------------------------------------

    def begin(self, rollout: Rollout) -> None:
        with self._tx() as cur:
            for query in ("forget_arms", "forget_latency", "forget"):
                self._run(cur, query, model=rollout.model, id=rollout.id)
            self._run(cur, "begin", id=rollout.id, model=rollout.model)

    def flush(self, rollout: Rollout, tally: Tally,
              judge: Callable[[Rollout, Totals], Ending | None] | None = None) -> tuple[Totals, Ending | None]:
        """Add ``tally``; the totals after it, and the ending ``judge`` claimed (None: none, or the
        rollout had ended already: ``Totals.ending`` says how; its counts were not added)."""
        with self._tx() as cur:
            row = self._run(cur, "lock", id=rollout.id).fetchone()
            if row is None:
                raise UnknownRollout(f"no counters for rollout {rollout.id}")
            if row["ended_status"] is None and not tally.empty:
                self._add(cur, rollout.id, tally)
            totals = self._totals(cur, rollout.id)
            if totals.ending is not None or judge is None:
                return totals, None
            ending = judge(rollout, totals)
            if ending is not None:
                self._claim(cur, rollout.id, ending)
            return totals, ending

    def _add(self, cur, rollout_id: str, t: Tally) -> None:
        if t.compared:
            self._run(cur, "add_compared", id=rollout_id, compared=t.compared, agreed=t.agreed,
                      diff_sum=t.diff_sum, diff_max=t.diff_max)
        for i, arm in enumerate(ARMS):  # always in this order: concurrent flushes lock rows alike
            if t.requests[i] or t.runs[i]:
                self._run(cur, "add_arm", id=rollout_id, arm=arm, requests=t.requests[i], runs=t.runs[i],
                          errors=t.errors[i], failed_rows=t.failed_rows[i], seconds=t.seconds[i])
        rows = [{"id": rollout_id, "arm": arm, "bucket": b, "n": n}
                for i, arm in enumerate(ARMS) for b, n in sorted(t.latency[i].items())]
        if rows:
            cur.executemany(self.sql["add_latency"], rows)

    def _claim(self, cur, rollout_id: str, ending: Ending) -> bool:
        return self._run(cur, "end", id=rollout_id, status=ending.status.value, reason=ending.reason,
                         guard=None if ending.guard is None else ending.guard.value).rowcount == 1

    def end(self, rollout_id: str, ending: Ending) -> Ending:
        """Claim ``ending``; the ending that holds (``ending`` if this claim won, else the first)."""
        with self._tx() as cur:
            row = self._run(cur, "lock", id=rollout_id).fetchone()
            if row is None:
                raise UnknownRollout(f"no counters for rollout {rollout_id}")
            first = _ending(row)
            if first is not None:
                return first
            self._claim(cur, rollout_id, ending)
            return ending

    def amend(self, rollout_id: str, ending: Ending) -> None:
        with self._tx() as cur:
            self._run(cur, "amend", id=rollout_id, status=ending.status.value, reason=ending.reason,
                      guard=None if ending.guard is None else ending.guard.value)

    # -- reading ---------------------------------------------------------------------

    def totals(self, rollout_id: str) -> Totals:
        with self.db.transaction(write=False) as cur:
            return self._totals(cur, rollout_id)

    def _totals(self, cur, rollout_id: str) -> Totals:
        row = self._run(cur, "get", id=rollout_id).fetchone()
        if row is None:
            raise UnknownRollout(f"no counters for rollout {rollout_id}")
        per_arm = {r["arm"]: r for r in self._run(cur, "arms", id=rollout_id).fetchall()}
        latency = [[0] * (len(BUCKETS) + 1) for _ in ARMS]
        for r in self._run(cur, "latency", id=rollout_id).fetchall():
            if 0 <= r["bucket"] <= len(BUCKETS):
                latency[ARMS.index(r["arm"])][r["bucket"]] += int(r["n"])

        def arm(key: str, kind=int) -> tuple:
            return tuple(kind(per_arm[a][key]) if a in per_arm else kind(0) for a in ARMS)

        return Totals(requests=arm("requests"), runs=arm("runs"), errors=arm("errors"),
                      failed_rows=arm("failed_rows"), seconds=arm("seconds", float),
                      latency=tuple(tuple(h) for h in latency),
                      compared=int(row["rows_compared"]), agreed=int(row["rows_agreed"]),
                      diff_sum=float(row["diff_sum"]), diff_max=float(row["diff_max"]), ending=_ending(row))


def _ending(row: dict) -> Ending | None:
    if row["ended_status"] is None:
        return None
    return Ending(Status(row["ended_status"]), row["ended_reason"] or "",
                  None if row["ended_guard"] is None else Guard(row["ended_guard"]))
