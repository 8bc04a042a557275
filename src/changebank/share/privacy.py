"""What may leave changebank: the one place that decides which submissions may be quoted or
published, and how their text is redacted. The catalogue, reports, open data, REFI-QDA project
exports for readers and the public API all go through here.

* A submission may be published when it is approved by moderation and its programme's
  ``publication_basis`` allows it: ``"consent"`` (the default) needs ``consent_given`` True;
  ``"all"`` takes every approved submission whose contributor did not refuse (``consent_given`` not
  False), for text that is already public (such as the published Friends and Family Test comments
  of the demo) or whose consent was collected outside changebank.
* Published text is always redacted with :func:`changebank.analysis.redact.redact`.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from changebank.analysis.redact import redact
from changebank.listen.models import Programme, Submission


def publishable(programme: Programme) -> QuerySet[Submission]:
    """The submissions of ``programme`` that may be quoted or published (text still to redact)."""
    qs = Submission.objects.filter(
        programme=programme, moderation_status=Submission.Moderation.APPROVED
    )
    if programme.publication_basis == "all":
        return qs.filter(Q(consent_given=True) | Q(consent_given=None))
    return qs.filter(consent_given=True)


def may_publish(submission: Submission) -> bool:
    return publishable(submission.programme).filter(pk=submission.pk).exists()


def public_text(text: str) -> str:
    """The text as it may be shown to the public: personal data replaced by placeholders."""
    return redact(text or "")
