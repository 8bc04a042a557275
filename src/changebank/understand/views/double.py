"""Double coding: samples given to two or more analysts, each coder's blind coding, the agreement
between them, and the resolution of their disagreements."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme

from .. import double
from ..models import Code, CodingSample, SampleCoding
from ..undo import undoable
from .common import programme_or_404

VIEW = "understand.view_codingsample"
RESOLVE_PAGE_SIZE = 20


# --- the list of samples and a new sample -------------------------------------------------------


class SampleForm(forms.Form):
    name = forms.CharField(
        max_length=200, error_messages={"required": "Enter a name for the sample."}
    )
    size = forms.IntegerField(
        error_messages={
            "required": "Enter how many submissions to put in the sample.",
            "invalid": "Enter the sample size as a whole number, like 40.",
        }
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=double.SEED_MAX,
        error_messages={
            "invalid": "Enter the seed as a whole number, or leave it empty.",
            "min_value": "Enter a seed of 0 or more, or leave it empty.",
            "max_value": f"Enter a seed no bigger than {double.SEED_MAX}, or leave it empty.",
        },
    )
    uncoded_only = forms.BooleanField(required=False)
    stratify = forms.BooleanField(required=False)
    coders = forms.TypedMultipleChoiceField(
        coerce=int,
        error_messages={
            "required": "Choose at least two coders.",
            "invalid_choice": "Choose coders from the list.",
        },
    )

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.programme = programme
        self.users = list(double.eligible_coders())
        self.fields["coders"].choices = [(u.pk, u.get_username()) for u in self.users]

    def clean_coders(self) -> list[int]:
        coders = self.cleaned_data["coders"]
        problem = double.coders_problem(coders)
        if problem:
            raise ValidationError(problem)
        return coders

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "size" in data:
            problem = double.size_problem(
                self.programme, data["size"], uncoded_only=data.get("uncoded_only", False)
            )
            if problem:
                self.add_error("size", problem)
        return data


def _sample_or_404(programme: Programme, pk: int) -> CodingSample:
    return get_object_or_404(CodingSample, pk=pk, programme=programme)


@needs_permission(VIEW)
def sample_list(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    samples = list(
        programme.coding_samples.select_related("created_by")
        .prefetch_related("coders")
        .annotate(n=Count("submissions", distinct=True))
    )
    coded = {
        (row["sample"], row["coder"]): row["n"]
        for row in SampleCoding.objects.filter(sample__in=samples)
        .values("sample", "coder")
        .annotate(n=Count("id"))
    }
    for sample in samples:
        sample.coder_list = [(c, coded.get((sample.pk, c.pk), 0)) for c in sample.coders.all()]
        sample.is_coder = any(c.pk == request.user.pk for c, _ in sample.coder_list)
    return render(
        request,
        "understand/double_list.html",
        {
            "programme": programme,
            "samples": samples,
            "page_title": f"Double coding: {programme.title}",
        },
    )


@needs_permission("understand.add_codingsample")
@require_http_methods(["GET", "POST"])
def sample_new(request: HttpRequest, slug: str) -> HttpResponse:
    programme = programme_or_404(slug)
    form = SampleForm(
        request.POST or None,
        programme=programme,
        initial={"stratify": False, "uncoded_only": True},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sample = double.create_sample(
                programme,
                name=data["name"],
                size=data["size"],
                coders=data["coders"],
                user=request.user,
                seed=data["seed"],
                uncoded_only=data["uncoded_only"],
                stratify=data["stratify"],
            )
        except ValidationError as error:
            for name, errors in error.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"Sample ‘{sample.name}’ drawn: {sample.submissions.count():,} submissions for "
                f"{sample.coders.count()} coders.",
            )
            return redirect("understand:double_sample", slug, sample.pk)
    available = double.candidates(programme).count()
    uncoded = double.candidates(programme, uncoded_only=True).count()
    title = f"New double-coding sample: {programme.title}"
    return render(
        request,
        "understand/double_new.html",
        {
            "programme": programme,
            "form": form,
            "available": available,
            "uncoded": uncoded,
            "questions": programme.questions.count(),
            "page_title": f"Error: {title}" if form.errors else title,
        },
        status=400 if form.errors else 200,
    )


# --- one sample ---------------------------------------------------------------------------------


@needs_permission(VIEW)
@require_http_methods(["GET", "POST"])
def sample_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    sample = _sample_or_404(programme, pk)
    can_delete = request.user.has_perm("understand.delete_codingsample") or (
        sample.created_by_id == request.user.pk
    )
    if request.method == "POST":
        if request.POST.get("action") != "delete" or not can_delete:
            raise PermissionDenied
        if request.POST.get("confirm") != "yes":
            messages.error(request, "Tick the box to confirm that you want to delete the sample.")
            return redirect("understand:double_sample", slug, pk)
        name = sample.name
        double.delete_sample(sample, request.user)
        messages.success(request, f"Sample ‘{name}’ deleted.")
        return redirect("understand:double_coding", slug)
    n = sample.submissions.count()
    coded = dict(
        sample.codings.values_list("coder").annotate(n=Count("id")).values_list("coder", "n")
    )
    coders = [(c, coded.get(c.pk, 0)) for c in sample.coders.order_by("username")]
    found = double.items(sample)
    return render(
        request,
        "understand/double_sample.html",
        {
            "programme": programme,
            "sample": sample,
            "n": n,
            "coders": coders,
            "is_coder": any(c.pk == request.user.pk for c, _ in coders),
            "complete": len(found),
            "disagreements": sum(1 for i in found if i.disagree),
            "resolved": sum(1 for i in found if i.disagree and i.resolved),
            "settings": double.draw_settings(sample),
            "can_delete": can_delete,
            "history": double.sample_history(sample),
            "page_title": f"Double coding: {sample.name}",
        },
    )


# --- the coder's view -------------------------------------------------------------------------


def _code_groups(programme: Programme, words: str) -> list[tuple[str, list[Code]]]:
    """The programme's codes under their home theme (themes in board order, then codes with no
    theme), narrowed to those whose label or theme contains ``words``."""
    codes = list(programme.codes.select_related("theme").order_by("label"))
    words = words.lower()
    groups: dict[Any, list[Code]] = {}
    for code in codes:
        theme = code.theme
        if (
            words
            and words not in code.label.lower()
            and not (theme and words in theme.label.lower())
        ):
            continue
        groups.setdefault(theme, []).append(code)
    themed = sorted((t for t in groups if t is not None), key=lambda t: (t.position, t.label))
    out = [(t.label, groups[t]) for t in themed]
    if None in groups:
        out.append(("Not in a theme", groups[None]))
    return out


@needs_permission("understand.view_code")
def code_start(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Send the coder to the first submission they have not coded yet."""
    programme = programme_or_404(slug)
    sample = _sample_or_404(programme, pk)
    if not sample.coders.filter(pk=request.user.pk).exists():
        raise PermissionDenied
    done = set(sample.codings.filter(coder=request.user).values_list("submission_id", flat=True))
    subs = double.submissions_of(sample)
    position = next((i for i, s in enumerate(subs, start=1) if s.pk not in done), 1)
    return redirect("understand:double_code", slug, pk, position)


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest, slug: str, pk: int, position: int) -> HttpResponse:
    """One submission of the sample for its coder to code, blind to the other coders and the AI."""
    programme = programme_or_404(slug)
    sample = _sample_or_404(programme, pk)
    if not sample.coders.filter(pk=request.user.pk).exists():
        raise PermissionDenied
    subs = double.submissions_of(sample)
    if not 1 <= position <= len(subs):
        return redirect("understand:double_code_start", slug, pk)
    submission = subs[position - 1]
    coding = SampleCoding.objects.filter(
        sample=sample, submission=submission, coder=request.user
    ).first()
    mine = set(coding.codes.values_list("pk", flat=True)) if coding else set()
    if request.method == "POST":
        picked = request.POST.getlist("codes") + request.POST.getlist("keep")
        try:
            ids = [int(c) for c in picked]
        except ValueError:
            ids = None
        if ids is None:
            messages.error(request, "Choose codes from the list.")
            return redirect("understand:double_code", slug, pk, position)
        double.save_coding(sample, submission, request.user, ids)
        n = len(set(ids))
        messages.success(
            request,
            f"Saved your coding of submission {position} ({n} code{'' if n == 1 else 's'}).",
        )
        words = (request.POST.get("filter") or "").strip()[:100]
        then = (
            position + 1
            if request.POST.get("then") == "next" and position < len(subs)
            else position
        )
        target = reverse("understand:double_code", args=[slug, pk, then])
        if words and then == position:
            target += "?" + urlencode({"filter": words})
        return redirect(target)
    words = (request.GET.get("filter") or "").strip()[:100]
    groups = _code_groups(programme, words)
    shown = {c.pk for _, codes in groups for c in codes}
    hidden = list(Code.objects.filter(pk__in=mine - shown).order_by("label"))
    done = double.progress(sample, request.user)
    return render(
        request,
        "understand/double_code.html",
        {
            "programme": programme,
            "sample": sample,
            "submission": submission,
            "position": position,
            "total": len(subs),
            "done": done,
            "coded": coding is not None,
            "mine": mine,
            "groups": groups,
            "hidden": hidden,
            "filter": words,
            "previous_url": (
                reverse("understand:double_code", args=[slug, pk, position - 1])
                if position > 1
                else None
            ),
            "next_url": (
                reverse("understand:double_code", args=[slug, pk, position + 1])
                if position < len(subs)
                else None
            ),
            "page_title": f"Code submission {position} of {len(subs)}: {sample.name}",
        },
    )


# --- agreement --------------------------------------------------------------------------------


@needs_permission(VIEW)
def agreement(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    sample = _sample_or_404(programme, pk)
    result = double.agreement(sample)
    left = 0
    if sample.coders.filter(pk=request.user.pk).exists():
        left = sample.submissions.count() - double.progress(sample, request.user)
    return render(
        request,
        "understand/double_agreement.html",
        {
            "programme": programme,
            "sample": sample,
            "result": result,
            "left": left,
            "min_uses": double.MIN_USES,
            "bands": [
                ("Below 0", "Poor"),
                ("0 to 0.20", "Slight"),
                ("0.21 to 0.40", "Fair"),
                ("0.41 to 0.60", "Moderate"),
                ("0.61 to 0.80", "Substantial"),
                ("0.81 to 1", "Almost perfect"),
            ],
            "page_title": f"Agreement: {sample.name}",
        },
    )


# --- resolving disagreements ------------------------------------------------------------------


@needs_permission(VIEW)
@require_http_methods(["GET", "POST"])
def resolve(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    programme = programme_or_404(slug)
    sample = _sample_or_404(programme, pk)
    here = reverse("understand:double_resolve", args=[slug, pk])
    if request.method == "POST":
        return _resolve_post(request, sample, here)
    coders = list(sample.coders.order_by("username"))
    me = next((c for c in coders if c.pk == request.user.pk), None)
    left = 0
    if me is not None:
        left = sample.submissions.count() - double.progress(sample, me)
    found = double.items(sample)
    agreed = [i for i in found if not i.disagree]
    disputed = [i for i in found if i.disagree]
    page = Paginator(disputed, RESOLVE_PAGE_SIZE).get_page(request.GET.get("page"))
    needed = set()
    for item in page.object_list:
        needed |= item.any
        if item.resolution is not None:
            needed |= {c.pk for c in item.resolution.codes.all()}
    labels = {c.pk: c for c in Code.objects.filter(pk__in=needed)}
    for item in page.object_list:
        item.rows = [
            (labels[c], [c in chosen for chosen in item.by_coder])
            for c in sorted(item.any, key=lambda c: labels[c].label.lower())
        ]
        item.ticked = (
            {c.pk for c in item.resolution.codes.all()} if item.resolution else item.agreed
        )
        item.extra = sorted(
            (labels[c] for c in item.ticked - item.any), key=lambda c: c.label.lower()
        )
    return render(
        request,
        "understand/double_resolve.html",
        {
            "programme": programme,
            "sample": sample,
            "coders": coders,
            "blind": me is not None and left > 0,
            "left": left,
            "complete": len(found),
            "agreed": len(agreed),
            "agreed_applied": sum(1 for i in agreed if i.resolved),
            "disputed": len(disputed),
            "disputed_resolved": sum(1 for i in disputed if i.resolved),
            "page": page,
            "all_codes": programme.codes.order_by("label"),
            "can_resolve": request.user.has_perm("understand.change_codeassignment"),
            "undoable": undoable(programme),
            "page_title": f"Resolve disagreements: {sample.name}",
        },
    )


def _resolve_post(request: HttpRequest, sample: CodingSample, here: str) -> HttpResponse:
    if not request.user.has_perm("understand.change_codeassignment"):
        messages.error(request, "You do not have permission to code submissions.")
        return redirect(here)
    page = request.POST.get("page") or "1"
    back = f"{here}?page={page}" if page.isdigit() and page != "1" else here
    if request.POST.get("action") == "apply_agreed":
        n = double.apply_agreed(sample, request.user)
        if n:
            messages.success(
                request,
                f"Applied the agreed codes to {n:,} submission{'' if n == 1 else 's'} where the "
                "coders fully agreed. Each can be undone on the history page.",
            )
        else:
            messages.info(request, "There were no fully agreed submissions left to apply.")
        return redirect(back)
    submission = get_object_or_404(sample.submissions.all(), pk=request.POST.get("submission") or 0)
    coders = list(sample.coders.all())
    if SampleCoding.objects.filter(sample=sample, submission=submission).count() < len(coders):
        messages.error(request, "Every coder must code this submission before it is resolved.")
        return redirect(back)
    picked = request.POST.getlist("codes")
    other = request.POST.get("other") or ""
    if other:
        picked.append(other)
    try:
        ids = [int(c) for c in picked]
    except ValueError:
        messages.error(request, "Choose codes from the list.")
        return redirect(back)
    double.resolve(sample, submission, ids, request.user)
    ref = submission.reference or submission.pk
    n = len(set(ids))
    messages.success(
        request,
        f"Submission {ref} resolved and coded with {n} code{'' if n == 1 else 's'}. "
        "You can undo this below or on the history page.",
    )
    return redirect(f"{back}#submission-{submission.pk}")


PREFIX = "programmes/<slug:slug>/analysis/double-coding/"
urlpatterns = [
    path(PREFIX, sample_list, name="double_coding"),
    path(f"{PREFIX}new/", sample_new, name="double_new"),
    path(f"{PREFIX}<int:pk>/", sample_detail, name="double_sample"),
    path(f"{PREFIX}<int:pk>/code/", code_start, name="double_code_start"),
    path(f"{PREFIX}<int:pk>/code/<int:position>/", code, name="double_code"),
    path(f"{PREFIX}<int:pk>/agreement/", agreement, name="double_agreement"),
    path(f"{PREFIX}<int:pk>/resolve/", resolve, name="double_resolve"),
]
