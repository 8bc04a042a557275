"""The Decide stage: panels rate changes in Delphi rounds, the public votes on pairs of ideas and
on statements (opinion groups), and discrete choice experiments weigh the attributes of a change.

Participants who have no account are known by a random key: a panel member's invitation token, or
a voting session. Every vote table has a uniqueness rule that makes a repeated request harmless.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from changebank.core.audit import audited
from changebank.listen.models import Programme
from changebank.understand.models import DistinctChange


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Status(models.TextChoices):
    DRAFT = "draft", "Being prepared"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class RSA(models.TextChoices):
    """The RSA's crisis-response framework for what to do with a change made during a crisis."""

    AMPLIFY = "amplify", "Amplify: new in the crisis, keep and scale"
    END = "end", "End: new in the crisis, stop"
    RESTART = "restart", "Restart: stopped by the crisis, bring back"
    LET_GO = "let_go", "Let go: stopped by the crisis, do not bring back"


# --- panels and Delphi rounds ------------------------------------------------------------------

DEFAULT_SCALES = [
    {"key": "benefit", "label": "Benefit", "low": "No benefit", "high": "Great benefit"},
    {"key": "feasibility", "label": "Feasibility", "low": "Not feasible", "high": "Easy to do"},
    {
        "key": "inequalities",
        "label": "Effect on inequalities",
        "low": "Widens inequalities",
        "high": "Narrows inequalities",
    },
]
DEFAULT_RULES = {"in_share": 0.70, "out_share": 0.15, "low": [1, 3], "high": [7, 9]}


@audited
class Panel(models.Model):
    """A group of people who judge the changes, for example a lived-experience panel."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="panels")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


@audited
class PanelMember(models.Model):
    """A member of a panel, invited by a private link (no account needed) or as a user."""

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="members")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    group = models.CharField(
        max_length=100, blank=True, help_text="Stakeholder group: patient, carer, staff, …"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token = models.CharField(max_length=64, unique=True, default=new_token)
    invited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.panel})"


@audited
class DelphiRound(models.Model):
    """One round of rating: members rate each change on the scales and place it in the RSA
    framework; from round 2 they see the group's answers and their own last ones."""

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    changes = models.ManyToManyField(DistinctChange, related_name="delphi_rounds")
    scales = models.JSONField(default=list, help_text="The 1–9 scales: key, label, low, high.")
    rules = models.JSONField(default=dict, help_text="Consensus thresholds.")
    ask_rsa = models.BooleanField(default=True, help_text="Ask for the RSA category too.")
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["panel", "number"]
        constraints = [
            models.UniqueConstraint(fields=["panel", "number"], name="unique_delphi_round")
        ]

    def __str__(self) -> str:
        return f"{self.panel}: round {self.number}"


class DelphiAnswer(models.Model):
    """A member's answer on one change in one round."""

    round = models.ForeignKey(DelphiRound, on_delete=models.CASCADE, related_name="answers")
    member = models.ForeignKey(PanelMember, on_delete=models.CASCADE, related_name="answers")
    change = models.ForeignKey(DistinctChange, on_delete=models.CASCADE, related_name="+")
    ratings = models.JSONField(default=dict, help_text="Scale key → 1–9.")
    rsa = models.CharField(max_length=10, choices=RSA, blank=True)
    comment = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["round", "member", "change"], name="unique_delphi_answer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} on {self.change_id} in {self.round_id}"


# --- pairwise voting (a wiki survey) -----------------------------------------------------------


@audited
class PairwiseSurvey(models.Model):
    """A wiki survey: which of two ideas is better? Participants may add their own."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="pairwise_surveys"
    )
    slug = models.SlugField(max_length=80)
    question = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    allow_ideas = models.BooleanField(default=True)
    votes_per_session = models.PositiveIntegerField(
        default=300, help_text="Most votes one session may cast (against ballot stuffing)."
    )
    ideas_per_session = models.PositiveIntegerField(default=5)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "slug"], name="unique_pairwise_slug")
        ]

    def __str__(self) -> str:
        return self.question


class Moderation(models.TextChoices):
    PENDING = "pending", "Waiting for moderation"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


@audited
class Idea(models.Model):
    """An idea in a wiki survey: a change from the long list, or one a participant added."""

    survey = models.ForeignKey(PairwiseSurvey, on_delete=models.CASCADE, related_name="ideas")
    text = models.CharField(max_length=500)
    change = models.ForeignKey(
        DistinctChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="ideas"
    )
    added_by_participant = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Moderation, default=Moderation.APPROVED)
    session_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:80]


class PairPrompt(models.Model):
    """A pair shown to a participant; answering it is the vote. One answer per prompt, so a
    repeated or replayed request cannot count twice."""

    class Choice(models.TextChoices):
        LEFT = "left", "Left"
        RIGHT = "right", "Right"
        CANT_DECIDE = "cant_decide", "Can't decide"

    survey = models.ForeignKey(PairwiseSurvey, on_delete=models.CASCADE, related_name="prompts")
    session_key = models.CharField(max_length=64, db_index=True)
    left = models.ForeignKey(Idea, on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey(Idea, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, unique=True, default=new_token)
    shown_at = models.DateTimeField(auto_now_add=True)
    choice = models.CharField(max_length=12, choices=Choice, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["survey", "answered_at"])]

    def __str__(self) -> str:
        return f"{self.left_id} v {self.right_id}: {self.choice or 'not answered'}"


# --- opinion groups (statements, as Pol.is) -----------------------------------------------------


@audited
class Conversation(models.Model):
    """Short statements people agree or disagree with; their votes map opinion groups."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="conversations")
    slug = models.SlugField(max_length=80)
    topic = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    allow_statements = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "slug"], name="unique_conversation_slug")
        ]

    def __str__(self) -> str:
        return self.topic


@audited
class Statement(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="statements"
    )
    text = models.CharField(max_length=500)
    change = models.ForeignKey(
        DistinctChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_by_participant = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Moderation, default=Moderation.APPROVED)
    session_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:80]


class StatementVote(models.Model):
    """A participant's latest vote on a statement: 1 agree, −1 disagree, 0 pass."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="votes")
    participant = models.CharField(max_length=64, db_index=True)
    vote = models.SmallIntegerField(
        validators=[MinValueValidator(-1), MaxValueValidator(1)],
        choices=[(1, "Agree"), (-1, "Disagree"), (0, "Pass / unsure")],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "participant"], name="unique_statement_vote"
            ),
            models.CheckConstraint(condition=models.Q(vote__in=[-1, 0, 1]), name="vote_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.participant}: {self.vote} on {self.statement_id}"


# --- discrete choice experiments --------------------------------------------------------------


@audited
class ChoiceExperiment(models.Model):
    """Which mix of features of a change people prefer: attributes with levels, choice sets."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="choice_experiments"
    )
    slug = models.SlugField(max_length=80)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    attributes = models.JSONField(
        default=list, help_text="[{name, levels: [...], ordered: bool}] (levels worst to best)."
    )
    n_sets = models.PositiveSmallIntegerField(default=12)
    n_alternatives = models.PositiveSmallIntegerField(default=2)
    n_blocks = models.PositiveSmallIntegerField(default=1)
    design = models.JSONField(default=dict, blank=True, help_text="The generated design.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "slug"], name="unique_experiment_slug")
        ]

    def __str__(self) -> str:
        return self.title


class ChoiceAnswer(models.Model):
    """A respondent's choice in one choice set."""

    experiment = models.ForeignKey(
        ChoiceExperiment, on_delete=models.CASCADE, related_name="answers"
    )
    respondent = models.CharField(max_length=64, db_index=True)
    block = models.PositiveSmallIntegerField(default=0)
    choice_set = models.PositiveSmallIntegerField()
    chosen = models.PositiveSmallIntegerField(help_text="Index of the chosen alternative.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "respondent", "choice_set"], name="unique_choice_answer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.respondent}: set {self.choice_set} → {self.chosen}"
