"""The Evaluate stage: each adopted change carried from decision to evidence.

* :class:`TrackedChange` is a distinct change from the long list taken into the lifecycle
  (proposed → assessed → adopting → evaluating → spreading or retired), with its owner, RSA
  category, the organisations adopting it (:class:`Adoption`) and every move (:class:`StageMove`).
* Co-design: :class:`DesignVersion` (the shared canvas, one row per saved version) and
  :class:`DesignComment`; :class:`Collaborator` gives a contributor a private link to it.
* Pulse feedback: :class:`PulseResponse`, each also stored as a submission of the programme.
* :class:`Evaluation` is an evaluation record in the shape the UK Evaluation Registry sets out,
  with its design types (:class:`EvaluationDesign`), outcomes, documents, evidence and effects by
  group, and its metrics (:class:`Metric`, :class:`MetricValue`) drawn as XmR charts.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from changebank.core.audit import audited
from changebank.decide.models import RSA, Panel
from changebank.listen.models import Programme, Submission
from changebank.understand.models import DistinctChange, Theme

User = settings.AUTH_USER_MODEL


def new_token() -> str:
    return secrets.token_urlsafe(24)


# --- the lifecycle ------------------------------------------------------------------------------


class Stage(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ASSESSED = "assessed", "Assessed"
    ADOPTING = "adopting", "Adopting"
    EVALUATING = "evaluating", "Evaluating"
    SPREADING = "spreading", "Spreading"
    RETIRED = "retired", "Retired"


#: The moves allowed from each stage: one step on, one step back, retiring, and reopening.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Stage.PROPOSED: (Stage.ASSESSED, Stage.RETIRED),
    Stage.ASSESSED: (Stage.ADOPTING, Stage.PROPOSED, Stage.RETIRED),
    Stage.ADOPTING: (Stage.EVALUATING, Stage.ASSESSED, Stage.RETIRED),
    Stage.EVALUATING: (Stage.SPREADING, Stage.ADOPTING, Stage.RETIRED),
    Stage.SPREADING: (Stage.EVALUATING, Stage.RETIRED),
    Stage.RETIRED: (Stage.PROPOSED,),
}
#: Stages in which the change is being adopted: co-design and pulse feedback are open.
ADOPTED_STAGES = (Stage.ADOPTING, Stage.EVALUATING, Stage.SPREADING)


@audited
class TrackedChange(models.Model):
    """A distinct change carried through adoption and evaluation."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="tracked_changes"
    )
    change = models.OneToOneField(
        DistinctChange, on_delete=models.PROTECT, related_name="tracked", null=True, blank=True
    )
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    stage = models.CharField(max_length=12, choices=Stage, default=Stage.PROPOSED)
    rsa = models.CharField("RSA category", max_length=10, choices=RSA, blank=True)
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_name = models.CharField(
        max_length=200, blank=True, help_text="Who is responsible, when they have no account here."
    )
    themes = models.ManyToManyField(Theme, blank=True, related_name="tracked_changes")
    panel = models.ForeignKey(
        Panel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tracked_changes",
        help_text="The panel that co-designs it.",
    )
    go_live = models.DateField(
        null=True, blank=True, help_text="When the change went live: SPC limits restart here."
    )
    pulse_open = models.BooleanField(default=False)
    pulse_question = models.CharField(max_length=200, default="Did this change help you?")
    pulse_token = models.CharField(max_length=64, unique=True, default=new_token)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def adopted(self) -> bool:
        return self.stage in ADOPTED_STAGES

    def allowed_moves(self) -> tuple[str, ...]:
        return TRANSITIONS[self.stage]


class StageMove(models.Model):
    """One move of a change through the lifecycle: who, when, from where to where, and why."""

    tracked = models.ForeignKey(TrackedChange, on_delete=models.CASCADE, related_name="moves")
    from_stage = models.CharField(max_length=12, choices=Stage, blank=True)
    to_stage = models.CharField(max_length=12, choices=Stage)
    note = models.TextField(blank=True)
    moved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-moved_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_stage or 'new'} → {self.to_stage}"


@audited
class Adoption(models.Model):
    """An organisation adopting the change."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        LIVE = "live", "Live"
        STOPPED = "stopped", "Stopped"

    tracked = models.ForeignKey(TrackedChange, on_delete=models.CASCADE, related_name="adoptions")
    organisation = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status, default=Status.PLANNED)
    started = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["organisation", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tracked", "organisation"], name="unique_adoption_organisation"
            )
        ]

    def __str__(self) -> str:
        return self.organisation


# --- co-design ----------------------------------------------------------------------------------

#: The sections of the design canvas, in order.
CANVAS_SECTIONS = (
    ("problem", "The problem", "What is the problem this change solves, and for whom?"),
    ("people", "People affected", "Who does it affect: patients, carers, staff, groups at risk?"),
    ("solution", "Proposed solution", "What exactly will change, and how will it work?"),
    ("risks", "Risks", "What could go wrong, and who could be left out?"),
    ("measures", "Measures of success", "How will we know it has helped?"),
)


class Collaborator(models.Model):
    """A contributor invited to the design canvas by a private link (no account needed)."""

    tracked = models.ForeignKey(
        TrackedChange, on_delete=models.CASCADE, related_name="collaborators"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token)
    invited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DesignVersion(models.Model):
    """One saved version of the shared design canvas; the newest is the current one."""

    tracked = models.ForeignKey(TrackedChange, on_delete=models.CASCADE, related_name="designs")
    number = models.PositiveIntegerField()
    problem = models.TextField(blank=True)
    people = models.TextField(blank=True)
    solution = models.TextField(blank=True)
    risks = models.TextField(blank=True)
    measures = models.TextField(blank=True)
    summary = models.CharField(
        max_length=300, blank=True, help_text="What changed in this version."
    )
    author_name = models.CharField(max_length=200)
    author = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["tracked", "number"], name="unique_design_version")
        ]

    def __str__(self) -> str:
        return f"Version {self.number}"


class DesignComment(models.Model):
    """A comment on the canvas, on one section or on the whole."""

    tracked = models.ForeignKey(
        TrackedChange, on_delete=models.CASCADE, related_name="design_comments"
    )
    version = models.ForeignKey(
        DesignVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    section = models.CharField(
        max_length=10, blank=True, choices=[(k, label) for k, label, _ in CANVAS_SECTIONS]
    )
    text = models.TextField()
    author_name = models.CharField(max_length=200)
    author = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.text[:60]}"


# --- pulse feedback -----------------------------------------------------------------------------


class Helped(models.TextChoices):
    YES = "yes", "Yes"
    PARTLY = "partly", "Partly"
    NO = "no", "No"
    UNSURE = "unsure", "Not sure"


class PulseResponse(models.Model):
    """An answer to a change's pulse form; the free text also becomes a submission."""

    tracked = models.ForeignKey(TrackedChange, on_delete=models.CASCADE, related_name="pulses")
    helped = models.CharField(max_length=6, choices=Helped)
    text = models.TextField(blank=True)
    role = models.CharField(max_length=20, blank=True)
    submission = models.OneToOneField(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="pulse"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_helped_display()}: {self.text[:60]}"


# --- evaluation records -------------------------------------------------------------------------


class EvaluationStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ONGOING = "ongoing", "Ongoing"
    COMPLETE = "complete", "Complete"


#: Design types as the UK Evaluation Registry groups them: (group, [(key, label), ...]).
DESIGN_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Impact evaluation",
        [
            ("rct", "Randomised controlled trial"),
            ("cluster_rct", "Cluster randomised trial"),
            ("stepped_wedge", "Stepped-wedge randomised trial"),
            ("interrupted_time_series", "Interrupted time series"),
            ("difference_in_differences", "Difference-in-differences"),
            ("synthetic_control", "Synthetic control"),
            ("regression_discontinuity", "Regression discontinuity"),
            ("matching", "Matching (for example propensity score matching)"),
            ("before_after", "Before-and-after comparison"),
        ],
    ),
    (
        "Theory-based evaluation",
        [
            ("contribution_analysis", "Contribution analysis"),
            ("realist", "Realist evaluation"),
            ("process_tracing", "Process tracing"),
            ("theory_of_change", "Theory of change"),
        ],
    ),
    (
        "Process evaluation",
        [
            ("interviews", "Interviews"),
            ("focus_groups", "Focus groups"),
            ("surveys", "Surveys"),
            ("case_studies", "Case studies"),
            ("observation", "Observation"),
        ],
    ),
    (
        "Value for money",
        [
            ("cost_effectiveness", "Cost-effectiveness analysis"),
            ("cost_benefit", "Cost-benefit analysis"),
            ("cost_utility", "Cost-utility analysis"),
        ],
    ),
    ("Other", [("other", "Other (describe below)")]),
]
DESIGN_LABELS = {key: label for _, items in DESIGN_GROUPS for key, label in items}
DESIGN_GROUP_OF = {key: group for group, items in DESIGN_GROUPS for key, _ in items}


@audited
class Evaluation(models.Model):
    """An evaluation record: what is evaluated, how, when, with what result."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="evaluations")
    changes = models.ManyToManyField(TrackedChange, related_name="evaluations")
    title = models.CharField(max_length=300)
    summary = models.TextField()
    status = models.CharField(
        max_length=8, choices=EvaluationStatus, default=EvaluationStatus.PLANNED
    )
    design_other = models.CharField(
        "Other design",
        max_length=300,
        blank=True,
        help_text="Describe the design if it is not in the list.",
    )
    organisation = models.CharField("Lead organisation", max_length=200, blank=True, db_index=True)
    population = models.TextField("Population", blank=True)
    setting = models.TextField("Setting", blank=True)
    planned_start = models.DateField(null=True, blank=True)
    actual_start = models.DateField(null=True, blank=True)
    planned_end = models.DateField(null=True, blank=True)
    actual_end = models.DateField(null=True, blank=True)
    planned_interim = models.DateField("Planned interim analysis", null=True, blank=True)
    actual_interim = models.DateField("Actual interim analysis", null=True, blank=True)
    planned_final_analysis = models.DateField(null=True, blank=True)
    actual_final_analysis = models.DateField(null=True, blank=True)
    planned_publication = models.DateField(null=True, blank=True)
    actual_publication = models.DateField(null=True, blank=True)
    plan_url = models.URLField("Link to the evaluation plan", blank=True)
    report_url = models.URLField("Link to the report", blank=True)
    unpublished_reason = models.TextField("Why the report is not published", blank=True)
    cost = models.DecimalField(
        "Cost of the evaluation (£)", max_digits=12, decimal_places=2, null=True, blank=True
    )
    inequalities = models.TextField("Effect on inequalities", blank=True)
    lived_experience = models.TextField(
        "How people with lived experience were involved", blank=True
    )
    lead = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    public = models.BooleanField(
        "Published in the evaluation repository", default=False, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def design_keys(self) -> list[str]:
        return [d.design for d in self.designs.all()]


class EvaluationDesign(models.Model):
    """One design type of an evaluation (an evaluation often mixes several)."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="designs")
    design = models.CharField(max_length=30, choices=list(DESIGN_LABELS.items()), db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "design"], name="unique_evaluation_design"
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return DESIGN_LABELS.get(self.design, self.design)


class Outcome(models.Model):
    """A primary or secondary outcome and how it is measured."""

    class Kind(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="outcomes")
    kind = models.CharField(max_length=9, choices=Kind, default=Kind.PRIMARY)
    name = models.CharField(max_length=300)
    measure = models.TextField("How it is measured", blank=True)
    result = models.TextField(blank=True)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return self.name


class EvaluationDocument(models.Model):
    """A plan, report or other document of an evaluation."""

    class Kind(models.TextChoices):
        PLAN = "plan", "Evaluation plan"
        REPORT = "report", "Report"
        OTHER = "other", "Other document"

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=6, choices=Kind, default=Kind.OTHER)
    title = models.CharField(max_length=300)
    file = models.FileField(upload_to="evaluations/")
    filename = models.CharField(max_length=300)
    size = models.BigIntegerField()
    uploaded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "title", "id"]

    def __str__(self) -> str:
        return self.title


@audited
class Evidence(models.Model):
    """A benefit, disbenefit, unintended consequence or lesson, optionally for one group."""

    class Kind(models.TextChoices):
        BENEFIT = "benefit", "Benefit"
        DISBENEFIT = "disbenefit", "Disbenefit"
        UNINTENDED = "unintended", "Unintended consequence"
        LESSON = "lesson", "Lesson learned"

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=10, choices=Kind)
    text = models.TextField()
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"


@audited
class GroupEffect(models.Model):
    """The effect of the change on one group of people (by age, ethnicity, deprivation, role…)."""

    class Direction(models.TextChoices):
        BETTER = "better", "Better"
        NO_DIFFERENCE = "same", "No clear difference"
        WORSE = "worse", "Worse"
        UNKNOWN = "unknown", "Not known"

    evaluation = models.ForeignKey(
        Evaluation, on_delete=models.CASCADE, related_name="group_effects"
    )
    group = models.CharField(max_length=200)
    outcome = models.CharField(max_length=300, blank=True)
    direction = models.CharField(max_length=7, choices=Direction, default=Direction.UNKNOWN)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["group", "id"]

    def __str__(self) -> str:
        return f"{self.group}: {self.get_direction_display()}"


# --- metrics ------------------------------------------------------------------------------------


class Improvement(models.TextChoices):
    INCREASE = "increase", "Higher is better"
    DECREASE = "decrease", "Lower is better"
    NEUTRAL = "neutral", "Neither (no direction)"


@audited
class Metric(models.Model):
    """A measure tracked over time for an evaluation, drawn as an XmR chart."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=50, blank=True, help_text="For example %, days, patients.")
    description = models.TextField(blank=True)
    improvement = models.CharField(max_length=8, choices=Improvement, default=Improvement.INCREASE)
    target = models.FloatField(null=True, blank=True)
    go_live = models.DateField(
        null=True,
        blank=True,
        help_text="Limits are recalculated from this date (the change's go-live date if empty).",
    )
    screen_outliers = models.BooleanField(
        default=False,
        help_text="Leave out moving ranges above 3.267 × the mean moving range when setting "
        "limits (NHSRplotthedots does; the Making Data Count Excel tools do not).",
    )
    source_filename = models.CharField(max_length=300, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_go_live(self):  # noqa: ANN201 - a date or None
        if self.go_live:
            return self.go_live
        first = self.evaluation.changes.exclude(go_live=None).order_by("go_live").first()
        return first.go_live if first else None


class MetricValue(models.Model):
    """One point of a metric's time series."""

    metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="values")
    period = models.DateField()
    value = models.FloatField()
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["period"]
        constraints = [
            models.UniqueConstraint(fields=["metric", "period"], name="unique_metric_period")
        ]

    def __str__(self) -> str:
        return f"{self.period}: {self.value}"
