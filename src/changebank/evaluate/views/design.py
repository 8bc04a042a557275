"""The co-design canvas of a change being adopted: five sections saved as numbered versions, what
changed between versions, and comments.

Staff reach it from the change's page; contributors with no account reach it by a private link:
a collaborator's link (:class:`~changebank.evaluate.models.Collaborator`), or a panel member's own
link when the change has a co-design panel (``?change=`` says which change when the panel
co-designs several). The page saves a version (``action=save``) or a comment (``action=comment``)
by POST to its own address; a save based on an older version than the newest is refused and the
text typed is kept, to compare and save again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core.permissions import needs_permission
from changebank.decide.models import PanelMember

from .. import codesign
from ..models import CANVAS_SECTIONS, Collaborator, DesignComment, DesignVersion, TrackedChange
from .common import (
    CHANGE_CHANGE,
    VIEW_CHANGE,
    actor_name,
    page_title,
    programme_or_404,
    tracked_or_404,
)

# --- who is looking -----------------------------------------------------------------------------


@dataclass
class Visitor:
    """Who is on the canvas: a member of staff, or someone invited by a private link."""

    tracked: TrackedChange
    name: str
    user: Any = None
    token: str = ""
    collaborator: Collaborator | None = None
    member: PanelMember | None = None

    @property
    def staff(self) -> bool:
        return not self.token

    @property
    def _query(self) -> str:
        return f"?change={self.tracked.pk}" if self.member is not None else ""

    def page_url(self) -> str:
        if self.staff:
            return reverse("evaluate:design", args=[self.tracked.programme.slug, self.tracked.pk])
        return reverse("evaluate:design_invited", args=[self.token]) + self._query

    def version_url(self, number: int) -> str:
        if self.staff:
            return reverse(
                "evaluate:design_version",
                args=[self.tracked.programme.slug, self.tracked.pk, number],
            )
        return reverse("evaluate:design_invited_version", args=[self.token, number]) + self._query


def invited_link(request: HttpRequest, token: str, tracked: TrackedChange | None = None) -> str:
    """A private link to the canvas; a panel member's says which change (``tracked``)."""
    url = reverse("evaluate:design_invited", args=[token])
    if tracked is not None:
        url += f"?change={tracked.pk}"
    return request.build_absolute_uri(url)


def _invited(request: HttpRequest, token: str) -> Visitor | list[TrackedChange]:
    """The visitor with this private link; or, for a member of a panel that co-designs several
    changes and has not said which, those changes to choose from. 404 for any other link."""
    collaborator = (
        Collaborator.objects.select_related("tracked__programme").filter(token=token).first()
    )
    if collaborator is not None:
        return Visitor(
            tracked=collaborator.tracked,
            name=collaborator.name,
            token=token,
            collaborator=collaborator,
        )
    member = PanelMember.objects.select_related("panel").filter(token=token).first()
    if member is None:
        raise Http404("No such link")
    candidates = TrackedChange.objects.filter(panel=member.panel).select_related("programme")
    wanted = request.GET.get("change", "")
    if wanted:
        if not wanted.isdigit():
            raise Http404("No such change")
        tracked = candidates.filter(pk=int(wanted)).first()
        if tracked is None:  # not a change this member's panel co-designs
            raise Http404("No such change")
    else:
        found = list(candidates)
        if not found:
            raise Http404("No change to co-design")
        adopted = [t for t in found if t.adopted]
        if len(found) > 1 and len(adopted) != 1:
            return found
        tracked = adopted[0] if adopted else found[0]
    return Visitor(tracked=tracked, name=member.name, token=token, member=member)


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- forms --------------------------------------------------------------------------------------


class CanvasForm(forms.Form):
    based_on = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    summary = forms.CharField(
        label="What changed in this version",
        max_length=300,
        required=False,
        help_text="A line for the history, for example ‘Added the risk for people without "
        "internet access’.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, label, hint in CANVAS_SECTIONS:
            self.fields[key] = forms.CharField(
                label=label,
                help_text=hint,
                widget=forms.Textarea,
                required=False,
                max_length=codesign.MAX_SECTION,
                strip=False,
            )
        # the sections first, then the summary
        self.order_fields([*codesign.SECTION_KEYS, "summary", "based_on"])


class CommentForm(forms.Form):
    section = forms.ChoiceField(
        label="About",
        required=False,
        choices=[("", "The whole canvas"), *[(k, label) for k, label, _ in CANVAS_SECTIONS]],
    )
    text = forms.CharField(
        label="Your comment",
        widget=forms.Textarea,
        max_length=5000,
        error_messages={"required": "Enter your comment."},
    )


class CollaboratorForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=200, error_messages={"required": "Enter the contributor's name."}
    )
    email = forms.EmailField(
        label="Email",
        required=False,
        help_text="Only to keep track of who is who: changebank does not send emails.",
        error_messages={"invalid": "Enter an email address like name@example.com."},
    )


# --- the canvas page ----------------------------------------------------------------------------


def _canvas_form(current: DesignVersion | None) -> CanvasForm:
    return CanvasForm(
        initial={"based_on": current.number if current else 0, **codesign.texts_of(current)}
    )


def _page(
    request: HttpRequest,
    visitor: Visitor,
    *,
    canvas_form: CanvasForm | None = None,
    comment_form: CommentForm | None = None,
    collaborator_form: CollaboratorForm | None = None,
    compare: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    tracked = visitor.tracked
    programme = tracked.programme
    current = codesign.current_version(tracked)
    can_edit = tracked.adopted and (visitor.staff is False or request.user.has_perm(CHANGE_CHANGE))
    can_manage = visitor.staff and request.user.has_perm(CHANGE_CHANGE)
    bound = [f for f in (canvas_form, comment_form, collaborator_form) if f is not None]
    comments = list(tracked.design_comments.select_related("version"))
    by_section = [
        {
            "key": key,
            "label": label,
            "comments": [c for c in comments if c.section == key],
        }
        for key, label in [("", "The whole canvas")]
        + [(k, label) for k, label, _ in CANVAS_SECTIONS]
    ]
    collaborators = []
    members = []
    if can_manage:
        collaborators = [
            {"collaborator": c, "link": invited_link(request, c.token)}
            for c in tracked.collaborators.all()
        ]
        if tracked.panel is not None:
            members = [
                {"member": m, "link": invited_link(request, m.token, tracked)}
                for m in tracked.panel.members.all()
            ]
    sections = [
        {"key": key, "label": label, "hint": hint, "text": getattr(current, key) if current else ""}
        for key, label, hint in CANVAS_SECTIONS
    ]
    response = render(
        request,
        "evaluate/design.html",
        {
            "programme": programme,
            "tracked": tracked,
            "visitor": visitor,
            "current": current,
            "sections": sections,
            "versions": list(tracked.designs.all()),
            "by_section": by_section,
            "n_comments": len(comments),
            "can_edit": can_edit,
            "can_manage": can_manage,
            "canvas_form": canvas_form or _canvas_form(current),
            "comment_form": comment_form or CommentForm(prefix="comment"),
            "collaborator_form": collaborator_form or CollaboratorForm(prefix="collaborator"),
            "compare": compare,
            "bound": bound,
            "collaborators": collaborators,
            "members": members,
            "page_title": page_title(f"Design: {tracked.title}", [f for f in bound if f.errors]),
        },
        status=status,
    )
    return response if visitor.staff else _private(response)


def _handle_post(request: HttpRequest, visitor: Visitor, author: Any) -> HttpResponse:
    tracked = visitor.tracked
    if not tracked.adopted:
        messages.error(request, "The design canvas opens when the change is being adopted.")
        return redirect(visitor.page_url())
    action = request.POST.get("action", "")
    if action == "comment":
        form = CommentForm(request.POST, prefix="comment")
        if not form.is_valid():
            return _page(request, visitor, comment_form=form)
        DesignComment.objects.create(
            tracked=tracked,
            version=codesign.current_version(tracked),
            section=form.cleaned_data["section"],
            text=codesign.clean_text(form.cleaned_data["text"]),
            author_name=visitor.name or "Someone",
            author=author,
        )
        messages.success(request, "Comment added.")
        return redirect(visitor.page_url() + "#comments")
    if action != "save":
        messages.error(request, "Choose to save the canvas or to add a comment.")
        return redirect(visitor.page_url())
    form = CanvasForm(request.POST)
    if not form.is_valid():
        return _page(request, visitor, canvas_form=form)
    data = form.cleaned_data
    try:
        version = codesign.save_version(
            tracked,
            based_on=data["based_on"],
            texts={key: data[key] for key in codesign.SECTION_KEYS},
            summary=data["summary"],
            author_name=visitor.name or "Someone",
            author=author,
        )
    except codesign.StaleVersion as stale:
        # Keep every word typed; the next save is based on the newer version.
        newer = stale.newer
        values = request.POST.copy()
        values["based_on"] = str(newer.number if newer else 0)
        again = CanvasForm(values)
        again.is_valid()
        again.add_error(None, str(stale))
        theirs = codesign.texts_of(newer)
        compare = [
            {
                "label": label,
                "diff": codesign.diff_html(theirs[key], codesign.clean_text(data[key])),
            }
            for key, label, _ in CANVAS_SECTIONS
            if theirs[key] != codesign.clean_text(data[key])
        ]
        return _page(request, visitor, canvas_form=again, compare=compare)
    except codesign.NothingChanged as error:
        form.add_error(None, str(error))
        return _page(request, visitor, canvas_form=form)
    messages.success(request, f"Version {version.number} saved.")
    return redirect(visitor.page_url())


@needs_permission(VIEW_CHANGE)
@require_http_methods(["GET", "POST"])
def design(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The canvas, for staff: viewing needs view_trackedchange, editing change_trackedchange."""
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    visitor = Visitor(tracked=tracked, name=actor_name(request), user=request.user)
    if request.method == "POST":
        if not request.user.has_perm(CHANGE_CHANGE):
            raise PermissionDenied
        return _handle_post(request, visitor, request.user)
    return _page(request, visitor)


@never_cache
@require_http_methods(["GET", "POST"])
def design_invited(request: HttpRequest, token: str) -> HttpResponse:
    """The canvas, for someone invited by a private link (no account)."""
    found = _invited(request, token)
    if isinstance(found, list):
        return _private(
            render(
                request,
                "evaluate/design.html",
                {
                    "choices": [
                        {"tracked": t, "href": invited_link(request, token, t)} for t in found
                    ],
                    "page_title": "Choose the change to co-design",
                },
            )
        )
    if request.method == "POST":
        return _handle_post(request, found, None)
    return _page(request, found)


def _version_page(request: HttpRequest, visitor: Visitor, number: int) -> HttpResponse:
    tracked = visitor.tracked
    version = get_object_or_404(DesignVersion, tracked=tracked, number=number)
    previous = tracked.designs.filter(number__lt=number).order_by("-number").first()
    later = tracked.designs.filter(number__gt=number).order_by("number").first()
    newest = codesign.current_version(tracked)
    response = render(
        request,
        "evaluate/design_version.html",
        {
            "programme": tracked.programme,
            "tracked": tracked,
            "visitor": visitor,
            "version": version,
            "previous": previous,
            "later": later,
            "is_current": newest is not None and newest.pk == version.pk,
            "rows": codesign.compare(version, previous),
            "comments": list(version.comments.all()),
            "section_labels": codesign.SECTION_LABELS,
            "page_title": f"Version {version.number}: design of {tracked.title}",
        },
    )
    return response if visitor.staff else _private(response)


@needs_permission(VIEW_CHANGE)
def design_version(request: HttpRequest, slug: str, pk: int, number: int) -> HttpResponse:
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    visitor = Visitor(tracked=tracked, name=actor_name(request), user=request.user)
    return _version_page(request, visitor, number)


@never_cache
def design_invited_version(request: HttpRequest, token: str, number: int) -> HttpResponse:
    found = _invited(request, token)
    if isinstance(found, list):
        raise Http404("Say which change")
    return _version_page(request, found, number)


# --- collaborators ------------------------------------------------------------------------------


@needs_permission(CHANGE_CHANGE)
@require_http_methods(["GET", "POST"])
def collaborator_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Invite a contributor: they get a private link to the canvas."""
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    back = reverse("evaluate:design", args=[slug, pk]) + "#collaborators"
    if request.method == "GET":
        return redirect(back)
    form = CollaboratorForm(request.POST, prefix="collaborator")
    if not form.is_valid():
        visitor = Visitor(tracked=tracked, name=actor_name(request), user=request.user)
        return _page(request, visitor, collaborator_form=form)
    person = Collaborator.objects.create(
        tracked=tracked, name=form.cleaned_data["name"].strip(), email=form.cleaned_data["email"]
    )
    messages.success(
        request, f"{person.name} invited. Send them their private link (in the table below)."
    )
    return redirect(back)


@needs_permission(CHANGE_CHANGE)
@require_POST
def collaborator_remove(
    request: HttpRequest, slug: str, pk: int, collaborator: int
) -> HttpResponse:
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    person = get_object_or_404(Collaborator, pk=collaborator, tracked=tracked)
    name = person.name
    person.delete()
    messages.success(request, f"{name} removed: their link no longer works.")
    return redirect(reverse("evaluate:design", args=[slug, pk]) + "#collaborators")


prefix = "programmes/<slug:slug>/evaluate/changes/<int:pk>/design/"
urlpatterns = [
    path(prefix, design, name="design"),
    path(f"{prefix}versions/<int:number>/", design_version, name="design_version"),
    path(f"{prefix}collaborators/", collaborator_add, name="collaborator_add"),
    path(
        f"{prefix}collaborators/<int:collaborator>/remove/",
        collaborator_remove,
        name="collaborator_remove",
    ),
    path("design/<str:token>/", design_invited, name="design_invited"),
    path(
        "design/<str:token>/versions/<int:number>/",
        design_invited_version,
        name="design_invited_version",
    ),
]
