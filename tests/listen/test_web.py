"""The Listen pages through Django's test client: the public form, search, imports, permissions."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from changebank.core.models import AuditEvent
from changebank.listen.models import ImportBatch, Programme, Question, Submission
from tests.conftest import FIXTURES


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def open_programme(db):
    p = Programme.objects.create(
        title="Beneficial changes",
        slug="bcn",
        visibility="public",
        consent_text="I agree my answers can be used.",
    )
    Question.objects.create(
        programme=p, key="keep", position=1, prompt="What would you keep?", required=True
    )
    Question.objects.create(
        programme=p, key="never", position=2, prompt="What should never come back?"
    )
    Question.objects.create(
        programme=p, key="helped", position=3, prompt="How much did it help?", kind="rating"
    )
    return p


def form_data(**extra):
    data = {
        "q_keep": "Keep the virtual ward visits",
        "q_never": "",
        "consent": "on",
        "role": "carer",
        "organisation": "Riverside Practice",
        "eq_age": "45 to 54",
        "q_helped": "4",
    }
    data.update(extra)
    return data


def test_home_programme_and_form_pages(client, open_programme):
    assert "Beneficial changes" in client.get("/").content.decode()
    page = client.get("/programmes/bcn/").content.decode()
    assert "/programmes/bcn/take-part/" in page
    form = client.get("/programmes/bcn/take-part/")
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="q_keep"' in html and 'name="consent"' in html
    assert "Content-Security-Policy" in form.headers


def test_contributor_submits_and_gets_a_reference(client, open_programme):
    response = client.post("/programmes/bcn/take-part/", form_data(), follow=True)
    html = response.content.decode()
    reference = re.search(r'id="reference">(CB-[A-Z0-9]{4}-[A-Z0-9]{4})<', html).group(1)
    submission = Submission.objects.get(reference=reference)
    assert submission.text == "Keep the virtual ward visits"
    assert submission.source == "form"
    assert submission.moderation_status == "pending"
    assert submission.consent_given is True
    assert submission.answers == {"How much did it help?": "4"}
    assert submission.respondent.role == "carer"
    assert submission.respondent.equality == {"What is your age?": "45 to 54"}
    assert AuditEvent.objects.filter(object_type="listen.submission", action="create").exists()


def test_form_errors_use_the_error_summary(client, open_programme):
    response = client.post("/programmes/bcn/take-part/", form_data(q_keep="", consent=""))
    html = response.content.decode()
    assert response.status_code == 200
    assert "nhsuk-error-summary" in html
    assert 'href="#id_q_keep"' in html
    assert "Enter your answer to" in html
    assert "Confirm that you agree" in html
    assert html.count("<title>Error: ") == 1
    assert Submission.objects.count() == 0


def test_answer_length_limit(client, open_programme):
    response = client.post("/programmes/bcn/take-part/", form_data(q_keep="x" * 5001))
    assert "5,000 characters or fewer" in response.content.decode()
    assert Submission.objects.count() == 0


def test_honeypot_is_reported_not_silent(client, open_programme):
    response = client.post("/programmes/bcn/take-part/", form_data(website="http://spam.example"))
    html = response.content.decode()
    assert "Leave the field called ‘website’ empty" in html
    assert Submission.objects.count() == 0


def test_rate_limit_says_why(client, open_programme, settings):
    settings.CHANGEBANK_FORM_RATE_LIMIT = 2
    for _ in range(2):
        assert client.post("/programmes/bcn/take-part/", form_data()).status_code == 302
    blocked = client.post("/programmes/bcn/take-part/", form_data())
    assert blocked.status_code == 429
    assert "Too many answers from this connection" in blocked.content.decode()
    assert Submission.objects.count() == 2


def test_closed_and_private_programmes(client, open_programme):
    open_programme.accepting_submissions = False
    open_programme.save()
    assert "not taking answers" in client.get("/programmes/bcn/take-part/").content.decode()
    Programme.objects.create(title="Private", slug="private", visibility="private")
    assert client.get("/programmes/private/").status_code == 404


@pytest.mark.parametrize(
    "url", ["/submissions/", "/submissions/1/", "/imports/new/", "/imports/1/"]
)
def test_analyst_pages_need_a_role(client, db, url):
    from changebank.core.roles import ensure_roles

    ensure_roles()
    response = client.get(url)
    assert response.status_code == 302 and "/sign-in/" in response.url
    panel = User.objects.create_user("pm", password="a-long-test-password")
    panel.groups.add(Group.objects.get(name="panel member"))
    client.force_login(panel)
    assert client.get(url).status_code == 403


def test_analyst_finds_a_submission_by_a_word(client, analyst, open_programme):
    client.post(
        "/programmes/bcn/take-part/", form_data(q_keep="Physiotherapy by video was brilliant")
    )
    client.post("/programmes/bcn/take-part/", form_data(q_keep="Parking was free for staff"))
    client.force_login(analyst)
    html = client.get("/submissions/", {"q": "physio"}).content.decode()
    assert "1 submission matching" in html
    assert "<mark>Physio</mark>therapy" in html
    # Search input cannot inject FTS syntax or SQL.
    for nasty in ['"', "NEAR(", "a OR", "'; DROP TABLE listen_submission; --", "*"]:
        assert client.get("/submissions/", {"q": nasty}).status_code == 200
    sub = Submission.objects.get(text__startswith="Physiotherapy")
    detail = client.get(f"/submissions/{sub.pk}/").content.decode()
    assert sub.reference in detail and "Physiotherapy by video" in detail


def test_filters(client, analyst, programme):
    from changebank.listen.importers.loader import import_file

    import_file(FIXTURES / "surveys" / "googleforms.csv", programme)
    client.force_login(analyst)
    everything = client.get("/submissions/", {"programme": "test"}).content.decode()
    assert "18 submissions" in everything
    staff = client.get("/submissions/", {"programme": "test", "role": "staff"}).content.decode()
    assert re.search(r"\b[1-9] submissions?\b", staff)
    assert "0 submissions" in client.get("/submissions/", {"source": "form"}).content.decode()


def test_import_through_the_web_with_preview(client, analyst, programme):
    client.force_login(analyst)
    with (FIXTURES / "surveys" / "qualtrics.csv").open("rb") as fh:
        response = client.post("/imports/new/", {"programme": "test", "file": fh})
    assert response.status_code == 302
    preview = client.get(response.url)
    html = preview.content.decode()
    assert "Qualtrics export" in html
    assert "What should never come back?" in html
    # Accept the proposed role of every column, as shown selected on the page.
    selects = re.findall(r'<select class="nhsuk-select" id="id_(role_\d+)".*?</select>', html, re.S)
    data = {"on_error": "reject"}
    for name, block in zip(
        selects,
        re.findall(r'<select class="nhsuk-select" id="id_role_\d+".*?</select>', html, re.S),
        strict=True,
    ):
        data[name] = re.search(r'<option value="([a-z_]+)" selected>', block).group(1)
    done = client.post(response.url, data)
    assert done.status_code == 302
    batch = ImportBatch.objects.get()
    assert batch.detected_format == "qualtrics"
    assert batch.created_by == analyst
    assert Submission.objects.filter(programme=programme).count() == 18
    assert "Rows added" in client.get(done.url).content.decode()
    overview = client.get("/programmes/test/").content.decode()
    assert "Import: 18" in overview and "qualtrics.csv" in overview


def test_web_import_of_a_bad_file_shows_the_problem(client, analyst, programme):
    client.force_login(analyst)
    with (FIXTURES / "surveys" / "bad" / "truncated.xlsx").open("rb") as fh:
        response = client.post("/imports/new/", {"programme": "test", "file": fh})
    preview = client.get(response.url)
    assert preview.status_code == 400
    assert "is not a complete XLSX workbook" in preview.content.decode()
    assert ImportBatch.objects.count() == 0


def test_documents_upload_into_passages_and_submissions(client, analyst, programme, tmp_path):
    from changebank.listen.models import Document

    transcript = tmp_path / "focus-group.vtt"
    transcript.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Ayesha>The video clinic meant I kept my job.\n\n"
        "00:00:05.000 --> 00:00:09.000\n<v Tom>Text reminders stopped me missing appointments.\n",
        encoding="utf-8",
    )
    client.force_login(analyst)
    with transcript.open("rb") as fh:
        response = client.post("/imports/new/", {"programme": "test", "file": fh})
    document = Document.objects.get()
    assert response.url == f"/documents/{document.pk}/"
    page = client.get(response.url).content.decode()
    assert "Ayesha" in page and "video clinic" in page
    subs = Submission.objects.filter(document=document).order_by("passage__index")
    assert [s.source for s in subs] == ["transcript", "transcript"]
    assert subs[0].passage.speaker == "Ayesha"
    assert subs[0].passage.start_seconds == 1.0
    # The same file again adds nothing.
    with transcript.open("rb") as fh:
        client.post("/imports/new/", {"programme": "test", "file": fh})
    assert Document.objects.count() == 1


def test_a_broken_document_is_explained(client, analyst, programme, tmp_path):
    broken = tmp_path / "evidence.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj <<")
    client.force_login(analyst)
    with broken.open("rb") as fh:
        response = client.post("/imports/new/", {"programme": "test", "file": fh})
    assert response.status_code == 400
    assert "evidence.pdf" in response.content.decode()
    assert Submission.objects.count() == 0


def test_pagination_keeps_the_filters(client, analyst, programme, tmp_path):
    from changebank.listen.importers.loader import import_file

    path = tmp_path / "many.csv"
    path.write_text(
        "id,comment\n"
        + "".join(f"{i},Comment {i} about the discharge lounge\n" for i in range(120))
    )
    import_file(path, programme)
    client.force_login(analyst)
    first = client.get("/submissions/", {"q": "discharge"}).content.decode()
    assert "120 submissions" in first and "Page 1 of 3" in first
    assert "?q=discharge&amp;page=2" in first
    second = client.get("/submissions/", {"q": "discharge", "page": 2}).content.decode()
    assert "Page 2 of 3" in second and "page=1" in second and "page=3" in second
