"""Themed reports (stage 5, Share): :func:`build_report` gathers what a programme's report shows
into a plain tree (:class:`Report`); :func:`render_html`, :func:`render_pdf` and
:func:`render_docx` turn it into a document; :func:`write_report` does both for the
``changebank export`` command."""

from .build import Report, build_report
from .render import FORMATS, render, render_docx, render_html, render_pdf, write_report

__all__ = [
    "FORMATS",
    "Report",
    "build_report",
    "render",
    "render_docx",
    "render_html",
    "render_pdf",
    "write_report",
]
