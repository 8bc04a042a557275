"""The theme board: themes → codes → submissions, the pages of a theme and a code with every
action analysts take on them, the history of changes with undo, and the review of uncertain codes.

Each action is a plain form POST (keyboard and no-JavaScript friendly) that calls one function of
:mod:`changebank.understand.board`, so it is audited and can be undone.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme, Submission

from .. import board
from ..analyse import latest_run
from ..models import (
    Code,
    CodeAssignment,
    Origin,
    SubmissionReading,
    Theme,
    WorkspaceAction,
)
from ..undo import undo, undoable
from .common import PAGE_SIZE, history, programme_or_404


def theme_sizes(programme: Programme) -> dict[int, int]:
    """Distinct submissions under each theme (through its home and its shared codes)."""
    home = dict(
        CodeAssignment.objects.filter(code__programme=programme, code__theme__isnull=False)
        .values_list("code__theme")
        .annotate(n=Count("submission", distinct=True))
    )
    shared_themes = set(
        Code.also_in.through.objects.filter(code__programme=programme).values_list(
            "theme_id", flat=True
        )
    )
    for theme_id in shared_themes:  # rare: count the union exactly
        home[theme_id] = (
            CodeAssignment.objects.filter(Q(code__theme=theme_id) | Q(code__also_in=theme_id))
            .values("submission")
            .distinct()
            .count()
        )
    return home


def theme_submissions(theme: Theme) -> QuerySet[Submission]:
    """The submissions under ``theme`` (coded with one of its home or shared codes)."""
    home = CodeAssignment.objects.filter(code__theme=theme).values("submission")
    shared = CodeAssignment.objects.filter(code__also_in=theme).values("submission")
    return Submission.objects.filter(Q(pk__in=home) | Q(pk__in=shared))


def _board_context(programme: Programme, q: str) -> dict:
    sizes = theme_sizes(programme)
    themes = list(programme.themes.all())
    codes = list(programme.codes.prefetch_related("also_in").order_by("-size", "pk"))
    words = [w.lower() for w in q.split()[:8]]

    def matches(*texts: str) -> bool:
        hay = " ".join(t or "" for t in texts).lower()
        return all(w in hay for w in words)

    by_theme: dict[int | None, list[Code]] = {t.pk: [] for t in themes}
    by_theme[None] = []
    for code in codes:
        code.shared = [t for t in code.also_in.all()]
        if words and not matches(code.label, code.description, " ".join(code.keywords or [])):
            continue
        by_theme.setdefault(code.theme_id, []).append(code)
        for other in code.shared:
            by_theme.setdefault(other.pk, []).append(code)
    shown = []
    for theme in themes:
        theme.size = sizes.get(theme.pk, 0)
        theme.code_list = by_theme.get(theme.pk, [])
        if (
            theme.code_list
            or (not words and theme.origin == Origin.HUMAN)
            or (words and matches(theme.label, theme.meaning))
        ):
            shown.append(theme)
    shown.sort(key=lambda t: -t.size)
    readings = SubmissionReading.objects.filter(submission__programme=programme)
    sentiment = dict(
        readings.exclude(sentiment=None).values_list("sentiment").annotate(n=Count("id"))
    )
    stance = dict(readings.exclude(stance="").values_list("stance").annotate(n=Count("id")))
    return {
        "themes": shown,
        "all_themes": sorted(themes, key=lambda t: t.label.lower()),
        "unthemed": by_theme[None],
        "total": programme.submissions.count(),
        "sentiment": [
            (SubmissionReading.SENTIMENT_LABELS[k], sentiment.get(k, 0)) for k in range(1, 6)
        ],
        "stance": [
            (label, stance.get(value, 0))
            for value, label in SubmissionReading._meta.get_field("stance").choices
        ],
        "review_count": CodeAssignment.objects.filter(
            code__programme=programme, needs_review=True, origin=Origin.AI
        ).count(),
        "distinct_count": programme.distinct_changes.count(),
        "code_count": len(codes),
        "q": q,
    }


def _links(programme: Programme) -> list[tuple[str, str]]:
    """Links to the other parts of the workspace that exist in this installation."""
    from django.urls import NoReverseMatch

    out = []
    for name, text in [
        ("understand:coding_grid", "Code submissions: survey grid with respondent details"),
        ("understand:next", "Code these next: what would teach the AI most"),
        ("understand:review", "Review uncertain codes"),
        ("understand:learning", "Agreement between the AI and analysts over time"),
        ("understand:double_coding", "Double coding and inter-coder agreement"),
        ("understand:submissions", "Find submissions by theme, code, stance or sentiment"),
        ("understand:distinct_changes", "The long list of distinct changes"),
        ("understand:who_said_it", "Framework matrix: themes by respondent group"),
        ("understand:history", "History of changes, with undo"),
    ]:
        try:
            out.append((reverse(name, args=[programme.slug]), text))
        except NoReverseMatch:
            continue
    return out


@needs_permission("understand.view_code")
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    """The theme board."""
    programme = programme_or_404(slug)
    q = (request.GET.get("q") or "").strip()[:200]
    context = {
        "programme": programme,
        "run": latest_run(programme),
        "page_title": f"Themes and codes: {programme.title}",
        "undoable": undoable(programme),
        "links": _links(programme),
        **_board_context(programme, q),
    }
    return render(request, "understand/overview.html", context)


def _act(
    request: HttpRequest, perm: str, action: Callable[[], object], done: str, back: str
) -> HttpResponse:
    """Run one analyst action with a permission check and a clear message either way."""
    if not request.user.has_perm(perm):
        messages.error(request, "You do not have permission to do that.")
        return redirect(back)
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    messages.success(request, done)
    return redirect(back)


@needs_permission("understand.view_code")
@require_POST
def board_action(request: HttpRequest, slug: str) -> HttpResponse:
    """Create a theme or a code from the board."""
    programme = programme_or_404(slug)
    back = reverse("understand:overview", args=[slug])
    what = request.POST.get("action")
    user = request.user
    if what == "create_theme":
        label = request.POST.get("label", "")
        return _act(
            request,
            "understand.add_theme",
            lambda: board.create_theme(programme, label, user),
            "Theme created.",
            back,
        )
    if what == "create_code":
        label = request.POST.get("label", "")
        theme = Theme.objects.filter(programme=programme, pk=request.POST.get("theme") or 0).first()
        return _act(
            request,
            "understand.add_code",
            lambda: board.create_code(programme, label, user, theme=theme),
            "Code created.",
            back,
        )
    messages.error(request, "That action is not known.")
    return redirect(back)


@needs_permission("understand.view_code")
def history_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Every analyst action on this programme's workspace, newest first, with undo."""
    programme = programme_or_404(slug)
    actions = WorkspaceAction.objects.filter(programme=programme).select_related(
        "actor", "undone_by"
    )
    page = Paginator(actions, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/history.html",
        {
            "programme": programme,
            "page": page,
            "undoable": undoable(programme),
            "page_title": f"History of changes: {programme.title}",
        },
    )


@needs_permission("understand.view_code")
@require_POST
def undo_view(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    action = get_object_or_404(WorkspaceAction, programme=programme, pk=request.POST.get("action"))
    back = request.POST.get("next") or ""
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("understand:history", args=[slug])
    return _act(
        request,
        "understand.change_code",
        lambda: undo(action, request.user),
        f"Undone: {action.summary}.",
        back,
    )


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def code_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    code = get_object_or_404(Code.objects.select_related("theme"), pk=pk, programme=programme)
    if request.method == "POST":
        return _edit_code(request, programme, code)
    assignments = code.assignments.select_related(
        "submission", "submission__question", "submission__respondent"
    ).order_by("-primary", "needs_review", "-confidence", "submission_id")
    q = (request.GET.get("q") or "").strip()[:200]
    for word in q.split()[:8]:
        assignments = assignments.filter(submission__text__icontains=word)
    page = Paginator(assignments, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/code_detail.html",
        {
            "programme": programme,
            "code": code,
            "shared": list(code.also_in.all()),
            "page": page,
            "q": q,
            "other_codes": programme.codes.exclude(pk=code.pk).order_by("label"),
            "history": history(code),
            "themes": programme.themes.order_by("label"),
            "undoable": undoable(programme),
            "page_title": f"Code: {code.label}",
        },
    )


def _edit_code(request: HttpRequest, programme: Programme, code: Code) -> HttpResponse:
    what = request.POST.get("action")
    slug, user, post = programme.slug, request.user, request.POST
    here = reverse("understand:code_detail", args=[slug, code.pk])
    board_url = reverse("understand:overview", args=[slug])
    change = "understand.change_code"
    if what == "rename":
        return _act(
            request,
            change,
            lambda: board.edit_code(
                code, user, label=post.get("label", ""), description=post.get("description", "")
            ),
            "Code saved.",
            here,
        )
    if what == "accept":
        return _act(
            request,
            change,
            lambda: board.accept_code(code, user),
            f"‘{code.label}’ accepted. Re-running the analysis will keep it.",
            here,
        )
    if what == "merge":
        target = Code.objects.filter(programme=programme, pk=post.get("target") or 0).first()
        if target is None:
            messages.error(request, "Choose the code to merge this one into.")
            return redirect(here)
        return _act(
            request,
            change,
            lambda: board.merge_codes(code, target, user),
            f"‘{code.label}’ merged into ‘{target.label}’.",
            reverse("understand:code_detail", args=[slug, target.pk]),
        )
    if what in ("theme", "also"):
        theme = Theme.objects.filter(programme=programme, pk=post.get("theme") or 0).first()
        new_label = (post.get("new_theme") or "").strip()
        if theme is None and not new_label:
            messages.error(request, "Choose a theme or name a new one.")
            return redirect(here)

        def move() -> None:
            target = theme or board.create_theme(programme, new_label, user)
            board.move_code(code, target, user, keep_in_old=what == "also")

        done = "Code put under the theme as well." if what == "also" else "Code moved."
        return _act(request, change, move, done, here)
    if what == "leave":
        theme = Theme.objects.filter(programme=programme, pk=post.get("theme") or 0).first()
        if theme is None:
            messages.error(request, "Choose the theme to take the code out of.")
            return redirect(here)
        return _act(
            request,
            change,
            lambda: board.remove_from_theme(code, theme, user),
            f"Code taken out of ‘{theme.label}’.",
            here,
        )
    if what == "split":
        picked = [int(p) for p in post.getlist("submissions") if p.isdigit()]
        return _act(
            request,
            change,
            lambda: board.split_code(code, picked, post.get("new_label", ""), user),
            f"{len(picked)} submissions moved to a new code.",
            here,
        )
    if what == "recluster":
        try:
            parts = max(2, min(8, int(post.get("parts") or 2)))
        except ValueError:
            parts = 2
        return _act(
            request,
            change,
            lambda: board.recluster_code(code, parts, user),
            f"‘{code.label}’ split into {parts} codes by clustering its submissions again.",
            here,
        )
    if what == "delete":
        if post.get("confirm") != "yes":
            messages.error(request, "Tick the box to confirm you want to delete this code.")
            return redirect(here)
        return _act(
            request,
            "understand.delete_code",
            lambda: board.delete_code(code, user),
            f"‘{code.label}’ deleted. You can undo this from the history of changes.",
            board_url,
        )
    messages.error(request, "That action is not known.")
    return redirect(here)


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def theme_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A theme: its codes, what it means, and quotes chosen to illustrate it."""
    programme = programme_or_404(slug)
    theme = get_object_or_404(Theme, pk=pk, programme=programme)
    codes = sorted(board.codes_in_theme(theme), key=lambda c: -c.size)
    proposed = list(dict.fromkeys(q for c in codes for q in (c.quotes or [])[:2]))[:12]
    offered = list(dict.fromkeys([*(theme.chosen_quotes or []), *proposed]))
    here = reverse("understand:theme_detail", args=[slug, pk])
    if request.method == "POST":
        what = request.POST.get("action", "edit")
        user, post = request.user, request.POST
        if what == "merge":
            target = Theme.objects.filter(programme=programme, pk=post.get("target") or 0).first()
            if target is None:
                messages.error(request, "Choose the theme to merge this one into.")
                return redirect(here)
            return _act(
                request,
                "understand.change_theme",
                lambda: board.merge_themes(theme, target, user),
                f"‘{theme.label}’ merged into ‘{target.label}’.",
                reverse("understand:theme_detail", args=[slug, target.pk]),
            )
        if what == "delete":
            if post.get("confirm") != "yes":
                messages.error(request, "Tick the box to confirm you want to delete this theme.")
                return redirect(here)
            return _act(
                request,
                "understand.delete_theme",
                lambda: board.delete_theme(theme, user),
                f"Theme ‘{theme.label}’ deleted; its codes are kept.",
                reverse("understand:overview", args=[slug]),
            )
        picked = set(post.getlist("quotes"))
        return _act(
            request,
            "understand.change_theme",
            lambda: board.edit_theme(
                theme,
                user,
                label=post.get("label", ""),
                description=post.get("description"),
                meaning=post.get("meaning", ""),
                chosen_quotes=[q for q in offered if q in picked],
            ),
            "Theme saved; it and its codes are kept on re-runs.",
            here,
        )
    members = theme_submissions(theme)
    size = members.count()
    stance = dict(
        SubmissionReading.objects.filter(submission__in=members.values("pk"))
        .exclude(stance="")
        .values_list("stance")
        .annotate(n=Count("id"))
    )
    return render(
        request,
        "understand/theme_detail.html",
        {
            "programme": programme,
            "theme": theme,
            "codes": codes,
            "offered": offered,
            "size": size,
            "stance": [
                (label, stance.get(value, 0))
                for value, label in SubmissionReading._meta.get_field("stance").choices
            ],
            "total": programme.submissions.count(),
            "other_themes": programme.themes.exclude(pk=theme.pk).order_by("label"),
            "history": history(theme),
            "undoable": undoable(programme),
            "page_title": f"Theme: {theme.label}",
        },
    )


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, slug: str) -> HttpResponse:
    """AI codes the model was unsure of: confirm or change them."""
    programme = programme_or_404(slug)
    if request.method == "POST":
        if not request.user.has_perm("understand.change_codeassignment"):
            messages.error(request, "You do not have permission to code submissions.")
            return redirect("understand:review", slug)
        assignment = get_object_or_404(
            CodeAssignment, pk=request.POST.get("assignment"), code__programme=programme
        )
        decide(assignment, request.POST.get("code"), request.user)
        messages.success(request, f"Coding of submission {assignment.submission.reference} saved.")
        return redirect(f"{request.path}?page={request.POST.get('page', 1)}")
    queue = (
        CodeAssignment.objects.filter(
            code__programme=programme, needs_review=True, origin=Origin.AI
        )
        .select_related("submission", "code", "submission__question")
        .order_by("confidence", "id")
    )
    page = Paginator(queue, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "understand/review.html",
        {
            "programme": programme,
            "page": page,
            "codes": programme.codes.order_by("label"),
            "page_title": f"Review codes: {programme.title}",
        },
    )


def decide(assignment: CodeAssignment, code_id: str | None, user: object) -> CodeAssignment:
    """An analyst confirms the suggested code or chooses another, for this submission; its other
    codes are kept. The decision is kept on re-runs, audited and undoable."""
    submission = assignment.submission
    keep = [a.code_id for a in submission.code_assignments.all() if a.pk != assignment.pk]
    chosen = int(code_id) if code_id and str(code_id).isdigit() else assignment.code_id
    board.set_codes(submission, [chosen, *keep], user)
    return CodeAssignment.objects.get(submission=submission, code_id=chosen)


def merge_codes(source: Code, target: Code) -> None:
    """Merge ``source`` into ``target`` (kept for callers of the first version)."""
    board.merge_codes(source, target)
