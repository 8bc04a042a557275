"""The JSON API, version 1, mounted at ``/api/v1/`` with its OpenAPI schema at
``/api/v1/openapi.json``.

* Public, no sign-in: programmes and their forms, the public catalogue (published themes and
  distinct changes, redacted), and taking part (``POST /programmes/{slug}/submissions``).
* Analysts, with an API token (``Authorization: Bearer …``) or the site's session (writes need
  the CSRF token): codes, codings and submissions, written through the same functions as the web
  pages, so every change is audited and undoable.

Errors are JSON: ``{"detail": "…"}``, or for 422 ``{"detail": [{"type", "loc", "msg"}, …]}`` with
the place of each problem. Lists are pages: ``{"count", "limit", "offset", "items"}`` with
``limit`` at most 100.

A later incompatible version would be mounted at ``/api/v2/`` beside this one; within version 1,
fields and endpoints are only ever added.

Ninja's interactive docs page is switched off: it loads Swagger UI from a CDN with an inline
script, which the site's Content-Security-Policy forbids (and which fails offline). The overview
page ``share:api_docs`` explains the API and links to the schema instead.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from . import catalogue, coding, programmes

api = NinjaAPI(
    title="changebank API",
    version="1",
    urls_namespace="api-v1",
    docs_url=None,
    description=(
        "Read the public catalogue of themes and changes, take part in open programmes, and, for "
        "analysts, read and write codes and codings. Authenticate with an API token "
        "(`Authorization: Bearer cb_…`, made on the ‘API tokens’ page of your account) or, in "
        "a signed-in browser, the session (send the CSRF token with writes). Lists are paged "
        'with `limit` (at most 100) and `offset`; errors are `{"detail": …}`.'
    ),
)


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = exc.message if exc.message != "Unauthorized" else "Sign in or send an API token."
    response = api.create_response(request, {"detail": message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="changebank"'
    return response


@api.exception_handler(ValidationError)
def _unprocessable(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """422 with one ``{type, loc, msg}`` per problem; ``loc`` starts with where the value was
    (``body``, ``query``, ``path``) then the field, without the name of the view's argument."""
    items = []
    for error in exc.errors:
        loc = list(error.get("loc") or [])
        if len(loc) >= 2 and loc[0] == "body" and loc[1] == "payload":
            del loc[1]
        items.append({"type": str(error.get("type", "")), "loc": loc, "msg": str(error.get("msg"))})
    return api.create_response(request, {"detail": items}, status=422)


@api.exception_handler(DjangoValidationError)
def _invalid(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    items = [{"type": "value_error", "loc": ["body"], "msg": m} for m in exc.messages]
    return api.create_response(request, {"detail": items}, status=422)


api.add_router("", programmes.router)
api.add_router("", catalogue.router)
api.add_router("", coding.router)
