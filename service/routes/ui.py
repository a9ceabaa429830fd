"""The web pages: ``/`` (the demo) and ``/ui/models/<name>`` (a model's dashboard), their
static assets and icon, and a version's pictures as files from the store.

A version's pictures are drawn when it is published, by the process that publishes it, and
kept beside it (``core.pictures``); this module only reads them: the record
(``pictures.json``: which pictures there are, the axes and legend of each region map) and
the PNG files. Nothing is drawn here, so a picture costs what any small file costs. One
missing is a 404 saying how to draw it. Pages, not API: they stay out of the OpenAPI
document.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, request, send_file, send_from_directory

from core import pictures as record
from core.pictures import PictureSet
from core.store import FileRefused, StoreError, some_versions
from core.store import NotFound as StoreNotFound
from service.errors import NotFound, ServiceError
from service.routes.common import registry

STATIC = Path(__file__).resolve().parents[1] / "static"
# A version never changes once published, so neither do its pictures. Not "immutable" for a
# year: a version number comes back if `prune --keep 0` removed the newest, so a day at most,
# then a cheap revalidation by ETag (304).
PICTURE_MAX_AGE = 24 * 3600

blp = Blueprint("ui", __name__)


@blp.route("/", methods=["GET"])
def index():
    return send_from_directory(STATIC, "index.html")


@blp.route("/favicon.ico", methods=["GET"])
def favicon():
    """The project's own icon (a red disc in a grey ring, 16 and 32 pixels)."""
    return send_from_directory(STATIC, "favicon.ico", max_age=PICTURE_MAX_AGE)


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


@blp.route("/ui/models/<name>/versions/<version:version>/pictures.json", methods=["GET"])
def pictures(name, version):
    """A version's picture record, each picture with its URL: what the pages show."""
    try:
        pictures = _record(name, version)
    except StoreNotFound:
        _exists(name, version)
        raise _not_drawn(name, version, "no pictures yet: they are drawn when a version is published (within "
                                        "seconds of it); for a version from before that, draw them with") from None
    except (FileRefused, StoreError, ValueError) as e:
        _exists(name, version)
        raise _not_drawn(name, version, f"a picture record that cannot be read ({str(e)[:200]})") from None
    base = f"/ui/models/{name}/versions/{version}"
    doc = pictures.to_dict()
    for p in doc["pictures"]:
        p["url"] = f"{base}/{p['kind']}.png"
    response = jsonify(doc)
    response.cache_control.no_cache = True  # drawn again by `plot`: asked each time, answered 304
    response.add_etag()
    return response.make_conditional(request)


@blp.route("/ui/models/<name>/versions/<version:version>/<kind>.png", methods=["GET"])
def picture(name, version, kind):
    """One picture of a version, as its file in the store."""
    try:
        f, st = registry().store.open_attachment(name, version, record.png_suffix(kind))
    except (ValueError, StoreError):  # a kind no picture has, absent, or refused (a link, not a file)
        raise _absent(name, version, kind) from None
    response = send_file(f, mimetype="image/png", etag=f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}",
                         last_modified=st.st_mtime, max_age=PICTURE_MAX_AGE, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _record(name: str, version: int) -> PictureSet:
    """The record as read from the store: StoreError if absent or refused, ValueError if malformed."""
    return record.read(registry().store, name, version)


def _absent(name: str, version: int, kind: str) -> NotFound:
    """Why a picture is not there, and what to do."""
    _exists(name, version)
    shown = repr(kind[:40])
    try:
        drawn = _record(name, version)
    except (StoreError, ValueError):
        return _not_drawn(name, version, f"no picture {shown}: its pictures are drawn when a version is published")
    missing = next((m for m in drawn.missing if m.kind == kind), None)
    if missing is not None:
        return NotFound(f"{name} version {version} has no picture {shown}: {missing.reason}", headers=NO_STORE)
    if drawn.picture(kind) is not None:  # listed, but its file is gone or refused
        return _not_drawn(name, version, f"no readable file for its picture {shown}")
    kinds = ", ".join(p.kind for p in drawn.pictures) or "none"
    return NotFound(f"{name} version {version} has no picture {shown}; its pictures: {kinds}.", headers=NO_STORE)


def _exists(name: str, version: int) -> None:
    """404 for a model or version that is not in the store."""
    try:
        versions = registry().store.versions(name)
    except StoreError:  # not a valid model name
        versions = []
    if not versions:
        raise NotFound(f"No model named {name[:64]!r}.", headers=NO_STORE)
    if version not in versions:
        raise NotFound(f"Model {name!r} has no version {version}; versions: {some_versions(versions)}.",
                       headers=NO_STORE)


def _not_drawn(name: str, version: int, what: str) -> NotFound:
    """``what`` ends in how to draw them ("draw them with"), or is followed by it; a version that
    names no task (an import) has none to draw, and that is said instead."""
    try:
        imported = registry().get(name, version).info.task is None
    except ServiceError:
        imported = False
    if imported:
        return NotFound(f"{name} version {version} names no known task (it was imported): it has no training curve "
                        "and no task to draw decision regions against.", headers=NO_STORE)
    lead = "" if what.endswith(" with") else "; draw them with"
    return NotFound(f"{name} version {version} has {what}{lead} `python -m trainer plot {name} --version {version}`.",
                    headers=NO_STORE)


NO_STORE = {"Cache-Control": "no-store"}  # a 404 is not kept: the picture is there once drawn
