"""Finding submissions by text, theme, code, stance, sentiment, coding and respondent."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme, Submission

from ..models import CodeAssignment, Origin
from .common import PAGE_SIZE, programme_or_404


def coded_submissions(programme: Programme, params: dict[str, Any]) -> QuerySet[Submission]:
    """The programme's submissions matching the cleaned filters of
    :class:`~changebank.understand.forms.CodedSubmissionFilterForm` (text, question, respondent,
    dates, theme (home or shared codes), code, stance, sentiment and coding state)."""
    from changebank.listen.search import filter_submissions

    from ..forms import filter_by_detail

    qs = filter_submissions(programme.submissions.all(), params)
    if params.get("region"):
        qs = qs.filter(respondent__region__iexact=params["region"])
    if params.get("detail"):
        qs = filter_by_detail(qs, params["detail"], params.get("detail_value") or "")
    codings = CodeAssignment.objects.filter(submission=OuterRef("pk"))
    if params.get("theme"):
        theme = params["theme"]
        qs = qs.filter(Exists(codings.filter(Q(code__theme=theme) | Q(code__also_in=theme))))
    if params.get("code"):
        qs = qs.filter(Exists(codings.filter(code=params["code"])))
    if params.get("stance"):
        qs = qs.filter(reading__stance=params["stance"])
    if params.get("sentiment"):
        qs = qs.filter(reading__sentiment=params["sentiment"])
    coding = params.get("coding")
    if coding == "uncoded":
        qs = qs.filter(~Exists(codings))
    elif coding == "ai":
        qs = qs.filter(Exists(codings), ~Exists(codings.filter(origin=Origin.HUMAN)))
    elif coding == "human":
        qs = qs.filter(Exists(codings.filter(origin=Origin.HUMAN)))
    elif coding == "review":
        qs = qs.filter(Exists(codings.filter(needs_review=True)))
    # every filter is an EXISTS or a one-to-one join: no row repeats, so no DISTINCT is needed
    return qs


@needs_permission("understand.view_code")
def submissions(request: HttpRequest, slug: str) -> HttpResponse:
    """A programme's submissions filtered by text, theme, code, stance, sentiment, coding state,
    question, respondent and date."""
    from changebank.listen.search import search_terms

    from ..forms import CodedSubmissionFilterForm

    programme = programme_or_404(slug)
    form = CodedSubmissionFilterForm(request.GET or None, programme=programme)
    params = form.cleaned_data if form.is_valid() else {}
    qs = (
        coded_submissions(programme, params)
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
