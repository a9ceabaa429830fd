"""Training: it learns, it is reproducible, and every knob does what it says."""

import numpy as np
import pytest

import mlp


def blobs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-2, 1, (n // 2, 2)), rng.normal(2, 1, (n // 2, 2))])
    y = np.array(["neg"] * (n // 2) + ["pos"] * (n // 2), dtype=object)
    return X * 50 + 100, y  # raw, unscaled input: the network's normaliser must cope


def net(dtype="float32", **kw):
    cfg = mlp.NetworkConfig(hidden=(8,), activation="tanh", init="xavier_normal", dtype=dtype, **kw)
    return mlp.Network.build(cfg, 2, 2, seed=0, labels=["neg", "pos"])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_each_optimizer_learns_separable_blobs(optimizer):
    X, y = blobs()
    n = net()
    lr = 0.1 if optimizer == "sgd" else 0.02
    hist = mlp.fit(n, X, y, mlp.TrainConfig(epochs=30, batch_size=32, learning_rate=lr, optimizer=optimizer))
    assert hist.records[-1]["loss"] < hist.records[0]["loss"]
    assert np.mean(n.predict(X) == y) > 0.95


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_gives_bit_identical_weights(dtype):
    X, y = blobs()
    cfg = mlp.TrainConfig(epochs=5, batch_size=16, seed=7, samples_per_epoch=200, validation_split=0.2)
    a, b = net(dtype), net(dtype)
    mlp.fit(a, X, y, cfg)
    mlp.fit(b, X, y, cfg)
    assert a.theta.dtype == np.dtype(dtype)
    assert a.theta.tobytes() == b.theta.tobytes()
    c = net(dtype)
    mlp.fit(c, X, y, cfg.replace(seed=8))
    assert c.theta.tobytes() != a.theta.tobytes()


def test_samples_per_epoch_uses_a_subset_each_epoch():
    X, y = blobs(1000)
    seen = []
    n = net()
    orig = n.forward_train
    n.forward_train = lambda x: (seen.append(len(x)), orig(x))[1]
    mlp.fit(n, X, y, mlp.TrainConfig(epochs=2, batch_size=1000, samples_per_epoch=100))
    assert seen == [100, 100]


def test_validation_split_reports_val_metrics():
    X, y = blobs()
    hist = mlp.fit(net(), X, y, mlp.TrainConfig(epochs=3, validation_split=0.25))
    assert {"val_loss", "val_metric"} <= set(hist.records[0])


def test_early_stopping_restores_the_best_weights():
    X, y = blobs()
    Xv, yv = blobs(seed=1)
    yv = np.where(yv == "pos", "neg", "pos")  # validation that gets worse as training improves
    n = net()
    cfg = mlp.TrainConfig(epochs=50, learning_rate=0.05, patience=3)
    snapshots = []
    hist = mlp.fit(n, X, y, cfg, validation=(Xv, yv), callback=lambda r: snapshots.append(n.theta.copy()))
    assert hist.stopped_early
    assert len(hist.records) == hist.best_epoch + 3
    np.testing.assert_array_equal(n.theta, snapshots[hist.best_epoch - 1])


def test_callback_can_stop_training():
    X, y = blobs()

    def stop(record):
        if record["epoch"] == 2:
            raise mlp.StopTraining

    hist = mlp.fit(net(), X, y, mlp.TrainConfig(epochs=10), callback=stop)
    assert len(hist.records) == 2 and hist.stopped_early


def test_clip_norm_bounds_every_update():
    from mlp.optimizers import clip_gradients

    g = [np.array([3.0, 4.0]), np.array([12.0])]
    clip_gradients(g, clip_norm=1.3, clip_value=None)
    assert np.sqrt(sum((x**2).sum() for x in g)) == pytest.approx(1.3)
    g = [np.array([3.0, -4.0])]
    clip_gradients(g, clip_norm=None, clip_value=1.0)
    np.testing.assert_array_equal(g[0], [1.0, -1.0])


def test_sgd_with_clip_value_moves_each_weight_by_at_most_lr_times_clip():
    X, y = blobs()
    n = net()
    before = n.theta.copy()
    mlp.fit(n, X[:8], y[:8], mlp.TrainConfig(epochs=1, batch_size=8, optimizer="sgd",
                                             learning_rate=0.5, clip_value=0.01))
    assert np.max(np.abs(n.theta - before)) <= 0.5 * 0.01 + 1e-7


def test_learning_rate_schedules():
    from mlp.optimizers import schedule_factor

    assert schedule_factor("constant", 5, 10, 0.1, 3) == 1.0
    assert schedule_factor("step", 7, 10, 0.5, 3) == 0.25
    assert schedule_factor("exponential", 2, 10, 0.5, 3) == 0.25
    assert schedule_factor("cosine", 0, 11, 0.1, 3) == pytest.approx(1.0)
    assert schedule_factor("cosine", 10, 11, 0.1, 3) == pytest.approx(0.1)
    X, y = blobs()
    hist = mlp.fit(net(), X, y, mlp.TrainConfig(epochs=3, schedule="exponential", decay=0.5))
    assert [r["lr"] for r in hist.records] == pytest.approx([0.01, 0.005, 0.0025])


def test_regression_learns_a_linear_function_in_raw_units():
    rng = np.random.default_rng(0)
    X = rng.uniform([500, 1], [3000, 5], size=(2000, 2))
    y = 100 + 0.15 * X[:, 0] + 50 * X[:, 1]
    cfg = mlp.NetworkConfig(hidden=(8,), output="linear", loss="mse")
    n = mlp.Network.build(cfg, 2, 1)
    mlp.fit(n, X, y, mlp.TrainConfig(epochs=40, batch_size=32))
    assert np.sqrt(np.mean((n.predict(X) - y) ** 2)) < 5.0


def test_divergence_is_reported_not_hidden():
    X, y = blobs()
    cfg = mlp.NetworkConfig(hidden=(8,), output="linear", loss="mse")
    n = mlp.Network.build(cfg, 2, 1)
    with pytest.raises(mlp.ConfigError, match="diverged"):
        mlp.fit(n, X, np.where(y == "pos", 1e30, -1e30), mlp.TrainConfig(epochs=50, optimizer="sgd", learning_rate=10))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs must be a whole number"),
        ({"learning_rate": 0}, "learning_rate must be a number in \\(0"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"schedule": "linear"}, "schedule must be one of"),
        ({"restore_best": "yes"}, "restore_best must be true or false"),
        ({"clip_norm": -1}, "clip_norm"),
    ],
)
def test_bad_train_configs_are_refused(changes, message):
    with pytest.raises(mlp.ConfigError, match=message):
        mlp.TrainConfig(**changes)


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(mlp.ConfigError, match="unknown TrainConfig field"):
        mlp.TrainConfig.from_dict({"epocs": 3})


def test_bad_training_data_is_refused():
    n = net()
    with pytest.raises(mlp.ConfigError, match="unknown label 'maybe'"):
        mlp.fit(n, np.zeros((2, 2)), ["neg", "maybe"], mlp.TrainConfig(epochs=1))
    with pytest.raises(mlp.ConfigError, match="finite"):
        mlp.fit(n, np.array([[np.nan, 0.0], [1.0, 1.0]]), ["neg", "pos"], mlp.TrainConfig(epochs=1))
    with pytest.raises(mlp.ConfigError, match="shape"):
        mlp.fit(n, np.zeros((2, 3)), ["neg", "pos"], mlp.TrainConfig(epochs=1))


def test_optimizer_state_resumes_adam():
    X, y = blobs()
    n = net()
    mlp.fit(n, X, y, mlp.TrainConfig(epochs=2))
    t = n.optimizer_state["state"]["t"]
    restored = mlp.loads(mlp.dumps(n))
    mlp.fit(restored, X, y, mlp.TrainConfig(epochs=1, batch_size=64))
    assert restored.optimizer_state["state"]["t"] == t + int(np.ceil(len(X) / 64))


def _count_batches(monkeypatch) -> list:
    trained = []
    real = mlp.Network.backward

    def counted(network, *args, **kwargs):
        trained.append(1)
        return real(network, *args, **kwargs)

    monkeypatch.setattr(mlp.Network, "backward", counted)
    return trained


def test_should_stop_ends_training_between_two_batches(monkeypatch):
    # An epoch of one-row batches can take minutes: a cancel must not wait for its end
    X, y = blobs()
    trained, asked = _count_batches(monkeypatch), []
    n = net()
    before = n.predict_proba(X)

    def stop_after_five_batches():
        asked.append(len(trained))
        return len(trained) == 5

    hist = mlp.fit(n, X, y, mlp.TrainConfig(epochs=3, batch_size=1), should_stop=stop_after_five_batches,
                   stop_every=0)
    assert len(trained) == 5 and asked == [0, 1, 2, 3, 4, 5]  # asked before every batch, stopped at once
    assert hist.records == [] and hist.stopped_early and hist.stopped_mid_epoch
    after = n.predict_proba(X)  # the five batches' weights answer (not a cached copy of the old ones)
    assert not np.allclose(after, before)
    _, acts = n.forward_train(n.normalize(X))
    np.testing.assert_allclose(after, acts[-1], rtol=1e-5, atol=1e-6)


def test_should_stop_is_asked_at_most_every_stop_every_seconds(monkeypatch):
    X, y = blobs()
    asked = []
    hist = mlp.fit(net(), X, y, mlp.TrainConfig(epochs=2, batch_size=1),
                   should_stop=lambda: asked.append(1), stop_every=3600)
    assert asked == [] and len(hist.records) == 2 and not hist.stopped_early


def test_an_exception_from_should_stop_abandons_training():
    X, y = blobs()

    class Cancelled(Exception):
        pass

    def cancelled():
        raise Cancelled

    with pytest.raises(Cancelled):
        mlp.fit(net(), X, y, mlp.TrainConfig(epochs=2, batch_size=1), should_stop=cancelled, stop_every=0)
