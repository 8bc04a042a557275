"""The report's charts: a horizontal bar chart of a :class:`~.build.Breakdown` ("who said it"),
as inline SVG for HTML and PDF and as PNG for Word.

No Django and no queries. The SVG is an image with a name and a description
(``role="img"``, ``<title>``, ``<desc>`` with every number); the renderers also give the numbers
as a table beside it, and Word gets the same description as the picture's alternative text.
Colour never carries meaning alone: every bar is labelled with its group and its number. The PNG
is drawn with Pillow (which WeasyPrint already needs), so there is no plotting library to install.
"""

from __future__ import annotations

import io
from functools import lru_cache
from html import escape

from .build import Breakdown

BAR = "#005EB8"  # NHS blue: 7:1 against white
MUTED = "#4C6272"  # "Not stated" and "Other": NHS dark grey, 6:1 against white
TEXT = "#212B32"
TRACK = "#E8EDEE"
FONT = "Arial, 'Liberation Sans', 'DejaVu Sans', Helvetica, sans-serif"

WIDTH = 640
LABEL_WIDTH = 210
VALUE_WIDTH = 100
ROW = 28
BAR_HEIGHT = 18
PAD = 6
LABEL_CHARS = 30


def alt_text(breakdown: Breakdown) -> str:
    """The chart's alternative text: what it shows and every number."""
    return f"Bar chart. {breakdown.describe()}"


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _muted(label: str) -> bool:
    return label.startswith(("Not stated", "Other"))


def bar_chart_svg(breakdown: Breakdown) -> str:
    """The chart as an inline ``<svg>`` element (scales to its container's width)."""
    rows = breakdown.rows
    height = PAD * 2 + ROW * max(len(rows), 1)
    top = max((r.n for r in rows), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    key = escape(breakdown.key, quote=True)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cb-report-chart" role="img" '
        f'aria-labelledby="{key}-title {key}-desc" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" font-family="{escape(FONT, quote=True)}" '
        f'font-size="13">',
        f'<title id="{key}-title">{escape(breakdown.title)}</title>',
        f'<desc id="{key}-desc">{escape(alt_text(breakdown))}</desc>',
    ]
    if not rows:
        out.append(
            f'<text x="0" y="{PAD + ROW / 2 + 4}" fill="{TEXT}">No {escape(breakdown.unit)}</text>'
        )
    for i, row in enumerate(rows):
        y = PAD + i * ROW
        mid = y + ROW / 2
        length = max(span * row.n / top, 2 if row.n else 0)
        colour = MUTED if _muted(row.label) else BAR
        label = escape(_short(row.label))
        out.append('<g aria-hidden="true">')
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{mid + 4:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{label}</text>"
        )
        out.append(
            f'<rect x="{LABEL_WIDTH}" y="{mid - BAR_HEIGHT / 2:.1f}" width="{span}" '
            f'height="{BAR_HEIGHT}" fill="{TRACK}"/>'
        )
        out.append(
            f'<rect x="{LABEL_WIDTH}" y="{mid - BAR_HEIGHT / 2:.1f}" width="{length:.1f}" '
            f'height="{BAR_HEIGHT}" fill="{colour}"/>'
        )
        out.append(
            f'<text x="{LABEL_WIDTH + span + 6}" y="{mid + 4:.1f}" fill="{TEXT}">'
            f"{row.n:,} ({escape(row.percent)})</text>"
        )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# --- PNG, for Word -------------------------------------------------------------------------------

_FONT_FILES = (
    "LiberationSans-Regular.ttf",
    "Arial.ttf",
    "DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


@lru_cache(maxsize=4)
def _font(size: int):  # noqa: ANN202 (a Pillow font)
    from PIL import ImageFont

    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)  # Pillow's own font (Pillow 10.1 and later)


def bar_chart_png(breakdown: Breakdown, *, scale: int = 2) -> bytes:
    """The same chart as a PNG image (``scale`` times the SVG's size, for print)."""
    from PIL import Image, ImageDraw

    rows = breakdown.rows
    s = scale
    height = (PAD * 2 + ROW * max(len(rows), 1)) * s
    width = WIDTH * s
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = _font(13 * s)
    top = max((r.n for r in rows), default=0) or 1
    span = (WIDTH - LABEL_WIDTH - VALUE_WIDTH) * s
    left = LABEL_WIDTH * s
    if not rows:
        draw.text((0, PAD * s), f"No {breakdown.unit}", fill=TEXT, font=font)
    for i, row in enumerate(rows):
        mid = (PAD + i * ROW + ROW / 2) * s
        label = _short(row.label)
        while label and font.getlength(label) > left - 8 * s:
            label = label[:-2].rstrip() + "…"
        draw.text((left - 8 * s, mid), label, fill=TEXT, font=font, anchor="rm")
        y0, y1 = mid - BAR_HEIGHT * s / 2, mid + BAR_HEIGHT * s / 2
        draw.rectangle((left, y0, left + span, y1), fill=TRACK)
        length = max(span * row.n / top, 2 * s if row.n else 0)
        if length:
            colour = MUTED if _muted(row.label) else BAR
            draw.rectangle((left, y0, left + length, y1), fill=colour)
        draw.text(
            (left + span + 6 * s, mid),
            f"{row.n:,} ({row.percent})",
            fill=TEXT,
            font=font,
            anchor="lm",
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
