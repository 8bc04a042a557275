"""Pages of the Understand stage: run the analysis, see themes and codes, review, edit, distinct changes."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core.audit import record
from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme, Submission

from .analyse import latest_run, start_analysis, update_code_sizes
from .models import (
    AnalysisRun,
    Code,
    CodeAssignment,
    DistinctChange,
    Origin,
    SubmissionReading,
    Theme,
)

PAGE_SIZE = 50
HISTORY_FIELDS = {"label", "description", "status", "origin", "theme", "meaning", "chosen_quotes"}


def history(obj: object, limit: int = 50) -> list[dict]:
    """Who changed this object, when, and what each field was before and after (from the audit
    trail), newest first; fields the analysts do not edit are left out."""
    from changebank.core.models import AuditEvent

    events = AuditEvent.objects.filter(
        object_type=obj._meta.label_lower,  # type: ignore[attr-defined]
        object_id=str(obj.pk),  # type: ignore[attr-defined]
    ).order_by("-at", "-id")[:limit]
    out = []
    for event in events:
        before, after = event.before or {}, event.after or {}
        changes = [
            (key, before.get(key), after.get(key))
            for key in after
            if key in HISTORY_FIELDS and before.get(key) != after.get(key)
        ]
        if event.action == "create" or event.note:
            changes = []
        out.append({"event": event, "changes": changes})
    return out


def _programme(slug: str) -> Programme:
    return get_object_or_404(Programme, slug=slug)


def _overview_context(programme: Programme) -> dict:
    themes = list(
        programme.themes.prefetch_related("codes")
        .annotate(n_codes=Count("codes"))
        .filter(n_codes__gt=0)
    )
    total = programme.submissions.count()
    unthemed = list(programme.codes.filter(theme=None))
    for theme in themes:
        theme.code_list = sorted(theme.codes.all(), key=lambda c: -c.size)
        theme.size = (
            CodeAssignment.objects.filter(code__theme=theme).values("submission").distinct().count()
        )
    themes.sort(key=lambda t: -t.size)
    readings = SubmissionReading.objects.filter(submission__programme=programme)
    sentiment = dict(
        readings.exclude(sentiment=None).values_list("sentiment").annotate(n=Count("id"))
    )
    stance = dict(readings.exclude(stance="").values_list("stance").annotate(n=Count("id")))
    return {
        "themes": themes,
        "unthemed": unthemed,
        "total": total,
        "sentiment": [
            (SubmissionReading.SENTIMENT_LABELS[k], sentiment.get(k, 0)) for k in range(1, 6)
        ],
        "stance": [
            (label, stance.get(value, 0))
            for value, label in SubmissionReading._meta.get_field("stance").choices
        ],
        "review_count": CodeAssignment.objects.filter(
            code__programme=programme, needs_review=True, origin=Origin.AI
        ).count(),
        "distinct_count": programme.distinct_changes.count(),
        "code_count": programme.codes.count(),
    }


@needs_permission("understand.view_code")
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme(slug)
    run = latest_run(programme)
    context = {
        "programme": programme,
        "run": run,
        "page_title": f"Themes and codes: {programme.title}",
        **_overview_context(programme),
    }
    return render(request, "understand/overview.html", context)


@needs_permission("understand.add_analysisrun")
@require_POST
def start(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme(slug)
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
    programme = _programme(slug)
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


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def code_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = _programme(slug)
    code = get_object_or_404(Code.objects.select_related("theme"), pk=pk, programme=programme)
    if request.method == "POST":
        if not request.user.has_perm("understand.change_code"):
            messages.error(request, "You do not have permission to change codes.")
            return redirect("understand:code_detail", slug, pk)
        return _edit_code(request, programme, code)
    assignments = code.assignments.select_related(
        "submission", "submission__question", "submission__respondent"
    ).order_by("-primary", "needs_review", "-confidence", "submission_id")
    page = Paginator(assignments, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/code_detail.html",
        {
            "programme": programme,
            "code": code,
            "page": page,
            "other_codes": programme.codes.exclude(pk=code.pk).order_by("label"),
            "history": history(code),
            "themes": programme.themes.order_by("label"),
            "page_title": f"Code: {code.label}",
        },
    )


def _edit_code(request: HttpRequest, programme: Programme, code: Code) -> HttpResponse:
    action = request.POST.get("action")
    slug = programme.slug
    with transaction.atomic():
        if action == "rename":
            label = (request.POST.get("label") or "").strip()
            if not label:
                messages.error(request, "Enter a name for the code.")
                return redirect("understand:code_detail", slug, code.pk)
            code.label = label[:200]
            code.description = (request.POST.get("description") or "").strip()
            code.origin = Origin.HUMAN
            code.status = Code.Status.ACCEPTED
            code.save()
            messages.success(request, f"Code renamed to ‘{code.label}’.")
        elif action == "accept":
            code.status = Code.Status.ACCEPTED
            code.save()
            messages.success(
                request, f"‘{code.label}’ accepted. Re-running the analysis will keep it."
            )
        elif action == "merge":
            target = Code.objects.filter(programme=programme, pk=request.POST.get("target")).first()
            if target is None or target.pk == code.pk:
                messages.error(request, "Choose the code to merge this one into.")
                return redirect("understand:code_detail", slug, code.pk)
            merge_codes(code, target)
            messages.success(request, f"‘{code.label}’ merged into ‘{target.label}’.")
            return redirect("understand:code_detail", slug, target.pk)
        elif action == "theme":
            theme = Theme.objects.filter(programme=programme, pk=request.POST.get("theme")).first()
            new_label = (request.POST.get("new_theme") or "").strip()
            if new_label:
                theme = Theme.objects.create(
                    programme=programme, label=new_label[:200], origin=Origin.HUMAN
                )
            if theme is None:
                messages.error(request, "Choose a theme or name a new one.")
                return redirect("understand:code_detail", slug, code.pk)
            code.theme = theme
            code.origin = Origin.HUMAN
            code.status = Code.Status.ACCEPTED
            code.save()
            messages.success(request, f"‘{code.label}’ is now in the theme ‘{theme.label}’.")
        else:
            messages.error(request, "That action is not known.")
    return redirect("understand:code_detail", slug, code.pk)


def merge_codes(source: Code, target: Code) -> None:
    """Move every submission of ``source`` to ``target`` and delete ``source`` (an analyst's decision)."""
    already = set(target.assignments.values_list("submission_id", flat=True))
    moving = source.assignments.exclude(submission_id__in=already)
    moved = moving.update(code=target)
    target.origin = Origin.HUMAN
    target.status = Code.Status.ACCEPTED
    target.quotes = (target.quotes or []) + [
        q for q in source.quotes or [] if q not in (target.quotes or [])
    ]
    target.keywords = list(dict.fromkeys((target.keywords or []) + (source.keywords or [])))[:12]
    target.save()
    record(
        "merge",
        target,
        before={"merged_code": source.pk, "label": source.label},
        after={"into": target.pk, "label": target.label, "submissions_moved": moved},
        note=f"Merged ‘{source.label}’ into this code ({moved:,} submissions moved)",
    )
    DistinctChange.objects.filter(code=source).update(code=target)
    source.delete()
    update_code_sizes(target.programme)


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, slug: str) -> HttpResponse:
    """AI codes the model was unsure of: confirm or change them."""
    programme = _programme(slug)
    if request.method == "POST":
        if not request.user.has_perm("understand.change_codeassignment"):
            messages.error(request, "You do not have permission to code submissions.")
            return redirect("understand:review", slug)
        assignment = get_object_or_404(
            CodeAssignment, pk=request.POST.get("assignment"), code__programme=programme
        )
        decide(assignment, request.POST.get("code"), request.user)
        messages.success(request, f"Coding of submission {assignment.submission.reference} saved.")
        return redirect(f"{request.path}?page={request.POST.get('page', 1)}")
    queue = (
        CodeAssignment.objects.filter(
            code__programme=programme, needs_review=True, origin=Origin.AI
        )
        .select_related("submission", "code", "submission__question")
        .order_by("confidence", "id")
    )
    page = Paginator(queue, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/review.html",
        {
            "programme": programme,
            "page": page,
            "codes": programme.codes.order_by("label"),
            "page_title": f"Review codes: {programme.title}",
        },
    )


def decide(assignment: CodeAssignment, code_id: str | None, user: object) -> CodeAssignment:
    """An analyst confirms the suggested code or chooses another; the decision is kept on re-runs."""
    with transaction.atomic():
        code = assignment.code
        if code_id and str(code_id) != str(code.pk):
            code = get_object_or_404(Code, pk=code_id, programme=assignment.code.programme)
            CodeAssignment.objects.filter(submission=assignment.submission, code=code).delete()
        before = {"code": assignment.code_id, "origin": assignment.origin}
        assignment.code = code
        assignment.origin = Origin.HUMAN
        assignment.needs_review = False
        assignment.decided_by = user if getattr(user, "pk", None) else None
        assignment.decided_at = timezone.now()
        assignment.save()
        # the submission's other AI codes become human decisions too: the analyst has seen it
        CodeAssignment.objects.filter(submission=assignment.submission, origin=Origin.AI).update(
            origin=Origin.HUMAN, needs_review=False
        )
        record("code", assignment, before=before, after={"code": code.pk, "origin": "human"})
        update_code_sizes(code.programme)
    return assignment


@needs_permission("understand.view_code")
def distinct_changes(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme(slug)
    qs = programme.distinct_changes.select_related("code")
    q = (request.GET.get("q") or "").strip()
    if q:
        for word in q.split()[:8]:
            qs = qs.filter(text__icontains=word)
    repeated = request.GET.get("repeated") == "1"
    if repeated:
        qs = qs.filter(count__gt=1)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/distinct_changes.html",
        {
            "programme": programme,
            "page": page,
            "q": q,
            "repeated": repeated,
            "page_title": f"Distinct changes: {programme.title}",
            "totals": programme.distinct_changes.aggregate(
                n=Count("id"), repeated=Count("id", filter=Q(count__gt=1))
            ),
        },
    )


@needs_permission("understand.view_code")
def distinct_change_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = _programme(slug)
    change = get_object_or_404(DistinctChange, pk=pk, programme=programme)
    members = Submission.objects.filter(distinct_changes=change).select_related(
        "question", "respondent"
    )
    from changebank.listen.models import Role

    roles = dict(Role.choices)
    by_group = {}
    for label, field in (
        ("Role", "respondent__role"),
        ("Organisation", "respondent__organisation"),
    ):
        counts = members.values_list(field).annotate(n=Count("id")).order_by("-n")
        rows = [(roles.get(v, v) if field.endswith("role") else v, n) for v, n in counts if v]
        if rows:
            by_group[label] = rows[:10]
    people = members.exclude(respondent=None).values("respondent").distinct().count()
    page = Paginator(members, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/distinct_change_detail.html",
        {
            "programme": programme,
            "change": change,
            "page": page,
            "by_group": by_group,
            "people": people,
            "page_title": "Distinct change",
        },
    )


#: Ways to split respondents for "who said it", and the submission field each reads.
GROUPINGS = {
    "organisation": ("Organisation", "respondent__organisation"),
    "role": ("Role", "respondent__role"),
    "sector": ("Sector or service", "respondent__sector"),
    "region": ("Region", "respondent__region"),
    "question": ("Question answered", "question__prompt"),
}
MAX_GROUPS = 8


@needs_permission("understand.view_code")
def who_said_it(request: HttpRequest, slug: str) -> HttpResponse:
    """How common each theme is in each respondent group, with chi-square and Cramér's V."""
    import numpy as np

    from changebank.analysis import prevalence_by_group

    programme = _programme(slug)
    by = request.GET.get("by") if request.GET.get("by") in GROUPINGS else "organisation"
    label, field = GROUPINGS[by]
    subs = list(programme.submissions.order_by("id").values_list("id", field))
    index = {sid: i for i, (sid, _) in enumerate(subs)}
    raw = [str(value or "") for _, value in subs]
    if by == "role":
        from changebank.listen.models import Role

        names = dict(Role.choices)
        raw = [names.get(v, v) for v in raw]
    sizes: dict[str, int] = {}
    for value in raw:
        if value:
            sizes[value] = sizes.get(value, 0) + 1
    top = sorted(sizes, key=lambda v: -sizes[v])[:MAX_GROUPS]
    groups = [v if v in top else ("Other" if v else "") for v in raw]
    themes = list(
        programme.themes.annotate(n=Count("codes")).filter(n__gt=0).order_by("position", "id")
    )
    rows, known = [], sum(1 for g in groups if g)
    if themes and known:
        column = {t.pk: j for j, t in enumerate(themes)}
        Y = np.zeros((len(subs), len(themes)), dtype=np.int8)
        pairs = (
            CodeAssignment.objects.filter(code__programme=programme, code__theme__isnull=False)
            .values_list("submission_id", "code__theme_id")
            .distinct()
        )
        for sid, theme_id in pairs.iterator(chunk_size=10_000):
            if sid in index:
                Y[index[sid], column[theme_id]] = 1
        for theme, prevalence in zip(
            themes, prevalence_by_group(Y, groups, min_share=0.0), strict=True
        ):
            rows.append(
                {
                    "theme": theme,
                    "p": prevalence,
                    "cells": list(zip(prevalence.counts, prevalence.shares, strict=True)),
                }
            )
        rows.sort(key=lambda r: -int(r["p"].counts.sum()))
    return render(
        request,
        "understand/who_said_it.html",
        {
            "programme": programme,
            "by": by,
            "groupings": GROUPINGS,
            "label": label,
            "rows": rows,
            "group_names": rows[0]["p"].groups if rows else [],
            "totals": rows[0]["p"].totals if rows else [],
            "unknown": len(subs) - known,
            "page_title": f"Who said it: {programme.title}",
        },
    )


@needs_permission("understand.view_code")
def submissions(request: HttpRequest, slug: str) -> HttpResponse:
    """A programme's submissions filtered by text, theme, code, stance, sentiment, coding state,
    question, respondent and date."""
    from changebank.listen.search import filter_submissions, search_terms

    from .forms import CodedSubmissionFilterForm

    programme = _programme(slug)
    form = CodedSubmissionFilterForm(request.GET or None, programme=programme)
    params = form.cleaned_data if form.is_valid() else {}
    qs = filter_submissions(programme.submissions.all(), params)
    if params.get("theme"):
        qs = qs.filter(code_assignments__code__theme=params["theme"])
    if params.get("code"):
        qs = qs.filter(code_assignments__code=params["code"])
    if params.get("stance"):
        qs = qs.filter(reading__stance=params["stance"])
    if params.get("sentiment"):
        qs = qs.filter(reading__sentiment=params["sentiment"])
    coding = params.get("coding")
    if coding == "uncoded":
        qs = qs.filter(code_assignments__isnull=True)
    elif coding == "ai":
        qs = qs.filter(code_assignments__origin=Origin.AI).exclude(
            code_assignments__origin=Origin.HUMAN
        )
    elif coding == "human":
        qs = qs.filter(code_assignments__origin=Origin.HUMAN)
    elif coding == "review":
        qs = qs.filter(code_assignments__needs_review=True)
    qs = (
        qs.distinct()
        .select_related("question", "respondent", "reading")
        .prefetch_related("code_assignments__code")
        .order_by("-received_at", "-id")
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/submissions.html",
        {
            "programme": programme,
            "form": form,
            "page": page,
            "terms": search_terms(params.get("q") or ""),
            "page_title": f"Find submissions: {programme.title}",
        },
    )


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def theme_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A theme: its codes, what it means, and quotes chosen to illustrate it."""
    programme = _programme(slug)
    theme = get_object_or_404(Theme, pk=pk, programme=programme)
    codes = sorted(theme.codes.all(), key=lambda c: -c.size)
    proposed = list(dict.fromkeys(q for c in codes for q in (c.quotes or [])[:2]))[:12]
    offered = list(dict.fromkeys([*(theme.chosen_quotes or []), *proposed]))
    if request.method == "POST":
        if not request.user.has_perm("understand.change_theme"):
            messages.error(request, "You do not have permission to change themes.")
            return redirect("understand:theme_detail", slug, pk)
        label = (request.POST.get("label") or "").strip()
        if not label:
            messages.error(request, "Enter a name for the theme.")
            return redirect("understand:theme_detail", slug, pk)
        with transaction.atomic():
            theme.label = label[:200]
            theme.meaning = (request.POST.get("meaning") or "").strip()
            picked = set(request.POST.getlist("quotes"))
            theme.chosen_quotes = [q for q in offered if q in picked]
            theme.origin = Origin.HUMAN
            theme.save()
            # finalising a theme accepts its codes, so re-running the analysis keeps them
            for code in codes:
                if not code.is_human:
                    code.status = Code.Status.ACCEPTED
                    code.save()
        messages.success(
            request, f"Theme ‘{theme.label}’ saved; it and its codes are kept on re-runs."
        )
        return redirect("understand:theme_detail", slug, pk)
    size = CodeAssignment.objects.filter(code__theme=theme).values("submission").distinct().count()
    return render(
        request,
        "understand/theme_detail.html",
        {
            "programme": programme,
            "theme": theme,
            "codes": codes,
            "offered": offered,
            "size": size,
            "total": programme.submissions.count(),
            "history": history(theme),
            "page_title": f"Theme: {theme.label}",
        },
    )
