"""Redaction at ingest: every way a submission arrives stores the redacted text, with the
original kept apart; staff without ``listen.view_original_text`` never see it; analysts review and
restore false positives, audited."""

from __future__ import annotations

import json
import re
import zipfile
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.urls import reverse

from changebank.core.models import AuditEvent
from changebank.core.roles import ensure_roles
from changebank.listen.models import Programme, Question, Submission
from changebank.listen.privacy_ingest import (
    highlight,
    map_offset,
    prepare_text,
    redact_existing,
    restore,
)
from tests.conftest import shared

WRITTEN = "Please email me at jo.bloggs@example.com or ring 07700 900123 about Beryl."
REDACTED = "Please email me at [EMAIL] or ring [PHONE] about [NAME]."


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def open_programme(db):
    p = Programme.objects.create(
        title="Open",
        slug="open",
        visibility="public",
        consent_text="I agree.",
        redact_names="Beryl",
    )
    Question.objects.create(programme=p, key="what", position=1, prompt="What?", required=True)
    return p


def _user(name: str, role: str | None) -> User:
    ensure_roles()
    user = User.objects.create_user(name, password="a-long-test-password")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


# --- the function ---------------------------------------------------------------------------------


def test_prepare_text_keeps_the_original_apart(db):
    p = Programme(redact_names="Beryl\n\n  Dr Hughes  \n")
    text, original, redactions = prepare_text(p, WRITTEN)
    assert text == REDACTED
    assert original == WRITTEN
    assert [r["kind"] for r in redactions] == ["EMAIL", "PHONE", "NAME"]
    for r in redactions:
        assert WRITTEN[r["start"] : r["end"]] in ("jo.bloggs@example.com", "07700 900123", "Beryl")
    assert prepare_text(p, "Nothing personal here") == ("Nothing personal here", "", [])
    assert p.names_to_redact() == ("Beryl", "Dr Hughes")


def test_offsets_map_from_the_original_onto_the_redacted_text():
    text, original, marks = prepare_text(None, "Mail jo@x.com then the rota")
    at = original.index("the rota")
    assert text[map_offset(marks, at) : map_offset(marks, len(original), end=True)] == "the rota"
    # a span inside a redacted item covers its placeholder
    assert text[map_offset(marks, 6) : map_offset(marks, 8, end=True)] == "[EMAIL]"


# --- every creation path --------------------------------------------------------------------------


def _form(client, programme):
    response = client.post(
        "/programmes/open/take-part/", {"q_what": WRITTEN, "consent": "on"}, follow=True
    )
    assert response.status_code == 200
    return Submission.objects.get(programme=programme)


def _api(client, programme):
    response = client.post(
        "/api/v1/programmes/open/submissions",
        json.dumps({"answers": {"what": WRITTEN}, "consent": True}),
        "application/json",
    )
    assert response.status_code == 201, response.content
    return Submission.objects.get(reference=response.json()["reference"])


def _import(client, programme, tmp_path):
    from changebank.listen.importers.loader import import_file

    path = tmp_path / "answers.csv"
    path.write_text(f'ID,Comment\n1,"{WRITTEN}"\n', encoding="utf-8")
    import_file(path, programme)
    sub = Submission.objects.get(programme=programme)
    # importing the same file again finds the row already imported (compared as written)
    again = import_file(path, programme)
    assert again.rows_already_imported == 1 and again.error_count == 0
    return sub


def _document(client, programme, tmp_path):
    from changebank.listen.ingest import add_document

    path = tmp_path / "notes.txt"
    path.write_text(WRITTEN + "\n", encoding="utf-8")
    add_document(programme, path)
    return Submission.objects.get(programme=programme)


def _pulse(client, programme):
    from changebank.evaluate.models import PulseResponse, TrackedChange
    from changebank.evaluate.views.pulse import save_pulse

    tracked = TrackedChange.objects.create(programme=programme, title="Video follow-ups")
    response = save_pulse(tracked, {"helped": "yes", "text": WRITTEN, "role": "patient"})
    assert PulseResponse.objects.get().text == REDACTED  # the pulse row too
    return response.submission


def _experience(client, programme):
    from changebank.share.views.catalogue import _save_experience
    from changebank.understand.models import Theme

    theme = Theme.objects.create(programme=programme, label="Video")
    form = SimpleNamespace(cleaned_data={"text": WRITTEN, "role": "patient", "consent": True})
    reference = _save_experience(theme, form)
    return Submission.objects.get(reference=reference)


def _refi(client, programme, tmp_path):
    from changebank.share.refi import import_qdpx
    from changebank.understand.models import CodeSpan

    text = "Ring jo@example.com about the flexible rota"
    start = text.index("flexible rota")
    qde = shared("refi-qda", "examples", "minimal-project.qde").read_bytes()
    qde = qde.replace(
        b'startPosition="0" endPosition="13"',
        f'startPosition="{start}" endPosition="{start + 13}"'.encode(),
    )
    out = tmp_path / "project.qdpx"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr("sources/05000000-0000-4000-8000-000000000001.txt", text)
    import_qdpx(out, programme)
    sub = Submission.objects.get(programme=programme)
    assert sub.text == "Ring [EMAIL] about the flexible rota"
    assert sub.original_text == text
    span = CodeSpan.objects.get(assignment__submission=sub)
    assert sub.text[span.start : span.end] == "flexible rota"  # moved onto the redacted text
    return None


PATHS = {
    "form": _form,
    "api": _api,
    "import": _import,
    "document": _document,
    "pulse": _pulse,
    "experience": _experience,
    "refi": _refi,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_every_creation_path_stores_redacted_text_and_the_original_apart(
    path, client, open_programme, tmp_path
):
    make = PATHS[path]
    args = (
        (client, open_programme, tmp_path)
        if path in ("import", "document", "refi")
        else (
            client,
            open_programme,
        )
    )
    sub = make(*args)
    if sub is None:
        return  # checked inside (the REFI-QDA text differs)
    sub.refresh_from_db()
    assert sub.text == REDACTED
    assert sub.original_text == WRITTEN
    assert [r["kind"] for r in sub.redactions] == ["EMAIL", "PHONE", "NAME"]
    # the original never reaches the audit trail
    for event in AuditEvent.objects.all():
        assert "jo.bloggs" not in json.dumps([event.before, event.after, event.object_repr])


def test_search_finds_no_personal_data(client, open_programme):
    from changebank.listen.search import filter_submissions

    _form(client, open_programme)
    qs = Submission.objects.all()
    assert not filter_submissions(qs, {"q": "bloggs"}).exists()
    assert filter_submissions(qs, {"q": "email"}).exists()


# --- who sees the original ------------------------------------------------------------------------


@pytest.fixture
def redacted_sub(client, open_programme):
    return _form(client, open_programme)


def test_staff_without_the_permission_never_see_the_original(client, redacted_sub):
    lead = _user("lead", "evaluation lead")  # may view submissions, not originals
    client.force_login(lead)
    page = client.get(reverse("listen:submission_detail", args=[redacted_sub.pk])).content.decode()
    assert "[EMAIL]" in page and "jo.bloggs" not in page
    assert client.get(reverse("listen:redactions", args=["open"])).status_code == 403
    response = client.post(
        reverse("listen:redactions", args=["open"]), {"submission": redacted_sub.pk, "index": 0}
    )
    assert response.status_code == 403
    redacted_sub.refresh_from_db()
    assert redacted_sub.text == REDACTED


def test_analysts_see_the_original_with_the_redactions_marked(client, redacted_sub):
    client.force_login(_user("ana2", "analyst"))
    page = client.get(reverse("listen:submission_detail", args=[redacted_sub.pk])).content.decode()
    assert "jo.bloggs@example.com" in page
    assert "redacted: email address" in page and "<mark" in page
    coding = client.get(
        reverse("understand:code_submission", args=["open", redacted_sub.pk])
    ).content.decode()
    assert "jo.bloggs@example.com" in coding and "[EMAIL]" in coding


def test_api_gives_the_original_only_with_the_permission(client, redacted_sub):
    from django.contrib.auth.models import Permission

    from changebank.share.models import ApiToken

    def texts(user):
        _token, key = ApiToken.issue(user, "test")
        response = client.get(
            "/api/v1/programmes/open/submissions", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        assert response.status_code == 200, response.content
        return [i["text"] for i in response.json()["items"]]

    assert texts(_user("ana3", "analyst")) == [WRITTEN]
    lead = _user("lead2", "evaluation lead")  # views submissions, not originals
    assert not lead.has_perm("listen.view_original_text")
    assert Permission.objects.filter(codename="view_submission").exists()
    assert texts(lead) == [REDACTED]


def test_highlight_escapes_and_marks(db):
    sub = Submission(text="", original_text="", redactions=[])
    sub.text, sub.original_text, sub.redactions = prepare_text(None, "<b>jo@x.com</b>")
    assert str(highlight(sub, original=False)).startswith("&lt;b&gt;<mark")
    assert "jo@x.com" in str(highlight(sub, original=True))
    assert "jo@x.com" not in str(highlight(sub, original=False))


# --- review and restore ---------------------------------------------------------------------------


def test_review_page_counts_filters_and_restores_audited(client, redacted_sub):
    analyst = _user("ana4", "analyst")
    client.force_login(analyst)
    url = reverse("listen:redactions", args=["open"])
    page = client.get(url).content.decode()
    words = re.sub(r"<[^>]+>", "", page)
    assert "Email address: 1 item" in words and "Phone number: 1 item" in words
    assert "jo.bloggs@example.com" in page and "Restore this item" in page
    assert "Nothing of this kind" in client.get(url, {"kind": "POSTCODE"}).content.decode()
    assert "jo.bloggs" in client.get(url, {"kind": "EMAIL"}).content.decode()
    # "Beryl" is the name of a ward here, not a person: restore it (the third item)
    response = client.post(url, {"submission": redacted_sub.pk, "index": 2})
    assert response.status_code == 302
    redacted_sub.refresh_from_db()
    assert redacted_sub.text == "Please email me at [EMAIL] or ring [PHONE] about Beryl."
    assert [r["kind"] for r in redacted_sub.redactions] == ["EMAIL", "PHONE"]
    event = AuditEvent.objects.get(action="restore_redaction")
    assert event.actor == analyst and event.after["kind"] == "NAME"
    # restoring everything leaves the text as written and nothing kept apart
    restore(redacted_sub, 0)
    restore(Submission.objects.get(pk=redacted_sub.pk), 0)
    redacted_sub.refresh_from_db()
    assert redacted_sub.text == WRITTEN and redacted_sub.original_text == ""


def test_restore_moves_code_spans_after_it(client, redacted_sub):
    from changebank.understand.models import Code, CodeAssignment, CodeSpan

    code = Code.objects.create(programme=redacted_sub.programme, label="Contact")
    a = CodeAssignment.objects.create(submission=redacted_sub, code=code)
    at = redacted_sub.text.index("about")
    CodeSpan.objects.create(assignment=a, start=at, end=at + 5)
    restore(redacted_sub, 0)  # the email: the span after it moves
    redacted_sub.refresh_from_db()
    span = CodeSpan.objects.get()
    assert redacted_sub.text[span.start : span.end] == "about"


# --- data stored before redaction at ingest -------------------------------------------------------


def test_redact_existing_in_batches(open_programme):
    from changebank.understand.models import Code, CodeAssignment, CodeSpan

    subs = [
        Submission.objects.create(
            programme=open_programme,
            text=WRITTEN if i % 2 else "Nothing to see",
            source="import",
            reference=f"CB-AAAA-AAA{i}",
            dedupe_key=str(i),
        )
        for i in range(5)
    ]
    code = Code.objects.create(programme=open_programme, label="Contact")
    a = CodeAssignment.objects.create(submission=subs[1], code=code)
    at = WRITTEN.index("about")
    CodeSpan.objects.create(assignment=a, start=at, end=at + 5)
    assert redact_existing(open_programme, batch_size=2) == {"checked": 5, "changed": 2}
    subs[1].refresh_from_db()
    assert subs[1].text == REDACTED and subs[1].original_text == WRITTEN
    span = CodeSpan.objects.get()
    assert subs[1].text[span.start : span.end] == "about"
    assert redact_existing(open_programme) == {"checked": 5, "changed": 0}
    assert AuditEvent.objects.filter(action="redact_existing").count() == 2


def test_redact_existing_applies_names_added_to_the_list_later(open_programme):
    """A submission redacted at ingest gets the names added to the programme's list since, from
    its original; earlier redactions, code spans and the analysts' restorations stay right."""
    from changebank.listen.privacy_ingest import text_fields
    from changebank.understand.models import Code, CodeAssignment, CodeSpan

    written = "Ring 07700 900123 and ask Zebedee Quist about the clinic, or Beryl."
    sub = Submission.objects.create(
        programme=open_programme,
        source="import",
        reference="CB-AAAA-AAAZ",
        dedupe_key="z",
        **text_fields(open_programme, written),
    )
    assert sub.text == "Ring [PHONE] and ask Zebedee Quist about the clinic, or [NAME]."
    code = Code.objects.create(programme=open_programme, label="Clinic")
    a = CodeAssignment.objects.create(submission=sub, code=code)
    at = sub.text.index("clinic")
    CodeSpan.objects.create(assignment=a, start=at, end=at + 6)

    open_programme.redact_names = "Beryl\nZebedee Quist"
    open_programme.save()
    assert redact_existing(open_programme) == {"checked": 1, "changed": 1}
    sub.refresh_from_db()
    assert sub.text == "Ring [PHONE] and ask [NAME] about the clinic, or [NAME]."
    assert sub.original_text == written
    assert [(r["kind"], written[r["start"] : r["end"]]) for r in sub.redactions] == [
        ("PHONE", "07700 900123"),
        ("NAME", "Zebedee Quist"),
        ("NAME", "Beryl"),
    ]
    span = CodeSpan.objects.get()
    assert sub.text[span.start : span.end] == "clinic"
    assert str(highlight(sub, original=False)).count('<mark class="cb-redacted">') == 3
    assert redact_existing(open_programme) == {"checked": 1, "changed": 0}

    # An analyst judges the new one a false positive: running again does not redact it again.
    restore(sub, 1)
    sub.refresh_from_db()
    assert sub.text == "Ring [PHONE] and ask Zebedee Quist about the clinic, or [NAME]."
    assert redact_existing(open_programme) == {"checked": 1, "changed": 0}
    sub.refresh_from_db()
    assert "Zebedee Quist" in sub.text
    span = CodeSpan.objects.get()
    assert sub.text[span.start : span.end] == "clinic"


def test_redact_existing_keeps_restorations_when_all_were_restored(open_programme):
    from changebank.listen.privacy_ingest import text_fields

    written = "Ask Beryl on ward 7."
    sub = Submission.objects.create(
        programme=open_programme,
        source="import",
        reference="CB-AAAA-AAAY",
        dedupe_key="y",
        **text_fields(open_programme, written),
    )
    restore(sub, 0)  # the only redaction: the text is the original again
    sub.refresh_from_db()
    assert sub.text == written and sub.original_text == ""
    assert redact_existing(open_programme) == {"checked": 1, "changed": 0}
    sub.refresh_from_db()
    assert sub.text == written
