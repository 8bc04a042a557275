"""Metrics: uploading a series (all or nothing), the XmR chart with icons, before and after."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from changebank.analysis import spc
from changebank.evaluate.models import Metric, MetricValue

pytestmark = pytest.mark.django_db

# 24 months of missed-appointment rates (%): 12 before go-live around 9 %, 12 after around 6 %.
BEFORE = [9.1, 8.7, 9.4, 9.0, 8.8, 9.6, 9.2, 8.9, 9.3, 9.5, 8.6, 9.1]
AFTER = [6.2, 5.9, 6.4, 6.1, 5.8, 6.0, 6.3, 5.7, 6.1, 6.2, 5.9, 6.0]
MONTHS = [dt.date(2023 + (m // 12), m % 12 + 1, 1) for m in range(24)]


def csv_file(rows, name="series.csv", header="Month,DNA rate %"):
    text = header + "\n" + "\n".join(f"{a},{b}" for a, b in rows) + "\n"
    return SimpleUploadedFile(name, text.encode())


@pytest.fixture
def metric(evaluation):
    evaluation.changes.update(go_live=dt.date(2024, 1, 1))
    return Metric.objects.create(
        evaluation=evaluation,
        name="Missed appointments",
        unit="%",
        improvement="decrease",
        target=8,
    )


def urls(metric):
    args = [metric.evaluation.programme.slug, metric.evaluation.pk, metric.pk]
    return {
        "detail": reverse("evaluate:metric_detail", args=args),
        "upload": reverse("evaluate:metric_upload", args=args),
        "settings": reverse("evaluate:metric_edit", args=args),
        "csv": reverse("evaluate:metric_csv", args=args),
    }


def upload(client, metric, file, **extra):
    return client.post(urls(metric)["upload"], {"file": file, **extra})


def test_adding_a_metric(lead_client, evaluation):
    url = reverse("evaluate:metric_add", args=[evaluation.programme.slug, evaluation.pk])
    response = lead_client.post(
        url,
        {"metric-name": "Waiting days", "metric-improvement": "decrease", "metric-target": "14"},
    )
    metric = Metric.objects.get()
    assert response.status_code == 302 and metric.target == 14 and not metric.screen_outliers
    refused = lead_client.post(
        url, {"metric-name": "Odd", "metric-improvement": "neutral", "metric-target": "3"}
    )
    assert refused.status_code == 400 and "A target needs a direction" in refused.content.decode()


def test_upload_draws_the_chart_with_icons_and_before_after(lead_client, metric):
    rows = [(f"{d:%b %Y}", v) for d, v in zip(MONTHS, BEFORE + AFTER, strict=True)]
    response = upload(lead_client, metric, csv_file(rows))
    assert response.status_code == 302
    assert list(MetricValue.objects.values_list("value", flat=True)) == BEFORE + AFTER
    assert MetricValue.objects.first().period == dt.date(2023, 1, 1)
    html = lead_client.get(urls(metric)["detail"]).content.decode()
    assert "<svg" in html and 'role="img"' in html
    # Go-live is the tracked change's date: limits recalculated from the 13th point.
    frame = spc.xmr(BEFORE + AFTER, improvement="decrease", rebase_at=[12])
    assert f"{frame['mean'].iloc[0]:.2f}" in html and f"{frame['mean'].iloc[-1]:.2f}" in html
    assert "Before and after go-live" in html
    summary = spc.before_after(BEFORE + AFTER, 12, "decrease").summary
    assert summary and summary in html.replace("&#39;", "'")
    assert spc.before_after(BEFORE + AFTER, 12, "decrease").special_cause_improvement_after
    assert "Assurance:" in html and "consistently passes the target" in html
    assert "Variation:" in html
    data = lead_client.get(urls(metric)["csv"]).content.decode().splitlines()
    assert data[0].startswith("period,value,mean") and len(data) == 25


def test_xlsx_upload(lead_client, metric):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Week ending", "Count"])
    for i, value in enumerate([12, 15, 11, 14, 13, 16, 12]):
        sheet.append([dt.datetime(2024, 1, 7) + dt.timedelta(weeks=i), value])
    buffer = io.BytesIO()
    book.save(buffer)
    response = upload(lead_client, metric, SimpleUploadedFile("weekly.xlsx", buffer.getvalue()))
    assert response.status_code == 302
    assert MetricValue.objects.count() == 7
    assert MetricValue.objects.last().period == dt.date(2024, 2, 18)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("2024-01-01", 5), ("", 6), ("2024-03-01", 7)], "row 3, column 'Month'"),
        ([("2024-01-01", 5), ("2024-02-01", 6), ("2024-01-01", 7)], "already appears in row 2"),
        ([("2024-01-01", 5), ("2024-02-01", "n/a"), ("2024-03-01", 7)], "'n/a' is not a number"),
        ([("2024-01-01", 5)], "at least 2 points"),
    ],
    ids=["missing date", "duplicate date", "text in a number cell", "one point"],
)
def test_bad_uploads_store_nothing_and_say_where(lead_client, metric, rows, message):
    good = [(f"{d:%Y-%m-%d}", v) for d, v in zip(MONTHS, BEFORE + AFTER, strict=True)]
    upload(lead_client, metric, csv_file(good))
    before = list(MetricValue.objects.values_list("period", "value"))
    response = upload(lead_client, metric, csv_file(rows, name="bad.csv"))
    html = response.content.decode().replace("&#39;", "'")
    assert response.status_code == 400
    assert "Nothing was stored: bad.csv has problems" in html
    assert message.lower() in html.lower(), html[html.find("upload-problems") :][:800]
    assert list(MetricValue.objects.values_list("period", "value")) == before
    metric.refresh_from_db()
    assert metric.source_filename == "series.csv"


def test_a_file_of_another_kind_is_refused(lead_client, metric):
    response = upload(lead_client, metric, SimpleUploadedFile("notes.docx", b"PK\x03\x04"))
    assert response.status_code == 400 and "is not a CSV or XLSX file" in response.content.decode()
    assert not MetricValue.objects.exists()


def test_settings_change_the_chart(lead_client, metric):
    rows = [(f"{d:%Y-%m-%d}", v) for d, v in zip(MONTHS, BEFORE + AFTER, strict=True)]
    upload(lead_client, metric, csv_file(rows))
    lead_client.post(
        urls(metric)["settings"],
        {
            "metric-name": "Missed appointments",
            "metric-improvement": "decrease",
            "metric-go_live": "2022-01-01",
            "metric-screen_outliers": "on",
        },
    )
    metric.refresh_from_db()
    assert metric.screen_outliers and metric.target is None
    html = lead_client.get(urls(metric)["detail"]).content.decode()
    assert "on or before the first point" in html  # go-live before the data: no rebase
    frame = spc.xmr(BEFORE + AFTER, improvement="decrease", screen_outliers=True)
    assert f"{frame['upl'].iloc[0]:.2f}" in html
    assert "Assurance:" not in html


def test_readers_cannot_upload(client, analyst, metric):
    client.force_login(analyst)
    response = upload(client, metric, csv_file([("2024-01-01", 1), ("2024-02-01", 2)]))
    assert response.status_code == 403 and not MetricValue.objects.exists()
