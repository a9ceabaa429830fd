"""The application factory."""

from __future__ import annotations

from flask import Flask, jsonify, request, send_from_directory
from flask_smorest import Api
from werkzeug.routing import BaseConverter

from core import logs
from service import extensions, requestlog
from service.config import Config
from service.errors import UnsupportedMediaType
from service.jsonio import OrjsonProvider
from service.openapi import Document
from service.routes import errors, health, models, predict, train, ui, v2
from service.schemas.common import ErrorBody, Timestamp

DOCS_ASSETS = "/docs/assets/"


class ModelName(BaseConverter):
    """A model's name in a URL beside fixed words: /train/<model:name> never takes /train/jobs."""

    regex = r"(?!jobs(?![a-z0-9_-]))[a-z0-9][a-z0-9_-]{0,63}"


class TinyApi(Api):
    ERROR_SCHEMA = ErrorBody  # the "default" response of every operation is our error body


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    logs.setup(config.log_format, config.log_level)
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.url_map.converters["model"] = ModelName
    app.config.update(
        TINYMLP=config,
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        API_TITLE="tinymlp",
        API_VERSION="0.1.0",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = TinyApi(app, spec_kwargs={"info": {"description": "Small numpy neural networks over HTTP."}})
    api.register_field(Timestamp, "string", "date-time")
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "the value of TINYMLP_TRAIN_TOKEN"})
    for bp in (predict.blp, train.blp, models.blp, health.blp, v2.blp):
        api.register_blueprint(bp)
    app.register_blueprint(ui.blp)  # the web pages: not API, so not in the OpenAPI document

    from swagger_ui_bundle import swagger_ui_path

    @app.route(DOCS_ASSETS + "<path:filename>")
    def docs_assets(filename):
        return send_from_directory(swagger_ui_path, filename, max_age=3600)

    requestlog.register(app)  # first, so every answer below carries a request id

    @app.before_request
    def _require_json():
        if (request.method == "POST" and not request.is_json and request.url_rule is not None
                and request.blueprint != "v2" and request.endpoint not in train.NO_BODY):
            raise UnsupportedMediaType("Send a JSON body with the header Content-Type: application/json.")

    errors.register(app)

    extensions.init_app(app, config)
    registry = extensions.registry(app)

    # The document flask-smorest wrote, with each served model under its own paths.
    document = Document(api.spec.to_dict(), config.max_rows)
    app.view_functions["api-docs.openapi_json"] = lambda: jsonify(document.for_snapshot(registry.snapshot))
    return app
