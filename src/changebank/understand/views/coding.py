"""Coding submissions: a survey-style grid with respondent details, and one submission at a time
with the AI's suggestions (confidence and reason), codes to apply or remove and highlighted spans.

Every change goes through :mod:`changebank.understand.board`: audited, undoable, and (for the
analyst's own decisions) counted towards retraining the model.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from changebank.core.permissions import needs_permission
from changebank.listen.models import Role, Submission
from changebank.listen.privacy_ingest import highlight

from .. import board
from ..forms import CodedSubmissionFilterForm
from ..models import Code, CodeAssignment, CodeSpan, CodingSettings, Origin
from ..undo import undoable
from .common import programme_or_404
from .search import coded_submissions

GRID_PAGE_SIZE = 25
CODE = "understand.change_codeassignment"
_WORD = re.compile(r"\w+")


def reason(assignment: CodeAssignment) -> str:
    """Why the AI suggested this code, in plain words."""
    code = assignment.code
    words = {w.lower() for w in _WORD.findall(assignment.submission.text or "")}
    found = [k for k in (code.keywords or []) if all(p in words for p in k.lower().split())][:3]
    source = (
        "a model retrained on analysts' decisions"
        if "Coder" in assignment.model
        else ("the analysis")
    )
    if code.is_empty_answer:
        return f"The answer says nothing about the service ({source})."
    if found:
        quoted = ", ".join(f"‘{k}’" for k in found)
        return f"It mentions {quoted}, typical of this code ({source})."
    if not assignment.primary:
        return f"One clause of the answer is close in meaning to this code ({source})."
    return f"Close in meaning to the code's typical submissions ({source})."


def _suggestions(programme: object, matching: object, params: dict) -> object:
    """The AI's suggestions for the submissions the filters match (all of the programme's when
    no filter is set, without the costly membership test)."""
    qs = CodeAssignment.objects.filter(code__programme=programme, origin=Origin.AI)
    if any(value not in (None, "", []) for value in params.values()):
        qs = qs.filter(Exists(matching.filter(pk=OuterRef("submission_id"))))
    return qs


def _attributes(submission: Submission) -> list[tuple[str, str]]:
    r = submission.respondent
    rows = []
    if submission.question_id:
        rows.append(("Question", submission.question.prompt))
    if r is not None:
        for label, value in [
            ("Role", dict(Role.choices).get(r.role, r.role)),
            ("Organisation", r.organisation),
            ("Sector or service", r.sector),
            ("Region", r.region),
        ]:
            if value:
                rows.append((label, value))
        for key, value in {**(r.attributes or {}), **(r.equality or {})}.items():
            if value not in (None, ""):
                rows.append((str(key).replace("_", " ").capitalize(), str(value)))
    if submission.received_at:
        rows.append(("Received", submission.received_at.strftime("%-d %B %Y")))
    return rows


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def coding_grid(request: HttpRequest, slug: str) -> HttpResponse:
    """Submissions as a survey grid: respondent details beside the text and its codes; accept the
    AI's suggestions ticked one by one, or every one above a confidence threshold."""
    programme = programme_or_404(slug)
    form = CodedSubmissionFilterForm(request.GET or None, programme=programme)
    params = form.cleaned_data if form.is_valid() else {}
    here = request.get_full_path()
    settings = CodingSettings.for_programme(programme)
    matching = coded_submissions(programme, params)
    if request.method == "POST":
        if not request.user.has_perm(CODE):
            messages.error(request, "You do not have permission to code submissions.")
            return redirect(here)
        suggestions = _suggestions(programme, matching, params)
        if request.POST.get("action") == "threshold":
            try:
                percent = float(request.POST.get("threshold") or "")
                if not 0 <= percent <= 100:
                    raise ValueError
            except ValueError:
                messages.error(request, "Enter a confidence between 0 and 100 per cent.")
                return redirect(here)
            chosen = list(suggestions.filter(confidence__gte=percent / 100))
            summary = f"Accepted {len(chosen):,} AI suggestions with confidence ≥ {percent:g}%"
        else:
            picked = [int(p) for p in request.POST.getlist("accept") if p.isdigit()]
            chosen = list(suggestions.filter(pk__in=picked))
            summary = f"Accepted {len(chosen):,} ticked AI suggestions"
        try:
            board.accept_suggestions(programme, chosen, request.user, summary=summary)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(here)
        messages.success(request, summary + ".")
        return redirect(here)
    qs = (
        matching.select_related("question", "respondent", "reading")
        .prefetch_related("code_assignments__code")
        .order_by("id")
    )
    page = Paginator(qs, GRID_PAGE_SIZE).get_page(request.GET.get("page"))
    extra_keys: list[str] = []
    for s in page.object_list:
        if s.respondent is not None:
            for key in s.respondent.attributes or {}:
                if key not in extra_keys:
                    extra_keys.append(key)
    threshold = settings.accept_threshold
    above = _suggestions(programme, matching, params).filter(confidence__gte=threshold).count()
    return render(
        request,
        "understand/coding_grid.html",
        {
            "programme": programme,
            "form": form,
            "page": page,
            "extra_keys": extra_keys[:3],
            "roles": dict(Role.choices),
            "threshold": round(threshold * 100),
            "above": above,
            "undoable": undoable(programme),
            "page_title": f"Code submissions: {programme.title}",
        },
    )


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def code_submission(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One submission: its text with highlighted spans, who said it, the AI's suggestions, and
    forms to apply or remove codes and to code highlighted words."""
    programme = programme_or_404(slug)
    submission = get_object_or_404(
        Submission.objects.select_related("question", "respondent"), pk=pk, programme=programme
    )
    here = reverse("understand:code_submission", args=[slug, pk])
    if request.method == "POST":
        return _code(request, programme, submission, here)
    assignments = list(
        submission.code_assignments.select_related("code", "decided_by").prefetch_related("spans")
    )
    current = {a.code_id for a in assignments}
    suggestions = [a for a in assignments if a.origin == Origin.AI]
    for a in suggestions:
        a.reason = reason(a)
    codes = list(programme.codes.select_related("theme").order_by("theme__label", "label"))
    groups: dict[str, list[Code]] = {}
    for code in codes:
        groups.setdefault(code.theme.label if code.theme else "Not in a theme", []).append(code)
    spans = sorted(
        [(s, a.code) for a in assignments for s in a.spans.all()], key=lambda x: x[0].start
    )
    undecided = (
        Submission.objects.filter(programme=programme)
        .exclude(code_assignments__origin=Origin.HUMAN)
        .order_by("pk")
    )
    return render(
        request,
        "understand/code_submission.html",
        {
            "programme": programme,
            "submission": submission,
            "segments": _segments(submission.text or "", [s for s, _ in spans]),
            # the text is coded redacted; the original only for those allowed to see it
            "original_html": highlight(submission, original=True)
            if submission.original_text and request.user.has_perm("listen.view_original_text")
            else None,
            "spans": spans,
            "attributes": _attributes(submission),
            "assignments": assignments,
            "suggestions": suggestions,
            "current": current,
            "groups": groups,
            "codes": codes,
            "next": undecided.filter(pk__gt=pk).first(),
            "previous": undecided.filter(pk__lt=pk).order_by("-pk").first(),
            "undoable": undoable(programme),
            "page_title": f"Code submission {submission.reference or submission.pk}",
        },
    )


def _segments(text: str, spans: list[CodeSpan]) -> list[tuple[str, bool]]:
    """The text cut into (piece, highlighted) pieces; overlapping spans merge."""
    marks = sorted((s.start, s.end) for s in spans)
    merged: list[list[int]] = []
    for start, end in marks:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < len(text):
        out.append((text[at:], False))
    return out


def _utf16_to_index(text: str, offset: int) -> int:
    """A browser's selection offset (UTF-16 code units) as a Python string index."""
    return len(text.encode("utf-16-le")[: 2 * offset].decode("utf-16-le", errors="ignore"))


def _code(
    request: HttpRequest, programme: object, submission: Submission, here: str
) -> HttpResponse:
    if not request.user.has_perm(CODE):
        messages.error(request, "You do not have permission to code submissions.")
        return redirect(here)
    post, user = request.POST, request.user
    what = post.get("action")
    try:
        if what == "save":
            ids = [int(c) for c in post.getlist("codes") if c.isdigit()]
            board.set_codes(submission, ids, user)
            messages.success(request, "Codes saved.")
            if post.get("then") == "next":
                nxt = (
                    Submission.objects.filter(programme=programme, pk__gt=submission.pk)
                    .exclude(code_assignments__origin=Origin.HUMAN)
                    .order_by("pk")
                    .first()
                )
                if nxt is not None:
                    return redirect("understand:code_submission", programme.slug, nxt.pk)
        elif what in ("accept", "reject"):
            a = get_object_or_404(CodeAssignment, pk=post.get("assignment"), submission=submission)
            if what == "accept":
                board.accept_suggestions(
                    programme,
                    [a],
                    user,
                    summary=f"Accepted ‘{a.code.label}’ for {submission.reference}",
                )
                messages.success(request, f"‘{a.code.label}’ accepted.")
            else:
                board.reject_suggestion(a, user)
                messages.success(request, f"‘{a.code.label}’ removed.")
        elif what == "span":
            code = Code.objects.filter(programme=programme, pk=post.get("code") or 0).first()
            if code is None:
                raise ValidationError("Choose the code for the highlighted words.")
            text, words = submission.text or "", post.get("words") or ""
            start = end = None
            if post.get("start16", "").isdigit() and post.get("end16", "").isdigit():
                start = _utf16_to_index(text, int(post["start16"]))
                end = _utf16_to_index(text, int(post["end16"]))
                if words.strip() and text[start:end].strip() != words.strip():
                    start = end = None  # the words were edited after highlighting
            if start is None:
                occurrence = int(post["occurrence"]) if post.get("occurrence", "").isdigit() else 1
                start, end = board.find_span(text, words, occurrence)
            board.add_span(submission, code, start, end, user)
            messages.success(request, f"Highlighted words coded as ‘{code.label}’.")
        elif what == "unspan":
            span = get_object_or_404(
                CodeSpan, pk=post.get("span"), assignment__submission=submission
            )
            board.remove_span(span, user)
            messages.success(request, "Highlight removed.")
        else:
            messages.error(request, "That action is not known.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(here)


urlpatterns = [
    path("programmes/<slug:slug>/analysis/coding/", coding_grid, name="coding_grid"),
    path(
        "programmes/<slug:slug>/analysis/coding/<int:pk>/",
        code_submission,
        name="code_submission",
    ),
]
