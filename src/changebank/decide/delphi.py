"""Panels and Delphi rounds, the Django side: members added one at a time or pasted as lines,
rounds with their scales and consensus rules, members' answers, and each round's results.

The statistics (percentiles, IPR and IPRAS, the consensus classification, the per-group breakdown)
come from :mod:`changebank.analysis.delphi`; this module gathers the ratings from the database,
checks what people typed, and keeps the rules of a round consistent.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from changebank.analysis import delphi as maths
from changebank.core.audit import record
from changebank.understand.models import DistinctChange

from .models import (
    DEFAULT_RULES,
    DEFAULT_SCALES,
    RSA,
    DelphiAnswer,
    DelphiRound,
    Panel,
    PanelMember,
    Status,
)

RATING_MIN, RATING_MAX = 1, 9
RATINGS = list(range(RATING_MIN, RATING_MAX + 1))
MAX_SCALES = 8
MAX_PASTED_MEMBERS = 500
MAX_CHANGES = 200
NAME_MAX = 200
GROUP_MAX = 100
SCALE_LABEL_MAX = 80
#: The classification of one change on one scale, with what people read for it.
CLASSIFICATIONS = {
    "in": "Consensus in",
    "out": "Consensus out",
    "disagreement": "Disagreement",
    "none": "No consensus",
}
NO_GROUP = "No group given"


# --- members ------------------------------------------------------------------------------------


@dataclass
class MemberLine:
    name: str
    email: str = ""
    group: str = ""


def clean_member(name: str, email: str, group: str) -> tuple[MemberLine | None, dict[str, str]]:
    """One member's details checked; errors keyed by field (``name``, ``email``, ``group``)."""
    name, email, group = name.strip(), email.strip(), group.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter the member's name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Enter a name of at most {NAME_MAX} characters."
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = (
                f"‘{email[:80]}’ is not an email address: enter one like name@example.com, "
                "or leave it empty."
            )
    if len(group) > GROUP_MAX:
        errors["group"] = f"Enter a group of at most {GROUP_MAX} characters."
    if errors:
        return None, errors
    return MemberLine(name=name, email=email, group=group), {}


def parse_member_lines(text: str) -> tuple[list[MemberLine], list[str]]:
    """Members from pasted lines "name, email, group" (email and group optional; a line with two
    parts is "name, email" when the second has an @, else "name, group"; tabs work instead of
    commas). Returns the members and one message for each bad line; empty lines are skipped."""
    members: list[MemberLine] = []
    errors: list[str] = []
    seen: set[str] = set()
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [], ["Enter at least one member: a name, an email and a group on each line."]
    if len(lines) > MAX_PASTED_MEMBERS:
        return [], [f"Paste at most {MAX_PASTED_MEMBERS} members at a time."]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        delimiter = "\t" if "\t" in line and "," not in line else ","
        parts = [p.strip() for p in next(csv.reader([line], delimiter=delimiter))]
        if len(parts) > 3:
            errors.append(
                f"Line {number}: too many commas. Write the name, the email and the group, "
                "separated by commas."
            )
            continue
        parts += [""] * (3 - len(parts))
        name, email, group = parts
        if email and "@" not in email and not group:
            email, group = "", email
        member, problems = clean_member(name, email, group)
        if member is None:
            first = next(iter(problems.values()))
            errors.append(f"Line {number}: {first[0].lower()}{first[1:]}")
            continue
        if email and email.lower() in seen:
            errors.append(f"Line {number}: {email} is on an earlier line too.")
            continue
        seen.add(email.lower())
        members.append(member)
    return members, errors


def duplicate_emails(panel: Panel, emails: Iterable[str]) -> list[str]:
    """The emails that already belong to a member of ``panel``."""
    wanted = {e.lower() for e in emails if e}
    if not wanted:
        return []
    taken = {e.lower() for e in panel.members.exclude(email="").values_list("email", flat=True)}
    return sorted(wanted & taken)


@transaction.atomic
def add_members(panel: Panel, lines: list[MemberLine]) -> list[PanelMember]:
    """Add members to ``panel``; one audit event for a batch, the usual one for a single member."""
    if len(lines) == 1:
        line = lines[0]
        return [PanelMember.objects.create(panel=panel, **line.__dict__)]
    created = PanelMember.objects.bulk_create(
        [PanelMember(panel=panel, **line.__dict__) for line in lines]
    )
    record(
        "create",
        panel,
        object_type="decide.panelmember",
        after={"panel": panel.pk, "members": len(created)},
        note=f"{len(created)} members added to the panel from pasted lines",
    )
    return list(panel.members.order_by("-id")[: len(created)])


def reset_token(member: PanelMember) -> PanelMember:
    """A new private link for ``member``; the old one stops working."""
    from .models import new_token

    member.token = new_token()
    member.save(update_fields=["token"])
    return member


# --- scales and rules ---------------------------------------------------------------------------


def scale_rows(data: Mapping[str, Any], extra: int = 0) -> list[dict[str, Any]]:
    """The rows of the scales form as typed (``scale-N-label`` …), plus ``extra`` empty rows."""
    try:
        count = int(data.get("scale-count", 0))
    except (TypeError, ValueError):
        count = 0
    count = max(0, min(count, MAX_SCALES + 4))
    rows = []
    for i in range(count):
        prefix = f"scale-{i}-"
        rows.append(
            {
                "key": str(data.get(prefix + "key", "")).strip(),
                "label": str(data.get(prefix + "label", "")).strip(),
                "low": str(data.get(prefix + "low", "")).strip(),
                "high": str(data.get(prefix + "high", "")).strip(),
                "remove": bool(data.get(prefix + "remove")),
            }
        )
    rows += [{"key": "", "label": "", "low": "", "high": "", "remove": False}] * extra
    return rows


def default_scale_rows() -> list[dict[str, Any]]:
    return [{**scale, "remove": False} for scale in DEFAULT_SCALES]


def clean_scales(rows: list[dict[str, Any]]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The scales of a round from the rows of the form: rows ticked for removal and empty new rows
    are left out. Returns the scales and the errors, keyed by the id of the field."""
    scales: list[dict[str, str]] = []
    errors: dict[str, str] = {}
    keys: set[str] = set()
    labels: set[str] = set()
    for i, row in enumerate(rows):
        if row.get("remove"):
            continue
        label, low, high = row.get("label", ""), row.get("low", ""), row.get("high", "")
        if not (label or low or high) and not row.get("key"):
            continue  # an empty row for a new scale
        prefix = f"scale-{i}-"
        if not label:
            errors[prefix + "label"] = f"Enter a name for scale {i + 1}."
            continue
        if len(label) > SCALE_LABEL_MAX:
            errors[prefix + "label"] = (
                f"Enter a name of at most {SCALE_LABEL_MAX} characters for scale {i + 1}."
            )
            continue
        if label.lower() in labels:
            errors[prefix + "label"] = f"There is already a scale called ‘{label}’."
            continue
        labels.add(label.lower())
        for end, text, what in (("low", low, "1"), ("high", high, "9")):
            if not text:
                errors[prefix + end] = f"Enter what {what} means on the scale ‘{label}’."
            elif len(text) > SCALE_LABEL_MAX:
                errors[prefix + end] = (
                    f"Enter at most {SCALE_LABEL_MAX} characters for what {what} means on "
                    f"‘{label}’."
                )
        key = row.get("key") or slugify(label).replace("-", "_")[:40] or f"scale_{i + 1}"
        if not re.fullmatch(r"[a-z0-9_]{1,40}", key):
            key = f"scale_{i + 1}"
        base, n = key, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.add(key)
        scales.append({"key": key, "label": label, "low": low, "high": high})
    if not scales and not errors:
        errors["scale-0-label"] = "Keep at least one scale: members rate each change on it."
    if len(scales) > MAX_SCALES:
        errors["scale-0-label"] = f"Use at most {MAX_SCALES} scales."
    return scales, errors


RULE_FIELDS = ("in_share", "out_share", "low_from", "low_to", "high_from", "high_to")


def rule_values(rules: Mapping[str, Any]) -> dict[str, str]:
    """The rules of a round as the form shows them (shares as whole percentages)."""
    rules = {**DEFAULT_RULES, **rules}
    return {
        "in_share": f"{round(float(rules['in_share']) * 100):g}",
        "out_share": f"{round(float(rules['out_share']) * 100):g}",
        "low_from": str(rules["low"][0]),
        "low_to": str(rules["low"][1]),
        "high_from": str(rules["high"][0]),
        "high_to": str(rules["high"][1]),
    }


def clean_rules(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Consensus rules from the form; errors keyed by the id of the field."""
    errors: dict[str, str] = {}
    values: dict[str, int] = {}
    names = {
        "in_share": "the share for consensus",
        "out_share": "the most allowed at the other end",
        "low_from": "where the low ratings start",
        "low_to": "where the low ratings end",
        "high_from": "where the high ratings start",
        "high_to": "where the high ratings end",
    }
    for name in RULE_FIELDS:
        raw = str(data.get(name, "")).strip().rstrip("%").strip()
        if not raw:
            errors[name] = f"Enter {names[name]}."
            continue
        try:
            values[name] = int(raw)
        except ValueError:
            errors[name] = f"Enter {names[name]} as a whole number, like 70."
    if errors:
        return {}, errors
    if not 1 <= values["in_share"] <= 100:
        errors["in_share"] = "Enter a share for consensus from 1 to 100 per cent."
    if not 1 <= values["out_share"] <= 99:
        errors["out_share"] = "Enter a share from 1 to 99 per cent for the other end."
    elif values["out_share"] >= values["in_share"] and "in_share" not in errors:
        errors["out_share"] = (
            "Enter a share for the other end that is smaller than the share for consensus."
        )
    for name in ("low_from", "low_to", "high_from", "high_to"):
        if not RATING_MIN <= values[name] <= RATING_MAX:
            errors[name] = f"Enter a rating from {RATING_MIN} to {RATING_MAX}."
    if not errors:
        low = (values["low_from"], values["low_to"])
        high = (values["high_from"], values["high_to"])
        if low[0] > low[1]:
            errors["low_to"] = "The low ratings must end at or after where they start."
        elif high[0] > high[1]:
            errors["high_to"] = "The high ratings must end at or after where they start."
        elif low[1] >= high[0]:
            errors["high_from"] = "The high ratings must start after the low ratings end."
    if errors:
        return {}, errors
    rules = {
        "in_share": values["in_share"] / 100,
        "out_share": values["out_share"] / 100,
        "low": [values["low_from"], values["low_to"]],
        "high": [values["high_from"], values["high_to"]],
    }
    try:
        rule_for(rules)
    except (TypeError, ValueError) as error:  # pragma: no cover - the checks above come first
        return {}, {"in_share": f"These rules cannot be used: {error}."}
    return rules, {}


def band_labels(rules: Mapping[str, Any]) -> tuple[str, str, str]:
    """The three bands of ratings as text, such as ("1–3", "4–6", "7–9")."""
    rules = {**DEFAULT_RULES, **rules}
    low, high = rules["low"], rules["high"]

    def span(a: int, b: int) -> str:
        return str(a) if a == b else f"{a}–{b}"

    middle = span(low[1] + 1, high[0] - 1) if high[0] - low[1] > 1 else "none"
    return span(*low), middle, span(*high)


def rules_text(rules: Mapping[str, Any]) -> str:
    rules = {**DEFAULT_RULES, **rules}
    low, _, high = band_labels(rules)
    share_in, share_out = round(rules["in_share"] * 100), round(rules["out_share"] * 100)
    return (
        f"Consensus in when at least {share_in}% rate {high} and fewer than {share_out}% rate "
        f"{low}; consensus out for the reverse; disagreement when IPR is more than IPRAS "
        "(RAND/UCLA)."
    )


# --- rounds -------------------------------------------------------------------------------------


def latest_round(panel: Panel) -> DelphiRound | None:
    return panel.rounds.order_by("-number").first()


def previous_round(delphi: DelphiRound) -> DelphiRound | None:
    return delphi.panel.rounds.filter(number__lt=delphi.number).order_by("-number").first()


def open_round(panel: Panel) -> DelphiRound | None:
    return panel.rounds.filter(status=Status.OPEN).order_by("-number").first()


def new_round_problem(panel: Panel) -> str:
    """Why a new round cannot start now ("" when it can)."""
    last = latest_round(panel)
    if last is not None and last.status != Status.CLOSED:
        return (
            f"Round {last.number} is {last.get_status_display().lower()}: close it before "
            "starting the next round."
        )
    return ""


@transaction.atomic
def create_round(
    panel: Panel,
    *,
    changes: list[DistinctChange],
    scales: list[dict[str, str]],
    rules: dict[str, Any],
    ask_rsa: bool,
) -> DelphiRound:
    """A new round (in draft) after the panel's latest; it must be closed first."""
    problem = new_round_problem(panel)
    if problem:
        raise ValidationError(problem)
    if not changes:
        raise ValidationError("Choose at least one change to rate.")
    last = latest_round(panel)
    delphi = DelphiRound.objects.create(
        panel=panel,
        number=(last.number + 1) if last else 1,
        scales=scales,
        rules=rules,
        ask_rsa=ask_rsa,
    )
    delphi.changes.set(changes)
    record(
        "update",
        delphi,
        after={"changes": [c.pk for c in changes]},
        note=f"{len(changes)} changes chosen for round {delphi.number}",
    )
    return delphi


def carried_changes(
    previous: DelphiRound, drop_consensus: bool, results: list[ChangeResult] | None = None
) -> list[DistinctChange]:
    """The changes of ``previous``, less those that reached consensus (in or out) on every scale
    when ``drop_consensus`` (``results``: the round's results, when already computed)."""
    changes = list(previous.changes.all())
    if not drop_consensus:
        return changes
    results = round_results(previous) if results is None else results
    settled = {r.change.pk for r in results if r.settled}
    return [c for c in changes if c.pk not in settled]


TRANSITIONS = {
    (Status.DRAFT, Status.OPEN),
    (Status.OPEN, Status.CLOSED),
    (Status.CLOSED, Status.OPEN),
}


def set_status(delphi: DelphiRound, status: str) -> None:
    """Open or close a round. One round of a panel is open at a time, and only the latest round
    may open again after it closed."""
    if (delphi.status, status) not in TRANSITIONS:
        raise ValidationError(
            f"Round {delphi.number} is {delphi.get_status_display().lower()}: it cannot become "
            f"{Status(status).label.lower()}."
        )
    if status == Status.OPEN:
        if delphi.panel.rounds.filter(number__gt=delphi.number).exists():
            raise ValidationError(
                f"A later round exists, so round {delphi.number} cannot open again."
            )
        other = delphi.panel.rounds.filter(status=Status.OPEN).exclude(pk=delphi.pk).first()
        if other is not None:
            raise ValidationError(f"Round {other.number} is open: close it first.")
        if not delphi.changes.exists():
            raise ValidationError("The round has no changes to rate.")
        delphi.opens_at = delphi.opens_at or timezone.now()
        delphi.closes_at = None
    else:
        delphi.closes_at = timezone.now()
    delphi.status = status
    delphi.save(update_fields=["status", "opens_at", "closes_at"])


# --- answers ------------------------------------------------------------------------------------


def clean_answer(
    delphi: DelphiRound, data: Mapping[str, Any]
) -> tuple[dict[str, int], str, str, dict[str, str]]:
    """Ratings, RSA category and comment from the rating form (fields ``rating-<scale>``, ``rsa``,
    ``comment``); errors keyed by the id of the field (``__all__`` for an unknown scale)."""
    errors: dict[str, str] = {}
    keys = {s["key"] for s in delphi.scales}
    unknown = sorted(
        k.removeprefix("rating-")
        for k in data
        if k.startswith("rating-") and k.removeprefix("rating-") not in keys
    )
    if unknown:
        errors["__all__"] = (
            f"This round has no scale called ‘{unknown[0][:40]}’. Rate the scales on the page."
        )
    ratings: dict[str, int] = {}
    for scale in delphi.scales:
        raw = str(data.get(f"rating-{scale['key']}", "")).strip()
        field_id = f"rating-{scale['key']}"
        if not raw:
            errors[field_id] = f"Choose a rating from 1 to 9 for {scale['label'].lower()}."
            continue
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not RATING_MIN <= value <= RATING_MAX:
            errors[field_id] = (
                f"Choose a rating from 1 to 9 for {scale['label'].lower()}: "
                f"‘{raw[:10]}’ is not one of them."
            )
            continue
        ratings[scale["key"]] = value
    rsa = str(data.get("rsa", "")).strip()
    if delphi.ask_rsa:
        if not rsa:
            errors["rsa"] = (
                "Choose where the change fits: amplify, end, restart, let go or not sure."
            )
        elif rsa != "unsure" and rsa not in RSA.values:
            errors["rsa"] = "Choose one of the answers listed for where the change fits."
        rsa = "" if rsa == "unsure" else rsa
    else:
        rsa = ""
    comment = str(data.get("comment", "")).strip()
    if len(comment) > 2000:
        errors["comment"] = "Write a comment of at most 2,000 characters."
    return ratings, rsa, comment, errors


def save_answer(
    delphi: DelphiRound,
    member: PanelMember,
    change: DistinctChange,
    *,
    ratings: dict[str, int],
    rsa: str = "",
    comment: str = "",
) -> DelphiAnswer:
    """Save (or replace) ``member``'s answer on ``change``; the round must be open."""
    if delphi.status != Status.OPEN:
        raise ValidationError(f"Round {delphi.number} is not open, so answers cannot change.")
    if member.panel_id != delphi.panel_id:
        raise ValidationError("This member is not on the round's panel.")
    if not delphi.changes.filter(pk=change.pk).exists():
        raise ValidationError("This change is not part of the round.")
    keys = {s["key"] for s in delphi.scales}
    if set(ratings) != keys:
        raise ValidationError("Rate every scale of the round, and no other.")
    if any(not isinstance(v, int) or not RATING_MIN <= v <= RATING_MAX for v in ratings.values()):
        raise ValidationError("Ratings go from 1 to 9.")
    answer, _ = DelphiAnswer.objects.update_or_create(
        round=delphi,
        member=member,
        change=change,
        defaults={"ratings": ratings, "rsa": rsa, "comment": comment},
    )
    return answer


def answered_ids(delphi: DelphiRound, member: PanelMember) -> set[int]:
    return set(
        DelphiAnswer.objects.filter(round=delphi, member=member).values_list("change_id", flat=True)
    )


def progress_by_member(delphi: DelphiRound) -> dict[int, int]:
    """How many changes each member has answered in ``delphi``."""
    counts: Counter[int] = Counter(
        DelphiAnswer.objects.filter(round=delphi).values_list("member_id", flat=True)
    )
    return dict(counts)


# --- results ------------------------------------------------------------------------------------


@dataclass
class ScaleResult:
    """The summary of one change on one scale, for everyone or for one stakeholder group."""

    scale: dict[str, str]
    group: str
    n: int
    counts: list[int]  # how many gave each rating 1..9
    median: float | None = None
    share_low: float | None = None
    share_mid: float | None = None
    share_high: float | None = None
    p30: float | None = None
    p70: float | None = None
    ipr: float | None = None
    iprcp: float | None = None
    ipras: float | None = None
    classification: str = "none"

    @property
    def classification_label(self) -> str:
        return CLASSIFICATIONS.get(self.classification, self.classification)


@dataclass
class ChangeResult:
    change: DistinctChange
    scales: list[ScaleResult]
    groups: dict[str, list[ScaleResult]] = field(default_factory=dict)
    rsa_counts: dict[str, int] = field(default_factory=dict)
    rsa_groups: dict[str, dict[str, int]] = field(default_factory=dict)
    comments: list[tuple[str, str]] = field(default_factory=list)  # (group, text)
    n_members: int = 0

    @property
    def settled(self) -> bool:
        """Consensus (in or out) on every scale."""
        return bool(self.scales) and all(s.classification in ("in", "out") for s in self.scales)

    @property
    def rsa_most_common(self) -> list[str]:
        """The most chosen RSA categories (several when tied; none when nobody chose one)."""
        return most_common(self.rsa_counts)


def most_common(counts: Mapping[str, int]) -> list[str]:
    top = max(counts.values(), default=0)
    return [key for key in RSA.values if top and counts.get(key, 0) == top]


def rule_for(rules: Mapping[str, Any]) -> maths.DelphiRule:
    """The round's rules (``in_share``, ``out_share``, ``low``, ``high``) as a
    :class:`~changebank.analysis.delphi.DelphiRule` on the 1–9 scale."""
    rules = {**DEFAULT_RULES, **rules}
    return maths.DelphiRule(
        scale=(RATING_MIN, RATING_MAX),
        low=tuple(rules["low"]),
        high=tuple(rules["high"]),
        in_share=float(rules["in_share"]),
        out_share=float(rules["out_share"]),
    )


OUTCOMES = {
    maths.CONSENSUS_IN: "in",
    maths.CONSENSUS_OUT: "out",
    maths.DISAGREEMENT: "disagreement",
    maths.NO_CONSENSUS: "none",
}


def _scale_result(
    scale: dict[str, str], group: str, values: list[int], s: maths.DelphiResult | None
) -> ScaleResult:
    counts = [values.count(r) for r in RATINGS]
    if s is None:
        return ScaleResult(scale=scale, group=group, n=0, counts=counts)
    return ScaleResult(
        scale=scale,
        group=group,
        n=s.n,
        counts=counts,
        median=s.median,
        share_low=s.share_low,
        share_mid=s.share_middle,
        share_high=s.share_high,
        p30=s.p30,
        p70=s.p70,
        ipr=s.ipr,
        iprcp=s.iprcp,
        ipras=s.ipras,
        classification=OUTCOMES[s.outcome],
    )


def _ratings(answers: list[DelphiAnswer], key: str) -> list[DelphiAnswer]:
    return [a for a in answers if isinstance(a.ratings.get(key), int)]


def _everyone(
    scale: dict[str, str], answers: list[DelphiAnswer], rule: maths.DelphiRule
) -> ScaleResult:
    values = [a.ratings[scale["key"]] for a in _ratings(answers, scale["key"])]
    return _scale_result(scale, "Everyone", values, rule.classify(values) if values else None)


def _by_group(
    scale: dict[str, str], answers: list[DelphiAnswer], rule: maths.DelphiRule
) -> dict[str, ScaleResult]:
    """One scale's results in each stakeholder group (:func:`changebank.analysis.delphi.by_group`),
    with the members who gave no group as a group of their own, last."""
    rated = _ratings(answers, scale["key"])
    values = [a.ratings[scale["key"]] for a in rated]
    groups = [a.member.group for a in rated]
    out: dict[str, ScaleResult] = {}
    if any(groups):
        for name, s in maths.by_group(values, groups, rule).items():
            mine = [v for v, g in zip(values, groups, strict=True) if g == name]
            out[name] = _scale_result(scale, name, mine, s)
    ungrouped = [v for v, g in zip(values, groups, strict=True) if not g]
    if ungrouped:
        out[NO_GROUP] = _scale_result(scale, NO_GROUP, ungrouped, rule.classify(ungrouped))
    return out


def round_results(delphi: DelphiRound) -> list[ChangeResult]:
    """For each change of the round (in the round's order): each scale's summary for everyone and
    for each stakeholder group, the RSA categories chosen, and the comments."""
    rule = rule_for(delphi.rules or {})
    by_change: dict[int, list[DelphiAnswer]] = defaultdict(list)
    for answer in DelphiAnswer.objects.filter(round=delphi).select_related("member").order_by("id"):
        by_change[answer.change_id].append(answer)
    results = []
    for change in delphi.changes.all():
        given = by_change.get(change.pk, [])
        result = ChangeResult(change=change, scales=[], n_members=len(given))
        per_scale = []
        for scale in delphi.scales:
            result.scales.append(_everyone(scale, given, rule))
            per_scale.append(_by_group(scale, given, rule))
        names = sorted({g for groups in per_scale for g in groups}, key=_group_order)
        for name in names:
            result.groups[name] = [
                groups.get(name) or _scale_result(scale, name, [], None)
                for scale, groups in zip(delphi.scales, per_scale, strict=True)
            ]
        if delphi.ask_rsa:
            result.rsa_counts = _rsa_counts(given)
            for name in names:
                members = [a for a in given if (a.member.group or NO_GROUP) == name]
                result.rsa_groups[name] = _rsa_counts(members)
        result.comments = [(a.member.group or NO_GROUP, a.comment) for a in given if a.comment]
        results.append(result)
    return results


def _group_order(name: str) -> tuple[bool, str]:
    return (name == NO_GROUP, name.lower())


def _rsa_counts(answers: list[DelphiAnswer]) -> dict[str, int]:
    counts = Counter(a.rsa for a in answers if a.rsa)
    return {key: counts.get(key, 0) for key in RSA.values}


CSV_COLUMNS = [
    "round",
    "change_id",
    "change",
    "scale",
    "group",
    "n",
    "median",
    "share_low",
    "share_middle",
    "share_high",
    "p30",
    "p70",
    "ipr",
    "iprcp",
    "ipras",
    "classification",
    *[f"count_{r}" for r in RATINGS],
    *[f"rsa_{k}" for k in RSA.values],
    "rsa_most_common",
]


def write_results_csv(delphi: DelphiRound, out: io.TextIOBase) -> int:
    """The results of ``delphi`` as CSV, a row for each change, scale and group (``Everyone``
    first); text is neutralised against spreadsheet formulas. Returns the number of rows."""
    from changebank.share.exporters.csv import neutralise

    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    rows = 0

    def num(value: float | None) -> str:
        return "" if value is None else f"{value:.4g}"

    for result in round_results(delphi):
        blocks = [("Everyone", result.scales, result.rsa_counts)]
        blocks += [
            (group, scales, result.rsa_groups.get(group, {}))
            for group, scales in result.groups.items()
        ]
        for group, scales, rsa in blocks:
            for s in scales:
                writer.writerow(
                    [
                        neutralise(v)
                        for v in (
                            delphi.number,
                            result.change.pk,
                            result.change.name or result.change.text,
                            s.scale["label"],
                            group,
                            s.n,
                            num(s.median),
                            num(s.share_low),
                            num(s.share_mid),
                            num(s.share_high),
                            num(s.p30),
                            num(s.p70),
                            num(s.ipr),
                            num(s.iprcp),
                            num(s.ipras),
                            s.classification if s.n else "",
                            *s.counts,
                            *[rsa.get(k, 0) if delphi.ask_rsa else "" for k in RSA.values],
                            " ".join(most_common(rsa)) if delphi.ask_rsa else "",
                        )
                    ]
                )
                rows += 1
    return rows


# --- what a member sees from round 2 ------------------------------------------------------------


@dataclass
class Bar:
    rating: int
    count: int
    x: float
    y: float
    height: float
    own: bool


@dataclass
class Feedback:
    """The group's answers of the previous round on one scale, and the member's own."""

    scale: dict[str, str]
    counts: list[int]
    n: int
    median: float | None
    own: int | None

    # the geometry of the small bar chart (an SVG viewBox of WIDTH × HEIGHT)
    WIDTH = 360
    HEIGHT = 150
    BASE = 120  # the y of the axis
    BAR = 30

    @property
    def bars(self) -> list[Bar]:
        top = max(self.counts, default=0) or 1
        bars = []
        for i, count in enumerate(self.counts):
            height = round(90 * count / top, 1)
            bars.append(
                Bar(
                    rating=i + 1,
                    count=count,
                    x=10 + i * 38,
                    y=self.BASE - height,
                    height=height,
                    own=self.own == i + 1,
                )
            )
        return bars

    @property
    def summary(self) -> str:
        """The chart in words, for its text alternative."""
        given = ", ".join(
            f"{count} rated {rating}" for rating, count in zip(RATINGS, self.counts, strict=True)
        )
        text = f"{self.n} {'person' if self.n == 1 else 'people'} answered: {given}."
        if self.median is not None:
            text += f" Median {self.median:g}."
        if self.own is not None:
            text += f" Your rating was {self.own}."
        return text


def feedback(
    previous: DelphiRound | None, member: PanelMember, change: DistinctChange
) -> tuple[dict[str, Feedback], DelphiAnswer | None, dict[str, int]]:
    """For each scale of ``previous`` (keyed by scale key): the distribution of the panel's
    ratings of ``change`` (:func:`changebank.analysis.delphi.distribution`), its median and
    ``member``'s own rating; then the member's previous answer and the panel's RSA counts."""
    if previous is None or not previous.changes.filter(pk=change.pk).exists():
        return {}, None, {}
    answers = list(DelphiAnswer.objects.filter(round=previous, change=change))
    own = next((a for a in answers if a.member_id == member.pk), None)
    shown: dict[str, Feedback] = {}
    for scale in previous.scales:
        key = scale["key"]
        summary = maths.distribution(
            [a.ratings.get(key) for a in answers], scale=(RATING_MIN, RATING_MAX)
        )
        shown[key] = Feedback(
            scale=scale,
            counts=[summary.counts[r] for r in RATINGS],
            n=summary.n,
            median=summary.median if summary.n else None,
            own=own.ratings.get(key) if own else None,
        )
    rsa = _rsa_counts(answers) if previous.ask_rsa else {}
    return shown, own, rsa
