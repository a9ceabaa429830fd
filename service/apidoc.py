"""The OpenAPI document, written from what each route declares, with apispec.

A view declares its operation with ``@operation(...)``: the request body's schema, the query's,
its answers (status -> schema and description), whether it takes the bearer token. The
declaration is kept on the view as data and the view itself is returned unwrapped, so it
costs nothing per request (a wrapping decorator per answer documented would: the predict
path cannot afford a call layer each). Bodies are loaded by the views, with the same
marshmallow schemas (``routes.common.load_body``): one declaration gives the check and the
document.

``build(app)`` walks the app's URL map once and writes the generic document: each route
under its template path (``/predict/{name}``), its path parameters typed from the URL
converters, a tag per blueprint, every operation's ``default`` answer the error body.
``service.openapi`` then writes each served model under its own paths.
"""

from __future__ import annotations

import copy
import http
import inspect
import re
from dataclasses import dataclass, field

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from service.schemas.common import ErrorBody, Timestamp

TITLE, VERSION = "tinymlp", "0.1.0"


@dataclass(frozen=True)
class Operation:
    responses: dict  # status -> (schema class or instance or None, description, content type)
    body: type[Schema] | Schema | None = None
    query: type[Schema] | Schema | None = None
    secured: bool | str = False  # True: the training token; or a security scheme's name
    extra: dict = field(default_factory=dict)  # verbatim OpenAPI (e.g. a content type)


def operation(*, responses: dict, body=None, query=None, secured: bool | str = False, **extra):
    """Declare a view's operation for the document; the view is returned as it is.
    ``responses`` maps a status to a schema, ``(schema, description)`` or
    ``(schema, description, content type)``; a schema may be None (no body). ``secured``:
    True for the training token (``bearerAuth``), or the name of another scheme (``feedbackAuth``)."""

    def decorator(view):
        view.openapi = Operation({status: _answer(spec) for status, spec in responses.items()}, body, query,
                                 secured, extra)
        return view

    return decorator


def _answer(spec) -> tuple:
    if not isinstance(spec, tuple):
        spec = (spec,)
    schema, description, content_type = (*spec, None, None)[:3]
    return schema, description, content_type or "application/json"


BLUEPRINT_TAGS: dict[str, str] = {}  # blueprint name -> its description, filled by ``tag``


def tag(blueprint, description: str):
    """Name a blueprint's routes in the document (its tag, with a description)."""
    BLUEPRINT_TAGS[blueprint.name] = description
    return blueprint


_ARGUMENT = re.compile(r"<(?:([A-Za-z_]\w*)(?:\([^)]*\))?:)?([A-Za-z_]\w*)>")  # <int:version>, <name>


def _path_schema(app: Flask, converter: str | None) -> dict:
    """A path parameter's schema, from its URL converter: its own ``openapi`` schema if it
    declares one (``app.VersionNumber``), a pattern from its regex (``app.ModelName``)."""
    if converter == "int":
        return {"type": "integer", "minimum": 0}
    declared = getattr(app.url_map.converters.get(converter or ""), "openapi", None)
    if declared is not None:
        return dict(declared)
    regex = getattr(app.url_map.converters.get(converter or ""), "regex", None)
    if converter and regex:
        return {"type": "string", "pattern": f"^{regex}$"}
    return {"type": "string", "minLength": 1}


def build(app: Flask, *, description: str) -> dict:
    """The generic document of ``app``'s declared operations (see the module's docstring)."""
    plugin = MarshmallowPlugin()
    spec = APISpec(TITLE, VERSION, "3.1.0", plugins=[plugin], info={"description": description})
    plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    spec.components.schema("ErrorBody", schema=ErrorBody)
    spec.components.response("DEFAULT_ERROR", {"description": "Default error response",
                                               "content": {"application/json": {"schema": "ErrorBody"}}})
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                   "description": "the value of TINYMLP_TRAIN_TOKEN"})
    spec.components.security_scheme("feedbackAuth", {"type": "http", "scheme": "bearer",
                                                     "description": "the value of TINYMLP_FEEDBACK_TOKEN"})
    for name, text in BLUEPRINT_TAGS.items():
        if name in app.blueprints:
            spec.tag({"name": name, "description": text})
    paths: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        declared = getattr(app.view_functions.get(rule.endpoint), "openapi", None)
        if declared is None:
            continue
        arguments = _ARGUMENT.findall(rule.rule)
        path = _ARGUMENT.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        item = paths.setdefault(path, {"operations": {}, "parameters": [
            {"in": "path", "name": arg, "required": True, "schema": _path_schema(app, conv)}
            for conv, arg in arguments]})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            item["operations"][method.lower()] = _operation(declared, app.view_functions[rule.endpoint],
                                                            rule.endpoint.partition(".")[0])
    for path, item in paths.items():
        spec.path(path=path, operations=item["operations"], parameters=item["parameters"] or None)
    return spec.to_dict()


def _operation(declared: Operation, view, tag_name: str) -> dict:
    doc = inspect.getdoc(view) or ""
    summary, _, rest = doc.partition("\n\n")
    out: dict = {"summary": summary, "tags": [tag_name]}
    if rest.strip():
        out["description"] = rest.strip()
    if declared.secured:
        out["security"] = [{declared.secured if isinstance(declared.secured, str) else "bearerAuth": []}]
    if declared.query is not None:
        out["parameters"] = [{"in": "query", "schema": declared.query}]
    if declared.body is not None:  # a schema, or a JSON schema written out (a dict) that may name schemas,
        # copied: apispec resolves the schemas it names in place, and every app's document needs them
        body = copy.deepcopy(declared.body) if isinstance(declared.body, dict) else declared.body
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    responses = {}
    for status, (schema, description, content_type) in declared.responses.items():
        answer: dict = {"description": description or _phrase(status)}
        if schema is not None:  # a marshmallow schema, or a JSON schema written out (a dict)
            answer["content"] = {content_type: {"schema": schema}}
        elif content_type != "application/json":
            answer["content"] = {content_type: {"schema": {"type": "string"}}}
        responses[str(status)] = answer
    responses["default"] = "DEFAULT_ERROR"
    out["responses"] = responses
    out.update(declared.extra)
    return out


def _phrase(status: int) -> str:
    return http.HTTPStatus(int(status)).phrase
