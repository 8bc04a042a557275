"""The public evaluation repository: every published evaluation and the changes it evaluates,
searchable and filtered by theme, design type, status, organisation and outcome, each with its
record, charts, evidence and documents. No account needed; works without JavaScript.
"""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.views.decorators.cache import cache_control

from changebank.share.exporters.csv import neutralise
from changebank.understand.models import Theme

from ..measures import metric_chart, metric_summaries
from ..models import (
    DESIGN_GROUPS,
    DESIGN_LABELS,
    Evaluation,
    EvaluationDocument,
    EvaluationStatus,
    Metric,
)
from .evaluations import record_rows, serve_document
from .metrics import metric_csv_response

PAGE_SIZE = 20


def published() -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(public=True)


class RepositoryForm(forms.Form):
    q = forms.CharField(label="Search evaluations", required=False, max_length=200)
    theme = forms.ChoiceField(label="Theme", required=False)
    design = forms.ChoiceField(label="Design type", required=False)
    status = forms.ChoiceField(label="Status", required=False)
    organisation = forms.ChoiceField(label="Organisation", required=False)
    outcome = forms.CharField(
        label="Outcome", required=False, max_length=200, help_text="Words in an outcome's name."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        base = published()
        themes = (
            Theme.objects.filter(tracked_changes__evaluations__in=base)
            .select_related("programme")
            .distinct()
            .order_by("label")
        )
        self.fields["theme"].choices = [("", "Any theme")] + [
            (str(t.pk), f"{t.label} ({t.programme.title})") for t in themes
        ]
        self.fields["design"].choices = [("", "Any design")] + DESIGN_GROUPS
        self.fields["status"].choices = [("", "Any status"), *EvaluationStatus.choices]
        organisations = set(base.exclude(organisation="").values_list("organisation", flat=True))
        organisations |= set(
            base.values_list("changes__adoptions__organisation", flat=True).exclude(
                changes__adoptions__organisation=None
            )
        )
        self.fields["organisation"].choices = [("", "Any organisation")] + [
            (o, o) for o in sorted(organisations, key=str.lower) if o
        ]


def search(form: RepositoryForm) -> QuerySet[Evaluation]:
    """The published evaluations matching every filter of a valid ``form``."""
    qs = published()
    data = form.cleaned_data if form.is_valid() else {}
    for word in (data.get("q") or "").split():
        qs = qs.filter(
            Q(title__icontains=word)
            | Q(summary__icontains=word)
            | Q(population__icontains=word)
            | Q(setting__icontains=word)
            | Q(outcomes__name__icontains=word)
            | Q(evidence__text__icontains=word)
            | Q(changes__title__icontains=word)
            | Q(changes__summary__icontains=word)
        )
    if data.get("theme"):
        qs = qs.filter(changes__themes__pk=int(data["theme"]))
    if data.get("design"):
        qs = qs.filter(designs__design=data["design"])
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("organisation"):
        org = data["organisation"]
        qs = qs.filter(Q(organisation=org) | Q(changes__adoptions__organisation=org))
    if data.get("outcome"):
        qs = qs.filter(outcomes__name__icontains=data["outcome"])
    ids = qs.values("pk").distinct()
    return (
        Evaluation.objects.filter(pk__in=ids)
        .select_related("programme")
        .prefetch_related(
            "designs", "changes", "outcomes", Prefetch("metrics", Metric.objects.all())
        )
        .order_by("-updated_at", "-id")
    )


@cache_control(public=True, max_age=60)
def repository(request: HttpRequest) -> HttpResponse:
    form = RepositoryForm(request.GET or None)
    results = search(form)
    if request.GET.get("format") == "csv":
        return _csv(results)
    page = Paginator(results, PAGE_SIZE).get_page(request.GET.get("page"))
    active = form.is_valid() and any(form.cleaned_data.values())
    return render(
        request,
        "evaluate/repository.html",
        {
            "form": form,
            "page": page,
            "count": page.paginator.count,
            "active": active,
            "design_labels": DESIGN_LABELS,
            "page_title": "Evaluations of changes worth keeping",
        },
    )


def _csv(results: QuerySet[Evaluation]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="evaluations.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["id", "title", "status", "designs", "organisation", "changes", "outcomes", "programme"]
    )
    for e in results:
        writer.writerow(
            [
                e.pk,
                neutralise(e.title),
                e.status,
                "; ".join(DESIGN_LABELS[d.design] for d in e.designs.all()),
                neutralise(e.organisation),
                neutralise("; ".join(c.title for c in e.changes.all())),
                neutralise("; ".join(o.name for o in e.outcomes.all())),
                neutralise(e.programme.title),
            ]
        )
    return response


def public_evaluation(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = get_object_or_404(published().select_related("programme"), pk=pk)
    changes = list(evaluation.changes.prefetch_related("themes", "adoptions"))
    return render(
        request,
        "evaluate/public_evaluation.html",
        {
            "evaluation": evaluation,
            "rows": record_rows(evaluation),
            "changes": changes,
            "designs": [DESIGN_LABELS[d] for d in evaluation.design_keys()],
            "outcomes": list(evaluation.outcomes.all()),
            "evidence": list(evaluation.evidence.all()),
            "effects": list(evaluation.group_effects.all()),
            "documents": list(evaluation.documents.all()),
            "metrics": metric_summaries(evaluation),
            "page_title": evaluation.title,
        },
    )


def public_metric_csv(request: HttpRequest, pk: int, metric: int) -> HttpResponse:
    evaluation = get_object_or_404(published(), pk=pk)
    return metric_csv_response(get_object_or_404(Metric, pk=metric, evaluation=evaluation))


def public_metric(request: HttpRequest, pk: int, metric: int) -> HttpResponse:
    evaluation = get_object_or_404(published(), pk=pk)
    instance = get_object_or_404(Metric, pk=metric, evaluation=evaluation)
    return render(
        request,
        "evaluate/public_metric.html",
        {
            "evaluation": evaluation,
            "metric": instance,
            "chart": metric_chart(instance),
            "page_title": f"{instance.name}: {evaluation.title}",
        },
    )


def public_document(request: HttpRequest, pk: int, item: int) -> Any:
    evaluation = get_object_or_404(published(), pk=pk)
    document = get_object_or_404(EvaluationDocument, pk=item, evaluation=evaluation)
    if not document.file:
        raise Http404
    return serve_document(document)


urlpatterns = [
    path("evaluations/", repository, name="repository"),
    path("evaluations/<int:pk>/", public_evaluation, name="public_evaluation"),
    path("evaluations/<int:pk>/metrics/<int:metric>/", public_metric, name="public_metric"),
    path(
        "evaluations/<int:pk>/metrics/<int:metric>/data.csv",
        public_metric_csv,
        name="public_metric_csv",
    ),
    path("evaluations/<int:pk>/documents/<int:item>/", public_document, name="public_document"),
]
