"""The Understand stage: themes, codes, who is coded what, distinct changes, sentiment and stance.

Every AI-made row carries its provenance (``origin``, the run that made it, the model and version,
a confidence); every human decision is marked ``origin=human`` and survives re-analysis.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from changebank.core.audit import audited
from changebank.core.models import Task
from changebank.listen.models import Programme, Submission


class Origin(models.TextChoices):
    AI = "ai", "Suggested by the analysis"
    HUMAN = "human", "Decided by an analyst"


class AnalysisRun(models.Model):
    """One run of the analysis over a programme's submissions."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="analysis_runs")
    task = models.OneToOneField(
        Task, null=True, on_delete=models.SET_NULL, related_name="analysis_run"
    )
    settings = models.JSONField(default=dict, blank=True)
    models_used = models.JSONField(
        default=dict, blank=True, help_text="Model names and versions, for provenance."
    )
    summary = models.JSONField(default=dict, blank=True, help_text="Counts and choices made.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Analysis of {self.programme} #{self.pk}"


@audited
class Theme(models.Model):
    """A group of codes."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="themes")
    label = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    keywords = models.JSONField(default=list, blank=True)
    meaning = models.TextField(
        blank=True, help_text="What this means: the analysts' summary of the theme."
    )
    chosen_quotes = models.JSONField(
        default=list, blank=True, help_text="Quotes the analysts chose to illustrate the theme."
    )
    origin = models.CharField(max_length=5, choices=Origin, default=Origin.AI)
    run = models.ForeignKey(
        AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    position = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label


@audited
class Code(models.Model):
    """A code (tag): one idea that submissions express."""

    class Status(models.TextChoices):
        SUGGESTED = "suggested", "Suggested, not yet reviewed"
        ACCEPTED = "accepted", "Accepted"

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="codes")
    theme = models.ForeignKey(
        Theme, null=True, blank=True, on_delete=models.SET_NULL, related_name="codes"
    )
    label = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    keywords = models.JSONField(default=list, blank=True)
    quotes = models.JSONField(default=list, blank=True, help_text="Representative texts.")
    origin = models.CharField(max_length=5, choices=Origin, default=Origin.AI)
    status = models.CharField(max_length=10, choices=Status, default=Status.SUGGESTED)
    is_empty_answer = models.BooleanField(default=False)
    run = models.ForeignKey(
        AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=120, blank=True, help_text="The model that suggested it.")
    centroid = models.BinaryField(
        null=True, blank=True, help_text="float32 vector, for assigning new texts."
    )
    size = models.PositiveIntegerField(default=0, help_text="Submissions coded, kept up to date.")
    position = models.PositiveIntegerField(default=0)
    also_in = models.ManyToManyField(
        Theme,
        blank=True,
        related_name="shared_codes",
        help_text="Other themes this code also sits under (its home theme is ``theme``).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def is_human(self) -> bool:
        return self.origin == Origin.HUMAN or self.status == self.Status.ACCEPTED


class CodeAssignment(models.Model):
    """A submission coded with a code, by the AI or by a person."""

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="code_assignments"
    )
    code = models.ForeignKey(Code, on_delete=models.CASCADE, related_name="assignments")
    primary = models.BooleanField(
        default=True, help_text="The main code; others come from clauses."
    )
    origin = models.CharField(max_length=5, choices=Origin, default=Origin.AI)
    confidence = models.FloatField(null=True, blank=True)
    needs_review = models.BooleanField(default=False, db_index=True)
    run = models.ForeignKey(
        AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=120, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "code"], name="unique_code_per_submission"
            )
        ]
        indexes = [
            models.Index(fields=["code", "primary"]),
            # the board's theme sizes, the review count, bulk accept above a confidence, and
            # "coded by the analysis only" in the search, without reading every coding
            models.Index(fields=["code", "submission"]),
            models.Index(fields=["code", "needs_review", "origin"]),
            models.Index(fields=["code", "origin", "confidence"]),
            models.Index(fields=["submission", "origin"]),
        ]

    def __str__(self) -> str:
        return f"{self.submission_id} → {self.code_id} ({self.origin})"


class CodeSpan(models.Model):
    """The words of a submission that carry a code: character offsets into ``submission.text``
    (Python string indices, ``end`` exclusive), as REFI-QDA's plain-text selections need."""

    assignment = models.ForeignKey(CodeAssignment, on_delete=models.CASCADE, related_name="spans")
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()

    class Meta:
        ordering = ["start", "end"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "start", "end"], name="unique_span"),
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="span_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assignment_id} [{self.start}:{self.end}]"


@audited
class DistinctChange(models.Model):
    """One entry of the long list: submissions that say the same thing, grouped."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="distinct_changes"
    )
    run = models.ForeignKey(
        AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(help_text="The representative wording.")
    count = models.PositiveIntegerField()
    code = models.ForeignKey(
        Code, null=True, blank=True, on_delete=models.SET_NULL, related_name="distinct_changes"
    )
    members = models.ManyToManyField(Submission, related_name="distinct_changes")
    origin = models.CharField(max_length=5, choices=Origin, default=Origin.AI)
    name = models.CharField(
        max_length=200, blank=True, help_text="A short name analysts give the change."
    )
    linked = models.ManyToManyField(
        "self", blank=True, help_text="Related changes an analyst linked to this one."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-count", "id"]

    def __str__(self) -> str:
        return f"{self.text[:60]} (×{self.count})"


class Stance(models.TextChoices):
    KEEP = "keep", "Keep: a benefit"
    CONCERN = "concern", "Concern: never again"
    MIXED = "mixed", "Mixed"
    NEUTRAL = "neutral", "No stance"


class SubmissionReading(models.Model):
    """Sentiment and stance of one submission (AI, or corrected by a person)."""

    SENTIMENT_LABELS = {
        1: "Very positive",
        2: "Positive",
        3: "Neutral or mixed",
        4: "Negative",
        5: "Very negative",
    }

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="reading")
    sentiment = models.PositiveSmallIntegerField(null=True, blank=True)
    sentiment_confidence = models.FloatField(null=True, blank=True)
    stance = models.CharField(max_length=10, choices=Stance, blank=True)
    stance_confidence = models.FloatField(null=True, blank=True)
    origin = models.CharField(max_length=5, choices=Origin, default=Origin.AI)
    run = models.ForeignKey(
        AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=120, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["sentiment", "submission"]),
            models.Index(fields=["stance", "submission"]),
        ]

    def __str__(self) -> str:
        return f"{self.submission_id}: {self.sentiment} {self.stance}"

    @property
    def sentiment_label(self) -> str:
        return self.SENTIMENT_LABELS.get(self.sentiment or 0, "Not known")


class WorkspaceAction(models.Model):
    """One analyst action on the workspace (rename, merge, split, move, code, …) with what it takes
    to undo it: the rows it touched as they were before. Undo goes newest first."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="workspace_actions"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=40)
    summary = models.CharField(max_length=300)
    undo = models.JSONField(default=dict, blank=True, help_text="Rows as they were before.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.summary


class CodingDecision(models.Model):
    """An analyst's coding of one submission, beside what the AI suggested just before: the raw
    material of the agreement panel (AI versus human over time) and of retraining."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="coding_decisions"
    )
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ai_codes = models.JSONField(default=list, help_text="Code ids the AI suggested.")
    human_codes = models.JSONField(default=list, help_text="Code ids the analyst decided on.")
    training_round = models.ForeignKey(
        "TrainingRound",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decisions",
        help_text="The model whose suggestions the analyst saw (none: the first analysis).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.submission_id}: AI {self.ai_codes} → human {self.human_codes}"


class TrainingRound(models.Model):
    """The coding model retrained on the analysts' decisions, and how well the previous model
    agreed with the decisions made since."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="training_rounds"
    )
    number = models.PositiveIntegerField()
    task = models.OneToOneField(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_round"
    )
    n_examples = models.PositiveIntegerField(default=0, help_text="Human-coded submissions used.")
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "number"], name="unique_training_round")
        ]

    def __str__(self) -> str:
        return f"Training round {self.number} of {self.programme}"


class CodingSettings(models.Model):
    """How the workspace behaves for one programme."""

    programme = models.OneToOneField(
        Programme, on_delete=models.CASCADE, related_name="coding_settings"
    )
    retrain_every = models.PositiveIntegerField(
        default=20, help_text="Retrain the coding model after this many new analyst decisions."
    )
    accept_threshold = models.FloatField(
        default=0.9, help_text="Default confidence above which suggestions are accepted in bulk."
    )

    def __str__(self) -> str:
        return f"Coding settings of {self.programme}"

    @classmethod
    def for_programme(cls, programme: Programme) -> CodingSettings:
        return cls.objects.get_or_create(programme=programme)[0]


class CodingSample(models.Model):
    """Submissions given to two or more analysts to code independently (double coding)."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="coding_samples"
    )
    name = models.CharField(max_length=200)
    submissions = models.ManyToManyField(Submission, related_name="+")
    coders = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="coding_samples")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class SampleCoding(models.Model):
    """One analyst's independent coding of one submission in a double-coding sample."""

    sample = models.ForeignKey(CodingSample, on_delete=models.CASCADE, related_name="codings")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    coder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    codes = models.ManyToManyField(Code, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "submission", "coder"], name="unique_sample_coding"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sample_id}: {self.submission_id} by {self.coder_id}"


class SampleResolution(models.Model):
    """The agreed coding of a submission the double coders disagreed on."""

    sample = models.ForeignKey(CodingSample, on_delete=models.CASCADE, related_name="resolutions")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    codes = models.ManyToManyField(Code, blank=True, related_name="+")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "submission"], name="unique_sample_resolution"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sample_id}: {self.submission_id} resolved"


class ReferenceShare(models.Model):
    """A reference profile entered by the team (workforce or local population shares), to check
    whom the programme has reached."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="reference_shares"
    )
    attribute = models.CharField(
        max_length=60, help_text="A respondent attribute: role, sector, region or equality:KEY."
    )
    group = models.CharField(max_length=200)
    share = models.FloatField(help_text="Per cent of the reference population in this group.")
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["attribute", "-share"]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "attribute", "group"], name="unique_reference_share"
            )
        ]

    def __str__(self) -> str:
        return f"{self.attribute}={self.group}: {self.share}%"
