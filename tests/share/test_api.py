"""The JSON API: authentication, permissions by role, the public catalogue (published and redacted
only), taking part, and analysts' writes recorded in the undo history like the web pages'."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from changebank.core.models import AuditEvent
from changebank.core.roles import ensure_roles
from changebank.listen.models import Programme, Question, Respondent, Submission
from changebank.share.models import ApiToken, PublishedTheme
from changebank.understand.models import (
    Code,
    CodeAssignment,
    CodingDecision,
    CodingSettings,
    DistinctChange,
    Origin,
    Theme,
    WorkspaceAction,
)
from changebank.understand.undo import undo, undoable

API = "/api/v1"
SECRET = "Dr Sarah Jones rang me on 07700 900123 and it was really very helpful"


def build_world(programme: Programme) -> dict:
    """A public, open programme with a form, coded submissions, a published theme with a change,
    an unpublished theme, and a private programme with a published theme (never public)."""
    programme.consent_text = "You agree that we may quote you, without your name."
    programme.save()
    CodingSettings.objects.create(programme=programme, retrain_every=10**6)
    what = Question.objects.create(
        programme=programme, key="what", prompt="What should we keep?", required=True, position=1
    )
    Question.objects.create(
        programme=programme,
        key="where",
        prompt="Where?",
        kind=Question.Kind.CHOICE,
        choices=["Ward", "Clinic"],
        position=2,
    )
    Question.objects.create(
        programme=programme,
        key="score",
        prompt="How good?",
        kind=Question.Kind.RATING,
        rating_min=1,
        rating_max=5,
        position=3,
    )
    published = Theme.objects.create(programme=programme, label="Remote care", position=0)
    hidden = Theme.objects.create(programme=programme, label="Unpublished theme", position=1)
    PublishedTheme.objects.create(theme=published)
    video = Code.objects.create(
        programme=programme, label="Video calls", theme=published, status="accepted"
    )
    parking = Code.objects.create(programme=programme, label="Parking", theme=hidden)
    subs = []
    for i in range(6):
        respondent = Respondent.objects.create(programme=programme, role="patient")
        subs.append(
            Submission.objects.create(
                programme=programme,
                question=what,
                respondent=respondent,
                text=SECRET if i == 0 else f"Video appointments saved me a journey, number {i}",
                source=Submission.Source.FORM,
                consent_given=True,
                reference=f"CB-TEST-{i:04d}",
                dedupe_key=f"k{i}",
            )
        )
    pending = Submission.objects.create(
        programme=programme,
        question=what,
        text="A pending answer that nobody may see yet about video",
        source=Submission.Source.FORM,
        moderation_status=Submission.Moderation.PENDING,
        consent_given=True,
        reference="CB-PEND-0000",
        dedupe_key="pending",
    )
    for s in subs:
        CodeAssignment.objects.create(submission=s, code=video, origin=Origin.AI, confidence=0.8)
    CodeAssignment.objects.create(submission=pending, code=video, origin=Origin.AI)
    CodeAssignment.objects.create(submission=subs[1], code=parking, origin=Origin.HUMAN)
    change = DistinctChange.objects.create(
        programme=programme, text="Keep video appointments", count=6, code=video
    )
    change.members.set(subs)
    hidden_change = DistinctChange.objects.create(
        programme=programme, text="Free parking", count=1, code=parking
    )
    hidden_change.members.set([subs[1]])
    video.size, parking.size = 6, 1
    video.save()
    parking.save()

    private = Programme.objects.create(title="Private", slug="private", visibility="private")
    secret_theme = Theme.objects.create(programme=private, label="Private theme")
    PublishedTheme.objects.create(theme=secret_theme)
    return {
        "programme": programme,
        "published": published,
        "hidden": hidden,
        "video": video,
        "parking": parking,
        "subs": subs,
        "pending": pending,
        "change": change,
        "hidden_change": hidden_change,
        "private": private,
    }


def user_with(role: str | None, name: str) -> User:
    ensure_roles()
    user = User.objects.create_user(name, password="a-long-test-password")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def bearer(user: User) -> dict:
    _token, key = ApiToken.issue(user, "tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@pytest.fixture
def world(programme):
    cache.clear()
    return build_world(programme)


@pytest.fixture
def analyst_headers(world, analyst):
    return bearer(analyst)


def get(client: Client, path: str, **headers):
    return client.get(API + path, **headers)


def send(client: Client, method: str, path: str, body=None, **headers):
    return getattr(client, method)(
        API + path, json.dumps(body) if body is not None else None, "application/json", **headers
    )


# --- the schema and the docs ----------------------------------------------------------------------


def test_openapi_schema_is_served_and_ninja_docs_are_off(client, db):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["version"] == "1"
    assert "TokenAuth" in schema["components"]["securitySchemes"]
    assert f"{API}/programmes/{{slug}}/submissions" in schema["paths"]
    # Swagger UI would come from a CDN with an inline script, which our CSP forbids
    assert client.get(f"{API}/docs").status_code == 404


# --- authentication -------------------------------------------------------------------------------


def test_analyst_endpoints_need_authentication(client, world):
    response = get(client, "/programmes/test/codes")
    assert response.status_code == 401
    assert response.json() == {"detail": "Sign in or send an API token."}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_or_malformed_token_is_refused(client, world, analyst):
    bad = get(client, "/programmes/test/codes", HTTP_AUTHORIZATION="Bearer cb_not-a-real-key")
    assert bad.status_code == 401
    assert "not valid" in bad.json()["detail"]
    basic = get(client, "/programmes/test/codes", HTTP_AUTHORIZATION="Basic YTpi")
    assert basic.status_code == 401


def test_a_wrong_token_is_refused_even_in_a_signed_in_browser(client, world, analyst):
    client.force_login(analyst)
    response = get(client, "/programmes/test/codes", HTTP_AUTHORIZATION="Bearer cb_wrong")
    assert response.status_code == 401


def test_a_token_works_until_revoked_and_notes_its_use(client, world, analyst):
    token, key = ApiToken.issue(analyst, "script")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert get(client, "/programmes/test/codes", **headers).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    token.revoked_at = timezone.now()
    token.save()
    assert get(client, "/programmes/test/codes", **headers).status_code == 401


def test_a_token_of_a_deactivated_account_is_refused(client, world, analyst):
    headers = bearer(analyst)
    analyst.is_active = False
    analyst.save()
    assert get(client, "/programmes/test/codes", **headers).status_code == 401


def test_session_reads_need_no_csrf_but_writes_do(world, analyst):
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)
    assert get(client, "/programmes/test/codes").status_code == 200
    refused = send(client, "post", "/programmes/test/codes", {"label": "From the browser"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not Code.objects.filter(label="From the browser").exists()
    # the token the site's pages carry, sent back as the header and the cookie
    assert client.get("/programmes/test/take-part/").status_code == 200
    csrf = client.cookies["csrftoken"].value
    done = send(
        client,
        "post",
        "/programmes/test/codes",
        {"label": "From the browser"},
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert done.status_code == 201, done.content
    assert Code.objects.filter(label="From the browser", programme=world["programme"]).exists()


def test_token_writes_need_no_csrf(world, analyst):
    client = Client(enforce_csrf_checks=True)
    response = send(
        client, "post", "/programmes/test/codes", {"label": "By token"}, **bearer(analyst)
    )
    assert response.status_code == 201


# --- permissions by role --------------------------------------------------------------------------

ROLES = {
    "anonymous": None,
    "signed in, no role": "",
    "panel member": "panel member",
    "evaluation lead": "evaluation lead",
    "analyst": "analyst",
}


def _endpoints(w: dict) -> list[tuple[str, str, dict | None]]:
    sub = w["subs"][2]
    coding = CodeAssignment.objects.get(submission=sub, code=w["video"])
    return [
        ("get", "/programmes/test/codes", None),
        ("get", f"/programmes/test/codes/{w['video'].pk}", None),
        ("get", "/programmes/test/codings", None),
        ("get", "/programmes/test/submissions", None),
        ("post", "/programmes/test/codes", {"label": "New code"}),
        ("patch", f"/programmes/test/codes/{w['parking'].pk}", {"label": "Car parking"}),
        ("put", f"/programmes/test/submissions/{sub.pk}/codes", {"codes": [w["video"].pk]}),
        ("delete", f"/programmes/test/codings/{coding.pk}", None),
    ]


#: The status each role gets from each endpoint above, in order.
EXPECTED = {
    "anonymous": [401] * 8,
    "signed in, no role": [403] * 8,
    "panel member": [200, 200, 200, 403, 403, 403, 403, 403],
    "evaluation lead": [200, 200, 200, 200, 403, 403, 403, 403],
    "analyst": [200, 200, 200, 200, 201, 200, 200, 204],
}


@pytest.mark.parametrize("who", list(ROLES))
@pytest.mark.parametrize("how", ["token", "session"])
def test_permissions_of_each_analyst_endpoint_by_role(world, who, how):
    client = Client()
    headers = {}
    role = ROLES[who]
    if role is not None:
        user = user_with(role or None, "someone")
        if how == "token":
            headers = bearer(user)
        else:
            client.force_login(user)
    got = [send(client, m, p, b, **headers).status_code for m, p, b in _endpoints(world)]
    assert got == EXPECTED[who]


def test_only_analysts_see_original_text(world, analyst):
    client = Client()
    lead = user_with("evaluation lead", "lead")
    as_lead = get(client, "/programmes/test/submissions?limit=100", **bearer(lead)).json()
    texts = {item["reference"]: item for item in as_lead["items"]}
    assert texts["CB-TEST-0000"]["redacted"] is True
    assert "07700" not in texts["CB-TEST-0000"]["text"]
    assert "Sarah" not in texts["CB-TEST-0000"]["text"]
    # searching the text as written would reveal it
    assert get(client, "/programmes/test/submissions?q=Sarah", **bearer(lead)).status_code == 403
    as_analyst = get(client, "/programmes/test/submissions?q=Sarah", **bearer(analyst)).json()
    assert [i["text"] for i in as_analyst["items"]] == [SECRET]
    assert as_analyst["items"][0]["redacted"] is False


def test_private_programmes_are_hidden_from_people_who_cannot_see_them(world):
    client = Client()
    panel = user_with("panel member", "panel")
    # panel members may see every programme (listen.view_programme), including private ones
    assert get(client, "/programmes/private/codes", **bearer(panel)).status_code == 200
    assert get(client, "/programmes/nope/codes", **bearer(panel)).status_code == 404


# --- public reads ---------------------------------------------------------------------------------


def test_programmes_lists_public_ones_with_their_form(client, world):
    Programme.objects.create(title="Unlisted", slug="unlisted", visibility="unlisted")
    listed = get(client, "/programmes").json()
    assert [p["slug"] for p in listed["items"]] == ["test"]
    assert listed["count"] == 1 and listed["items"][0]["open"] is True
    assert [q["key"] for q in listed["items"][0]["questions"]] == ["what", "where", "score"]
    detail = get(client, "/programmes/test").json()
    assert [q["key"] for q in detail["questions"]] == ["what", "where", "score"]
    assert detail["questions"][1]["choices"] == ["Ward", "Clinic"]
    assert detail["questions"][2]["rating_max"] == 5
    assert detail["consent_text"].startswith("You agree")
    assert get(client, "/programmes/unlisted").status_code == 200
    assert get(client, "/programmes/private").status_code == 404
    assert get(client, "/programmes/missing").status_code == 404


def test_catalogue_shows_only_published_themes_and_changes_redacted(client, world):
    themes = get(client, "/catalogue/themes").json()
    assert [t["label"] for t in themes["items"]] == ["Remote care"]
    theme = themes["items"][0]
    # approved submissions only: six people, not the pending one
    assert theme["people"] == 6 and theme["submissions"] == 6
    assert theme["groups"][0]["key"] == "patient"
    body = json.dumps(themes)
    assert "07700" not in body and "Sarah" not in body and "pending answer" not in body
    detail = get(client, f"/catalogue/themes/{world['published'].pk}").json()
    assert [c["text"] for c in detail["changes"]] == ["Keep video appointments"]
    assert all("07700" not in q["text"] for q in detail["quotes"])
    for hidden in (world["hidden"], Theme.objects.get(label="Private theme")):
        assert get(client, f"/catalogue/themes/{hidden.pk}").status_code == 404

    changes = get(client, "/catalogue/changes").json()
    assert [c["id"] for c in changes["items"]] == [world["change"].pk]
    assert changes["items"][0]["theme"] == {"id": world["published"].pk, "label": "Remote care"}
    one = get(client, f"/catalogue/changes/{world['change'].pk}").json()
    assert one["people"] == 6 and "07700" not in json.dumps(one)
    assert get(client, f"/catalogue/changes/{world['hidden_change'].pk}").status_code == 404


def test_catalogue_filters_and_paging(client, world):
    assert get(client, "/catalogue/themes?q=remote").json()["count"] == 1
    assert get(client, "/catalogue/themes?q=zebra").json()["count"] == 0
    assert get(client, "/catalogue/themes?group=patient").json()["count"] == 1
    assert get(client, "/catalogue/themes?group=staff").json()["count"] == 0
    assert get(client, "/catalogue/themes?programme=test").json()["count"] == 1
    assert get(client, "/catalogue/themes?programme=private").status_code == 404
    assert get(client, "/catalogue/changes?stage=none").json()["count"] == 1
    assert get(client, "/catalogue/changes?stage=adopting").json()["count"] == 0
    assert get(client, "/catalogue/changes?q=video").json()["count"] == 1
    bad = get(client, "/catalogue/changes?rsa=whatever")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "rsa"]
    assert get(client, "/catalogue/changes?limit=101").status_code == 422
    assert get(client, "/catalogue/changes?limit=0").status_code == 422
    paged = get(client, "/catalogue/themes?limit=1&offset=1").json()
    assert paged == {"count": 1, "limit": 1, "offset": 1, "items": []}


# --- taking part ----------------------------------------------------------------------------------

GOOD = {
    "answers": {"what": "Keep the evening clinic", "where": "Clinic", "score": 4},
    "role": "carer",
    "equality": {"age": "25 to 34"},
    "consent": True,
}


def test_a_valid_submission_waits_for_moderation(client, world):
    response = send(client, "post", "/programmes/test/submissions", GOOD)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["moderation"] == "pending" and body["submissions"] == 1
    saved = Submission.objects.get(reference=body["reference"])
    assert saved.text == "Keep the evening clinic"
    assert saved.answers == {"Where?": "Clinic", "How good?": "4"}
    assert saved.moderation_status == Submission.Moderation.PENDING
    assert saved.consent_given is True
    assert saved.respondent.role == "carer"
    assert saved.respondent.equality == {"What is your age?": "25 to 34"}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"answers": {"where": "Ward"}}, ["body", "answers", "what"]),
        ({"answers": {"what": "x", "where": "Moon"}}, ["body", "answers", "where"]),
        ({"answers": {"what": "x", "score": 9}}, ["body", "answers", "score"]),
        ({"answers": {"what": "x", "nope": "y"}}, ["body", "answers", "nope"]),
        ({"answers": {"what": "x" * 5001}}, ["body", "answers", "what"]),
        ({"equality": {"age": "Ancient"}}, ["body", "equality", "age"]),
        ({"role": "king"}, ["body", "role"]),
        ({"consent": False}, ["body", "consent"]),
    ],
)
def test_invalid_submissions_say_where_the_problem_is(client, world, change, where):
    response = send(client, "post", "/programmes/test/submissions", {**GOOD, **change})
    assert response.status_code == 422, response.content
    assert where in [item["loc"] for item in response.json()["detail"]]
    assert not Submission.objects.filter(text="Keep the evening clinic").exists()


def test_consent_is_needed_only_when_the_programme_asks_for_it(client, world):
    programme = world["programme"]
    programme.consent_text = ""
    programme.save()
    response = send(client, "post", "/programmes/test/submissions", {**GOOD, "consent": False})
    assert response.status_code == 201
    assert Submission.objects.get(reference=response.json()["reference"]).consent_given is None


def test_closed_and_private_programmes_take_nothing(client, world):
    programme = world["programme"]
    programme.accepting_submissions = False
    programme.save()
    closed = send(client, "post", "/programmes/test/submissions", GOOD)
    assert closed.status_code == 409
    assert "not taking" in closed.json()["detail"]
    assert send(client, "post", "/programmes/private/submissions", GOOD).status_code == 404


def test_submissions_are_rate_limited_per_address(client, world, settings):
    settings.CHANGEBANK_FORM_RATE_LIMIT = 2
    for _ in range(2):
        assert send(client, "post", "/programmes/test/submissions", GOOD).status_code == 201
    limited = send(client, "post", "/programmes/test/submissions", GOOD)
    assert limited.status_code == 429
    other = send(client, "post", "/programmes/test/submissions", GOOD, REMOTE_ADDR="10.1.2.3")
    assert other.status_code == 201
    # shared with the web form: the same budget per address
    page = client.post("/programmes/test/take-part/", {"q_what": "Hello there", "consent": "on"})
    assert page.status_code == 429


# --- analysts' writes, through the board's functions ----------------------------------------------


def test_creating_and_editing_codes_is_undoable_like_the_board(client, world, analyst):
    headers = bearer(analyst)
    before = WorkspaceAction.objects.count()
    made = send(
        client,
        "post",
        "/programmes/test/codes",
        {"label": "  Evening   clinics ", "theme": world["published"].pk},
        **headers,
    )
    assert made.status_code == 201
    code = Code.objects.get(pk=made.json()["id"])
    assert (code.label, code.theme, code.origin) == ("Evening clinics", world["published"], "human")
    action = WorkspaceAction.objects.order_by("-id").first()
    assert (action.kind, action.actor, action.summary) == (
        "create code",
        analyst,
        "Created the code ‘Evening clinics’",
    )
    assert WorkspaceAction.objects.count() == before + 1

    edited = send(
        client,
        "patch",
        f"/programmes/test/codes/{code.pk}",
        {"label": "Late clinics", "theme": world["hidden"].pk},
        **headers,
    )
    assert edited.status_code == 200
    assert edited.json()["theme"] == {"id": world["hidden"].pk, "label": "Unpublished theme"}
    kinds = list(WorkspaceAction.objects.order_by("-id").values_list("kind", flat=True)[:2])
    assert kinds == ["move code", "edit code"]
    # the audit trail names the token's owner
    assert AuditEvent.objects.filter(object_type="understand.code", actor=analyst).exists()

    # undo from the web history, newest first
    undo(undoable(world["programme"]), analyst)
    undo(undoable(world["programme"]), analyst)
    code.refresh_from_db()
    assert (code.label, code.theme) == ("Evening clinics", world["published"])
    undo(undoable(world["programme"]), analyst)
    assert not Code.objects.filter(pk=code.pk).exists()


def test_patch_leaves_out_what_is_not_sent_and_null_theme_unthemes(client, world, analyst):
    headers = bearer(analyst)
    parking = world["parking"]
    path = f"/programmes/test/codes/{parking.pk}"
    before = WorkspaceAction.objects.count()
    assert send(client, "patch", path, {}, **headers).status_code == 200
    assert WorkspaceAction.objects.count() == before
    response = send(client, "patch", path, {"theme": None}, **headers)
    assert response.json()["theme"] is None
    assert WorkspaceAction.objects.count() == before + 1
    assert send(client, "patch", path, {"label": "   "}, **headers).status_code == 422
    assert send(client, "patch", path, {"theme": 999999}, **headers).status_code == 422
    other = Code.objects.create(programme=world["private"], label="Elsewhere")
    assert (
        send(client, "patch", f"/programmes/test/codes/{other.pk}", {}, **headers).status_code
        == 404
    )


def test_setting_codes_is_a_decision_undoable_like_the_coding_page(client, world, analyst):
    headers = bearer(analyst)
    sub = world["subs"][3]
    video, parking = world["video"], world["parking"]
    response = send(
        client,
        "put",
        f"/programmes/test/submissions/{sub.pk}/codes",
        {"codes": [parking.pk]},
        **headers,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(c["code"], c["origin"], c["decided_by"]) for c in body["codes"]] == [
        (parking.pk, "human", "ana")
    ]
    action = WorkspaceAction.objects.order_by("-id").first()
    assert (action.kind, action.actor, action.summary) == (
        "code",
        analyst,
        f"Coded submission {sub.reference}",
    )
    decision = CodingDecision.objects.get(submission=sub)
    assert (decision.ai_codes, decision.human_codes) == ([video.pk], [parking.pk])
    undo(undoable(world["programme"]), analyst)
    assert list(sub.code_assignments.values_list("code_id", "origin")) == [(video.pk, "ai")]

    unknown = send(
        client,
        "put",
        f"/programmes/test/submissions/{sub.pk}/codes",
        {"codes": [video.pk, 999999]},
        **headers,
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "codes", 1]


def test_deleting_a_coding_keeps_the_others_and_is_undoable(client, world, analyst):
    headers = bearer(analyst)
    sub = world["subs"][1]
    coding = CodeAssignment.objects.get(submission=sub, code=world["parking"])
    response = send(client, "delete", f"/programmes/test/codings/{coding.pk}", **headers)
    assert response.status_code == 204
    assert list(sub.code_assignments.values_list("code_id", flat=True)) == [world["video"].pk]
    action = WorkspaceAction.objects.order_by("-id").first()
    assert action.summary == f"Removed ‘Parking’ from submission {sub.reference}"
    undo(action, analyst)
    assert CodeAssignment.objects.filter(submission=sub, code=world["parking"]).exists()
    assert send(client, "delete", "/programmes/test/codings/999999", **headers).status_code == 404


def test_codes_and_codings_lists_filter_and_count(client, world, analyst_headers):
    codes = get(client, "/programmes/test/codes", **analyst_headers).json()
    by_label = {c["label"]: c for c in codes["items"]}
    assert by_label["Video calls"]["ai_codings"] == 7
    assert by_label["Video calls"]["theme"]["label"] == "Remote care"
    assert by_label["Parking"]["human_codings"] == 1
    assert get(client, "/programmes/test/codes?q=park", **analyst_headers).json()["count"] == 1
    codings = get(client, "/programmes/test/codings?origin=human", **analyst_headers).json()
    assert codings["count"] == 1 and codings["items"][0]["code"] == world["parking"].pk
    paged = get(
        client, f"/programmes/test/codings?code={world['video'].pk}&limit=2", **analyst_headers
    ).json()
    assert (paged["count"], len(paged["items"])) == (7, 2)
    uncoded = get(client, "/programmes/test/submissions?coded=false", **analyst_headers).json()
    assert uncoded["count"] == 0


# --- the pages: API overview and tokens -----------------------------------------------------------


def _site_with_api_pages() -> list:
    """The site's URLs with the API pages in the ``share`` namespace (whether or not
    ``share/urls.py`` lists them yet)."""
    from django.urls import include, path

    import changebank.urls as site
    from changebank.share import urls as share_urls
    from changebank.share.views import api_pages

    others = [p for p in site.urlpatterns if getattr(p, "namespace", None) != "share"]
    names = {p.name for p in share_urls.urlpatterns}
    extra = [p for p in api_pages.urlpatterns if p.name not in names]
    share = ([*share_urls.urlpatterns, *extra], "share")
    return [*others, path("", include(share))]


urlpatterns = _site_with_api_pages()
pages = pytest.mark.urls(__name__)


@pages
def test_api_overview_page_links_to_the_schema(client, db):
    response = client.get("/api/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/api/v1/openapi.json"' in html
    assert "Authorization: Bearer" in html
    assert "/api/v1/programmes/{slug}/codes" in html
    # nothing from elsewhere: the site's Content-Security-Policy allows only its own scripts
    assert 'src="http' not in html and 'href="http' not in html.replace(
        response.wsgi_request.build_absolute_uri("/"), ""
    )


@pages
def test_tokens_page_needs_sign_in(client, db):
    response = client.get("/account/api-tokens/")
    assert response.status_code == 302 and "/sign-in/" in response["Location"]


@pages
def test_a_token_is_shown_once_listed_and_revoked(world, analyst):
    client = Client()
    client.force_login(analyst)
    made = client.post("/account/api-tokens/", {"action": "create", "name": "Notebook"})
    assert made.status_code == 200
    assert made["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=analyst, name="Notebook")
    html = made.content.decode()
    key = html.split('id="new-key" type="text" value="')[1].split('"')[0]
    assert key.startswith(token.prefix) and ApiToken.authenticate(key) == token
    assert (
        get(client, "/programmes/test/codes", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    )

    listing = client.get("/account/api-tokens/").content.decode()
    assert "Notebook" in listing and token.prefix in listing and key not in listing

    # nobody else's token can be revoked from here
    other = user_with("analyst", "other")
    theirs, _ = ApiToken.issue(other, "Theirs")
    assert (
        client.post("/account/api-tokens/", {"action": "revoke", "token": theirs.pk}).status_code
        == 404
    )
    revoked = client.post("/account/api-tokens/", {"action": "revoke", "token": token.pk})
    assert revoked.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.authenticate(key) is None
    assert "Revoked" in client.get("/account/api-tokens/").content.decode()


@pages
def test_a_token_needs_a_name(world, analyst):
    client = Client()
    client.force_login(analyst)
    response = client.post("/account/api-tokens/", {"action": "create", "name": ""})
    assert response.status_code == 400
    assert "Enter what the token is for" in response.content.decode()
    assert not ApiToken.objects.filter(user=analyst).exists()
