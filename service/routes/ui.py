"""The web pages: ``/`` (the demo) and ``/ui/models/<name>`` (a model's dashboard), their
static assets, and the pictures they show (PNG, drawn by ``trainer.plots``, cached per
version). Pages, not API: they stay out of the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_from_directory

from service.errors import InvalidInput, NotFound, NotImplementedHere
from service.pictures import PictureCache
from service.routes.common import lookup, registry
from trainer.tasks import UnknownTask, get_task

STATIC = Path(__file__).resolve().parents[1] / "static"

blp = Blueprint("ui", __name__)


def _cache() -> PictureCache:
    return current_app.extensions.setdefault("tinymlp.pictures", PictureCache())


@blp.route("/", methods=["GET"])
def index():
    return send_from_directory(STATIC, "index.html")


@blp.route("/ui/models/<name>", methods=["GET"])
def dashboard(name):
    registry().entry(name)  # 404 for a model that does not exist
    return send_from_directory(STATIC, "model.html")


@blp.route("/ui/static/<path:filename>", methods=["GET"])
def static_file(filename):
    return send_from_directory(STATIC, filename, max_age=300)


def _png(key, draw) -> Response:
    from trainer import plots

    try:
        png = _cache().get(key, draw)
    except plots.PlotsUnavailable as e:
        raise NotImplementedHere(f"{e}.") from None
    return Response(png, mimetype="image/png", headers={"Cache-Control": "public, max-age=86400"})


@blp.route("/ui/models/<name>/versions/<int:version>/curve.png", methods=["GET"])
def curve(name, version):
    from trainer import plots

    model = lookup(name, version=version)
    return _png((name, version, "curve"), lambda: plots.curve_png(model.network))


@blp.route("/ui/models/<name>/versions/<int:version>/regions.png", methods=["GET"])
def regions(name, version):
    from trainer import plots

    model = lookup(name, version=version)
    try:
        task = get_task(model.info.task or "")
    except UnknownTask:
        raise NotFound(f"{name} version {version} names no known task, so it has no picture.") from None
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
    if not task.is_classifier:
        raise NotFound(f"{task.name} is a regression task; it has no decision regions.")
    try:
        plots.plane_of(task, fixed)
    except ValueError as e:
        raise NotFound(f"{e}.") from None
    key = (name, version, "regions", tuple(sorted(fixed.items())))
    return _png(key, lambda: plots.regions_png(model.network, task, fixed))
