"""The seven default models, trained exactly as `make train` does, reach their targets.

Slow-ish (about 20 s in all) but it is the promise `make train` makes. Timing lives in
benchmarks/accuracy.py, never here.
"""

import numpy as np
import pytest

from trainer import pipeline
from trainer.tasks import TASKS


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TASKS))
def test_default_model_meets_its_target(name, store):
    task = TASKS[name]
    result = pipeline.train_task(task, store)
    h = result.metrics["headline"]
    assert h["met"], f"{name}: {h['metric']} on {h['eval_set']} = {h['value']} misses {h['bar']}"
    if name == "red":
        # issue 21: on 20,000 colours drawn uniformly from the integer colours within 8 of
        # the sphere's surface (a fixed draw: the evaluation seed is fixed), >= 99.5% right
        # and an expected calibration error <= 1%; the cube's corners all right.
        m = result.metrics
        assert m["shell"]["n"] == 20_000
        assert m["shell"]["accuracy"] >= 0.995
        assert m["shell"]["ece"] <= 0.01
        assert m["uniform"]["accuracy"] >= 0.999
        assert m["corners"]["accuracy"] == 1.0 and m["corners"]["n"] == 8
        assert m["near_black"]["accuracy"] == 1.0
        assert m["near_white"]["accuracy"] == 1.0
    # the published file reproduces the in-memory model exactly
    loaded = store.load(task.name, result.published.version)
    X, _ = task.sample(np.random.default_rng(9), 100)
    assert (loaded.predict(X) == result.network.predict(X)).all()


def test_training_is_reproducible_end_to_end(store):
    task = TASKS["quadrant"]
    cfg = task.train.replace(epochs=3)
    a = pipeline.train_task(task, store, config=cfg)
    b = pipeline.train_task(task, store, config=cfg)
    assert a.network.theta.tobytes() == b.network.theta.tobytes()
    assert a.record.data_hash == b.record.data_hash
    assert (a.published.version, b.published.version) == (1, 2)


def test_continue_training_records_its_parent_and_keeps_normalisation(store):
    task = TASKS["xor"]
    first = pipeline.train_task(task, store, config=task.train.replace(epochs=2))
    second = pipeline.continue_training(store, "xor", config=task.train.replace(epochs=1, seed=3))
    assert second.published.version == 2
    assert second.network.metadata["parent"] == 1
    assert (second.network.normalizer.shift == first.network.normalizer.shift).all()
    assert store.load("xor", 2).metadata["training"]["config"]["seed"] == 3


def test_a_continued_run_fine_tunes_at_a_tenth_of_the_parents_rate(store):
    task = TASKS["xor"]
    recipe = task.train.replace(epochs=2, learning_rate=0.05, batch_size=32)
    pipeline.train_task(task, store, config=recipe)
    cfg = pipeline.continue_config(store.open("xor", 1), task)
    assert cfg.learning_rate == pytest.approx(0.005)
    assert cfg == recipe.replace(epochs=10, learning_rate=cfg.learning_rate)  # the rest is the parent's
    second = pipeline.continue_training(store, "xor")
    assert store.load("xor", 2).metadata["training"]["config"]["learning_rate"] == pytest.approx(0.005)
    assert second.history.records[0]["lr"] == pytest.approx(0.005)
