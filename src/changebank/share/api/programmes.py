"""Public endpoints: programmes and their open forms, and taking part through the API.

Anyone may read a public programme (listed) or an unlisted one (by its slug); private programmes
do not exist here. A submission goes through the very form the website uses
(:class:`~changebank.listen.forms.SubmissionForm`: the same validation and consent; its honeypot
field, a trap for bots filling in web pages, stays empty) and is saved by the same function, so
it waits for moderation like any other and shares the per-address hourly limit of the web form.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import ConfigDict

from changebank.core import ratelimit
from changebank.listen.forms import EQUALITY_QUESTIONS, PREFER_NOT, SECTORS, SubmissionForm
from changebank.listen.models import Programme, Question, Role
from changebank.listen.taking_part import form_rate_scope, save_answers

from .schemas import (
    NO_NUL,
    SLUG_PATH,
    Error,
    Id,
    PageMeta,
    Paging,
    ValidationErrorOut,
    errors_at,
    page,
)

router = Router(tags=["Programmes"])


class QuestionOut(Schema):
    key: str
    prompt: str
    hint: str
    kind: Literal["free_text", "choice", "rating"]
    required: bool
    choices: list[str] = Field(description="The options of a choice question.")
    rating_min: int | None
    rating_max: int | None
    max_length: int | None = Field(description="The longest answer a free-text question takes.")


class WorkstreamOut(Schema):
    id: int
    name: str


class ProgrammeOut(Schema):
    slug: str
    title: str
    summary: str
    organiser: str
    opens_on: dt.date | None
    closes_on: dt.date | None
    open: bool = Field(description="Whether it takes submissions today.")
    url: str = Field(description="The programme's page on the website.")
    questions: list[QuestionOut] = Field(description="The questions of the public form.")


class ProgrammeDetail(ProgrammeOut):
    description: str
    consent_text: str = Field(description="What contributors agree to; if set, consent is needed.")
    workstreams: list[WorkstreamOut]
    roles: list[str] = Field(description="The roles a contributor may give.")
    sectors: list[str]
    equality: dict[str, list[str]] = Field(
        description="Optional equality-monitoring questions and their answers."
    )


class ProgrammePage(PageMeta):
    items: list[ProgrammeOut]


Answer = str | int


Sector = Literal[tuple(value for value, _ in SECTORS)]  # type: ignore[valid-type]


def _equality_answer(key: str) -> Any:
    return Literal[(*EQUALITY_QUESTIONS[key][1], PREFER_NOT)]  # type: ignore[valid-type]


class EqualityIn(Schema):
    """Equality monitoring, all optional; see the programme's ``equality`` for the answers."""

    model_config = ConfigDict(extra="forbid")

    age: _equality_answer("age") | None = None  # type: ignore[valid-type]
    sex: _equality_answer("sex") | None = None  # type: ignore[valid-type]
    disability: _equality_answer("disability") | None = None  # type: ignore[valid-type]
    ethnicity: _equality_answer("ethnicity") | None = None  # type: ignore[valid-type]


class SubmissionIn(Schema):
    answers: dict[str, Answer] = Field(
        description="Question key → answer: text for free-text questions, one of the choices for "
        "choice questions, a whole number for ratings. At least one free-text answer is needed."
    )
    role: Literal["", "staff", "patient", "carer", "public", "other"] = ""
    organisation: str = Field("", max_length=200, pattern=NO_NUL)
    sector: Sector = ""
    workstream: Id | None = None
    equality: EqualityIn = Field(default_factory=EqualityIn)
    consent: bool = Field(
        False, description="Agreement to the programme's consent text (needed when it has one)."
    )


class SubmissionCreated(Schema):
    reference: str = Field(description="The reference to keep, for example CB-7K3M-Q9XD.")
    programme: str
    moderation: Literal["pending"] = "pending"
    submissions: int = Field(description="One for each free-text answer.")


def _with_questions(qs: QuerySet[Programme]) -> QuerySet[Programme]:
    on_form = Question.objects.filter(on_form=True).order_by("position", "id")
    return qs.prefetch_related(Prefetch("questions", on_form, to_attr="form_questions"))


def _programme(slug: str) -> Programme:
    programme = (
        _with_questions(Programme.objects.exclude(visibility=Programme.Visibility.PRIVATE))
        .filter(slug=slug)
        .first()
    )
    if programme is None:
        raise Http404("No such programme.")
    return programme


def _summary(p: Programme) -> dict[str, Any]:
    from django.urls import reverse

    return {
        "slug": p.slug,
        "title": p.title,
        "summary": p.summary,
        "organiser": p.organiser,
        "opens_on": p.opens_on,
        "closes_on": p.closes_on,
        "open": p.is_open(),
        "url": reverse("listen:programme_detail", args=[p.slug]),
        "questions": [_question(q) for q in p.form_questions],
    }


def _question(q: Question) -> dict[str, Any]:
    rating = q.kind == Question.Kind.RATING
    return {
        "key": q.key,
        "prompt": q.prompt,
        "hint": q.hint,
        "kind": q.kind,
        "required": q.required,
        "choices": list(q.choices or []) if q.kind == Question.Kind.CHOICE else [],
        "rating_min": q.rating_min if rating else None,
        "rating_max": q.rating_max if rating else None,
        "max_length": q.max_length if q.kind == Question.Kind.FREE_TEXT else None,
    }


@router.get(
    "/programmes",
    response={200: ProgrammePage, 422: ValidationErrorOut},
    summary="List the public programmes",
)
def list_programmes(request: HttpRequest, paging: Query[Paging]) -> dict:
    qs = _with_questions(Programme.objects.filter(visibility=Programme.Visibility.PUBLIC))
    return page(qs.order_by("title", "id"), paging, _summary)


@router.get(
    "/programmes/{slug}",
    response={200: ProgrammeDetail, 404: Error, 422: ValidationErrorOut},
    summary="A programme and the questions of its public form",
)
def get_programme(request: HttpRequest, slug: str = SLUG_PATH) -> dict:
    p = _programme(slug)
    return {
        **_summary(p),
        "description": p.description,
        "consent_text": p.consent_text,
        "workstreams": [{"id": w.pk, "name": w.name} for w in p.workstreams.all()],
        "roles": [value for value, _ in Role.choices],
        "sectors": [value for value, _ in SECTORS if value],
        "equality": {key: options for key, (_label, options) in EQUALITY_QUESTIONS.items()},
    }


def _form_data(programme: Programme, payload: SubmissionIn) -> tuple[dict, list[dict]]:
    """The API payload as the web form's fields, and problems the form cannot see."""
    keys = {q.key for q in programme.form_questions}
    problems: list[dict] = []
    data: dict[str, Any] = {
        "role": payload.role,
        "organisation": payload.organisation,
        "sector": payload.sector,
        "workstream": str(payload.workstream) if payload.workstream else "",
    }
    if payload.consent:
        data["consent"] = "on"
    for key, value in payload.answers.items():
        if key not in keys:
            problems += errors_at(["body", "answers", key], {"": ["No such question."]})
        else:
            data[f"q_{key}"] = str(value)
    for key, value in payload.equality.model_dump(exclude_none=True).items():
        data[f"eq_{key}"] = value
    return data, problems


def _locate(field: str) -> list[str | int]:
    if field.startswith("q_"):
        return ["body", "answers", field[2:]]
    if field.startswith("eq_"):
        return ["body", "equality", field[3:]]
    return ["body", field] if field != "__all__" else ["body"]


@router.post(
    "/programmes/{slug}/submissions",
    response={
        201: SubmissionCreated,
        400: Error,
        404: Error,
        409: Error,
        422: ValidationErrorOut,
        429: Error,
    },
    summary="Take part: answer a programme's open form",
    description="Answers wait for moderation before anyone else sees them. Each address may "
    "send a limited number of responses an hour (the web form's limit, shared with it).",
)
def submit(request: HttpRequest, payload: SubmissionIn, slug: str = SLUG_PATH) -> Any:
    programme = _programme(slug)
    if not programme.is_open():
        raise HttpError(409, "This programme is not taking submissions now.")
    limit = settings.CHANGEBANK_FORM_RATE_LIMIT
    if ratelimit.limit_reached(request, form_rate_scope(programme), limit):
        raise HttpError(429, f"Too many responses from this address: at most {limit} an hour.")
    data, problems = _form_data(programme, payload)
    form = SubmissionForm(programme, data)
    if problems or not form.is_valid():
        problems += [
            {"type": "value_error", "loc": _locate(field), "msg": str(message)}
            for field, messages in form.errors.items()
            for message in messages
        ]
        raise ValidationError(problems)
    reference = save_answers(programme, form)
    ratelimit.count(request, form_rate_scope(programme))
    n = programme.submissions.filter(reference=reference).count()
    return Status(201, {"reference": reference, "programme": programme.slug, "submissions": n})
