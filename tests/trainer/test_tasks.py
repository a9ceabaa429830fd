"""The seven tasks: their rules, samplers and evaluation sets."""

import numpy as np
import pytest

from trainer.tasks import TASKS, get_task
from trainer.tasks.red import CENTRE


def test_the_seven_tasks():
    assert list(TASKS) == ["red", "xor", "sine", "checkerboard", "quadrant", "iris", "house_prices"]


@pytest.mark.parametrize("name", list(TASKS))
def test_samples_lie_within_the_declared_bounds_and_labels(name):
    task = get_task(name)
    X, y = task.sample(np.random.default_rng(0), 2000)
    assert X.shape == (2000, len(task.features))
    assert np.all(np.array(task.low) <= X) and np.all(np.array(task.high) >= X)
    if task.dtype == "int":
        assert np.issubdtype(X.dtype, np.integer)
    if task.is_classifier:
        assert set(y) <= set(task.labels)
        assert len(set(y)) == len(task.labels), "every class appears"


def test_rules_on_known_points():
    assert list(get_task("red").truth([[255, 0, 0], [128, 0, 0], [127, 0, 0], [0, 0, 255]])) == [
        "red", "red", "not_red", "not_red"]
    assert list(get_task("xor").truth([[0, 0], [1, 0], [0, 1], [1, 1]])) == ["0", "1", "1", "0"]
    assert list(get_task("sine").truth([[np.pi / 2, 1.1], [np.pi / 2, 0.9]])) == ["above", "below"]
    assert list(get_task("checkerboard").truth([[0.5, 0.5], [1.5, 0.5], [3.5, 3.5]])) == [
        "black", "white", "black"]
    assert list(get_task("quadrant").truth([[1, 1], [-1, 1], [-1, -1], [1, -1]])) == ["Q1", "Q2", "Q3", "Q4"]
    assert get_task("house_prices").truth([[1000, 2, 10]])[0] == pytest.approx(100 + 150 + 100 - 20)


def test_red_sampler_covers_corners_and_the_boundary():
    X, _ = get_task("red").sample(np.random.default_rng(0), 10_000)
    d = np.linalg.norm(X - CENTRE, axis=1)
    assert np.mean(np.abs(d - 127) <= 12) > 0.25
    assert np.mean(np.linalg.norm(X, axis=1) <= 64) > 0.08
    assert np.mean(np.linalg.norm(X - 255, axis=1) <= 64) > 0.08


def test_red_evaluation_sets_are_what_they_say():
    sets = get_task("red").evaluation_sets(np.random.default_rng(1))
    assert len(sets["uniform"][0]) == 200_000
    shell = sets["shell"][0]
    assert np.all(np.abs(np.linalg.norm(shell - CENTRE, axis=1) - 127) <= 8)
    assert np.all(np.linalg.norm(sets["near_black"][0], axis=1) <= 64)
    assert np.all(np.linalg.norm(sets["near_white"][0] - 255, axis=1) <= 64)


def test_iris_is_the_real_table_with_a_stratified_hold_out():
    task = get_task("iris")
    X, y = task.rows
    assert X.shape == (150, 4)
    assert X[0].tolist() == [5.1, 3.5, 1.4, 0.2] and y[0] == "setosa"
    train, held = task.split
    assert len(held) == 45 and not set(train) & set(held)
    assert {lab: int(np.sum(y[held] == lab)) for lab in task.labels} == dict.fromkeys(task.labels, 15)


def test_house_prices_noise_is_the_stated_normal():
    task = get_task("house_prices")
    X, y = task.sample(np.random.default_rng(0), 50_000)
    resid = y - task.truth(X)
    assert abs(resid.mean()) < 0.5 and abs(resid.std() - 20) < 0.5
