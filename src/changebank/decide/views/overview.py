"""The Decide stage of a programme: its panels, wiki surveys, conversations and choice
experiments, and links to the prioritised long list."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, path, reverse

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme


def programme_or_404(slug: str) -> Programme:
    return get_object_or_404(Programme, slug=slug)


def link(name: str, *args: object) -> str | None:
    """The URL of a page of the stage, or None when this installation has no such page."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@needs_permission("understand.view_code")
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    sections = [
        (
            "Panels and Delphi rounds",
            "Panels, such as people with lived experience, rate each change on 1–9 scales over "
            "rounds and place it in the RSA framework (amplify, end, restart, let go).",
            link("decide:panels", slug),
            programme.panels.count(),
        ),
        (
            "Pairwise voting",
            "A wiki survey: people pick the better of two ideas and can add their own.",
            link("decide:pairwise_list", slug),
            programme.pairwise_surveys.count(),
        ),
        (
            "Opinion groups",
            "People agree or disagree with short statements; their votes map groups of opinion "
            "and what every group agrees on.",
            link("decide:conversations", slug),
            programme.conversations.count(),
        ),
        (
            "Discrete choice experiments",
            "Which mix of features of a change people prefer, and how much each feature matters.",
            link("decide:experiments", slug),
            programme.choice_experiments.count(),
        ),
    ]
    return render(
        request,
        "decide/overview.html",
        {
            "programme": programme,
            "sections": sections,
            "long_list": link("decide:long_list", slug),
            "page_title": f"Decide: {programme.title}",
        },
    )


urlpatterns = [
    path("programmes/<slug:slug>/decide/", overview, name="overview"),
]
