"""schemathesis against /openapi.json: generated requests to every documented operation,
valid and invalid ones, never get a 5xx, and every answer matches the document (status,
content type, body)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SETTINGS = settings(max_examples=30, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


TOKEN = "conformance-token"


def test_every_operation_conforms_to_the_document(app):
    app.config["TINYMLP"] = app.config["TINYMLP"].replace(train_token=TOKEN, max_queued_jobs=5)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    failures = []
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @SETTINGS
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case):
                case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Bearer {TOKEN}"})

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, op.label  # an operation with no invalid input: nothing to send
            except (Exception, BaseExceptionGroup) as e:  # every operation's failures are gathered, then reported
                failures.append(f"{op.label} ({mode.value}): {str(e)[:1500]}")
    assert not failures, "\n\n".join(failures)
