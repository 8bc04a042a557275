"""Analysts' endpoints: a programme's codes, its codings (who is coded with what) and submissions.

Reads need ``understand.view_code`` (submissions: ``listen.view_submission``; their text as written
needs ``listen.view_original_text``, otherwise it is redacted). Writes need the permissions the
web pages check (``understand.add_code``, ``understand.change_code``,
``understand.change_codeassignment``) and go through :mod:`changebank.understand.board`, the same
functions the theme board and the coding page call: each change is one transaction, recorded in
the audit trail against the caller, listed in the programme's history of changes and undoable
there; setting a submission's codes is kept as a coding decision for the active-learning loop.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError, ValidationError

from changebank.listen.models import Programme, Submission
from changebank.share.privacy import public_text
from changebank.understand import board
from changebank.understand.models import Code, CodeAssignment, CodeSpan, Origin, Theme

from .auth import acting, require, signed_in
from .programmes import router as programmes_router
from .schemas import (
    BODY_ERRORS,
    NO_NUL,
    SIGNED_IN_ERRORS,
    SLUG_PATH,
    Error,
    Id,
    PageMeta,
    Paging,
    ValidationErrorOut,
    page,
)

router = Router(tags=["Analysts: codes and codings"], auth=signed_in)

VIEW = "understand.view_code"
ADD = "understand.add_code"
CHANGE = "understand.change_code"
CODE = "understand.change_codeassignment"
VIEW_SUBMISSIONS = "listen.view_submission"
ORIGINAL = "listen.view_original_text"


def _ok(status: int, schema: Any, *, body: bool = False) -> dict[int, Any]:
    return {status: schema, **SIGNED_IN_ERRORS, **(BODY_ERRORS if body else {})}


# --- shapes ---------------------------------------------------------------------------------------


class ThemeRef(Schema):
    id: int
    label: str


class CodeOut(Schema):
    id: int
    label: str
    description: str
    theme: ThemeRef | None = Field(description="The code's home theme.")
    also_in: list[ThemeRef] = Field(description="Other themes the code sits under.")
    origin: Literal["ai", "human"]
    status: Literal["suggested", "accepted"]
    keywords: list[str]
    submissions: int = Field(description="Submissions coded with it.")
    human_codings: int = Field(description="Codings decided by an analyst.")
    ai_codings: int = Field(description="Codings suggested by the analysis, not yet decided.")
    needs_review: int = Field(description="Suggestions the analysis was unsure of.")


class CodePage(PageMeta):
    items: list[CodeOut]


class CodeFilters(Schema):
    theme: Id | None = Field(None, description="Codes whose home theme this is.")
    q: str | None = Field(None, max_length=200, pattern=NO_NUL, description="Words in the label.")


class CodeIn(Schema):
    label: str = Field(..., min_length=1, max_length=200, pattern=NO_NUL)
    description: str = Field("", max_length=5000, pattern=NO_NUL)
    theme: Id | None = Field(None, description="The theme to put the code under.")


class CodePatch(Schema):
    label: str | None = Field(None, min_length=1, max_length=200, pattern=NO_NUL)
    description: str | None = Field(None, max_length=5000, pattern=NO_NUL)
    theme: Id | None = Field(
        None, description="Move the code to this theme; null takes it out of its theme."
    )


class Span(Schema):
    start: int
    end: int


class CodingOut(Schema):
    id: int
    submission: int
    reference: str
    code: int
    code_label: str
    primary: bool
    origin: Literal["ai", "human"]
    confidence: float | None
    needs_review: bool
    decided_by: str | None = Field(description="The analyst who decided it.")
    decided_at: dt.datetime
    spans: list[Span] = Field(description="Character offsets of the words coded (end exclusive).")


class CodingPage(PageMeta):
    items: list[CodingOut]


class CodingFilters(Schema):
    code: Id | None = None
    submission: Id | None = None
    origin: Literal["ai", "human"] | None = None
    needs_review: bool | None = None


class CodesIn(Schema):
    codes: list[Id] = Field(..., max_length=500, description="Every code the submission has.")


class SubmissionCodes(Schema):
    submission: int
    codes: list[CodingOut]


class SubmissionOut(Schema):
    id: int
    reference: str
    question: str | None = Field(description="The key of the question it answers.")
    text: str
    redacted: bool = Field(description="True when personal data was replaced by placeholders.")
    source: str
    received_at: dt.datetime
    moderation: Literal["pending", "approved", "rejected"]
    role: str
    codes: list[int]


class SubmissionPage(PageMeta):
    items: list[SubmissionOut]


class SubmissionFilters(Schema):
    code: Id | None = Field(None, description="Submissions coded with this code.")
    question: str | None = Field(None, max_length=80, pattern=NO_NUL)
    source: Literal["form", "import", "document", "transcript", "pulse", "experience"] | None = None
    moderation: Literal["pending", "approved", "rejected"] | None = None
    coded: bool | None = Field(None, description="Only submissions with (or without) codes.")
    q: str | None = Field(
        None,
        max_length=200,
        pattern=NO_NUL,
        description="Words in the text (needs listen.view_original_text).",
    )


# --- helpers --------------------------------------------------------------------------------------


def _programme(request: HttpRequest, slug: str) -> Programme:
    programme = Programme.objects.visible_to(request.auth).filter(slug=slug).first()  # type: ignore[attr-defined]
    if programme is None:
        raise Http404("No such programme.")
    return programme


def _codes(programme: Programme) -> Any:
    return (
        programme.codes.select_related("theme")
        .prefetch_related("also_in")
        .annotate(
            human_codings=Count("assignments", filter=Q(assignments__origin=Origin.HUMAN)),
            ai_codings=Count("assignments", filter=Q(assignments__origin=Origin.AI)),
            review=Count(
                "assignments",
                filter=Q(assignments__origin=Origin.AI, assignments__needs_review=True),
            ),
        )
        .order_by("position", "id")
    )


def _code_out(code: Code) -> dict[str, Any]:
    return {
        "id": code.pk,
        "label": code.label,
        "description": code.description,
        "theme": {"id": code.theme.pk, "label": code.theme.label} if code.theme else None,
        "also_in": [{"id": t.pk, "label": t.label} for t in code.also_in.all()],
        "origin": code.origin,
        "status": code.status,
        "keywords": [str(k) for k in code.keywords or []],
        "submissions": code.size,
        "human_codings": code.human_codings,
        "ai_codings": code.ai_codings,
        "needs_review": code.review,
    }


def _codings(programme: Programme) -> Any:
    return (
        CodeAssignment.objects.filter(code__programme=programme)
        .select_related("code", "submission", "decided_by")
        .prefetch_related(Prefetch("spans", queryset=CodeSpan.objects.order_by("start", "end")))
        .order_by("id")
    )


def _coding_out(a: CodeAssignment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "submission": a.submission_id,
        "reference": a.submission.reference,
        "code": a.code_id,
        "code_label": a.code.label,
        "primary": a.primary,
        "origin": a.origin,
        "confidence": a.confidence,
        "needs_review": a.needs_review,
        "decided_by": a.decided_by.get_username() if a.decided_by else None,
        "decided_at": a.decided_at,
        "spans": [{"start": s.start, "end": s.end} for s in a.spans.all()],
    }


def _theme(programme: Programme, theme_id: int | None, field: str) -> Theme | None:
    if theme_id is None:
        return None
    theme = Theme.objects.filter(programme=programme, pk=theme_id).first()
    if theme is None:
        raise ValidationError(
            [{"type": "value_error", "loc": ["body", field], "msg": "No such theme here."}]
        )
    return theme


def _invalid(error: DjangoValidationError, loc: list[str | int]) -> ValidationError:
    return ValidationError(
        [{"type": "value_error", "loc": loc, "msg": message} for message in error.messages]
    )


# --- codes ----------------------------------------------------------------------------------------


@router.get("/programmes/{slug}/codes", response=_ok(200, CodePage), summary="List codes")
def list_codes(
    request: HttpRequest,
    filters: Query[CodeFilters],
    paging: Query[Paging],
    slug: str = SLUG_PATH,
) -> dict:
    require(request, VIEW)
    programme = _programme(request, slug)
    qs = _codes(programme)
    if filters.theme is not None:
        qs = qs.filter(theme_id=filters.theme)
    for word in (filters.q or "").split()[:8]:
        qs = qs.filter(label__icontains=word)
    return page(qs, paging, _code_out)


@router.get("/programmes/{slug}/codes/{code_id}", response=_ok(200, CodeOut), summary="A code")
def get_code(request: HttpRequest, code_id: Id, slug: str = SLUG_PATH) -> dict:
    require(request, VIEW)
    programme = _programme(request, slug)
    code = _codes(programme).filter(pk=code_id).first()
    if code is None:
        raise Http404("No such code.")
    return _code_out(code)


@router.post(
    "/programmes/{slug}/codes",
    response=_ok(201, CodeOut, body=True),
    summary="Create a code",
    description="Recorded in the programme's history of changes, where it can be undone.",
)
def create_code(request: HttpRequest, payload: CodeIn, slug: str = SLUG_PATH) -> Status:
    require(request, VIEW, ADD)
    programme = _programme(request, slug)
    theme = _theme(programme, payload.theme, "theme")
    with acting(request) as user:
        try:
            code = board.create_code(programme, payload.label, user, theme=theme)
            if payload.description.strip():
                board.edit_code(code, user, description=payload.description)
        except DjangoValidationError as error:
            raise _invalid(error, ["body", "label"]) from error
    return Status(201, _code_out(_codes(programme).get(pk=code.pk)))


@router.patch(
    "/programmes/{slug}/codes/{code_id}",
    response=_ok(200, CodeOut, body=True),
    summary="Rename a code, describe it or move it to another theme",
    description="Fields left out stay as they are. A new label or description is one change in "
    "the history, a move to another theme another; each can be undone.",
)
def edit_code(request: HttpRequest, code_id: Id, payload: CodePatch, slug: str = SLUG_PATH) -> dict:
    require(request, VIEW, CHANGE)
    programme = _programme(request, slug)
    code = Code.objects.select_related("programme", "theme").filter(programme=programme, pk=code_id)
    code = code.first()
    if code is None:
        raise Http404("No such code.")
    given = payload.model_fields_set
    if "label" in given and payload.label is None:
        raise ValidationError(
            [{"type": "value_error", "loc": ["body", "label"], "msg": "A code needs a label."}]
        )
    theme = _theme(programme, payload.theme, "theme") if "theme" in given else None
    with acting(request) as user:
        try:
            label = payload.label if "label" in given else None
            description = payload.description if "description" in given else None
            if (label is not None and " ".join(label.split()) != code.label) or (
                description is not None and description.strip() != code.description
            ):
                board.edit_code(code, user, label=label, description=description)
            if "theme" in given and (theme.pk if theme else None) != code.theme_id:
                board.move_code(code, theme, user)
        except DjangoValidationError as error:
            raise _invalid(error, ["body"]) from error
    return _code_out(_codes(programme).get(pk=code.pk))


# --- codings --------------------------------------------------------------------------------------


@router.get(
    "/programmes/{slug}/codings",
    response=_ok(200, CodingPage),
    summary="List codings: which submission is coded with which code",
)
def list_codings(
    request: HttpRequest,
    filters: Query[CodingFilters],
    paging: Query[Paging],
    slug: str = SLUG_PATH,
) -> dict:
    require(request, VIEW)
    programme = _programme(request, slug)
    qs = _codings(programme)
    if filters.code is not None:
        qs = qs.filter(code_id=filters.code)
    if filters.submission is not None:
        qs = qs.filter(submission_id=filters.submission)
    if filters.origin is not None:
        qs = qs.filter(origin=filters.origin)
    if filters.needs_review is not None:
        qs = qs.filter(needs_review=filters.needs_review)
    return page(qs, paging, _coding_out)


def _submission(programme: Programme, submission_id: int) -> Submission:
    submission = (
        Submission.objects.select_related("programme")
        .filter(programme=programme, pk=submission_id)
        .first()
    )
    if submission is None:
        raise Http404("No such submission.")
    return submission


def _submission_codes(programme: Programme, submission: Submission) -> dict[str, Any]:
    return {
        "submission": submission.pk,
        "codes": [_coding_out(a) for a in _codings(programme).filter(submission=submission)],
    }


@router.put(
    "/programmes/{slug}/submissions/{submission_id}/codes",
    response=_ok(200, SubmissionCodes, body=True),
    summary="Set the codes of a submission",
    description="The submission ends up coded with exactly these codes, as an analyst's decision "
    "(like saving the coding page): codes it keeps become the analyst's, others are removed. "
    "Recorded in the history of changes (undoable) and as a coding decision for retraining.",
)
def set_codes(
    request: HttpRequest, submission_id: Id, payload: CodesIn, slug: str = SLUG_PATH
) -> dict:
    require(request, VIEW, CODE)
    programme = _programme(request, slug)
    submission = _submission(programme, submission_id)
    known = set(
        Code.objects.filter(programme=programme, pk__in=payload.codes).values_list("pk", flat=True)
    )
    unknown = [
        {"type": "value_error", "loc": ["body", "codes", i], "msg": "No such code here."}
        for i, c in enumerate(payload.codes)
        if c not in known
    ]
    if unknown:
        raise ValidationError(unknown)
    with acting(request) as user:
        board.set_codes(submission, list(dict.fromkeys(payload.codes)), user)
    return _submission_codes(programme, submission)


@router.delete(
    "/programmes/{slug}/codings/{coding_id}",
    response=_ok(204, None),
    summary="Remove one coding",
    description="Takes the code off the submission and keeps its other codes, which become the "
    "analyst's decision, as when a suggestion is rejected on the coding page. Recorded in the "
    "history of changes (undoable) and as a coding decision.",
)
def delete_coding(request: HttpRequest, coding_id: Id, slug: str = SLUG_PATH) -> Status:
    require(request, VIEW, CODE)
    programme = _programme(request, slug)
    coding = (
        CodeAssignment.objects.select_related("code", "submission", "submission__programme")
        .filter(code__programme=programme, pk=coding_id)
        .first()
    )
    if coding is None:
        raise Http404("No such coding.")
    submission = coding.submission
    keep = [
        c
        for c in submission.code_assignments.values_list("code_id", flat=True)
        if c != coding.code_id
    ]
    summary = (
        f"Removed ‘{coding.code.label}’ from submission {submission.reference or submission.pk}"
    )
    with acting(request) as user:
        board.set_codes(submission, keep, user, summary=summary)
    return Status(204, None)


# --- submissions ----------------------------------------------------------------------------------


# The same path as the public POST (taking part), so on the same router: ninja routes a path to
# one router only.
@programmes_router.get(
    "/programmes/{slug}/submissions",
    auth=signed_in,
    tags=["Analysts: codes and codings"],
    response=_ok(200, SubmissionPage),
    summary="List a programme's submissions",
    description="The text is as written for people with `listen.view_original_text`, otherwise "
    "redacted (personal data replaced by placeholders).",
)
def list_submissions(
    request: HttpRequest,
    filters: Query[SubmissionFilters],
    paging: Query[Paging],
    slug: str = SLUG_PATH,
) -> dict:
    user = require(request, VIEW_SUBMISSIONS)
    programme = _programme(request, slug)
    original = user.has_perm(ORIGINAL)
    qs = (
        Submission.objects.filter(programme=programme)
        .select_related("question", "respondent")
        .prefetch_related(
            Prefetch("code_assignments", queryset=CodeAssignment.objects.order_by("id"))
        )
        .order_by("id")
    )
    if filters.q:
        if not original:
            raise HttpError(403, "Searching the text needs permission to see it as written.")
        for word in filters.q.split()[:8]:
            qs = qs.filter(text__icontains=word)
    if filters.code is not None:
        qs = qs.filter(code_assignments__code_id=filters.code)
    if filters.question:
        qs = qs.filter(question__key=filters.question)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.moderation:
        qs = qs.filter(moderation_status=filters.moderation)
    if filters.coded is not None:
        qs = qs.filter(code_assignments__isnull=not filters.coded)
    qs = qs.distinct()

    def out(s: Submission) -> dict[str, Any]:
        return {
            "id": s.pk,
            "reference": s.reference,
            "question": s.question.key if s.question else None,
            "text": (s.original_text or s.text) if original else public_text(s.text),
            "redacted": not original,
            "source": s.source,
            "received_at": s.received_at,
            "moderation": s.moderation_status,
            "role": s.respondent.role if s.respondent else "",
            "codes": [a.code_id for a in s.code_assignments.all()],
        }

    return page(qs, paging, out)


__all__ = ["router", "Error", "ValidationErrorOut"]
