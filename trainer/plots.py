"""Pictures of what a model learned, as PNG bytes. Needs matplotlib (the ``plots`` extra).

- ``curve_png``: loss and metric per epoch, from the version's training record.
- ``regions_png``: the decision regions over a plane of the input box, with the task's
  true boundary drawn over them. For the 2-D tasks the plane is the whole input box;
  for red it is the red-green plane at a chosen blue, where the true boundary is the
  sphere's outline (a circle of radius sqrt(127² - b²) around (255, 0)).

The service serves these (cached per version) and ``python -m trainer plot`` writes them.
"""

from __future__ import annotations

import io

import numpy as np

import mlp
from trainer.tasks import Task

GRID = 200  # points a side


class PlotsUnavailable(RuntimeError):
    pass


def _figure(width=6.0, height=4.5):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable("pictures need matplotlib: pip install 'tinymlp[plots]'") from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def curve_png(network: mlp.Network) -> bytes:
    """Loss (log scale) and metric per epoch of the run that made this version."""
    training = network.metadata.get("training") or {}
    curve = training.get("curve") or []
    fig = _figure(6.0, 3.6)
    ax = fig.add_subplot()
    name, version = network.metadata.get("name", "model"), network.metadata.get("version", "?")
    if not curve:
        ax.text(0.5, 0.5, "no training record (an imported model)", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    epochs = [r["epoch"] for r in curve]
    ax.plot(epochs, [r["loss"] for r in curve], color="#1f5fa8", label="loss")
    if any("val_loss" in r for r in curve):
        ax.plot(epochs, [r.get("val_loss", np.nan) for r in curve], color="#1f5fa8", ls="--", label="val loss")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)")
    metric_name = "accuracy" if network.is_classifier else "metric"
    ax2 = ax.twinx()
    ax2.plot(epochs, [r["metric"] for r in curve], color="#b5400b", label=f"training {metric_name}")
    ax2.set_ylabel(f"training {metric_name}")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize="small")
    ax.set_title(f"{name} v{version}: {training.get('trained_by', '')}, {len(curve)} epochs", fontsize="medium")
    return _png(fig)


def plane_of(task: Task, fixed: dict | None = None):
    """The two free features, their ranges, and the values of the others (red: blue)."""
    fixed = dict(fixed or {})
    free = [f for f in task.features if f not in fixed]
    if len(free) != 2:
        raise ValueError(f"{task.name} has {len(task.features)} inputs; a plane needs all but two fixed")
    return free, fixed


def regions_png(network: mlp.Network, task: Task, fixed: dict | None = None) -> bytes:
    """Predicted classes over a plane of the input box, the true boundary drawn in black."""
    if not task.is_classifier:
        raise ValueError(f"{task.name} is a regression task; it has no decision regions")
    free, fixed = plane_of(task, fixed)
    idx = [task.features.index(f) for f in free]
    lo = [task.low[i] for i in idx]
    hi = [task.high[i] for i in idx]
    xs = np.linspace(lo[0], hi[0], GRID)
    ys = np.linspace(lo[1], hi[1], GRID)
    gx, gy = np.meshgrid(xs, ys)
    X = np.empty((gx.size, len(task.features)))
    X[:, idx[0]], X[:, idx[1]] = gx.ravel(), gy.ravel()
    for name, value in fixed.items():
        X[:, task.features.index(name)] = value
    if task.dtype == "int":
        X = np.rint(X)
    labels = list(task.labels)
    code = {lab: i for i, lab in enumerate(labels)}
    predicted = np.array([code[v] for v in network.predict(X)]).reshape(gx.shape)
    truth = np.array([code[v] for v in task.truth(X)]).reshape(gx.shape)

    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    palette = ["#d62728", "#9ecae1", "#2ca02c", "#ff9f1c", "#9467bd", "#8c564b"][: len(labels)]
    if task.name == "red":
        palette = ["#e4572e", "#cfd8dc"]
    fig = _figure()
    ax = fig.add_subplot()
    ax.imshow(predicted, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto",
              cmap=ListedColormap(palette), vmin=-0.5, vmax=len(labels) - 0.5, interpolation="nearest", alpha=0.85)
    if truth.min() != truth.max():
        ax.contour(gx, gy, truth, levels=np.arange(len(labels) - 1) + 0.5, colors="black", linewidths=1.6)
    ax.set_xlabel(free[0])
    ax.set_ylabel(free[1])
    at = ", ".join(f"{k} = {v:g}" for k, v in fixed.items())
    name, version = network.metadata.get("name", task.name), network.metadata.get("version", "?")
    ax.set_title(f"{name} v{version}: predicted regions" + (f" at {at}" if at else "")
                 + "; black line: true boundary", fontsize="medium")
    agree = float(np.mean(predicted == truth))
    handles = [Patch(color=c, label=lab) for c, lab in zip(palette, labels)]
    ax.legend(handles=handles, loc="upper right", fontsize="small", title=f"{agree:.1%} agree",
              title_fontsize="small", framealpha=0.9)
    return _png(fig)


def default_planes(task: Task) -> list[dict]:
    """The planes worth drawing for a task: the box itself for 2-D tasks, blue slices for red."""
    if not task.is_classifier:
        return []
    if len(task.features) == 2:
        return [{}]
    if task.name == "red":
        return [{"b": b} for b in (0, 60, 120)]  # past 127 the sphere leaves the plane
    return []
