"""What a classifier decides over a plane of its input box, with the task's true boundary.

``plane`` evaluates a network on a grid over two free features (the others fixed: red's
blue), beside the task's truth. ``region_map`` turns that into a bare PNG, one pixel a grid
point, drawn with numpy and zlib in milliseconds (no matplotlib needed): the publisher
draws every map the dashboard offers this way (``trainer.pictures``) and the page puts the
axes and legend around it from the facts in the version's picture record.
``trainer.plots`` draws the full figure from the same ``plane`` for ``python -m trainer plot --out``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

import mlp
from trainer.tasks import Task

GRID = 200  # points a side

PALETTE = ("#d62728", "#9ecae1", "#2ca02c", "#ff9f1c", "#9467bd", "#8c564b")
RED_PALETTE = ("#e4572e", "#cfd8dc")


@dataclass(frozen=True)
class Plane:
    free: tuple[str, str]  # the features along x and y
    fixed: dict[str, float]
    low: tuple[float, float]
    high: tuple[float, float]
    grid: tuple[np.ndarray, np.ndarray]  # meshgrid of the free features: (size, size) each
    predicted: np.ndarray  # (size, size) class index; row 0 is the lowest y
    truth: np.ndarray  # (size, size) class index

    @property
    def agreement(self) -> float:
        return float(np.mean(self.predicted == self.truth))


def free_features(task: Task, fixed: dict | None = None) -> tuple[list[str], dict]:
    """The two free features of a plane, and the values of the others (red: blue)."""
    fixed = dict(fixed or {})
    free = [f for f in task.features if f not in fixed]
    if len(free) != 2:
        raise ValueError(f"{task.name} has {len(task.features)} inputs; a plane needs all but two fixed")
    return free, fixed


def palette(task: Task) -> tuple[str, ...]:
    return RED_PALETTE if task.name == "red" else PALETTE[: len(task.labels)]


def plane(network: mlp.Network, task: Task, fixed: dict | None = None, size: int = GRID) -> Plane:
    if not task.is_classifier:
        raise ValueError(f"{task.name} is a regression task; it has no decision regions")
    free, fixed = free_features(task, fixed)
    idx = [task.features.index(f) for f in free]
    lo = (task.low[idx[0]], task.low[idx[1]])
    hi = (task.high[idx[0]], task.high[idx[1]])
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size))
    X = np.empty((gx.size, len(task.features)))
    X[:, idx[0]], X[:, idx[1]] = gx.ravel(), gy.ravel()
    for name, value in fixed.items():
        X[:, task.features.index(name)] = value
    if task.dtype == "int":
        X = np.rint(X)
    # class indices in the task's label order, the network's columns mapped onto it
    order = np.array([list(task.labels).index(lab) for lab in network.labels])
    predicted = order[network.predict_proba(X).argmax(axis=1)].reshape(gx.shape)
    truth = _codes(task.truth(X), task.labels).reshape(gx.shape)
    return Plane((free[0], free[1]), fixed, lo, hi, (gx, gy), predicted, truth)


def _codes(labels: np.ndarray, names) -> np.ndarray:
    out = np.zeros(len(labels), dtype=np.int64)
    for i, name in enumerate(names[1:], start=1):
        out[labels == name] = i
    return out


@dataclass(frozen=True)
class RegionMap:
    png: bytes
    plane: Plane
    colours: tuple[str, ...]  # by class, in the order of the task's labels


def region_map(network: mlp.Network, task: Task, fixed: dict | None = None, size: int = GRID) -> RegionMap:
    """The predicted class of each grid point as a pixel of its class colour, the true
    boundary in black; x grows to the right, y upwards."""
    p = plane(network, task, fixed, size)
    colours = palette(task)
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=np.uint8)
    image = rgb[p.predicted]
    edge = np.zeros_like(p.truth, dtype=bool)
    edge[:, 1:] |= p.truth[:, 1:] != p.truth[:, :-1]
    edge[1:, :] |= p.truth[1:, :] != p.truth[:-1, :]
    image[edge] = 0
    return RegionMap(png_rgb(image[::-1]), p, colours)  # PNG rows run top down


def png_rgb(image: np.ndarray) -> bytes:
    """An (h, w, 3) uint8 array as a PNG file."""
    h, w, _ = image.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
