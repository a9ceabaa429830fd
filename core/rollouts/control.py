"""Starting, promoting and ending a rollout: the same steps whoever takes them (the API, the
command line, a job that publishes a canary, a guard in a serving worker).

Every change holds the model's lock (``ModelStore.model_lock``) from reading rollout.json to
writing it, so two writers never both act on the same running rollout. An ending is first
claimed in the database (``RolloutTable.end``), which every replica shares: the first claim
wins, and whoever lost writes the winner's ending into the file rather than its own. Then:

- ``start``: the candidate must exist, load, and answer what the stable answers (a
  classifier with the same labels, a regressor with as many values); the stable is the
  version served now, and ``default`` is pinned to it if the model had no default label, so
  a newer version published meanwhile does not quietly take its place;
- ``promote``: ``default`` moves to the candidate, then the record says ``promoted``;
- ``end``: the stable stays; ``settle``: the ending a guard claimed, written into the file
  (and, for ``auto_promote_after``, the label moved).
"""

from __future__ import annotations

import logging
import secrets

import mlp
from core.rollouts.figures import Comparer, Ending, Incompatible
from core.rollouts.records import Guard, Guards, Mode, RecordError, Rollout, Status, now
from core.rollouts.table import RolloutTable, UnknownRollout
from core.store import ROLLOUT_FILE, ModelStore, NotFound, StoreError, some_versions

log = logging.getLogger("tinymlp.rollouts")


class RolloutError(Exception):
    """A rollout change that cannot be made; the message says why and what to do."""


class NoRollout(RolloutError):
    """The model has never had a rollout (or its record is unreadable)."""


class VersionMissing(RolloutError):
    """The candidate named is not a version of the model."""


class AlreadyRunning(RolloutError):
    def __init__(self, rollout: Rollout):
        self.rollout = rollout
        super().__init__(f"a rollout of {rollout.model} is running already (id {rollout.id}: v{rollout.candidate} "
                         f"against v{rollout.stable}, {rollout.mode.value}); promote or end it first")


class NotRunning(RolloutError):
    def __init__(self, rollout: Rollout):
        self.rollout = rollout
        why = f": {rollout.reason}" if rollout.reason else ""
        super().__init__(f"the rollout of {rollout.model} is not running (it is {rollout.status.value}{why}); "
                         f"there is nothing to change")


class SameVersion(RolloutError):
    pass


class Unsuitable(RolloutError):
    """The candidate cannot be compared with the stable, or does not load."""


def read(store: ModelStore, name: str) -> Rollout | None:
    """The model's rollout record (running or last), None if it never had one; NoRollout if
    rollout.json cannot be read (it then routes nothing)."""
    try:
        return Rollout.from_bytes(store.read_model_file(name, ROLLOUT_FILE))
    except (RecordError, StoreError) as e:
        raise NoRollout(f"{getattr(e, 'summary', None) or e}; a new rollout (PUT /models/{name}/rollout) "
                        "replaces it") from None


def _write(store: ModelStore, rollout: Rollout) -> None:
    store.write_model_file(rollout.model, ROLLOUT_FILE, rollout.to_bytes().decode())


def _current(store: ModelStore, name: str) -> Rollout | None:
    try:
        return read(store, name)
    except NoRollout:
        return None  # unreadable: nothing runs; a new rollout may replace it


def default_tolerance(stable) -> float | None:
    """A regressor's default tolerance: the stable's own held-out RMSE, the size of a
    difference that is no more than its usual error."""
    headline = stable.info.headline
    if headline is not None and headline.metric == "rmse" and headline.value is not None:
        return float(headline.value)
    return None


def start(store: ModelStore, table: RolloutTable, name: str, candidate: int, *, mode: Mode = Mode.SPLIT,
          percent: float | None = None, guards: Guards | None = None, tolerance: float | None = None,
          by: str = "api") -> Rollout:
    """Start a rollout of ``candidate`` against the version served now (see the module's docstring)."""
    if mode is Mode.SHADOW and percent is not None:
        raise Unsuitable("percent is a split's share; a shadow runs beside every request: leave percent out")
    if percent is None:
        percent = 10.0 if mode is Mode.SPLIT else 100.0
    with store.model_lock(name):
        current = _current(store, name)
        if current is not None and current.running:
            raise AlreadyRunning(current)
        stable_v = store.resolve(name)
        if candidate == stable_v:
            raise SameVersion(f"version {candidate} is the stable: {name} serves it now; name another version "
                              "as the candidate")
        if candidate not in store.versions(name):
            raise VersionMissing(f"model {name!r} has no version {candidate}; versions: "
                                 f"{some_versions(store.versions(name))}")
        try:
            cand = store.open(name, candidate, with_optimizer=False)
        except (mlp.ModelFileError, StoreError, OSError) as e:
            raise Unsuitable(f"version {candidate} of {name} fails its checks "
                             f"({getattr(e, 'summary', None) or e}); it cannot be a candidate") from None
        stable = store.open(name, stable_v, with_optimizer=False)
        if cand.info.input.features != stable.info.input.features:
            raise Unsuitable(f"version {candidate} takes the features {list(cand.info.input.features)}, the stable "
                             f"v{stable_v} {list(stable.info.input.features)}: they cannot answer the same rows")
        if not stable.info.output.is_classifier and tolerance is None:
            tolerance = default_tolerance(stable)
            if tolerance is None:
                raise Unsuitable(f"{name} is a regressor with no held-out RMSE to take the tolerance from; give "
                                 "the tolerance: the largest difference of a value that still counts as agreeing")
        try:
            Comparer.of(stable.info.output, cand.info.output, tolerance)
        except Incompatible as e:
            raise Unsuitable(f"version {candidate} cannot be compared with the stable v{stable_v}: {e}") from None
        rollout = Rollout(id=secrets.token_hex(8), model=name, status=Status.RUNNING, mode=mode, stable=stable_v,
                          candidate=candidate, percent=float(percent), started_at=now(),
                          guards=guards or Guards(), tolerance=tolerance, started_by=by)
        table.begin(rollout)
        if "default" not in store.labels(name):
            store.set_label(name, "default", stable_v)
        _write(store, rollout)
    log.info("rollout %s of %s started by %s: v%s against v%s, %s %g%%", rollout.id, name, by, candidate, stable_v,
             mode.value, rollout.percent)
    return rollout


def promote(store: ModelStore, table: RolloutTable, name: str, *, by: str = "api") -> Rollout:
    """Move ``default`` to the running rollout's candidate and end it as promoted."""
    return _finish(store, table, name, Ending(Status.PROMOTED, f"promoted on request ({by})"))


def end(store: ModelStore, table: RolloutTable, name: str, *, by: str = "api") -> Rollout:
    """End the running rollout; the stable stays served."""
    return _finish(store, table, name, Ending(Status.ENDED, f"ended on request ({by}); the stable stays"))


def _finish(store: ModelStore, table: RolloutTable, name: str, asked: Ending) -> Rollout:
    with store.model_lock(name):
        current = read(store, name)
        if current is None:
            raise NoRollout(f"{name} has had no rollout; start one first (PUT /models/{name}/rollout, or python -m "
                            f"trainer rollout {name} --candidate V)")
        if not current.running:
            raise NotRunning(current)
        try:
            held = table.end(current.id, asked)
        except UnknownRollout:  # its counters are gone: nobody else can have ended it
            held = asked
        done = _apply(store, table, current, held)
    if held is not asked:  # a guard (here or on another replica) got there first
        raise NotRunning(done)
    return done


def settle(store: ModelStore, table: RolloutTable, rollout: Rollout, ending: Ending) -> Rollout | None:
    """Write an ending claimed in the database into the file (a guard's, or one whose writer
    stopped before writing it); the record as it now is, or None if it had moved on already."""
    with store.model_lock(rollout.model):
        current = _current(store, rollout.model)
        if current is None or current.id != rollout.id or not current.running:
            return None
        return _apply(store, table, current, ending)


def _apply(store: ModelStore, table: RolloutTable, current: Rollout, ending: Ending) -> Rollout:
    """Inside the lock: carry ``ending`` out (move the label for a promotion) and write it."""
    if ending.status is Status.PROMOTED:
        try:
            store.set_label(current.model, "default", current.candidate)
        except (OSError, StoreError, NotFound) as e:
            why = getattr(e, "strerror", None) or str(e)
            ending = Ending(Status.ENDED, f"{ending.reason}, but moving the default label to v{current.candidate} "
                                          f"failed ({why}); the stable stays. Move it with python -m trainer label "
                                          f"{current.model} default {current.candidate}", ending.guard)
            try:
                table.amend(current.id, ending)
            except Exception:  # the file says it; the database's word only matters while it runs
                log.exception("rollout %s: recording that its promotion failed", current.id)
    done = current.ended(ending.status, ending.reason, ending.guard)
    _write(store, done)
    return done


__all__ = ["AlreadyRunning", "Guard", "NoRollout", "NotRunning", "RolloutError", "SameVersion", "Unsuitable",
           "VersionMissing", "end", "promote", "read", "settle", "start"]
