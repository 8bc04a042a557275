"""The active-learning loop's pages: "code these next" and the agreement panel (AI against analysts
over the training rounds, the retraining settings, "Retrain now").

Every control is a plain form (keyboard and no-JavaScript friendly). Coding from the queue goes
through :func:`changebank.understand.board.set_codes`, so it is audited and can be undone.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.http import require_http_methods

from changebank.core.audit import record
from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme, Submission

from .. import board, learning
from ..models import CodeAssignment, CodingSettings, Origin, TrainingRound
from ..undo import undoable
from .common import history, programme_or_404

QUEUE_PAGE = 20
CHANGE = "understand.change_code"


class LearningSettingsForm(forms.Form):
    retrain_every = forms.IntegerField(
        label="Retrain the model after this many new decisions",
        min_value=1,
        max_value=100_000,
        error_messages={
            "required": "Enter how many new decisions to wait for before retraining",
            "invalid": "Enter a whole number of decisions, like 20",
            "min_value": "Retrain after at least 1 decision",
            "max_value": "Retrain after 100,000 decisions or fewer",
        },
    )
    accept_threshold = forms.FloatField(
        label="Confidence above which suggestions can be accepted in bulk",
        min_value=0.5,
        max_value=1.0,
        error_messages={
            "required": "Enter the confidence for accepting suggestions in bulk",
            "invalid": "Enter the confidence as a number between 0.5 and 1, like 0.9",
            "min_value": "Enter a confidence of 0.5 or more",
            "max_value": "Enter a confidence of 1 or less",
        },
    )


def coding_url(slug: str, pk: int) -> str:
    """Where an analyst codes one submission (the coding page, when this installation has it)."""
    try:
        return reverse("understand:code_submission", kwargs={"slug": slug, "pk": pk})
    except NoReverseMatch:
        return f"/programmes/{slug}/analysis/coding/{pk}/"


# --- the agreement panel -------------------------------------------------------------------------


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    return lambda v: a + (v - lo) * (b - a) / ((hi - lo) or 1)


def chart(rounds: list[TrainingRound]) -> dict[str, Any] | None:
    """The geometry of the line chart of sample F1 and mean kappa by round (None: nothing to draw)."""
    points = [
        (r.number, r.metrics.get("sample_f1"), r.metrics.get("mean_kappa"))
        for r in rounds
        if r.metrics.get("sample_f1") is not None
    ]
    if not points:
        return None
    width, height, left, right, top, bottom = 640, 300, 56, 24, 20, 48
    lowest = min(min(f, k) for _, f, k in points)
    y_lo = min(0.0, math.floor(lowest * 4) / 4)
    x_lo, x_hi = points[0][0], points[-1][0]
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    sx = _scale(x_lo, x_hi, left, width - right)
    sy = _scale(y_lo, 1.0, height - bottom, top)
    ticks_y = [round(y_lo + i * 0.25, 2) for i in range(int(round((1.0 - y_lo) / 0.25)) + 1)]
    step = max(1, math.ceil(len(points) / 10))
    f1 = [(round(sx(n), 1), round(sy(f), 1)) for n, f, _ in points]
    kappa = [(round(sx(n), 1), round(sy(k), 1)) for n, _, k in points]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "y_ticks": [(t, round(sy(t), 1)) for t in ticks_y],
        "x_ticks": [(n, round(sx(n), 1)) for n, _, _ in points[::step]],
        "f1": f1,
        "kappa": kappa,
        "f1_line": " ".join(f"{x},{y}" for x, y in f1),
        "kappa_line": " ".join(f"{x},{y}" for x, y in kappa),
        "human": round(sy(learning.HUMAN_SAMPLE_F1), 1),
        "summary": "; ".join(
            f"round {n}: sample F1 {f:.2f}, mean kappa {k:.2f}" for n, f, k in points
        ),
    }


def _panel_context(programme: Programme, form: LearningSettingsForm | None) -> dict[str, Any]:
    settings = CodingSettings.for_programme(programme)
    rounds = list(TrainingRound.objects.filter(programme=programme).order_by("number"))
    latest = rounds[-1] if rounds else None
    with_kappa = next((r for r in reversed(rounds) if r.metrics.get("kappa")), None)
    kappas = []
    if with_kappa is not None:
        kappas = sorted(with_kappa.metrics["kappa"], key=lambda k: (k["kappa"], k["label"]))
        for item in kappas:
            item["band"] = learning.kappa_band(item["kappa"])
    scored = [r for r in rounds if r.metrics.get("sample_f1") is not None]
    task = learning.latest_retrain(programme)
    overall = learning.overall_agreement(programme)
    overall["band"] = learning.kappa_band(overall["mean_kappa"])
    if form is None:
        form = LearningSettingsForm(
            initial={
                "retrain_every": settings.retrain_every,
                "accept_threshold": settings.accept_threshold,
            }
        )
    return {
        "programme": programme,
        "settings": settings,
        "form": form,
        "since": learning.decisions_since(programme, latest).count(),
        "rounds": rounds,
        "latest": latest,
        "latest_scored": scored[-1] if scored else None,
        "kappa_round": with_kappa,
        "kappas": kappas,
        "chart": chart(rounds),
        "overall": overall,
        "live_codes": set(
            programme.codes.filter(pk__in=[k["code"] for k in kappas]).values_list("pk", flat=True)
        ),
        "human_f1": learning.HUMAN_SAMPLE_F1,
        "task": task,
        "pending": task if task is not None and not task.is_finished else None,
        "history": history(settings),
        "page_title": f"Agreement between the AI and analysts: {programme.title}",
    }


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The agreement panel: how the AI agrees with the analysts, round by round."""
    programme = programme_or_404(slug)
    here = reverse("understand:learning", args=[slug])
    if request.method == "POST":
        if not request.user.has_perm(CHANGE):
            messages.error(request, "You do not have permission to change the retraining.")
            return redirect(here)
        what = request.POST.get("action")
        if what == "retrain":
            row = learning.start_retrain(programme, request.user, reason="asked for by an analyst")
            messages.success(
                request,
                f"Retraining {'has started' if row.status == 'running' else 'is queued'}: "
                "this page shows its progress. The new round appears when it has finished.",
            )
            return redirect(here)
        if what == "settings":
            form = LearningSettingsForm(request.POST)
            if form.is_valid():
                _save_settings(programme, form.cleaned_data, request)
                return redirect(here)
            context = _panel_context(programme, form)
            return render(request, "understand/learning.html", context)
        messages.error(request, "That action is not known.")
        return redirect(here)
    context = _panel_context(programme, None)
    context["auto"] = request.GET.get("auto") == "1"
    return render(request, "understand/learning.html", context)


def _save_settings(programme: Programme, data: dict[str, Any], request: HttpRequest) -> None:
    settings = CodingSettings.for_programme(programme)
    before = {
        "retrain_every": settings.retrain_every,
        "accept_threshold": settings.accept_threshold,
    }
    after = {
        "retrain_every": int(data["retrain_every"]),
        "accept_threshold": round(float(data["accept_threshold"]), 4),
    }
    if before == after:
        messages.info(request, "The settings are unchanged.")
        return
    settings.retrain_every = after["retrain_every"]
    settings.accept_threshold = after["accept_threshold"]
    settings.save()
    record(
        "update",
        settings,
        before=before,
        after=after,
        note=(
            f"Retrain after {after['retrain_every']:,} new decisions "
            f"(was {before['retrain_every']:,}); accept suggestions in bulk above "
            f"{after['accept_threshold']:.2f} (was {before['accept_threshold']:.2f})"
        ),
    )
    started = learning.note_decision(programme)
    messages.success(
        request,
        "Settings saved."
        + (" Enough new decisions have been made: retraining has started." if started else ""),
    )


# --- code these next -----------------------------------------------------------------------------


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def next_queue(request: HttpRequest, slug: str) -> HttpResponse:
    """The submissions whose coding would teach the AI most, with its current suggestions."""
    programme = programme_or_404(slug)
    here = reverse("understand:next", args=[slug])
    if request.method == "POST":
        return _confirm(request, programme, here)
    items, method = learning.next_queue(programme)
    page = Paginator(items, QUEUE_PAGE).get_page(request.GET.get("page"))
    ids = [item["submission"] for item in page.object_list]
    subs = Submission.objects.select_related("question").in_bulk(ids)
    suggestions: dict[int, list[CodeAssignment]] = {}
    for a in (
        CodeAssignment.objects.filter(submission_id__in=ids, origin=Origin.AI)
        .select_related("code")
        .order_by("-primary", "-confidence", "code__label")
    ):
        suggestions.setdefault(a.submission_id, []).append(a)
    rows = []
    for item in page.object_list:
        sub = subs.get(item["submission"])
        if sub is None:
            continue
        explain = item.get("explain") or {}
        rows.append(
            {
                "item": item,
                "submission": sub,
                "suggestions": [
                    {
                        "assignment": a,
                        "why": explain.get(str(a.code_id))
                        or (
                            "The analysis put it in this group"
                            + (" as its main code" if a.primary else " from one clause")
                            if not a.model.startswith("changebank Coder")
                            else "The model's probability for this code"
                        ),
                    }
                    for a in suggestions.get(sub.pk, [])
                ],
                "coding_url": coding_url(slug, sub.pk),
            }
        )
    settings = CodingSettings.for_programme(programme)
    latest = learning.latest_round(programme)
    return render(
        request,
        "understand/learning_next.html",
        {
            "programme": programme,
            "page": page,
            "rows": rows,
            "method": method,
            "latest": latest,
            "settings": settings,
            "since": learning.decisions_since(programme, latest).count(),
            "pending": learning.pending_retrain(programme),
            "undoable": undoable(programme),
            "page_title": f"Code these next: {programme.title}",
        },
    )


def _confirm(request: HttpRequest, programme: Programme, here: str) -> HttpResponse:
    """Confirm the AI's codes of one queued submission as they are (an analyst's decision)."""
    page = request.POST.get("page", "")
    back = f"{here}?page={page}" if page.isdigit() and page != "1" else here
    if not request.user.has_perm("understand.change_codeassignment"):
        messages.error(request, "You do not have permission to code submissions.")
        return redirect(back)
    pk = request.POST.get("submission", "")
    sub = get_object_or_404(Submission, programme=programme, pk=int(pk) if pk.isdigit() else 0)
    current = dict(sub.code_assignments.values_list("code_id", "origin"))
    if request.POST.get("action") != "confirm" or Origin.AI not in current.values():
        messages.error(request, "There are no suggestions to confirm for that submission.")
        return redirect(back)
    ref = sub.reference or sub.pk
    board.set_codes(
        sub, list(current), request.user, summary=f"Confirmed the AI's codes for submission {ref}"
    )
    messages.success(request, f"Submission {ref} coded as the AI suggested. You can undo this.")
    return redirect(back)


urlpatterns = [
    path("programmes/<slug:slug>/analysis/learning/", panel, name="learning"),
    path("programmes/<slug:slug>/analysis/next/", next_queue, name="next"),
]
