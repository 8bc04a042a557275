"""Schemathesis against the API's own OpenAPI schema, in process through Django's WSGI handler.

Every operation is called with generated requests (valid ones, and invalid ones that must be
refused cleanly) on a database holding a published programme with a form, themes, codes,
codings and a published change, as an analyst with a token: no response may be a server error,
and each must have a status code, content type and body the schema declares.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from changebank.share.models import ApiToken
from changebank.understand.models import Code, CodeAssignment

from .test_api import build_world

TURN = itertools.count()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Generated cases per operation in the fuzzing phase; the coverage phase adds its own boundary and
#: invalid values (about 1,000 calls in all, 40-50 s).
MAX_EXAMPLES = 10


@pytest.fixture
def world(programme):
    cache.clear()
    return build_world(programme)


@pytest.fixture
def token(world, analyst):
    return ApiToken.issue(analyst, "schemathesis")[1]


@pytest.fixture
def real(world):
    """Keys that exist, to steer generated identifiers to: random ones would almost all be 404s
    and never reach the code behind them."""
    programme = world["programme"]
    return {
        "slug": ["test", "private"],
        "code_id": list(Code.objects.filter(programme=programme).values_list("pk", flat=True)),
        "submission_id": [s.pk for s in world["subs"]],
        "coding_id": list(
            CodeAssignment.objects.filter(code__programme=programme).values_list("pk", flat=True)
        ),
        "theme_id": [world["published"].pk, world["hidden"].pk],
        "change_id": [world["change"].pk, world["hidden_change"].pk],
        "questions": ["what", "where", "score"],
    }


def steer(case, real: dict) -> None:
    """Point most generated cases at real rows (about four in five, chosen from the generated
    value so that runs repeat); invalid values are left alone, to be refused."""
    for name, value in list((case.path_parameters or {}).items()):
        if name not in real:
            continue
        if name == "slug" and isinstance(value, str) and value.isalnum() and len(value) % 5:
            case.path_parameters[name] = real["slug"][len(value) % 7 == 0]
        elif isinstance(value, int) and not isinstance(value, bool) and value > 0 and value % 5:
            case.path_parameters[name] = real[name][value % len(real[name])]
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return
    codes = body.get("codes")
    if isinstance(codes, list) and len(codes) % 5:
        body["codes"] = [
            real["code_id"][c % len(real["code_id"])] if isinstance(c, int) else c for c in codes
        ]
    if "answers" in body and next(TURN) % 5:
        # a filled-in form: an answer to the required question, consent, no workstream
        answers = body["answers"] if isinstance(body["answers"], dict) else {}
        body["answers"] = {
            real["questions"][i % 3]: v for i, v in enumerate(answers.values(), start=1)
        }
        body["answers"]["what"] = "An answer generated for the schema tests"
        body["consent"] = True
        body["workstream"] = None


APP = WSGIHandler()
#: Loaded through the app itself, as a client would; the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)


@pytest.fixture(autouse=True)
def keep_connection(db):
    """Django's WSGI handler must not close the test's database connection after each request
    (Django's test client disconnects the same signal handlers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, token, real):
    steer(case, real)
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
