"""red: is an RGB colour within Euclidean distance 127 of pure red (255, 0, 0)?

Inputs are integers 0..255. The training sampler mixes the whole cube, the
corners near black and white (where the original project failed), the shell around
the sphere's surface and, for most of its rows, a thin band on the surface itself:
the boundary is where the errors are. Every set is drawn uniformly from the integer
colours of its region (``lattice_shell``); the shell evaluation set from those within 8 of
the surface, the population the accuracy and calibration targets are stated on (issue 21).
"""

from __future__ import annotations

import numpy as np

from mlp import NetworkConfig, TrainConfig
from trainer.tasks.base import Target, Task

CENTRE = np.array([255.0, 0.0, 0.0])
RADIUS = 127.0
BLACK = np.array([0.0, 0.0, 0.0])
WHITE = np.array([255.0, 255.0, 255.0])
CORNERS = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)])
SHELL_HALF_WIDTH = 8


def lattice_shell(rng, centre, r_low, r_high, n) -> np.ndarray:
    """n integer colours drawn uniformly from those whose distance to ``centre`` (an
    integer colour) lies in [r_low, r_high]: (n, 3) integers.

    Exact, where rounding continuous points (as the sampler before issue 21 did) is only
    nearly uniform, and cheap however thin the shell: a column (g, b) is drawn in
    proportion to how many of its r qualify, then one of those r.
    """
    c = np.asarray(centre, dtype=np.int64)
    g, b = (np.arange(max(0, int(np.ceil(x - r_high))), min(255, int(np.floor(x + r_high))) + 1)
            for x in c[1:])
    G, B = (a.ravel() for a in np.meshgrid(g, b, indexing="ij"))
    q = (G - c[1]) ** 2 + (B - c[2]) ** 2
    # |r - c_r| = t runs over the whole numbers with r_low^2 - q <= t^2 <= r_high^2 - q.
    lo2, hi2 = r_low**2 - q, r_high**2 - q
    t_lo = np.ceil(np.sqrt(np.maximum(lo2, 0))).astype(np.int64)
    t_lo -= (t_lo > 0) & ((t_lo - 1) ** 2 >= lo2)  # sqrt may land one off either way
    t_lo += t_lo**2 < lo2
    t_hi = np.floor(np.sqrt(np.maximum(hi2, 0))).astype(np.int64)
    t_hi -= t_hi**2 > hi2
    t_hi += (t_hi + 1) ** 2 <= hi2
    t_hi = np.where(hi2 >= 0, t_hi, -1)
    # r = c_r - t (down to 0) and r = c_r + t for t > 0 (up to 255)
    down = np.maximum(np.minimum(t_hi, c[0]) - t_lo + 1, 0)
    up_lo = np.maximum(t_lo, 1)
    up = np.maximum(np.minimum(t_hi, 255 - c[0]) - up_lo + 1, 0)
    count = down + up
    col = rng.choice(len(count), size=n, p=count / count.sum())
    k = rng.integers(0, count[col])
    r = np.where(k < down[col], c[0] - (t_lo[col] + k), c[0] + up_lo[col] + k - down[col])
    return np.stack([r, G[col], B[col]], axis=1)


class Red(Task):
    name = "red"
    description = "Is an RGB colour within distance 127 of (255, 0, 0)? Integers 0..255."
    features = ("r", "g", "b")
    dtype = "int"
    low = (0, 0, 0)
    high = (255, 255, 255)
    labels = ("red", "not_red")
    # tanh where relu was, the same shape and so the same cost per prediction: a smooth
    # activation bends around the sphere where relu needs many flat pieces. The rate is
    # high and falls far (cosine to 1/1000 of it) and Adam's second moment forgets fast
    # (beta2 0.99): the logits must grow steep at the surface for the model to be as sure
    # as it is right there, and a slower rate left it underconfident. benchmarks.train_red
    # --recipes measures the shell, the training time and predict_proba against the recipe
    # this replaces.
    network = NetworkConfig(hidden=(32, 32), activation="tanh", output="softmax",
                            loss="categorical_crossentropy", init="he")
    train = TrainConfig(epochs=55, batch_size=256, learning_rate=0.08, schedule="cosine",
                        decay=0.001, beta2=0.99, samples_per_epoch=20_000, seed=0)
    train_samples = 80_000
    target = Target("accuracy", 0.999, "uniform")

    def truth(self, X):
        # Squared distances of integers are exact, so the label is exact at the surface too.
        d2 = ((np.asarray(X, float) - CENTRE) ** 2).sum(axis=1)
        return np.where(d2 <= RADIUS**2, "red", "not_red").astype(object)

    def sample(self, rng, n):
        # Most rows lie within 1 of the surface, where the boundary is pinned down; the
        # rest keep the cube, the dark and light corners and the whole shell right. With
        # the network and training below, this sampler alone (for the old one's 40% in a
        # band of +-12) took the whole shell from about 99.1% to 99.7% right; 50% or 80%
        # of the rows in the thin band did about as well, 70% was the best calibrated.
        parts = [
            self.draw_uniform(rng, n * 10 // 100),
            lattice_shell(rng, BLACK, 0, 64, n * 5 // 100),
            lattice_shell(rng, WHITE, 0, 64, n * 5 // 100),
            lattice_shell(rng, CENTRE, RADIUS - 8, RADIUS + 8, n * 10 // 100),
        ]
        parts.append(lattice_shell(rng, CENTRE, RADIUS - 1, RADIUS + 1, n - sum(map(len, parts))))
        X = np.concatenate(parts)
        X = X[rng.permutation(len(X))]
        return X, self.truth(X)

    def evaluation_sets(self, rng):
        w = SHELL_HALF_WIDTH
        sets = {
            "uniform": self.draw_uniform(rng, 200_000),
            "near_black": lattice_shell(rng, BLACK, 0, 64, 20_000),
            "near_white": lattice_shell(rng, WHITE, 0, 64, 20_000),
            "shell": lattice_shell(rng, CENTRE, RADIUS - w, RADIUS + w, 20_000),
            "corners": CORNERS,
        }
        return {k: (X, self.truth(X)) for k, X in sets.items()}
