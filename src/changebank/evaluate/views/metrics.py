"""Metrics of an evaluation: define one (direction of improvement, target, go-live, screening),
upload its time series from CSV or XLSX (all or nothing: a file with any problem stores nothing
and every problem is listed by row and column), and read it as an XmR chart with its icons, a
before-and-after summary and the data table.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from changebank.core.permissions import needs_permission
from changebank.listen.importers.errors import ImportFileError
from changebank.share.exporters.csv import neutralise

from ..importers import MetricFileError, read_metric_series
from ..measures import metric_chart
from ..models import Evaluation, Improvement, Metric, MetricValue
from .common import CHANGE_EVALUATION, VIEW_EVALUATION, evaluation_or_404, programme_or_404
from .evaluations import DateInput, _crumbs

#: The largest metric file accepted (a daily series for a century is well under 1 MB).
MAX_METRIC_BYTES = 10 * 1024 * 1024
METRIC_TYPES = (".csv", ".tsv", ".txt", ".xlsx")


class MetricForm(forms.ModelForm):
    class Meta:
        model = Metric
        fields = [
            "name",
            "unit",
            "description",
            "improvement",
            "target",
            "go_live",
            "screen_outliers",
        ]
        widgets = {"improvement": forms.RadioSelect, "go_live": DateInput}
        labels = {
            "name": "Name of the measure",
            "improvement": "Which direction is an improvement",
            "target": "Target",
            "go_live": "Go-live date",
            "screen_outliers": "Screen out large moving ranges when calculating limits",
        }
        help_texts = {
            "name": "For example: days from referral to first appointment.",
            "target": "Optional. The assurance icon shows whether the process will meet it.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "metric")
        super().__init__(*args, **kwargs)
        self.fields["improvement"].choices = Improvement.choices

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("target") is not None and data.get("improvement") == Improvement.NEUTRAL:
            self.add_error(
                "target",
                "A target needs a direction of improvement: choose higher or lower is better, "
                "or leave the target empty.",
            )
        return data


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Upload the series",
        help_text="A CSV or Excel (XLSX) file with a date column and a value column, one row "
        "per period. Uploading replaces the points already stored.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(METRIC_TYPES)}),
    )
    date_column = forms.CharField(
        label="Date column",
        required=False,
        max_length=200,
        help_text="Only if changebank cannot tell: the heading of the column of dates.",
    )
    value_column = forms.CharField(
        label="Value column",
        required=False,
        max_length=200,
        help_text="Only if changebank cannot tell: the heading of the column of values.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(METRIC_TYPES):
            raise forms.ValidationError(
                f"‘{upload.name}’ is not a CSV or XLSX file: save it as CSV or Excel "
                "Workbook (.xlsx) and upload it again."
            )
        if upload.size > MAX_METRIC_BYTES:
            raise forms.ValidationError(f"‘{upload.name}’ is larger than 10 MB.")
        return upload


def _metric_or_404(evaluation: Evaluation, pk: int) -> Metric:
    return get_object_or_404(Metric, pk=pk, evaluation=evaluation)


def _page(
    request: HttpRequest,
    evaluation: Evaluation,
    metric: Metric,
    *,
    form: MetricForm | None = None,
    upload: UploadForm | None = None,
    problems: list[str] | None = None,
    problem_title: str = "",
    status: int = 200,
) -> HttpResponse:
    programme = evaluation.programme
    has_errors = bool((form and form.errors) or (upload and upload.errors) or problems)
    return render(
        request,
        "evaluate/metric_detail.html",
        {
            "programme": programme,
            "evaluation": evaluation,
            "metric": metric,
            "chart": metric_chart(metric),
            "form": form or MetricForm(instance=metric),
            "upload": upload or UploadForm(),
            "problems": problems or [],
            "problem_title": problem_title,
            "can_change": request.user.has_perm(CHANGE_EVALUATION),
            "crumbs": [
                *_crumbs(programme),
                {
                    "href": reverse(
                        "evaluate:evaluation_detail", args=[programme.slug, evaluation.pk]
                    ),
                    "text": evaluation.title,
                },
            ],
            "page_title": f"{'Error: ' if has_errors else ''}{metric.name}: {evaluation.title}",
        },
        status=status,
    )


@needs_permission(CHANGE_EVALUATION)
@require_POST
def metric_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    form = MetricForm(request.POST)
    if not form.is_valid():
        from .evaluations import _detail_page

        return _detail_page(request, programme, evaluation, {"metric": form}, status=400)
    form.instance.evaluation = evaluation
    metric = form.save()
    messages.success(request, f"Metric ‘{metric.name}’ added. Now upload its series.")
    return redirect("evaluate:metric_detail", slug, pk, metric.pk)


@needs_permission(VIEW_EVALUATION)
def metric_detail(request: HttpRequest, slug: str, pk: int, metric: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    return _page(request, evaluation, _metric_or_404(evaluation, metric))


@needs_permission(CHANGE_EVALUATION)
@require_POST
def metric_edit(request: HttpRequest, slug: str, pk: int, metric: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    instance = _metric_or_404(evaluation, metric)
    form = MetricForm(request.POST, instance=instance)
    if not form.is_valid():
        instance.refresh_from_db()
        return _page(request, evaluation, instance, form=form, status=400)
    form.save()
    messages.success(request, "Metric settings saved; the chart is recalculated.")
    return redirect("evaluate:metric_detail", slug, pk, metric)


@needs_permission(CHANGE_EVALUATION)
@require_POST
def metric_upload(request: HttpRequest, slug: str, pk: int, metric: int) -> HttpResponse:
    """Replace the metric's series with the file's, all or nothing."""
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    instance = _metric_or_404(evaluation, metric)
    upload = UploadForm(request.POST, request.FILES)
    if not upload.is_valid():
        return _page(request, evaluation, instance, upload=upload, status=400)
    file = upload.cleaned_data["file"]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "upload"
        with target.open("wb") as out:
            for chunk in file.chunks():
                out.write(chunk)
        try:
            points = read_metric_series(
                target,
                file.name,
                date_column=upload.cleaned_data["date_column"] or None,
                value_column=upload.cleaned_data["value_column"] or None,
            )
        except MetricFileError as exc:
            problems = [p.describe()[:1].upper() + p.describe()[1:] for p in exc.problems]
            return _page(
                request,
                evaluation,
                instance,
                upload=upload,
                problems=problems or [str(exc)],
                problem_title=f"Nothing was stored: {file.name} has problems",
                status=400,
            )
        except ImportFileError as exc:
            return _page(
                request,
                evaluation,
                instance,
                upload=upload,
                problems=[str(exc)],
                problem_title=f"Nothing was stored: {file.name} could not be read",
                status=400,
            )
    with transaction.atomic():
        instance.values.all().delete()
        MetricValue.objects.bulk_create(
            MetricValue(metric=instance, period=p.period, value=p.value, note=p.note[:300])
            for p in points
        )
        instance.source_filename = file.name[:300]
        instance.uploaded_at = timezone.now()
        instance.uploaded_by = request.user
        instance.save(update_fields=["source_filename", "uploaded_at", "uploaded_by"])
    messages.success(
        request,
        f"{len(points):,} points stored from {file.name} "
        f"({points[0].period:%-d %B %Y} to {points[-1].period:%-d %B %Y}).",
    )
    return redirect("evaluate:metric_detail", slug, pk, metric)


@needs_permission(CHANGE_EVALUATION)
@require_POST
def metric_delete(request: HttpRequest, slug: str, pk: int, metric: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    instance = _metric_or_404(evaluation, metric)
    name = instance.name
    instance.delete()
    messages.success(request, f"Metric ‘{name}’ and its points deleted.")
    return redirect(reverse("evaluate:evaluation_detail", args=[slug, pk]) + "#metrics")


def metric_csv_response(metric: Metric) -> HttpResponse:
    """The series with its limits and point types, as the chart computed them."""
    chart = metric_chart(metric)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="metric-{metric.pk}.csv"'
    writer = csv.writer(response)
    writer.writerow(["period", "value", "mean", "lower_limit", "upper_limit", "point_type", "rule"])
    for row in chart.rows():
        writer.writerow(
            [
                row["period"].isoformat(),
                row["value"],
                round(row["mean"], 6),
                round(row["lpl"], 6),
                round(row["upl"], 6),
                neutralise(row["type"]),
                neutralise(row["rule"]),
            ]
        )
    if not chart.rows():
        for period, value in zip(chart.periods, chart.values, strict=True):
            writer.writerow([period.isoformat(), value, "", "", "", "", ""])
    return response


@needs_permission(VIEW_EVALUATION)
def metric_csv(request: HttpRequest, slug: str, pk: int, metric: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    return metric_csv_response(_metric_or_404(evaluation, metric))


prefix = "programmes/<slug:slug>/evaluate/evaluations/<int:pk>/metrics/"
urlpatterns = [
    path(prefix, metric_add, name="metric_add"),
    path(f"{prefix}<int:metric>/", metric_detail, name="metric_detail"),
    path(f"{prefix}<int:metric>/settings/", metric_edit, name="metric_edit"),
    path(f"{prefix}<int:metric>/upload/", metric_upload, name="metric_upload"),
    path(f"{prefix}<int:metric>/delete/", metric_delete, name="metric_delete"),
    path(f"{prefix}<int:metric>/data.csv", metric_csv, name="metric_csv"),
]
