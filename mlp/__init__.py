"""tinymlp's numpy neural-network library.

    import mlp
    net = mlp.load("models/red/3.json")
    net.predict([[255, 0, 0]])        # array(['red'], dtype=object)
    net.predict_proba([[255, 0, 0]])  # (1, 2), columns in the order of net.labels

Build and train::

    net = mlp.Network.build(mlp.NetworkConfig(hidden=(32, 32)), 3, 2, labels=["red", "not_red"])
    history = mlp.fit(net, X, y, mlp.TrainConfig(epochs=50))
    mlp.save(net, "red.json")

Export (needs the onnx package; raw rows in, plain tensors out)::

    open("red.onnx", "wb").write(mlp.to_onnx(net, metadata={"name": "red", "version": 3}))
"""

from mlp.activations import ACTIVATIONS, get_activation
from mlp.config import NetworkConfig, TrainConfig
from mlp.errors import ConfigError, MLPError, ModelFileError
from mlp.initializers import INITIALIZERS
from mlp.layers import Dense, Normalizer
from mlp.legacy import load_legacy
from mlp.losses import LOSSES
from mlp.network import BATCH_TOLERANCE, Network
from mlp.onnx_export import ExportError, to_onnx
from mlp.optimizers import OPTIMIZERS
from mlp.serialization import dumps, from_dict, load, load_file, loads, save, to_dict
from mlp.spec import InputSpec
from mlp.training import History, StopTraining, evaluate_batch, fit

__all__ = [
    "ACTIVATIONS", "BATCH_TOLERANCE", "INITIALIZERS", "LOSSES", "OPTIMIZERS",
    "ConfigError", "Dense", "ExportError", "History", "InputSpec", "MLPError", "ModelFileError", "Network",
    "NetworkConfig", "Normalizer", "StopTraining", "TrainConfig",
    "dumps", "evaluate_batch", "fit", "from_dict", "get_activation", "load", "load_file", "load_legacy",
    "loads", "save", "to_dict", "to_onnx",
]
