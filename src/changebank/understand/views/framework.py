"""The framework matrix and what goes with it: themes (or codes) by any respondent attribute, keep
versus never again inside each theme, codes that go together, and the representation check.

The numbers come from the pure functions of :mod:`changebank.analysis` (``prevalence_by_group``,
``split_by_label``, ``cooccurrence``, ``compare_to_reference``); this module reads the database into
the 0/1 matrices they take and renders the pages.

A submission counts in a theme when one of its codes has that theme as its home theme or lists it in
``also_in``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F
from django.db.models.fields.json import KeyTextTransform
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from changebank.core.permissions import needs_permission
from changebank.listen.forms import EQUALITY_QUESTIONS, PREFER_NOT
from changebank.listen.models import Programme, Role

from ..models import Code, CodeAssignment, ReferenceShare, Stance, Theme
from .common import programme_or_404

if TYPE_CHECKING:
    import numpy as np
    import scipy.sparse as sp

#: The fixed ways to split submissions: key → (label, noun, path from Submission).
GROUPINGS = {
    "organisation": ("Organisation", "organisation", "respondent__organisation"),
    "role": ("Role", "role", "respondent__role"),
    "sector": ("Sector or service", "sector or service", "respondent__sector"),
    "region": ("Region", "region", "respondent__region"),
    "question": ("Question answered", "question", "question__prompt"),
}
MAX_GROUPS = 8
OTHER = "Other"
#: Rows of the co-occurrence matrix, and pairs listed under it.
TOP_CODES = 15
TOP_PAIRS = 10
#: A group is under-represented when its share of contributors is below this × its reference share.
UNDER_FACTOR = 0.8
#: Most rows the reference form offers and accepts.
MAX_REFERENCE_ROWS = 200
#: Most cells of a dense chunk handed to ``prevalence_by_group`` (int8, so about 20 MB).
CHUNK_CELLS = 20_000_000
#: Stance categories in the order shown; "" is a submission without a reading.
STANCES = [Stance.KEEP, Stance.CONCERN, Stance.MIXED, Stance.NEUTRAL, ""]
STANCE_LABELS = {**dict(Stance.choices), "": "Not read yet"}
ROW_KINDS = {"themes": "Themes", "codes": "Codes"}
MEASURES = {"jaccard": "Jaccard similarity", "lift": "Lift"}


# --- attributes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    """One way to split submissions or respondents into groups."""

    key: str  # in the address and in ReferenceShare.attribute: role, equality:age, attribute:…
    label: str  # "Organisation", "Equality: age", "Service type 2"
    noun: str  # as in "120 submissions have no {noun}"
    field: str  # the Respondent field ("role", "equality", …), or "question"
    json_key: str | None = None  # the key inside a JSON field

    def expression(self, prefix: str) -> Any:
        """The value of this attribute, reached from a model through ``prefix`` ("" or
        "respondent__")."""
        if self.field == "question":
            return F("question__prompt")
        if self.json_key is not None:
            return KeyTextTransform(self.json_key, f"{prefix}{self.field}")
        return F(f"{prefix}{self.field}")


def _json_keys(programme: Programme) -> tuple[list[str], list[str]]:
    """The keys present in the programme's respondents' ``equality`` and ``attributes``."""
    found: dict[str, set[str]] = {"equality": set(), "attributes": set()}
    for field, keys in found.items():
        values = programme.respondents.order_by().values_list(field, flat=True).distinct()
        for value in values.iterator(chunk_size=2_000):
            if isinstance(value, dict):
                keys.update(
                    str(k) for k, v in value.items() if str(k).strip() and v not in (None, "")
                )
    known = [k for k in EQUALITY_QUESTIONS if k in found["equality"]]
    equality = known + sorted(found["equality"] - set(known), key=str.casefold)
    return equality, sorted(found["attributes"], key=str.casefold)


def _equality_grouping(key: str) -> Grouping:
    return Grouping(f"equality:{key}", f"Equality: {key}", f"answer about {key}", "equality", key)


def _attribute_grouping(key: str) -> Grouping:
    return Grouping(f"attribute:{key}", key, f"‘{key}’", "attributes", key)


def groupings(programme: Programme, *, for_reference: bool = False) -> dict[str, Grouping]:
    """Every way to split this programme: the fixed fields, each equality key and each other
    imported column. For the representation check, the question is left out (it is not a trait of
    the people), every standard equality question is offered even before anyone answered it, and
    attributes that already have a reference profile stay on the list."""
    out = {
        key: Grouping(key, label, noun, "question" if key == "question" else path.split("__")[-1])
        for key, (label, noun, path) in GROUPINGS.items()
        if not (for_reference and key == "question")
    }
    equality, attributes = _json_keys(programme)
    if for_reference:
        equality = list(dict.fromkeys([*EQUALITY_QUESTIONS, *equality]))
        for attribute in (
            programme.reference_shares.order_by("attribute")
            .values_list("attribute", flat=True)
            .distinct()
        ):
            kind, _, name = attribute.partition(":")
            if kind == "equality" and name not in equality:
                equality.append(name)
            elif kind == "attribute" and name not in attributes:
                attributes.append(name)
    for key in equality:
        out.setdefault(f"equality:{key}", _equality_grouping(key))
    for key in attributes:
        out.setdefault(f"attribute:{key}", _attribute_grouping(key))
    if for_reference:  # ReferenceShare.attribute holds at most 60 characters
        out = {k: g for k, g in out.items() if len(k) <= 60}
    return out


def _clean(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


ROLE_LABELS = dict(Role.choices)


# --- the submissions × themes matrix --------------------------------------------------------------


def _submission_values(programme: Programme, grouping: Grouping) -> tuple[list[int], list[str]]:
    """Every submission's id (in id order) and its value of ``grouping`` ("" when not known)."""
    rows = (
        programme.submissions.order_by("id")
        .annotate(group_value=grouping.expression("respondent__"))
        .values_list("id", "group_value")
    )
    ids, values = [], []
    for sid, value in rows.iterator(chunk_size=10_000):
        ids.append(sid)
        text = _clean(value)
        values.append(ROLE_LABELS.get(text, text) if grouping.field == "role" else text)
    return ids, values


def _membership(
    programme: Programme, index: dict[int, int], rows: str
) -> tuple[sp.csc_matrix, list[Theme] | list[Code]]:
    """The submissions × themes (or × codes) 0/1 matrix, sparse, and the themes or codes of its
    columns: themes that hold at least one code, codes that hold at least one submission."""
    import numpy as np
    import scipy.sparse as sp

    codes = list(programme.codes.order_by("position", "id"))
    code_col = {c.pk: j for j, c in enumerate(codes)}
    r, c = [], []
    pairs = CodeAssignment.objects.filter(code__programme=programme).values_list(
        "submission_id", "code_id"
    )
    for sid, cid in pairs.iterator(chunk_size=10_000):
        i = index.get(sid)
        if i is not None and cid in code_col:
            r.append(i)
            c.append(code_col[cid])
    S = sp.csr_matrix(
        (np.ones(len(r), dtype=np.int64), (r, c)), shape=(len(index), len(codes))
    ).tocsc()
    S.sum_duplicates()
    S.data[:] = 1
    if rows == "codes":
        used = np.flatnonzero(np.asarray(S.sum(axis=0)).ravel() > 0)
        return S[:, used], [codes[j] for j in used]
    themes = list(programme.themes.order_by("position", "id"))
    theme_col = {t.pk: j for j, t in enumerate(themes)}
    links = [(code_col[code.pk], theme_col[code.theme_id]) for code in codes if code.theme_id]
    shared = Code.also_in.through.objects.filter(code__programme=programme).values_list(
        "code_id", "theme_id"
    )
    links += [(code_col[cid], theme_col[tid]) for cid, tid in shared if tid in theme_col]
    C = sp.csr_matrix(
        (np.ones(len(links), dtype=np.int64), ([a for a, _ in links], [b for _, b in links])),
        shape=(len(codes), len(themes)),
    )
    Y = (S @ C).tocsc()
    Y.data[:] = 1  # a submission with two codes of one theme counts once
    used = np.flatnonzero(np.asarray(C.sum(axis=0)).ravel() > 0)
    return Y[:, used], [themes[j] for j in used]


def _top_groups(values: list[str]) -> tuple[list[str], str | None]:
    """The 8 largest groups keep their name, the rest become "Other" ("" stays unknown). Returns
    the groups and the name of the "Other" column (None when every group fits)."""
    sizes: dict[str, int] = {}
    for value in values:
        if value:
            sizes[value] = sizes.get(value, 0) + 1
    if len(sizes) <= MAX_GROUPS:
        return values, None
    top = set(sorted(sizes, key=lambda v: (-sizes[v], v))[:MAX_GROUPS])
    other = OTHER if OTHER not in top else "Every other group"
    return [v if v in top else (other if v else "") for v in values], other


def _prevalence(Y: sp.csc_matrix, groups: list[str]) -> list:
    """``prevalence_by_group`` over the columns of sparse ``Y``, a dense chunk at a time."""
    import numpy as np

    from changebank.analysis import prevalence_by_group

    n, k = Y.shape
    step = max(1, CHUNK_CELLS // max(n, 1))
    out = []
    for start in range(0, k, step):
        chunk = Y[:, start : start + step].toarray().astype(np.int8)
        out += prevalence_by_group(chunk, groups, min_share=0.0)
    return out


def _submissions_url(programme: Programme, **params: Any) -> str:
    return reverse("understand:submissions", args=[programme.slug]) + "?" + urlencode(params)


def _group_filters(programme: Programme, grouping: Grouping) -> dict[str, dict[str, str]] | None:
    """For groupings the submissions search can filter by (role, organisation, question): the
    search parameter for each group name. None for the others."""
    if grouping.key == "role":
        return {label: {"role": value} for value, label in Role.choices}
    if grouping.key == "question":
        prompts: dict[str, list[int]] = {}
        for pk, prompt in programme.questions.values_list("pk", "prompt"):
            prompts.setdefault(_clean(prompt), []).append(pk)
        return {p: {"question": str(pks[0])} for p, pks in prompts.items() if len(pks) == 1}
    if grouping.key == "organisation":
        return {}  # any name: filled in per group
    return None


def _row_param(obj: Theme | Code) -> dict[str, str]:
    return {"theme" if isinstance(obj, Theme) else "code": str(obj.pk)}


def _choose(request: HttpRequest, name: str, choices: Any, default: str) -> str:
    value = request.GET.get(name)
    return value if value in choices else default


@needs_permission("understand.view_code")
def who_said_it(request: HttpRequest, slug: str) -> HttpResponse:
    """The framework matrix: how many submissions in each group raised each theme (or code), with
    a chi-square test of whether the groups differ, Cramér's V and the "consistent" flag."""
    import numpy as np

    programme = programme_or_404(slug)
    options = groupings(programme)
    by = _choose(request, "by", options, "organisation")
    rows_kind = _choose(request, "rows", ROW_KINDS, "themes")
    grouping = options[by]
    ids, raw = _submission_values(programme, grouping)
    index = {sid: i for i, sid in enumerate(ids)}
    groups, other = _top_groups(raw)
    known = sum(1 for g in groups if g)
    Y, objects = _membership(programme, index, rows_kind)
    filters = _group_filters(programme, grouping)
    rows: list[dict] = []
    names: list[str] = []
    totals: list[int] = []
    if objects and known:
        prevalences = _prevalence(Y, groups)
        order = sorted(
            range(len(prevalences[0].groups)),
            key=lambda i: (
                prevalences[0].groups[i] == other,
                -int(prevalences[0].totals[i]),
                prevalences[0].groups[i],
            ),
        )
        names = [prevalences[0].groups[i] for i in order]
        totals = [int(prevalences[0].totals[i]) for i in order]
        sizes = np.asarray(Y.sum(axis=0)).ravel()
        for j, (obj, p) in enumerate(zip(objects, prevalences, strict=True)):
            base = _row_param(obj)
            shares = p.shares
            cells = []
            for i, name in zip(order, names, strict=True):
                url = None
                if filters is not None and name != other:
                    extra = {"organisation": name} if by == "organisation" else filters.get(name)
                    if extra:
                        url = _submissions_url(programme, **base, **extra)
                cells.append((int(p.counts[i]), float(shares[i]), url))
            rows.append(
                {
                    "obj": obj,
                    "p": p,
                    "cells": cells,
                    "total": int(sizes[j]),
                    "url": _submissions_url(programme, **base),
                }
            )
        rows.sort(key=lambda r: -int(r["p"].counts.sum()))
    return render(
        request,
        "understand/who_said_it.html",
        {
            "programme": programme,
            "by": by,
            "groupings": options,
            "grouping": grouping,
            "label": grouping.label,
            "rows_kind": rows_kind,
            "row_kinds": ROW_KINDS,
            "rows": rows,
            "group_names": names,
            "totals": totals,
            "linked": filters is not None,
            "other": other,
            "unknown": len(ids) - known,
            "page_title": f"Framework matrix: {programme.title}",
        },
    )


# --- keep versus never again ----------------------------------------------------------------------


@needs_permission("understand.view_code")
def framework_stance(request: HttpRequest, slug: str) -> HttpResponse:
    """Inside each theme (or code): how many of its submissions would keep a change, say "never
    again", are mixed or take no stance."""
    import numpy as np

    from changebank.analysis import split_by_label

    from ..models import SubmissionReading

    programme = programme_or_404(slug)
    rows_kind = _choose(request, "rows", ROW_KINDS, "themes")
    ids = list(programme.submissions.order_by("id").values_list("id", flat=True))
    index = {sid: i for i, sid in enumerate(ids)}
    labels = [""] * len(ids)
    readings = SubmissionReading.objects.filter(submission__programme=programme).values_list(
        "submission_id", "stance"
    )
    for sid, value in readings.iterator(chunk_size=10_000):
        i = index.get(sid)
        if i is not None:
            labels[i] = value if value in STANCE_LABELS else ""
    Y, objects = _membership(programme, index, rows_kind)
    _, counts = split_by_label(Y, labels, STANCES)
    sizes = np.asarray(Y.sum(axis=0)).ravel()
    keep, concern = STANCES.index(Stance.KEEP), STANCES.index(Stance.CONCERN)

    def row(obj: Theme | Code | None, c: np.ndarray, size: int) -> dict:
        base = _row_param(obj) if obj is not None else {}
        share = c / size if size else np.zeros(len(c))
        cells = [
            (
                int(c[s]),
                float(share[s]),
                _submissions_url(programme, **base, stance=value) if value else None,
            )
            for s, value in enumerate(STANCES)
        ]
        return {
            "obj": obj,
            "cells": cells,
            "total": size,
            "url": _submissions_url(programme, **base) if base else None,
            "balance": float(100 * (share[keep] - share[concern])),
        }

    rows = sorted(
        (row(obj, counts[j], int(sizes[j])) for j, obj in enumerate(objects)),
        key=lambda r: -r["total"],
    )
    everyone = np.array([labels.count(value) for value in STANCES])
    return render(
        request,
        "understand/framework_stance.html",
        {
            "programme": programme,
            "rows": rows,
            "all": row(None, everyone, len(ids)),
            "rows_kind": rows_kind,
            "row_kinds": ROW_KINDS,
            "stances": [STANCE_LABELS[s] for s in STANCES],
            "page_title": f"Keep or never again, by {ROW_KINDS[rows_kind].lower()[:-1]}: "
            f"{programme.title}",
        },
    )


# --- codes that go together -----------------------------------------------------------------------


@needs_permission("understand.view_code")
def framework_cooccurrence(request: HttpRequest, slug: str) -> HttpResponse:
    """How many submissions carry both of two codes, for the 15 largest codes, with Jaccard
    similarity or lift."""
    from changebank.analysis import cooccurrence

    programme = programme_or_404(slug)
    measure = _choose(request, "measure", MEASURES, "jaccard")
    ids = list(programme.submissions.order_by("id").values_list("id", flat=True))
    Y, codes = _membership(programme, {sid: i for i, sid in enumerate(ids)}, "codes")
    co = cooccurrence(Y, top=TOP_CODES)
    chosen = [codes[j] for j in co.columns]
    values = co.jaccard if measure == "jaccard" else co.lift
    matrix = [
        {
            "code": code,
            "size": int(co.sizes[a]),
            "cells": [
                (int(co.counts[a, b]), float(values[a, b]), a == b) for b in range(len(chosen))
            ],
        }
        for a, code in enumerate(chosen)
    ]
    jaccard, lift = co.jaccard, co.lift
    pairs = [
        {
            "a": chosen[i],
            "b": chosen[j],
            "count": count,
            "jaccard": float(jaccard[i, j]),
            "lift": float(lift[i, j]),
        }
        for i, j, count in co.pairs(limit=TOP_PAIRS)
    ]
    return render(
        request,
        "understand/framework_cooccurrence.html",
        {
            "programme": programme,
            "codes": chosen,
            "matrix": matrix,
            "pairs": pairs,
            "measure": measure,
            "measures": MEASURES,
            "n": co.n,
            "page_title": f"Codes that go together: {programme.title}",
        },
    )


# --- representation check -------------------------------------------------------------------------


def _parse_share(raw: str) -> float | None:
    text = raw.strip().removesuffix("%").strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class ReferenceProfileForm(forms.Form):
    """A reference profile for one attribute: rows of group and per-cent share, and a source.

    Rows without a share are left out (the form suggests groups the analyst may have no figure
    for); saving no shares at all removes the profile."""

    source = forms.CharField(
        required=False,
        max_length=300,
        error_messages={"max_length": "Source: enter 300 characters or fewer"},
    )

    def __init__(self, *args: Any, rows: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        self.entries: list[tuple[str, float]] = []
        for i in range(rows):
            self.fields[f"group_{i}"] = forms.CharField(
                required=False,
                max_length=200,
                error_messages={"max_length": f"Row {i + 1}, group: enter 200 characters or fewer"},
            )
            self.fields[f"share_{i}"] = forms.CharField(
                required=False,
                max_length=30,
                error_messages={
                    "max_length": f"Row {i + 1}, share: enter a number from 0 to 100, like 12.5"
                },
            )

    def row_fields(self) -> list[tuple[int, forms.BoundField, forms.BoundField]]:
        return [(i + 1, self[f"group_{i}"], self[f"share_{i}"]) for i in range(self.rows)]

    def clean(self) -> dict[str, Any]:
        from changebank.analysis.representation import group_key

        data = super().clean()
        seen: dict[str, int] = {}
        total = 0.0
        for i in range(self.rows):
            gname, sname, row = f"group_{i}", f"share_{i}", i + 1
            if gname in self.errors or sname in self.errors:
                continue
            group = _clean(data.get(gname))
            raw = (data.get(sname) or "").strip()
            if not raw:
                continue  # an empty row, or a suggested group the analyst has no figure for
            if not group:
                self.add_error(
                    gname, f"Row {row}, group: enter the group's name, or clear its share"
                )
                continue
            share = _parse_share(raw)
            if share is None:
                self.add_error(
                    sname, f"Row {row}, share: enter the share of ‘{group}’ as a number, like 12.5"
                )
                continue
            if not 0 <= share <= 100:
                self.add_error(
                    sname, f"Row {row}, share: the share of ‘{group}’ must be between 0 and 100"
                )
                continue
            key = group_key(group)
            if key in seen:
                self.add_error(gname, f"Row {row}, group: ‘{group}’ is already in row {seen[key]}")
                continue
            seen[key] = row
            self.entries.append((group, share))
            total += share
        if not self.errors and total > 100.5:
            raise forms.ValidationError(
                f"The shares add up to {total:g}%. They must add up to 100% or less "
                "(up to 100.5% allows for rounding)"
            )
        return data


def _contributor_counts(
    programme: Programme, grouping: Grouping
) -> tuple[dict[str, int], int, str]:
    """Contributors per group: respondents, or submissions when the programme has no respondents.
    Returns (counts, how many did not say, the unit)."""
    if programme.respondents.exists():
        qs, prefix, unit = programme.respondents.all(), "", "respondents"
    else:
        qs, prefix, unit = programme.submissions.all(), "respondent__", "submissions"
    grouped = (
        qs.order_by()
        .annotate(group_value=grouping.expression(prefix))
        .values("group_value")
        .annotate(n=Count("id"))
    )
    counts: dict[str, int] = {}
    unknown = 0
    for row in grouped:
        value = _clean(row["group_value"])
        if grouping.field == "role":
            value = ROLE_LABELS.get(value, value)
        if not value or value.casefold() == PREFER_NOT.casefold():
            unknown += row["n"]
        else:
            counts[value] = counts.get(value, 0) + row["n"]
    return counts, unknown, unit


def _known_groups(grouping: Grouping) -> list[str]:
    """The answers a standard question offers, so groups no one chose can still be entered."""
    if grouping.key == "role":
        return [label for _, label in Role.choices]
    if grouping.field == "equality" and grouping.json_key in EQUALITY_QUESTIONS:
        return list(EQUALITY_QUESTIONS[grouping.json_key][1])
    return []


def _initial_rows(
    saved: list[ReferenceShare], grouping: Grouping, counts: dict[str, int]
) -> dict[str, Any]:
    from changebank.analysis.representation import group_key

    rows: list[tuple[str, str]] = [(r.group, f"{r.share:g}") for r in saved]
    listed = {group_key(g) for g, _ in rows}
    for name in [*_known_groups(grouping), *sorted(counts, key=lambda g: (-counts[g], g))]:
        if len(rows) >= 40:
            break
        if group_key(name) not in listed:
            listed.add(group_key(name))
            rows.append((name, ""))
    rows += [("", "")] * 3
    initial: dict[str, Any] = {"source": saved[0].source if saved else ""}
    for i, (group, share) in enumerate(rows):
        initial[f"group_{i}"] = group
        initial[f"share_{i}"] = share
    initial["rows"] = len(rows)
    return initial


def _posted_rows(data: Any) -> int:
    indices = [
        int(name.split("_", 1)[1])
        for name in data
        if name.startswith(("group_", "share_")) and name.split("_", 1)[1].isdigit()
    ]
    return min(max(indices, default=-1) + 1, MAX_REFERENCE_ROWS)


def _save_reference(
    programme: Programme, grouping: Grouping, entries: list[tuple[str, float]], source: str
) -> None:
    """Replace the attribute's reference rows, all or nothing, and record it in the audit trail."""
    from changebank.core.audit import record

    with transaction.atomic():
        rows = programme.reference_shares.filter(attribute=grouping.key)
        before = [[g, s] for g, s in rows.values_list("group", "share")]
        rows.delete()
        ReferenceShare.objects.bulk_create(
            ReferenceShare(
                programme=programme,
                attribute=grouping.key,
                group=group,
                share=share,
                source=source,
            )
            for group, share in entries
        )
        record(
            "reference profile",
            object_type="understand.referenceshare",
            object_id=f"{programme.pk}:{grouping.key}"[:64],
            before={"shares": before},
            after={"shares": [[g, s] for g, s in entries], "source": source},
            note=f"Reference profile for {grouping.label}: {len(entries)} groups",
        )


@needs_permission("understand.view_code")
@require_http_methods(["GET", "POST"])
def framework_representation(request: HttpRequest, slug: str) -> HttpResponse:
    """The contributors' profile beside the reference profile the team entered, with the groups not
    yet reached or under-represented and a chi-square goodness-of-fit test; analysts may enter or
    replace the reference profile."""
    from changebank.analysis import compare_to_reference

    programme = programme_or_404(slug)
    options = groupings(programme, for_reference=True)
    by = _choose(request, "by", options, "role")
    grouping = options[by]
    can_edit = request.user.has_perm("understand.change_referenceshare")
    counts, unknown, unit = _contributor_counts(programme, grouping)
    saved = list(programme.reference_shares.filter(attribute=by).order_by("-share", "group"))
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        form = ReferenceProfileForm(request.POST, rows=_posted_rows(request.POST))
        if form.is_valid():
            source = _clean(form.cleaned_data["source"])
            _save_reference(programme, grouping, form.entries, source)
            if form.entries:
                messages.success(
                    request,
                    f"Reference profile for {grouping.label} saved: {len(form.entries)} groups.",
                )
            else:
                messages.success(request, f"Reference profile for {grouping.label} removed.")
            url = reverse("understand:framework_representation", args=[programme.slug])
            return redirect(f"{url}?{urlencode({'by': by})}")
    else:
        initial = _initial_rows(saved, grouping, counts)
        form = ReferenceProfileForm(initial=initial, rows=initial["rows"])
    reference = {r.group: r.share for r in saved}
    result = compare_to_reference(counts, reference, factor=UNDER_FACTOR)
    errors = []
    for name, problems in form.errors.items():
        href = f"#id_{name}" if name != "__all__" else "#shares"
        errors.extend({"text": problem, "href": href} for problem in problems)
    return render(
        request,
        "understand/framework_representation.html",
        {
            "programme": programme,
            "by": by,
            "groupings": options,
            "grouping": grouping,
            "result": result,
            "has_reference": bool(saved),
            "source": saved[0].source if saved else "",
            "unknown": unknown,
            "unit": unit,
            "form": form,
            "can_edit": can_edit,
            "errors": errors,
            "factor": UNDER_FACTOR,
            "page_title": ("Error: " if form.errors else "")
            + f"Representation check: {programme.title}",
        },
    )
