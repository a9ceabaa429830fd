"""Rollouts in a serving worker: which version answers, the comparisons, the counts and the guards.

- **Routing** (``route``, the app's router): an unpinned request (``POST /predict/<name>``, V2
  infer without a version) of a model whose rollout runs is answered by the candidate when it
  falls in the candidate's share (split), else by the stable; in shadow mode the stable answers
  and the candidate is noted to run beside it. A request with ``X-Routing-Key`` falls where the
  hash of the rollout's id and the key says (``Rollout.takes``): the same arm on every worker
  and replica. One without is spread by a low-discrepancy sequence (golden-ratio steps from a
  random start, per worker), so any run of requests gives the candidate its share to within a
  request or two per worker, where a coin would stray by the square root of their number.
  Pinned and labelled URLs bypass the rollout. Rows are always checked against the stable's
  input (the contract clients know); a candidate that fails on them (an exception, an output
  that is not finite, rows outside its own bounds) is a candidate error, and the stable answers
  in its place: a client never sees the candidate fail.
- **Comparing** (``observe``, an observer: after the answer has gone): when the candidate
  answered, the stable runs on the same checked rows; when the candidate shadows, it runs on
  the rows the stable answered. Each row is compared (``core.rollouts.figures.Comparer``).
- **Counting**: each worker keeps a tally in memory (no write on a request's path) and a
  background thread adds it to the shared database every ``FLUSH_INTERVAL`` seconds, sooner
  past ``FLUSH_ROWS`` compared rows; after each flush the guards look at the totals, and an
  ending they claim (only one claim wins, across every replica) is written into rollout.json
  (``core.rollouts.control.settle``), logged and counted. The stable keeps serving throughout.
- **Watching** (every ``CHECK_EVERY`` seconds): a rollout whose stable is no longer the served
  version (the default label was moved by hand) or whose candidate went away is ended, saying
  why; an ending claimed elsewhere but not yet written (its writer stopped) is written.

The rollout record is read when the registry scans the model (rollout.json is one of the
model's files), so every worker and replica follows a change within the reload interval; the
registry keeps a running rollout's two versions loaded (``keep``).
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
import time
from time import perf_counter

import numpy as np

from core import rollouts as rl
from core.rollouts import control
from core.rollouts.figures import CANDIDATE, STABLE, Comparer, Ending, Tally, Totals, figures, verdict
from core.rollouts.records import Guard, Mode, Rollout, Status
from core.store import ModelStore, NoServableVersion, NotFound, StoreError
from service import dataplane, metrics
from service.dataplane import Prediction, Routed
from service.errors import ServiceError
from service.validation import InputError, check_matrix

log = logging.getLogger("tinymlp.rollouts")

FLUSH_INTERVAL = 0.05  # seconds between flushes of a worker's tally
FLUSH_ROWS = 100  # compared rows that bring a flush forward
CHECK_EVERY = 1.0  # seconds between looks at what a rollout compares
GOLDEN = 0.6180339887498949  # 1/phi: the step of the spread's low-discrepancy sequence


def _outputs(model, X: np.ndarray) -> np.ndarray:
    """A version's outputs for checked rows, as comparisons read them (probabilities of a
    classifier, values of a regressor); ValueError if any is not finite."""
    net = model.network
    out = net.predict_proba(X) if net.is_classifier else net.forward(X)
    flat = out.ravel()
    # a sum of squares is finite only if every output is (or, rarely, not when large ones
    # overflow it: then the exact check decides), as the data plane checks an answer
    if not math.isfinite(np.dot(flat, flat)) and not np.isfinite(out).all():
        raise ValueError(f"version {model.version} gave an output that is not finite")
    return out




class RolloutService:
    """One worker's part in every rollout (see the module's docstring)."""

    def __init__(self, store: ModelStore, config):
        self.store = store
        self.config = config
        self.registry = None  # attached once made (it asks ``keep`` as it scans)
        self.records: dict[str, Rollout | None] = {}  # model -> its rollout as last read (running or last)
        self.unreadable: dict[str, str] = {}  # model -> why its rollout.json was refused
        self._table: rl.RolloutTable | None = None
        self._table_lock = threading.Lock()
        self._tallies: dict[str, tuple[Rollout, Tally]] = {}  # rollout id -> its rollout and this worker's tally
        self._lock = threading.Lock()
        self._local = threading.local()  # the request in hand: what its observer is to compare
        self._spreads: dict[str, itertools.count] = {}
        self._start = random.random()
        self._comparers: dict[tuple, Comparer] = {}
        self._same: dict[tuple, bool] = {}  # (versions, and the loaded objects) -> the same input spec?
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._next_check = 0.0
        self._warned = 0.0

    def attach(self, registry) -> None:
        self.registry = registry

    # -- the record, as the registry scans -------------------------------------------------

    def keep(self, name: str) -> tuple[int, ...]:
        """Read the model's rollout (the registry asks as it scans the model); the versions a
        running one needs loaded."""
        try:
            rollout = control.read(self.store, name)
        except control.NoRollout as e:
            if self.unreadable.get(name) != str(e):
                log.error("model %s: %s", name, e)
            self.unreadable[name] = str(e)
            self.records[name] = None
            return ()
        self.unreadable.pop(name, None)
        self.records[name] = rollout
        return (rollout.stable, rollout.candidate) if rollout is not None and rollout.running else ()

    # -- routing: on the request's path ----------------------------------------------------

    def route(self, name: str, version: int | None, label: str | None, key: str | None):
        """The app's router: a ``Routed`` for an unpinned request of a model whose rollout
        runs, else the registry's answer."""
        rollout = self.records.get(name) if version is None and label is None else None
        if rollout is None or not rollout.running:
            return self.registry.get(name, version, label)
        stable = self.registry.get(name)
        if stable.version != rollout.stable:
            return stable  # this worker serves another version (a label moved): the watch looks into it
        try:
            candidate = self.registry.get(name, rollout.candidate)
        except ServiceError:
            return stable  # gone or broken: the watch ends the rollout, saying so
        takes = rollout.takes(key) if key else self._spread(rollout)
        arm = CANDIDATE if takes and rollout.mode is Mode.SPLIT else STABLE
        shadowed = takes and rollout.mode is Mode.SHADOW
        return Routed(stable, lambda X: self._answer(rollout, stable, candidate, arm, shadowed, X))

    def _spread(self, rollout: Rollout) -> bool:
        counter = self._spreads.get(rollout.id)
        if counter is None:
            counter = self._spreads.setdefault(rollout.id, itertools.count())
        return (self._start + next(counter) * GOLDEN) % 1.0 < rollout.percent / 100

    def _tally(self, rollout: Rollout) -> Tally:
        """This worker's tally of ``rollout`` (call with ``_lock`` held)."""
        held = self._tallies.get(rollout.id)
        if held is None:
            held = self._tallies[rollout.id] = (rollout, Tally())
        return held[1]

    def _answer(self, rollout: Rollout, stable, candidate, arm: int, shadowed: bool, X: np.ndarray) -> Prediction:
        """Answer checked rows with the arm chosen; a candidate that fails is counted and the
        stable answers in its place."""
        if arm == CANDIDATE:
            started = perf_counter()
            try:
                prediction = dataplane.predict(candidate, self._rows_for(candidate, stable, X))
            except Exception as e:  # whatever the candidate does, the client gets the stable's answer
                with self._lock:
                    tally = self._tally(rollout)
                    tally.requests[CANDIDATE] += 1
                    tally.failed(CANDIDATE, len(X))
                log.debug("rollout %s: the candidate v%s failed (%s); the stable answered", rollout.id,
                          candidate.version, e)
            else:
                seconds = perf_counter() - started
                with self._lock:
                    tally = self._tally(rollout)
                    tally.requests[CANDIDATE] += 1
                    tally.ran(CANDIDATE, seconds)
                self._local.pending = (prediction, rollout, stable, candidate, CANDIDATE)
                return prediction
        started = perf_counter()
        try:
            prediction = dataplane.predict(stable, X)
        except Exception:
            with self._lock:
                tally = self._tally(rollout)
                tally.requests[STABLE] += arm == STABLE
                tally.failed(STABLE, len(X))
            raise
        seconds = perf_counter() - started
        with self._lock:
            tally = self._tally(rollout)
            tally.requests[STABLE] += arm == STABLE
            tally.ran(STABLE, seconds)
        if shadowed:
            self._local.pending = (prediction, rollout, stable, candidate, STABLE)
        return prediction

    def _rows_for(self, candidate, stable, X: np.ndarray) -> np.ndarray:
        """Rows the stable's input took, checked against the candidate's (its own bounds, whole
        numbers): rows it refuses are its failure, never the client's."""
        if self._same_input(stable, candidate):
            return X
        try:
            return check_matrix(X, candidate.spec, "inputs")
        except InputError as e:
            raise ValueError(f"the candidate refuses the rows: {e}") from None

    # -- comparing: after the answer has gone ------------------------------------------------

    def observe(self, served) -> None:
        """An observer: compare the request's answer with the other version's on the same rows."""
        pending = getattr(self._local, "pending", None)
        if pending is None:
            return
        self._local.pending = None
        answered, rollout, stable, candidate, arm = pending
        if answered is not served.prediction:
            return  # another request's (that one failed after its rows were answered)
        other, other_arm = (stable, STABLE) if arm == CANDIDATE else (candidate, CANDIDATE)
        started = perf_counter()
        try:
            rows = served.X if other_arm == STABLE else self._rows_for(candidate, stable, served.X)
            theirs = _outputs(other, rows)
        except Exception:
            with self._lock:
                self._tally(rollout).failed(other_arm, len(served.X))
            return
        seconds = perf_counter() - started
        mine = answered.outputs
        stable_out, candidate_out = (theirs, mine) if other_arm == STABLE else (mine, theirs)
        n, agreed, diff_sum, diff_max = self._comparer(rollout, stable, candidate).rows(stable_out, candidate_out)
        with self._lock:
            tally = self._tally(rollout)
            tally.ran(other_arm, seconds)
            tally.compared_rows(n, agreed, diff_sum, diff_max)
            due = tally.compared >= FLUSH_ROWS
        if due:
            self._wake.set()

    def _same_input(self, stable, candidate) -> bool:
        key = (stable.version, candidate.version, id(stable), id(candidate))
        same = self._same.get(key)
        if same is None:  # versions are immutable: asked once per pair of loaded versions
            same = stable.spec == candidate.spec
            self._same = {key: same}
        return same

    def _comparer(self, rollout: Rollout, stable, candidate) -> Comparer:
        key = (rollout.id, stable.version, candidate.version)
        found = self._comparers.get(key)
        if found is None:
            found = Comparer.of(stable.info.output, candidate.info.output, rollout.tolerance)
            self._comparers = {**{k: v for k, v in self._comparers.items() if k[0] == rollout.id}, key: found}
        return found

    # -- the database ------------------------------------------------------------------------

    def table(self) -> rl.RolloutTable:
        """The rollout counters' table, opened when first needed; ``rl.Unavailable`` if it cannot be."""
        if self._table is not None:
            return self._table
        unusable = self.config.unusable.get("TINYMLP_DATABASE_URL")
        if unusable:
            raise rl.Unavailable(unusable)
        with self._table_lock:
            if self._table is None:
                self._table = rl.RolloutTable.open(self.config.state_dir, self.config.database_url)
        return self._table

    def flush(self) -> None:
        """Add this worker's tallies to the database, and act on what the guards say."""
        with self._lock:
            pending, self._tallies = self._tallies, {}
        for rollout, tally in pending.values():
            try:
                totals, ending = self.table().flush(rollout, tally, verdict)
            except rl.Unavailable as e:
                with self._lock:  # kept for the next flush
                    self._tally(rollout).add(tally)
                self._warn(f"rollout figures wait for the database: {e}")
                continue
            except rl.UnknownRollout:
                continue  # a newer rollout of the model has replaced it
            if ending is not None:
                self._ended(rollout, ending, claimed=True)
            elif totals.ending is not None and rollout.running and self.records.get(rollout.model) == rollout:
                self._ended(rollout, totals.ending, claimed=False)

    def _warn(self, message: str) -> None:
        if time.monotonic() - self._warned > 10:  # not a line every flush while the database is away
            self._warned = time.monotonic()
            log.warning("%s", message)

    def _ended(self, rollout: Rollout, ending: Ending, *, claimed: bool) -> None:
        """Write an ending the database holds into rollout.json; ``claimed``: this worker's claim
        won, so it is the one that logs and counts it."""
        try:
            done = control.settle(self.store, self.table(), rollout, ending)
        except (OSError, StoreError, rl.Unavailable) as e:
            log.error("rollout %s of %s: writing that it %s failed (%s); trying again", rollout.id, rollout.model,
                      ending.status.value, e)
            return
        if done is not None:
            self.records[rollout.model] = done  # this worker stops routing at once; the others on their next scan
        if claimed:
            metrics.ROLLOUT_ENDINGS.labels(rollout.model, ending.status.value,
                                           ending.guard.value if ending.guard else "").inc()
            log.warning("rollout %s of %s (v%s against v%s) %s: %s", rollout.id, rollout.model, rollout.candidate,
                        rollout.stable, ending.status.value, ending.reason)

    def watch(self) -> None:
        """End the running rollouts whose comparison no longer holds, and write endings claimed
        elsewhere (see the module's docstring)."""
        for name, rollout in list(self.records.items()):
            if rollout is None or not rollout.running:
                continue
            why = self._broken(name, rollout)
            try:
                table = self.table()
                if why is not None:
                    ending = Ending(Status.ENDED, why[1], why[0])
                    held = table.end(rollout.id, ending)
                    self._ended(rollout, held, claimed=held is ending)
                    continue
                totals = table.totals(rollout.id)
            except rl.Unavailable as e:
                self._warn(f"rollout {rollout.id} of {name} waits for the database: {e}")
                continue
            except rl.UnknownRollout:
                continue
            if totals.ending is not None:
                self._ended(rollout, totals.ending, claimed=False)

    def _broken(self, name: str, rollout: Rollout) -> tuple[Guard, str] | None:
        """Why a running rollout's comparison no longer holds, asked of the store itself (this
        worker's view may lag); None if it holds."""
        entry = self.registry.snapshot.models.get(name)
        if entry is not None and entry.served == rollout.stable and rollout.candidate in entry.loaded:
            return None
        try:
            served = self.store.resolve(name)
        except (NotFound, NoServableVersion, StoreError):
            return None  # the model itself is in trouble: that is reported elsewhere
        if served != rollout.stable:
            return Guard.DEFAULT_MOVED, (f"the default label moved to v{served}, away from the stable v{rollout.stable}"
                                         "; the rollout no longer compares what is served")
        if not self.store.loads(name, rollout.candidate):
            return Guard.CANDIDATE_GONE, f"the candidate v{rollout.candidate} can no longer be read"
        return None

    # -- the background thread ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rollout-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # the thread must outlive any one bad flush
                log.exception("rollout flush failed")

    def tick(self) -> None:
        """One round of the background thread: flush, and now and then watch."""
        if self._tallies:
            self.flush()
        if time.monotonic() >= self._next_check and any(r is not None and r.running for r in self.records.values()):
            self._next_check = time.monotonic() + CHECK_EVERY
            self.watch()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if self._tallies:
                self.flush()  # what this worker counted, before it goes
        finally:
            if self._table is not None:
                self._table.close()
                self._table = None

    # -- what the API and /metrics read ------------------------------------------------------

    def figures(self, name: str) -> dict:
        """``GET /models/<name>/rollout``: the record as the store holds it now, and the totals
        the database holds (``rl.NoRollout``, ``rl.Unavailable``)."""
        rollout = control.read(self.store, name)
        if rollout is None:
            raise rl.NoRollout(f"{name} has had no rollout; start one with PUT /models/{name}/rollout")
        return figures(rollout, self._totals(rollout))

    def _totals(self, rollout: Rollout) -> Totals:
        try:
            return self.table().totals(rollout.id)
        except rl.UnknownRollout:
            return Totals()

    def collect(self):
        """(model, rollout, totals) of every model with a rollout this worker knows of, for
        /metrics; nothing if the database cannot be reached."""
        out = []
        for name, rollout in sorted(self.records.items()):
            if rollout is None:
                continue
            try:
                out.append((name, rollout, self._totals(rollout)))
            except rl.Unavailable:
                return []
        return out
