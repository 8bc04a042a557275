"""Pairwise voting (a wiki survey): analysts make a survey from the long list, open and close it
and moderate the ideas participants add; anyone with the link votes on pairs, without an account
and without JavaScript; everyone sees the results once the survey is open.

Staff pages need the ``decide`` permissions of the analyst role. The public pages (voting, adding
an idea, the results) need a survey that is open (the results: open or closed) in a programme that
is not private. A participant is a random key kept in their browser session
(:func:`participant_key`), made on their first visit to the vote page.

A vote is a POST of the prompt's token and the choice; :func:`changebank.decide.pairwise.
record_vote` counts it at most once, and the page redirects to the next pair (POST/redirect/GET).
The response says what happened in the ``X-Vote-Result`` header too (``counted``, ``duplicate``,
``not_yours``, ``limit``, ``invalid``, ``closed``), which the voting load test reads.
"""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core import ratelimit
from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme

from .. import pairwise as ops
from ..models import Idea, Moderation, PairPrompt, PairwiseSurvey, Status
from ..participants import session_participant_key
from .overview import link, programme_or_404

VIEW = "decide.view_pairwisesurvey"
ADD = "decide.add_pairwisesurvey"
CHANGE = "decide.change_pairwisesurvey"
MODERATE = "decide.change_idea"
#: Ideas one internet address may add to one survey in an hour.
IDEAS_PER_ADDRESS_HOUR = 20
#: Changes of the long list offered as tick boxes on the new-survey page (most raised first).
PICKABLE = 200


def pct(value: float | None) -> str:
    """0.6234 -> "62%"; None -> "–"."""
    return "–" if value is None else f"{round(100 * value)}%"


def _survey(programme: Programme, survey_slug: str) -> PairwiseSurvey:
    return get_object_or_404(PairwiseSurvey, programme=programme, slug=survey_slug)


def _crumbs(programme: Programme, staff: bool) -> list[dict[str, str]]:
    items = [
        {"href": reverse("core:home"), "text": "Programmes"},
        {
            "href": reverse("listen:programme_detail", args=[programme.slug]),
            "text": programme.title[:60],
        },
    ]
    if staff:
        items += [
            {"href": reverse("decide:overview", args=[programme.slug]), "text": "Decide"},
            {
                "href": reverse("decide:pairwise_list", args=[programme.slug]),
                "text": "Pairwise voting",
            },
        ]
    return items


# --- staff: the list and a new survey ---------------------------------------------------------


@needs_permission(VIEW)
def survey_list(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    surveys = list(programme.pairwise_surveys.all())
    counts = ops.survey_counts(surveys)
    for survey in surveys:
        survey.counts = counts[survey.pk]
    return render(
        request,
        "decide/pairwise_list.html",
        {
            "programme": programme,
            "surveys": surveys,
            "crumbs": _crumbs(programme, staff=True)[:-1],
            "long_list": programme.distinct_changes.count(),
            "page_title": f"Pairwise voting: {programme.title}",
        },
    )


class SurveyForm(forms.Form):
    question = forms.CharField(
        max_length=300, error_messages={"required": "Enter the question people answer"}
    )
    slug = forms.SlugField(
        max_length=80,
        required=False,
        error_messages={"invalid": "The web address may use only letters, numbers and hyphens"},
    )
    description = forms.CharField(required=False, max_length=2000)
    top = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=500,
        error_messages={
            "invalid": "Enter the number of changes as a whole number, such as 20",
            "min_value": "Enter a number of changes of 0 or more",
            "max_value": "Enter a number of changes of 500 or fewer",
        },
    )
    changes = forms.ModelMultipleChoiceField(queryset=Programme.objects.none(), required=False)
    typed = forms.CharField(required=False, max_length=50_000)
    allow_ideas = forms.BooleanField(required=False)
    votes_per_session = forms.IntegerField(
        min_value=1,
        max_value=100_000,
        error_messages={
            "required": "Enter the most votes one person may cast",
            "invalid": "Enter the most votes as a whole number, such as 300",
            "min_value": "Enter 1 or more votes",
            "max_value": "Enter 100,000 votes or fewer",
        },
    )
    ideas_per_session = forms.IntegerField(
        min_value=0,
        max_value=1000,
        error_messages={
            "required": "Enter the most ideas one person may add",
            "invalid": "Enter the most ideas as a whole number, such as 5",
            "min_value": "Enter 0 or more ideas",
            "max_value": "Enter 1,000 ideas or fewer",
        },
    )

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.programme = programme
        self.fields["changes"].queryset = programme.distinct_changes.all()

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug") or ""
        if slug in ops.RESERVED_SLUGS:
            raise ValidationError("That web address is taken: choose another")
        if slug and self.programme.pairwise_surveys.filter(slug=slug).exists():
            raise ValidationError("Another survey of this programme has that web address")
        return slug

    def clean_typed(self) -> list[str]:
        lines = [" ".join(line.split()) for line in self.cleaned_data.get("typed", "").splitlines()]
        lines = [line for line in lines if line]
        too_long = [n for n, line in enumerate(lines, 1) if len(line) > ops.IDEA_MAX_LENGTH]
        if too_long:
            raise ValidationError(
                f"Idea {too_long[0]} is longer than {ops.IDEA_MAX_LENGTH} characters: shorten it"
            )
        return lines

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        seed = ops.seed_changes(
            self.programme, data.get("top") or 0, [c.pk for c in data.get("changes") or []]
        )
        texts = {ops.idea_text(c).casefold() for c in seed} | {
            t.casefold() for t in data.get("typed") or []
        }
        if len(texts) < 2:
            self.add_error(
                "top",
                "Choose at least two ideas: a number of changes from the long list, changes "
                "ticked below, or ideas typed one per line",
            )
        data["seed"] = seed
        return data


@needs_permission(ADD)
@require_http_methods(["GET", "POST"])
def survey_new(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    if request.method == "POST":
        form = SurveyForm(request.POST, programme=programme)
        if form.is_valid():
            data = form.cleaned_data
            survey = ops.create_survey(
                programme,
                question=data["question"],
                slug=data["slug"],
                description=data["description"],
                changes=data["seed"],
                typed=data["typed"],
                allow_ideas=data["allow_ideas"],
                votes_per_session=data["votes_per_session"],
                ideas_per_session=data["ideas_per_session"],
            )
            n = survey.ideas.count()
            messages.success(
                request,
                f"Survey created with {n:,} ideas. It is being prepared: open it for voting "
                "when you are ready.",
            )
            return redirect("decide:pairwise_detail", slug=slug, survey=survey.slug)
    else:
        form = SurveyForm(
            programme=programme,
            initial={
                "top": min(20, programme.distinct_changes.count()),
                "allow_ideas": True,
                "votes_per_session": 300,
                "ideas_per_session": 5,
            },
        )
    return render(
        request,
        "decide/pairwise_new.html",
        {
            "programme": programme,
            "form": form,
            "crumbs": _crumbs(programme, staff=True),
            "pickable": programme.distinct_changes.order_by("-count", "id")[:PICKABLE],
            "long_list": programme.distinct_changes.count(),
            "picked": {str(v) for v in form["changes"].value() or []},
            "page_title": ("Error: " if form.errors else "") + "Create a wiki survey",
        },
    )


# --- staff: one survey ------------------------------------------------------------------------


def _detail_context(request: HttpRequest, programme: Programme, survey: PairwiseSurvey) -> dict:
    ideas = list(survey.ideas.all())
    counts = ops.survey_counts([survey])[survey.pk]
    return {
        "programme": programme,
        "survey": survey,
        "pending": [i for i in ideas if i.status == Moderation.PENDING],
        "ideas": [i for i in ideas if i.status != Moderation.PENDING],
        "counts": counts,
        "sessions": PairPrompt.objects.filter(survey=survey, answered_at__isnull=False)
        .values("session_key")
        .distinct()
        .count(),
        "crumbs": _crumbs(programme, staff=True),
        "vote_url": request.build_absolute_uri(
            reverse("decide:pairwise_vote", args=[programme.slug, survey.slug])
        ),
        "idea_error": None,
        "idea_value": "",
        "page_title": survey.question,
    }


@needs_permission(VIEW)
def survey_detail(request: HttpRequest, slug: str, survey: str) -> HttpResponse:
    programme = programme_or_404(slug)
    found = _survey(programme, survey)
    return render(
        request, "decide/pairwise_detail.html", _detail_context(request, programme, found)
    )


STATUS_MESSAGES = {
    Status.OPEN: "The survey is open: anyone with the link can vote.",
    Status.CLOSED: "The survey is closed: nobody can vote or add ideas; the results stay public.",
    Status.DRAFT: "The survey is back in preparation: only staff can see it.",
}


@needs_permission(CHANGE)
@require_POST
def survey_status(request: HttpRequest, slug: str, survey: str) -> HttpResponse:
    programme = programme_or_404(slug)
    found = _survey(programme, survey)
    status = request.POST.get("status", "")
    if status not in Status.values:
        messages.error(request, "Choose open, closed or being prepared.")
    elif status != found.status:
        ops.set_status(found, status)
        messages.success(request, STATUS_MESSAGES[Status(status)])
    return redirect("decide:pairwise_detail", slug=slug, survey=found.slug)


@needs_permission(MODERATE)
@require_POST
def idea_moderate(request: HttpRequest, slug: str, survey: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    found = _survey(programme, survey)
    idea = get_object_or_404(Idea, survey=found, pk=pk)
    status = request.POST.get("status", "")
    if status in (Moderation.APPROVED, Moderation.REJECTED):
        ops.moderate(idea, status)
        verb = "approved: it is now in the pairs" if status == "approved" else "rejected"
        messages.success(request, f"Idea {verb}: “{idea.text[:80]}”.")
    else:
        messages.error(request, "Choose approve or reject.")
    return redirect(reverse("decide:pairwise_detail", args=[slug, found.slug]) + "#moderation")


@needs_permission(MODERATE)
@require_POST
def idea_add(request: HttpRequest, slug: str, survey: str) -> HttpResponse:
    programme = programme_or_404(slug)
    found = _survey(programme, survey)
    text = request.POST.get("text", "")
    try:
        idea = ops.add_analyst_idea(found, text)
    except ops.IdeaRefused as exc:
        context = _detail_context(request, programme, found)
        context.update(
            idea_error=str(exc), idea_value=text, page_title="Error: " + context["page_title"]
        )
        return render(request, "decide/pairwise_detail.html", context)
    messages.success(request, f"Idea added: “{idea.text[:80]}”.")
    return redirect(reverse("decide:pairwise_detail", args=[slug, found.slug]) + "#ideas")


# --- public: voting ---------------------------------------------------------------------------


def public_survey(request: HttpRequest, slug: str, survey: str) -> PairwiseSurvey:
    """The survey of a public page: its programme is not private, and it is not being prepared.
    Staff who may view surveys see any (for the results page)."""
    found = get_object_or_404(
        PairwiseSurvey.objects.select_related("programme"), programme__slug=slug, slug=survey
    )
    if request.user.has_perm(VIEW):
        return found
    if found.programme.visibility == Programme.Visibility.PRIVATE or found.status == Status.DRAFT:
        raise Http404("No such survey")
    return found


def participant_key(request: HttpRequest, *, create: bool = False) -> str:
    """This browser's participant key for wiki surveys ("" if none), made when ``create`` is true
    (the session middleware then saves the session). It is what
    :class:`~changebank.decide.models.PairPrompt` and participants' ideas store as
    ``session_key``: never the session key itself (see :mod:`changebank.decide.participants`)."""
    return session_participant_key(
        request, ops.PARTICIPANT_SESSION_KEY, create=create, save_new_session=False
    )


def _ideas_scope(survey: PairwiseSurvey) -> str:
    return f"pairwise-ideas:{survey.pk}"


def ideas_rate_limited(request: HttpRequest, survey: PairwiseSurvey) -> bool:
    """True when this address has added :data:`IDEAS_PER_ADDRESS_HOUR` ideas to the survey in
    the current hour (a new session per idea does not get round the per-session limit)."""
    return ratelimit.limit_reached(request, _ideas_scope(survey), IDEAS_PER_ADDRESS_HOUR)


def _count_idea(request: HttpRequest, survey: PairwiseSurvey) -> None:
    ratelimit.count(request, _ideas_scope(survey))


def _vote_response(
    request: HttpRequest, template: str, context: dict, status: int, result: str
) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["X-Vote-Result"] = result
    return response


@require_http_methods(["GET", "POST"])
def vote(request: HttpRequest, slug: str, survey: str) -> HttpResponse:
    found = public_survey(request, slug, survey)
    if found.programme.visibility == Programme.Visibility.PRIVATE or found.status == Status.DRAFT:
        raise Http404("No such survey")  # staff may see the results, but nobody votes
    programme = found.programme
    context: dict[str, Any] = {
        "programme": programme,
        "survey": found,
        "crumbs": _crumbs(programme, staff=False),
        "page_title": found.question,
    }
    if found.status != Status.OPEN:
        context["page_title"] = "This survey is closed"
        if request.method == "POST":
            return _vote_response(request, "decide/pairwise_closed.html", context, 409, "closed")
        return render(request, "decide/pairwise_closed.html", context)
    key = participant_key(request, create=request.method == "GET")
    here = reverse("decide:pairwise_vote", args=[slug, found.slug])
    if request.method == "POST":
        result = ops.record_vote(
            found, key, request.POST.get("token", ""), request.POST.get("choice", "")
        )
        if result in (ops.VoteResult.COUNTED, ops.VoteResult.DUPLICATE):
            if result is ops.VoteResult.COUNTED:
                messages.success(request, "Thank you: your vote was counted. Here is a new pair.")
            else:
                messages.info(request, "That vote was already counted. Here is a new pair.")
            response = redirect(here)
            response["X-Vote-Result"] = result.value
            return response
        context["votes"] = ops.votes_cast(found, key)
        if result is ops.VoteResult.LIMIT:
            context["page_title"] = "You have cast the most votes allowed"
            return _vote_response(
                request,
                "decide/pairwise_vote.html",
                context | {"limit_reached": True},
                429,
                "limit",
            )
        context["page_title"] = "Your vote was not counted"
        context["refused"] = result.value
        return _vote_response(request, "decide/pairwise_refused.html", context, 400, result.value)
    votes = ops.votes_cast(found, key)
    context["votes"] = votes
    context["can_add"] = found.allow_ideas and ops.ideas_added(found, key) < found.ideas_per_session
    if votes >= found.votes_per_session:
        context["limit_reached"] = True
        context["page_title"] = "You have cast the most votes allowed"
        return render(request, "decide/pairwise_vote.html", context)
    context["prompt"] = ops.new_prompt(found, key)
    return render(request, "decide/pairwise_vote.html", context)


@require_http_methods(["GET", "POST"])
def add_idea(request: HttpRequest, slug: str, survey: str) -> HttpResponse:
    found = public_survey(request, slug, survey)
    if found.programme.visibility == Programme.Visibility.PRIVATE or found.status == Status.DRAFT:
        raise Http404("No such survey")
    programme = found.programme
    context: dict[str, Any] = {
        "programme": programme,
        "survey": found,
        "crumbs": _crumbs(programme, staff=False),
        "error": None,
        "value": "",
        "page_title": f"Add your own idea: {found.question}",
    }
    if found.status != Status.OPEN or not found.allow_ideas:
        context["page_title"] = "This survey is not taking new ideas"
        context["not_taking"] = True
        return render(request, "decide/pairwise_idea.html", context)
    key = participant_key(request, create=True)
    context["added"] = ops.ideas_added(found, key)
    if request.method == "POST":
        text = request.POST.get("idea", "")
        status = 200
        try:
            if ideas_rate_limited(request, found):
                status = 429
                raise ops.IdeaRefused(
                    "We have had many ideas from your internet connection in the last hour, so "
                    "we have not saved this one. Please try again later."
                )
            ops.add_participant_idea(found, key, text)
        except ops.IdeaRefused as exc:
            context.update(error=str(exc), value=text)
            context["page_title"] = "Error: " + context["page_title"]
            return render(request, "decide/pairwise_idea.html", context, status=status)
        _count_idea(request, found)
        messages.success(
            request,
            "Thank you for your idea. Someone will check it soon; once approved it will appear "
            "in the pairs people vote on.",
        )
        return redirect("decide:pairwise_vote", slug=slug, survey=found.slug)
    return render(request, "decide/pairwise_idea.html", context)


# --- results ----------------------------------------------------------------------------------

CHART_WIDTH = 760
CHART_LEFT = 300  # room for the labels
CHART_RIGHT = 730
CHART_TOP = 30
ROW = 26
LABEL_CHARS = 40


def chart(found: ops.Results) -> dict[str, Any] | None:
    """Positions of a dot-and-interval chart of the scores (0–100 %), one row per idea."""
    rows = [r for r in found.rows if r.score is not None]
    if not rows:
        return None
    span = CHART_RIGHT - CHART_LEFT

    def x(v: float) -> float:
        return round(CHART_LEFT + span * v, 1)

    items = []
    for n, r in enumerate(rows):
        y = CHART_TOP + ROW * n + ROW / 2
        text = r.idea.text
        label = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"
        items.append(
            {
                "y": y,
                "x": x(r.score),
                "low": x(r.low),
                "high": x(r.high),
                "label": f"{r.rank}. {label}",
            }
        )
    bottom = CHART_TOP + ROW * len(rows)
    best, worst = rows[0], rows[-1]
    summary = (
        f"Scores of {len(rows)} ideas, each with its 95% interval, best first. Highest: "
        f"“{best.idea.text[:80]}”, {pct(best.score)} ({pct(best.low)} to {pct(best.high)}). "
        f"Lowest: “{worst.idea.text[:80]}”, {pct(worst.score)} ({pct(worst.low)} to "
        f"{pct(worst.high)})."
    )
    return {
        "width": CHART_WIDTH,
        "height": bottom + 50,
        "left": CHART_LEFT,
        "right": CHART_RIGHT,
        "top": CHART_TOP - 10,
        "bottom": bottom,
        "middle": x(0.5),
        "ticks": [(f"{t}%", x(t / 100)) for t in (0, 25, 50, 75, 100)],
        "rows": items,
        "summary": summary,
    }


def results(request: HttpRequest, slug: str, survey: str) -> HttpResponse:
    found = public_survey(request, slug, survey)
    programme = found.programme
    outcome = ops.results(found)
    return render(
        request,
        "decide/pairwise_results.html",
        {
            "programme": programme,
            "survey": found,
            "results": outcome,
            "chart": chart(outcome),
            "pct": pct,
            "staff": request.user.has_perm(VIEW),
            "crumbs": _crumbs(programme, staff=request.user.has_perm(VIEW)),
            "vote_url": link("decide:pairwise_vote", slug, found.slug)
            if found.status == Status.OPEN
            else None,
            "page_title": f"Results: {found.question}",
        },
    )


def results_csv(request: HttpRequest, slug: str, survey: str) -> HttpResponse:
    found = public_survey(request, slug, survey)
    out = io.StringIO()
    ops.write_results_csv(ops.results(found), out)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{found.programme.slug}-{found.slug}-results.csv"'
    )
    return response


P = "programmes/<slug:slug>/decide/pairwise/"
urlpatterns = [
    path(P, survey_list, name="pairwise_list"),
    path(P + "new/", survey_new, name="pairwise_new"),
    path(P + "<slug:survey>/", survey_detail, name="pairwise_detail"),
    path(P + "<slug:survey>/status/", survey_status, name="pairwise_status"),
    path(P + "<slug:survey>/ideas/", idea_add, name="pairwise_idea_add"),
    path(P + "<slug:survey>/ideas/<int:pk>/", idea_moderate, name="pairwise_moderate"),
    path(P + "<slug:survey>/vote/", vote, name="pairwise_vote"),
    path(P + "<slug:survey>/vote/idea/", add_idea, name="pairwise_add_idea"),
    path(P + "<slug:survey>/results/", results, name="pairwise_results"),
    path(P + "<slug:survey>/results.csv", results_csv, name="pairwise_results_csv"),
]
