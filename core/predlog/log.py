"""The prediction log and its feedback, in the database every process shares (``core.db``):
SQLite under TINYMLP_STATE_DIR, or PostgreSQL at TINYMLP_DATABASE_URL.

- ``write`` logs a batch of predict requests in one short transaction, each request as one
  row holding its checked inputs and its outputs as arrays (so a 10,000-row request costs one
  insert, not 10,000). A request id names one prediction of a model: a repeat (a client's
  retry sends the same X-Request-ID) is not logged again, and feedback on that id applies to
  the prediction logged first. A counter taken in the same transaction numbers every logged
  row (``row_end``), which the row cap is swept by.
- ``find`` reads logged requests back by request id; ``recent`` the latest rows a version
  answered (a drift window), newest first, a few requests at a time.
- ``record`` writes feedback rows in one transaction, all or nothing: a row's first truth is
  ``new``, the same truth again ``unchanged`` (counted once), another truth ``replaced`` (the
  old one's counts taken back). Totals per version and true label are kept in the same
  transaction, so quality since a version started serving is a few rows to read and outlives
  the feedback rows' retention; ``live`` reads them and the latest window.
- ``sweep`` removes, a batch per transaction, requests past the retention or the row cap and
  feedback past the retention.
- retraining policies: ``put_policy``, ``policy``, ``policies``, ``delete_policy``; a trigger
  is claimed with ``claim`` (a compare-and-set on the feedback already used, so one trigger
  queues one job whichever processes see it) and ``feedback_rows`` gives a job its rows.

Each backend brings its SQL (``core/predlog/sql/<backend>/``); the two differ here only in how
a batch is inserted and how a list of ids is passed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson

from core import db as dblib
from core.predlog.records import (
    FeedbackRow,
    Judged,
    Live,
    Logged,
    PolicyState,
    Quality,
    Recorded,
    RetrainingPolicy,
)

COMPONENT = "predlog"  # this component's row in the database's schema_versions
RECENT_CHUNK = 64  # requests read at a time for a drift window
SQLITE_BATCH = 500  # requests in one SQLite insert: 10 placeholders each, under its limit of 32,766
_VALUES = re.compile(r"^(.*?)\s+VALUES\s+(\(.*\))\s+(ON CONFLICT.*)$", re.DOTALL)


Unavailable = dblib.Unavailable  # the database cannot be reached or used right now; the message says which


@dataclass(frozen=True, slots=True)
class Entry:
    """One predict request to log."""

    model: str
    version: int
    request_id: str
    n_rows: int
    inputs: bytes  # (n_rows, n_features), row-major, of in_dtype
    in_dtype: str  # "<f8", or narrower where that is exact (see ``input_dtype``)
    outputs: bytes  # (n_rows, k) of out_dtype, row-major
    out_dtype: str  # "<f4" or "<f8"

    @classmethod
    def of(cls, model: str, version: int, request_id: str, X: np.ndarray, outputs: np.ndarray,
           dtype: np.dtype | None = None) -> Entry:
        """``dtype``: the type X is stored in, ``input_dtype`` of its model's inputs (default float64)."""
        X = np.ascontiguousarray(X, dtype=dtype or _F8)
        outputs = np.ascontiguousarray(outputs)
        if outputs.dtype.str not in ("<f4", "<f8"):
            outputs = outputs.astype("<f8")
        return cls(model, version, request_id, len(X), X.tobytes(), X.dtype.str, outputs.tobytes(), outputs.dtype.str)


_F8 = np.dtype("<f8")
_WHOLE = [np.dtype(t) for t in ("|u1", "|i1", "<u2", "<i2", "<i4")]


def input_dtype(spec) -> np.dtype:
    """The type a model's checked rows are logged in, exactly: whole-number inputs (the service
    checked them against their bounds) in the smallest integer type that spans the bounds
    (red's colours in one byte, an eighth of float64), anything else as float64. Read back,
    every type is float64 again."""
    if spec.dtype == "int" and all(math.isfinite(v) for v in (*spec.low, *spec.high)):
        low, high = min(spec.low), max(spec.high)
        for dtype in _WHOLE:
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return dtype
    return _F8


class PredictionLog:
    """See the module's docstring."""

    def __init__(self, db: dblib.Database, *, owns_db: bool = True):
        self.db = db
        self.owns_db = owns_db
        self.postgres = db.backend == "postgres"
        self.sql = dblib.queries("core.predlog", db.backend)
        self._inserts: dict[int, str] = {}
        db.migrate(COMPONENT, dblib.migrations("core.predlog", db.backend))

    @classmethod
    def open(cls, state_dir, database_url: str | None = None, *, pool_size: int = 2) -> PredictionLog:
        """The log in its own connections: PostgreSQL at ``database_url``, else SQLite in ``state_dir``."""
        db = dblib.open_database(state_dir, database_url, pool_size=pool_size)
        with dblib.closed_on_error(db):
            return cls(db)

    @classmethod
    def on(cls, db: dblib.Database) -> PredictionLog:
        """The log in a database other components share (its opener closes it)."""
        return cls(db, owns_db=False)

    def describe(self) -> str:
        return self.db.describe()

    def close(self) -> None:
        if self.owns_db:
            self.db.close()

    def _tx(self, write: bool = True):
        return self.db.transaction(write)

    def _q(self, cur, name: str, /, **params):
        cur.execute(self.sql[name], params)
        return cur

    def _ids(self, ids: Sequence[str]):
        return list(ids) if self.postgres else json.dumps(list(ids))

    # -- the log ------------------------------------------------------------------------

    def write(self, entries: Sequence[Entry]) -> int:
        """Log a batch of requests in one transaction; how many were new (a request id
        already logged for its model is not logged again)."""
        if not entries:
            return 0
        total = sum(e.n_rows for e in entries)
        with self._tx() as cur:
            end = self._q(cur, "count_rows", n=total).fetchone()["total"] - total
            row_ends = []
            for e in entries:
                end += e.n_rows
                row_ends.append(end)
            if self.postgres:
                self._q(cur, "insert_predictions", model=[e.model for e in entries],
                        version=[e.version for e in entries], request_id=[e.request_id for e in entries],
                        n_rows=[e.n_rows for e in entries], row_end=row_ends, inputs=[e.inputs for e in entries],
                        in_dtype=[e.in_dtype for e in entries], outputs=[e.outputs for e in entries],
                        out_dtype=[e.out_dtype for e in entries])
                return cur.rowcount
            written = 0
            for start in range(0, len(entries), SQLITE_BATCH):
                chunk = entries[start:start + SQLITE_BATCH]
                params: list = []
                for e, end in zip(chunk, row_ends[start:start + SQLITE_BATCH]):
                    params += (e.model, e.version, e.request_id, e.n_rows, end, e.inputs, e.in_dtype, e.outputs,
                               e.out_dtype)
                written += cur.execute(self._insert_many(len(chunk)), params).rowcount
            return written

    def _insert_many(self, n: int) -> str:
        """SQLite's insert of ``n`` requests: the statement's row of placeholders, n times."""
        text = self._inserts.get(n)
        if text is None:
            head, values, tail = _VALUES.match(self.sql["insert_predictions"]).groups()
            text = self._inserts[n] = f"{head} VALUES {', '.join([values] * n)} {tail}"
        return text

    def find(self, model: str, request_ids: Sequence[str]) -> dict[str, Logged]:
        """The logged requests of ``model`` among ``request_ids``, by id (missing: never logged,
        not sampled, or swept)."""
        with self._tx(write=False) as cur:
            rows = self._q(cur, "predictions_of", model=model, request_ids=self._ids(request_ids)).fetchall()
        return {r["request_id"]: Logged.of_row(r) for r in rows}

    def recent(self, model: str, version: int, rows: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The latest ``rows`` rows ``version`` answered, across every process that logs: (X, outputs),
        newest request first (of a request larger than what is left to take, its last rows);
        None if it has none."""
        xs, outs, have, before = [], [], 0, 2**62
        with self._tx(write=False) as cur:
            while have < rows:
                chunk = self._q(cur, "recent", model=model, version=version, before=before,
                                limit=RECENT_CHUNK).fetchall()
                for r in chunk:
                    logged = Logged.of_row(r)
                    take = min(len(logged), rows - have)
                    xs.append(logged.X[len(logged) - take:])
                    outs.append(logged.outputs[len(logged) - take:])
                    have += take
                    if have >= rows:
                        break
                if len(chunk) < RECENT_CHUNK:
                    break
                before = chunk[-1]["seq"]
        if not xs:
            return None
        return np.concatenate(xs), np.concatenate(outs)

    def sweep(self, keep_seconds: float, max_rows: int, batch: int = 2000) -> int:
        """Remove at most ``batch`` of the oldest requests past the retention or the row cap,
        and as many feedback rows past the retention; how many were removed."""
        with self._tx() as cur:
            removed = self._q(cur, "sweep_predictions", keep_seconds=float(keep_seconds), max_rows=max_rows,
                              batch=batch).rowcount
            removed += self._q(cur, "sweep_feedback", keep_seconds=float(keep_seconds), batch=batch).rowcount
        return removed

    # -- feedback -----------------------------------------------------------------------

    def record(self, model: str, rows: Sequence[Judged]) -> list[Recorded]:
        """Write feedback rows, all in one transaction (see the module's docstring). A row given
        twice in ``rows`` counts as given twice in a row: the later wins."""
        outcomes: list[Recorded] = []
        with self._tx() as cur:
            self._q(cur, "lock_feedback", model=model)
            ids = sorted({r.request_id for r in rows})
            stored = {(r["request_id"], r["row_index"]): r
                      for r in self._q(cur, "feedback_of", model=model, request_ids=self._ids(ids)).fetchall()}
            now: dict[tuple[str, int], dict | Judged] = dict(stored)  # each row's truth as this batch leaves it
            totals: dict[tuple[int, str], list] = {}  # (version, truth) -> [n, hits, abs_sum, sq_sum] to add
            for row in rows:
                old = now.get(row.key)
                old_truth = None if old is None else (old.truth if isinstance(old, Judged) else old["truth"])
                if old_truth == row.truth:
                    outcomes.append(Recorded(row.request_id, row.row_index, row.version, "unchanged", row.truth))
                    continue
                if old is not None:
                    self._count(totals, old, -1)
                self._count(totals, row, +1)
                now[row.key] = row
                outcomes.append(Recorded(row.request_id, row.row_index, row.version,
                                         "new" if old is None else "replaced", row.truth, old_truth))
            gone = [{"seq": stored[k]["seq"]} for k, v in now.items() if k in stored and v is not stored[k]]
            added = [{"model": model, "request_id": r.request_id, "row_index": r.row_index, "version": r.version,
                      "input": r.input, "truth": r.truth, "predicted": r.predicted, "correct": r.correct,
                      "abs_err": r.abs_err, "sq_err": r.sq_err} for r in now.values() if isinstance(r, Judged)]
            if gone:
                cur.executemany(self.sql["delete_feedback"], gone)
            if added:
                cur.executemany(self.sql["insert_feedback"], added)
            changes = [{"model": model, "version": v, "truth": t, "n": n, "hits": h, "abs_sum": a, "sq_sum": q}
                       for (v, t), (n, h, a, q) in sorted(totals.items()) if (n, h, a, q) != (0, 0, 0.0, 0.0)]
            if changes:
                cur.executemany(self.sql["add_totals"], changes)
            if added and "wake" in self.sql:  # PostgreSQL: idle job workers look at the policy now
                self._q(cur, "wake", model=model)
        return outcomes

    @staticmethod
    def _count(totals: dict, row, sign: int) -> None:
        """Add (``sign`` +1) or take back (-1) a feedback row's part in its version's totals."""
        get = (lambda k: getattr(row, k)) if isinstance(row, Judged) else row.__getitem__
        classifier = get("correct") is not None
        key = (get("version"), get("truth") if classifier else "")
        t = totals.setdefault(key, [0, 0, 0.0, 0.0])
        t[0] += sign
        t[1] += sign * (get("correct") or 0)
        t[2] += sign * (get("abs_err") or 0.0)
        t[3] += sign * (get("sq_err") or 0.0)

    def live(self, model: str, version: int, classifier: bool, window: int) -> Live:
        """A version's live quality: over its latest ``window`` feedback rows (and their curve),
        and since it started serving."""
        with self._tx(write=False) as cur:
            totals = self._q(cur, "totals", model=model, version=version).fetchall()
            rows = self._q(cur, "window_rows", model=model, version=version, window=window).fetchall()
        if classifier:
            since = Quality.of_classes(totals)
        else:
            since = Quality.of_values(sum(int(t["n"]) for t in totals), sum(float(t["abs_sum"]) for t in totals),
                                      sum(float(t["sq_sum"]) for t in totals))
        live = Live.of_rows(window, rows, since, classifier)
        if not classifier and since.feedback_rows == live.recent.feedback_rows:
            # The window holds every row the version has had: the same figures, summed exactly
            # from the rows rather than from running totals that each replaced truth rounded.
            live = dataclasses.replace(live, since_serving=live.recent)
        return live

    def window_accuracy(self, model: str, version: int, window: int) -> tuple[int, float | None]:
        """(rows, accuracy) over a classifier version's latest ``window`` feedback rows."""
        with self._tx(write=False) as cur:
            r = self._q(cur, "window_accuracy_of_served", model=model, version=version, window=window).fetchone()
        n = int(r["n"])
        return n, (int(r["hits"]) / n if n else None)

    # -- retraining ---------------------------------------------------------------------

    def put_policy(self, model: str, policy: RetrainingPolicy) -> PolicyState:
        with self._tx() as cur:
            self._q(cur, "put_policy", model=model, policy=json.dumps(policy.to_dict()))
            return self._state(cur, model)

    def policy(self, model: str) -> PolicyState | None:
        with self._tx(write=False) as cur:
            return self._state(cur, model)

    def policies(self) -> list[PolicyState]:
        with self._tx(write=False) as cur:
            return [self._state_of(cur, r) for r in self._q(cur, "policies").fetchall()]

    def delete_policy(self, model: str) -> bool:
        with self._tx() as cur:
            return self._q(cur, "delete_policy", model=model).fetchone() is not None

    def _state(self, cur, model: str) -> PolicyState | None:
        row = self._q(cur, "policy", model=model).fetchone()
        return None if row is None else self._state_of(cur, row)

    def _state_of(self, cur, row: dict) -> PolicyState:
        since = self._q(cur, "feedback_since", model=row["model"], after=row["consumed"]).fetchone()
        policy = row["policy"]
        return PolicyState(row["model"], RetrainingPolicy.from_dict(orjson.loads(policy) if isinstance(policy, str)
                                                                    else policy),
                           int(row["consumed"]), int(since["n"]), row["last_job"], row["last_reason"],
                           self._time(row["last_at"]), self._time(row["updated_at"]))

    def _time(self, value) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        seconds, us = divmod(int(value), 1_000_000)
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=us)

    def feedback_since(self, model: str, after: int) -> tuple[int, int]:
        """(rows, the newest sequence number) of ``model``'s feedback after ``after``."""
        with self._tx(write=False) as cur:
            r = self._q(cur, "feedback_since", model=model, after=after).fetchone()
        return int(r["n"]), int(r["through"])

    def claim(self, model: str, consumed: int, through: int, reason: str) -> bool:
        """Take a trigger: feedback up to ``through`` is used, if no one else has taken it since
        ``consumed`` was read."""
        with self._tx() as cur:
            return self._q(cur, "claim_retraining", model=model, consumed=consumed, through=through,
                           reason=reason).rowcount == 1

    def unclaim(self, model: str, consumed: int, through: int, reason: str) -> None:
        """Give a trigger back (its job could not be queued)."""
        with self._tx() as cur:
            self._q(cur, "unclaim_retraining", model=model, consumed=consumed, through=through, reason=reason)

    def set_job(self, model: str, job_id: str) -> None:
        with self._tx() as cur:
            self._q(cur, "retraining_job", model=model, job=job_id)

    def feedback_rows(self, model: str, through: int, limit: int) -> list[FeedbackRow]:
        """The newest ``limit`` feedback rows of ``model`` up to sequence number ``through``, oldest first."""
        with self._tx(write=False) as cur:
            rows = self._q(cur, "feedback_rows", model=model, through=through, limit=limit).fetchall()
        return [FeedbackRow(r["seq"], r["request_id"], r["row_index"], r["version"],
                            np.frombuffer(bytes(r["input"]), dtype="<f8"), r["truth"]) for r in reversed(rows)]
