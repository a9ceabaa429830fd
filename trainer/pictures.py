"""A version's pictures, drawn by the process that publishes it and kept beside it in the store.

When a version is published (the batch trainer's train, continue, all and import-legacy, and
the job worker), ``after_publish`` draws

- its training curve (``trainer.plots``, with matplotlib: the ``plots`` extra), if it has a
  training record (an import has none). Where matplotlib is missing the record says so, and
  the dashboard draws the curve itself from the version's training record;
- every decision-region map the dashboard offers (``offered``): the whole plane of a 2-D
  classifier; red's red-green plane at every 16th blue (0, 16, ... 240) and at 255; nothing
  for a regressor, a table with more than two inputs (iris) or a model of no known task.
  A map is bare (``trainer.regions``: numpy and zlib, milliseconds), the page draws its
  axes and legend from the record;

writes each as ``<version>.<kind>.png`` and, last, the record ``<version>.pictures.json``
(``core.pictures.PictureSet``), also carrying a real input for the pages' fields.

Drawing never fails a publish: the version is in the store before a picture is drawn. A
picture that could not be drawn is logged (one line) and listed in the record with the
reason; the page then says "no picture" and why.

Versions published before pictures were drawn at publish time get theirs from
``python -m trainer plot``, or from the next publish of their model, which also draws what
at most ``BACKFILL`` of its other versions lack (so an upgrade costs a publish a second or
two, once, not a minute).
"""

from __future__ import annotations

import json
import logging
import os
import struct
from datetime import UTC, datetime

import numpy as np

from core import pictures as record
from core.pictures import Axis, Example, Missing, Picture, PictureSet, Regions
from core.records import ModelVersion
from core.store import ModelStore, StoreError
from trainer import plots, regions
from trainer.tasks import Task, UnknownTask, task_of

log = logging.getLogger("tinymlp.pictures")

BLUES = (*range(0, 256, 16), 255)  # red's planes: past 127 the true sphere has left the plane
BACKFILL = 4  # other versions of its model a publish draws pictures for, at most


def offered(task: Task | None) -> list[tuple[str, dict]]:
    """The decision-region maps of a task's models, as (kind, the fixed features)."""
    if task is None or not task.is_classifier:
        return []
    if len(task.features) == 2:
        return [("regions", {})]
    if task.name == "red":
        return [(f"regions-b{b}", {"b": b}) for b in BLUES]
    return []


def known_task(model: ModelVersion) -> Task | None:
    """The task a version solves, or None for one that names none (an import): nothing to draw."""
    try:
        return task_of(model.info)
    except UnknownTask:
        return None


def example_of(task: Task | None) -> Example | None:
    """A real input to start the pages' fields at: a fixed table's first row (iris: a setosa
    of Fisher's table), else one drawn from the task."""
    if task is None:
        return None
    if hasattr(task, "rows"):
        X, y = task.rows
        return Example(tuple(float(v) for v in X[0]), f"row 1 of the {task.name} table, a {y[0]}")
    X = task.draw_uniform(np.random.default_rng(0), 1)
    return Example(tuple(round(float(v), 2) for v in np.asarray(X, float)[0]),
                   f"an input drawn from the {task.name} task")


def draw(store: ModelStore, model: ModelVersion, drawn_by: str) -> PictureSet:
    """Draw every picture of a version into the store, then its record; what could not be
    drawn is listed in the record with the reason. Raises only if the record cannot be written."""
    name, version, net = model.name, model.version, model.network
    task = known_task(model)
    drawn: list[Picture] = []
    missing: list[Missing] = []
    how = f"draw it again with `python -m trainer plot {name} --version {version}`"

    training = net.metadata.get("training") or {}
    if training.get("curve"):  # an imported model has none: nothing to draw, nothing missing
        try:
            png = plots.curve_png(net)
            store.write_attachment(name, version, record.png_suffix("curve"), png)
            drawn.append(Picture("curve", f"training curve of {name} version {version}", *png_size(png)))
        except plots.PlotsUnavailable as e:
            missing.append(Missing("curve", f"the training curve was not drawn: {e}; the page draws it from "
                                            "the training record"))
        except Exception as e:  # a publish never fails for a picture
            missing.append(Missing("curve", f"the training curve could not be drawn ({_why(e)}); {how}"))

    for kind, fixed in offered(task):
        try:
            m = regions.region_map(net, task, fixed)
            store.write_attachment(name, version, record.png_suffix(kind), m.png)
        except Exception as e:
            missing.append(Missing(kind, f"the decision regions could not be drawn ({_why(e)}); {how}"))
            continue
        p = m.plane
        at = " and ".join(f"{k} = {v:g}" for k, v in p.fixed.items())
        title = (f"{name} version {version}: predicted regions over {p.free[0]} and {p.free[1]}"
                 + (f" at {at}" if at else "") + "; black line: the true boundary")
        facts = Regions(Axis(p.free[0], p.low[0], p.high[0]), Axis(p.free[1], p.low[1], p.high[1]),
                        dict(p.fixed), tuple(zip(task.labels, m.colours)), round(p.agreement, 4))
        drawn.append(Picture(kind, title, *png_size(m.png), facts))

    try:
        example = example_of(task)
    except Exception as e:  # the pages then start at the middle of the input box
        log.warning("%s version %s: no example input (%s)", name, version, _why(e))
        example = None
    result = PictureSet(name, version, datetime.now(UTC).isoformat(timespec="seconds"), drawn_by,
                        tuple(drawn), tuple(missing), example)
    store.write_attachment(name, version, record.RECORD, json.dumps(result.to_dict(), indent=1).encode())
    return result


def after_publish(store: ModelStore, published: ModelVersion, drawn_by: str) -> PictureSet | None:
    """What a publisher calls once its version is in the store: draw its pictures, then what
    at most ``BACKFILL`` of the model's other versions lack. Never raises; logs what failed."""
    result = None
    try:
        result = draw(store, published, drawn_by)
        for m in result.missing:
            log.warning("%s version %s: no %s picture: %s", published.name, published.version, m.kind, m.reason)
    except Exception as e:
        log.warning("%s version %s: its pictures were not drawn (%s); draw them with "
                    "`python -m trainer plot %s --version %s`", published.name, published.version, _why(e),
                    published.name, published.version)
    backfill(store, published.name, drawn_by, limit=BACKFILL, skip=published.version)
    return result


def backfill(store: ModelStore, name: str, drawn_by: str, *, limit: int | None = BACKFILL,
             incomplete: bool = False, skip: int | None = None) -> dict[int, PictureSet | str]:
    """Draw the pictures of the versions that lack them (newest first, at most ``limit``; not
    ``skip``): version -> its record, or why it could not be drawn. Never raises."""
    done: dict[int, PictureSet | str] = {}
    try:
        todo = [v for v in lacking(store, name, incomplete=incomplete) if v != skip]
    except (OSError, StoreError) as e:
        log.warning("%s: cannot list the versions lacking pictures (%s)", name, _why(e))
        return done
    drawn = 0
    # A version that does not load never gets a record, so it would come first every time:
    # it is passed over (and said), and only versions drawn count toward ``limit``; the tries
    # are bounded too, so a store full of broken versions costs a publish little.
    for v in todo if limit is None else todo[:4 * limit]:
        if limit is not None and drawn >= limit:
            break
        try:
            done[v] = draw(store, store.open(name, v), drawn_by)
            drawn += 1
        except Exception as e:
            done[v] = _why(e)
            log.warning("%s version %s: its pictures were not drawn (%s)", name, v, done[v])
    return done


def lacking(store: ModelStore, name: str, *, incomplete: bool = False) -> list[int]:
    """Versions without a picture record, newest first; with ``incomplete``, also those whose
    record lists a picture that was not drawn (matplotlib was missing, say)."""
    present = set(os.listdir(store.folder(name)))
    out = []
    for v in reversed(store.versions(name)):
        path = store.attachment_path(name, v, record.RECORD)
        if path.name not in present:
            out.append(v)
        elif incomplete:
            try:
                if record.read(store, name, v).missing:
                    out.append(v)
            except (ValueError, OSError, StoreError):
                out.append(v)  # unreadable: drawn again
    return out


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    return struct.unpack(">II", png[16:24])


def _why(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        where = e.filename2 or e.filename
        return f"{e.strerror}: {os.path.basename(where)}" if where else e.strerror
    return (str(e) or type(e).__name__)[:300]
