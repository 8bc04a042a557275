"""Pulse feedback on an adopted change: a public page (no account, no JavaScript) asking one
question, with an optional comment that also becomes a submission of the programme; and the
answers as CSV for staff.

The public page is reached by the change's pulse link. It is closed unless pulse feedback is open
and the change is being adopted; answers from one address are limited per hour.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from changebank.core import ratelimit
from changebank.core.forms import HoneypotForm
from changebank.core.permissions import needs_permission
from changebank.listen.models import Question, Respondent, Role, Submission, new_reference
from changebank.listen.privacy_ingest import text_fields
from changebank.share.exporters.csv import neutralise

from ..models import Helped, PulseResponse, TrackedChange
from .common import VIEW_CHANGE, page_title, programme_or_404, tracked_or_404

#: Answers one address may give to one change's pulse form in an hour.
PULSE_RATE_LIMIT = 20
MAX_TEXT = 2000
ROLES = [(r.value, r.label) for r in (Role.PATIENT, Role.CARER, Role.STAFF, Role.PUBLIC)]


class PulseForm(HoneypotForm):
    helped = forms.ChoiceField(
        choices=Helped.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose an answer: yes, partly, no or not sure.",
            "invalid_choice": "Choose an answer: yes, partly, no or not sure.",
        },
    )
    text = forms.CharField(
        label="Tell us more",
        widget=forms.Textarea,
        required=False,
        max_length=MAX_TEXT,
        help_text="What helped, what did not, and what could be better. Do not include names or "
        "anything else that could identify you or someone else. Up to 2,000 characters.",
        error_messages={"max_length": f"Enter at most {MAX_TEXT:,} characters."},
    )
    role = forms.ChoiceField(
        label="I am a…",
        choices=ROLES,
        widget=forms.RadioSelect,
        required=False,
        error_messages={"invalid_choice": "Choose one of the options, or none."},
    )
    consent = forms.BooleanField(required=False)

    # this form's messages end with a full stop
    honeypot_error = "Leave the field called ‘website’ empty. It is there to stop automated spam."

    def __init__(self, *args: Any, tracked: TrackedChange, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracked = tracked
        self.fields["helped"].label = tracked.pulse_question
        consent_text = tracked.programme.consent_text
        self.fields["consent"].label = "I agree to how my words will be used"
        self.fields["consent"].help_text = consent_text
        if not consent_text:
            del self.fields["consent"]

    def clean_text(self) -> str:
        return self.cleaned_data["text"].replace("\r\n", "\n").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "consent" in self.fields and data.get("text") and not data.get("consent"):
            self.add_error(
                "consent",
                "Confirm that you agree to how your words will be used, or leave the box "
                "‘Tell us more’ empty.",
            )
        return data


def save_pulse(tracked: TrackedChange, data: dict[str, Any]) -> PulseResponse:
    """Store the answer and, when there are words, a submission of the change's programme, in one
    transaction. The submission waits for review like any answer of the public form."""
    programme = tracked.programme
    with transaction.atomic():
        # the words are stored redacted (the original only on the submission, kept apart)
        fields = text_fields(programme, data["text"]) if data["text"] else {"text": ""}
        response = PulseResponse.objects.create(
            tracked=tracked, helped=data["helped"], text=fields["text"], role=data["role"]
        )
        if data["text"]:
            question, _ = Question.objects.get_or_create(
                programme=programme,
                key=f"pulse-{tracked.pk}",
                defaults={
                    "prompt": f"{tracked.pulse_question} ({tracked.title})",
                    "kind": Question.Kind.FREE_TEXT,
                    "on_form": False,
                    "max_length": MAX_TEXT,
                },
            )
            reference = new_reference()
            while Submission.objects.filter(reference=reference).exists():
                reference = new_reference()
            respondent = Respondent.objects.create(programme=programme, role=data["role"])
            consent = bool(data.get("consent")) if programme.consent_text else None
            submission = Submission.objects.create(
                programme=programme,
                question=question,
                respondent=respondent,
                **fields,
                answers={"helped": data["helped"], "role": data["role"]},
                source=Submission.Source.PULSE,
                received_at=response.received_at,
                moderation_status=Submission.Moderation.PENDING,
                consent_given=consent,
                consent_wording=programme.consent_text,
                reference=reference,
                dedupe_key=hashlib.sha256(f"pulse:{response.pk}".encode()).hexdigest(),
            )
            response.submission = submission
            response.save(update_fields=["submission"])
    return response


def _tracked_for(token: str) -> TrackedChange:
    return get_object_or_404(TrackedChange.objects.select_related("programme"), pulse_token=token)


def _scope(tracked: TrackedChange) -> str:
    return f"pulse-rate:{tracked.pk}"


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def pulse(request: HttpRequest, token: str) -> HttpResponse:
    tracked = _tracked_for(token)
    if not (tracked.pulse_open and tracked.adopted):
        return _private(
            render(
                request,
                "evaluate/pulse_closed.html",
                {
                    "tracked": tracked,
                    "heading": "Feedback on this change is closed",
                    "page_title": "Feedback is closed",
                },
            )
        )
    if request.method == "POST":
        if ratelimit.limit_reached(request, _scope(tracked), PULSE_RATE_LIMIT):
            return _private(
                render(
                    request,
                    "evaluate/pulse_closed.html",
                    {
                        "tracked": tracked,
                        "heading": "Too many answers from this connection",
                        "limit": PULSE_RATE_LIMIT,
                        "page_title": "Too many answers from this connection",
                    },
                    status=429,
                )
            )
        form = PulseForm(request.POST, tracked=tracked)
        if form.is_valid():
            response = save_pulse(tracked, form.cleaned_data)
            ratelimit.count(request, _scope(tracked))
            request.session[f"pulse-{tracked.pk}"] = (
                response.submission.reference if response.submission_id else ""
            )
            return redirect("evaluate:pulse_done", token)
    else:
        form = PulseForm(tracked=tracked)
    return _private(
        render(
            request,
            "evaluate/pulse.html",
            {
                "tracked": tracked,
                "form": form,
                "max_text": MAX_TEXT,
                "page_title": page_title(f"Feedback: {tracked.title}", form.errors),
            },
        )
    )


@never_cache
def pulse_done(request: HttpRequest, token: str) -> HttpResponse:
    tracked = _tracked_for(token)
    key = f"pulse-{tracked.pk}"
    if key not in request.session:
        return redirect("evaluate:pulse", token)
    return _private(
        render(
            request,
            "evaluate/pulse_done.html",
            {
                "tracked": tracked,
                "reference": request.session.get(key, ""),
                "page_title": "Thank you for your feedback",
            },
        )
    )


@needs_permission(VIEW_CHANGE)
def pulse_csv(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Every pulse answer of the change, safe to open in a spreadsheet."""
    programme = programme_or_404(slug)
    tracked = tracked_or_404(programme, pk)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["received_at", "question", "helped", "role", "text", "reference"])
    labels = dict(Helped.choices)
    for item in tracked.pulses.select_related("submission").order_by("received_at", "id"):
        writer.writerow(
            [
                timezone.localtime(item.received_at).isoformat(timespec="seconds"),
                neutralise(tracked.pulse_question),
                labels.get(item.helped, item.helped),
                neutralise(item.role),
                neutralise(item.text),
                neutralise(item.submission.reference if item.submission else ""),
            ]
        )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{programme.slug}-change-{tracked.pk}-pulse.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [
    path("pulse/<str:token>/", pulse, name="pulse"),
    path("pulse/<str:token>/done/", pulse_done, name="pulse_done"),
    path(
        "programmes/<slug:slug>/evaluate/changes/<int:pk>/pulse.csv",
        pulse_csv,
        name="pulse_csv",
    ),
]
