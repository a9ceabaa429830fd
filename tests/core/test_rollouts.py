"""Rollouts in core: the record in rollout.json (strict), routing keys, comparing two versions'
answers, the counters in SQLite and PostgreSQL (added up exactly by concurrent writers; the
first ending wins; an ended rollout takes no more counts), the guards' verdict, and the steps
that start, promote and end a rollout under the model's lock."""

from __future__ import annotations

import functools
import multiprocessing
import shutil
from datetime import UTC, datetime

import numpy as np
import pytest

from core import rollouts as rl
from core.records import OutputSpec
from core.rollouts import control
from core.rollouts.figures import (
    BUCKETS,
    CANDIDATE,
    STABLE,
    Comparer,
    Ending,
    Incompatible,
    Tally,
    Totals,
    bucket,
    percentile,
    verdict,
)
from core.rollouts.records import Guard, Guards, Mode, RecordError, Rollout, Status
from core.store import ROLLOUT_FILE, ModelStore, NotFound
from harness.stores import publish_opposite


def _rollout(**changes) -> Rollout:
    values = {"id": "r1", "model": "red", "status": Status.RUNNING, "mode": Mode.SPLIT, "stable": 1, "candidate": 2,
              "percent": 10.0, "started_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}
    return Rollout(**{**values, **changes})


# -- the record ----------------------------------------------------------------------------


def test_a_record_reads_back_as_it_was_written():
    r = _rollout(guards=Guards(min_rows=50, max_p99_ratio=None, auto_promote_after=500), tolerance=2.5,
                 started_by="api").ended(Status.ROLLED_BACK, "guard min_agreement: ...", Guard.MIN_AGREEMENT)
    assert Rollout.from_bytes(r.to_bytes()) == r
    assert Rollout.from_bytes(None) is None


@pytest.mark.parametrize(("raw", "says"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must hold an object"),
    (b'{"id": "r", "surprise": 1}', "'surprise'"),
    (None, "stable and candidate"),
    ({"stable": 2}, "another version than the stable"),
    ({"percent": 0}, "percent must be a number above 0"),
    ({"percent": 101}, "percent must be a number above 0"),
    ({"percent": True}, "percent"),
    ({"status": "paused"}, "not a rollout record"),
    ({"started_at": "2026-01-02T03:04:05"}, "time zone"),
    ({"started_at": 5}, "ISO 8601"),
    ({"guards": {"min_rows": 0}}, "min_rows"),
    ({"guards": {"min_agreement": 1.5}}, "min_agreement"),
    ({"guards": {"sneaky": 1}}, "guards must be an object"),
    ({"tolerance": -1}, "tolerance"),
    ({"id": 7}, "id must be a string"),
])
def test_a_malformed_record_is_refused_naming_what_is_wrong(raw, says):
    if not isinstance(raw, bytes):
        data = _rollout().to_dict()
        if raw is None:
            data["stable"] = "one"
        else:
            data.update(raw)
        import orjson

        raw = orjson.dumps(data)
    with pytest.raises(RecordError, match=says):
        Rollout.from_bytes(raw)


def test_a_routing_key_lands_on_one_arm_whoever_asks_and_keys_spread_at_the_share():
    a, b = _rollout(percent=10.0), _rollout(percent=10.0)  # two processes' copies of one record
    keys = [f"user-{i}" for i in range(20_000)]
    taken = [a.takes(k) for k in keys]
    assert taken == [b.takes(k) for k in keys]
    assert abs(sum(taken) / len(keys) - 0.10) < 0.01  # a hash spreads keys evenly
    other = _rollout(id="r2", percent=10.0)  # a new rollout draws its own sample of users
    assert [other.takes(k) for k in keys] != taken
    wider = _rollout(percent=30.0)  # a larger share keeps every key the smaller one took
    assert all(wider.takes(k) for k, t in zip(keys, taken) if t)


# -- comparing -----------------------------------------------------------------------------


def test_classifiers_agree_on_the_label_whatever_the_order_of_their_columns():
    comparer = Comparer.of(OutputSpec("classifier", ("red", "not_red"), 2),
                           OutputSpec("classifier", ("not_red", "red"), 2), None)
    stable = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    candidate = np.array([[0.3, 0.7], [0.9, 0.1], [0.55, 0.45]])  # columns: not_red, red
    n, agreed, total, largest = comparer.rows(stable, candidate)
    assert (n, agreed) == (3, 2)  # rows 0 and 1 agree; row 2 says not_red against red
    assert total == pytest.approx(0.2 + 0.1 + 0.15) and largest == pytest.approx(0.2)


def test_regressors_agree_within_the_tolerance():
    comparer = Comparer.of(OutputSpec("regressor", None, 2), OutputSpec("regressor", None, 2), 1.0)
    n, agreed, total, largest = comparer.rows(np.array([[1.0, 5.0], [0.0, 0.0]]), np.array([[1.5, 4.0], [0.0, 2.5]]))
    assert (n, agreed, largest) == (2, 1, 2.5) and total == pytest.approx(3.5)


@pytest.mark.parametrize(("stable", "candidate", "says"), [
    (OutputSpec("classifier", ("a", "b"), 2), OutputSpec("regressor", None, 1), "a classifier and the candidate"),
    (OutputSpec("classifier", ("a", "b"), 2), OutputSpec("classifier", ("a", "c"), 2), "labels"),
    (OutputSpec("regressor", None, 1), OutputSpec("regressor", None, 2), "2 values a row"),
])
def test_versions_that_answer_different_things_cannot_be_compared(stable, candidate, says):
    with pytest.raises(Incompatible, match=says):
        Comparer.of(stable, candidate, 1.0)


def test_latency_percentiles_come_from_fixed_buckets_within_a_bucket_of_the_truth():
    rng = np.random.default_rng(0)
    seconds = rng.lognormal(np.log(50e-6), 0.5, 5000)
    counts = [0] * (len(BUCKETS) + 1)
    for s in seconds:
        counts[bucket(s)] += 1
    for q in (0.5, 0.99):
        truth = np.quantile(seconds, q)
        assert truth / 1.19 <= percentile(counts, q) <= truth * 1.19  # four buckets per doubling
    assert percentile([0] * len(counts), 0.5) is None


# -- the guards ---------------------------------------------------------------------------


def _totals(compared=300, agreed=300, runs=(300, 300), errors=(0, 0), failed_rows=(0, 0), stable_s=50e-6,
            candidate_s=50e-6, timed=200) -> Totals:
    latency = [[0] * (len(BUCKETS) + 1) for _ in range(2)]
    latency[STABLE][bucket(stable_s)] = timed
    latency[CANDIDATE][bucket(candidate_s)] = timed
    return Totals(runs=runs, errors=errors, failed_rows=failed_rows, latency=tuple(map(tuple, latency)),
                  compared=compared, agreed=agreed)


@pytest.mark.parametrize(("totals", "status", "guard"), [
    (_totals(compared=199, agreed=0), None, None),  # before min_rows nothing acts
    (_totals(agreed=269), Status.ROLLED_BACK, Guard.MIN_AGREEMENT),
    (_totals(agreed=270), None, None),  # 0.9 holds
    (_totals(errors=(0, 1)), Status.ROLLED_BACK, Guard.ERROR_RATE),
    (_totals(errors=(3, 3)), None, None),  # no more often than the stable
    (_totals(compared=0, agreed=0, errors=(0, 200), failed_rows=(0, 200)), Status.ROLLED_BACK, Guard.ERROR_RATE),
    (_totals(candidate_s=400e-6), Status.ROLLED_BACK, Guard.P99_RATIO),
    (_totals(candidate_s=400e-6, timed=99), None, None),  # too few runs for a p99
    (_totals(candidate_s=120e-6), None, None),  # under 3x
])
def test_the_guards_verdict(totals, status, guard):
    ending = verdict(_rollout(guards=Guards(min_rows=200)), totals)
    assert (ending and ending.status, ending and ending.guard) == (status, guard)
    if ending is not None:
        assert ending.guard.value in ending.reason  # the reason names the guard


def test_auto_promote_after_needs_every_guard_holding_and_min_rows():
    r = _rollout(guards=Guards(min_rows=200, auto_promote_after=100))
    assert verdict(r, _totals(compared=150, agreed=150)) is None  # min_rows first
    assert verdict(r, _totals(compared=200, agreed=200)).status is Status.PROMOTED
    assert verdict(r, _totals(compared=200, agreed=100)).status is Status.ROLLED_BACK
    assert verdict(_rollout(guards=Guards(max_p99_ratio=None)), _totals(candidate_s=1.0)) is None


# -- the counters ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def open_table(request, tmp_path):
    """Opens rollout tables on one database of each backend (``open_table()``; picklable, for
    other processes)."""
    if request.param == "sqlite":
        opener = functools.partial(rl.RolloutTable.open, str(tmp_path / "state"))
    else:
        opener = functools.partial(rl.RolloutTable.open, None, request.getfixturevalue("database_url"))
    opened = []

    def open_one():
        table = opener()
        opened.append(table)
        return table

    yield open_one
    for table in opened:
        table.close()


def _tally(compared=10, agreed=9, requests=(3, 1), seconds=(40e-6, 60e-6)) -> Tally:
    t = Tally()
    t.requests = list(requests)
    for arm, s in enumerate(seconds):
        t.ran(arm, s)
    t.failed(CANDIDATE, 2)
    t.compared_rows(compared, agreed, 0.5, 0.25)
    return t


def _flush_many(opener, rollout, n):
    table = opener()
    try:
        for _ in range(n):
            table.flush(rollout, _tally())
    finally:
        table.close()


def test_tallies_from_concurrent_processes_add_up_exactly(open_table):
    table = open_table()
    rollout = _rollout()
    table.begin(rollout)
    ctx = multiprocessing.get_context("spawn")
    factory = _opener_of(table)
    procs = [ctx.Process(target=_flush_many, args=(factory, rollout, 25)) for _ in range(3)]
    for p in procs:
        p.start()
    _flush_many(factory, rollout, 25)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    totals = table.totals(rollout.id)
    assert (totals.compared, totals.agreed) == (1000, 900)
    assert totals.requests == (300, 100) and totals.runs == (100, 200) and totals.errors == (0, 100)
    assert totals.failed_rows == (0, 200) and totals.diff_max == 0.25
    assert totals.diff_sum == pytest.approx(50.0)
    assert totals.timed(STABLE) == totals.timed(CANDIDATE) == 100
    assert totals.seconds[STABLE] == pytest.approx(100 * 40e-6)


def _opener_of(table):
    """A picklable opener of another connection to the same database."""
    if table.db.backend == "sqlite":
        return functools.partial(rl.RolloutTable.open, str(table.db.path.parent))
    return functools.partial(rl.RolloutTable.open, None, table.db.url)


def test_the_first_ending_wins_and_an_ended_rollout_takes_no_more_counts(open_table):
    table, other = open_table(), open_table()
    rollout = _rollout()
    table.begin(rollout)
    table.flush(rollout, _tally())
    rolled_back = Ending(Status.ROLLED_BACK, "guard min_agreement: ...", Guard.MIN_AGREEMENT)
    assert table.end(rollout.id, rolled_back) is rolled_back
    held = other.end(rollout.id, Ending(Status.PROMOTED, "promoted on request"))
    assert held == rolled_back  # the promotion lost: it says what won
    totals, claimed = other.flush(rollout, _tally(), verdict)
    assert claimed is None and totals.compared == 10 and totals.ending == rolled_back


def test_a_flush_claims_the_guards_verdict_in_its_own_transaction(open_table):
    table = open_table()
    rollout = _rollout(guards=Guards(min_rows=20))
    table.begin(rollout)
    totals, ending = table.flush(rollout, _tally(compared=10, agreed=0), verdict)
    assert ending is None and totals.compared == 10
    totals, ending = table.flush(rollout, _tally(compared=10, agreed=0), verdict)
    assert ending.guard is Guard.MIN_AGREEMENT and table.totals(rollout.id).ending == ending


def test_a_new_rollout_of_a_model_forgets_the_counters_of_its_earlier_ones(open_table):
    table = open_table()
    first, second, elsewhere = _rollout(id="a"), _rollout(id="b"), _rollout(id="c", model="iris")
    for r in (first, elsewhere, second):
        table.begin(r)
        table.flush(r, _tally())
    with pytest.raises(rl.UnknownRollout):
        table.totals(first.id)
    assert table.totals(second.id).compared == table.totals(elsewhere.id).compared == 10


# -- starting, promoting, ending ---------------------------------------------------------------


@pytest.fixture
def red_store(seeded_store_dir, tmp_path) -> ModelStore:
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    store = ModelStore(tmp_path / "models")
    publish_opposite(store, "red")  # version 2; default pinned to 1
    return store


@pytest.fixture
def table(tmp_path):
    t = rl.RolloutTable.open(str(tmp_path / "state"))
    yield t
    t.close()


def test_start_writes_the_record_against_the_served_version_and_pins_default(seeded_store_dir, tmp_path, table):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    store = ModelStore(tmp_path / "models")
    iris = store.load("iris", 1)
    store.publish("iris", iris, **{k: v for k, v in iris.metadata.items() if k not in ("name", "version")})
    assert store.labels("iris") == {} and store.resolve("iris") == 2  # no default: the newest is served
    with pytest.raises(control.SameVersion):
        control.start(store, table, "iris", 2)
    r = control.start(store, table, "iris", 1, mode=Mode.SHADOW)
    assert (r.stable, r.candidate, r.mode, r.percent, r.started_by) == (2, 1, Mode.SHADOW, 100.0, "api")
    assert store.labels("iris") == {"default": 2}  # pinned: a newer version published meanwhile is not served
    assert control.read(store, "iris") == r and table.totals(r.id).compared == 0


def test_start_refuses_what_cannot_be_rolled_out(red_store, table):
    with pytest.raises(control.VersionMissing, match="no version 7"):
        control.start(red_store, table, "red", 7)
    with pytest.raises(control.SameVersion):
        control.start(red_store, table, "red", 1)
    with pytest.raises(NotFound):
        control.start(red_store, table, "purple", 2)
    iris = red_store.load("iris", 1)
    meta = {k: v for k, v in iris.metadata.items() if k not in ("name", "version")}
    with red_store.default_pinned("red"):
        red_store.publish("red", iris, **meta)  # version 3: iris's network, not red's features
    with pytest.raises(control.Unsuitable, match="features"):
        control.start(red_store, table, "red", 3)
    (red_store.folder("red") / "4.json").write_text("{broken")
    with pytest.raises(control.Unsuitable, match="fails its checks"):
        control.start(red_store, table, "red", 4)
    assert control.read(red_store, "red") is None  # nothing was written
    running = control.start(red_store, table, "red", 2)
    with pytest.raises(control.AlreadyRunning, match=running.id):
        control.start(red_store, table, "red", 2)


def test_promote_moves_default_and_end_keeps_the_stable(red_store, table):
    r = control.start(red_store, table, "red", 2, percent=25)
    done = control.promote(red_store, table, "red", by="cli")
    assert (done.status, done.id, red_store.labels("red")["default"]) == (Status.PROMOTED, r.id, 2)
    assert "cli" in done.reason and done.ended_at is not None and table.totals(r.id).ending.status is Status.PROMOTED
    with pytest.raises(control.NotRunning, match="promoted"):
        control.end(red_store, table, "red")
    r = control.start(red_store, table, "red", 1)  # v2 is served now: roll v1 back out
    assert control.end(red_store, table, "red").status is Status.ENDED and red_store.labels("red")["default"] == 2


def test_an_ending_claimed_elsewhere_is_the_one_written(red_store, table):
    r = control.start(red_store, table, "red", 2)
    guard = Ending(Status.ROLLED_BACK, "guard min_agreement: agreement 0 ...", Guard.MIN_AGREEMENT)
    table.end(r.id, guard)  # a guard on another replica won; its writer has not written the file yet
    with pytest.raises(control.NotRunning, match="rolled_back"):
        control.promote(red_store, table, "red")
    assert red_store.labels("red")["default"] == 1  # the losing promotion moved nothing
    written = control.read(red_store, "red")
    assert (written.status, written.guard) == (Status.ROLLED_BACK, Guard.MIN_AGREEMENT)
    assert control.settle(red_store, table, r, guard) is None  # already written: nothing to do


def _end_it(models_dir, state_dir, step, results):
    store, table = ModelStore(models_dir), rl.RolloutTable.open(state_dir)
    try:
        getattr(control, step)(store, table, "red")
        results.put("won")
    except control.NotRunning:
        results.put("lost")
    finally:
        table.close()


def test_of_two_processes_ending_one_rollout_at_once_one_wins(red_store, table, tmp_path):
    control.start(red_store, table, "red", 2)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_end_it, args=(str(red_store.root), str(tmp_path / "state"), step, results))
             for step in ("promote", "end", "promote", "end")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted(results.get(timeout=5) for _ in procs) == ["lost", "lost", "lost", "won"]
    final = control.read(red_store, "red")
    assert final.status in (Status.PROMOTED, Status.ENDED)
    assert red_store.labels("red")["default"] == (2 if final.status is Status.PROMOTED else 1)


def test_an_unreadable_record_routes_nothing_and_a_new_rollout_replaces_it(red_store, table):
    (red_store.folder("red") / ROLLOUT_FILE).write_text('{"id": 1}')
    with pytest.raises(control.NoRollout, match="replaces it"):
        control.read(red_store, "red")
    assert control.start(red_store, table, "red", 2).running


def test_prune_keeps_a_running_rollouts_versions(red_store, table):
    control.start(red_store, table, "red", 2)
    report = red_store.prune("red", keep=0, dry_run=True)
    assert report.kept == {1: "labelled default", 2: "the candidate of a running rollout"}
    control.end(red_store, table, "red")
    assert red_store.prune("red", keep=0, dry_run=True).removed == [2]


@pytest.mark.parametrize("n", [1, 3, 7, 8, 50])
def test_a_few_rows_are_compared_in_python_exactly_as_numpy_compares_them(n):
    rng = np.random.default_rng(n)
    for s_spec, c_spec in ((OutputSpec("classifier", ("a", "b", "c"), 3), OutputSpec("classifier", ("c", "a", "b"), 3)),
                           (OutputSpec("regressor", None, 2), OutputSpec("regressor", None, 2))):
        comparer = Comparer.of(s_spec, c_spec, 0.3)
        stable, candidate = (rng.random((n, s_spec.n_outputs)).astype(np.float32) for _ in range(2))
        if comparer.columns:  # one row agreeing: the candidate's columns hold the stable's values
            candidate[0, list(comparer.columns)] = stable[0]
        else:
            candidate[0] = stable[0]
        if n > 1:
            candidate[-1, 0] = candidate[-1, 1]  # a tie: the first largest is the label
        few, many = comparer._few(stable.tolist(), candidate.tolist()), comparer._many(stable, candidate)
        assert few[:2] == many[:2] and few[3] == many[3] and few[1] >= 1
        if n < 8:  # numpy sums fewer than 8 in order, as Python does: the same bits
            assert few[2] == many[2]
        else:
            assert few[2] == pytest.approx(many[2], rel=1e-12)
