"""The Listen stage's data: what a programme asks, who answered, and what they said."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from changebank.core.audit import audited

# Letters and digits that cannot be mistaken for each other when read aloud or written down.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    """A reference number such as ``CB-7K3M-Q9XD`` for a contributor to keep (31^8 ≈ 8.5e11)."""
    n = secrets.randbelow(len(REFERENCE_ALPHABET) ** 8)
    chars = []
    for _ in range(8):
        n, i = divmod(n, len(REFERENCE_ALPHABET))
        chars.append(REFERENCE_ALPHABET[i])
    return f"CB-{''.join(chars[:4])}-{''.join(chars[4:])}"


class ProgrammeQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> ProgrammeQuerySet:
        if user is not None and user.is_authenticated and user.has_perm("listen.view_programme"):
            return self
        return self.filter(visibility=Programme.Visibility.PUBLIC)


@audited
class Programme(models.Model):
    """A listening exercise: what it asks, when, of whom, and on what terms."""

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public: listed, and anyone can take part"
        UNLISTED = "unlisted", "Unlisted: anyone with the link can take part"
        PRIVATE = "private", "Private: staff only, imports only"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    organiser = models.CharField(max_length=200, blank=True, help_text="Who runs the programme.")
    opens_on = models.DateField(null=True, blank=True)
    closes_on = models.DateField(null=True, blank=True)
    consent_text = models.TextField(
        blank=True, help_text="What contributors agree to when they take part."
    )
    visibility = models.CharField(max_length=10, choices=Visibility, default=Visibility.PRIVATE)
    accepting_submissions = models.BooleanField(default=True)
    publication_basis = models.CharField(
        max_length=8,
        choices=[
            ("consent", "Only submissions whose contributors consented to publication"),
            (
                "all",
                "Every approved submission: the text is already public, or consent was "
                "collected outside changebank",
            ),
        ],
        default="consent",
        help_text="Which submissions may be quoted in the catalogue and reports and included "
        "in open data (always redacted).",
    )
    redact_names = models.TextField(
        blank=True,
        help_text="Names always to remove from what people write (staff, patients, places), one "
        "per line; whole words, any case. Applies to submissions received from now on.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete submissions this many days after they were received (empty: keep them).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProgrammeQuerySet.as_manager()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def is_open(self, today: Any = None) -> bool:
        """Whether the public form takes submissions today."""
        today = today or timezone.localdate()
        if not self.accepting_submissions or self.visibility == self.Visibility.PRIVATE:
            return False
        if self.opens_on and today < self.opens_on:
            return False
        return not (self.closes_on and today > self.closes_on)

    def names_to_redact(self) -> tuple[str, ...]:
        """The programme's list of names always to remove, one per line."""
        return tuple(n.strip() for n in self.redact_names.splitlines() if n.strip())


@audited
class Workstream(models.Model):
    """A group that gathers submissions for a programme (the Beneficial Changes Network ran 16)."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="workstreams")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    lead = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "name"], name="unique_workstream_name")
        ]

    def __str__(self) -> str:
        return self.name


@audited
class Question(models.Model):
    class Kind(models.TextChoices):
        FREE_TEXT = "free_text", "Free text"
        CHOICE = "choice", "Choice"
        RATING = "rating", "Rating"

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=80, help_text="Stable name used in imports and exports.")
    position = models.PositiveIntegerField(default=0)
    prompt = models.TextField()
    hint = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.FREE_TEXT)
    choices = models.JSONField(default=list, blank=True)
    rating_min = models.IntegerField(default=1)
    rating_max = models.IntegerField(default=5)
    required = models.BooleanField(default=False)
    max_length = models.PositiveIntegerField(default=5000)
    on_form = models.BooleanField(default=True, help_text="Asked on the public form.")
    stance = models.CharField(
        max_length=12,
        blank=True,
        choices=[("keep", "Keep"), ("never_again", "Never again")],
        help_text="What answers to this question say about a change, when the question implies it.",
    )

    class Meta:
        ordering = ["programme", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "key"], name="unique_question_key")
        ]

    def __str__(self) -> str:
        return self.prompt[:80]


class Role(models.TextChoices):
    STAFF = "staff", "Staff"
    PATIENT = "patient", "Patient"
    CARER = "carer", "Carer"
    PUBLIC = "public", "Member of the public"
    OTHER = "other", "Other"


@audited
class Respondent(models.Model):
    """A person who answered: who they are, as far as they chose to say."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="respondents")
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The respondent's identifier in the source file."
    )
    role = models.CharField(max_length=10, choices=Role, blank=True)
    role_detail = models.CharField(
        max_length=200, blank=True, help_text="The role as they gave it."
    )
    organisation = models.CharField(max_length=200, blank=True)
    sector = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    equality = models.JSONField(
        default=dict, blank=True, help_text="Optional equality-monitoring answers."
    )
    attributes = models.JSONField(default=dict, blank=True, help_text="Other imported columns.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "external_id"],
                condition=~Q(external_id=""),
                name="unique_respondent_external_id",
            )
        ]
        indexes = [
            models.Index(fields=["programme", "role"]),
            models.Index(fields=["programme", "sector"]),
        ]

    def __str__(self) -> str:
        return self.external_id or f"Respondent {self.pk}"


@audited
class Document(models.Model):
    """An evidence file, transcript or recording, with its extracted text."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=300)
    filename = models.CharField(max_length=300)
    kind = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    file = models.FileField(upload_to="documents/", blank=True)
    text = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "sha256"], name="unique_document_content")
        ]

    def __str__(self) -> str:
        return self.title


class Passage(models.Model):
    """A piece of a document that the analysis treats like a submission."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="passages")
    index = models.PositiveIntegerField()
    text = models.TextField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    locator = models.CharField(max_length=100)
    speaker = models.CharField(max_length=200, blank=True)
    start_seconds = models.FloatField(null=True, blank=True)
    end_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            models.UniqueConstraint(fields=["document", "index"], name="unique_passage_index")
        ]

    def __str__(self) -> str:
        return f"{self.document} · {self.locator}"


class ImportBatch(models.Model):
    """One file imported into a programme: what it was, how it was read, and what came of each row."""

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_SKIPS = "skipped_rows", "Completed, bad rows skipped"

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(max_length=300)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField()
    detected_format = models.CharField(max_length=30)
    encoding = models.CharField(max_length=30, blank=True)
    delimiter = models.CharField(max_length=5, blank=True)
    mapping = models.JSONField(default=dict)
    on_error = models.CharField(max_length=10, default="reject")
    status = models.CharField(max_length=20, choices=Status)
    rows_read = models.PositiveIntegerField(default=0)
    rows_added = models.PositiveIntegerField(default=0)
    rows_already_imported = models.PositiveIntegerField(default=0)
    rows_repeated = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    rows_empty = models.PositiveIntegerField(default=0)
    submissions_added = models.PositiveIntegerField(default=0)
    respondents_added = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first 1,000 bad rows.")
    error_count = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"{self.filename} ({self.started_at:%Y-%m-%d %H:%M})"


@audited
class Submission(models.Model):
    """One piece of free text someone gave, the unit the analysis codes.

    A form completion or an imported row that answers two free-text questions gives two submissions
    that share a ``reference`` and a respondent; the closed answers given alongside are in ``answers``.
    """

    class Source(models.TextChoices):
        FORM = "form", "Web form"
        IMPORT = "import", "Import"
        DOCUMENT = "document", "Document"
        TRANSCRIPT = "transcript", "Transcript or recording"
        PULSE = "pulse", "Pulse feedback on a change"
        EXPERIENCE = "experience", "Experience added to a published theme"

    class Moderation(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="submissions")
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.PROTECT, related_name="submissions"
    )
    respondent = models.ForeignKey(
        Respondent, null=True, blank=True, on_delete=models.CASCADE, related_name="submissions"
    )
    workstream = models.ForeignKey(
        Workstream, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    text = models.TextField(
        help_text="What they wrote, with personal data replaced by placeholders such as [EMAIL]."
    )
    original_text = models.TextField(
        blank=True,
        help_text="The text as written, kept only when redaction changed it; shown only to people "
        "who may see originals (listen.view_original_text), never exported or published.",
    )
    redactions = models.JSONField(
        default=list,
        blank=True,
        help_text="The personal data replaced in the text: [{kind, start, end}] in the original "
        "text's offsets.",
    )
    answers = models.JSONField(
        default=dict, blank=True, help_text="Closed answers given alongside."
    )
    source = models.CharField(max_length=12, choices=Source)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    moderation_status = models.CharField(
        max_length=10, choices=Moderation, default=Moderation.APPROVED
    )
    consent_given = models.BooleanField(null=True, help_text="Unknown (empty) for most imports.")
    consent_wording = models.TextField(blank=True)
    reference = models.CharField(max_length=20, db_index=True)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="submissions"
    )
    source_row = models.PositiveIntegerField(null=True, blank=True)
    document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.CASCADE, related_name="submissions"
    )
    passage = models.OneToOneField(
        Passage, null=True, blank=True, on_delete=models.CASCADE, related_name="submission"
    )
    dedupe_key = models.CharField(
        max_length=64, help_text="Identifies the same row when a file is imported again."
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [
            ("view_original_text", "Can see submissions as written, before redaction"),
            ("export_submissions", "Can export submissions"),
            ("erase_submissions", "Can erase a contributor's data and export what is held"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "dedupe_key"], name="unique_submission_key"
            )
        ]
        indexes = [
            models.Index(fields=["programme", "question"]),
            models.Index(fields=["programme", "source"]),
            # newest first within a programme: a page of results without sorting them all
            models.Index(fields=["programme", "received_at", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.text[:60]}"

    @property
    def as_written(self) -> str:
        """The text as written (only for people with ``listen.view_original_text``)."""
        return self.original_text or self.text
