"""The application factory: ``create_app(config=None)`` (Flask's tutorial shape); tests pass a
``Config`` pointing at a temporary folder."""

from __future__ import annotations

from flask import Flask, jsonify, send_from_directory
from werkzeug.routing import BaseConverter

from core import logs
from core.store import MAX_VERSION, VERSION_PATTERN
from service import apidoc, extensions, requestlog
from service.config import Config
from service.jsonio import OrjsonProvider
from service.openapi import Document
from service.routes import errors, feedback, health, models, predict, rollouts, train, ui, v2

DOCS_ASSETS = "/docs/assets/"
DESCRIPTION = "Small numpy neural networks over HTTP."


class ModelName(BaseConverter):
    """A model's name in a URL beside fixed words: /train/<model:name> never takes /train/jobs."""

    regex = r"(?!jobs(?![a-z0-9_-]))[a-z0-9][a-z0-9_-]{0,63}"


class VersionNumber(BaseConverter):
    """A version in a URL: the store's pattern (1 to MAX_VERSION, no leading zero), as a number."""

    regex = VERSION_PATTERN
    openapi = {"type": "integer", "minimum": 1, "maximum": MAX_VERSION}  # for service.apidoc

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    logs.setup(config.log_format, config.log_level)
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.url_map.converters["model"] = ModelName
    app.url_map.converters["version"] = VersionNumber
    # An empty path segment (/train//red) is a 404 like any unknown path, never a redirect whose
    # Location werkzeug would build from the client's Host header.
    app.url_map.merge_slashes = False
    app.config.update(TINYMLP=config, MAX_CONTENT_LENGTH=config.max_body_bytes)
    for bp in (predict.blp, train.blp, models.blp, rollouts.blp, health.blp, v2.blp):
        app.register_blueprint(bp)
    app.register_blueprint(feedback.blp)  # feedback, drift and retraining (issue 20)
    app.register_blueprint(ui.blp)  # the web pages: not API, so not in the OpenAPI document

    from swagger_ui_bundle import swagger_ui_path

    @app.route(DOCS_ASSETS + "<path:filename>")
    def docs_assets(filename):
        return send_from_directory(swagger_ui_path, filename, max_age=3600)

    requestlog.register(app)  # first, so every answer below carries a request id
    errors.register(app)
    extensions.init_app(app, config)
    registry = extensions.registry(app)

    # The document of every route as declared, with each served model under its own paths.
    document = Document(apidoc.build(app, description=DESCRIPTION), config.max_rows)

    @app.route("/openapi.json", methods=["GET"])
    def openapi_json():
        return jsonify(document.for_snapshot(registry.snapshot))

    return app
