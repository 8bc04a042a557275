"""The themed report as HTML, PDF (WeasyPrint) and Word (python-docx), from a
:class:`~.build.Report`: no queries here.

* HTML: a standalone, accessible document (``share/report.html``): ``lang``, headings in order,
  a contents list, tables with captions and header cells, every chart an inline SVG image with a
  title and a description giving its numbers, followed by a table of the same numbers; print CSS.
* PDF: that document through WeasyPrint: A4, page numbers, a contents list with page numbers,
  each theme starting on a new page; tagged (PDF/UA-1) so that screen readers can follow it.
* Word: real heading styles (Title, Heading 1 to 3: the navigation pane works), quotes in the
  Quote style, tables with a repeating header row and a caption, each chart a picture with
  alternative text followed by a table of its numbers, page numbers in the footer.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from markupsafe import Markup

from .build import Breakdown, Report, Row, build_report
from .charts import alt_text, bar_chart_png, bar_chart_svg

log = logging.getLogger(__name__)

FORMATS = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


# --- HTML ----------------------------------------------------------------------------------------


def context(report: Report) -> dict[str, Any]:
    """What the report templates need: the report and a function drawing a chart as SVG."""
    return {"report": report, "svg": lambda b: Markup(bar_chart_svg(b))}  # noqa: S704 (escaped)  # nosec B704


def render_html(report: Report) -> str:
    """The report as a standalone HTML document (styles inline, no scripts, no external files)."""
    from django.template.loader import render_to_string

    return render_to_string("share/report.html", context(report))


def render_body(report: Report) -> str:
    """The report's content only (from the h2 headings down), to show inside a page."""
    from django.template.loader import render_to_string

    return render_to_string("share/report_body.html", context(report))


# --- PDF -----------------------------------------------------------------------------------------


def render_pdf(report: Report, html: str | None = None) -> bytes:
    """The report as a tagged PDF (PDF/UA-1 where WeasyPrint can make it; plain PDF otherwise)."""
    from weasyprint import HTML

    document = HTML(string=html or render_html(report), base_url=None, url_fetcher=_no_fetch)
    try:
        return document.write_pdf(pdf_variant="pdf/ua-1", uncompressed_pdf=False)
    except Exception:  # an older WeasyPrint or a variant it cannot make: an untagged PDF
        log.exception("PDF/UA-1 failed; writing an untagged PDF")
        return document.write_pdf()


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict:
    """The report is self-contained: nothing is fetched (no network, no local files)."""
    raise ValueError(f"the report does not load external resources: {url[:80]}")


# --- Word ----------------------------------------------------------------------------------------


def _set_repeat_header(row: Any) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def _table_caption(table: Any, caption: str, description: str = "") -> None:
    """Word's own table title and description (Table Properties → Alt Text)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tbl_pr = table._tbl.tblPr
    title = OxmlElement("w:tblCaption")
    title.set(qn("w:val"), caption[:250])
    tbl_pr.append(title)
    if description:
        desc = OxmlElement("w:tblDescription")
        desc.set(qn("w:val"), description[:1000])
        tbl_pr.append(desc)


def _add_table(
    doc: Any,
    caption: str,
    header: list[str],
    rows: list[list[str]],
    numeric: set[int] = frozenset(),
) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc.add_paragraph(caption, style="Caption")
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Light List Accent 1"
    _table_caption(table, caption)
    head = table.rows[0]
    _set_repeat_header(head)
    for j, text in enumerate(header):
        cell = head.cells[j]
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        run.bold = True
        if j in numeric:
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for values in rows:
        cells = table.add_row().cells
        for j, text in enumerate(values):
            cells[j].text = text
            if j in numeric:
                cells[j].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    doc.add_paragraph()


def _breakdown_table(doc: Any, b: Breakdown) -> None:
    _add_table(
        doc,
        b.caption,
        [b.dimension.capitalize(), b.unit.capitalize(), "Share"],
        [[r.label, f"{r.n:,}", r.percent] for r in b.rows],
        numeric={1, 2},
    )


def _add_chart(doc: Any, b: Breakdown) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Cm

    paragraph = doc.add_paragraph()
    run = paragraph.add_run()
    run.add_picture(io.BytesIO(bar_chart_png(b)), width=Cm(16))
    for doc_pr in run._r.iter(qn("wp:docPr")):
        doc_pr.set("descr", alt_text(b))
        doc_pr.set("title", b.title[:250])
    _breakdown_table(doc, b)


def _add_field(paragraph: Any, instruction: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    run = paragraph.add_run()
    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    text = OxmlElement("w:t")
    text.text = "1"
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    for element in (begin, instr, separate, text, end):
        run._r.append(element)


def _set_language(doc: Any, lang: str = "en-GB") -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    styles = doc.styles.element
    r_pr = styles.find(qn("w:docDefaults") + "/" + qn("w:rPrDefault") + "/" + qn("w:rPr"))
    if r_pr is None:
        return
    language = r_pr.find(qn("w:lang"))
    if language is None:
        language = OxmlElement("w:lang")
        r_pr.append(language)
    language.set(qn("w:val"), lang)


def _quote(doc: Any, text: str, attribution: str) -> None:
    doc.add_paragraph(f"“{text}”", style="Quote")
    if attribution:
        p = doc.add_paragraph(f"— {attribution}")
        p.paragraph_format.left_indent = doc.styles["Quote"].paragraph_format.left_indent
        p.runs[0].italic = True


def _rows(rows: list[Row]) -> list[list[str]]:
    return [[r.label, f"{r.n:,}", r.percent] for r in rows]


def render_docx(report: Report) -> bytes:
    """The report as a Word document."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    doc = Document()
    props = doc.core_properties
    props.title = report.title
    props.subject = report.kind
    props.author = report.organiser or "changebank"
    props.language = "en-GB"
    props.keywords = "changebank; themed report"
    _set_language(doc)
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(11)

    footer = doc.sections[0].footer.paragraphs[0]
    footer.text = f"{report.title} · page "
    footer.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _add_field(footer, "PAGE")

    doc.add_paragraph(report.kind, style="Subtitle")
    doc.add_heading(report.title, level=0)
    if report.summary:
        doc.add_paragraph(report.summary)
    doc.add_paragraph(
        (f"{report.organiser}. " if report.organiser else "")
        + f"Made with changebank on {report.date_text}."
    )
    for note in report.notes:
        doc.add_paragraph(note, style="Intense Quote")

    # the big picture
    m = report.method
    doc.add_heading("The big picture", level=1)
    n_themes = len(report.themes)
    doc.add_paragraph(
        f"{report.total:,} submission{'' if report.total == 1 else 's'} from "
        f"{m.contributors:,} contributor{'' if m.contributors == 1 else 's'}"
        + (f", received {m.date_range}" if m.date_range else "")
        + f". {report.themed:,} of them fall under the {n_themes} theme"
        f"{'' if n_themes == 1 else 's'} of this report"
        + (", those published in the catalogue" if report.published_only else "")
        + ". A submission can fall under more than one theme."
    )
    if report.big_picture:
        _add_table(
            doc,
            "Themes at a glance, largest first",
            ["Theme", "Submissions", "Share of all submissions", "Of which must not come back"],
            [
                [r.label, f"{r.submissions:,}", r.percent, f"{r.concern:,}"]
                for r in report.big_picture
            ],
            numeric={1, 2, 3},
        )

    # themes
    doc.add_heading("Themes", level=1)
    doc.add_paragraph(
        "Each theme gathers codes, ideas that many submissions express. For each: what it means, "
        "what people said in their own words, who said it and the changes they described."
    )
    for t in report.themes:
        if t.number > 1:
            doc.add_page_break()
        doc.add_heading(f"{t.number}. {t.label}", level=2)
        lede = (
            f"{t.submissions:,} submission{'' if t.submissions == 1 else 's'} ({t.percent} of all)"
        )
        if t.contributors:
            lede += f" from {t.contributors:,} contributor{'' if t.contributors == 1 else 's'}"
        lede += ". " + t.stance_text
        doc.add_paragraph(lede)
        if t.description:
            doc.add_paragraph(t.description)
        doc.add_heading("What this means", level=3)
        if t.meaning:
            for para in t.meaning.splitlines():
                if para.strip():
                    doc.add_paragraph(para.strip())
        else:
            text = "The analysts have not yet written what this theme means."
            if t.keywords:
                text += f" The words that mark it out: {', '.join(t.keywords)}."
            doc.add_paragraph(text)
        doc.add_heading("In their words", level=3)
        if t.quotes:
            for q in t.quotes:
                _quote(doc, q.text, q.attribution)
        else:
            doc.add_paragraph("No submission under this theme may be quoted.")
        if t.who:
            doc.add_heading("Who said it", level=3)
            for b in t.who:
                _add_chart(doc, b)
        if t.changes:
            doc.add_heading("Changes people described", level=3)
            _add_table(
                doc,
                f"The most often described changes under {t.label}",
                ["Change", "Submissions"],
                [[c.text, f"{c.count:,}"] for c in t.changes],
                numeric={1},
            )
        if t.codes:
            doc.add_heading("Codes in this theme", level=3)
            for c in t.codes:
                doc.add_paragraph(f"{c.label} ({c.n:,})", style="List Bullet")

    # what must not come back
    na = report.never_again
    doc.add_page_break()
    doc.add_heading("What must not come back", level=1)
    if na.submissions:
        text = (
            f"{na.submissions:,} submission{'' if na.submissions == 1 else 's'} ({na.percent} of "
            "all) described something that should never be repeated"
        )
        if na.questions:
            text += ", in answer to “" + "”, “".join(na.questions) + "” or elsewhere"
        doc.add_paragraph(text + ".")
        if na.themes:
            _add_table(
                doc,
                "Themes by how many of their submissions say what must not come back",
                ["Theme", "Submissions", "Share of the theme"],
                [[r.label, f"{r.submissions:,}", r.percent] for r in na.themes],
                numeric={1, 2},
            )
        if na.changes:
            doc.add_heading("Changes people do not want back", level=2)
            _add_table(
                doc,
                "Distinct changes described as what must not come back",
                ["Change", "Theme", "Submissions saying so"],
                [[c.text, c.theme, f"{c.concern:,}"] for c in na.changes],
                numeric={2},
            )
        if na.quotes:
            doc.add_heading("In their words", level=2)
            for q in na.quotes:
                _quote(doc, q.text, q.attribution)
    else:
        doc.add_paragraph(
            "No submission in this report was read as saying what must not come back."
        )

    # method
    doc.add_page_break()
    doc.add_heading("How this report was made", level=1)
    doc.add_heading("Who took part", level=2)
    text = (
        f"{m.submissions:,} submission{'' if m.submissions == 1 else 's'} from "
        f"{m.contributors:,} contributor{'' if m.contributors == 1 else 's'}"
    )
    if m.anonymous_submissions:
        text += (
            f" and {m.anonymous_submissions:,} submission"
            f"{'' if m.anonymous_submissions == 1 else 's'} without contributor details"
        )
    if m.date_range:
        text += f", received {m.date_range}"
    text += "." + "".join(
        f" {r.n:,} {r.label.lower()} {'is' if r.n == 1 else 'are'} not included."
        for r in m.not_analysed
    )
    doc.add_paragraph(text)
    if m.sources:
        _add_table(
            doc,
            "Submissions by how they were given",
            ["Source", "Submissions", "Share"],
            _rows(m.sources),
            numeric={1, 2},
        )
    if m.questions:
        _add_table(
            doc,
            "Submissions by question",
            ["Question", "Submissions", "Share"],
            _rows(m.questions),
            numeric={1, 2},
        )
    doc.add_heading("Groups reached", level=2)
    if m.groups:
        plural = {
            "role": "roles",
            "organisation": "organisations",
            "sector": "sectors",
            "region": "regions",
        }
        doc.add_paragraph(", ".join(f"{b.groups:,} {plural[b.dimension]}" for b in m.groups) + ".")
        for b in m.groups:
            _breakdown_table(doc, b)
    else:
        doc.add_paragraph(
            "Contributors did not say who they are (role, organisation, sector or region)."
        )
    doc.add_heading("How the themes were derived", level=2)
    for line in m.derivation:
        doc.add_paragraph(line)
    doc.add_heading("How the AI and the analysts worked", level=2)
    for line in m.work:
        doc.add_paragraph(line)
    if m.ai and m.ai.compared:
        doc.add_paragraph(
            f"Where analysts coded submissions the AI had coded, the AI agreed with them with a "
            f"sample F1 of {m.ai.sample_f1:.2f} and a mean Cohen's kappa of "
            f"{m.ai.mean_kappa:.2f}"
            + (f" ({m.ai.kappa_band} agreement)" if m.ai.kappa_band else "")
            + f", over {m.ai.compared:,} decisions."
        )
    doc.add_heading("Agreement between analysts", level=2)
    if m.double_coding:
        doc.add_paragraph(
            "Analysts coded samples of submissions independently (double coding); their "
            "agreement is measured for each code used (present or not) across the submissions "
            "every coder coded."
        )
        _add_table(
            doc,
            "Agreement between analysts on double-coded samples",
            ["Sample", "Coders", "Coded by all", "Same codes", "Kappa", "Krippendorff's alpha"],
            [
                [
                    s.name,
                    str(s.coders),
                    f"{s.coded_by_all:,} of {s.sample_size:,}",
                    f"{s.exact:,}",
                    f"{s.kappa_name} {s.kappa:.2f} ({s.kappa_band})"
                    if s.kappa is not None
                    else "Not defined",
                    f"{s.alpha:.3f} ({s.alpha_band})" if s.alpha is not None else "Not defined",
                ]
                for s in m.double_coding
            ],
            numeric={1, 3},
        )
        doc.add_paragraph(
            "Kappa is read with Landis and Koch's bands; alpha with Krippendorff's guidance "
            "(0.800 or more reliable, 0.667 to 0.800 for tentative conclusions only)."
        )
    else:
        doc.add_paragraph(
            "No double coding was done: no sample of submissions was coded independently by two "
            "or more analysts."
        )
    doc.add_heading("Quotes and privacy", level=2)
    doc.add_paragraph(m.quotes_policy)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# --- files ---------------------------------------------------------------------------------------


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (html, pdf or docx) as bytes."""
    if fmt == "html":
        return render_html(report).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(report)
    if fmt == "docx":
        return render_docx(report)
    raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")


def write_report(
    programme: Any, path: str | Path, fmt: str, *, published_only: bool = False
) -> None:
    """Build the report of ``programme`` and write it to ``path`` as html, pdf or docx (the
    ``changebank export`` command calls this)."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    data = render(build_report(programme, published_only=published_only), fmt)
    Path(path).write_bytes(data)
