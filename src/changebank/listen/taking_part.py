"""Taking part: storing the answers of the public form, shared by the web form and the API."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils import timezone

from .forms import EQUALITY_QUESTIONS, SubmissionForm
from .models import Programme, Respondent, Submission, new_reference
from .privacy_ingest import text_fields


def form_rate_scope(programme: Programme) -> str:
    """The per-address hourly limit's scope for a programme's public form (web and API alike)."""
    return f"form-rate:{programme.pk}"


def save_answers(programme: Programme, form: SubmissionForm) -> str:
    """Store a valid public form (one respondent, a submission per free-text answer, pending
    moderation) in one transaction; return the reference number the contributor keeps."""
    data = form.cleaned_data
    reference = new_reference()
    while Submission.objects.filter(reference=reference).exists():
        reference = new_reference()
    equality = {
        label: data[f"eq_{key}"]
        for key, (label, _) in EQUALITY_QUESTIONS.items()
        if data.get(f"eq_{key}")
    }
    answers = {
        q.prompt: data[f"q_{q.key}"]
        for q in form.questions
        if q.kind != q.Kind.FREE_TEXT and data.get(f"q_{q.key}")
    }
    workstream = (
        programme.workstreams.filter(pk=data["workstream"]).first()
        if data.get("workstream")
        else None
    )
    now = timezone.now()
    names = programme.names_to_redact()
    with transaction.atomic():
        respondent = Respondent.objects.create(
            programme=programme,
            role=data.get("role") or "",
            organisation=data.get("organisation", ""),
            sector=data.get("sector") or "",
            equality=equality,
        )
        for q in form.free_text_questions():
            text = data.get(f"q_{q.key}")
            if not text:
                continue
            Submission.objects.create(
                programme=programme,
                question=q,
                respondent=respondent,
                workstream=workstream,
                **text_fields(programme, text, names=names),
                answers=answers,
                source=Submission.Source.FORM,
                received_at=now,
                moderation_status=Submission.Moderation.PENDING,
                consent_given=bool(data.get("consent")) if programme.consent_text else None,
                consent_wording=programme.consent_text,
                reference=reference,
                dedupe_key=hashlib.sha256(f"form:{reference}:{q.key}".encode()).hexdigest(),
            )
    return reference
