"""The permissions matrix: every named URL of the site against every role and an anonymous
visitor, and every operation of the JSON API against an API token of each role.

The policy (``access_policy.POLICY``) is declared by hand; this module checks that it covers
every URL the site has, then that the site does what it says.
"""

from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .access_policy import (
    API,
    API_POLICY,
    NOBODY,
    POLICY,
    PUBLIC,
    UNNAMED,
    Access,
    expected,
    may,
)
from .conftest import ROLES, client_for, world_fixture

world = world_fixture()


def url_patterns() -> list[tuple[str | None, str, list[str]]]:
    """Every URL pattern of the site: (namespaced name, route, parameter names)."""
    found = []

    def walk(resolver: URLResolver, namespaces: tuple[str, ...], prefix: str) -> None:
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                ns = namespaces + ((p.namespace,) if p.namespace else ())
                walk(p, ns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                name = ":".join((*namespaces, p.name)) if p.name else None
                route = prefix + str(p.pattern)
                params = re.findall(r"<(?:\w+:)?(\w+)>", route)
                found.append((name, route, params))

    walk(get_resolver(), (), "")
    return found


PATTERNS = url_patterns()
PARAMS = {name: params for name, _, params in PATTERNS if name}


def test_every_url_has_a_policy():
    names = {name for name, _, _ in PATTERNS if name}
    declared = {key.split(" [")[0] for key in POLICY}
    assert sorted(names - declared) == [], "URL names without an entry in access_policy.POLICY"
    assert sorted(declared - names) == [], "access_policy.POLICY names URLs the site no longer has"
    unnamed = sorted(route for name, route, _ in PATTERNS if not name)
    assert unnamed == sorted(UNNAMED), "URL patterns without a name must be listed in UNNAMED"


def test_every_api_operation_has_a_policy(client):
    schema = client.get("/api/v1/openapi.json").json()
    ids = {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}
    covered = {i for i in ids if any(i.endswith(key) for key in API_POLICY)}
    assert sorted(ids - covered) == []
    assert len(API_POLICY) == len(ids)


WEB = [(key, rule) for key, rule in POLICY.items() if rule.get != API]


def url_for(key: str, rule: Access, world) -> str:
    name = key.split(" [")[0]
    return reverse(name, kwargs=rule.kwargs(PARAMS[name], world.ids))


def outcome(response) -> str:
    """The outcome class of a response: ok, login, 403, 404, 405 or the status code."""
    code = response.status_code
    if 300 <= code < 400:
        return "login" if response["Location"].startswith("/sign-in/") else "ok"
    if 200 <= code < 300:
        return "ok"
    return str(code)


def get_expectation(rule: Access, role: str) -> set[str]:
    if rule.get == NOBODY:
        # A POST-only view: 405 for people who may post; the others are refused (the permission
        # check or the method check may come first, either refuses).
        after_post = expected(rule.post, role, rule)
        return {"405"} if after_post == "ok" else {after_post, "405"}
    want = {expected(rule.get, role, rule)}
    if want == {"ok"} and rule.missing:
        want.add("404")
    return want


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("key", "rule"), WEB, ids=[key for key, _ in WEB])
def test_get(world, db, key, rule, role):
    url = url_for(key, rule, world)
    response = client_for(world, role).get(url)
    got = outcome(response)
    want = get_expectation(rule, role)
    assert got in want, f"GET {url} as {role}: {got} ({response.status_code}), expected {want}"
    if (
        rule.get == PUBLIC
        and role == "anonymous"
        and response.status_code == 200
        and response["Content-Type"].startswith("text/html")
    ):
        # nothing signed-in people see leaks into a public page's navigation
        assert b"/sign-out/" not in response.content


POSTS = [(key, rule) for key, rule in WEB if rule.post is not None]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("key", "rule"), POSTS, ids=[key for key, _ in POSTS])
def test_post_without_csrf_token_is_refused(world, db, key, rule, role):
    url = url_for(key, rule, world)
    client = client_for(world, role, enforce_csrf_checks=True)
    response = client.post(url, {"text": "x", "action": "x"})
    assert response.status_code == 403, f"POST {url} as {role} without a CSRF token"
    assert b"CSRF" in response.content


# --- the JSON API ---------------------------------------------------------------------------------

API_ROLES = ROLES


def operations() -> list[tuple[str, str, str, object]]:
    from changebank.share.api import api

    schema = api.get_openapi_schema()
    found = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            key = next(k for k in API_POLICY if op["operationId"].endswith(k))
            found.append((method.upper(), path, key, API_POLICY[key]))
    return found


OPERATIONS = operations()


def api_request(world, method: str, path: str, key: str, role: str, token: str | None):
    from changebank.listen.models import Submission
    from changebank.understand.models import CodeAssignment

    ids = world.ids
    coding = CodeAssignment.objects.filter(submission_id=ids["submission"]).first()
    values = {
        "slug": ids["slug"],
        "theme_id": ids["theme"],
        "change_id": ids["change"],
        "code_id": ids["code"],
        "submission_id": ids["submission"],
        "coding_id": coding.pk if coding else 1,
    }
    url = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path)
    bodies = {
        "programmes_submit": {"answers": {"what": "Keep the video calls"}, "consent": True},
        "coding_create_code": {"label": f"New code from {role}"},
        "coding_edit_code": {"description": f"Edited by {role}"},
        "coding_set_codes": {"codes": [ids["code"]]},
    }
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    body = bodies.get(key)
    client = client_for(world, "anonymous")
    send = getattr(client, method.lower())
    if body is None:
        return send(url, **headers)
    assert Submission.objects.exists()
    return send(url, data=json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize("role", API_ROLES)
@pytest.mark.parametrize(
    ("method", "path", "key", "needs"), OPERATIONS, ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS]
)
def test_api(world, db, method, path, key, needs, role):
    from changebank.share.models import ApiToken

    token = None
    if role != "anonymous":
        _, token = ApiToken.issue(world.users[role], "matrix")
    response = api_request(world, method, path, key, role, token)
    where = f"{method} {path} as {role}: {response.status_code} {response.content[:200]!r}"
    if needs == PUBLIC:
        assert response.status_code in (200, 201), where
    elif role == "anonymous":
        assert response.status_code == 401, where
    elif may(needs, role):
        assert response.status_code in (200, 201, 204), where
    else:
        assert response.status_code == 403, where


def test_api_session_writes_need_the_csrf_token(world, db):
    client = client_for(world, "analyst", enforce_csrf_checks=True)
    response = client.post(
        f"/api/v1/programmes/{world.ids['slug']}/codes",
        data=json.dumps({"label": "Without CSRF"}),
        content_type="application/json",
    )
    assert response.status_code == 403 and b"CSRF" in response.content


def test_api_wrong_token_is_401_not_the_session(world, db):
    client = client_for(world, "analyst")
    response = client.get(
        f"/api/v1/programmes/{world.ids['slug']}/codes", HTTP_AUTHORIZATION="Bearer cb_wrong"
    )
    assert response.status_code == 401


def test_api_private_programme_is_404_for_the_public(world, db):
    client = client_for(world, "anonymous")
    assert client.get(f"/api/v1/programmes/{world.ids['private_slug']}").status_code == 404
    response = client.get("/api/v1/catalogue/themes/{}".format(world.ids["private_theme"]))
    assert response.status_code == 404
