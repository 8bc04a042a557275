"""Inline SVG charts for Evaluate: XmR charts and icons in the Making Data Count style.

Plain Python (no Django): everything returns a string of SVG to put straight into a page. Every
piece of text that comes from a user (title, unit, point labels) is escaped with
:func:`html.escape`.

Colours are those of the Making Data Count tools, as NHSRplotthedots's ``ptd_spc_colours`` sets
them: special-cause improvement blue ``#00B0F0``, concern orange ``#E46C0A``, neutral purple
``#490092``, common cause grey ``#A6A6A6``, target red ``#DE1B1B``. Colour is never the only cue:
special-cause points carry an outline marker whose shape says what they are (improvement: square,
concern: triangle, neutral: diamond), every point has a ``<title>`` tooltip naming its type, and
the chart's ``<desc>`` summarises it in words.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from html import escape

import pandas as pd

from changebank.analysis.spc import (
    ASSURANCE_ICONS,
    VARIATION_ICONS,
    assurance_icon,
    variation_icon,
)

__all__ = [
    "COLOURS",
    "assurance_icon_svg",
    "spc_chart_svg",
    "variation_icon_svg",
]

COLOURS = {
    "common_cause": "#A6A6A6",
    "improvement": "#00B0F0",
    "concern": "#E46C0A",
    "neutral": "#490092",
    "value_line": "#A6A6A6",
    "mean_line": "#000000",
    "limit_line": "#768692",
    "target": "#DE1B1B",
    "go_live": "#005EB8",
    "text": "#212B32",
    "axis": "#4C6272",
    "grid": "#E8EDEE",
    # darker outlines so the light MDC fills meet 3:1 contrast against white
    "improvement_stroke": "#005EB8",
    "concern_stroke": "#8A3A00",
    "neutral_stroke": "#330072",
    "common_cause_stroke": "#768692",
}

_TYPE_TEXT = {
    "common_cause": "common cause",
    "special_cause_improvement": "special cause: improvement",
    "special_cause_concern": "special cause: concern",
    "special_cause_neutral_high": "special cause: neutral (high)",
    "special_cause_neutral_low": "special cause: neutral (low)",
}

_RULE_TEXT = {
    "outside_limits": "outside the process limits",
    "trend": "part of a trend of 7",
    "two_in_three": "2 of 3 close to a limit",
    "shift": "part of a run of 7 on one side of the mean",
}

_VARIATION_TITLES = {
    "common_cause": "Common cause variation",
    "improvement_high": "Special cause variation: improvement (high)",
    "improvement_low": "Special cause variation: improvement (low)",
    "concern_high": "Special cause variation: concern (high)",
    "concern_low": "Special cause variation: concern (low)",
    "neutral_high": "Special cause variation: neutral (high)",
    "neutral_low": "Special cause variation: neutral (low)",
}

_ASSURANCE_TITLES = {
    "pass": "Assurance: the process will consistently pass the target",  # a title  # nosec B105
    "fail": "Assurance: the process will consistently fail the target",
    "hit_and_miss": "Assurance: the process will hit and miss the target (inconsistent)",
}


def _num(x: float) -> str:
    """A coordinate, compactly."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _fmt(x: float, unit: str = "") -> str:
    if not math.isfinite(x):
        s = "n/a"
    elif x == 0:
        s = "0"
    elif abs(x) >= 1000:
        s = f"{x:,.0f}"
    elif abs(x) >= 10:
        s = f"{x:.1f}".removesuffix(".0")
    else:
        s = f"{x:.3g}"
    if not unit:
        return s
    return f"{s}{unit}" if unit in ("%", "£") or unit.startswith("%") else f"{s} {unit}"


def _nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round-numbered ticks (steps of 1, 2, 2.5 or 5 × 10^k) from at or below ``lo`` to at or
    above ``hi``."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _kind(point_type: str) -> str:
    if point_type == "special_cause_improvement":
        return "improvement"
    if point_type == "special_cause_concern":
        return "concern"
    if point_type.startswith("special_cause_neutral"):
        return "neutral"
    return "common_cause"


def _marker(kind: str, cx: float, cy: float) -> str:
    """An outline shape around a special-cause point, so the type is not told by colour only."""
    stroke = COLOURS[f"{kind}_stroke"]
    if kind == "improvement":  # square
        r = 8.0
        d = f"M{_num(cx - r)} {_num(cy - r)}h{_num(2 * r)}v{_num(2 * r)}h{_num(-2 * r)}Z"
    elif kind == "concern":  # triangle
        r = 10.0
        d = (
            f"M{_num(cx)} {_num(cy - r)}L{_num(cx + r * 0.9)} {_num(cy + r * 0.6)}"
            f"L{_num(cx - r * 0.9)} {_num(cy + r * 0.6)}Z"
        )
    else:  # neutral: diamond
        r = 10.0
        d = (
            f"M{_num(cx)} {_num(cy - r)}L{_num(cx + r)} {_num(cy)}"
            f"L{_num(cx)} {_num(cy + r)}L{_num(cx - r)} {_num(cy)}Z"
        )
    return (
        f'<path class="spc-marker spc-marker-{kind}" d="{d}" fill="none" '
        f'stroke="{stroke}" stroke-width="1.5" aria-hidden="true"/>'
    )


def _legend(
    improvement: str, has_neutral: bool, has_target: bool, x0: float, right: float
) -> tuple[str, int]:
    """The legend, wrapped onto as many rows as it needs; returns the SVG and the row count."""
    kinds = [("common_cause", "Common cause")]
    if improvement != "neutral":
        kinds += [("improvement", "Improvement (square)"), ("concern", "Concern (triangle)")]
    if improvement == "neutral" or has_neutral:
        kinds.append(("neutral", "Neutral (diamond)"))
    lines = [("Mean", COLOURS["mean_line"], ""), ("Process limits", COLOURS["limit_line"], "6 4")]
    if has_target:
        lines.append(("Target", COLOURS["target"], "2 3"))
    items = [("point", k, t, "", "") for k, t in kinds] + [
        ("line", "", t, c, d) for t, c, d in lines
    ]
    out = ['<g class="spc-legend" aria-hidden="true">']
    x, row = x0, 0
    for what, kind, text, colour, dash in items:
        w = 30 + 7.0 * len(text)
        if x + w > right and x > x0:
            x, row = x0, row + 1
        cy = 19.0 + 18 * row
        if what == "point":
            # the swatch is a path, not a <circle>, so circles stay one per data point
            cx, r = x + 8, 4.0
            out.append(
                f'<path d="M{_num(cx - r)} {_num(cy)}a{r} {r} 0 1 0 {2 * r} 0a{r} {r} 0 1 0 '
                f'{-2 * r} 0Z" fill="{COLOURS[kind]}" stroke="{COLOURS[kind + "_stroke"]}"/>'
            )
            if kind != "common_cause":
                out.append(_marker(kind, cx, cy))
        else:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(
                f'<line x1="{_num(x)}" x2="{_num(x + 18)}" y1="{_num(cy)}" y2="{_num(cy)}" '
                f'stroke="{colour}" stroke-width="1.5"{dash_attr}/>'
            )
        out.append(
            f'<text x="{_num(x + 22)}" y="{_num(cy + 4)}" fill="{COLOURS["text"]}">'
            f"{escape(text)}</text>"
        )
        x += w + 8
    out.append("</g>")
    return "".join(out), row + 1


def spc_chart_svg(
    df: pd.DataFrame,
    labels: Sequence[object],
    *,
    title: str,
    unit: str = "",
    target: float | None = None,
    improvement: str = "increase",
    go_live_index: int | None = None,
    width: int = 720,
    height: int = 380,
    id_prefix: str | None = None,
) -> str:
    """An accessible inline SVG of an XmR chart from :func:`changebank.analysis.spc.xmr`.

    Draws the data line and one ``<circle>`` per point coloured by its type (special-cause points
    also get an outline marker: square for improvement, triangle for concern, diamond for
    neutral), the mean (solid) and process limits (dashed) per period, the target if given, a
    vertical go-live marker, thinned x-axis labels and y-axis ticks. The ``<svg>`` has
    ``role="img"`` and ``aria-labelledby`` pointing at its ``<title>`` and a ``<desc>`` that
    summarises the chart in words.

    ``labels`` are the x-axis labels, one per point (dates as text, say). ``id_prefix`` makes the
    element ids unique when the same chart appears twice on a page; by default it is derived
    from the content.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df should be the DataFrame returned by xmr(), got {type(df).__name__}")
    missing = [c for c in ("value", "mean", "lpl", "upl", "point_type") if c not in df.columns]
    if missing:
        raise ValueError(f"df should be the DataFrame returned by xmr(); missing {missing}")
    n = len(df)
    if n == 0:
        raise ValueError("df has no rows")
    labels = [str(x) for x in labels]
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} items but df has {n} points")
    if go_live_index is not None and not (0 <= int(go_live_index) < n):
        raise ValueError(f"go_live_index = {go_live_index} is out of range for {n} points")
    if target is not None and not math.isfinite(float(target)):
        raise ValueError(f"target should be a finite number, got {target}")

    values = df["value"].to_numpy(dtype=float)
    means = df["mean"].to_numpy(dtype=float)
    lpls = df["lpl"].to_numpy(dtype=float)
    upls = df["upl"].to_numpy(dtype=float)
    types = df["point_type"].astype(str).tolist()
    rules = df["rule"].astype(str).tolist() if "rule" in df.columns else [""] * n
    periods = df["period"].tolist() if "period" in df.columns else [0] * n

    if id_prefix is None:
        h = hashlib.sha1(
            repr((title, labels, values.tolist(), target, go_live_index)).encode(),
            usedforsecurity=False,
        )
        id_prefix = "spc-" + h.hexdigest()[:10]
    pid = escape(str(id_prefix), quote=True)

    # scales
    n_neutral = sum(t.startswith("special_cause_neutral") for t in types)
    legend_svg, legend_rows = _legend(
        improvement, n_neutral > 0, target is not None, 64.0, width - 20.0
    )
    ml, mr, mt, mb = 64.0, 20.0, 22.0 + 18.0 * legend_rows, 48.0
    pw, ph = width - ml - mr, height - mt - mb
    finite = [v for v in [*values, *lpls, *upls, *means] if math.isfinite(v)]
    if target is not None:
        finite.append(float(target))
    lo, hi = min(finite), max(finite)
    span = hi - lo or (abs(hi) or 1.0)
    ticks = _nice_ticks(lo - 0.02 * span, hi + 0.02 * span)
    y_lo, y_hi = ticks[0], ticks[-1]

    def sx(i: float) -> float:
        return ml + (pw / 2 if n == 1 else pw * i / (n - 1))

    def sy(v: float) -> float:
        return mt + ph * (1 - (v - y_lo) / (y_hi - y_lo))

    # words
    special = [t for t in types if t != "common_cause"]
    n_imp = types.count("special_cause_improvement")
    n_con = types.count("special_cause_concern")
    n_neu = len(special) - n_imp - n_con
    icon = variation_icon(df, improvement)
    desc = [
        f"XmR chart of {n} points from {labels[0]} to {labels[-1]}.",
        f"Latest value {_fmt(values[-1], unit)} ({labels[-1]}).",
        f"Mean {_fmt(means[-1], unit)}; process limits {_fmt(lpls[-1], unit)} to "
        f"{_fmt(upls[-1], unit)}" + (" (latest period)." if len(set(periods)) > 1 else "."),
    ]
    if special:
        parts = []
        if n_imp:
            parts.append(f"{n_imp} improvement")
        if n_con:
            parts.append(f"{n_con} concern")
        if n_neu:
            parts.append(f"{n_neu} neutral")
        desc.append(f"{len(special)} special-cause points ({', '.join(parts)}).")
    else:
        desc.append("0 special-cause points: common cause variation only.")
    desc.append(_VARIATION_TITLES[icon] + " at the latest point.")
    if target is not None:
        desc.append(f"Target {_fmt(float(target), unit)}.")
        a = assurance_icon(df, float(target), improvement)
        if a is not None:
            desc.append(_ASSURANCE_TITLES[a] + ".")
    if go_live_index is not None:
        desc.append(f"Go-live at point {int(go_live_index) + 1} ({labels[int(go_live_index)]}).")
    desc_text = " ".join(desc)

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spc-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'aria-labelledby="{pid}-title {pid}-desc" font-family="Frutiger W01, Arial, sans-serif" '
        f'font-size="12">',
        f'<title id="{pid}-title">{escape(title)}</title>',
        f'<desc id="{pid}-desc">{escape(desc_text)}</desc>',
    ]

    # y grid and ticks
    out.append('<g class="spc-y-axis" aria-hidden="true">')
    for t in ticks:
        y = sy(t)
        out.append(
            f'<line x1="{_num(ml)}" x2="{_num(ml + pw)}" y1="{_num(y)}" y2="{_num(y)}" '
            f'stroke="{COLOURS["grid"]}"/>'
            f'<text x="{_num(ml - 6)}" y="{_num(y + 4)}" text-anchor="end" '
            f'fill="{COLOURS["text"]}">{escape(_fmt(t))}</text>'
        )
    if unit:
        out.append(
            f'<text x="14" y="{_num(mt + ph / 2)}" text-anchor="middle" fill="{COLOURS["text"]}" '
            f'transform="rotate(-90 14 {_num(mt + ph / 2)})">{escape(unit)}</text>'
        )
    out.append("</g>")

    # x axis, labels thinned to fit
    max_labels = max(1, int(pw // 72))
    step = max(1, math.ceil(n / max_labels))
    out.append('<g class="spc-x-axis" aria-hidden="true">')
    out.append(
        f'<line x1="{_num(ml)}" x2="{_num(ml + pw)}" y1="{_num(mt + ph)}" y2="{_num(mt + ph)}" '
        f'stroke="{COLOURS["axis"]}"/>'
    )
    for i in range(0, n, step):
        x = sx(i)
        anchor = "middle"
        if n > 1 and i == 0:
            anchor = "start"
        elif n > 1 and i == n - 1:
            anchor = "end"
        out.append(
            f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{_num(mt + ph)}" y2="{_num(mt + ph + 4)}" '
            f'stroke="{COLOURS["axis"]}"/>'
            f'<text class="spc-x-label" x="{_num(x)}" y="{_num(mt + ph + 18)}" '
            f'text-anchor="{anchor}" fill="{COLOURS["text"]}">{escape(labels[i])}</text>'
        )
    out.append("</g>")

    # mean and limits per period
    out.append('<g class="spc-lines" aria-hidden="true">')
    starts = [i for i in range(n) if i == 0 or periods[i] != periods[i - 1]]
    for k, a in enumerate(starts):
        b = (starts[k + 1] if k + 1 < len(starts) else n) - 1
        x1, x2 = sx(a), sx(b)
        for cls, v, colour, dash in (
            ("spc-mean", means[a], COLOURS["mean_line"], ""),
            ("spc-lpl", lpls[a], COLOURS["limit_line"], ' stroke-dasharray="6 4"'),
            ("spc-upl", upls[a], COLOURS["limit_line"], ' stroke-dasharray="6 4"'),
        ):
            if math.isfinite(v):
                out.append(
                    f'<line class="{cls}" x1="{_num(x1)}" x2="{_num(x2)}" y1="{_num(sy(v))}" '
                    f'y2="{_num(sy(v))}" stroke="{colour}" stroke-width="1.5"{dash}/>'
                )
    if target is not None:
        y = sy(float(target))
        out.append(
            f'<line class="spc-target" x1="{_num(ml)}" x2="{_num(ml + pw)}" y1="{_num(y)}" '
            f'y2="{_num(y)}" stroke="{COLOURS["target"]}" stroke-width="1.5" '
            f'stroke-dasharray="2 3"/>'
        )
    if go_live_index is not None:
        x = sx(int(go_live_index))
        out.append(
            f'<line class="spc-go-live" x1="{_num(x)}" x2="{_num(x)}" y1="{_num(mt)}" '
            f'y2="{_num(mt + ph)}" stroke="{COLOURS["go_live"]}" stroke-width="2" '
            f'stroke-dasharray="4 2"/>'
            f'<text x="{_num(x + 4)}" y="{_num(mt + 12)}" fill="{COLOURS["go_live"]}" '
            f'font-weight="bold">Go-live</text>'
        )
    out.append("</g>")

    # data line and points
    pts = " ".join(f"{_num(sx(i))},{_num(sy(v))}" for i, v in enumerate(values))
    out.append(
        f'<polyline class="spc-data-line" points="{pts}" fill="none" '
        f'stroke="{COLOURS["value_line"]}" stroke-width="1.5" aria-hidden="true"/>'
    )
    out.append('<g class="spc-points">')
    for i, (v, t, rule) in enumerate(zip(values, types, rules, strict=True)):
        kind = _kind(t)
        cx, cy = sx(i), sy(v)
        tip = f"{labels[i]}: {_fmt(v, unit)}, {_TYPE_TEXT.get(t, t)}"
        if rule:
            tip += f" ({_RULE_TEXT.get(rule, rule)})"
        special_cls = " spc-special" if kind != "common_cause" else ""
        r = 3.5 if kind == "common_cause" else 4.5
        out.append(
            f'<circle class="spc-point spc-{kind}{special_cls}" data-index="{i}" '
            f'cx="{_num(cx)}" cy="{_num(cy)}" r="{r}" fill="{COLOURS[kind]}" '
            f'stroke="{COLOURS[kind + "_stroke"]}" stroke-width="1">'
            f"<title>{escape(tip)}</title></circle>"
        )
        if kind != "common_cause":
            out.append(_marker(kind, cx, cy))
    out.append("</g>")

    out.append(legend_svg)
    out.append("</svg>")
    return "".join(out)


def _icon_frame(title: str, colour: str, body: str, css: str, size: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css}" role="img" viewBox="0 0 100 100" '
        f'width="{size}" height="{size}" aria-label="{escape(title, quote=True)}">'
        f"<title>{escape(title)}</title>"
        f'<circle cx="50" cy="50" r="44" fill="#FFFFFF" stroke="{colour}" stroke-width="7"/>'
        f"{body}</svg>"
    )


def variation_icon_svg(name: str, *, size: int = 48) -> str:
    """A small Making Data Count variation icon: a ring in the type's colour, a letter (H / L)
    for high or low, and five dots whose last two show the direction.

    ``name`` is one of ``common_cause``, ``improvement_high``, ``improvement_low``,
    ``concern_high``, ``concern_low``, ``neutral_high``, ``neutral_low`` (as
    :func:`~changebank.analysis.spc.variation_icon` returns).
    """
    if name not in VARIATION_ICONS:
        raise ValueError(f"name should be one of {', '.join(VARIATION_ICONS)}, got {name!r}")
    grey = "#7F7F7F"
    if name == "common_cause":
        colour = COLOURS["common_cause_stroke"]
        ys = [58, 54, 60, 55, 58]
        dot_colours = [grey] * 5
        letter = ""
    else:
        kind, level = name.split("_")
        colour = COLOURS[f"{kind}_stroke"]
        high = level == "high"
        ys = [62, 58, 62, 44, 40] if high else [50, 54, 50, 68, 72]
        dot_colours = [grey, grey, grey, colour, colour]
        letter = "H" if high else "L"
    xs = [24, 37, 50, 63, 76]
    body = [
        f'<polyline points="{" ".join(f"{x},{y}" for x, y in zip(xs, ys, strict=True))}" '
        f'fill="none" stroke="{grey}" stroke-width="3"/>'
    ]
    body += [
        f'<circle cx="{x}" cy="{y}" r="5" fill="{c}"/>'
        for x, y, c in zip(xs, ys, dot_colours, strict=True)
    ]
    if letter:
        ty = 38 if letter == "H" else 36
        body.append(
            f'<text x="50" y="{ty}" text-anchor="middle" font-family="Arial, sans-serif" '
            f'font-weight="bold" font-size="26" fill="{colour}">{letter}</text>'
        )
    return _icon_frame(_VARIATION_TITLES[name], colour, "".join(body), "spc-icon-variation", size)


def assurance_icon_svg(name: str, *, size: int = 48) -> str:
    """A small Making Data Count assurance icon: "P" in a blue ring (pass), "F" in an orange ring
    (fail), a wavy line through a target in a grey ring (hit and miss).

    ``name`` is one of ``pass``, ``fail``, ``hit_and_miss`` (as
    :func:`~changebank.analysis.spc.assurance_icon` returns).
    """
    if name not in ASSURANCE_ICONS:
        raise ValueError(f"name should be one of {', '.join(ASSURANCE_ICONS)}, got {name!r}")
    if name == "hit_and_miss":
        colour = COLOURS["common_cause_stroke"]
        body = (
            f'<line x1="18" x2="82" y1="50" y2="50" stroke="{COLOURS["target"]}" '
            f'stroke-width="3" stroke-dasharray="5 3"/>'
            f'<path d="M18 50 C30 20, 40 20, 50 50 S70 80, 82 50" fill="none" '
            f'stroke="{colour}" stroke-width="5"/>'
        )
    else:
        colour = COLOURS["improvement_stroke" if name == "pass" else "concern_stroke"]
        letter = "P" if name == "pass" else "F"
        body = (
            f'<text x="50" y="66" text-anchor="middle" font-family="Arial, sans-serif" '
            f'font-weight="bold" font-size="46" fill="{colour}">{letter}</text>'
        )
    return _icon_frame(_ASSURANCE_TITLES[name], colour, body, "spc-icon-assurance", size)
