"""Who is calling the API: a bearer token (``Authorization: Bearer cb_…``) or the site's session.

* :class:`TokenAuth` checks the key against :class:`~changebank.share.models.ApiToken` (only its
  hash is stored). A key that is wrong, revoked or belongs to a deactivated account gives 401 at
  once: a request that sends a token is never quietly served as the session's user.
* :class:`SessionAuth` lets a signed-in browser use the API. Its writes (POST, PUT, PATCH, DELETE)
  must carry the CSRF token (the ``X-CSRFToken`` header or a ``csrfmiddlewaretoken`` form field),
  exactly as the site's forms do; reads need none.

Both give the user, who then needs the Django permission each endpoint names (:func:`require`),
the same permissions the web pages check. Changes are attributed to that user in the audit trail
(:func:`acting`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from changebank.core.audit import acting_as
from changebank.share.models import ApiToken

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <key>``, a key made on the API tokens page."""

    openapi_description = (
        "An API token made on the ‘API tokens’ page of your account, sent as "
        "`Authorization: Bearer cb_…`. It acts with your account's permissions."
    )

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get(self.header) or ""
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != self.openapi_scheme or not key.strip():
            raise AuthenticationError(401, "Send the token as ‘Authorization: Bearer <key>’.")
        return self.authenticate(request, key.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = ApiToken.authenticate(token) if len(token) <= 200 else None
        if found is None:
            raise AuthenticationError(401, "The token is not valid: it is wrong or was revoked.")
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


class SessionAuth(APIKeyCookie):
    """The site's session cookie, for signed-in browsers; writes need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = (
        "The session of a signed-in browser. Writes must send the CSRF token in the "
        "`X-CSRFToken` header."
    )

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        # CSRF is checked in authenticate(), only once the session is known to be signed in, so
        # that an anonymous request gets 401, not a CSRF error.
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise HttpError(
                403,
                "CSRF check failed: send the CSRF token in the X-CSRFToken header, "
                "or use an API token.",
            )
        return user


#: Endpoints for signed-in people: a token first, then the session.
signed_in = [TokenAuth(), SessionAuth()]


def require(request: HttpRequest, *perms: str) -> Any:
    """The authenticated user, who must hold every one of ``perms`` (else 403)."""
    user = request.auth  # type: ignore[attr-defined]
    missing = [p for p in perms if not user.has_perm(p)]
    if missing:
        raise HttpError(403, f"You do not have permission to do this (needs {', '.join(missing)}).")
    return user


@contextlib.contextmanager
def acting(request: HttpRequest) -> Iterator[Any]:
    """Attribute the changes made inside the block to the caller (token or session)."""
    user = request.auth  # type: ignore[attr-defined]
    with acting_as(user):
        yield user
