"""The web pages: ``/`` (the demo) and ``/ui/models/<name>`` (a model's dashboard), their
static assets, and the pictures they show, cached per version: the training curve
(``trainer.plots``, matplotlib) and the decision regions (``trainer.regions``: a bare map,
drawn in milliseconds). Pages, not API: they stay out of the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_from_directory

from service.errors import InvalidInput, NotFound, NotImplementedHere
from service.pictures import PictureCache
from service.routes.common import lookup, registry
from trainer import regions as region_maps
from trainer.tasks import UnknownTask, get_task

STATIC = Path(__file__).resolve().parents[1] / "static"

blp = Blueprint("ui", __name__)


def _cache() -> PictureCache:
    cache = current_app.extensions.get("tinymlp.pictures")
    if cache is None:
        cache = current_app.extensions.setdefault("tinymlp.pictures", PictureCache())
    return cache


@blp.route("/", methods=["GET"])
def index():
    return send_from_directory(STATIC, "index.html")


@blp.route("/docs", methods=["GET"])
def docs():
    """The API documentation: Swagger UI over /openapi.json."""
    return send_from_directory(STATIC, "docs.html")


@blp.route("/ui/models/<name>", methods=["GET"])
def dashboard(name):
    registry().entry(name)  # 404 for a model that does not exist
    return send_from_directory(STATIC, "model.html")


@blp.route("/ui/static/<path:filename>", methods=["GET"])
def static_file(filename):
    return send_from_directory(STATIC, filename, max_age=300)


def _png(model, key: tuple, draw) -> Response:
    """A picture from the cache, or 429 while it is drawn (``draw() -> (png, headers)``). The key
    names the version's file as it is on disk, so a store made anew never serves old pictures."""
    from trainer import plots

    store = registry().store

    def drawing():
        try:
            return draw()
        except plots.PlotsUnavailable as e:
            raise NotImplementedHere(f"{e}.") from None

    identity = (str(store.root), model.name, model.version, store.stamp(model.name, model.version))
    png, headers = _cache().get((*identity, *key), drawing)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "public, max-age=86400", **headers})


@blp.route("/ui/models/<name>/versions/<version:version>/curve.png", methods=["GET"])
def curve(name, version):
    from trainer import plots

    model = lookup(name, version=version)
    return _png(model, ("curve",), lambda: (plots.curve_png(model.network), {}))


@blp.route("/ui/models/<name>/versions/<version:version>/regions.png", methods=["GET"])
def regions(name, version):
    """The decision regions over a plane, a bare map (one pixel a grid point); the page puts
    the axes and legend around it from the X-Regions-* headers."""
    model = lookup(name, version=version)
    try:
        task = get_task(model.info.task or "")
    except UnknownTask:
        raise NotFound(f"{name} version {version} names no known task, so it has no picture.") from None
    fixed = _plane_arguments(name, task)
    if not task.is_classifier:
        raise NotFound(f"{task.name} is a regression task; it has no decision regions.")
    try:
        region_maps.free_features(task, fixed)
    except ValueError as e:
        raise NotFound(f"{e}.") from None

    def draw():
        m = region_maps.region_map(model.network, task, fixed)
        p = m.plane
        return m.png, {
            "X-Regions-Axes": ",".join(f"{f}:{lo:g}:{hi:g}" for f, lo, hi in zip(p.free, p.low, p.high)),
            "X-Regions-Fixed": ",".join(f"{k}={v:g}" for k, v in p.fixed.items()),
            "X-Regions-Legend": ",".join(f"{lab}={c}" for lab, c in zip(task.labels, m.colours)),
            "X-Regions-Agreement": f"{p.agreement:.4f}",
        }

    return _png(model, ("regions", tuple(sorted(fixed.items()))), draw)


def _plane_arguments(name: str, task) -> dict:
    """The fixed features of the plane, from the query (red: b, the blue; 64 if not given)."""
    unknown = sorted(set(request.args) - set(task.features))
    if unknown:
        raise InvalidInput(f"unknown parameter(s) {unknown[:5]}; {name} takes a value for some of "
                           f"{', '.join(task.features)} (red: b, the blue of the red-green plane).")
    fixed = {}
    for feature in task.features:
        raw = request.args.get(feature)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInput(f"{feature} must be a number, got {raw[:40]!r}.") from None
        i = task.features.index(feature)
        if not task.low[i] <= value <= task.high[i]:
            raise InvalidInput(f"{feature} must be within {task.low[i]:g}..{task.high[i]:g}, got {value:g}.")
        fixed[feature] = int(value) if task.dtype == "int" else value
    if task.name == "red" and not fixed:
        fixed = {"b": 64}
    return fixed
