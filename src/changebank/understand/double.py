"""Double coding: two or more analysts code the same sample of submissions independently; their
agreement is measured code by code (Cohen's or Light's kappa, Krippendorff's alpha, percentage
agreement), and a resolver settles the disagreements.

Drawing a sample is random but reproducible: the same seed, options and submissions give the same
sample. The coders' own codings (:class:`SampleCoding`) do not touch the submissions; only a
resolution does, through :func:`board.set_codes`, so it is audited and undoable like any other
analyst's coding.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from changebank.analysis.agreement import (
    krippendorff_alpha_per_code,
    krippendorff_alpha_pooled,
    light_kappa,
)
from changebank.core.audit import record
from changebank.core.models import AuditEvent
from changebank.listen.models import Programme, Submission

from . import board
from .models import (
    Code,
    CodeAssignment,
    CodingDecision,
    CodingSample,
    Origin,
    SampleCoding,
    SampleResolution,
    WorkspaceAction,
)

#: A code used on fewer submissions than this (by any coder) gets no kappa or alpha: with so few
#: uses one disagreement swings them from "almost perfect" to "poor".
MIN_USES = 5
CODER_PERMISSION = "understand.change_codeassignment"
SEED_MAX = 2**31 - 1


# --- drawing a sample -------------------------------------------------------------------------


def eligible_coders() -> QuerySet:
    """The active users who may code submissions (``understand.change_codeassignment``)."""
    app_label, codename = CODER_PERMISSION.split(".")
    perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    users = get_user_model().objects.filter(is_active=True)
    q = Q(is_superuser=True)
    if perm is not None:
        q |= Q(user_permissions=perm) | Q(groups__permissions=perm)
    return users.filter(q).distinct().order_by("username")


def candidates(programme: Programme, *, uncoded_only: bool = False) -> QuerySet:
    """The submissions a sample may be drawn from: not rejected by moderation, and with
    ``uncoded_only``, none an analyst has coded yet (no human coding, no coding decision)."""
    qs = programme.submissions.exclude(moderation_status=Submission.Moderation.REJECTED)
    if uncoded_only:
        human = CodeAssignment.objects.filter(
            submission__programme=programme, origin=Origin.HUMAN
        ).values("submission_id")
        decided = CodingDecision.objects.filter(programme=programme).values("submission_id")
        qs = qs.exclude(pk__in=human).exclude(pk__in=decided)
    return qs


def allocate(sizes: dict[Any, int], total: int) -> dict[Any, int]:
    """Split ``total`` over strata in proportion to their ``sizes`` (largest remainder; ties go
    to the stratum listed first), never more than a stratum holds."""
    population = sum(sizes.values())
    if not 0 <= total <= population:
        raise ValueError(f"cannot draw {total} from {population}")
    if population == 0:
        return dict.fromkeys(sizes, 0)
    quotas = {k: total * n / population for k, n in sizes.items()}
    out = {k: min(sizes[k], math.floor(q)) for k, q in quotas.items()}
    order = sorted(sizes, key=lambda k: -(quotas[k] - math.floor(quotas[k])))
    left = total - sum(out.values())
    while left > 0:
        for k in order:
            if left and out[k] < sizes[k]:
                out[k] += 1
                left -= 1
    return out


def draw(
    programme: Programme,
    size: int,
    *,
    seed: int,
    uncoded_only: bool = False,
    stratify: bool = False,
) -> list[int]:
    """The ids of a random sample of ``size`` submissions (sorted), reproducible from ``seed``;
    with ``stratify``, each question gets its share of the sample (proportional allocation)."""
    rows = list(
        candidates(programme, uncoded_only=uncoded_only)
        .order_by("pk")
        .values_list("pk", "question_id")
    )
    if not 1 <= size <= len(rows):
        raise ValueError(f"the sample size should be between 1 and {len(rows)}")
    rng = random.Random(seed)
    if not stratify:
        return sorted(rng.sample([pk for pk, _ in rows], size))
    strata: dict[int, list[int]] = {}
    for pk, question in rows:
        strata.setdefault(question if question is not None else -1, []).append(pk)
    keys = sorted(strata)
    quota = allocate({k: len(strata[k]) for k in keys}, size)
    picked: list[int] = []
    for k in keys:
        picked += rng.sample(strata[k], quota[k])
    return sorted(picked)


def coders_problem(coder_ids: Iterable[int]) -> str:
    """What is wrong with this choice of coders, or "" if nothing is."""
    ids = set(coder_ids)
    if ids - set(eligible_coders().values_list("pk", flat=True)):
        return "Choose coders from the list: each must be allowed to code submissions."
    if len(ids) < 2:
        return (
            "Choose at least two different coders: agreement needs two or more people coding "
            "the same submissions."
        )
    return ""


def size_problem(programme: Programme, size: int | None, *, uncoded_only: bool = False) -> str:
    """What is wrong with this sample size, or "" if nothing is."""
    available = candidates(programme, uncoded_only=uncoded_only).count()
    if available == 0:
        if uncoded_only:
            return "There are no submissions not yet coded by an analyst to draw from."
        return "This programme has no submissions to draw from."
    if size is None or not 1 <= int(size) <= available:
        what = "not yet coded by an analyst" if uncoded_only else "in this programme"
        return f"The sample size must be between 1 and {available:,}, the number of submissions {what}."
    return ""


def create_sample(
    programme: Programme,
    *,
    name: str,
    size: int,
    coders: Iterable[Any],
    user: Any = None,
    seed: int | None = None,
    uncoded_only: bool = False,
    stratify: bool = False,
) -> CodingSample:
    """Draw a sample and give it to ``coders`` (two or more distinct users who may code).

    Raises ``ValidationError`` with a message for each field that is wrong.
    """
    errors: dict[str, str] = {}
    name = " ".join((name or "").split())[:200]
    if not name:
        errors["name"] = "Enter a name for the sample."
    coder_ids = sorted({getattr(c, "pk", c) for c in coders})
    problem = coders_problem(coder_ids)
    if problem:
        errors["coders"] = problem
    problem = size_problem(programme, size, uncoded_only=uncoded_only)
    if problem:
        errors["size"] = problem
    if errors:
        raise ValidationError(errors)
    if seed is None:
        seed = random.SystemRandom().randint(1, SEED_MAX)
    ids = draw(programme, int(size), seed=seed, uncoded_only=uncoded_only, stratify=stratify)
    with transaction.atomic():
        sample = CodingSample.objects.create(
            programme=programme,
            name=name,
            created_by=user if getattr(user, "pk", None) else None,
        )
        sample.submissions.set(ids)
        sample.coders.set(coder_ids)
        record(
            "draw sample",
            sample,
            after={
                "name": name,
                "size": len(ids),
                "seed": seed,
                "uncoded_only": uncoded_only,
                "stratify": stratify,
                "coders": coder_ids,
                "submissions": ids,
            },
            note=(
                f"Drew a sample of {len(ids):,} submissions (seed {seed}"
                f"{', not yet coded by an analyst' if uncoded_only else ''}"
                f"{', stratified by question' if stratify else ''}) for "
                f"{len(coder_ids)} coders"
            ),
        )
    return sample


def draw_settings(sample: CodingSample) -> dict:
    """How the sample was drawn (seed, options), as recorded in the audit trail when it was made."""
    event = (
        AuditEvent.objects.filter(
            object_type="understand.codingsample",
            object_id=str(sample.pk),
            action="draw sample",
        )
        .order_by("id")
        .first()
    )
    return dict(event.after or {}) if event is not None else {}


def sample_history(sample: CodingSample, limit: int = 50) -> list[dict]:
    """The sample's audit trail for the ``_history.html`` include, newest first, without the
    coders' individual codings (which would crowd out the rest, and are not for other coders)."""
    events = (
        AuditEvent.objects.filter(object_type="understand.codingsample", object_id=str(sample.pk))
        .exclude(action="double code")
        .order_by("-at", "-id")[:limit]
    )
    return [{"event": event, "changes": []} for event in events]


def delete_sample(sample: CodingSample, user: Any = None) -> None:
    """Delete a sample with its codings and resolutions; codes already applied to submissions
    stay (undo those on the history page)."""
    with transaction.atomic():
        record(
            "delete",
            sample,
            before={
                "name": sample.name,
                "submissions": sorted(sample.submissions.values_list("pk", flat=True)),
                "coders": sorted(sample.coders.values_list("pk", flat=True)),
                "codings": sample.codings.count(),
                "resolutions": sample.resolutions.count(),
            },
            note=f"Deleted the double-coding sample ‘{sample.name}’",
        )
        sample.delete()


# --- coding -----------------------------------------------------------------------------------


def submissions_of(sample: CodingSample) -> list[Submission]:
    """The sample's submissions in a fixed order (the order coders go through them)."""
    return list(sample.submissions.select_related("question").order_by("pk"))


def codings_of(sample: CodingSample) -> dict[tuple[int, int], set[int]]:
    """(submission id, coder id) → the code ids that coder chose (empty: coded, none apply)."""
    out: dict[tuple[int, int], set[int]] = {
        (c.submission_id, c.coder_id): set() for c in sample.codings.all()
    }
    through = SampleCoding.codes.through.objects.filter(samplecoding__sample=sample)
    for sub, coder, code in through.values_list(
        "samplecoding__submission_id", "samplecoding__coder_id", "code_id"
    ):
        out[(sub, coder)].add(code)
    return out


def save_coding(
    sample: CodingSample, submission: Submission, coder: Any, code_ids: Iterable[int]
) -> SampleCoding:
    """Keep ``coder``'s own codes for ``submission`` (it does not change the submission)."""
    if not sample.coders.filter(pk=coder.pk).exists():
        raise ValidationError("Only the coders of this sample can code it.")
    if not sample.submissions.filter(pk=submission.pk).exists():
        raise ValidationError("That submission is not in this sample.")
    wanted = sorted(
        Code.objects.filter(
            programme=sample.programme, pk__in=[int(c) for c in code_ids]
        ).values_list("pk", flat=True)
    )
    with transaction.atomic():
        coding, created = SampleCoding.objects.get_or_create(
            sample=sample, submission=submission, coder=coder
        )
        before = sorted(coding.codes.values_list("pk", flat=True))
        coding.codes.set(wanted)
        coding.save()  # updated_at
        if created or before != wanted:
            record(
                "double code",
                sample,
                before=None if created else {"submission": submission.pk, "codes": before},
                after={"submission": submission.pk, "codes": wanted},
                note=f"{coder.get_username()} coded submission "
                f"{submission.reference or submission.pk}",
            )
    return coding


def progress(sample: CodingSample, coder: Any) -> int:
    """How many of the sample's submissions ``coder`` has coded."""
    return sample.codings.filter(coder=coder).count()


# --- agreement --------------------------------------------------------------------------------

#: Landis and Koch (1977), "The measurement of observer agreement for categorical data":
#: the bands of kappa, as (upper limit, band).
LANDIS_KOCH = [
    (0.0, "Poor"),
    (0.20, "Slight"),
    (0.40, "Fair"),
    (0.60, "Moderate"),
    (0.80, "Substantial"),
    (1.0, "Almost perfect"),
]


def landis_koch(value: float | None) -> str:
    """The Landis and Koch band of a kappa: Poor (below 0), Slight (0 to 0.20), Fair (0.21 to
    0.40), Moderate (0.41 to 0.60), Substantial (0.61 to 0.80), Almost perfect (0.81 to 1)."""
    if value is None or math.isnan(value):
        return ""
    value = round(value, 2)  # the band of the value as shown
    if value < 0:
        return "Poor"
    for upper, band in LANDIS_KOCH[1:]:
        if value <= upper:
            return band
    return "Almost perfect"


def krippendorff_band(value: float | None) -> str:
    """Krippendorff's (2004) guidance: at least 0.800 reliable; 0.667 to 0.800 for tentative
    conclusions only; below 0.667 not reliable."""
    if value is None or math.isnan(value):
        return ""
    value = round(value, 3)
    if value >= 0.8:
        return "Reliable"
    if value >= 0.667:
        return "Tentative conclusions only"
    return "Not reliable"


@dataclass
class CodeAgreement:
    """Agreement on one code, over the submissions every coder has coded."""

    code: Code
    uses: list[int]  # submissions each coder used it on, in the order of the coders
    any_uses: int  # submissions at least one coder used it on
    agreement: float  # share of submissions on which every coder agreed (used it or not)
    kappa: float | None = None
    alpha: float | None = None
    note: str = ""  # why kappa or alpha is not given
    few: bool = False

    @property
    def kappa_band(self) -> str:
        return landis_koch(self.kappa)

    @property
    def alpha_band(self) -> str:
        return krippendorff_band(self.alpha)


@dataclass
class Agreement:
    """The agreement of a sample's coders."""

    coders: list[Any]
    n_sample: int
    complete: list[int]  # submissions every coder has coded
    exact: int  # of those, submissions with exactly the same codes from every coder
    codes: list[CodeAgreement] = field(default_factory=list)
    alpha: float | None = None  # pooled over every submission × code
    kappa: float | None = None  # pooled likewise (Cohen's for two coders, else Light's)
    decisions_agreed: float | None = None  # share of submission × code decisions agreed

    @property
    def pairwise(self) -> bool:
        return len(self.coders) > 2

    @property
    def alpha_band(self) -> str:
        return krippendorff_band(self.alpha)

    @property
    def kappa_band(self) -> str:
        return landis_koch(self.kappa)


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def agreement(sample: CodingSample) -> Agreement:
    """Per-code and overall agreement over the submissions every coder of ``sample`` coded.

    Each code is a binary variable (used or not) per submission. Kappa is Cohen's for two coders
    and Light's (the mean of Cohen's over pairs of coders) for more; alpha is Krippendorff's,
    nominal. A code used on fewer than :data:`MIN_USES` submissions gets neither; one that every
    coder used on every submission has neither defined (there is no chance-corrected agreement).
    """
    coders = list(sample.coders.order_by("username"))
    subs = [s.pk for s in submissions_of(sample)]
    codings = codings_of(sample)
    complete = [s for s in subs if all((s, c.pk) in codings for c in coders)]
    result = Agreement(coders=coders, n_sample=len(subs), complete=complete, exact=0)
    if not complete or len(coders) < 2:
        return result
    result.exact = sum(
        1 for s in complete if len({frozenset(codings[(s, c.pk)]) for c in coders}) == 1
    )
    used = sorted({code for s in complete for c in coders for code in codings[(s, c.pk)]})
    if not used:
        return result
    column = {code: j for j, code in enumerate(used)}
    Y = np.zeros((len(coders), len(complete), len(used)), dtype=float)
    for i, c in enumerate(coders):
        for k, s in enumerate(complete):
            for code in codings[(s, c.pk)]:
                Y[i, k, column[code]] = 1
    alphas = krippendorff_alpha_per_code(Y)
    labels = {c.pk: c for c in Code.objects.filter(pk__in=used).select_related("theme")}
    for j, code_id in enumerate(used):
        ratings = Y[:, :, j].astype(int)
        row = CodeAgreement(
            code=labels[code_id],
            uses=[int(u) for u in ratings.sum(axis=1)],
            any_uses=int(ratings.max(axis=0).sum()),
            agreement=float(np.mean((ratings == ratings[0]).all(axis=0))),
        )
        if row.any_uses < MIN_USES:
            row.few = True
            row.note = (
                f"Too few uses to measure: used on {row.any_uses} of {len(complete)} "
                f"submission{'' if len(complete) == 1 else 's'}; kappa and alpha need at least "
                f"{MIN_USES}."
            )
        elif (ratings == 1).all():
            row.note = (
                "Not defined: every coder used this code on every submission, so agreement "
                "by chance would be complete and there is nothing left to measure."
            )
        else:
            row.kappa = _none_if_nan(light_kappa(ratings))
            row.alpha = _none_if_nan(alphas[j])
            if row.kappa is None:
                row.note = "Kappa not defined: no pair of coders both varied on this code."
        result.codes.append(row)
    result.codes.sort(key=lambda r: (r.few, -r.any_uses, r.code.label))
    flat = Y.reshape(len(coders), -1).astype(int)
    result.alpha = _none_if_nan(krippendorff_alpha_pooled(Y))
    result.kappa = _none_if_nan(light_kappa(flat))
    result.decisions_agreed = float(np.mean((flat == flat[0]).all(axis=0)))
    return result


# --- disagreements and their resolution ---------------------------------------------------------


@dataclass
class Item:
    """One submission of a sample that every coder has coded, with each coder's codes."""

    submission: Submission
    position: int  # 1-based, in the order coders go through the sample
    by_coder: list[set[int]]
    resolution: SampleResolution | None = None
    applied: bool = False  # the resolution's codes were applied (and not undone since)

    @property
    def agreed(self) -> set[int]:
        """Codes every coder chose."""
        return set.intersection(*self.by_coder) if self.by_coder else set()

    @property
    def any(self) -> set[int]:
        """Codes at least one coder chose."""
        return set.union(*self.by_coder) if self.by_coder else set()

    @property
    def disagree(self) -> bool:
        return self.agreed != self.any

    @property
    def resolved(self) -> bool:
        return self.resolution is not None and self.applied


def items(sample: CodingSample) -> list[Item]:
    """Every submission of ``sample`` that all its coders have coded, in sample order."""
    coders = list(sample.coders.order_by("username"))
    codings = codings_of(sample)
    resolutions = {
        r.submission_id: r for r in sample.resolutions.prefetch_related("codes", "resolved_by")
    }
    out = []
    for position, sub in enumerate(submissions_of(sample), start=1):
        if coders and all((sub.pk, c.pk) in codings for c in coders):
            item = Item(sub, position, [codings[(sub.pk, c.pk)] for c in coders])
            item.resolution = resolutions.get(sub.pk)
            out.append(item)
    _mark_applied(out)
    return out


def _mark_applied(found: Sequence[Item]) -> None:
    """A resolution counts as applied while the coding decision it made is there: undoing the
    resolution's action deletes that decision, and the submission is shown unresolved again."""
    resolved = [i for i in found if i.resolution is not None]
    if not resolved:
        return
    decisions: dict[int, list[tuple[Any, list[int]]]] = {}
    for sub, at, codes in CodingDecision.objects.filter(
        submission_id__in=[i.submission.pk for i in resolved]
    ).values_list("submission_id", "created_at", "human_codes"):
        decisions.setdefault(sub, []).append((at, sorted(codes)))
    for item in resolved:
        wanted = sorted(c.pk for c in item.resolution.codes.all())
        item.applied = any(
            at >= item.resolution.resolved_at and codes == wanted
            for at, codes in decisions.get(item.submission.pk, [])
        )


def resolve(
    sample: CodingSample,
    submission: Submission,
    code_ids: Iterable[int],
    user: Any = None,
    *,
    summary: str | None = None,
) -> WorkspaceAction | None:
    """Record the agreed codes of ``submission`` and code it with exactly those codes, as an
    analyst's decision (audited and undoable through :func:`board.set_codes`)."""
    if not sample.submissions.filter(pk=submission.pk).exists():
        raise ValidationError("That submission is not in this sample.")
    wanted = sorted(
        Code.objects.filter(
            programme=sample.programme, pk__in=[int(c) for c in code_ids]
        ).values_list("pk", flat=True)
    )
    ref = submission.reference or submission.pk
    summary = summary or f"Resolved the double coding of submission {ref} (sample ‘{sample.name}’)"
    with transaction.atomic():
        resolution, _ = SampleResolution.objects.get_or_create(sample=sample, submission=submission)
        before = sorted(resolution.codes.values_list("pk", flat=True))
        resolution.resolved_by = user if getattr(user, "pk", None) else None
        resolution.save()  # resolved_at: before the coding decision that set_codes makes
        resolution.codes.set(wanted)
        record(
            "resolve",
            sample,
            before={"submission": submission.pk, "codes": before} if before else None,
            after={"submission": submission.pk, "codes": wanted},
            note=summary,
        )
        action = board.set_codes(submission, wanted, user, summary=summary)
    return action


def apply_agreed(sample: CodingSample, user: Any = None) -> int:
    """Code every submission on which the coders fully agreed with their agreed codes (each one
    an undoable analyst's decision); those already applied are left alone. Returns how many."""
    done = 0
    with transaction.atomic():
        for item in items(sample):
            if item.disagree or item.resolved:
                continue
            ref = item.submission.reference or item.submission.pk
            resolve(
                sample,
                item.submission,
                item.agreed,
                user,
                summary=f"Applied the double coders’ agreed codes to submission {ref} "
                f"(sample ‘{sample.name}’)",
            )
            done += 1
    return done
