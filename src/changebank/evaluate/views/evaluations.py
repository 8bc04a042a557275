"""Evaluation records: recording an evaluation (the fields the UK Evaluation Registry sets out),
its outcomes, evidence (benefits, disbenefits, unintended consequences, lessons), effects by group
and documents, and publishing it in the public repository.

Staff pages live under ``programmes/<slug>/evaluate/evaluations/``. Each action that changes data
has its own address (POST only) and redirects with a message; an invalid action shows the page
again with an error summary and the error beside the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme

from ..measures import metric_summaries
from ..models import (
    DESIGN_GROUPS,
    DESIGN_LABELS,
    Evaluation,
    EvaluationDesign,
    EvaluationDocument,
    EvaluationStatus,
    Evidence,
    GroupEffect,
    Outcome,
    TrackedChange,
)
from .common import (
    ADD_EVALUATION,
    CHANGE_EVALUATION,
    DELETE_EVALUATION,
    VIEW_EVALUATION,
    evaluation_or_404,
    page_title,
    programme_or_404,
)

#: Documents an evaluation may carry, and the largest accepted upload.
DOCUMENT_TYPES = (".pdf", ".docx", ".doc", ".odt", ".xlsx", ".csv", ".pptx", ".txt", ".html")
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
DATE_PAIRS = [
    ("start", "Start"),
    ("end", "End"),
    ("interim", "Interim analysis"),
    ("final_analysis", "Final analysis"),
    ("publication", "Publication"),
]


class DateInput(forms.DateInput):
    input_type = "date"

    def format_value(self, value: Any) -> str | None:
        return value.isoformat() if isinstance(value, dt.date) else value


class EvaluationForm(forms.ModelForm):
    """The evaluation record. Design types are checkboxes grouped as the Registry groups them."""

    designs = forms.MultipleChoiceField(
        label="Design types",
        choices=DESIGN_GROUPS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Tick every design the evaluation uses.",
    )
    plan_url = forms.URLField(
        label="Link to the evaluation plan", required=False, assume_scheme="https", max_length=200
    )
    report_url = forms.URLField(
        label="Link to the report", required=False, assume_scheme="https", max_length=200
    )

    class Meta:
        model = Evaluation
        fields = [
            "title",
            "summary",
            "status",
            "changes",
            "designs",
            "design_other",
            "organisation",
            "population",
            "setting",
            *[f"{when}_{key}" for key, _ in DATE_PAIRS for when in ("planned", "actual")],
            "plan_url",
            "report_url",
            "unpublished_reason",
            "cost",
            "inequalities",
            "lived_experience",
            "public",
        ]
        widgets = {
            "changes": forms.CheckboxSelectMultiple,
            "status": forms.RadioSelect,
            **{
                f"{when}_{key}": DateInput
                for key, _ in DATE_PAIRS
                for when in ("planned", "actual")
            },
        }
        labels = {"changes": "Changes it evaluates"}
        help_texts = {
            "summary": "What is evaluated, why, and the main finding once there is one.",
            "population": "Who the evaluation covers, for example adults referred to "
            "community physiotherapy.",
            "setting": "Where: organisations, services, places.",
            "unpublished_reason": "Needed when the evaluation is complete and there is no "
            "report to link to.",
            "inequalities": "How the change affected health inequalities, and for whom.",
        }

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["changes"].queryset = TrackedChange.objects.filter(programme=programme)
        self.fields["changes"].required = False
        self.fields["status"].choices = EvaluationStatus.choices
        if self.instance.pk:
            self.initial["designs"] = self.instance.design_keys()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        designs = data.get("designs") or []
        if "other" in designs and not data.get("design_other"):
            self.add_error("design_other", "Describe the other design, or untick ‘Other’.")
        for key, label in DATE_PAIRS:
            for when in ("planned", "actual"):
                if key == "start":
                    continue
                start, end = data.get(f"{when}_start"), data.get(f"{when}_{key}")
                if start and end and end < start:
                    self.add_error(
                        f"{when}_{key}",
                        f"The {when} {label.lower()} date must be on or after the {when} start "
                        f"({start:%d %B %Y}).",
                    )
        actual_end = data.get("actual_end")
        if actual_end and actual_end > dt.date.today() and data.get("status") == "complete":
            self.add_error("actual_end", "A complete evaluation cannot end in the future.")
        if (
            data.get("status") == EvaluationStatus.COMPLETE
            and not data.get("report_url")
            and not data.get("unpublished_reason")
            and not (self.instance.pk and self.instance.documents.filter(kind="report").exists())
        ):
            self.add_error(
                "unpublished_reason",
                "Link to the report, or say why the report of this complete evaluation is "
                "not published.",
            )
        cost = data.get("cost")
        if cost is not None and cost < 0:
            self.add_error("cost", "Enter a cost of £0 or more.")
        return data

    @transaction.atomic
    def save(self, commit: bool = True) -> Evaluation:
        evaluation = super().save(commit=commit)
        wanted = set(self.cleaned_data.get("designs") or [])
        evaluation.designs.exclude(design__in=wanted).delete()
        have = set(evaluation.designs.values_list("design", flat=True))
        EvaluationDesign.objects.bulk_create(
            EvaluationDesign(evaluation=evaluation, design=d)
            for d in sorted(wanted - have, key=list(DESIGN_LABELS).index)
        )
        return evaluation


class OutcomeForm(forms.ModelForm):
    class Meta:
        model = Outcome
        fields = ["kind", "name", "measure", "result"]
        widgets = {"kind": forms.RadioSelect}
        labels = {"name": "Outcome"}
        help_texts = {
            "name": "For example: time from referral to first appointment.",
            "measure": "The measure, its source and when it is taken.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="outcome", **kwargs)
        self.fields["kind"].choices = Outcome.Kind.choices


class EvidenceForm(forms.ModelForm):
    class Meta:
        model = Evidence
        fields = ["kind", "text"]
        widgets = {"kind": forms.RadioSelect}
        labels = {"kind": "What kind of evidence", "text": "What was found"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="evidence", **kwargs)
        self.fields["kind"].choices = Evidence.Kind.choices


class GroupEffectForm(forms.ModelForm):
    class Meta:
        model = GroupEffect
        fields = ["group", "outcome", "direction", "description"]
        widgets = {"direction": forms.RadioSelect}
        labels = {"group": "Group of people", "direction": "Effect for this group"}
        help_texts = {"group": "For example: people over 75, people who need an interpreter."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="effect", **kwargs)
        self.fields["direction"].choices = GroupEffect.Direction.choices


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(
        label="What it is", choices=EvaluationDocument.Kind.choices, widget=forms.RadioSelect
    )
    title = forms.CharField(label="Title", max_length=300)
    file = forms.FileField(
        label="File",
        help_text="PDF, Word, OpenDocument, Excel, CSV, PowerPoint, text or HTML, up to 50 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(DOCUMENT_TYPES)}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="document", **kwargs)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        name = upload.name.lower()
        if not name.endswith(DOCUMENT_TYPES):
            raise forms.ValidationError(
                f"‘{upload.name}’ is not a type we accept: choose a file ending "
                + ", ".join(DOCUMENT_TYPES)
                + "."
            )
        if upload.size > MAX_DOCUMENT_BYTES:
            raise forms.ValidationError(f"‘{upload.name}’ is larger than 50 MB.")
        if upload.size == 0:
            raise forms.ValidationError(f"‘{upload.name}’ is empty.")
        return upload


# --- pages --------------------------------------------------------------------------------------


def _crumbs(programme: Programme) -> list[dict[str, str]]:
    return [
        {"href": reverse("core:home"), "text": "Programmes"},
        {
            "href": reverse("listen:programme_detail", args=[programme.slug]),
            "text": programme.title,
        },
        {"href": reverse("evaluate:overview", args=[programme.slug]), "text": "Evaluate"},
    ]


@needs_permission(ADD_EVALUATION)
@require_http_methods(["GET", "POST"])
def evaluation_new(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    initial: dict[str, Any] = {}
    change = request.GET.get("change", "")
    if change.isdigit():
        tracked = TrackedChange.objects.filter(programme=programme, pk=int(change)).first()
        if tracked is not None:
            initial = {"changes": [tracked.pk], "title": f"Evaluation of {tracked.title}"[:300]}
    form = EvaluationForm(request.POST or None, programme=programme, initial=initial)
    if request.method == "POST" and form.is_valid():
        form.instance.programme = programme
        form.instance.lead = request.user
        evaluation = form.save()
        messages.success(
            request, f"Evaluation ‘{evaluation.title}’ recorded. Add its outcomes and metrics."
        )
        return redirect("evaluate:evaluation_detail", programme.slug, evaluation.pk)
    return render(
        request,
        "evaluate/evaluation_form.html",
        {
            "programme": programme,
            "form": form,
            "crumbs": _crumbs(programme),
            "heading": "Record an evaluation",
            "page_title": page_title(f"Record an evaluation: {programme.title}", form.errors),
        },
    )


@needs_permission(CHANGE_EVALUATION)
@require_http_methods(["GET", "POST"])
def evaluation_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    form = EvaluationForm(request.POST or None, instance=evaluation, programme=programme)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Evaluation record saved.")
        return redirect("evaluate:evaluation_detail", programme.slug, evaluation.pk)
    return render(
        request,
        "evaluate/evaluation_form.html",
        {
            "programme": programme,
            "form": form,
            "evaluation": evaluation,
            "crumbs": _crumbs(programme),
            "heading": f"Edit: {evaluation.title}",
            "page_title": page_title(f"Edit {evaluation.title}", form.errors),
        },
    )


def record_rows(evaluation: Evaluation) -> list[tuple[str, str]]:
    """The evaluation record as (label, value) rows, in the Registry's order; empty ones left out."""
    designs = ", ".join(DESIGN_LABELS[d] for d in evaluation.design_keys())
    if evaluation.design_other:
        designs = f"{designs} ({evaluation.design_other})" if designs else evaluation.design_other
    rows = [
        ("Status", evaluation.get_status_display()),
        ("Design types", designs),
        ("Lead organisation", evaluation.organisation),
        ("Population", evaluation.population),
        ("Setting", evaluation.setting),
    ]
    for key, label in DATE_PAIRS:
        planned = getattr(evaluation, f"planned_{key}")
        actual = getattr(evaluation, f"actual_{key}")
        parts = []
        if planned:
            parts.append(f"planned {planned:%-d %B %Y}")
        if actual:
            parts.append(f"actual {actual:%-d %B %Y}")
        rows.append((label, "; ".join(parts)))
    rows += [
        ("Cost", f"£{evaluation.cost:,.2f}" if evaluation.cost is not None else ""),
        ("Effect on inequalities", evaluation.inequalities),
        ("How people with lived experience were involved", evaluation.lived_experience),
        ("Why the report is not published", evaluation.unpublished_reason),
    ]
    return [(label, value) for label, value in rows if value]


def _detail_page(
    request: HttpRequest,
    programme: Programme,
    evaluation: Evaluation,
    forms_: dict[str, forms.Form] | None = None,
    status: int = 200,
) -> HttpResponse:
    forms_ = forms_ or {}
    context = {
        "programme": programme,
        "evaluation": evaluation,
        "rows": record_rows(evaluation),
        "changes": list(evaluation.changes.all()),
        "outcomes": list(evaluation.outcomes.all()),
        "evidence": list(evaluation.evidence.all()),
        "effects": list(evaluation.group_effects.all()),
        "documents": list(evaluation.documents.all()),
        "metrics": metric_summaries(evaluation),
        "evidence_kinds": Evidence.Kind,
        "can_change": request.user.has_perm(CHANGE_EVALUATION),
        "can_delete": request.user.has_perm(DELETE_EVALUATION),
        "outcome_form": forms_.get("outcome") or OutcomeForm(),
        "evidence_form": forms_.get("evidence") or EvidenceForm(),
        "effect_form": forms_.get("effect") or GroupEffectForm(),
        "document_form": forms_.get("document") or DocumentForm(),
        "crumbs": _crumbs(programme),
        "page_title": page_title(
            f"{evaluation.title}: {programme.title}", any(f.errors for f in forms_.values())
        ),
    }
    from .metrics import MetricForm  # the metric form lives with the metric pages

    context["metric_form"] = forms_.get("metric") or MetricForm()
    return render(request, "evaluate/evaluation_detail.html", context, status=status)


@needs_permission(VIEW_EVALUATION)
def evaluation_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    return _detail_page(request, programme, evaluation_or_404(programme, pk))


def _add(request: HttpRequest, slug: str, pk: int, key: str, form_class: type, what: str) -> Any:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    form = form_class(request.POST, request.FILES)
    if not form.is_valid():
        return _detail_page(request, programme, evaluation, {key: form}, status=400)
    item = form.save(commit=False)
    item.evaluation = evaluation
    if hasattr(item, "created_by_id"):
        item.created_by = request.user
    item.save()
    evaluation.save(update_fields=["updated_at"])
    messages.success(request, f"{what} added.")
    return redirect(reverse("evaluate:evaluation_detail", args=[slug, pk]) + f"#{key}s")


@needs_permission(CHANGE_EVALUATION)
@require_POST
def outcome_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _add(request, slug, pk, "outcome", OutcomeForm, "Outcome")


@needs_permission(CHANGE_EVALUATION)
@require_POST
def evidence_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _add(request, slug, pk, "evidence", EvidenceForm, "Evidence")


@needs_permission(CHANGE_EVALUATION)
@require_POST
def effect_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    return _add(request, slug, pk, "effect", GroupEffectForm, "Effect for a group")


ITEM_MODELS = {
    "outcome": (Outcome, "Outcome"),
    "evidence": (Evidence, "Evidence"),
    "effect": (GroupEffect, "Effect for a group"),
    "document": (EvaluationDocument, "Document"),
}


@needs_permission(CHANGE_EVALUATION)
@require_POST
def item_remove(request: HttpRequest, slug: str, pk: int, kind: str, item: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    if kind not in ITEM_MODELS:
        raise Http404
    model, label = ITEM_MODELS[kind]
    obj = get_object_or_404(model, pk=item, evaluation=evaluation)
    if kind == "document":
        obj.file.delete(save=False)
    obj.delete()
    evaluation.save(update_fields=["updated_at"])
    messages.success(request, f"{label} removed.")
    return redirect(reverse("evaluate:evaluation_detail", args=[slug, pk]) + f"#{kind}s")


@needs_permission(CHANGE_EVALUATION)
@require_POST
def document_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    form = DocumentForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail_page(request, programme, evaluation, {"document": form}, status=400)
    upload = form.cleaned_data["file"]
    document = EvaluationDocument(
        evaluation=evaluation,
        kind=form.cleaned_data["kind"],
        title=form.cleaned_data["title"],
        filename=upload.name[:300],
        size=upload.size,
        uploaded_by=request.user,
    )
    document.file.save(upload.name, upload, save=True)
    evaluation.save(update_fields=["updated_at"])
    messages.success(request, f"Document ‘{document.title}’ added.")
    return redirect(reverse("evaluate:evaluation_detail", args=[slug, pk]) + "#documents")


def serve_document(document: EvaluationDocument) -> FileResponse:
    """The stored file under its original name, always as a download (never rendered inline)."""
    return FileResponse(document.file.open("rb"), as_attachment=True, filename=document.filename)


@needs_permission(VIEW_EVALUATION)
def document_download(request: HttpRequest, slug: str, pk: int, item: int) -> FileResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    return serve_document(get_object_or_404(EvaluationDocument, pk=item, evaluation=evaluation))


@needs_permission(CHANGE_EVALUATION)
@require_POST
def evaluation_publish(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    evaluation.public = request.POST.get("public") == "1"
    evaluation.save(update_fields=["public", "updated_at"])
    if evaluation.public:
        messages.success(request, "Published: the evaluation is in the public repository.")
    else:
        messages.success(request, "Withdrawn: the evaluation is no longer public.")
    return redirect("evaluate:evaluation_detail", slug, pk)


@needs_permission(DELETE_EVALUATION)
@require_http_methods(["GET", "POST"])
def evaluation_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    evaluation = evaluation_or_404(programme, pk)
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            messages.error(request, "Tick the box to confirm, or go back.")
            return redirect("evaluate:evaluation_delete", slug, pk)
        title = evaluation.title
        with transaction.atomic():
            for document in evaluation.documents.all():
                document.file.delete(save=False)
            evaluation.delete()
        messages.success(request, f"Evaluation ‘{title}’ deleted.")
        return redirect("evaluate:overview", slug)
    return render(
        request,
        "evaluate/evaluation_delete.html",
        {
            "programme": programme,
            "evaluation": evaluation,
            "crumbs": _crumbs(programme),
            "page_title": f"Delete {evaluation.title}",
        },
    )


prefix = "programmes/<slug:slug>/evaluate/evaluations/"
urlpatterns = [
    path(f"{prefix}new/", evaluation_new, name="evaluation_new"),
    path(f"{prefix}<int:pk>/", evaluation_detail, name="evaluation_detail"),
    path(f"{prefix}<int:pk>/edit/", evaluation_edit, name="evaluation_edit"),
    path(f"{prefix}<int:pk>/publish/", evaluation_publish, name="evaluation_publish"),
    path(f"{prefix}<int:pk>/delete/", evaluation_delete, name="evaluation_delete"),
    path(f"{prefix}<int:pk>/outcomes/", outcome_add, name="outcome_add"),
    path(f"{prefix}<int:pk>/evidence/", evidence_add, name="evidence_add"),
    path(f"{prefix}<int:pk>/effects/", effect_add, name="effect_add"),
    path(f"{prefix}<int:pk>/documents/", document_add, name="document_add"),
    path(
        f"{prefix}<int:pk>/documents/<int:item>/",
        document_download,
        name="document_download",
    ),
    path(
        f"{prefix}<int:pk>/<str:kind>/<int:item>/remove/",
        item_remove,
        name="item_remove",
    ),
]
