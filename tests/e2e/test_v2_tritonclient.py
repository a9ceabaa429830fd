"""V2 conformance with the real tritonclient HTTP client (JSON tensors)."""

from __future__ import annotations

import numpy as np
import pytest

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in the dev extra")
from tritonclient.utils import InferenceServerException  # noqa: E402

from trainer.tasks import TASKS  # noqa: E402


@pytest.fixture
def client(server):
    c = httpclient.InferenceServerClient(url=server.base.removeprefix("http://"))
    yield c
    c.close()


def test_server_live_ready_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "tinymlp"


def test_model_metadata_and_ready(client):
    meta = client.get_model_metadata("red")
    assert meta["inputs"][0]["name"] == "input" and meta["inputs"][0]["shape"] == [-1, 3]
    assert {o["name"] for o in meta["outputs"]} == {"probabilities", "label"}
    assert client.is_model_ready("red")
    assert client.is_model_ready("red", "1")
    assert not client.is_model_ready("red", "99")


@pytest.mark.parametrize(("name", "rows", "dtype"), [
    ("red", [[255, 0, 0], [0, 0, 255]], "FP32"),
    ("red", [[255, 0, 0]], "INT64"),
    ("quadrant", [[1.0, 1.0], [-1.0, -1.0]], "FP32"),
])
def test_infer(client, name, rows, dtype):
    arr = np.array(rows, dtype={"FP32": np.float32, "INT64": np.int64}[dtype])
    inp = httpclient.InferInput("input", list(arr.shape), dtype)
    inp.set_data_from_numpy(arr, binary_data=False)
    outs = [httpclient.InferRequestedOutput("probabilities", binary_data=False),
            httpclient.InferRequestedOutput("label", binary_data=False)]
    result = client.infer(name, inputs=[inp], outputs=outs)
    proba = result.as_numpy("probabilities")
    assert proba.shape == (len(rows), len(TASKS[name].labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    labels = result.as_numpy("label")
    assert labels.shape == (len(rows),)


def _zeros_input(binary: bool):
    inp = httpclient.InferInput("input", [1, 3], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32), binary_data=binary)
    return inp


def test_unknown_model_is_an_error(client):
    with pytest.raises(InferenceServerException, match="No model named 'purple'"):
        client.infer("purple", inputs=[_zeros_input(binary=False)])


def test_binary_tensors_get_a_clear_400(client):
    with pytest.raises(InferenceServerException, match="binary tensor data is not supported"):
        client.infer("red", inputs=[_zeros_input(binary=True)])
