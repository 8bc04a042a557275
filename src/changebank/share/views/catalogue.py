"""The public catalogue and "you said, we did".

* ``catalogue/``: published themes and distinct changes of public programmes, with search and
  filters (programme, group, stance, status, RSA category), paginated; no JavaScript needed.
* ``catalogue/themes/<pk>/`` and ``catalogue/changes/<pk>/``: permalinks (404 unless published),
  and "add your experience" on a theme: a moderated submission linked to it.
* ``you-said-we-did/``: a contributor enters their reference number and sees what became of it;
  lookups are limited per address so references cannot be guessed.
* ``programmes/<slug>/share/catalogue/``: analysts publish and withdraw themes.

The queries are in :mod:`changebank.share.catalogue`; which texts may be shown is decided by
:mod:`changebank.share.privacy`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core import ratelimit
from changebank.core.forms import HoneypotForm
from changebank.core.permissions import needs_permission
from changebank.decide.models import RSA
from changebank.evaluate.models import Stage
from changebank.listen.models import (
    Programme,
    Question,
    Respondent,
    Role,
    Submission,
    new_reference,
)
from changebank.listen.privacy_ingest import text_fields
from changebank.understand.models import Theme

from .. import catalogue
from ..models import Experience, PublishedTheme

PAGE_SIZE = 20
#: Reference lookups per address per hour on "you said, we did".
YOU_SAID_LIMIT = int(getattr(settings, "CHANGEBANK_YOU_SAID_RATE_LIMIT", 30))
YOU_SAID_SCOPE = "you-said"
EXPERIENCE_MAX = 5000


# --- the catalogue --------------------------------------------------------------------------------


class CatalogueForm(forms.Form):
    q = forms.CharField(label="Search the catalogue", required=False, max_length=200)
    programme = forms.ChoiceField(label="Programme", required=False)
    group = forms.ChoiceField(
        label="Raised by", required=False, choices=[("", "Anyone"), *Role.choices]
    )
    stance = forms.ChoiceField(
        label="Stance",
        required=False,
        choices=[("", "Any stance"), *catalogue.STANCES.items()],
    )
    stage = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), (catalogue.UNDECIDED, catalogue.NOT_DECIDED), *Stage.choices],
    )
    rsa = forms.ChoiceField(
        label="RSA category", required=False, choices=[("", "Any category"), *RSA.choices]
    )
    show = forms.ChoiceField(
        required=False,
        choices=[("themes", "Themes"), ("changes", "Changes")],
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        programmes = Programme.objects.filter(
            visibility=Programme.Visibility.PUBLIC, themes__publication__isnull=False
        ).distinct()
        self.fields["programme"].choices = [("", "All programmes")] + [
            (p.slug, p.title) for p in programmes.order_by("title")
        ]

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        programme = None
        if data.get("programme"):
            programme = Programme.objects.filter(slug=data["programme"]).first()
        return {
            "programme": programme,
            "group": data.get("group") or "",
            "stance": data.get("stance") or "",
            "stage": data.get("stage") or "",
            "rsa": data.get("rsa") or "",
        }


def catalogue_page(request: HttpRequest) -> HttpResponse:
    form = CatalogueForm(request.GET or None)
    q = (form.cleaned_data.get("q") or "") if form.is_valid() else ""
    filters = form.filters()
    show = (form.cleaned_data.get("show") if form.is_valid() else "") or "themes"
    themes = catalogue.search_themes(q, **filters)
    changes = catalogue.search_changes(q, **filters)
    shown = themes if show == "themes" else changes
    page = Paginator(shown, PAGE_SIZE).get_page(request.GET.get("page"))
    if show == "themes":
        cards: list = catalogue.theme_cards(page.object_list, quotes=1, changes=3)
        counts = {"themes": page.paginator.count, "changes": changes.count()}
    else:
        cards = catalogue.change_cards(page.object_list)
        counts = {"themes": themes.count(), "changes": page.paginator.count}
    active = bool(q) or any(filters.values())
    return render(
        request,
        "share/catalogue.html",
        {
            "form": form,
            "page": page,
            "cards": cards,
            "show": show,
            "counts": counts,
            "active": active,
            "q": q,
            "terms": catalogue.search_terms(q),
            "page_title": ("Search results: " if active else "") + "Catalogue of changes",
        },
    )


def _published_theme(pk: int) -> Theme:
    return get_object_or_404(
        catalogue.published_themes().select_related("programme", "publication"), pk=pk
    )


class ExperienceForm(HoneypotForm):
    """A published theme's "add your experience" form, with the honeypot."""

    text = forms.CharField(
        label="Your experience",
        max_length=EXPERIENCE_MAX,
        widget=forms.Textarea,
        help_text=f"You can enter up to {EXPERIENCE_MAX:,} characters. Do not include names or "
        "details that could identify you or anyone else.",
        error_messages={
            "required": "Enter your experience",
            "max_length": f"Your experience must be {EXPERIENCE_MAX:,} characters or fewer",
        },
    )
    role = forms.ChoiceField(
        label="Are you answering as",
        required=False,
        choices=[*Role.choices, ("", "Prefer not to say")],
        widget=forms.RadioSelect,
    )
    consent = forms.BooleanField(label="I agree to how my experience will be used", required=False)

    def __init__(self, programme: Programme, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.programme = programme
        if programme.consent_text:
            self.fields["consent"].help_text = programme.consent_text
        else:
            del self.fields["consent"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.programme.consent_text and not data.get("consent"):
            self.add_error("consent", "Confirm that you agree to how your experience will be used")
        return data


def theme_page(request: HttpRequest, pk: int) -> HttpResponse:
    theme = _published_theme(pk)
    card = catalogue.theme_card(theme, quotes=5, changes=50)
    form = ExperienceForm(theme.programme) if card.invite_experiences else None
    return render(
        request,
        "share/catalogue_theme.html",
        {
            "theme": theme,
            "card": card,
            "form": form,
            "programme": theme.programme,
            "page_title": theme.label,
        },
    )


def change_page(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_object_or_404(
        catalogue.published_changes().select_related("programme", "code", "code__theme"), pk=pk
    )
    card = catalogue.change_card(change, quotes=5)
    return render(
        request,
        "share/catalogue_change.html",
        {"card": card, "programme": change.programme, "page_title": card.title},
    )


# --- add your experience --------------------------------------------------------------------------


def _experience_scope(programme: Programme) -> str:
    return f"experience-rate:{programme.pk}"


@require_http_methods(["GET", "POST"])
def add_experience(request: HttpRequest, pk: int) -> HttpResponse:
    theme = _published_theme(pk)
    if not theme.publication.invite_experiences:
        raise Http404("This theme does not take experiences")
    programme = theme.programme
    limit = settings.CHANGEBANK_FORM_RATE_LIMIT
    if request.method == "POST":
        if ratelimit.limit_reached(request, _experience_scope(programme), limit):
            return render(
                request,
                "share/experience_rate_limited.html",
                {
                    "theme": theme,
                    "limit": limit,
                    "page_title": "Too many experiences from this connection",
                },
                status=429,
            )
        form = ExperienceForm(programme, request.POST)
        if form.is_valid():
            reference = _save_experience(theme, form)
            ratelimit.count(request, _experience_scope(programme))
            request.session[f"experience-{theme.pk}"] = reference
            return redirect("share:experience_done", pk=theme.pk)
    else:
        form = ExperienceForm(programme)
    return render(
        request,
        "share/experience.html",
        {
            "theme": theme,
            "programme": programme,
            "form": form,
            "page_title": ("Error: " if form.errors else "")
            + f"Add your experience: {theme.label}",
        },
    )


def _save_experience(theme: Theme, form: ExperienceForm) -> str:
    """A moderated submission of the theme's programme, linked to the theme; returns its
    reference number."""
    data = form.cleaned_data
    programme = theme.programme
    reference = new_reference()
    while Submission.objects.filter(reference=reference).exists():
        reference = new_reference()
    with transaction.atomic():
        question, _ = Question.objects.get_or_create(
            programme=programme,
            key="experience",
            defaults={
                "prompt": "Add your experience",
                "on_form": False,
                "position": 1000,
                "required": False,
                "max_length": EXPERIENCE_MAX,
            },
        )
        respondent = Respondent.objects.create(programme=programme, role=data.get("role") or "")
        submission = Submission.objects.create(
            programme=programme,
            question=question,
            respondent=respondent,
            **text_fields(programme, data["text"]),
            answers={"Added to the published theme": theme.label},
            source=Submission.Source.EXPERIENCE,
            received_at=timezone.now(),
            moderation_status=Submission.Moderation.PENDING,
            consent_given=bool(data.get("consent")) if programme.consent_text else None,
            consent_wording=programme.consent_text,
            reference=reference,
            dedupe_key=hashlib.sha256(f"experience:{reference}".encode()).hexdigest(),
        )
        Experience.objects.create(submission=submission, theme=theme)
    return reference


def experience_done(request: HttpRequest, pk: int) -> HttpResponse:
    theme = _published_theme(pk)
    reference = request.session.get(f"experience-{theme.pk}")
    if not reference:
        return redirect("share:catalogue_theme", pk=theme.pk)
    return render(
        request,
        "share/experience_done.html",
        {"theme": theme, "reference": reference, "page_title": "Thank you"},
    )


# --- you said, we did -----------------------------------------------------------------------------


class ReferenceForm(forms.Form):
    reference = forms.CharField(
        label="Your reference number",
        max_length=40,
        help_text="You were given it when you sent your answers. It looks like CB-7K3M-Q9XD.",
        error_messages={"required": "Enter your reference number"},
    )

    def clean_reference(self) -> str:
        value = catalogue.normalise_reference(self.cleaned_data["reference"])
        if value is None:
            raise forms.ValidationError(
                "Enter a reference number in the format CB-7K3M-Q9XD: CB, then 8 letters and "
                "numbers"
            )
        return value


def you_said_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"page_title": "You said, we did"}
    if "reference" not in request.GET:
        context["form"] = ReferenceForm()
        return render(request, "share/you_said.html", context)
    form = ReferenceForm(request.GET)
    context["form"] = form
    if not form.is_valid():
        context["page_title"] = "Error: You said, we did"
        return render(request, "share/you_said.html", context)
    if ratelimit.limit_reached(request, YOU_SAID_SCOPE, YOU_SAID_LIMIT):
        return render(
            request,
            "share/you_said_rate_limited.html",
            {"limit": YOU_SAID_LIMIT, "page_title": "Too many look-ups from this connection"},
            status=429,
        )
    ratelimit.count(request, YOU_SAID_SCOPE)
    reference = form.cleaned_data["reference"]
    result = catalogue.you_said(reference)
    if result is None:
        return render(
            request,
            "share/you_said_not_found.html",
            {**context, "reference": reference, "page_title": "Reference not found"},
        )
    return render(
        request,
        "share/you_said_result.html",
        {**context, "result": result, "page_title": f"You said, we did: {reference}"},
    )


# --- analysts: publishing -------------------------------------------------------------------------


@needs_permission("understand.change_theme")
def publishing(request: HttpRequest, slug: str) -> HttpResponse:
    programme = get_object_or_404(Programme, slug=slug)
    themes = list(programme.themes.select_related("publication").order_by("position", "pk"))
    from changebank.understand.views.board import theme_sizes

    sizes = theme_sizes(programme)
    waiting = dict(
        Experience.objects.filter(
            theme__programme=programme,
            submission__moderation_status=Submission.Moderation.PENDING,
        )
        .values_list("theme_id")
        .annotate(n=Count("pk"))
    )
    added = dict(
        Experience.objects.filter(theme__programme=programme)
        .values_list("theme_id")
        .annotate(n=Count("pk"))
    )
    rows = [
        {
            "theme": t,
            "published": getattr(t, "publication", None),
            "size": sizes.get(t.pk, 0),
            "waiting": waiting.get(t.pk, 0),
            "added": added.get(t.pk, 0),
        }
        for t in themes
    ]
    experiences_url = (
        reverse("listen:submission_list")
        + f"?programme={programme.slug}&source={Submission.Source.EXPERIENCE}"
    )
    return render(
        request,
        "share/publish.html",
        {
            "programme": programme,
            "rows": rows,
            "visible": programme.visibility in catalogue.VISIBLE,
            "experiences_url": experiences_url,
            "can_view_submissions": request.user.has_perm("listen.view_submission"),
            "page_title": f"Publish themes: {programme.title}",
        },
    )


def _theme_of(slug: str, pk: int) -> Theme:
    return get_object_or_404(Theme.objects.select_related("programme"), pk=pk, programme__slug=slug)


@needs_permission("understand.change_theme")
@require_POST
def publish_theme(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    theme = _theme_of(slug, pk)
    invite = request.POST.get("invite_experiences") == "on"
    publication = PublishedTheme.objects.filter(theme=theme).first()
    if publication is None:
        PublishedTheme.objects.create(
            theme=theme, published_by=request.user, invite_experiences=invite
        )
        messages.success(request, f"‘{theme.label}’ is published in the catalogue.")
    else:
        publication.invite_experiences = invite
        publication.save(update_fields=["invite_experiences"])
        messages.success(
            request,
            f"‘{theme.label}’ "
            + ("now invites experiences." if invite else "no longer invites experiences."),
        )
    return redirect(reverse("share:publishing", args=[slug]) + f"#theme-{theme.pk}")


@needs_permission("understand.change_theme")
@require_POST
def unpublish_theme(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    theme = _theme_of(slug, pk)
    deleted = PublishedTheme.objects.filter(theme=theme).first()
    if deleted is not None:
        deleted.delete()
        messages.success(request, f"‘{theme.label}’ is withdrawn from the catalogue.")
    return redirect(reverse("share:publishing", args=[slug]) + f"#theme-{theme.pk}")


urlpatterns = [
    path("catalogue/", catalogue_page, name="catalogue"),
    path("catalogue/themes/<int:pk>/", theme_page, name="catalogue_theme"),
    path("catalogue/themes/<int:pk>/experience/", add_experience, name="add_experience"),
    path("catalogue/themes/<int:pk>/experience/done/", experience_done, name="experience_done"),
    path("catalogue/changes/<int:pk>/", change_page, name="catalogue_change"),
    path("you-said-we-did/", you_said_page, name="you_said"),
    path("programmes/<slug:slug>/share/catalogue/", publishing, name="publishing"),
    path(
        "programmes/<slug:slug>/share/catalogue/themes/<int:pk>/publish/",
        publish_theme,
        name="publish_theme",
    ),
    path(
        "programmes/<slug:slug>/share/catalogue/themes/<int:pk>/withdraw/",
        unpublish_theme,
        name="unpublish_theme",
    ),
]
