"""The long list of distinct changes, a change's page, and what analysts do to changes there:
name and reword it, merge another into it, split members out, link and unlink submissions, link
related changes. Every action is audited and undoable (see :mod:`changebank.understand.changes`).

Each action has its own address (POST only; a GET there goes to the change's page). A valid action
redirects to the change's page with a message; an invalid one shows the page again with an error
summary and the error beside the field, keeping what was typed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Coalesce, Lower, NullIf
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse

from changebank.core.models import AuditEvent
from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme, Role, Submission

from .. import changes as ops
from ..board import codes_in_theme
from ..models import Code, DistinctChange, Origin, Theme
from ..undo import undoable
from .common import PAGE_SIZE, history, programme_or_404

CHANGE_PERMISSION = "understand.change_distinctchange"
Members = DistinctChange.members.through
ROLES = dict(Role.choices)
#: Respondent fields shown under "who raised it", with their headings.
GROUPS = (
    ("Role", "role"),
    ("Organisation", "organisation"),
    ("Sector", "sector"),
    ("Region", "region"),
)
OTHER_CHOICES = 50  # changes offered in the merge and link selects
FOUND_SUBMISSIONS = 20


# --- the list ---------------------------------------------------------------------------------


class ChangeFilterForm(forms.Form):
    """Filters of the long list."""

    q = forms.CharField(required=False, max_length=200)
    code = forms.ModelChoiceField(required=False, queryset=Code.objects.none())
    theme = forms.ModelChoiceField(required=False, queryset=Theme.objects.none())
    origin = forms.ChoiceField(
        required=False,
        choices=[
            ("", "The analysis or an analyst"),
            (Origin.AI, "The analysis, unchanged"),
            (Origin.HUMAN, "Shaped by an analyst"),
        ],
    )
    repeated = forms.BooleanField(required=False)
    role = forms.ChoiceField(required=False, choices=[("", "Any role"), *Role.choices])
    organisation = forms.CharField(required=False, max_length=200)
    sort = forms.ChoiceField(
        required=False,
        choices=[("count", "Most often raised first"), ("name", "Name, A to Z")],
    )

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].queryset = programme.codes.order_by("label")
        self.fields["theme"].queryset = programme.themes.order_by("label")


def search_changes(qs: QuerySet[DistinctChange], words: str) -> QuerySet[DistinctChange]:
    """Changes whose name or wording contain every word; a number ("12", "#12") finds that
    change."""
    try:
        number = ops.parse_number(words)
    except ValidationError:
        number = None
    if number is not None:
        return qs.filter(pk=number)
    for word in words.split()[:8]:
        qs = qs.filter(Q(text__icontains=word) | Q(name__icontains=word))
    return qs


def filter_changes(
    qs: QuerySet[DistinctChange], params: dict[str, Any]
) -> QuerySet[DistinctChange]:
    """Apply the list's filters (cleaned form data). Filters on the members' respondents are
    ``EXISTS`` subqueries, so each change appears once however many members match."""
    if params.get("q"):
        qs = search_changes(qs, params["q"])
    if params.get("code"):
        qs = qs.filter(code=params["code"])
    if params.get("theme"):
        qs = qs.filter(code__in=codes_in_theme(params["theme"]).values("pk"))
    if params.get("origin"):
        qs = qs.filter(origin=params["origin"])
    if params.get("repeated"):
        qs = qs.filter(count__gt=1)
    who = Q()
    if params.get("role"):
        who &= Q(submission__respondent__role=params["role"])
    if params.get("organisation"):
        who &= Q(submission__respondent__organisation__icontains=params["organisation"].strip())
    if who:
        qs = qs.filter(Exists(Members.objects.filter(who, distinctchange_id=OuterRef("pk"))))
    if params.get("sort") == "name":
        qs = qs.annotate(
            sort_name=Lower(Coalesce(NullIf("name", Value("")), "text", output_field=TextField()))
        ).order_by("sort_name", "id")
    else:
        qs = qs.order_by("-count", "id")
    return qs


def _label(field: str, value: str) -> str:
    return ROLES.get(value, value) if field == "role" else value


def who_raised(change_ids: list[int], top: int = 2) -> dict[int, dict[str, Any]]:
    """For each change: distinct people (respondents), submissions from people not identified,
    and the ``top`` roles and organisations that raised it. Three grouped queries for any number
    of changes (the list's page), none per change."""
    out: dict[int, dict[str, Any]] = {
        pk: {"people": 0, "unknown": 0, "groups": []} for pk in change_ids
    }
    if not change_ids:
        return out
    rows = Members.objects.filter(distinctchange_id__in=change_ids)
    for pk, people, unknown in (
        rows.values("distinctchange_id")
        .annotate(
            people=Count("submission__respondent", distinct=True),
            unknown=Count("id", filter=Q(submission__respondent__isnull=True)),
        )
        .values_list("distinctchange_id", "people", "unknown")
    ):
        out[pk]["people"], out[pk]["unknown"] = people, unknown
    for field in ("role", "organisation"):
        lookup = f"submission__respondent__{field}"
        counts: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for pk, value, n in (
            rows.exclude(**{f"{lookup}__isnull": True})
            .exclude(**{lookup: ""})
            .values_list("distinctchange_id", lookup)
            .annotate(n=Count("id"))
            .order_by("distinctchange_id", "-n", lookup)
        ):
            counts[pk].append((_label(field, value), n))
        for pk, items in counts.items():
            out[pk]["groups"].extend(items[:top])
    return out


@needs_permission("understand.view_code")
def distinct_changes(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    form = ChangeFilterForm(request.GET or None, programme=programme)
    params = form.cleaned_data if form.is_valid() else {}
    qs = filter_changes(programme.distinct_changes.select_related("code"), params)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    who = who_raised([c.pk for c in rows])
    for change in rows:
        change.who = who[change.pk]
    return render(
        request,
        "understand/distinct_changes.html",
        {
            "programme": programme,
            "form": form,
            "page": page,
            "rows": rows,
            "filtered": any(v for k, v in params.items() if k != "sort"),
            "page_title": f"Distinct changes: {programme.title}",
            "totals": programme.distinct_changes.aggregate(
                n=Count("id"), repeated=Count("id", filter=Q(count__gt=1))
            ),
        },
    )


# --- a change ---------------------------------------------------------------------------------


def change_history(change: DistinctChange) -> list[dict]:
    """The change's audit trail for the page (:func:`views.common.history`), with the undoing of
    the actions that touched it; the bare field updates an action's own note describes (same
    moment) are left out."""
    items = history(change)
    noted = [i["event"].at for i in items if i["event"].note]
    items = [
        i
        for i in items
        if i["event"].action != "update"
        or i["event"].note
        or not any(abs((i["event"].at - at).total_seconds()) < 2 for at in noted)
    ]
    actions = {
        str(i["event"].after["workspace_action"])
        for i in items
        if isinstance(i["event"].after, dict) and i["event"].after.get("workspace_action")
    }
    if actions:
        undone = AuditEvent.objects.filter(
            object_type="understand.workspaceaction", action="undo", object_id__in=actions
        )
        items += [{"event": event, "changes": []} for event in undone]
    items.sort(key=lambda i: (i["event"].at, i["event"].pk), reverse=True)
    return items


def groups_of(members: QuerySet[Submission]) -> dict[str, list[tuple[str, int]]]:
    """Who raised a change: submissions by role, organisation, sector and region (top 10)."""
    out = {}
    for label, field in GROUPS:
        lookup = f"respondent__{field}"
        counts = (
            members.exclude(**{f"{lookup}__isnull": True})
            .exclude(**{lookup: ""})
            .order_by()
            .values_list(lookup)
            .annotate(n=Count("id"))
            .order_by("-n", lookup)[:10]
        )
        rows = [(_label(field, v), n) for v, n in counts]
        if rows:
            out[label] = rows
    return out


def undo_url(slug: str) -> str | None:
    """The address of the workspace's undo control, if that page is installed."""
    for args in ([slug], []):
        try:
            return reverse("understand:undo", args=args)
        except NoReverseMatch:
            continue
    return None


def history_url(slug: str) -> str | None:
    try:
        return reverse("understand:history", args=[slug])
    except NoReverseMatch:
        return None


def _other_changes(
    programme: Programme, change: DistinctChange, words: str
) -> list[DistinctChange]:
    qs = programme.distinct_changes.exclude(pk=change.pk)
    if words:
        qs = search_changes(qs, words)
    return list(qs.order_by("-count", "id")[:OTHER_CHOICES])


def _found_submissions(
    programme: Programme, change: DistinctChange, words: str
) -> list[Submission]:
    from changebank.listen.search import filter_submissions

    words = words.strip()
    if not words:
        return []
    by_reference = programme.submissions.filter(reference=words.upper())
    qs = (
        by_reference
        if by_reference.exists()
        else filter_submissions(programme.submissions.all(), {"q": words})
    )
    found = list(qs.select_related("respondent").order_by("id")[:FOUND_SUBMISSIONS])
    members = set(change.members.filter(pk__in=[s.pk for s in found]).values_list("pk", flat=True))
    for s in found:
        s.is_member = s.pk in members
    return found


def _detail(
    request: HttpRequest,
    programme: Programme,
    change: DistinctChange,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    from changebank.listen.search import filter_submissions

    members = Submission.objects.filter(distinct_changes=change)
    members_q = (request.GET.get("q") or "").strip()[:200]
    shown = filter_submissions(members, {"q": members_q}) if members_q else members
    shown = shown.select_related("question", "respondent").order_by("id")
    page = Paginator(shown, PAGE_SIZE).get_page(request.GET.get("page"))
    people = members.exclude(respondent=None).values("respondent").distinct().count()
    unknown = members.filter(respondent=None).count()
    can_change = request.user.has_perm(CHANGE_PERMISSION)
    other_q = (request.GET.get("other") or "").strip()
    find = (request.GET.get("find") or "").strip()
    last = undoable(programme)
    if last is not None and (last.kind not in ops.KINDS or change.pk not in ops.touched(last)):
        last = None
    undo_next = reverse("understand:distinct_change_detail", args=[programme.slug, change.pk])
    if last is not None and change.pk in ops.created(last):
        # undoing the action removes this change: go back to the change it came from
        others = sorted(ops.touched(last) - ops.created(last))
        undo_next = (
            reverse("understand:distinct_change_detail", args=[programme.slug, others[0]])
            if others
            else reverse("understand:distinct_changes", args=[programme.slug])
        )
    page_members = list(page.object_list)
    elsewhere: dict[int, list[int]] = defaultdict(list)
    for sub, other in (
        Members.objects.filter(submission_id__in=[s.pk for s in page_members])
        .exclude(distinctchange_id=change.pk)
        .values_list("submission_id", "distinctchange_id")
    ):
        elsewhere[sub].append(other)
    for s in page_members:
        s.elsewhere = sorted(elsewhere.get(s.pk, []))
    errors = errors or {}
    return render(
        request,
        "understand/distinct_change_detail.html",
        {
            "programme": programme,
            "change": change,
            "page": page,
            "page_members": page_members,
            "members_q": members_q,
            "by_group": groups_of(members),
            "people": people,
            "unknown": unknown,
            "linked": list(change.linked.order_by("-count", "id")),
            "can_change": can_change,
            "other_q": other_q,
            "others": _other_changes(programme, change, other_q) if can_change else [],
            "find": find,
            "found": _found_submissions(programme, change, find) if can_change else [],
            "errors": errors,
            "error_list": [{"text": text, "href": f"#{field}"} for field, text in errors.items()],
            "values": values or {},
            "last_action": last,
            "undo_next": undo_next,
            "undo_url": undo_url(programme.slug),
            "history_url": history_url(programme.slug),
            "history": change_history(change),
            "page_title": ("Error: " if errors else "")
            + f"Distinct change {ops.title(change)}: {programme.title}",
        },
        status=status,
    )


@needs_permission("understand.view_code")
def distinct_change_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    change = get_object_or_404(
        DistinctChange.objects.select_related("code"), pk=pk, programme=programme
    )
    return _detail(request, programme, change)


# --- the actions ------------------------------------------------------------------------------


class Invalid(Exception):
    """An action's input is not valid: ``field`` is the id of the control to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _message(error: ValidationError) -> str:
    return " ".join(error.messages)


Handler = Callable[[HttpRequest, Programme, DistinctChange], tuple[str, DistinctChange | None]]


def _action(handler: Handler) -> Callable[..., HttpResponse]:
    """Wrap an action: POST only (a GET goes to the change's page), needs the permission to change
    distinct changes; ``handler`` returns the message to show and the change to go to (or raises
    :class:`Invalid`)."""

    @needs_permission("understand.view_code")
    def view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
        programme = programme_or_404(slug)
        change = get_object_or_404(
            DistinctChange.objects.select_related("code"), pk=pk, programme=programme
        )
        detail = reverse("understand:distinct_change_detail", args=[slug, change.pk])
        if request.method != "POST":
            query = request.GET.urlencode()
            return redirect(f"{detail}?{query}" if query else detail)
        if not request.user.has_perm(CHANGE_PERMISSION):
            messages.error(request, "You do not have permission to change distinct changes.")
            return redirect(detail)
        try:
            text, goto = handler(request, programme, change)
        except Invalid as error:
            change.refresh_from_db()
            return _detail(
                request,
                programme,
                change,
                errors={error.field: error.message},
                values=request.POST,
                status=400,
            )
        messages.success(request, text)
        goto = goto or change
        return redirect("understand:distinct_change_detail", slug, goto.pk)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def _chosen_change(
    request: HttpRequest, programme: Programme, prefix: str
) -> tuple[DistinctChange, str]:
    """The other change an action names, picked from the select ``<prefix>-other`` or typed in
    ``<prefix>-number`` (not both, unless they agree), and the id of the control used."""
    picked = (request.POST.get("other") or "").strip()
    typed = (request.POST.get("number") or "").strip()
    try:
        number = ops.parse_number(typed)
    except ValidationError as error:
        raise Invalid(f"{prefix}-number", _message(error)) from error
    if picked and number is not None and picked != str(number):
        raise Invalid(
            f"{prefix}-number",
            "You chose one change in the list and typed the number of another: give only one.",
        )
    field = f"{prefix}-number" if number is not None else f"{prefix}-other"
    try:
        found = ops.find_change(programme, number if number is not None else picked or None)
    except ValidationError as error:
        raise Invalid(field, _message(error)) from error
    return found, field


@_action
def distinct_change_edit(
    request: HttpRequest, programme: Programme, change: DistinctChange
) -> tuple[str, DistinctChange | None]:
    """Name the change and edit its wording."""
    text = request.POST.get("text")
    if text is not None and not text.strip():
        raise Invalid("text", "Enter the wording of the change: what people asked for.")
    try:
        ops.edit_change(change, request.user, name=request.POST.get("name"), text=text)
    except ValidationError as error:
        raise Invalid("name", _message(error)) from error
    return f"Change {ops.title(change)} saved.", None


@_action
def distinct_change_merge(
    request: HttpRequest, programme: Programme, change: DistinctChange
) -> tuple[str, DistinctChange | None]:
    """Merge another change into this one."""
    source, field = _chosen_change(request, programme, "merge")
    label = ops.title(source)
    try:
        ops.merge_changes(source, change, request.user)
    except ValidationError as error:
        raise Invalid(field, _message(error)) from error
    return (
        f"Change {label} merged into this one: {change.count:,} submissions in all.",
        None,
    )


@_action
def distinct_change_members(
    request: HttpRequest, programme: Programme, change: DistinctChange
) -> tuple[str, DistinctChange | None]:
    """Move the ticked members to a new change (split), or unlink them."""
    picked = request.POST.getlist("members")
    if request.POST.get("action") == "unlink":
        before = change.count
        try:
            ops.unlink_submissions(change, picked, request.user)
        except ValidationError as error:
            raise Invalid("members", _message(error)) from error
        n = before - change.count
        return f"{n:,} submission{'' if n == 1 else 's'} unlinked from this change.", None
    name = (request.POST.get("split-name") or "").strip()
    if not picked:
        raise Invalid("members", "Tick the submissions to move to the new change.")
    if not name:
        raise Invalid("split-name", "Enter a name for the new change.")
    try:
        new, _ = ops.split_change(change, picked, name, request.user)
    except ValidationError as error:
        raise Invalid("members", _message(error)) from error
    return (
        f"{new.count:,} submission{'' if new.count == 1 else 's'} moved to the new change "
        f"{ops.title(new)}.",
        new,
    )


@_action
def distinct_change_link(
    request: HttpRequest, programme: Programme, change: DistinctChange
) -> tuple[str, DistinctChange | None]:
    """Link a submission, by its reference or picked from a search."""
    submission_id = request.POST.get("submission")
    if submission_id:
        submission = Submission.objects.filter(
            programme=programme, pk=submission_id if submission_id.isdigit() else None
        ).first()
        if submission is None:
            raise Invalid("find", "That submission is not in this programme: search again.")
        field = "find"
    else:
        field = "link-reference"
        try:
            submission = ops.find_submission(programme, request.POST.get("reference") or "")
        except ValidationError as error:
            raise Invalid(field, _message(error)) from error
    try:
        ops.link_submission(change, submission, request.user)
    except ValidationError as error:
        raise Invalid(field, _message(error)) from error
    return f"Submission {submission.reference or submission.pk} linked to this change.", None


@_action
def distinct_change_related(
    request: HttpRequest, programme: Programme, change: DistinctChange
) -> tuple[str, DistinctChange | None]:
    """Link a related change, or unlink one."""
    if request.POST.get("action") == "unlink":
        other = change.linked.filter(pk=request.POST.get("other") or None).first()
        if other is None:
            raise Invalid("related", "That change is not linked to this one.")
        ops.unlink_changes(change, other, request.user)
        return f"Change {ops.title(other)} is no longer linked to this one.", None
    other, field = _chosen_change(request, programme, "related")
    try:
        ops.link_changes(change, other, request.user)
    except ValidationError as error:
        raise Invalid(field, _message(error)) from error
    return f"Change {ops.title(other)} linked to this one as related.", None


_BASE = "programmes/<slug:slug>/analysis/changes/<int:pk>/"
urlpatterns = [
    path(f"{_BASE}edit/", distinct_change_edit, name="distinct_change_edit"),
    path(f"{_BASE}merge/", distinct_change_merge, name="distinct_change_merge"),
    path(f"{_BASE}members/", distinct_change_members, name="distinct_change_members"),
    path(f"{_BASE}link/", distinct_change_link, name="distinct_change_link"),
    path(f"{_BASE}related/", distinct_change_related, name="distinct_change_related"),
]
