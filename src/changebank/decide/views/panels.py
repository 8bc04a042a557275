"""Panels and Delphi rounds: the analysts' pages (panels, members and their private links, rounds
with their changes, scales and consensus rules, opening and closing, results and CSV) and the
members' pages, reached by a private link with no account (the round's changes with progress, and
one change at a time, with the panel's answers of the previous round from round 2).

Analysts' actions each have their own address (POST only); a valid action redirects with a message,
an invalid one shows the page again with an error summary and the error beside the field.
"""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme
from changebank.understand.models import DistinctChange

from .. import delphi as ops
from ..models import DEFAULT_RULES, RSA, DelphiAnswer, DelphiRound, Panel, PanelMember, Status
from .overview import link, programme_or_404

VIEW = "decide.view_panel"
ADD = "decide.add_panel"
CHANGE = "decide.change_panel"
ADD_ROUND = "decide.add_delphiround"
CHANGE_ROUND = "decide.change_delphiround"
#: Changes offered to tick when a round is created (the rest: choose the top N).
TICK_LIST = 300
RSA_ITEMS = [(key, label.split(":", 1)[0], label.split(": ", 1)[1]) for key, label in RSA.choices]


def _panel_or_404(programme: Programme, pk: int) -> Panel:
    return get_object_or_404(Panel, pk=pk, programme=programme)


def _round_or_404(panel: Panel, number: int) -> DelphiRound:
    return get_object_or_404(DelphiRound, panel=panel, number=number)


def _title(title: str, errors: Any) -> str:
    return f"Error: {title}" if errors else title


def _member_link(request: HttpRequest, programme: Programme, member: PanelMember) -> str:
    return request.build_absolute_uri(
        reverse("decide:panel_member_home", args=[programme.slug, member.token])
    )


def dec(value: float | None, places: int = 2) -> str:
    """A statistic for a table: ``places`` decimals, or a dash when there is none."""
    return "–" if value is None else f"{value:.{places}f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def median_text(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


# --- panels -------------------------------------------------------------------------------------


@needs_permission(VIEW)
@require_http_methods(["GET", "POST"])
def panels(request: HttpRequest, slug: str) -> HttpResponse:
    """The programme's panels, and a form to create one."""
    programme = programme_or_404(slug)
    errors: dict[str, str] = {}
    values = {"name": "", "description": ""}
    if request.method == "POST":
        if not request.user.has_perm(ADD):
            raise PermissionDenied
        values = {k: request.POST.get(k, "").strip() for k in values}
        if not values["name"]:
            errors["name"] = "Enter a name for the panel, like ‘Lived-experience panel’."
        elif len(values["name"]) > 200:
            errors["name"] = "Enter a name of at most 200 characters."
        elif programme.panels.filter(name__iexact=values["name"]).exists():
            errors["name"] = f"There is already a panel called ‘{values['name']}’."
        if len(values["description"]) > 5000:
            errors["description"] = "Enter a description of at most 5,000 characters."
        if not errors:
            panel = Panel.objects.create(
                programme=programme,
                name=values["name"],
                description=values["description"],
                created_by=request.user,
            )
            messages.success(request, f"Panel ‘{panel.name}’ created. Now add its members.")
            return redirect("decide:panel_detail", programme.slug, panel.pk)
    rows = []
    for panel in programme.panels.all():
        last = ops.latest_round(panel)
        rows.append({"panel": panel, "members": panel.members.count(), "last": last})
    return render(
        request,
        "decide/panels.html",
        {
            "programme": programme,
            "rows": rows,
            "errors": errors,
            "values": values,
            "can_add": request.user.has_perm(ADD),
            "overview": link("decide:overview", programme.slug),
            "page_title": _title(f"Panels: {programme.title}", errors),
        },
    )


def _panel_page(
    request: HttpRequest,
    programme: Programme,
    panel: Panel,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    paste_errors: list[str] | None = None,
) -> HttpResponse:
    errors = errors or {}
    paste_errors = paste_errors or []
    rounds = list(panel.rounds.all())
    current = next((r for r in reversed(rounds) if r.status == Status.OPEN), None) or (
        rounds[-1] if rounds else None
    )
    progress = ops.progress_by_member(current) if current else {}
    n_changes = current.changes.count() if current else 0
    can_change = request.user.has_perm(CHANGE)
    members = [
        {
            "member": m,
            "link": _member_link(request, programme, m) if can_change else "",
            "answered": progress.get(m.pk, 0),
        }
        for m in panel.members.all()
    ]
    groups = sorted({m.group for m in panel.members.all() if m.group}, key=str.lower)
    return render(
        request,
        "decide/panel_detail.html",
        {
            "programme": programme,
            "panel": panel,
            "members": members,
            "groups": groups,
            "rounds": rounds,
            "current": current,
            "n_changes": n_changes,
            "errors": errors,
            "values": values or {},
            "paste_errors": paste_errors,
            "can_change": can_change,
            "can_add_round": request.user.has_perm(ADD_ROUND),
            "new_round_problem": ops.new_round_problem(panel),
            "private": programme.visibility == Programme.Visibility.PRIVATE,
            "page_title": _title(f"{panel.name}: {programme.title}", errors or paste_errors),
        },
    )


@needs_permission(VIEW)
def panel_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    return _panel_page(request, programme, _panel_or_404(programme, pk))


@needs_permission(CHANGE)
@require_http_methods(["GET", "POST"])
def member_add(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Add one member: a name, an email (optional) and a stakeholder group."""
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    if request.method == "GET":
        return redirect("decide:panel_detail", programme.slug, panel.pk)
    values = {k: request.POST.get(k, "").strip() for k in ("name", "email", "group")}
    line, problems = ops.clean_member(**values)
    errors = {f"member-{k}": v for k, v in problems.items()}
    if line is not None and ops.duplicate_emails(panel, [line.email]):
        errors["member-email"] = f"{line.email} is already on the panel."
    if errors or line is None:
        return _panel_page(request, programme, panel, errors=errors, values=values)
    (member,) = ops.add_members(panel, [line])
    messages.success(
        request,
        f"{member.name} added. Send them their private link (in the table of members).",
    )
    return redirect(reverse("decide:panel_detail", args=[programme.slug, panel.pk]) + "#members")


@needs_permission(CHANGE)
@require_http_methods(["GET", "POST"])
def members_paste(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Add many members from pasted lines "name, email, group"; all lines or none."""
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    if request.method == "GET":
        return redirect("decide:panel_detail", programme.slug, panel.pk)
    text = request.POST.get("lines", "")
    lines, problems = ops.parse_member_lines(text)
    taken = ops.duplicate_emails(panel, [line.email for line in lines])
    problems += [f"{email} is already on the panel." for email in taken]
    if problems:
        return _panel_page(
            request, programme, panel, paste_errors=problems[:20], values={"lines": text}
        )
    ops.add_members(panel, lines)
    messages.success(
        request,
        f"{len(lines):,} member{'s' if len(lines) != 1 else ''} added. Send each their private "
        "link (in the table of members).",
    )
    return redirect(reverse("decide:panel_detail", args=[programme.slug, panel.pk]) + "#members")


@needs_permission(CHANGE)
@require_POST
def member_new_link(request: HttpRequest, slug: str, pk: int, member: int) -> HttpResponse:
    """A new private link for a member (when the old one was sent to the wrong person)."""
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    person = get_object_or_404(PanelMember, pk=member, panel=panel)
    ops.reset_token(person)
    messages.success(request, f"{person.name} has a new private link; the old one no longer works.")
    return redirect(reverse("decide:panel_detail", args=[programme.slug, panel.pk]) + "#members")


@needs_permission(CHANGE)
def member_links_csv(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The members and their private links, for a mail merge."""
    import csv

    from changebank.share.exporters.csv import neutralise

    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "email", "group", "link"])
    for m in panel.members.all():
        writer.writerow(
            [neutralise(v) for v in (m.name, m.email, m.group, _member_link(request, programme, m))]
        )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="panel-{panel.pk}-links.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- rounds -------------------------------------------------------------------------------------


def _round_form_values(
    request: HttpRequest, previous: DelphiRound | None, total: int
) -> dict[str, Any]:
    """What the new-round form shows: the defaults, or what was typed."""
    data = request.POST
    if request.method != "POST":
        base_rules = previous.rules if previous else DEFAULT_RULES
        return {
            "how": "top",
            "top": str(min(10, total)),
            "picked": [],
            "rules": ops.rule_values(base_rules or DEFAULT_RULES),
            "ask_rsa": "yes" if (previous.ask_rsa if previous else True) else "no",
            "drop": True,
        }
    return {
        "how": data.get("how", ""),
        "top": data.get("top", "").strip(),
        "picked": data.getlist("changes"),
        "rules": {k: data.get(k, "").strip() for k in ops.RULE_FIELDS},
        "ask_rsa": data.get("ask_rsa", ""),
        "drop": bool(data.get("drop")),
    }


def _long_list(programme: Programme) -> QuerySet[DistinctChange]:
    """The changes a round can rate: the long list, most often raised first, without the group of
    empty answers ("nothing", "n/a")."""
    return programme.distinct_changes.exclude(code__is_empty_answer=True).order_by("-count", "id")


def _chosen_changes(
    programme: Programme, values: dict[str, Any], errors: dict[str, str]
) -> list[DistinctChange]:
    available = _long_list(programme)
    if values["how"] == "top":
        if values["picked"]:
            errors["how"] = (
                "You ticked changes in the long list: choose “The changes I tick in the long "
                "list below”, or untick them."
            )
            return []
        try:
            n = int(values["top"])
        except ValueError:
            errors["top"] = "Enter how many changes as a whole number, like 10."
            return []
        if not 1 <= n <= ops.MAX_CHANGES:
            errors["top"] = f"Enter a number of changes from 1 to {ops.MAX_CHANGES}."
            return []
        chosen = list(available[:n])
        if not chosen:
            errors["top"] = "The long list has no changes yet: run the analysis first."
        return chosen
    if values["how"] == "pick":
        try:
            ids = [int(v) for v in values["picked"]]
        except ValueError:
            errors["changes"] = "Choose changes from the list."
            return []
        if not ids:
            errors["changes"] = "Tick at least one change to rate."
            return []
        if len(ids) > ops.MAX_CHANGES:
            errors["changes"] = f"Tick at most {ops.MAX_CHANGES} changes."
            return []
        chosen = list(available.filter(pk__in=ids))
        if len(chosen) != len(set(ids)):
            errors["changes"] = "Choose changes from the list."
        return chosen
    errors["how"] = "Choose how to pick the changes: the most raised, or by ticking them."
    return []


@needs_permission(ADD_ROUND)
@require_http_methods(["GET", "POST"])
def round_new(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A new round: round 1 chooses changes, scales, rules and whether to ask the RSA category;
    later rounds carry the previous round's changes (less those with consensus, if asked) and
    scales, with the rules and the RSA question editable."""
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    problem = ops.new_round_problem(panel)
    if problem:
        messages.error(request, problem)
        return redirect("decide:panel_detail", programme.slug, panel.pk)
    previous = ops.latest_round(panel)
    number = previous.number + 1 if previous else 1
    available = _long_list(programme)
    total = available.count()
    values = _round_form_values(request, previous, total)
    errors: dict[str, str] = {}
    action = request.POST.get("action", "create") if request.method == "POST" else ""
    rows: list[dict[str, Any]] = []
    if previous is None:
        if request.method == "POST":
            rows = ops.scale_rows(request.POST, extra=1 if action == "add_scale" else 0)
        else:
            rows = ops.default_scale_rows()
    carried: list[DistinctChange] = []
    previous_results = []
    if previous is not None:
        previous_results = ops.round_results(previous)
        carried = ops.carried_changes(previous, values["drop"], previous_results)
    if request.method == "POST":
        if action == "add_scale" and previous is None:
            if len([r for r in rows if not r["remove"]]) > ops.MAX_SCALES:
                errors["add-scale"] = f"Use at most {ops.MAX_SCALES} scales."
                rows = rows[:-1]
        else:
            rules, rule_errors = ops.clean_rules(values["rules"])
            errors.update(rule_errors)
            if values["ask_rsa"] not in ("yes", "no"):
                errors["ask_rsa"] = "Choose whether to ask for the RSA category."
            if previous is None:
                scales, scale_errors = ops.clean_scales(rows)
                errors.update(scale_errors)
                changes = _chosen_changes(programme, values, errors)
            else:
                scales = previous.scales
                changes = carried
                if not changes:
                    errors["drop"] = (
                        f"Every change reached consensus in round {previous.number}, so none "
                        "would be left: untick this to rate them all again."
                    )
            if not errors:
                try:
                    delphi = ops.create_round(
                        panel,
                        changes=changes,
                        scales=scales,
                        rules=rules,
                        ask_rsa=values["ask_rsa"] == "yes",
                    )
                except ValidationError as error:
                    errors["__all__"] = " ".join(error.messages)
                else:
                    messages.success(
                        request,
                        f"Round {delphi.number} created with {len(changes):,} "
                        f"change{'s' if len(changes) != 1 else ''}. Open it when the panel "
                        "is ready.",
                    )
                    return redirect("decide:delphi_round", programme.slug, panel.pk, delphi.number)
    settled = [r for r in previous_results if r.settled]
    return render(
        request,
        "decide/delphi_new.html",
        {
            "programme": programme,
            "panel": panel,
            "number": number,
            "previous": previous,
            "previous_results": previous_results,
            "settled": settled,
            "available": list(available[:TICK_LIST]),
            "total": total,
            "tick_list": TICK_LIST,
            "max_changes": ops.MAX_CHANGES,
            "rows": rows,
            "values": values,
            "errors": errors,
            "page_title": _title(f"Round {number}: {panel.name}", errors),
        },
    )


@needs_permission(VIEW)
def round_detail(request: HttpRequest, slug: str, pk: int, number: int) -> HttpResponse:
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    delphi = _round_or_404(panel, number)
    progress = ops.progress_by_member(delphi)
    changes = list(delphi.changes.all())
    members = [{"member": m, "answered": progress.get(m.pk, 0)} for m in panel.members.all()]
    complete = sum(1 for m in members if m["answered"] >= len(changes) > 0)
    later = panel.rounds.filter(number__gt=delphi.number).exists()
    return render(
        request,
        "decide/delphi_round.html",
        {
            "programme": programme,
            "panel": panel,
            "delphi": delphi,
            "changes": changes,
            "members": members,
            "complete": complete,
            "bands": ops.band_labels(delphi.rules or {}),
            "rules_text": ops.rules_text(delphi.rules or {}),
            "later": later,
            "can_change": request.user.has_perm(CHANGE_ROUND),
            "can_add_round": request.user.has_perm(ADD_ROUND),
            "page_title": f"Round {delphi.number}: {panel.name}",
        },
    )


@needs_permission(CHANGE_ROUND)
@require_POST
def round_status(request: HttpRequest, slug: str, pk: int, number: int) -> HttpResponse:
    """Open or close a round."""
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    delphi = _round_or_404(panel, number)
    status = request.POST.get("status", "")
    if status not in (Status.OPEN, Status.CLOSED):
        messages.error(request, "Choose to open or to close the round.")
    else:
        try:
            ops.set_status(delphi, status)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            if status == Status.OPEN:
                messages.success(
                    request,
                    f"Round {delphi.number} is open: members can answer through their links.",
                )
            else:
                messages.success(
                    request, f"Round {delphi.number} is closed: its results are final."
                )
    return redirect("decide:delphi_round", programme.slug, panel.pk, delphi.number)


@needs_permission(VIEW)
def round_results(request: HttpRequest, slug: str, pk: int, number: int) -> HttpResponse:
    """Per change and scale: n, median, the shares low / middle / high, P30, P70, IPR, IPRCP,
    IPRAS and the classification, the RSA categories; by stakeholder group with ``?by=group``."""
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    delphi = _round_or_404(panel, number)
    by_group = request.GET.get("by") == "group"
    results = ops.round_results(delphi)
    tally = {key: 0 for key in ops.CLASSIFICATIONS}
    for result in results:
        for s in result.scales:
            if s.n:
                tally[s.classification] += 1
    return render(
        request,
        "decide/delphi_results.html",
        {
            "programme": programme,
            "panel": panel,
            "delphi": delphi,
            "results": results,
            "tally": tally,
            "by_group": by_group,
            "bands": ops.band_labels(delphi.rules or {}),
            "rules_text": ops.rules_text(delphi.rules or {}),
            "classifications": ops.CLASSIFICATIONS,
            "rsa_items": RSA_ITEMS,
            "rsa_labels": {key: short for key, short, _ in RSA_ITEMS},
            "n_members": panel.members.count(),
            "dec": dec,
            "pct": pct,
            "median_text": median_text,
            "page_title": f"Results of round {delphi.number}: {panel.name}",
        },
    )


@needs_permission(VIEW)
def round_results_csv(request: HttpRequest, slug: str, pk: int, number: int) -> HttpResponse:
    programme = programme_or_404(slug)
    panel = _panel_or_404(programme, pk)
    delphi = _round_or_404(panel, number)
    buffer = io.StringIO()
    ops.write_results_csv(delphi, buffer)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{programme.slug}-panel-{panel.pk}-round-{delphi.number}.csv"'
    )
    return response


# --- the members' pages (by private link, no account) --------------------------------------------


def _member_or_404(slug: str, token: str) -> PanelMember:
    """The member with this private link, in a programme open to the public (404 otherwise)."""
    member = (
        PanelMember.objects.select_related("panel__programme")
        .filter(token=token, panel__programme__slug=slug)
        .exclude(panel__programme__visibility=Programme.Visibility.PRIVATE)
        .first()
    )
    if member is None:
        raise Http404("No such link")
    return member


def _visible_round(member: PanelMember, number: int) -> DelphiRound:
    """A round of the member's panel that is open or closed (drafts are not shown)."""
    return get_object_or_404(
        DelphiRound, panel=member.panel, number=number, status__in=[Status.OPEN, Status.CLOSED]
    )


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
def member_home(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """A member's page: the round open now, with the changes to rate and how many are done."""
    member = _member_or_404(slug, token)
    panel = member.panel
    shown = panel.rounds.exclude(status=Status.DRAFT).order_by("-number")
    delphi = next((r for r in shown if r.status == Status.OPEN), None) or shown.first()
    items = []
    done = 0
    if delphi is not None:
        answered = ops.answered_ids(delphi, member)
        for change in delphi.changes.all():
            items.append({"change": change, "done": change.pk in answered})
        done = sum(1 for i in items if i["done"])
    first_todo = next((i["change"] for i in items if not i["done"]), None)
    return _private(
        render(
            request,
            "decide/panel_member_home.html",
            {
                "programme": panel.programme,
                "panel": panel,
                "member": member,
                "delphi": delphi,
                "items": items,
                "done": done,
                "first_todo": first_todo or (items[0]["change"] if items else None),
                "page_title": f"{panel.name}: your ratings",
            },
        )
    )


@never_cache
@require_http_methods(["GET", "POST"])
def member_rate(
    request: HttpRequest, slug: str, token: str, number: int, change: int
) -> HttpResponse:
    """One change: a 1–9 rating on each scale, the RSA category and a comment; "save and next".
    From round 2, the panel's answers of the previous round and the member's own are shown."""
    member = _member_or_404(slug, token)
    panel = member.panel
    delphi = _visible_round(member, number)
    changes = list(delphi.changes.all())
    index = next((i for i, c in enumerate(changes) if c.pk == change), None)
    if index is None:
        raise Http404("This change is not part of the round")
    item = changes[index]
    home = reverse("decide:panel_member_home", args=[slug, token])
    if delphi.status != Status.OPEN:
        return _private(
            render(
                request,
                "decide/delphi_closed.html",
                {
                    "programme": panel.programme,
                    "panel": panel,
                    "delphi": delphi,
                    "home": home,
                    "page_title": f"Round {delphi.number} is closed",
                },
                status=403 if request.method == "POST" else 200,
            )
        )
    answer = DelphiAnswer.objects.filter(round=delphi, member=member, change=item).first()
    errors: dict[str, str] = {}
    if request.method == "POST":
        ratings, rsa, comment, errors = ops.clean_answer(delphi, request.POST)
        if not errors:
            ops.save_answer(delphi, member, item, ratings=ratings, rsa=rsa, comment=comment)
            if request.POST.get("then") == "list" or index + 1 >= len(changes):
                left = len(changes) - len(ops.answered_ids(delphi, member))
                if left:
                    messages.success(
                        request,
                        f"Answer saved. {left} change{'s' if left != 1 else ''} still to rate.",
                    )
                else:
                    messages.success(
                        request,
                        "Answer saved. You have rated every change: thank you. You can change "
                        "your answers until the round closes.",
                    )
                return redirect(home)
            messages.success(request, "Answer saved.")
            return redirect("decide:delphi_rate", slug, token, delphi.number, changes[index + 1].pk)
        values = {
            "ratings": {
                s["key"]: request.POST.get(f"rating-{s['key']}", "") for s in delphi.scales
            },
            "rsa": request.POST.get("rsa", ""),
            "comment": request.POST.get("comment", ""),
        }
    elif answer is not None:
        values = {
            "ratings": {k: str(v) for k, v in answer.ratings.items()},
            "rsa": answer.rsa or ("unsure" if delphi.ask_rsa else ""),
            "comment": answer.comment,
        }
    else:
        values = {"ratings": {}, "rsa": "", "comment": ""}
    previous = ops.previous_round(delphi)
    shown, own, rsa_before = ops.feedback(previous, member, item)
    return _private(
        render(
            request,
            "decide/delphi_rate.html",
            {
                "programme": panel.programme,
                "panel": panel,
                "member": member,
                "delphi": delphi,
                "change": item,
                "index": index,
                "total": len(changes),
                "previous_change": changes[index - 1] if index > 0 else None,
                "answered": answer is not None,
                "previous": previous if shown else None,
                "feedback": shown,
                "own": own,
                "rsa_before": rsa_before,
                "rsa_items": RSA_ITEMS,
                "rsa_labels": {key: short for key, short, _ in RSA_ITEMS},
                "values": values,
                "errors": errors,
                "home": home,
                "page_title": _title(f"Change {index + 1} of {len(changes)}: {panel.name}", errors),
            },
        )
    )


urlpatterns = [
    path("programmes/<slug:slug>/decide/panels/", panels, name="panels"),
    path("programmes/<slug:slug>/decide/panels/<int:pk>/", panel_detail, name="panel_detail"),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/members/add/",
        member_add,
        name="panel_member_add",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/members/paste/",
        members_paste,
        name="panel_members_paste",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/members/<int:member>/new-link/",
        member_new_link,
        name="panel_member_new_link",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/links.csv",
        member_links_csv,
        name="panel_links_csv",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/rounds/new/",
        round_new,
        name="delphi_new",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/rounds/<int:number>/",
        round_detail,
        name="delphi_round",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/rounds/<int:number>/status/",
        round_status,
        name="delphi_status",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/rounds/<int:number>/results/",
        round_results,
        name="delphi_results",
    ),
    path(
        "programmes/<slug:slug>/decide/panels/<int:pk>/rounds/<int:number>/results.csv",
        round_results_csv,
        name="delphi_results_csv",
    ),
    path(
        "programmes/<slug:slug>/decide/panel/<slug:token>/",
        member_home,
        name="panel_member_home",
    ),
    path(
        "programmes/<slug:slug>/decide/panel/<slug:token>/rounds/<int:number>/<int:change>/",
        member_rate,
        name="delphi_rate",
    ),
]
