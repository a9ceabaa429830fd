"""Figures of what a model learned, as PNG bytes, drawn with matplotlib (the ``plots`` extra).

- ``curve_png``: loss and metric per (whole) epoch, from the version's training record.
- ``regions_png``: the decision regions over a plane of the input box, with the task's
  true boundary drawn over them, axes and legend. For the 2-D tasks the plane is the whole
  input box; for red it is the red-green plane at a chosen blue, where the true boundary is
  the sphere's outline (a circle of radius sqrt(127² - b²) around (255, 0)).

The curve is drawn when a version is published (``trainer.pictures``) and shown on its
dashboard; the dashboard's region maps are the bare maps of ``trainer.regions``.
``python -m trainer plot --out DIR`` writes both figures as files.
"""

from __future__ import annotations

import io

import numpy as np

import mlp
from trainer import regions
from trainer.tasks import Task


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
    """Loss (log scale) and metric per epoch of the run that made this version.
    ValueError for a version with no training record (an imported model)."""
    return _png(curve_figure(network))


def curve_figure(network: mlp.Network):
    """The figure of ``curve_png``: its first axes are loss per epoch."""
    training = network.metadata.get("training") or {}
    curve = training.get("curve") or []
    name, version = network.metadata.get("name", "model"), network.metadata.get("version", "?")
    if not curve:
        raise ValueError(f"{name} version {version} has no training record (an imported model)")
    fig = _figure(6.0, 3.6)  # first: says how to install matplotlib where it is missing
    from matplotlib.ticker import FixedLocator, MaxNLocator

    ax = fig.add_subplot()
    epochs = [r["epoch"] for r in curve]
    marker = "o" if len(epochs) <= 20 else None  # a short run's points, one an epoch, stay visible
    ax.plot(epochs, [r["loss"] for r in curve], color="#1f5fa8", marker=marker, ms=3, label="loss")
    if any(r.get("val_loss") is not None for r in curve):
        ax.plot(epochs, [r.get("val_loss") or np.nan for r in curve], color="#1f5fa8", ls="--", label="val loss")
    ax.set_yscale("log")
    # an epoch is whole: no 1.5 (and a one-epoch run's single tick is 1, not 0.95 .. 1.05)
    ax.xaxis.set_major_locator(FixedLocator(epochs) if len(epochs) <= 10 else MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)")
    metric_name = "accuracy" if network.is_classifier else "metric"
    ax2 = ax.twinx()
    ax2.plot(epochs, [r["metric"] for r in curve], color="#b5400b", marker=marker, ms=3,
             label=f"training {metric_name}")
    ax2.set_ylabel(f"training {metric_name}")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize="small")
    epochs_run = f"{len(curve)} epoch{'s' if len(curve) != 1 else ''}"
    ax.set_title(f"{name} v{version}: {training.get('trained_by', '')}, {epochs_run}", fontsize="medium")
    return fig


def regions_png(network: mlp.Network, task: Task, fixed: dict | None = None) -> bytes:
    """Predicted classes over a plane of the input box, the true boundary drawn in black."""
    p = regions.plane(network, task, fixed)
    labels = list(task.labels)
    colours = regions.palette(task)

    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    fig = _figure()
    ax = fig.add_subplot()
    ax.imshow(p.predicted, origin="lower", extent=(p.low[0], p.high[0], p.low[1], p.high[1]), aspect="auto",
              cmap=ListedColormap(colours), vmin=-0.5, vmax=len(labels) - 0.5, interpolation="nearest", alpha=0.85)
    if p.truth.min() != p.truth.max():
        ax.contour(*p.grid, p.truth, levels=np.arange(len(labels) - 1) + 0.5, colors="black", linewidths=1.6)
    ax.set_xlabel(p.free[0])
    ax.set_ylabel(p.free[1])
    at = ", ".join(f"{k} = {v:g}" for k, v in p.fixed.items())
    name, version = network.metadata.get("name", task.name), network.metadata.get("version", "?")
    ax.set_title(f"{name} v{version}: predicted regions" + (f" at {at}" if at else "")
                 + "; black line: true boundary", fontsize="medium")
    handles = [Patch(color=c, label=lab) for c, lab in zip(colours, labels)]
    ax.legend(handles=handles, loc="upper right", fontsize="small", title=f"{p.agreement:.1%} agree",
              title_fontsize="small", framealpha=0.9)
    return _png(fig)
