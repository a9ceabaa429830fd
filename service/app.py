"""The application factory."""

from __future__ import annotations

from flask import Flask, request, send_from_directory
from flask_smorest import Api

from service import errors, metrics, requestlog, schemas
from service.config import Config
from service.jsonio import OrjsonProvider
from service.registry import Registry
from service.routes import health, models, predict, train, ui, v2

DOCS_ASSETS = "/docs/assets/"


class TinyApi(Api):
    ERROR_SCHEMA = schemas.ErrorBody  # the "default" response of every operation is our error body


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    requestlog.setup_logging(config.log_format, config.log_level)
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.update(
        TINYMLP=config,
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        API_TITLE="tinymlp",
        API_VERSION="0.1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,  # served below from the swagger-ui-bundle package
    )
    api = TinyApi(app, spec_kwargs={"info": {"description": "Small numpy neural networks over HTTP."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "the value of TINYMLP_TRAIN_TOKEN"})
    for bp in (predict.blp, train.blp, models.blp, health.blp, v2.blp):
        api.register_blueprint(bp)

    app.register_blueprint(ui.blp)  # the web pages: not API, so not in the OpenAPI document

    from swagger_ui_bundle import swagger_ui_path

    @app.route(DOCS_ASSETS + "<path:filename>")
    def docs_assets(filename):
        return send_from_directory(swagger_ui_path, filename)

    requestlog.register(app)  # first, so every answer below carries a request id

    @app.before_request
    def _require_json():
        if request.method == "POST" and not request.path.startswith("/v2") and not request.is_json:
            raise errors.APIError(415, "Send a JSON body with the header Content-Type: application/json.")

    errors.register(app)

    registry = Registry(
        config.models_dir,
        on_load_failure=lambda name, v: metrics.LOAD_FAILURES.labels(name).inc(),
        on_served=lambda name, v: metrics.SERVED.labels(name).set(v),
    )
    registry.refresh()
    if config.start_reloader:
        registry.start(config.reload_interval)
    app.extensions["tinymlp.registry"] = registry
    return app
