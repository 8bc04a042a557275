"""Open data pages: for a public or unlisted programme, what the files hold (the data dictionary)
and downloads as CSV (a zip of tables), XLSX or JSON.

Files are built by :mod:`changebank.share.opendata` and kept under ``MEDIA_ROOT/open-data/``,
named by a fingerprint of the data they come from, so a download is built once per change of the
data, not once per request.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path

from changebank.listen.models import Programme

from .. import opendata
from ..privacy import publishable

EXTENSIONS = {"csv": "zip", "xlsx": "xlsx", "json": "json"}
CONTENT_TYPES = {
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def _programme(slug: str) -> Programme:
    programme = get_object_or_404(Programme, slug=slug)
    if programme.visibility == Programme.Visibility.PRIVATE:
        raise Http404("This programme does not publish open data.")
    return programme


def fingerprint(programme: Programme) -> str:
    """Changes whenever anything the files hold changes."""
    from changebank.understand.models import CodeAssignment

    subs = publishable(programme).aggregate(n=Count("id"), last=Max("id"))
    parts = [
        subs,
        programme.themes.aggregate(n=Count("id"), t=Max("updated_at")),
        programme.codes.aggregate(n=Count("id"), t=Max("updated_at")),
        CodeAssignment.objects.filter(submission__programme=programme).aggregate(
            n=Count("id"), last=Max("id")
        ),
        programme.distinct_changes.aggregate(n=Count("id"), t=Max("updated_at")),
        programme.evaluations.filter(public=True).aggregate(n=Count("id"), t=Max("updated_at")),
        programme.updated_at,
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def built_file(programme: Programme, fmt: str) -> Path:
    folder = Path(settings.MEDIA_ROOT) / "open-data"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{programme.slug}-{fingerprint(programme)}.{EXTENSIONS[fmt]}"
    if not target.exists():
        # Built under a unique name and renamed, so a reader never sees half a file and two
        # requests building at once do not write over each other.
        handle, name = tempfile.mkstemp(dir=folder, prefix=".building-", suffix=target.suffix)
        os.close(handle)
        try:
            opendata.write_open_data(programme, Path(name), fmt)
            Path(name).replace(target)
        finally:
            Path(name).unlink(missing_ok=True)
        for old in folder.glob(f"{programme.slug}-*.{EXTENSIONS[fmt]}"):
            if old != target:
                old.unlink(missing_ok=True)
    return target


def open_data(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme(slug)
    return render(
        request,
        "share/open_data.html",
        {
            "programme": programme,
            "tables": opendata.TABLES,
            "submissions": publishable(programme).count(),
            "page_title": f"Open data: {programme.title}",
        },
    )


def open_data_download(request: HttpRequest, slug: str, fmt: str) -> FileResponse:
    programme = _programme(slug)
    if fmt not in EXTENSIONS:
        raise Http404
    target = built_file(programme, fmt)
    return FileResponse(
        target.open("rb"),
        as_attachment=True,
        filename=f"{programme.slug}-open-data.{EXTENSIONS[fmt]}",
        content_type=CONTENT_TYPES[fmt],
    )


urlpatterns = [
    path("programmes/<slug:slug>/open-data/", open_data, name="open_data"),
    path(
        "programmes/<slug:slug>/open-data/<str:fmt>/", open_data_download, name="open_data_download"
    ),
]
