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
        indexes = [models.Index(fields=["code", "primary"])]

    def __str__(self) -> str:
        return f"{self.submission_id} → {self.code_id} ({self.origin})"


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

    def __str__(self) -> str:
        return f"{self.submission_id}: {self.sentiment} {self.stance}"

    @property
    def sentiment_label(self) -> str:
        return self.SENTIMENT_LABELS.get(self.sentiment or 0, "Not known")
