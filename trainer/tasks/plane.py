"""The original project's four 2-D toy problems: xor, sine, checkerboard, quadrant.

Each is a rule over a box of the plane (definitions from the original data
generators; see FORMAT.md beside the seed files).
"""

from __future__ import annotations

import numpy as np

from mlp import NetworkConfig, TrainConfig
from trainer.tasks.base import Target, Task


class PlaneTask(Task):
    features = ("x", "y")
    dtype = "float"


class Xor(PlaneTask):
    name = "xor"
    description = "XOR of (x > 0.5) and (y > 0.5) for points scattered around the unit square's corners."
    low, high = (-1.0, -1.0), (2.0, 2.0)
    labels = ("1", "0")
    network = NetworkConfig(hidden=(8, 8), activation="tanh", init="xavier_normal")
    train = TrainConfig(epochs=40, batch_size=64, learning_rate=0.02, seed=0)
    train_samples = 4_000
    target = Target("accuracy", 0.999)
    noise = 0.1

    def truth(self, X):
        b = np.asarray(X) > 0.5
        return np.where(b[:, 0] ^ b[:, 1], "1", "0").astype(object)

    def draw_uniform(self, rng, n):
        # The original's distribution: a corner of the unit square plus Gaussian noise.
        corners = rng.integers(0, 2, size=(n, 2)).astype(float)
        return np.clip(corners + rng.normal(0, self.noise, size=(n, 2)), self.low, self.high)


class Sine(PlaneTask):
    name = "sine"
    description = "Is the point above y = sin(x)? x in [0, 2*pi], y in [-1.5, 1.5]."
    low, high = (0.0, -1.5), (2 * np.pi, 1.5)
    labels = ("above", "below")
    network = NetworkConfig(hidden=(32, 32), activation="tanh", init="xavier_normal")
    train = TrainConfig(epochs=60, batch_size=128, learning_rate=0.01, schedule="cosine",
                        decay=0.01, seed=0)
    train_samples = 20_000
    target = Target("accuracy", 0.995)

    def truth(self, X):
        X = np.asarray(X, float)
        return np.where(X[:, 1] > np.sin(X[:, 0]), "above", "below").astype(object)

    def sample(self, rng, n):
        # Half uniform, half within 0.2 of the curve, where the boundary is learned.
        X = self.draw_uniform(rng, n)
        near = rng.random(n) < 0.5
        X[near, 1] = np.clip(np.sin(X[near, 0]) + rng.uniform(-0.2, 0.2, near.sum()), -1.5, 1.5)
        return X, self.truth(X)


class Checkerboard(PlaneTask):
    name = "checkerboard"
    description = "A 4x4 checkerboard on [0, 4]^2: black where floor(x) + floor(y) is even."
    low, high = (0.0, 0.0), (4.0, 4.0)
    labels = ("black", "white")
    network = NetworkConfig(hidden=(64, 64, 64), activation="tanh", init="xavier_normal")
    train = TrainConfig(epochs=100, batch_size=128, learning_rate=0.01, schedule="cosine",
                        decay=0.01, seed=0)
    train_samples = 20_000
    target = Target("accuracy", 0.99)

    def truth(self, X):
        f = np.floor(np.asarray(X, float)).astype(int)
        return np.where((f[:, 0] + f[:, 1]) % 2 == 0, "black", "white").astype(object)


class Quadrant(PlaneTask):
    name = "quadrant"
    description = "Which quadrant of [-5, 5]^2 holds the point: Q1 (x>0, y>0), Q2, Q3, Q4."
    low, high = (-5.0, -5.0), (5.0, 5.0)
    labels = ("Q1", "Q2", "Q3", "Q4")
    network = NetworkConfig(hidden=(16, 16), activation="tanh", init="xavier_normal")
    train = TrainConfig(epochs=40, batch_size=64, learning_rate=0.01, schedule="cosine",
                        decay=0.01, seed=0)
    train_samples = 10_000
    target = Target("accuracy", 0.999)

    def truth(self, X):
        X = np.asarray(X, float)
        right, up = X[:, 0] > 0, X[:, 1] > 0
        q = np.where(up, np.where(right, 0, 1), np.where(right, 3, 2))
        return np.asarray(self.labels, dtype=object)[q]
