"""A metric's series read as Making Data Count reads it: the XmR chart (limits recalculated at
go-live), the variation and assurance icons, and a before-and-after summary, ready for a page.

The maths is :mod:`changebank.analysis.spc`; the drawing is :mod:`changebank.evaluate.charts`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from changebank.analysis import spc

from . import charts
from .models import Evaluation, Metric

VARIATION_LABELS = {
    "common_cause": "Common cause variation: no significant change",
    "improvement_high": "Special cause variation: improvement (higher values)",
    "improvement_low": "Special cause variation: improvement (lower values)",
    "concern_high": "Special cause variation: concern (higher values)",
    "concern_low": "Special cause variation: concern (lower values)",
    "neutral_high": "Special cause variation: higher values (no direction set)",
    "neutral_low": "Special cause variation: lower values (no direction set)",
}
ASSURANCE_LABELS = {
    "pass": "The process consistently passes the target",  # a label, no password  # nosec B105
    "fail": "The process consistently fails the target",
    "hit_and_miss": "The process will hit and miss the target (common cause variation)",
}
#: Fewer points than this in a period give provisional limits (Making Data Count guidance).
MIN_POINTS_FOR_LIMITS = spc.SHORT_PERIOD
RULE_LABELS = {
    "outside_limits": "outside the process limits",
    "trend": "a trend of 7 points",
    "two_in_three": "2 of 3 points near a limit",
    "shift": "a run of 7 points on one side of the mean",
}
POINT_LABELS = {
    "common_cause": "Common cause",
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_concern": "Special cause: concern",
    "special_cause_neutral_high": "Special cause: high",
    "special_cause_neutral_low": "Special cause: low",
}


@dataclass
class MetricChart:
    """Everything a page shows about one metric."""

    metric: Metric
    periods: list[dt.date] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    frame: Any = None  # the xmr DataFrame, or None with fewer than 2 points
    svg: str = ""
    variation: str | None = None
    assurance: str | None = None
    before_after: Any = None
    go_live_index: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def has_chart(self) -> bool:
        return self.frame is not None

    @property
    def variation_label(self) -> str:
        return VARIATION_LABELS.get(self.variation or "", "")

    @property
    def assurance_label(self) -> str:
        return ASSURANCE_LABELS.get(self.assurance or "", "")

    @property
    def variation_svg(self) -> str:
        return charts.variation_icon_svg(self.variation) if self.variation else ""

    @property
    def assurance_svg(self) -> str:
        return charts.assurance_icon_svg(self.assurance) if self.assurance else ""

    def rows(self) -> list[dict[str, Any]]:
        """The data table beside the chart: one row per point."""
        if self.frame is None:
            return []
        out = []
        for i, (period, row) in enumerate(zip(self.periods, self.frame.itertuples(), strict=True)):
            out.append(
                {
                    "period": period,
                    "value": self.values[i],
                    "mean": row.mean,
                    "lpl": row.lpl,
                    "upl": row.upl,
                    "type": POINT_LABELS.get(row.point_type, row.point_type),
                    "special": row.point_type != "common_cause",
                    "rule": RULE_LABELS.get(getattr(row, "rule", "") or "", ""),
                    "go_live": i == self.go_live_index,
                }
            )
        return out


def go_live_index(periods: list[dt.date], go_live: dt.date | None) -> int | None:
    """The index of the first point on or after go-live, when there are points on both sides."""
    if go_live is None:
        return None
    for i, period in enumerate(periods):
        if period >= go_live:
            return i if i > 0 else None
    return None


def metric_chart(metric: Metric, values: list | None = None) -> MetricChart:
    """Compute the chart of ``metric`` (``values``: its MetricValue rows, if already fetched)."""
    points = list(values if values is not None else metric.values.all())
    chart = MetricChart(
        metric=metric,
        periods=[p.period for p in points],
        values=[p.value for p in points],
    )
    if len(points) < 2:
        return chart
    go_live = metric.effective_go_live
    index = go_live_index(chart.periods, go_live)
    chart.go_live_index = index
    if go_live is not None and index is None:
        if go_live <= chart.periods[0]:
            chart.warnings.append(
                f"Go-live ({go_live:%-d %B %Y}) is on or before the first point, so there is "
                "no period before it to compare with."
            )
        else:
            chart.warnings.append(
                f"Go-live ({go_live:%-d %B %Y}) is after the last point: no data since go-live yet."
            )
    frame = spc.xmr(
        chart.values,
        improvement=metric.improvement,
        rebase_at=[index] if index is not None else None,
        screen_outliers=metric.screen_outliers,
    )
    chart.frame = frame
    chart.warnings.extend(short_period_warnings(len(points), index))
    chart.variation = spc.variation_icon(frame)
    if metric.target is not None:
        chart.assurance = spc.assurance_icon(frame, metric.target, metric.improvement)
    if index is not None:
        # Judged against the baseline's limits carried forward (MDC: fix the baseline, then look
        # for signals), not against the after period's own recalculated limits, which would
        # centre on the new level and hide the shift.
        chart.before_after = (
            spc.before_after(
                chart.values, index, metric.improvement, screen_outliers=metric.screen_outliers
            )
            if index >= 2
            else spc.before_after(frame, index, metric.improvement)
        )
    labels = [f"{p:%b %Y}" if _monthly(chart.periods) else f"{p:%-d %b %Y}" for p in chart.periods]
    chart.svg = charts.spc_chart_svg(
        frame,
        labels,
        title=metric.name + (f" ({metric.unit})" if metric.unit else ""),
        unit=metric.unit,
        target=metric.target,
        improvement=metric.improvement,
        go_live_index=index,
    )
    return chart


def short_period_warnings(n: int, index: int | None) -> list[str]:
    """Making Data Count asks for at least 13 points before limits are relied on (the warning
    NHSRplotthedots gives as "less than 12 points"), in words a reader of the page understands."""
    if index is None:
        periods = [("of the series", n)]
    else:
        periods = [("before go-live", index), ("since go-live", n - index)]
    return [
        f"The limits {where} rest on {count} point{'s' if count != 1 else ''}, fewer than the 13 "
        "that Making Data Count asks for: treat them as provisional until more data arrive."
        for where, count in periods
        if count < MIN_POINTS_FOR_LIMITS
    ]


def _monthly(periods: list[dt.date]) -> bool:
    """True when every point is the first of a month and no month repeats: label as "Mar 2024"."""
    return all(p.day == 1 for p in periods) and len({(p.year, p.month) for p in periods}) == len(
        periods
    )


def metric_summaries(evaluation: Evaluation) -> list[MetricChart]:
    """Every metric of ``evaluation`` with its chart, in two queries."""
    metrics = list(evaluation.metrics.prefetch_related("values"))
    return [metric_chart(m, list(m.values.all())) for m in metrics]
