"""``python -m trainer import-sklearn`` and ``import_sklearn``: scikit-learn's MLPs from skops
files, served by /predict with the estimator's own answers (within 1e-6 over 10,000 rows) for
every activation, output kind and scaler; pickles, damaged files and anything else refused in
one line with nothing published."""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import sklearn
import skops.io as sio
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

from core.store import ModelStore
from service import create_app
from service.config import Config
from trainer.sklearn_import import SklearnImportError, import_sklearn

PARITY = 1e-6
SCALE, SHIFT = np.array([1.0, 10.0, 100.0]), np.array([0.0, 50.0, 1000.0])
KINDS = ("binary", "multiclass", "regressor", "multi_output")
SCALERS = {"none": None, "standard": StandardScaler, "minmax": MinMaxScaler}


def features(n, seed=0) -> np.ndarray:
    """Rows of three features on very different scales."""
    return np.random.default_rng(seed).normal(size=(n, 3)) * SCALE + SHIFT


def targets(kind: str, X: np.ndarray):
    z = (X - SHIFT) / SCALE
    if kind == "binary":
        return (z[:, 0] + z[:, 1] > 0).astype(int)  # classes 0 and 1: one logistic unit
    if kind == "multiclass":
        return np.array(["setosa", "versicolor", "virginica"])[np.digitize(z[:, 0] - z[:, 2], [-0.5, 0.5])]
    y = np.column_stack([300 * z[:, 0] + 20 * z[:, 1] ** 2, z[:, 2] - z[:, 0]])
    return y[:, 0] if kind == "regressor" else y


def fitted(kind: str, activation: str = "relu", scaler: str = "none", *, n=400, **mlp_options):
    X = features(n)
    cls = MLPRegressor if kind in ("regressor", "multi_output") else MLPClassifier
    est = cls(hidden_layer_sizes=(8, 6), activation=activation, max_iter=40, random_state=0, **mlp_options)
    if SCALERS[scaler] is not None:
        est = make_pipeline(SCALERS[scaler](), est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few iterations: parity, not accuracy
        return est.fit(X, targets(kind, X))






def client(models):
    app = create_app(Config(models_dir=str(models), state_dir=str(models.parent / "state"), start_reloader=False,
                            log_level="WARNING"))
    return app.test_client()


def probe_rows(est, n=10_000) -> np.ndarray:
    """Rows the served model accepts: within a MinMaxScaler's data range (its bounds), else drawn
    like the training data, wider."""
    steps = getattr(est, "steps", [])
    rng = np.random.default_rng(1)
    if steps and isinstance(steps[0][1], MinMaxScaler):
        s = steps[0][1]
        return rng.uniform(s.data_min_, s.data_max_, size=(n, 3))
    return rng.normal(size=(n, 3)) * 1.5 * SCALE + SHIFT


def predict(models, name, X) -> list[dict]:
    resp = client(models).post(f"/predict/{name}", json={"inputs": X.tolist()})
    assert resp.status_code == 200, resp.json
    return resp.json["predictions"]


@pytest.mark.parametrize("scaler", sorted(SCALERS))
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("kind", KINDS)
def test_predict_answers_what_the_estimator_answers(kind, activation, scaler, run, models, tmp_path):
    est = fitted(kind, activation, scaler)
    sio.dump(est, tmp_path / "model.skops")
    code, out, err = run("import-sklearn", str(tmp_path / "model.skops"), "--name", "imported")
    assert code == 0, err
    assert out.startswith(f"imported {tmp_path / 'model.skops'} (") and "as imported version 1" in out
    X = probe_rows(est)
    answers = predict(models, "imported", X)
    if kind in ("binary", "multiclass"):
        labels = [str(c) for c in est.classes_]
        served = np.array([[a["probabilities"][label] for label in labels] for a in answers])
        assert np.max(np.abs(served - est.predict_proba(X))) <= PARITY
        assert [a["label"] for a in answers] == [str(c) for c in est.predict(X)]
    else:
        served = np.array([a["value"] for a in answers])
        expected = est.predict(X)
        assert served.shape == expected.shape  # one number a row for a single output, a list for several
        assert np.max(np.abs(served - expected) / np.maximum(np.abs(expected), 1.0)) <= PARITY


def test_the_version_says_where_it_came_from(run, models, tmp_path):
    est = fitted("multiclass", "tanh", "standard")
    sio.dump(est, tmp_path / "iris-mlp.skops")
    code, _, err = run("import-sklearn", str(tmp_path / "iris-mlp.skops"), "--name", "flowers")
    assert code == 0, err
    code, _, err = run("import-sklearn", str(tmp_path / "iris-mlp.skops"), "--name", "flowers")
    assert code == 0, err
    model = ModelStore(models).open("flowers", 2)
    info = model.info
    assert info.task is None and info.parent is None and info.headline is None
    assert info.output.labels == ("setosa", "versicolor", "virginica")
    assert info.input.features == ("x0", "x1", "x2") and info.input.low == (-np.inf,) * 3
    record = info.training
    assert record.trained_by == "imported" and record.source == "iris-mlp.skops"
    assert record.source_sha256 == hashlib.sha256((tmp_path / "iris-mlp.skops").read_bytes()).hexdigest()
    assert record.estimator == "Pipeline(StandardScaler, MLPClassifier)"
    assert record.sklearn_version == sklearn.__version__
    assert model.network.dtype == np.float64
    detail = client(models).get("/models/flowers/versions/2").json
    assert detail["task"] is None and detail["training"]["estimator"] == "Pipeline(StandardScaler, MLPClassifier)"


def test_features_and_bounds(run, models, tmp_path):
    est = fitted("binary", scaler="minmax")
    sio.dump(est, tmp_path / "m.skops")
    code, _, err = run("import-sklearn", str(tmp_path / "m.skops"), "--name", "ranged")
    assert code == 0, err
    spec = ModelStore(models).open("ranged").info.input
    scaler = est.steps[0][1]
    assert spec.low == tuple(scaler.data_min_) and spec.high == tuple(scaler.data_max_)  # the scaler's range
    code, _, err = run("import-sklearn", str(tmp_path / "m.skops"), "--name", "named", "--features", "a, b,c",
                       "--low", "-1000", "--high", "5,100,2000")
    assert code == 0, err
    spec = ModelStore(models).open("named").info.input
    assert spec.features == ("a", "b", "c") and spec.low == (-1000.0,) * 3 and spec.high == (5.0, 100.0, 2000.0)
    resp = client(models).post("/predict/named", json={"inputs": [{"a": 0, "b": 50, "c": 2500}]})
    assert resp.status_code == 422 and "c" in resp.json["message"]  # the bounds are the served model's


def test_feature_names_come_from_the_estimator(models):
    est = fitted("regressor")
    est.feature_names_in_ = np.array(["sqft", "rooms", "age"], dtype=object)  # as a DataFrame fit sets it
    published = import_sklearn(ModelStore(models), est, name="houses")
    assert published.info.input.features == ("sqft", "rooms", "age")
    assert published.info.training.source is None and published.info.training.estimator == "MLPRegressor"


@pytest.mark.parametrize("argv, message", [
    (["--features", "a,b"], "error: 2 feature names given, but the estimator takes 3 features"),
    (["--features", "a,a,b"], "error: input feature names must be unique"),
    (["--low", "0,x,1"], "error: --low takes numbers separated by commas"),
    (["--low", "0,1"], "error: low bounds must be one number, or 3 (one per feature)"),
    (["--low", "5", "--high", "1"], "error: input low bounds [5.0, 5.0, 5.0] exceed high bounds"),
    (["--name", "Bad Name"], "error: invalid model name 'Bad Name'"),
])
def test_bad_options_are_one_line_and_publish_nothing(run, models, tmp_path, argv, message):
    sio.dump(fitted("binary"), tmp_path / "m.skops")
    name = [] if "--name" in argv else ["--name", "m"]
    code, out, err = run("import-sklearn", str(tmp_path / "m.skops"), *name, *argv)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1
    assert not models.exists() or not any(models.iterdir())


def double(X):
    return 2 * X


class Refused:
    """Files and estimators that are not imported, each with the start of its one-line message."""

    @staticmethod
    def pickle(path):
        path = path.with_suffix(".skops")  # the name does not matter: the content is a pickle
        path.write_bytes(pickle.dumps(fitted("binary")))
        return path, "is a pickle: tinymlp never loads pickles, since loading one runs whatever code it holds"

    @staticmethod
    def old_pickle(path):
        path = path.with_suffix(".pkl")
        path.write_bytes(pickle.dumps([1, 2], protocol=0))
        return path, "is a pickle"

    @staticmethod
    def random_bytes(path):
        path.write_bytes(np.random.default_rng(0).bytes(4096))
        return path, "is not a skops file (a zip archive holding schema.json)"

    @staticmethod
    def truncated(path):
        sio.dump(fitted("binary"), path)
        path.write_bytes(path.read_bytes()[:1000])
        return path, "is not a skops file"

    @staticmethod
    def damaged_schema(path):
        sio.dump(fitted("binary"), path)
        with zipfile.ZipFile(path) as z:
            entries = {n: z.read(n) for n in z.namelist()}
        schema = json.loads(entries["schema.json"])
        schema["content"]["content"]["coefs_"] = {"__class__": "list", "__module__": "builtins",
                                                  "__loader__": "NoSuchNode", "content": 3}
        entries["schema.json"] = json.dumps(schema).encode()
        with zipfile.ZipFile(path, "w") as z:
            for n, data in entries.items():
                z.writestr(n, data)
        return path, "is a damaged or unreadable skops file"

    @staticmethod
    def untrusted_function(path):
        sio.dump(make_pipeline(FunctionTransformer(double), fitted("binary")), path)
        return path, "holds types tinymlp does not load: tests.trainer.test_sklearn_import.double"

    @staticmethod
    def another_estimator(path):
        sio.dump(LogisticRegression().fit(features(50), targets("binary", features(50))), path)
        return path, "tinymlp imports a fitted MLPClassifier or MLPRegressor, alone or after one StandardScaler " \
                     "or MinMaxScaler in a Pipeline; this is LogisticRegression"

    @staticmethod
    def two_scalers(path):
        est = make_pipeline(StandardScaler(), MinMaxScaler(), MLPClassifier(max_iter=5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(features(50), targets("binary", features(50)))
        sio.dump(est, path)
        return path, "this is Pipeline(StandardScaler, MinMaxScaler, MLPClassifier)"

    @staticmethod
    def multilabel(path):
        X = features(100)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(max_iter=5).fit(X, np.column_stack([X[:, 0] > 0, X[:, 1] > 50]).astype(int))
        sio.dump(est, path)
        return path, "a multi-label MLPClassifier (several logistic outputs) is not imported"

    @staticmethod
    def clipping_scaler_wider_bounds(path):
        est = fitted("binary", scaler="minmax")
        est.steps[0][1].clip = True
        sio.dump(est, path)
        return path, "MinMaxScaler(clip=True) clips inputs outside the data range"

    @staticmethod
    def missing(path):
        return path.with_name("nowhere.skops"), "cannot read"


@pytest.mark.parametrize("case", [c for c in vars(Refused) if not c.startswith("_")])
def test_refused_in_one_line_with_nothing_published(case, run, models, tmp_path):
    path, message = getattr(Refused, case)(tmp_path / "model.skops")
    extra = ["--low=-1e6"] if case == "clipping_scaler_wider_bounds" else []
    code, out, err = run("import-sklearn", str(path), "--name", "imported", *extra)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    if case in ("pickle", "old_pickle", "random_bytes", "truncated", "damaged_schema"):
        assert 'skops.io.dump(estimator, "model.skops")' in err  # how to save it so that it imports
    assert not models.exists() or not any(models.iterdir())


def test_an_unfitted_estimator_is_refused(models):
    with pytest.raises(SklearnImportError, match="the MLPClassifier is not fitted"):
        import_sklearn(ModelStore(models), MLPClassifier(), name="raw")


@pytest.mark.parametrize("command", [["continue", "m"], ["evaluate", "m"], ["plot", "m"]])
def test_commands_that_need_a_task_say_why_they_cannot_run(command, run, models, tmp_path):
    import_sklearn(ModelStore(models), fitted("binary"), name="m")
    code, out, err = run(*command)
    assert code == 1 and out == ""
    assert err == ("error: m version 1 has no task (it was imported), so there is no data to train, evaluate or "
                   "draw it with; import a new version instead\n")
    code, out, _ = run("list")
    assert code == 0 and "m" in out and "served v1" in out


@pytest.mark.parametrize("scaler", [StandardScaler(with_mean=False), StandardScaler(with_std=False),
                                    MinMaxScaler(feature_range=(-1, 2))], ids=repr)
def test_scaler_options_fold_exactly(scaler, models):
    X = features(300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = make_pipeline(scaler, MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0))
        est.fit(X, targets("multiclass", X))
    net = import_sklearn(ModelStore(models), est, name="scaled").network
    rows = probe_rows(est) if isinstance(scaler, StandardScaler) else np.random.default_rng(2).uniform(
        scaler.data_min_, scaler.data_max_, size=(10_000, 3))
    assert np.max(np.abs(net.predict_proba(rows) - est.predict_proba(rows))) <= PARITY
