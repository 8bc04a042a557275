"""Themed reports: the analysts' report of every theme (with downloads as HTML, PDF and Word) and
the public report of the themes published in the catalogue, for public programmes."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.views.decorators.http import require_GET
from markupsafe import Markup

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme
from changebank.share.models import PublishedTheme
from changebank.share.report import FORMATS, Report, build_report
from changebank.share.report import render as render_report
from changebank.share.report.render import render_body

#: The downloaded HTML report holds its styles inline and no script: it may style itself, and
#: nothing else.
STANDALONE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _download(report: Report, fmt: str, *, public: bool) -> HttpResponse:
    if fmt not in FORMATS:
        raise Http404("No such report format.")
    data = render_report(report, fmt)
    response = HttpResponse(data, content_type=FORMATS[fmt])
    name = f"{report.slug}-{'public-report' if public else 'report'}-{report.date.isoformat()}"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    if fmt == "html":
        response["Content-Security-Policy"] = STANDALONE_CSP
    return response


def _page(
    request: HttpRequest, programme: Programme, report: Report, *, public: bool
) -> HttpResponse:
    download = "share:public_report_download" if public else "share:report_download"
    return render(
        request,
        "share/report_page.html",
        {
            "programme": programme,
            "report": report,
            "body": Markup(render_body(report)),  # noqa: S704 (rendered with autoescape)  # nosec B704
            "public": public,
            "download": download,
            "formats": [
                ("pdf", "PDF"),
                ("docx", "Word"),
                ("html", "HTML"),
            ],
            "page_title": f"{'Report' if public else 'Themed report'}: {programme.title}",
        },
    )


@needs_permission("understand.view_code")
@require_GET
def report(request: HttpRequest, slug: str) -> HttpResponse:
    """The analysts' themed report of every theme of the programme."""
    programme = get_object_or_404(Programme, slug=slug)
    return _page(request, programme, build_report(programme), public=False)


@needs_permission("understand.view_code")
@require_GET
def report_download(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    programme = get_object_or_404(Programme, slug=slug)
    if fmt not in FORMATS:
        raise Http404("No such report format.")
    return _download(build_report(programme), fmt, public=False)


def _public_programme(slug: str) -> Programme:
    """A public programme with at least one published theme, or 404."""
    programme = get_object_or_404(Programme, slug=slug, visibility=Programme.Visibility.PUBLIC)
    if not PublishedTheme.objects.filter(theme__programme=programme).exists():
        raise Http404("Nothing has been published for this programme yet.")
    return programme


@require_GET
def public_report(request: HttpRequest, slug: str) -> HttpResponse:
    """The public report: only the themes published in the catalogue."""
    programme = _public_programme(slug)
    return _page(request, programme, build_report(programme, published_only=True), public=True)


@require_GET
def public_report_download(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    if fmt not in FORMATS:
        raise Http404("No such report format.")
    programme = _public_programme(slug)
    return _download(build_report(programme, published_only=True), fmt, public=True)


urlpatterns = [
    path("programmes/<slug:slug>/share/report/", report, name="report"),
    path(
        "programmes/<slug:slug>/share/report/download/<str:fmt>/",
        report_download,
        name="report_download",
    ),
    path("programmes/<slug:slug>/report/", public_report, name="public_report"),
    path(
        "programmes/<slug:slug>/report/<str:fmt>/",
        public_report_download,
        name="public_report_download",
    ),
]
