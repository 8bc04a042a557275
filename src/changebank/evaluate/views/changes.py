"""The lifecycle of tracked changes: the Evaluate page of a programme, taking changes into the
lifecycle, and one change with its moves, details, adoptions, sources, pulse feedback and
evaluations.

Each action that changes data has its own address (POST only); a valid action redirects with a
message, an invalid one shows the change's page again with an error summary and the error beside
the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core.permissions import needs_permission
from changebank.decide.models import RSA, Panel
from changebank.listen.models import Programme, Role

from .. import lifecycle
from ..models import Adoption, Evaluation, Helped, Stage, TrackedChange
from .common import (
    ADD_CHANGE,
    ADD_EVALUATION,
    CHANGE_CHANGE,
    VIEW_CHANGE,
    VIEW_EVALUATION,
    page_title,
    programme_or_404,
    tracked_or_404,
)

PAGE_SIZE = 25
#: Member submissions of the distinct change shown on a tracked change's page.
SOURCES_SHOWN = 20
PULSE_TEXTS_SHOWN = 10


def link(name: str, *args: object) -> str | None:
    """The URL of a page, or None when this installation has no such page."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def repository_link(slug: str) -> str | None:
    return link("evaluate:repository") or link("evaluate:repository", slug)


# --- forms --------------------------------------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"

    def format_value(self, value: Any) -> str | None:
        return value.isoformat() if isinstance(value, dt.date) else value


class _StageField(forms.ChoiceField):
    """Offers only the allowed moves; any value gets through to be checked against the lifecycle,
    so a refused move has a message that says why."""

    def valid_value(self, value: Any) -> bool:
        return True


class MoveForm(forms.Form):
    to_stage = _StageField(
        label="Move the change to",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the stage to move the change to."},
    )
    note = forms.CharField(
        label="Why",
        widget=forms.Textarea,
        required=False,
        max_length=5000,
        help_text="What was decided, and by whom. It is kept in the history.",
    )

    def __init__(self, *args: Any, tracked: TrackedChange, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracked = tracked
        self.fields["to_stage"].choices = [
            (s, lifecycle.stage_label(s)) for s in tracked.allowed_moves()
        ]

    def clean_to_stage(self) -> str:
        value = self.cleaned_data["to_stage"]
        try:
            lifecycle.check_move(self.tracked, value)
        except lifecycle.MoveRefused as error:
            raise forms.ValidationError(str(error)) from error
        return value


class TrackByHandForm(forms.Form):
    title = forms.CharField(
        label="Title of the change",
        max_length=200,
        error_messages={"required": "Enter a title for the change."},
        help_text="A short name, for example ‘Video consultations for follow-up appointments’.",
    )
    summary = forms.CharField(
        label="Summary", widget=forms.Textarea, required=False, max_length=5000
    )


class TrackedChangeForm(forms.ModelForm):
    class Meta:
        model = TrackedChange
        fields = ["title", "summary", "rsa", "owner", "owner_name", "panel", "go_live"]
        widgets = {"go_live": DateInput, "summary": forms.Textarea}
        labels = {
            "owner": "Owner",
            "owner_name": "Owner without an account",
            "panel": "Co-design panel",
            "go_live": "Go-live date",
        }
        help_texts = {
            "owner": "An evaluation lead or analyst responsible for the change.",
            "go_live": "When the change went live, for example 2026-03-31: SPC limits restart "
            "here.",
            "rsa": "What to do with the change, in the RSA's framework.",
        }
        error_messages = {"title": {"required": "Enter a title for the change."}}

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rsa"].choices = [("", "Not decided"), *RSA.choices]
        owner = self.fields["owner"]
        owner.queryset = lifecycle.possible_owners(self.instance.owner_id)
        owner.empty_label = "No one with an account"
        owner.label_from_instance = lambda u: u.get_full_name() or u.get_username()
        panel = self.fields["panel"]
        panel.queryset = Panel.objects.filter(programme=programme).order_by("name")
        panel.empty_label = "No panel"


class AdoptionForm(forms.ModelForm):
    class Meta:
        model = Adoption
        fields = ["organisation", "status", "started", "note"]
        widgets = {"started": DateInput, "note": forms.Textarea}
        labels = {"started": "Started on"}
        help_texts = {
            "organisation": "For example ‘Leeds Teaching Hospitals NHS Trust’.",
            "started": "For example 2026-04-01.",
        }
        error_messages = {
            "organisation": {"required": "Enter the name of the organisation."},
        }

    def __init__(self, *args: Any, tracked: TrackedChange, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracked = tracked
        self.fields["status"].choices = Adoption.Status.choices

    def clean_organisation(self) -> str:
        name = self.cleaned_data["organisation"].strip()
        if self.tracked.adoptions.filter(organisation__iexact=name).exists():
            raise forms.ValidationError(f"{name} is already adopting this change.")
        return name


class PulseSettingsForm(forms.Form):
    question = forms.CharField(
        label="Question asked",
        max_length=200,
        error_messages={"required": "Enter the question to ask."},
        help_text="For example ‘Did this change help you?’. People answer yes, partly, no or "
        "not sure, and can say more.",
    )


# --- the Evaluate page --------------------------------------------------------------------------


@needs_permission(VIEW_CHANGE)
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    """The programme's tracked changes by stage (``?stage=`` shows one), its evaluations, and the
    way to the public repository."""
    programme = programme_or_404(slug)
    chosen = request.GET.get("stage", "")
    if chosen not in Stage.values:
        chosen = ""
    changes = (
        programme.tracked_changes.select_related("owner")
        .prefetch_related("adoptions")
        .annotate(n_evaluations=Count("evaluations", distinct=True))
        .order_by("title", "id")
    )
    counts = {
        row["stage"]: row["n"]
        for row in programme.tracked_changes.values("stage").annotate(n=Count("id"))
    }
    groups = []
    for stage in Stage:
        if chosen and stage != chosen:
            continue
        rows = [c for c in changes if c.stage == stage]
        if rows or chosen:
            groups.append({"stage": stage, "rows": rows})
    evaluations = [
        {"evaluation": e, "href": link("evaluate:evaluation_detail", slug, e.pk)}
        for e in Evaluation.objects.filter(programme=programme).annotate(
            n_changes=Count("changes", distinct=True)
        )
    ]
    can_add_evaluation = request.user.has_perm(ADD_EVALUATION)
    return render(
        request,
        "evaluate/overview.html",
        {
            "programme": programme,
            "groups": groups,
            "stages": [(s, s.label, counts.get(s, 0)) for s in Stage],
            "chosen": chosen,
            "total": sum(counts.values()),
            "evaluations": evaluations,
            "can_view_evaluations": request.user.has_perm(VIEW_EVALUATION),
            "new_evaluation": link("evaluate:evaluation_new", slug) if can_add_evaluation else None,
            "repository": repository_link(slug),
            "can_add": request.user.has_perm(ADD_CHANGE),
            "owner_text": owner_text,
            "page_title": f"Evaluate: {programme.title}",
        },
    )


def owner_text(tracked: TrackedChange) -> str:
    names = []
    if tracked.owner_id:
        names.append(tracked.owner.get_full_name() or tracked.owner.get_username())
    if tracked.owner_name:
        names.append(tracked.owner_name)
    return ", ".join(names) or "–"


# --- taking changes into the lifecycle ----------------------------------------------------------


@needs_permission(ADD_CHANGE)
@require_http_methods(["GET", "POST"])
def track(request: HttpRequest, slug: str) -> HttpResponse:
    """Choose a change from the long list (searchable, a page at a time), or describe one by
    hand."""
    programme = programme_or_404(slug)
    q = request.GET.get("q", "").strip()[:200]
    hand_form = TrackByHandForm(prefix="hand")
    choose_error = ""
    if request.method == "POST":
        how = request.POST.get("how", "")
        if how == "list":
            try:
                pk = int(request.POST.get("change", ""))
            except ValueError:
                choose_error = "Choose a change from the list."
            else:
                change = lifecycle.untracked_changes(programme).filter(pk=pk).first()
                if change is None:
                    choose_error = (
                        "That change is already tracked or is not in this programme's long "
                        "list: choose another."
                    )
                else:
                    tracked = lifecycle.track(programme, change=change, user=request.user)
                    messages.success(request, f"‘{tracked.title}’ is now tracked, as proposed.")
                    return redirect("evaluate:change_detail", programme.slug, tracked.pk)
        else:
            hand_form = TrackByHandForm(request.POST, prefix="hand")
            if hand_form.is_valid():
                tracked = lifecycle.track(
                    programme,
                    title=hand_form.cleaned_data["title"],
                    summary=hand_form.cleaned_data["summary"],
                    user=request.user,
                )
                messages.success(request, f"‘{tracked.title}’ is now tracked, as proposed.")
                return redirect("evaluate:change_detail", programme.slug, tracked.pk)
    available = lifecycle.untracked_changes(programme)
    if q:
        available = available.filter(Q(text__icontains=q) | Q(name__icontains=q))
    page = Paginator(available, PAGE_SIZE).get_page(request.GET.get("page"))
    errors = bool(choose_error or hand_form.errors)
    return render(
        request,
        "evaluate/track.html",
        {
            "programme": programme,
            "page": page,
            "q": q,
            "hand_form": hand_form,
            "choose_error": choose_error,
            "page_title": page_title(f"Track a change: {programme.title}", errors),
        },
        status=200,
    )


# --- one tracked change -------------------------------------------------------------------------


def pulse_summary(tracked: TrackedChange) -> dict[str, Any]:
    counts = dict(tracked.pulses.values_list("helped").annotate(n=Count("id")))
    total = sum(counts.values())
    return {
        "total": total,
        "rows": [(key, label, counts.get(key, 0)) for key, label in Helped.choices],
        "texts": list(tracked.pulses.exclude(text="")[:PULSE_TEXTS_SHOWN]),
    }


def _detail_page(
    request: HttpRequest,
    programme: Programme,
    tracked: TrackedChange,
    *,
    move_form: MoveForm | None = None,
    edit_form: TrackedChangeForm | None = None,
    adoption_form: AdoptionForm | None = None,
    pulse_form: PulseSettingsForm | None = None,
) -> HttpResponse:
    slug = programme.slug
    can_change = request.user.has_perm(CHANGE_CHANGE)
    bound = [f for f in (move_form, edit_form, adoption_form, pulse_form) if f is not None]
    move_form = move_form or MoveForm(tracked=tracked, prefix="move")
    edit_form = edit_form or TrackedChangeForm(instance=tracked, programme=programme, prefix="edit")
    adoption_form = adoption_form or AdoptionForm(tracked=tracked, prefix="adoption")
    pulse_form = pulse_form or PulseSettingsForm(
        initial={"question": tracked.pulse_question}, prefix="pulse"
    )
    change = tracked.change
    sources: list[dict[str, Any]] = []
    n_sources = 0
    change_href = None
    can_read_submissions = request.user.has_perm("listen.view_submission")
    if change is not None:
        members = change.members.order_by("-received_at", "-id")
        n_sources = members.count()
        sources = [
            {"submission": s, "href": link("listen:submission_detail", s.pk)}
            for s in members[:SOURCES_SHOWN]
        ]
        change_href = link("understand:distinct_change_detail", slug, change.pk)
    themes = [
        {"theme": t, "href": link("understand:theme_detail", slug, t.pk)}
        for t in tracked.themes.all()
    ]
    evaluations = [
        {"evaluation": e, "href": link("evaluate:evaluation_detail", slug, e.pk)}
        for e in tracked.evaluations.all()
    ]
    new_evaluation = link("evaluate:evaluation_new", slug)
    if new_evaluation and request.user.has_perm(ADD_EVALUATION):
        new_evaluation += f"?change={tracked.pk}"
    else:
        new_evaluation = None
    return render(
        request,
        "evaluate/change_detail.html",
        {
            "programme": programme,
            "tracked": tracked,
            "stage_label": lifecycle.stage_label,
            "moves": list(tracked.moves.select_related("moved_by")),
            "move_form": move_form,
            "edit_form": edit_form,
            "adoption_form": adoption_form,
            "pulse_form": pulse_form,
            "bound": bound,
            "owner_text": owner_text(tracked),
            "adoptions": list(tracked.adoptions.all()),
            "change": change,
            "change_href": change_href,
            "sources": sources,
            "n_sources": n_sources,
            "can_read_submissions": can_read_submissions,
            "themes": themes,
            "pulse": pulse_summary(tracked),
            "pulse_link": request.build_absolute_uri(
                reverse("evaluate:pulse", args=[tracked.pulse_token])
            ),
            "evaluations": evaluations,
            "new_evaluation": new_evaluation,
            "can_change": can_change,
            "role_labels": dict(Role.choices),
            "rsa_label": dict(RSA.choices).get(tracked.rsa, "Not decided"),
            "page_title": page_title(f"{tracked.title}: {programme.title}", bound),
        },
    )


@needs_permission(VIEW_CHANGE)
def change_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    return _detail_page(request, programme, tracked_or_404(programme, pk))


@needs_permission(CHANGE_CHANGE)
@require_POST
def change_move(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Move the change to another stage, as the lifecycle allows, with a note kept in its
    history."""
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    form = MoveForm(request.POST, tracked=tracked, prefix="move")
    if not form.is_valid():
        return _detail_page(request, programme, tracked, move_form=form)
    try:
        record = lifecycle.move(
            tracked,
            form.cleaned_data["to_stage"],
            user=request.user,
            note=form.cleaned_data["note"],
        )
    except lifecycle.MoveRefused as error:
        form.add_error("to_stage", str(error))
        tracked.refresh_from_db()
        return _detail_page(request, programme, tracked, move_form=form)
    messages.success(
        request,
        f"‘{tracked.title}’ moved from {lifecycle.stage_label(record.from_stage).lower()} to "
        f"{lifecycle.stage_label(record.to_stage).lower()}.",
    )
    return redirect("evaluate:change_detail", programme.slug, tracked.pk)


@needs_permission(CHANGE_CHANGE)
@require_http_methods(["GET", "POST"])
def change_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    if request.method == "GET":
        return redirect(reverse("evaluate:change_detail", args=[slug, pk]) + "#details")
    form = TrackedChangeForm(request.POST, instance=tracked, programme=programme, prefix="edit")
    if not form.is_valid():
        tracked.refresh_from_db()
        return _detail_page(request, programme, tracked, edit_form=form)
    form.save()
    messages.success(request, "Details saved.")
    return redirect(reverse("evaluate:change_detail", args=[slug, pk]) + "#details")


@needs_permission(CHANGE_CHANGE)
@require_http_methods(["GET", "POST"])
def adoption_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    if request.method == "GET":
        return redirect(reverse("evaluate:change_detail", args=[slug, pk]) + "#adoptions")
    form = AdoptionForm(request.POST, tracked=tracked, prefix="adoption")
    if not form.is_valid():
        return _detail_page(request, programme, tracked, adoption_form=form)
    adoption = form.save(commit=False)
    adoption.tracked = tracked
    adoption.save()
    messages.success(request, f"{adoption.organisation} added to the organisations adopting it.")
    return redirect(reverse("evaluate:change_detail", args=[slug, pk]) + "#adoptions")


@needs_permission(CHANGE_CHANGE)
@require_POST
def adoption_remove(request: HttpRequest, slug: str, pk: int, adoption: int) -> HttpResponse:
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    item = get_object_or_404(Adoption, pk=adoption, tracked=tracked)
    name = item.organisation
    item.delete()
    messages.success(request, f"{name} removed from the organisations adopting it.")
    return redirect(reverse("evaluate:change_detail", args=[slug, pk]) + "#adoptions")


@needs_permission(CHANGE_CHANGE)
@require_POST
def pulse_toggle(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Open or close pulse feedback (``action`` open or close), or change its question
    (``action`` question)."""
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    action = request.POST.get("action", "")
    back = reverse("evaluate:change_detail", args=[slug, pk]) + "#pulse"
    if action == "question":
        form = PulseSettingsForm(request.POST, prefix="pulse")
        if not form.is_valid():
            return _detail_page(request, programme, tracked, pulse_form=form)
        tracked.pulse_question = form.cleaned_data["question"].strip()
        tracked.save(update_fields=["pulse_question", "updated_at"])
        messages.success(request, "Pulse question saved.")
    elif action == "open":
        if not tracked.adopted:
            messages.error(
                request,
                "Pulse feedback opens only for a change being adopted: move it to adopting first.",
            )
        else:
            tracked.pulse_open = True
            tracked.save(update_fields=["pulse_open", "updated_at"])
            messages.success(request, "Pulse feedback is open: share the link.")
    elif action == "close":
        tracked.pulse_open = False
        tracked.save(update_fields=["pulse_open", "updated_at"])
        messages.success(request, "Pulse feedback is closed: the link shows that it is closed.")
    else:
        messages.error(request, "Choose to open or close pulse feedback.")
    return redirect(back)


prefix = "programmes/<slug:slug>/evaluate/"
urlpatterns = [
    path(prefix, overview, name="overview"),
    path(f"{prefix}changes/new/", track, name="track"),
    path(f"{prefix}changes/<int:pk>/", change_detail, name="change_detail"),
    path(f"{prefix}changes/<int:pk>/move/", change_move, name="change_move"),
    path(f"{prefix}changes/<int:pk>/edit/", change_edit, name="change_edit"),
    path(f"{prefix}changes/<int:pk>/adoptions/", adoption_add, name="adoption_add"),
    path(
        f"{prefix}changes/<int:pk>/adoptions/<int:adoption>/remove/",
        adoption_remove,
        name="adoption_remove",
    ),
    path(f"{prefix}changes/<int:pk>/pulse/", pulse_toggle, name="pulse_toggle"),
]
