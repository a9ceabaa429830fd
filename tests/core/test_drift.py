"""Drift statistics with known answers: PSI over a reference's decile bins (their exact
shares, ties merged), KS at its percentiles, the predictions' PSI; the reference as a model
file carries it, refused whole when malformed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import mlp
from core import drift
from core.drift import EPSILON, Grid, Reference, ReferenceError


def test_psi_of_two_share_vectors_is_the_textbook_sum():
    # (0.5 - 0.25) ln(0.5 / 0.25) + (0.5 - 0.75) ln(0.5 / 0.75)
    assert drift.psi_of_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5),
                                                                          rel=1e-12)
    assert drift.psi_of_shares([0.2, 0.8], [0.2, 0.8]) == 0.0


def test_an_empty_bin_weighs_as_epsilon_not_infinity():
    expected = 0.5 * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert drift.psi_of_shares([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(drift.psi_of_shares([1.0, 0.0], [0.0, 1.0]))


def test_deciles_of_distinct_values_make_ten_bins_of_a_tenth():
    grid = Grid.of(np.arange(10.0), drift.DECILES)
    assert grid.values == tuple(float(v) for v in range(9))
    assert np.allclose(grid.shares(), [0.1] * 10)
    assert drift.psi(grid, np.arange(10.0)) == pytest.approx(0.0, abs=1e-15)
    # every value in the top bin: 0.9 of the mass left nine bins for one
    top = 9 * (EPSILON - 0.1) * math.log(EPSILON / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert drift.psi(grid, np.full(50, 9.0)) == pytest.approx(top, rel=1e-12)


def test_tied_deciles_merge_and_keep_the_shares_the_data_had():
    column = np.array([1.0] * 50 + [2.0] * 30 + [5.0] * 20)
    grid = Grid.of(column, drift.DECILES)
    assert grid.values == (1.0, 2.0, 5.0) and grid.cdf == (0.5, 0.8, 1.0)
    assert np.allclose(grid.shares(), [0.5, 0.3, 0.2, 0.0])
    # a window of fives only: bins (-inf, 1], (1, 2] empty, (2, 5] all of it, (5, inf) empty in both
    expected = ((EPSILON - 0.5) * math.log(EPSILON / 0.5) + (EPSILON - 0.3) * math.log(EPSILON / 0.3)
                + (1 - 0.2) * math.log(1 / 0.2))
    assert drift.psi(grid, np.full(10, 5.0)) == pytest.approx(expected, rel=1e-12)
    # a value never seen in training lands in the last bin, whose training share is 0
    assert drift.psi(grid, np.full(10, 7.0)) > 5


def test_ks_is_the_largest_gap_between_the_cumulative_shares_at_the_percentiles():
    grid = Grid.of(np.arange(100.0), drift.PERCENTILES)
    assert drift.ks(grid, np.arange(100.0)) == 0.0
    assert drift.ks(grid, np.tile(np.arange(50.0), 2)) == pytest.approx(0.5)  # all of it at or below 49
    assert drift.ks(grid, np.full(7, 1000.0)) == pytest.approx(1.0 - 0.0, abs=0.011)


def test_compare_measures_each_feature_and_the_predicted_classes():
    X = np.column_stack([np.arange(1000.0) % 100, np.arange(1000.0) % 10])
    proba = np.column_stack([X[:, 0] < 30, X[:, 0] >= 30]).astype(float)  # 30% class a
    ref = drift.reference(X, ["u", "v"], proba=proba, labels=["a", "b"])
    assert ref.classes == {"a": 0.3, "b": 0.7} and ref.rows == 1000
    same = drift.compare(ref, X, label_index=proba.argmax(axis=1))
    assert same.rows == 1000 and same.prediction_psi == 0.0
    assert all(psi == pytest.approx(0, abs=1e-12) and ks == 0 for psi, ks in same.features.values())
    shifted = X.copy()
    shifted[:, 1] += 5  # v moves; u does not
    moved = drift.compare(ref, shifted, label_index=np.zeros(1000, int))  # and every row answered "a"
    assert moved.features["u"] == same.features["u"]
    assert moved.features["v"][0] > 1 and moved.features["v"][1] == pytest.approx(0.5)
    assert moved.prediction_psi == pytest.approx(drift.psi_of_shares([1, 0], [0.3, 0.7]), rel=1e-12)


def test_a_regressors_predictions_are_binned_like_a_feature_the_largest_output_psi_counts():
    X = np.arange(200.0)[:, None]
    values = np.column_stack([np.arange(200.0), np.arange(200.0) * 2])
    ref = drift.reference(X, ["x"], values=values)
    assert ref.classes is None and len(ref.outputs) == 2
    out = values.copy()
    out[:, 1] = 1e6  # the second output's predictions all land past its training range
    found = drift.compare(ref, X, values=out)
    assert found.prediction_psi == pytest.approx(drift.psi(ref.outputs[1].deciles, out[:, 1]))
    assert found.prediction_psi > 5


def test_in_distribution_windows_stay_low_and_half_a_deviation_shows():
    rng = np.random.default_rng(20)
    X = rng.normal(size=(50_000, 3))
    ref = drift.reference(X, ["a", "b", "c"], values=X[:, :1])
    window = rng.normal(size=(1000, 3))
    quiet = drift.compare(ref, window, values=window[:, :1])
    assert max(p for p, _ in quiet.features.values()) < 0.05  # about (bins - 1) / rows = 0.009
    window[:, 1] += 0.5
    loud = drift.compare(ref, window, values=window[:, :1])
    assert loud.features["b"][0] > 0.15 and loud.features["a"] == quiet.features["a"]


def test_a_reference_travels_through_json_unchanged():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(5000, 3)).astype(float)
    ref = drift.reference(X, ["r", "g", "b"], proba=rng.random((5000, 2)), labels=["red", "not_red"])
    assert Reference.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d.update(format=9), "training.reference.format"),
    (lambda d: d.update(rows=0), "training.reference.rows"),
    (lambda d: d["features"]["r"]["deciles"].update(values=[3, 2, 1], cdf=[0.1, 0.2, 0.3]), "ascending"),
    (lambda d: d["features"]["r"]["deciles"].update(cdf=[0.9, *d["features"]["r"]["deciles"]["cdf"][1:]]), "rising"),
    (lambda d: d["features"]["r"]["percentiles"].update(values=["a"]), "lists of numbers"),
    (lambda d: d.update(prediction={"classes": {"red": 2}}), "shares from 0 to 1"),
    (lambda d: d.update(prediction={}), "classes or outputs"),
])
def test_a_malformed_reference_is_refused_saying_where(change, says):
    X = np.random.default_rng(2).integers(0, 256, size=(500, 3)).astype(float)
    data = drift.reference(X, ["r", "g", "b"], proba=np.ones((500, 2)), labels=["red", "not_red"]).to_dict()
    change(data)
    with pytest.raises(ReferenceError, match=says):
        Reference.from_dict(data)


def test_a_trained_version_records_its_reference_and_a_broken_one_is_refused(store, tmp_path):
    from core.store import ModelStore
    from trainer import pipeline
    from trainer.tasks import get_task

    task = get_task("xor")
    cfg = task.train.replace(epochs=1)
    published = pipeline.train_task(task, store, config=cfg, data=task.sample(np.random.default_rng(0), 500))
    ref = published.published.info.training.reference
    assert list(ref.features) == list(task.features) and ref.rows == 500 and set(ref.classes) == set(task.labels)
    path = store.path("xor", 1)
    doc = json.loads(path.read_text())
    doc["training"]["reference"]["rows"] = "many"
    (tmp_path / "other" / "xor").mkdir(parents=True)
    (tmp_path / "other" / "xor" / "1.json").write_text(json.dumps(doc))
    with pytest.raises(mlp.ModelFileError, match="training.reference.rows"):
        ModelStore(tmp_path / "other").open("xor", 1)
