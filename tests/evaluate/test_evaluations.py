"""Evaluation records: creating, validating, outcomes, evidence, effects, documents, publishing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from changebank.evaluate.models import (
    Evaluation,
    EvaluationDocument,
    Evidence,
    GroupEffect,
    Outcome,
)

pytestmark = pytest.mark.django_db


def new_url(programme):
    return reverse("evaluate:evaluation_new", args=[programme.slug])


def detail_url(evaluation):
    return reverse("evaluate:evaluation_detail", args=[evaluation.programme.slug, evaluation.pk])


def valid(tracked, **extra):
    data = {
        "title": "Video follow-ups: interrupted time series",
        "summary": "Did video follow-ups cut missed appointments?",
        "status": "ongoing",
        "changes": [tracked.pk],
        "designs": ["interrupted_time_series", "interviews"],
        "organisation": "Leeds Teaching Hospitals",
        "population": "Adults with a follow-up outpatient appointment",
        "planned_start": "2024-01-01",
        "actual_start": "2024-01-08",
        "planned_end": "2024-12-31",
        "cost": "12500.00",
        "inequalities": "Fewer missed appointments among people who work shifts.",
        "lived_experience": "Two patient partners on the steering group.",
    }
    data.update(extra)
    return data


def test_lead_records_an_evaluation_with_its_designs(lead_client, tracked):
    page = lead_client.get(new_url(tracked.programme) + f"?change={tracked.pk}")
    assert page.status_code == 200
    assert "Evaluation of Video consultations" in page.content.decode()
    response = lead_client.post(new_url(tracked.programme), valid(tracked))
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302 and response.url == detail_url(evaluation)
    assert evaluation.design_keys() == ["interrupted_time_series", "interviews"]
    assert list(evaluation.changes.all()) == [tracked]
    assert evaluation.lead.username == "eve" and evaluation.cost == 12500
    html = lead_client.get(detail_url(evaluation)).content.decode()
    for text in ("Interrupted time series, Interviews", "£12,500.00", "planned 1 January 2024"):
        assert text in html


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"designs": ["other"]}, "design_other", "Describe the other design"),
        ({"status": "complete"}, "unpublished_reason", "say why the report"),
        ({"planned_end": "2023-01-01"}, "planned_end", "on or after the planned start"),
        ({"cost": "-5"}, "cost", "£0 or more"),
        ({"title": ""}, "title", "This field is required"),
        ({"plan_url": "not a url"}, "plan_url", "Enter a valid URL"),
    ],
)
def test_bad_records_are_refused_with_the_error_beside_the_field(
    lead_client, tracked, extra, field, message
):
    response = lead_client.post(new_url(tracked.programme), valid(tracked, **extra))
    html = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in html and message in html
    assert f'href="#id_{field}' in html
    assert html.count("<title>Error:") == 1
    assert not Evaluation.objects.exists()


def test_complete_with_a_report_link_is_accepted(lead_client, tracked):
    data = valid(tracked, status="complete", report_url="https://example.org/report.pdf")
    assert lead_client.post(new_url(tracked.programme), data).status_code == 302


def test_editing_replaces_the_designs(lead_client, tracked, evaluation):
    url = reverse("evaluate:evaluation_edit", args=[tracked.programme.slug, evaluation.pk])
    lead_client.post(url, valid(tracked, designs=["rct"]))
    assert evaluation.design_keys() == ["rct"]
    lead_client.post(url, valid(tracked, designs=["cost_utility", "rct"]))
    assert sorted(evaluation.design_keys()) == ["cost_utility", "rct"]


def test_outcomes_evidence_and_effects_are_added_and_removed(lead_client, evaluation):
    slug = evaluation.programme.slug
    lead_client.post(
        reverse("evaluate:outcome_add", args=[slug, evaluation.pk]),
        {
            "outcome-kind": "primary",
            "outcome-name": "Missed appointments",
            "outcome-measure": "DNA rate",
        },
    )
    lead_client.post(
        reverse("evaluate:evidence_add", args=[slug, evaluation.pk]),
        {"evidence-kind": "unintended", "evidence-text": "Interpreters were harder to book"},
    )
    lead_client.post(
        reverse("evaluate:effect_add", args=[slug, evaluation.pk]),
        {"effect-group": "People over 75", "effect-direction": "worse", "effect-outcome": "DNA"},
    )
    assert Outcome.objects.get().name == "Missed appointments"
    assert Evidence.objects.get().kind == "unintended"
    assert GroupEffect.objects.get().direction == "worse"
    html = lead_client.get(detail_url(evaluation)).content.decode()
    assert "Interpreters were harder to book" in html and "People over 75" in html
    bad = lead_client.post(
        reverse("evaluate:evidence_add", args=[slug, evaluation.pk]), {"evidence-kind": "benefit"}
    )
    assert bad.status_code == 400 and "There is a problem" in bad.content.decode()
    outcome = Outcome.objects.get()
    lead_client.post(
        reverse("evaluate:item_remove", args=[slug, evaluation.pk, "outcome", outcome.pk])
    )
    assert not Outcome.objects.exists()


def test_documents_upload_download_and_refuse_other_types(
    lead_client, evaluation, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    slug = evaluation.programme.slug
    url = reverse("evaluate:document_add", args=[slug, evaluation.pk])
    refused = lead_client.post(
        url,
        {
            "document-kind": "report",
            "document-title": "Script",
            "document-file": SimpleUploadedFile("run.exe", b"MZ"),
        },
    )
    assert refused.status_code == 400 and "is not a type we accept" in refused.content.decode()
    lead_client.post(
        url,
        {
            "document-kind": "report",
            "document-title": "Final report",
            "document-file": SimpleUploadedFile("report.pdf", b"%PDF-1.4 report"),
        },
    )
    document = EvaluationDocument.objects.get()
    download = lead_client.get(
        reverse("evaluate:document_download", args=[slug, evaluation.pk, document.pk])
    )
    assert b"".join(download.streaming_content) == b"%PDF-1.4 report"
    assert 'attachment; filename="report.pdf"' in download["Content-Disposition"]


def test_publishing_puts_it_in_the_public_repository(lead_client, client, evaluation):
    public_url = reverse("evaluate:public_evaluation", args=[evaluation.pk])
    lead_client.logout()
    assert client.get(public_url).status_code == 404
    lead = evaluation.lead
    client.force_login(lead)
    client.post(
        reverse("evaluate:evaluation_publish", args=[evaluation.programme.slug, evaluation.pk]),
        {"public": "1"},
    )
    client.logout()
    assert client.get(public_url).status_code == 200
    assert "Video follow-ups" in client.get(reverse("evaluate:repository")).content.decode()


def test_permissions(client, analyst, tracked, evaluation):
    url = new_url(tracked.programme)
    assert client.get(url).status_code == 302  # anonymous: sign in
    client.force_login(analyst)
    assert client.get(detail_url(evaluation)).status_code == 200  # analysts can read
    assert client.post(url, valid(tracked)).status_code == 403  # but not record
    assert Evaluation.objects.count() == 1


def test_delete_needs_confirmation(lead_client, evaluation):
    url = reverse("evaluate:evaluation_delete", args=[evaluation.programme.slug, evaluation.pk])
    lead_client.post(url, {})
    assert Evaluation.objects.exists()
    lead_client.post(url, {"confirm": "yes"})
    assert not Evaluation.objects.exists()
