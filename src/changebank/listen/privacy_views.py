"""Staff pages for personal data: reviewing what was redacted, erasure and subject access.

* ``listen:redactions``: analysts review the submissions whose text redaction changed, by kind,
  and restore an item they judge a false positive. Seeing and restoring need
  ``listen.view_original_text`` (restoring also ``listen.change_submission``).
* ``listen:erase`` and ``listen:subject_access``: admins only, through the permission
  ``listen.erase_submissions`` (held by the admin role, which has every permission).
"""

from __future__ import annotations

import json
from collections import Counter

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from changebank.analysis.redact import KINDS
from changebank.core.permissions import needs_permission

from .models import REFERENCE_ALPHABET, Programme, Submission
from .privacy_ingest import KIND_LABELS, RestoreError, highlight, restore
from .rights import erase, subject_access

ORIGINAL = "listen.view_original_text"
ERASE = "listen.erase_submissions"
PAGE_SIZE = 25


@needs_permission(ORIGINAL)
@require_http_methods(["GET", "POST"])
def redactions(request: HttpRequest, slug: str) -> HttpResponse:
    """The submissions of a programme whose text was redacted, with what was removed, to review."""
    programme = get_object_or_404(Programme, slug=slug)
    here = reverse("listen:redactions", args=[slug])
    if request.method == "POST":
        if not request.user.has_perm("listen.change_submission"):
            raise PermissionDenied
        submission = get_object_or_404(
            Submission, pk=request.POST.get("submission", ""), programme=programme
        )
        try:
            index = int(request.POST.get("index", ""))
            restore(submission, index, by=request.user)
        except (ValueError, RestoreError) as exc:
            messages.error(request, f"That item could not be restored: {exc}.")
        else:
            messages.success(
                request, f"The words were put back into submission {submission.reference}."
            )
        query = request.POST.get("return", "")
        return redirect(here + (f"?{query}" if query and "\n" not in query else ""))
    kind = request.GET.get("kind", "")
    if kind not in KINDS:
        kind = ""
    rows = list(
        Submission.objects.filter(programme=programme)
        .exclude(original_text="")
        .order_by("-received_at", "-id")
        .values_list("pk", "redactions")
    )
    counts: Counter = Counter()
    wanted = []
    for pk, marks in rows:
        kinds = {r["kind"] for r in marks}
        counts.update(r["kind"] for r in marks)
        if not kind or kind in kinds:
            wanted.append(pk)
    page = Paginator(wanted, PAGE_SIZE).get_page(request.GET.get("page"))
    subs = Submission.objects.filter(pk__in=list(page.object_list)).select_related("question")
    by_pk = {s.pk: s for s in subs}
    items = []
    for pk in page.object_list:
        s = by_pk[pk]
        items.append(
            {
                "submission": s,
                "original": highlight(s, original=True),
                "redacted": highlight(s, original=False),
                "marks": [
                    {
                        "index": i,
                        "kind": r["kind"],
                        "label": KIND_LABELS.get(r["kind"], r["kind"]),
                        "words": s.original_text[r["start"] : r["end"]],
                    }
                    for i, r in enumerate(sorted(s.redactions, key=lambda r: r["start"]))
                ],
            }
        )
    return render(
        request,
        "listen/redactions.html",
        {
            "programme": programme,
            "page": page,
            "items": items,
            "kind": kind,
            "counts": [(k, KIND_LABELS.get(k, k), counts[k]) for k in KINDS if counts[k]],
            "total": len(rows),
            "can_restore": request.user.has_perm("listen.change_submission"),
            "query": request.GET.urlencode(),
            "page_title": f"What was redacted: {programme.title}",
        },
    )


def _reference(value: str) -> str:
    value = (value or "").strip().upper()
    ok = (
        len(value) == 12
        and value.startswith("CB-")
        and value[7] == "-"
        and all(c in REFERENCE_ALPHABET for c in value[3:7] + value[8:])
    )
    # references from elsewhere (REFI-QDA imports keep theirs) may have other shapes
    return value if ok or (0 < len(value) <= 20 and value.isprintable()) else ""


@needs_permission(ERASE)
@require_http_methods(["GET", "POST"])
def erase_view(request: HttpRequest) -> HttpResponse:
    """Erase a contributor's data by reference: look it up, confirm, erase."""
    reference = _reference(request.POST.get("reference") or request.GET.get("reference", ""))
    context = {"reference": reference, "page_title": "Erase a contributor's data"}
    if reference:
        held = Submission.objects.filter(reference=reference)
        context["held"] = held.count()
        context["programmes"] = sorted(set(held.values_list("programme__title", flat=True)))
    if request.method == "POST" and reference:
        if request.POST.get("confirm") != "yes":
            context["error"] = "Confirm that you want to erase this data."
        else:
            report = erase(reference, by=request.user)
            messages.success(request, report.summary())
            return redirect("listen:erase")
    return render(request, "listen/erase.html", context)


@needs_permission(ERASE)
def subject_access_view(request: HttpRequest) -> HttpResponse:
    """Everything held about a reference number, as a JSON download."""
    reference = _reference(request.GET.get("reference", ""))
    if not reference:
        return render(
            request,
            "listen/subject_access.html",
            {"page_title": "Subject access: what is held about a contributor"},
        )
    data = subject_access(reference)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="subject-access-{reference}.json"'
    response["Cache-Control"] = "no-store"
    return response
