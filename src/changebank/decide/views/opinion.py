"""Opinion groups, as Pol.is: analysts set up a conversation of short statements (typed, or one
for each of the changes of the long list raised most often), open and close it, and moderate the
statements participants add; anyone with the link votes agree, disagree or pass on one statement
at a time, without an account; the results page maps the opinion groups, what makes each group
distinct, and what all groups agree on.

Who sees what: the list, the conversation's page and the moderation queue need
``decide.view_conversation`` (changing anything needs ``decide.change_conversation``, moderating
``decide.change_statement``). The voting page is public while the conversation is open and its
programme is not private. The results (and their CSV files) are for analysts while the
conversation is open, so early results cannot sway the votes, and for everyone once it is closed.
"""

from __future__ import annotations

import io
import math
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme

from .. import opinion as ops
from ..models import Conversation, Moderation, Statement, StatementVote, Status
from .overview import programme_or_404

VIEW = "decide.view_conversation"
ADD = "decide.add_conversation"
CHANGE = "decide.change_conversation"
MODERATE = "decide.change_statement"

#: Colour and shape of each group on the map: shapes as well as colours, so the groups can be
#: told apart without colour. Every colour has at least 3:1 contrast with white.
GROUP_STYLES = [
    ("#005eb8", "circle", "circles"),
    ("#d5281b", "square", "squares"),
    ("#007f3b", "triangle", "triangles"),
    ("#330072", "diamond", "diamonds"),
    ("#7c2855", "cross", "crosses"),
    ("#425563", "star", "stars"),
]


# --- forms ---------------------------------------------------------------------------------------


def _clean_lines(text: str) -> list[str]:
    lines = ops.statement_lines(text)
    for n, line in enumerate(lines, start=1):
        if len(line) > ops.STATEMENT_MAX:
            raise forms.ValidationError(
                f"Statement {n} is longer than {ops.STATEMENT_MAX} characters: shorten it or "
                "split it in two"
            )
    return lines


class StatementsField(forms.CharField):
    widget = forms.Textarea

    def clean(self, value: Any) -> list[str]:  # type: ignore[override]
        return _clean_lines(super().clean(value) or "")


class AddStatementsForm(forms.Form):
    statements = StatementsField(required=False, max_length=50_000)
    from_long_list = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=ops.LONG_LIST_MAX,
        error_messages={
            "invalid": "Enter a whole number of changes, such as 8",
            "min_value": "Enter a number of changes from 0 to 50",
            "max_value": "Enter a number of changes from 0 to 50",
        },
    )


class ConversationForm(AddStatementsForm):
    topic = forms.CharField(
        max_length=300,
        error_messages={
            "required": "Enter the topic of the conversation",
            "max_length": "The topic must be 300 characters or fewer",
        },
    )
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    allow_statements = forms.BooleanField(required=False)

    field_order = ["topic", "description", "allow_statements", "statements", "from_long_list"]


class SettingsForm(forms.Form):
    topic = forms.CharField(
        max_length=300,
        error_messages={
            "required": "Enter the topic of the conversation",
            "max_length": "The topic must be 300 characters or fewer",
        },
    )
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    allow_statements = forms.BooleanField(required=False)


class StatementForm(forms.Form):
    text = forms.CharField(
        max_length=ops.STATEMENT_MAX,
        error_messages={
            "required": "Enter the statement",
            "max_length": f"The statement must be {ops.STATEMENT_MAX} characters or fewer",
        },
    )
    status = forms.ChoiceField(
        choices=Moderation.choices, error_messages={"required": "Choose whether it is shown"}
    )


def _error_list(form: forms.Form, anchors: dict[str, str]) -> list[dict[str, str]]:
    out = []
    for name, errors in form.errors.items():
        for message in errors:
            out.append({"text": message, "href": anchors.get(name, next(iter(anchors.values())))})
    return out


# --- helpers --------------------------------------------------------------------------------------


def _staff_conversation(slug: str, conversation: str) -> tuple[Programme, Conversation]:
    programme = programme_or_404(slug)
    return programme, ops.conversation_or_404(programme, conversation)


def _counts(conversation: Conversation) -> dict[str, int]:
    votes = StatementVote.objects.filter(statement__conversation=conversation)
    return {
        "statements": ops.approved(conversation).count(),
        "pending": conversation.statements.filter(status=Moderation.PENDING).count(),
        "votes": votes.count(),
        "participants": votes.values("participant").distinct().count(),
    }


def _may_see_results(request: HttpRequest, conversation: Conversation) -> bool:
    return request.user.has_perm(VIEW) or ops.results_are_public(conversation)


def _add_statements(conversation: Conversation, data: dict[str, Any]) -> int:
    added = len(ops.add_statements(conversation, data.get("statements") or []))
    if data.get("from_long_list"):
        added += len(ops.add_from_long_list(conversation, data["from_long_list"]))
    return added


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


# --- analysts: the list and a new conversation ---------------------------------------------------


@needs_permission(VIEW)
@require_http_methods(["GET", "POST"])
def conversations(request: HttpRequest, slug: str) -> HttpResponse:
    """The programme's conversations, and the form that starts a new one."""
    programme = programme_or_404(slug)
    form = ConversationForm(initial={"allow_statements": True, "from_long_list": 0})
    if request.method == "POST":
        if not request.user.has_perm(ADD):
            raise PermissionDenied
        form = ConversationForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            conversation = Conversation.objects.create(
                programme=programme,
                slug=ops.unique_slug(programme, data["topic"]),
                topic=data["topic"],
                description=data["description"],
                allow_statements=data["allow_statements"],
            )
            added = _add_statements(conversation, data)
            messages.success(
                request,
                f"Conversation created with {_plural(added, 'statement')}. Check the statements, "
                "then open it for voting.",
            )
            return redirect("decide:conversation", slug=slug, conversation=conversation.slug)
    rows = []
    for c in programme.conversations.all():
        rows.append((c, _counts(c)))
    return render(
        request,
        "decide/conversations.html",
        {
            "programme": programme,
            "rows": rows,
            "form": form,
            "errors": _error_list(
                form,
                {
                    "topic": "#id_topic",
                    "description": "#id_description",
                    "statements": "#id_statements",
                    "from_long_list": "#id_from_long_list",
                },
            ),
            "long_list_size": programme.distinct_changes.count(),
            "long_list_max": ops.LONG_LIST_MAX,
            "page_title": f"Opinion groups: {programme.title}",
        },
        status=400 if form.errors else 200,
    )


# --- analysts: one conversation ------------------------------------------------------------------


@needs_permission(VIEW)
@require_http_methods(["GET", "POST"])
def conversation(request: HttpRequest, slug: str, conversation: str) -> HttpResponse:
    """A conversation: its status, settings, statements and the moderation queue."""
    programme, conv = _staff_conversation(slug, conversation)
    here = reverse("decide:conversation", args=[slug, conv.slug])
    settings_form = SettingsForm(
        initial={
            "topic": conv.topic,
            "description": conv.description,
            "allow_statements": conv.allow_statements,
        },
        prefix="settings",
    )
    add_form = AddStatementsForm(initial={"from_long_list": 0}, prefix="add")
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "moderate":
            if not request.user.has_perm(MODERATE):
                raise PermissionDenied
            return _moderate(request, conv, here)
        if not request.user.has_perm(CHANGE):
            raise PermissionDenied
        if action == "status":
            status = request.POST.get("status", "")
            if status not in Status.values:
                messages.error(request, "Choose draft, open or closed.")
                return redirect(here)
            if status == Status.OPEN and not ops.approved(conv).exists():
                messages.error(
                    request, "Add at least one statement before opening the conversation."
                )
                return redirect(here)
            conv.status = status
            conv.save(update_fields=["status"])
            messages.success(
                request,
                {
                    Status.OPEN: "The conversation is open: anyone with the link can vote.",
                    Status.CLOSED: "The conversation is closed: nobody can vote, and the results "
                    "are public.",
                    Status.DRAFT: "The conversation is back in draft: only analysts can see it.",
                }[status],
            )
            return redirect(here)
        if action == "settings":
            settings_form = SettingsForm(request.POST, prefix="settings")
            if settings_form.is_valid():
                for name, value in settings_form.cleaned_data.items():
                    setattr(conv, name, value)
                conv.save()
                messages.success(request, "Settings saved.")
                return redirect(here)
        elif action == "add":
            add_form = AddStatementsForm(request.POST, prefix="add")
            if add_form.is_valid():
                data = add_form.cleaned_data
                if not data["statements"] and not data["from_long_list"]:
                    add_form.add_error(
                        "statements",
                        "Type at least one statement, or choose a number of changes from the "
                        "long list",
                    )
                else:
                    added = _add_statements(conv, data)
                    messages.success(
                        request,
                        f"{_plural(added, 'statement')} added."
                        if added
                        else "No statements added: they are all in the conversation already.",
                    )
                    return redirect(here)
        else:
            messages.error(request, "Unknown action.")
            return redirect(here)
    errors = _error_list(
        settings_form,
        {
            "topic": "#id_settings-topic",
            "description": "#id_settings-description",
        },
    ) + _error_list(
        add_form,
        {"statements": "#id_add-statements", "from_long_list": "#id_add-from_long_list"},
    )
    statements = list(conv.statements.exclude(status=Moderation.PENDING).order_by("id"))
    vote_counts = dict(
        conv.statements.annotate(n=Count("votes")).filter(n__gt=0).values_list("id", "n")
    )
    return render(
        request,
        "decide/conversation.html",
        {
            "programme": programme,
            "conversation": conv,
            "counts": _counts(conv),
            "statements": statements,
            "vote_counts": vote_counts,
            "pending": list(conv.statements.filter(status=Moderation.PENDING).order_by("id")),
            "settings_form": settings_form,
            "add_form": add_form,
            "errors": errors,
            "vote_url": request.build_absolute_uri(
                reverse("decide:conversation_vote", args=[slug, conv.slug])
            ),
            "public": programme.visibility != Programme.Visibility.PRIVATE,
            "long_list_size": programme.distinct_changes.count(),
            "long_list_max": ops.LONG_LIST_MAX,
            "page_title": f"{conv.topic}: opinion groups",
        },
        status=400 if errors else 200,
    )


def _moderate(request: HttpRequest, conv: Conversation, here: str) -> HttpResponse:
    decision = request.POST.get("decision", "")
    statement = conv.statements.filter(pk=request.POST.get("statement") or 0).first()
    if statement is None or decision not in (Moderation.APPROVED, Moderation.REJECTED):
        messages.error(request, "Choose a statement of this conversation and approve or reject it.")
        return redirect(here)
    statement.status = decision
    statement.save(update_fields=["status"])
    done = (
        "approved: people can now vote on it"
        if decision == Moderation.APPROVED
        else "rejected: nobody will see it"
    )
    messages.success(request, f"Statement #{statement.pk} {done}.")
    return redirect(f"{here}#moderation")


@needs_permission(MODERATE)
@require_http_methods(["GET", "POST"])
def statement(request: HttpRequest, slug: str, conversation: str, pk: int) -> HttpResponse:
    """Edit one statement: its wording and whether it is shown."""
    programme, conv = _staff_conversation(slug, conversation)
    item = get_object_or_404(Statement, conversation=conv, pk=pk)
    form = StatementForm(initial={"text": item.text, "status": item.status})
    if request.method == "POST":
        form = StatementForm(request.POST)
        if form.is_valid():
            item.text = " ".join(form.cleaned_data["text"].split())
            item.status = form.cleaned_data["status"]
            item.save(update_fields=["text", "status"])
            messages.success(request, f"Statement #{item.pk} saved.")
            return redirect("decide:conversation", slug=slug, conversation=conv.slug)
    return render(
        request,
        "decide/conversation_statement.html",
        {
            "programme": programme,
            "conversation": conv,
            "statement": item,
            "form": form,
            "n_votes": item.votes.count(),
            "errors": _error_list(form, {"text": "#id_text", "status": "#id_status"}),
            "page_title": f"Statement #{item.pk}: {conv.topic}",
        },
        status=400 if form.errors else 200,
    )


# --- the public voting page -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def vote(request: HttpRequest, slug: str, conversation: str) -> HttpResponse:
    """One statement at a time, with Agree, Disagree and Pass buttons; ``?statement=N`` shows a
    statement already voted on, to change the vote."""
    conv = ops.public_conversation(slug, conversation)
    programme = conv.programme
    if conv.status != Status.OPEN:
        return render(
            request,
            "decide/conversation_closed.html",
            {
                "programme": programme,
                "conversation": conv,
                "results": ops.results_are_public(conv),
                "page_title": f"{conv.topic}: closed",
            },
            status=409 if request.method == "POST" else 200,
        )
    here = reverse("decide:conversation_vote", args=[slug, conv.slug])
    error: dict[str, str] | None = None
    status = 200
    text = ""
    shown: Statement | None = None
    if request.method == "POST":
        if request.POST.get("action") == "statement":
            text = request.POST.get("text", "")
            participant = ops.participant_key(request, create=True)
            if not conv.allow_statements:
                error, status = (
                    {"field": "text", "text": "This conversation is not taking new statements"},
                    400,
                )
            elif ops.statement_rate_limited(request, conv):
                error = {
                    "field": "text",
                    "text": "We have had many statements from your internet connection in the "
                    "last hour, so we have not saved this one. Please try again later.",
                }
                status = 429
            else:
                try:
                    ops.propose_statement(conv, participant, text)
                except ops.VoteError as e:
                    error, status = {"field": "text", "text": str(e)}, 400
                else:
                    ops.count_statement(request, conv)
                    messages.success(
                        request,
                        "Thank you: your statement was sent. Others can vote on it once a "
                        "moderator has approved it.",
                    )
                    return redirect(here)
        else:
            participant = ops.participant_key(request, create=True)
            try:
                saved, created = ops.record_vote(
                    conv, request.POST.get("statement"), request.POST.get("vote"), participant
                )
            except ops.VoteError as e:
                error, status = {"field": "vote", "text": str(e)}, 400
                shown = ops.approved(conv).filter(pk=_int(request.POST.get("statement"))).first()
            else:
                if not created:
                    messages.success(
                        request,
                        f"Your vote on statement #{saved.statement_id} is now: "
                        f"{ops.VOTE_LABELS[saved.vote].lower()}.",
                    )
                return redirect(here)
    participant = ops.participant_key(request)
    mine = ops.my_votes(conv, participant)
    voted = {v.statement_id: v for v in mine}
    if shown is None and request.GET.get("statement"):
        shown = ops.approved(conv).filter(pk=_int(request.GET.get("statement"))).first()
        if shown is None:
            raise Http404("No such statement")
    changing = shown is not None and shown.pk in voted
    if shown is None:
        shown = ops.next_statement(conv, participant)
    total = ops.approved(conv).count()
    position = len(voted) + (0 if changing or shown is None else 1)
    return render(
        request,
        "decide/conversation_vote.html",
        {
            "programme": programme,
            "conversation": conv,
            "statement": shown,
            "current": voted.get(shown.pk) if shown else None,
            "changing": changing,
            "position": position,
            "total": total,
            "n_voted": len(voted),
            "mine": mine,
            "labels": ops.VOTE_LABELS,
            "error": error,
            "text": text,
            "statement_max": ops.STATEMENT_MAX,
            "can_add": conv.allow_statements,
            "page_title": conv.topic,
        },
        status=status,
    )


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


# --- results --------------------------------------------------------------------------------------


def _result_conversation(
    request: HttpRequest, slug: str, conversation: str
) -> Conversation | HttpResponse:
    """The conversation whose results ``request`` may see, or the response that says it may
    not (sign in first, or 404)."""
    programme = programme_or_404(slug)
    conv = get_object_or_404(
        Conversation.objects.select_related("programme"), programme=programme, slug=conversation
    )
    if _may_see_results(request, conv):
        return conv
    if not request.user.is_authenticated and programme.visibility != Programme.Visibility.PRIVATE:
        return redirect_to_login(request.get_full_path())
    raise Http404("No such results")


def _marker(shape: str, x: float, y: float, r: float = 6.0) -> str:
    """An SVG path of a marker of ``shape`` centred on (x, y)."""
    if shape == "circle":
        return f"M{x - r:.1f},{y:.1f}a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0Z"
    if shape == "square":
        s = r * 0.9
        return f"M{x - s:.1f},{y - s:.1f}h{2 * s:.1f}v{2 * s:.1f}h{-2 * s:.1f}Z"
    if shape == "triangle":
        top, bottom = y - r * 1.15, y + r * 0.85
        return f"M{x:.1f},{top:.1f}L{x + r:.1f},{bottom:.1f}L{x - r:.1f},{bottom:.1f}Z"
    if shape == "diamond":
        d = r * 1.2
        return f"M{x:.1f},{y - d:.1f}L{x + d:.1f},{y:.1f}L{x:.1f},{y + d:.1f}L{x - d:.1f},{y:.1f}Z"
    if shape == "cross":
        a, b = r * 0.35, r
        return (
            f"M{x - a:.1f},{y - b:.1f}h{2 * a:.1f}v{b - a:.1f}h{b - a:.1f}v{2 * a:.1f}"
            f"h{a - b:.1f}v{b - a:.1f}h{-2 * a:.1f}v{a - b:.1f}h{a - b:.1f}v{-2 * a:.1f}"
            f"h{b - a:.1f}Z"
        )
    points = []
    for i in range(10):  # a five-pointed star
        radius = r * 1.2 if i % 2 == 0 else r * 0.5
        angle = math.pi / 2 + i * math.pi / 5
        points.append(f"{x + radius * math.cos(angle):.1f},{y - radius * math.sin(angle):.1f}")
    return "M" + "L".join(points) + "Z"


def group_style(index: int) -> dict[str, str]:
    colour, shape, plural = GROUP_STYLES[index % len(GROUP_STYLES)]
    return {"colour": colour, "shape": shape, "shapes": plural}


def scatter(found: ops.Results, width: int = 640, height: int = 420) -> dict[str, Any] | None:
    """Screen positions of the participants on the map, with a marker per group. Both axes share
    one scale, centred on the data, so distances mean the same across and up. People who voted
    exactly alike share a place: their marks are spread in a small spiral around it, so each
    person stays visible."""
    points = [p for p in found.points if p.get("x") is not None and p.get("y") is not None]
    if not points:
        return None
    pad = 40
    xs = [p["x"] for p in points]
    ys = [p["y"] for p in points]
    mid_x, mid_y = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    scale = min(width - 2 * pad, height - 2 * pad) / span

    def at(x: float, y: float) -> tuple[float, float]:
        return width / 2 + (x - mid_x) * scale, height / 2 - (y - mid_y) * scale

    index = {g["id"]: i for i, g in enumerate(found.groups)}
    seen: dict[tuple[int, int], int] = {}
    markers = []
    golden = math.pi * (3 - math.sqrt(5))
    for p in points:
        x, y = at(p["x"], p["y"])
        place = (round(x), round(y))
        k = seen.get(place, 0)
        seen[place] = k + 1
        if k:  # a sunflower spiral around the shared place
            radius = 9.0 * math.sqrt(k)
            x, y = x + radius * math.cos(k * golden), y + radius * math.sin(k * golden)
        style = group_style(index.get(p["group"], len(GROUP_STYLES) - 1))
        markers.append({"d": _marker(style["shape"], x, y), "colour": style["colour"]})
    zero_x, zero_y = at(0.0, 0.0)
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "markers": markers,
        "zero_x": zero_x if pad / 2 <= zero_x <= width - pad / 2 else None,
        "zero_y": zero_y if pad / 2 <= zero_y <= height - pad / 2 else None,
    }


def _results_context(conv: Conversation) -> dict[str, Any]:
    found = ops.results(conv)
    groups = []
    for i, g in enumerate(found.groups):
        style = group_style(i)
        groups.append(
            {
                **g,
                **style,
                "tally_id": f"t-g{i + 1}",
                "legend": _marker(style["shape"], 10, 10, 6),
            }
        )
    return {
        "found": found,
        "groups": groups,
        "labels": {g["id"]: g["label"] for g in groups},
        "chart": scatter(found) if found.enough else None,
        "consensus_agree": found.consensus_agree,
        "consensus_disagree": found.consensus_disagree,
        "empty": ops.Tally(),
    }


@require_GET
def results(request: HttpRequest, slug: str, conversation: str) -> HttpResponse:
    conv = _result_conversation(request, slug, conversation)
    if isinstance(conv, HttpResponse):
        return conv
    return render(
        request,
        "decide/conversation_results.html",
        {
            "programme": conv.programme,
            "conversation": conv,
            "staff": request.user.has_perm(VIEW),
            "counts": _counts(conv),
            **_results_context(conv),
            "page_title": f"Results: {conv.topic}",
        },
    )


def _csv_response(conv: Conversation, what: str, write: Any) -> HttpResponse:
    buffer = io.StringIO()
    write(conv, buffer)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{ops.export_name(conv, what)}"'
    return response


@require_GET
def participants_votes_csv(request: HttpRequest, slug: str, conversation: str) -> HttpResponse:
    """Pol.is's ``participants-votes.csv``."""
    conv = _result_conversation(request, slug, conversation)
    if isinstance(conv, HttpResponse):
        return conv
    return _csv_response(conv, "participants-votes", ops.write_participants_votes)


@require_GET
def comments_csv(request: HttpRequest, slug: str, conversation: str) -> HttpResponse:
    """Pol.is's ``comments.csv``: the statements with their authors and vote counts."""
    conv = _result_conversation(request, slug, conversation)
    if isinstance(conv, HttpResponse):
        return conv
    return _csv_response(conv, "comments", ops.write_comments)


BASE = "programmes/<slug:slug>/decide/conversations/"
urlpatterns = [
    path(BASE, conversations, name="conversations"),
    path(f"{BASE}<slug:conversation>/", conversation, name="conversation"),
    path(
        f"{BASE}<slug:conversation>/statements/<int:pk>/",
        statement,
        name="conversation_statement",
    ),
    path(f"{BASE}<slug:conversation>/vote/", vote, name="conversation_vote"),
    path(f"{BASE}<slug:conversation>/results/", results, name="conversation_results"),
    path(
        f"{BASE}<slug:conversation>/participants-votes.csv",
        participants_votes_csv,
        name="conversation_votes_csv",
    ),
    path(
        f"{BASE}<slug:conversation>/comments.csv",
        comments_csv,
        name="conversation_comments_csv",
    ),
]
