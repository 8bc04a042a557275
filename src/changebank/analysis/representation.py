"""Representation check: whom a programme has reached, beside a reference profile.

The team enters a reference profile for one attribute (for example the workforce by staff group, or
the local population by age band) as per-cent shares ``p_g``. The contributors give counts ``n_g``
for the same groups. With ``N = Σ n_g`` (contributors whose group is known):

* contributor share ``s_g = 100 · n_g / N`` (per cent, so it reads beside ``p_g``);
* ratio ``r_g = s_g / p_g`` (1 means the group is represented in proportion; undefined when the
  reference share is 0);
* expected count ``e_g = N · p_g / 100``, the number of contributors from the group if they matched
  the reference exactly;
* a group is **not yet reached** when ``p_g > 0`` and ``n_g = 0``, and **under-represented** when
  ``n_g > 0`` and ``s_g < factor · p_g`` (``factor`` is 0.8 by default, the "four-fifths" rule of
  thumb used in adverse-impact checks).

The goodness-of-fit test asks whether the contributors could be a random sample of the reference
population. Its categories are the reference groups with ``p_g > 0``. When the reference shares add
up to less than 100 (by more than ``rest_tolerance`` points), the remainder ``100 − Σ p_g`` becomes
one more category, "everyone else", whose observed count is the contributors in groups outside the
reference. Otherwise the shares are scaled to add up to exactly 100 and contributors outside the
reference are left out of the test (they are still shown, as "not in the reference"). With ``n``
contributors in the test and category probabilities ``π_c`` (shares divided by their sum), the
expected counts are ``E_c = n · π_c`` and

    χ² = Σ_c (O_c − E_c)² / E_c,   with k − 1 degrees of freedom (k categories),

and ``p`` is the upper tail of the chi-square distribution. The approximation is rough when an
expected count is below 5; ``low_expected`` says so.

Group names are matched ignoring case and repeated spaces, so "Female" and "female " are one group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy.stats import chi2 as chi2_distribution

NOT_REACHED = "not yet reached"
UNDER_REPRESENTED = "under-represented"
REACHED = "reached"
NOT_IN_REFERENCE = "not in the reference"
NONE_EXPECTED = "none expected"


@dataclass(frozen=True)
class GroupShare:
    """One group: its contributors beside its reference share."""

    group: str
    count: int  # contributors in the group
    share: float  # per cent of contributors whose group is known
    reference: float | None  # per cent of the reference population; None: not in the reference
    expected: float | None  # contributors expected if they matched the reference
    ratio: float | None  # share / reference; None when the reference share is 0 or missing
    status: str  # one of NOT_REACHED, UNDER_REPRESENTED, REACHED, NOT_IN_REFERENCE, NONE_EXPECTED

    @property
    def flagged(self) -> bool:
        return self.status in (NOT_REACHED, UNDER_REPRESENTED)


@dataclass(frozen=True)
class Representation:
    """The contributors' profile beside the reference profile, with a goodness-of-fit test."""

    groups: list[GroupShare]
    total: int  # contributors whose group is known
    reference_total: float  # the reference shares added up (per cent)
    factor: float
    chi2: float | None  # None when there is nothing to test (fewer than two categories, no one)
    dof: int
    p_value: float | None
    tested: int  # contributors counted in the test
    rest_share: float  # per cent given to "everyone else" in the test (0 when not used)
    low_expected: bool  # an expected count below 5: read the p-value with care

    @property
    def not_reached(self) -> list[str]:
        return [g.group for g in self.groups if g.status == NOT_REACHED]

    @property
    def under_represented(self) -> list[str]:
        return [g.group for g in self.groups if g.status == UNDER_REPRESENTED]

    @property
    def left_out(self) -> int:
        """Contributors in groups outside the reference that the test could not place."""
        return self.total - self.tested


def group_key(name: str) -> str:
    """The name used to match groups: case folded, spaces collapsed."""
    return " ".join(str(name).split()).casefold()


def _finite(value: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} should be a number, got {value!r:.40}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} should be a finite number, got {number}")
    return number


def compare_to_reference(
    counts: Mapping[str, int],
    reference: Mapping[str, float],
    *,
    factor: float = 0.8,
    rest_tolerance: float = 0.5,
) -> Representation:
    """Contributors per group (``counts``) beside reference shares in per cent (``reference``).

    Groups come out in the reference's order, then groups outside the reference by size. Raises
    ``ValueError`` for negative counts, shares outside 0–100, a ``factor`` that is not positive or
    a group named twice in the reference.
    """
    factor = _finite(factor, "factor")
    if factor <= 0:
        raise ValueError(f"factor should be above 0, got {factor}")
    observed: dict[str, int] = {}
    names: dict[str, str] = {}
    for name, value in counts.items():
        n = _finite(value, f"the count of {name!r}")
        if n < 0 or n != int(n):
            raise ValueError(f"the count of {name!r} should be a whole number ≥ 0, got {value}")
        key = group_key(name)
        if not key:
            raise ValueError("a group in counts has an empty name")
        names.setdefault(key, str(name).strip())
        observed[key] = observed.get(key, 0) + int(n)
    shares: dict[str, float] = {}
    ref_names: dict[str, str] = {}
    for name, value in reference.items():
        p = _finite(value, f"the reference share of {name!r}")
        if not 0 <= p <= 100:
            raise ValueError(f"the reference share of {name!r} should be 0–100, got {p}")
        key = group_key(name)
        if not key:
            raise ValueError("a group in the reference has an empty name")
        if key in shares:
            raise ValueError(f"the reference names {name!r} twice")
        shares[key] = p
        ref_names[key] = str(name).strip()

    total = sum(observed.values())
    reference_total = sum(shares.values())
    outside = sorted(
        (k for k in observed if k not in shares), key=lambda k: (-observed[k], names[k])
    )
    groups = []
    for key in [*shares, *outside]:
        n = observed.get(key, 0)
        share = 100.0 * n / total if total else 0.0
        p = shares.get(key)
        if p is None:
            status, expected, ratio = NOT_IN_REFERENCE, None, None
        else:
            expected = total * p / 100.0
            ratio = share / p if p > 0 else None
            if n == 0:
                status = NOT_REACHED if p > 0 else NONE_EXPECTED
            elif share < factor * p:
                status = UNDER_REPRESENTED
            else:
                status = REACHED
        groups.append(
            GroupShare(
                ref_names.get(key, names.get(key, key)), n, share, p, expected, ratio, status
            )
        )

    # The goodness-of-fit test.
    cats = [(observed.get(k, 0), p) for k, p in shares.items() if p > 0]
    beyond = total - sum(o for o, _ in cats)  # contributors outside the positive-share groups
    rest = 100.0 - reference_total
    rest_share = 0.0
    if rest > rest_tolerance:
        rest_share = rest
        cats.append((beyond, rest))
    tested = sum(o for o, _ in cats)
    chi2 = p_value = None
    dof = max(len(cats) - 1, 0)
    low = False
    if len(cats) >= 2 and tested > 0:
        weight = sum(p for _, p in cats)
        expected_counts = [tested * p / weight for _, p in cats]
        chi2 = float(sum((o - e) ** 2 / e for (o, _), e in zip(cats, expected_counts, strict=True)))
        p_value = float(chi2_distribution.sf(chi2, dof))
        low = min(expected_counts) < 5
    return Representation(
        groups=groups,
        total=total,
        reference_total=reference_total,
        factor=factor,
        chi2=chi2,
        dof=dof,
        p_value=p_value,
        tested=tested,
        rest_share=rest_share,
        low_expected=low,
    )
