"""Optimizers, learning-rate schedules and gradient clipping.

An optimizer updates a list of parameter arrays in place from their gradients:
``step(params, grads, lr)``. Its state (momentum buffers, Adam moments) can be
exported with ``state()`` and restored with ``load_state()`` so that training a
saved model resumes where it stopped.
"""

from __future__ import annotations

import math

import numpy as np

from mlp.errors import ConfigError


class Optimizer:
    name = ""

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict, params: list[np.ndarray]) -> None:
        """Restore buffers saved by ``state()``; ignores state of another shape."""


class SGD(Optimizer):
    name = "sgd"

    def step(self, params, grads, lr):
        for p, g in zip(params, grads):
            p -= lr * g


class Momentum(Optimizer):
    """Heavy-ball momentum: v = mu*v - lr*g; p += v."""

    name = "momentum"

    def __init__(self, momentum: float = 0.9):
        self.momentum = momentum
        self.velocity: list[np.ndarray] | None = None

    def step(self, params, grads, lr):
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocity):
            v *= self.momentum
            v -= lr * g
            p += v

    def state(self):
        return {"velocity": _lists(self.velocity)}

    def load_state(self, state, params):
        self.velocity = _arrays(state.get("velocity"), params)


class Adam(Optimizer):
    name = "adam"

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8):
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.t = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params, grads, lr):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # Bias correction folded into the step size (Kingma & Ba, section 2).
        step = lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= step * m / (np.sqrt(v) + self.epsilon)

    def state(self):
        return {"t": self.t, "m": _lists(self.m), "v": _lists(self.v)}

    def load_state(self, state, params):
        m, v = _arrays(state.get("m"), params), _arrays(state.get("v"), params)
        if m is not None and v is not None:
            self.m, self.v, self.t = m, v, int(state.get("t", 0))


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(config) -> Optimizer:
    """Build the optimizer a TrainConfig names."""
    if config.optimizer == "sgd":
        return SGD()
    if config.optimizer == "momentum":
        return Momentum(config.momentum)
    return Adam(config.beta1, config.beta2, config.epsilon)


def _lists(arrays):
    return None if arrays is None else [a.tolist() for a in arrays]


def _arrays(lists, params):
    if not isinstance(lists, list) or len(lists) != len(params):
        return None
    try:
        out = [np.asarray(x, dtype=p.dtype) for x, p in zip(lists, params)]
    except (TypeError, ValueError):
        return None
    if any(o.shape != p.shape for o, p in zip(out, params)):
        return None
    return out


# -- learning-rate schedules: epoch (0-based) -> multiplier of the base rate ----------

SCHEDULES = ("constant", "step", "exponential", "cosine")


def schedule_factor(schedule: str, epoch: int, epochs: int, decay: float, step_size: int) -> float:
    """The learning-rate multiplier for ``epoch`` of ``epochs``."""
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return decay ** (epoch // step_size)
    if schedule == "exponential":
        return decay**epoch
    if schedule == "cosine":
        # Cosine from 1 down to ``decay`` (the floor, as a fraction of the base rate).
        frac = epoch / max(epochs - 1, 1)
        return decay + (1 - decay) * 0.5 * (1 + math.cos(math.pi * frac))
    raise ConfigError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")


# -- gradient clipping -----------------------------------------------------------------

def clip_gradients(grads: list[np.ndarray], clip_norm: float | None, clip_value: float | None) -> None:
    """Clip in place: each element to [-clip_value, clip_value], then the global L2 norm."""
    if clip_value is not None:
        for g in grads:
            np.clip(g, -clip_value, clip_value, out=g)
    if clip_norm is not None:
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
        if total > clip_norm:
            scale = clip_norm / (total + 1e-12)
            for g in grads:
                g *= scale
