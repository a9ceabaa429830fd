"""The prediction log on each backend (SQLite, a real PostgreSQL): requests logged as arrays
and read back exactly; a repeated request id logged once; the drift window across requests;
feedback new, unchanged and replaced, with totals equal to a recount; retention by days and
by the row cap; retraining policies claimed once."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.predlog import Entry, Judged, PolicyError, PredictionLog, RetrainingPolicy
from core.records import OutputSpec

RED = OutputSpec("classifier", ("red", "not_red"), 2)
PRICE = OutputSpec("regressor", None, 1)


@pytest.fixture(params=["sqlite", "postgres"])
def opened(request, tmp_path):
    """Opens the log on one backend (again, for a second process's view); all closed after."""
    logs = []
    if request.param == "sqlite":
        def opener():
            return PredictionLog.open(tmp_path / "state")
    else:
        url = request.getfixturevalue("database_url")

        def opener():
            return PredictionLog.open(None, url)

    def open_one():
        logs.append(opener())
        return logs[-1]

    yield open_one
    for log in logs:
        log.close()


def _entry(rid, rows, version=1, model="red", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(rows, 3)).astype(float)
    p = rng.random(rows).astype(np.float32)
    return Entry.of(model, version, rid, X, np.column_stack([p, 1 - p])), X


def test_a_request_is_read_back_exactly_and_a_repeated_id_is_logged_once(opened):
    log = opened()
    first, X = _entry("a", 5)
    again, _ = _entry("a", 2, seed=1)  # a retry, or a client reusing an id: the first keeps it
    assert log.write([first, _entry("b", 1)[0], again]) == 2
    found = log.find("red", ["a", "b", "c"])
    assert set(found) == {"a", "b"}
    assert np.array_equal(found["a"].X, X) and found["a"].outputs.dtype == np.float32 and len(found["a"]) == 5
    assert np.array_equal(found["a"].outputs, np.frombuffer(first.outputs, "<f4").reshape(5, 2))
    assert log.find("blue", ["a"]) == {}  # an id names a prediction of one model
    assert opened().find("red", ["a"])["a"].seq == found["a"].seq  # every process reads the same


def test_the_drift_window_takes_the_newest_rows_of_one_version(opened):
    log = opened()
    entries = [_entry(f"r{i}", rows, seed=i) for i, rows in enumerate([3, 100, 2, 4])]
    log.write([e for e, _ in entries[:2]])
    log.write([_entry("other", 7, version=2)[0]])
    log.write([e for e, _ in entries[2:]])
    X, out = log.recent("red", 1, 10)
    # newest request first; of the 100-row one, its last 4 rows
    expected = np.concatenate([entries[3][1], entries[2][1], entries[1][1][-4:]])
    assert np.array_equal(X, expected) and out.shape == (10, 2)
    assert len(log.recent("red", 1, 1000)[0]) == 109
    assert log.recent("red", 9, 10) is None


def test_feedback_is_new_then_unchanged_then_replaced_and_totals_equal_a_recount(opened):
    log = opened()
    entry, X = _entry("a", 4)
    log.write([entry])
    logged = log.find("red", ["a"])["a"]
    predicted = [RED.labels[i] for i in logged.outputs.argmax(axis=1)]
    truths = ["red", "not_red", "red", "red"]
    rows = [Judged.of(logged, i, RED, t) for i, t in enumerate(truths)]
    assert [r.outcome for r in log.record("red", rows)] == ["new"] * 4
    assert [r.outcome for r in log.record("red", rows)] == ["unchanged"] * 4
    flipped = "not_red" if truths[2] == "red" else "red"
    (replaced,) = log.record("red", [Judged.of(logged, 2, RED, flipped)])
    assert (replaced.outcome, replaced.previous, replaced.truth) == ("replaced", "red", flipped)
    truths[2] = flipped
    live = log.live("red", 1, classifier=True, window=1000)
    hits = [p == t for p, t in zip(predicted, truths)]
    assert live.recent.feedback_rows == live.since_serving.feedback_rows == 4
    assert live.recent.accuracy == live.since_serving.accuracy == sum(hits) / 4
    for label in set(truths):
        mine = [h for h, t in zip(hits, truths) if t == label]
        assert live.since_serving.recall[label] == live.recent.recall[label] == sum(mine) / len(mine)
    two = log.live("red", 1, classifier=True, window=2)  # the two newest: the replaced row is one
    assert two.recent.feedback_rows == 2 and two.since_serving.feedback_rows == 4
    assert two.recent.accuracy == (hits[2] + hits[3]) / 2


def test_a_row_given_twice_in_one_batch_counts_as_given_twice_in_a_row(opened):
    log = opened()
    log.write([_entry("a", 1)[0]])
    logged = log.find("red", ["a"])["a"]
    out = log.record("red", [Judged.of(logged, 0, RED, "red"), Judged.of(logged, 0, RED, "not_red")])
    assert [o.outcome for o in out] == ["new", "replaced"]
    assert log.live("red", 1, True, 100).since_serving.feedback_rows == 1


def test_regressor_feedback_is_mae_and_rmse(opened):
    log = opened()
    X = np.array([[1500.0, 3, 10], [2000, 4, 5]])
    log.write([Entry.of("house", 1, "h", X, np.array([[200.0], [300.0]]))])
    logged = log.find("house", ["h"])["h"]
    log.record("house", [Judged.of(logged, 0, PRICE, [210.0]), Judged.of(logged, 1, PRICE, [270.0])])
    live = log.live("house", 1, classifier=False, window=100)
    assert live.since_serving.mae == pytest.approx(20.0) and live.recent.rmse == pytest.approx((500.0) ** 0.5)
    (again,) = log.record("house", [Judged.of(logged, 1, PRICE, [300.0])])
    assert again.outcome == "replaced" and log.live("house", 1, False, 100).since_serving.mae == pytest.approx(5.0)


def test_the_row_cap_sweeps_the_oldest_requests_and_days_sweep_everything_old(opened):
    log = opened()
    for i in range(10):
        log.write([_entry(f"r{i}", 500, seed=i)[0]])
    assert log.sweep(keep_seconds=86_400, max_rows=2000) == 6  # 5,000 rows logged: the oldest 3,000 go
    assert sorted(log.find("red", [f"r{i}" for i in range(10)])) == [f"r{i}" for i in range(6, 10)]
    logged = log.find("red", ["r9"])["r9"]
    log.record("red", [Judged.of(logged, 0, RED, "red")])
    assert log.sweep(keep_seconds=0.0, max_rows=10**9) == 5  # the rest, and the feedback row
    assert log.recent("red", 1, 10) is None
    # what a version scored since it started serving outlives its rows
    assert log.live("red", 1, True, 100).since_serving.feedback_rows == 1


def test_a_policy_counts_feedback_from_when_it_was_set_and_a_trigger_is_claimed_once(opened):
    log = opened()
    log.write([_entry("early", 3)[0], _entry("late", 50, seed=1)[0]])
    early = log.find("red", ["early"])["early"]
    log.record("red", [Judged.of(early, i, RED, "red") for i in range(3)])
    state = log.put_policy("red", RetrainingPolicy(after_feedback=10))
    assert state.new_feedback == 0 and log.policy("blue") is None
    late = log.find("red", ["late"])["late"]
    log.record("red", [Judged.of(late, i, RED, "red") for i in range(12)])
    state = log.policy("red")
    n, through = log.feedback_since("red", state.consumed)
    assert state.new_feedback == n == 12
    other = opened()  # a second process saw the same count
    results = []
    threads = [threading.Thread(target=lambda lg=lg: results.append(lg.claim("red", state.consumed, through, "12 new")))
               for lg in (log, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    log.set_job("red", "job1")
    state = log.policy("red")
    assert (state.new_feedback, state.last_job, state.last_reason) == (0, "job1", "12 new")
    rows = log.feedback_rows("red", through, limit=5)
    assert [r.seq for r in rows] == sorted(r.seq for r in rows) and len(rows) == 5
    assert rows[-1].seq == through and rows[0].truth == "red" and rows[0].input.shape == (3,)
    log.put_policy("red", RetrainingPolicy(after_feedback=99))  # a changed policy keeps its count
    assert log.policy("red").consumed == through and log.delete_policy("red") and not log.delete_policy("red")


@pytest.mark.parametrize(("given", "says"), [
    ({}, "after_feedback"), ({"after_feedback": 0}, "from 1"), ({"accuracy_below": 1.5}, "at most 1"),
    ({"after_feedback": 5, "holdout": 0.9}, "holdout"), ({"after_feedback": 5, "max_rows": 1}, "max_rows"),
])
def test_a_policy_that_cannot_work_is_refused(given, says):
    with pytest.raises(PolicyError, match=says):
        RetrainingPolicy(**given)


def test_whole_number_inputs_are_logged_in_the_smallest_type_that_spans_their_bounds(opened):
    import mlp
    from core.predlog import input_dtype

    red = mlp.InputSpec(("r", "g", "b"), "int", (0, 0, 0), (255, 255, 255))
    assert input_dtype(red) == np.dtype("|u1")
    assert input_dtype(mlp.InputSpec(("a",), "int", (-300,), (300,))) == np.dtype("<i2")
    assert input_dtype(mlp.InputSpec(("a",), "int")) == np.dtype("<f8")  # no bounds: no promise to keep
    assert input_dtype(mlp.InputSpec(("x",), "float", (0.0,), (1.0,))) == np.dtype("<f8")
    log = opened()
    X = np.array([[255.0, 0, 17], [3, 254, 1]])
    entry = Entry.of("red", 1, "a", X, np.ones((2, 2), np.float32), input_dtype(red))
    assert len(entry.inputs) == 6  # a byte a value
    log.write([entry])
    back = log.find("red", ["a"])["a"].X
    assert back.dtype == np.float64 and np.array_equal(back, X)
