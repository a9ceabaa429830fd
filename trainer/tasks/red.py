"""red: is an RGB colour within Euclidean distance 127 of pure red (255, 0, 0)?

Inputs are integers 0..255. The training sampler mixes the whole cube, the
corners near black and white (where the original project failed), and a thick
band around the sphere's surface, where the boundary has to be learned.
"""

from __future__ import annotations

import numpy as np

from mlp import NetworkConfig, TrainConfig
from trainer.tasks.base import Target, Task

CENTRE = np.array([255.0, 0.0, 0.0])
RADIUS = 127.0
BLACK = np.array([0.0, 0.0, 0.0])
WHITE = np.array([255.0, 255.0, 255.0])


def _ball(rng, centre, r_low, r_high, n) -> np.ndarray:
    """Integer points in the cube whose distance to ``centre`` lies in [r_low, r_high]."""
    out, have = [], 0
    while have < n:
        k = 2 * (n - have) + 64
        d = rng.normal(size=(k, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        # Radius density ~ r^2 gives points uniform in volume.
        u = rng.uniform(r_low**3, r_high**3, size=k) ** (1 / 3)
        p = np.rint(centre + d * u[:, None])
        p = p[np.all((p >= 0) & (p <= 255), axis=1)]
        dist = np.linalg.norm(p - centre, axis=1)
        p = p[(dist >= r_low) & (dist <= r_high)]
        out.append(p)
        have += len(p)
    return np.concatenate(out)[:n].astype(np.int64)


class Red(Task):
    name = "red"
    description = "Is an RGB colour within distance 127 of (255, 0, 0)? Integers 0..255."
    features = ("r", "g", "b")
    dtype = "int"
    low = (0, 0, 0)
    high = (255, 255, 255)
    labels = ("red", "not_red")
    # relu, not swish: swish learns the shell a little better but costs several times as
    # much per prediction, and serving is the hot path (benchmarks.accuracy measures the
    # shell, benchmarks.predict_proba the prediction).
    network = NetworkConfig(hidden=(32, 32), activation="relu", output="softmax",
                            loss="categorical_crossentropy", init="he")
    train = TrainConfig(epochs=60, batch_size=256, learning_rate=0.01, schedule="cosine",
                        decay=0.01, samples_per_epoch=20_000, seed=0)
    train_samples = 80_000
    target = Target("accuracy", 0.999, "uniform")

    def truth(self, X):
        d = np.linalg.norm(np.asarray(X, float) - CENTRE, axis=1)
        return np.where(d <= RADIUS, "red", "not_red").astype(object)

    def sample(self, rng, n):
        parts = [
            self.draw_uniform(rng, n * 4 // 10),
            _ball(rng, BLACK, 0, 64, n // 10),
            _ball(rng, WHITE, 0, 64, n // 10),
        ]
        parts.append(_ball(rng, CENTRE, RADIUS - 12, RADIUS + 12, n - sum(map(len, parts))))
        X = np.concatenate(parts)
        X = X[rng.permutation(len(X))]
        return X, self.truth(X)

    def evaluation_sets(self, rng):
        sets = {
            "uniform": self.draw_uniform(rng, 200_000),
            "near_black": _ball(rng, BLACK, 0, 64, 20_000),
            "near_white": _ball(rng, WHITE, 0, 64, 20_000),
            "shell": _ball(rng, CENTRE, RADIUS - 8, RADIUS + 8, 20_000),
        }
        return {k: (X, self.truth(X)) for k, X in sets.items()}
