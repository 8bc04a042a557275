"""The public evaluation repository: only published evaluations, every filter, open data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from changebank.evaluate.models import (
    Adoption,
    Evaluation,
    EvaluationDesign,
    Metric,
    MetricValue,
    Outcome,
    TrackedChange,
)
from changebank.understand.models import Theme

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluations(tracked, lead):
    programme = tracked.programme
    other_theme = Theme.objects.create(programme=programme, label="Discharge")
    discharge = TrackedChange.objects.create(programme=programme, title="Discharge lounge")
    discharge.themes.add(other_theme)
    Adoption.objects.create(tracked=discharge, organisation="Bradford Royal Infirmary")

    def make(title, status, designs, change, outcome, public=True, organisation=""):
        e = Evaluation.objects.create(
            programme=programme,
            title=title,
            summary=f"Summary of {title}",
            status=status,
            public=public,
            organisation=organisation,
            lead=lead,
        )
        e.changes.add(change)
        for d in designs:
            EvaluationDesign.objects.create(evaluation=e, design=d)
        Outcome.objects.create(evaluation=e, name=outcome)
        return e

    return {
        "video": make(
            "Video follow-ups",
            "complete",
            ["interrupted_time_series"],
            tracked,
            "Missed appointments",
            organisation="Leeds Teaching Hospitals",
        ),
        "lounge": make(
            "Discharge lounge study", "ongoing", ["interviews"], discharge, "Length of stay"
        ),
        "draft": make(
            "Unpublished draft", "planned", ["rct"], tracked, "Missed appointments", public=False
        ),
        "themes": (tracked.themes.get(), other_theme),
    }


def titles(client, **params):
    response = client.get(reverse("evaluate:repository"), params)
    assert response.status_code == 200
    html = response.content.decode()
    return {
        t for t in ("Video follow-ups", "Discharge lounge study", "Unpublished draft") if t in html
    }


def test_only_published_evaluations_are_listed(client, evaluations):
    assert titles(client) == {"Video follow-ups", "Discharge lounge study"}
    draft = evaluations["draft"]
    assert client.get(reverse("evaluate:public_evaluation", args=[draft.pk])).status_code == 404


def test_each_filter(client, evaluations):
    video_theme, discharge_theme = evaluations["themes"]
    assert titles(client, theme=video_theme.pk) == {"Video follow-ups"}
    assert titles(client, theme=discharge_theme.pk) == {"Discharge lounge study"}
    assert titles(client, design="interviews") == {"Discharge lounge study"}
    assert titles(client, design="rct") == set()  # only the unpublished one
    assert titles(client, status="complete") == {"Video follow-ups"}
    assert titles(client, organisation="Leeds Teaching Hospitals") == {"Video follow-ups"}
    assert titles(client, organisation="Bradford Royal Infirmary") == {"Discharge lounge study"}
    assert titles(client, outcome="length of STAY") == {"Discharge lounge study"}
    assert titles(client, q="lounge") == {"Discharge lounge study"}
    assert titles(client, q="missed") == {"Video follow-ups"}  # searches outcomes too
    assert titles(client, q="video", status="ongoing") == set()


def test_filter_choices_come_from_published_records(client, evaluations):
    html = client.get(reverse("evaluate:repository")).content.decode()
    assert '<option value="Leeds Teaching Hospitals"' in html
    assert "Remote appointments (Test programme)" in html


def test_open_data_csv(client, evaluations):
    response = client.get(reverse("evaluate:repository"), {"format": "csv", "status": "ongoing"})
    lines = response.content.decode().splitlines()
    assert response["Content-Type"].startswith("text/csv")
    assert lines[0].startswith("id,title,status,designs")
    assert len(lines) == 2 and "Discharge lounge study" in lines[1] and "Interviews" in lines[1]


def test_public_page_shows_the_chart_and_data(client, evaluations):
    video = evaluations["video"]
    metric = Metric.objects.create(evaluation=video, name="DNA rate", improvement="decrease")
    for i, v in enumerate([9, 8, 9, 10, 9, 8, 9, 6, 5, 6]):
        MetricValue.objects.create(metric=metric, period=dt.date(2024, 1 + i, 1), value=v)
    html = client.get(reverse("evaluate:public_evaluation", args=[video.pk])).content.decode()
    assert "<svg" in html and "DNA rate" in html and "Missed appointments" in html
    data = client.get(reverse("evaluate:public_metric_csv", args=[video.pk, metric.pk]))
    assert len(data.content.decode().splitlines()) == 11
    draft_metric = Metric.objects.create(evaluation=evaluations["draft"], name="Hidden")
    url = reverse("evaluate:public_metric_csv", args=[evaluations["draft"].pk, draft_metric.pk])
    assert client.get(url).status_code == 404
