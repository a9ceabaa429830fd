"""The seven tasks: their rules, samplers and evaluation sets."""

import numpy as np
import pytest

from trainer.tasks import TASKS, get_task
from trainer.tasks.red import CENTRE, lattice_shell


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
    assert np.mean(np.abs(d - 127) <= 1) > 0.65  # the thin band, where the errors are
    assert np.mean(np.abs(d - 127) <= 8) > 0.75
    assert np.mean(np.linalg.norm(X, axis=1) <= 64) > 0.04
    assert np.mean(np.linalg.norm(X - 255, axis=1) <= 64) > 0.04
    assert np.mean(np.abs(d - 127) > 8) > 0.1  # and the rest of the cube


def test_red_truth_is_exact_on_the_surface():
    # colours at distance exactly 127 are red (91^2 + 78^2 + 42^2 == 127^2); one step out is not
    on = [[128, 0, 0], [255, 127, 0], [255 - 91, 78, 42]]
    assert all(sum((np.array(p) - CENTRE) ** 2) == 127**2 for p in on)
    assert list(get_task("red").truth(on)) == ["red"] * 3
    assert list(get_task("red").truth([[127, 0, 0], [255, 127, 1], [255 - 91, 78, 43]])) == ["not_red"] * 3


@pytest.mark.parametrize("centre, r_low, r_high", [
    (CENTRE, 3, 5),  # a corner: 76 colours, r only below the centre's
    ((128, 128, 128), 2, 3),  # inside the cube: r on both sides of the centre's
    ((0, 0, 0), 0, 4.5),  # a ball, and a radius that is not a whole number
])
def test_lattice_shell_is_uniform_over_the_integer_colours_in_the_shell(centre, r_low, r_high):
    # Every integer colour of the shell appears (about 1,000 times or more), nothing else
    # does, and the counts fit a uniform distribution: chi-square per degree of freedom
    # near 1 (rounding continuous points, the sampler before issue 21, gives ~76 at the corner).
    centre = np.asarray(centre)
    axes = [np.arange(max(0, c - 5), min(255, c + 5) + 1) for c in centre]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    d2 = ((grid - centre) ** 2).sum(axis=1)
    colours = grid[(d2 >= r_low**2) & (d2 <= r_high**2)]
    X = lattice_shell(np.random.default_rng(0), centre, r_low, r_high, 100_000)
    assert X.shape == (100_000, 3) and np.issubdtype(X.dtype, np.integer)
    found, counts = np.unique(X, axis=0, return_counts=True)
    assert found.tolist() == np.unique(colours, axis=0).tolist()
    expected = len(X) / len(colours)
    assert np.sum((counts - expected) ** 2 / expected) / (len(colours) - 1) < 1.5


def test_red_evaluation_sets_are_what_they_say():
    sets = get_task("red").evaluation_sets(np.random.default_rng(1))
    assert len(sets["uniform"][0]) == 200_000
    shell = sets["shell"][0]
    assert len(shell) == 20_000 and np.issubdtype(shell.dtype, np.integer)
    assert np.all(np.abs(np.linalg.norm(shell - CENTRE, axis=1) - 127) <= 8)
    assert sorted(map(tuple, sets["corners"][0])) == [(r, g, b) for r in (0, 255) for g in (0, 255)
                                                       for b in (0, 255)]
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
