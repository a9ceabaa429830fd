"""The network: a stack of dense layers, its input normalisation, loss and labels.

``Network.build`` makes a fresh network from a ``NetworkConfig``; ``predict``,
``predict_proba`` and ``predict_values`` take raw input (the normaliser is
part of the model). Inference folds the normaliser into the first layer's
weights once, so a prediction costs the same as a bare forward pass.

What a row's answer promises: the same row gives the same output whatever batch it comes
in, to float32 precision, not bit for bit. The matrix products go to the BLAS, which picks
its kernel by the batch's shape and by the CPU (``OPENBLAS_CORETYPE`` chooses another CPU's),
and kernels sum in different orders: the last bits of a float32 may differ, and the difference
grows with the layers' widths. Outputs agree within ``BATCH_TOLERANCE`` times the row's
largest output (at least 1: probabilities agree within it absolutely), so a label changes
only where two classes are that close. Bit-for-bit answers would need a summation
order of our own, several times the cost of a one-row predict.
"""

from __future__ import annotations

import numpy as np

from mlp.activations import Activation, Linear, Sigmoid, Softmax, Tanh, get_activation
from mlp.config import NetworkConfig
from mlp.errors import ConfigError
from mlp.initializers import get_initializer
from mlp.layers import Dense, Normalizer
from mlp.losses import Loss, check_pair, get_loss
from mlp.spec import InputSpec

BATCH_TOLERANCE = 1e-5  # see the module's docstring: a row alone and in a batch agree this closely


class Network:
    def __init__(
        self,
        layers: list[Dense],
        *,
        loss: Loss | None = None,
        labels: list[str] | None = None,
        normalizer: Normalizer | None = None,
        target_normalizer: Normalizer | None = None,
        input_spec: InputSpec | None = None,
        dtype: str = "float32",
        config: NetworkConfig | None = None,
        metadata: dict | None = None,
    ):
        if not layers:
            raise ConfigError("a network needs at least one layer")
        for below, above in zip(layers, layers[1:]):
            if below.n_out != above.n_in:
                raise ConfigError(
                    f"layer sizes do not chain: a layer of {below.n_out} outputs "
                    f"feeds a layer of {above.n_in} inputs"
                )
        self.layers = layers
        self.loss = loss
        if loss is not None:
            check_pair(layers[-1].activation, loss)
        self.labels = list(labels) if labels is not None else None
        if self.labels is not None:
            n_out = layers[-1].n_out
            if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2:
                raise ConfigError(f"labels must be 2 or more distinct names, got {self.labels}")
            if not (n_out == len(self.labels) or (n_out == 1 and len(self.labels) == 2)):
                raise ConfigError(
                    f"{len(self.labels)} labels do not fit an output layer of {n_out} units"
                )
        self.normalizer = normalizer
        self.target_normalizer = target_normalizer
        if target_normalizer is not None:
            if self.labels is not None or not isinstance(layers[-1].activation, Linear):
                raise ConfigError("target normalisation is only for regressors with a linear output")
            if target_normalizer.shift.shape != (layers[-1].n_out,):
                raise ConfigError(f"target normaliser must have {layers[-1].n_out} outputs")
        self.input_spec = input_spec or InputSpec.generic(layers[0].n_in)
        if self.input_spec.n_features != self.n_inputs:
            raise ConfigError(
                f"input spec names {self.input_spec.n_features} features "
                f"but the network takes {self.n_inputs}"
            )
        if normalizer is not None and normalizer.shift.shape != (self.n_inputs,):
            raise ConfigError(f"normaliser must have {self.n_inputs} features")
        self.dtype = np.dtype(dtype)
        self.config = config
        self.metadata = dict(metadata or {})
        self.optimizer_state: dict | None = None
        self._folded: list[tuple[np.ndarray, np.ndarray, Activation]] | None = None
        self._flatten()

    def _flatten(self) -> None:
        # All weights and biases live in one flat vector (and their gradients in
        # another), each layer holding views: the optimizer and gradient clipping
        # then touch one array per step instead of two per layer.
        total = sum(la.W.size + la.b.size for la in self.layers)
        self.theta = np.empty(total, dtype=self.dtype)
        self.grad = np.zeros(total, dtype=self.dtype)
        self._grad_views = []
        at = 0
        for la in self.layers:
            for name in ("W", "b"):
                arr = getattr(la, name)
                view = self.theta[at : at + arr.size].reshape(arr.shape)
                view[...] = arr
                setattr(la, name, view)
                self._grad_views.append(self.grad[at : at + arr.size].reshape(arr.shape))
                at += arr.size

    def __getstate__(self) -> dict:
        # Each layer's W and b are views of theta: pickled as they are, the weights would travel
        # twice and come back as separate arrays. They travel once, in the layers, and theta is
        # built again on arrival (a model read in a child process comes back this way).
        state = self.__dict__.copy()
        for derived in ("theta", "grad", "_grad_views", "_folded"):
            state.pop(derived, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._folded = None
        self._flatten()

    # -- construction ----------------------------------------------------------------

    @classmethod
    def build(
        cls,
        config: NetworkConfig,
        n_inputs: int,
        n_outputs: int,
        *,
        seed: int | np.random.Generator = 0,
        labels: list[str] | None = None,
        input_spec: InputSpec | None = None,
    ) -> Network:
        """A fresh network with initialised weights and zero biases."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        init = get_initializer(config.init, config.init_params)
        hidden = get_activation(config.activation, config.activation_params)
        sizes = [n_inputs, *config.hidden, n_outputs]
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
            last = i == len(sizes) - 2
            act = get_activation(config.output) if last else hidden
            W = init(rng, fan_in, fan_out, config.dtype)
            layers.append(Dense(W, np.zeros(fan_out, dtype=config.dtype), act))
        return cls(
            layers,
            loss=get_loss(config.loss),
            labels=labels,
            input_spec=input_spec,
            dtype=config.dtype,
            config=config,
        )

    # -- shape -------------------------------------------------------------------------

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def is_classifier(self) -> bool:
        return self.labels is not None

    def parameters(self) -> list[np.ndarray]:
        """The arrays training updates in place: one flat vector of every weight and bias."""
        return [self.theta]

    def weights_changed(self) -> None:
        """Call after updating parameters in place: drops the folded inference weights."""
        self._folded = None

    # -- training passes -------------------------------------------------------------

    def forward_train(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """x: normalised (n, n_inputs) -> (zs, activations); activations[0] is x."""
        zs, acts = [], [x]
        for layer in self.layers:
            z, x = layer.forward(x)
            zs.append(z)
            acts.append(x)
        return zs, acts

    def backward(self, zs, acts, target) -> tuple[float, list[np.ndarray]]:
        """Loss and gradients (aligned with ``parameters()``) for one batch from ``forward_train``."""
        loss = self.loss.forward(zs[-1], acts[-1], target)
        delta = self.loss.backward(zs[-1], acts[-1], target)
        for i in range(len(self.layers) - 1, -1, -1):
            gW, gb = self._grad_views[2 * i], self._grad_views[2 * i + 1]
            dx = self.layers[i].backward(acts[i], delta, gW, gb, need_input_grad=i > 0)
            if i > 0:
                delta = self.layers[i - 1].activation.backward(zs[i - 1], acts[i], dx)
        return loss, [self.grad]

    def normalize(self, X) -> np.ndarray:
        if self.normalizer is None:
            return np.asarray(X, dtype=self.dtype)
        return self.normalizer(X, self.dtype)

    # -- inference --------------------------------------------------------------------

    def _folded_layers(self):
        # Input normalisation folds into the first layer:
        #   (x - s) / c @ W + b == x @ (W / c[:, None]) + (b - (s / c) @ W)
        # and target normalisation of a linear output into the last:
        #   (x @ W + b) * c + s == x @ (W * c) + (b * c + s)
        if self._folded is None:
            folded = [[la.W.astype(np.float64), la.b.astype(np.float64), la.activation]
                      for la in self.layers]
            if self.normalizer is not None:
                W, b = folded[0][:2]
                s, c = self.normalizer.shift, self.normalizer.scale
                folded[0][:2] = W / c[:, None], b - (s / c) @ W
            if self.target_normalizer is not None:
                W, b = folded[-1][:2]
                s, c = self.target_normalizer.shift, self.target_normalizer.scale
                folded[-1][:2] = W * c, b * c + s
            self._folded = [(W.astype(self.dtype), b.astype(self.dtype), a) for W, b, a in folded]
        return self._folded

    def forward(self, X) -> np.ndarray:
        """Raw input (n, n_inputs) -> output layer activations (n, n_outputs)."""
        x = np.asarray(X)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ConfigError(
                f"input must have shape (n, {self.n_inputs}), got {getattr(x, 'shape', None)}"
            )
        x = x.astype(self.dtype, copy=False)
        for W, b, act in self._folded_layers():
            # np.dot and in-place steps: for the one-row requests a service answers, the
            # per-call cost of numpy is most of the work.
            z = np.dot(x, W)
            z += b
            x = act.forward_into(z)
        return x

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in the order of ``labels``.

        softmax outputs are probabilities already; one sigmoid unit is P(labels[1]);
        several sigmoid units are normalised per row. Imported models with other
        outputs (the original project's tanh against +-1 targets) map their scores
        to [0, 1] and normalise them per row.
        """
        if not self.is_classifier:
            raise ConfigError("predict_proba is for classifiers; this model is a regressor")
        out = self.forward(X)
        return scores_to_proba(out, self.layers[-1].activation)

    def predict(self, X) -> np.ndarray:
        """Class labels (n,) for a classifier; values (n,) or (n, n_outputs) for a regressor."""
        if self.is_classifier:
            idx = self.predict_proba(X).argmax(axis=1)
            return np.asarray(self.labels, dtype=object)[idx]
        out = self.forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def encode_targets(self, y) -> np.ndarray:
        """Labels (n,) -> one-hot (n, n_classes); values (n,) -> (n, 1); 2-D passes through."""
        y = np.asarray(y)
        if self.is_classifier and y.ndim == 1:
            index = {lab: i for i, lab in enumerate(self.labels)}
            try:
                idx = np.fromiter((index[v] for v in y.tolist()), dtype=np.intp, count=len(y))
            except KeyError as e:
                raise ConfigError(f"unknown label {e.args[0]!r}; labels are {self.labels}") from None
            if self.n_outputs == 1:
                return (idx == 1).astype(self.dtype)[:, None]
            return np.eye(self.n_outputs, dtype=self.dtype)[idx]
        y = y.astype(np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if self.target_normalizer is not None:
            y = (y - self.target_normalizer.shift) / self.target_normalizer.scale
        return y.astype(self.dtype)

    def denormalize_targets(self, t: np.ndarray) -> np.ndarray:
        """Network outputs in training units -> the caller's units (regressors)."""
        if self.target_normalizer is None:
            return t
        return t * self.target_normalizer.scale + self.target_normalizer.shift

    def __repr__(self) -> str:
        sizes = [self.n_inputs] + [la.n_out for la in self.layers]
        acts = [la.activation.name for la in self.layers]
        kind = f"labels={self.labels}" if self.is_classifier else "regressor"
        return f"Network(sizes={sizes}, activations={acts}, {kind}, dtype={self.dtype})"


def scores_to_proba(out: np.ndarray, output: Activation) -> np.ndarray:
    """Output activations (n, k) -> probabilities (n, n_classes); see ``predict_proba``."""
    if isinstance(output, Softmax):
        return out
    if isinstance(output, Sigmoid) and out.shape[1] == 1:
        return np.hstack([1 - out, out])
    if isinstance(output, Tanh):
        out = np.clip((out + 1) / 2, 0, 1)
    elif not isinstance(output, Sigmoid):
        # Unbounded scores (linear and the like): a softmax over them keeps the argmax.
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1])
    return np.divide(out, total, out=uniform, where=total > 0)
