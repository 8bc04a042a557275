"""Pulse feedback on an adopted change: the public form, what an answer stores (a pulse response
and, with words, a submission of the programme), validation, the closed form, the limit per
address, and the CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import cache
from django.urls import reverse

from changebank.evaluate.models import PulseResponse, Stage
from changebank.evaluate.views.pulse import PULSE_RATE_LIMIT
from changebank.listen.models import Question, Submission


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def open_pulse(tracked):
    tracked.stage = Stage.ADOPTING
    tracked.pulse_open = True
    tracked.summary = "Follow-up appointments by video unless you ask to come in."
    tracked.save()
    return tracked


def pulse_url(tracked) -> str:
    return reverse("evaluate:pulse", args=[tracked.pulse_token])


def test_the_form_asks_the_question(client, open_pulse):
    response = client.get(pulse_url(open_pulse))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Video consultations for follow-ups" in page
    assert "Follow-up appointments by video" in page
    assert "Did this change help you?" in page
    for value in ("yes", "partly", "no", "unsure"):
        assert f'type="radio" value="{value}"' in page
    for value in ("patient", "carer", "staff", "public"):
        assert f'value="{value}"' in page
    assert "How we use your feedback" in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_an_answer_with_words_becomes_a_submission(client, open_pulse, programme):
    response = client.post(
        pulse_url(open_pulse),
        {"helped": "yes", "text": "Saved me a day off work", "role": "patient"},
    )
    done = reverse("evaluate:pulse_done", args=[open_pulse.pulse_token])
    assert response.status_code == 302 and response["Location"] == done
    pulse = PulseResponse.objects.get()
    assert (pulse.tracked, pulse.helped, pulse.role) == (open_pulse, "yes", "patient")
    sub = pulse.submission
    assert sub.programme == programme
    assert sub.source == Submission.Source.PULSE
    assert sub.text == "Saved me a day off work"
    assert sub.answers == {"helped": "yes", "role": "patient"}
    assert sub.moderation_status == Submission.Moderation.PENDING
    assert sub.reference.startswith("CB-")
    assert len(sub.dedupe_key) == 64
    assert sub.respondent.role == "patient"
    question = sub.question
    assert question.key == f"pulse-{open_pulse.pk}"
    assert question.prompt == "Did this change help you? (Video consultations for follow-ups)"
    assert question.on_form is False
    # the analysis's grouping is left alone
    assert not open_pulse.change.members.filter(pk=sub.pk).exists()

    thanks = client.get(done).content.decode()
    assert "Thank you" in thanks and sub.reference in thanks

    client.post(pulse_url(open_pulse), {"helped": "no", "text": "Video kept freezing"})
    assert Question.objects.filter(key=f"pulse-{open_pulse.pk}").count() == 1
    assert Submission.objects.filter(source="pulse").count() == 2


def test_an_answer_without_words_stores_no_submission(client, open_pulse):
    response = client.post(pulse_url(open_pulse), {"helped": "partly", "text": "   "})
    assert response.status_code == 302
    pulse = PulseResponse.objects.get()
    assert (pulse.helped, pulse.text, pulse.role, pulse.submission) == ("partly", "", "", None)
    assert not Submission.objects.filter(source="pulse").exists()
    thanks = client.get(response["Location"]).content.decode()
    assert "Thank you" in thanks and 'id="reference"' not in thanks


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"text": "No answer"}, "helped", "Choose an answer"),
        ({"helped": "maybe"}, "helped", "Choose an answer"),
        ({"helped": "yes", "text": "x" * 2001}, "text", "Enter at most 2,000 characters"),
        ({"helped": "yes", "role": "robot"}, "role", "Choose one of the options"),
        ({"helped": "yes", "website": "http://spam"}, "website", "Leave the field"),
    ],
)
def test_bad_answers_are_refused_with_errors_beside_the_fields(
    client, open_pulse, data, field, message
):
    response = client.post(pulse_url(open_pulse), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert f'href="#id_{field}"' in page
    assert page.count(message) >= 2  # in the summary and beside the field
    assert f'id="id_{field}-error"' in page
    assert "<title>Error: " in page
    assert not PulseResponse.objects.exists()
    assert not Submission.objects.filter(source="pulse").exists()


def test_the_text_typed_is_kept_when_refused(client, open_pulse):
    page = client.post(pulse_url(open_pulse), {"text": "Keep my words"}).content.decode()
    assert ">Keep my words</textarea>" in page


def test_consent_is_asked_when_the_programme_has_wording(client, open_pulse, programme):
    programme.consent_text = "Your words may be quoted anonymously."
    programme.save()
    page = client.get(pulse_url(open_pulse)).content.decode()
    assert "Your words may be quoted anonymously." in page
    refused = client.post(pulse_url(open_pulse), {"helped": "yes", "text": "Good"})
    assert refused.status_code == 200 and "Confirm that you agree" in refused.content.decode()
    assert client.post(pulse_url(open_pulse), {"helped": "yes"}).status_code == 302  # no words
    client.post(pulse_url(open_pulse), {"helped": "yes", "text": "Good", "consent": "on"})
    sub = Submission.objects.get(source="pulse")
    assert (sub.consent_given, sub.consent_wording) == (True, programme.consent_text)


@pytest.mark.parametrize("how", ["closed", "not adopted"])
def test_a_closed_form_says_so(client, open_pulse, how):
    if how == "closed":
        open_pulse.pulse_open = False
    else:
        open_pulse.stage = Stage.ASSESSED
    open_pulse.save()
    response = client.get(pulse_url(open_pulse))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Feedback on this change is closed" in page
    assert 'name="helped"' not in page
    client.post(pulse_url(open_pulse), {"helped": "yes"})
    assert not PulseResponse.objects.exists()


def test_unknown_links_are_not_found(client, open_pulse):
    assert client.get(reverse("evaluate:pulse", args=["nope"])).status_code == 404
    assert client.get(reverse("evaluate:pulse_done", args=["nope"])).status_code == 404


def test_the_thank_you_page_needs_an_answer_first(client, open_pulse):
    done = reverse("evaluate:pulse_done", args=[open_pulse.pulse_token])
    response = client.get(done)
    assert response.status_code == 302 and response["Location"] == pulse_url(open_pulse)


def test_answers_from_one_address_are_limited(client, open_pulse):
    for _ in range(PULSE_RATE_LIMIT):
        assert client.post(pulse_url(open_pulse), {"helped": "yes"}).status_code == 302
    response = client.post(pulse_url(open_pulse), {"helped": "yes", "text": "One more"})
    assert response.status_code == 429
    assert "Too many answers" in response.content.decode()
    assert PulseResponse.objects.count() == PULSE_RATE_LIMIT
    assert not Submission.objects.filter(source="pulse").exists()
    other = client.post(pulse_url(open_pulse), {"helped": "yes"}, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302  # another address is not held back


def test_the_csv_is_safe_in_a_spreadsheet(client, lead_client, open_pulse, programme):
    lead_client.post(pulse_url(open_pulse), {"helped": "no", "text": '=HYPERLINK("x")'})
    lead_client.post(pulse_url(open_pulse), {"helped": "yes", "role": "carer"})
    url = reverse("evaluate:pulse_csv", args=[programme.slug, open_pulse.pk])
    response = lead_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["helped"] for r in rows] == ["No", "Yes"]
    assert rows[0]["text"] == '\'=HYPERLINK("x")'
    assert rows[0]["reference"].startswith("CB-")
    assert rows[1]["role"] == "carer"

    client.logout()
    assert client.get(url).status_code == 302


def test_the_change_page_summarises_the_answers(lead_client, open_pulse, programme):
    for helped in ("yes", "yes", "no"):
        lead_client.post(pulse_url(open_pulse), {"helped": helped, "text": f"Said {helped}"})
    page = lead_client.get(
        reverse("evaluate:change_detail", args=[programme.slug, open_pulse.pk])
    ).content.decode()
    assert "Answers to ‘Did this change help you?’ (3)" in page
    assert "Said no" in page
    assert reverse("evaluate:pulse_csv", args=[programme.slug, open_pulse.pk]) in page
