"""Starting an analysis and following its progress."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from changebank.core.permissions import needs_permission

from ..analyse import latest_run, start_analysis
from ..models import (
    AnalysisRun,
)
from .common import programme_or_404


@needs_permission("understand.add_analysisrun")
@require_POST
def start(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    run = latest_run(programme)
    if run and run.task and not run.task.is_finished:
        messages.info(request, "An analysis of this programme is already running.")
        return redirect("understand:run_detail", slug, run.pk)
    if not programme.submissions.exists():
        messages.error(request, "There are no submissions to analyse yet. Import some first.")
        return redirect("understand:overview", slug)
    run = start_analysis(programme, request.user)
    return redirect("understand:run_detail", slug, run.pk)


@needs_permission("understand.view_code")
def run_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    run = get_object_or_404(AnalysisRun.objects.select_related("task"), pk=pk, programme=programme)
    auto = request.GET.get("auto") != "0"
    return render(
        request,
        "understand/run_detail.html",
        {
            "programme": programme,
            "run": run,
            "task": run.task,
            "refresh": auto and run.task is not None and not run.task.is_finished,
            "auto": auto,
            "page_title": f"Analysis {run.pk}: {programme.title}",
        },
    )
