"""REFI-QDA exchange pages: download a programme's codebook (.qdc) or whole project (.qdpx) for
NVivo, ATLAS.ti, MAXQDA or QualCoder, and import a .qdc or .qdpx back, with the report of what
the file held that changebank could not keep.

Permissions: the page and the codebook need ``understand.view_code``; the project with the
original text needs ``listen.view_original_text`` as well (others get the redacted project, see
:func:`changebank.share.refi.export_qdpx`); importing needs ``understand.change_code``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme

from ..refi import RefiError, export_qdc, export_qdpx, import_qdc, import_qdpx

VIEW = "understand.view_code"
IMPORT = "understand.change_code"
ORIGINAL = "listen.view_original_text"
EXTENSIONS = (".qdc", ".qdpx")


class RefiUploadForm(forms.Form):
    file = forms.FileField(
        label="REFI-QDA file",
        help_text="A codebook (.qdc) or a project (.qdpx) exported from NVivo, ATLAS.ti, MAXQDA, "
        "QualCoder or changebank.",
        widget=forms.ClearableFileInput(attrs={"accept": ".qdc,.qdpx"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(EXTENSIONS):
            raise forms.ValidationError("Choose a .qdc or .qdpx file.")
        return upload


def _programme(slug: str) -> Programme:
    return get_object_or_404(Programme, slug=slug)


def _file_response(build: Any, suffix: str, filename: str, content_type: str) -> FileResponse:
    """Build a file with ``build(path)`` in a temporary file and stream it; the file is removed
    as soon as it is open (the open handle keeps it readable until the response closes it)."""
    fd, name = tempfile.mkstemp(prefix="changebank-refi-", suffix=suffix)
    os.close(fd)
    try:
        build(Path(name))
        handle = open(name, "rb")  # noqa: SIM115 - FileResponse closes it
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)


@needs_permission(VIEW)
@require_http_methods(["GET", "POST"])
def refi(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme(slug)
    can_import = request.user.has_perm(IMPORT)
    report = None
    error: RefiError | None = None
    form = RefiUploadForm()
    if request.method == "POST":
        if not can_import:
            raise PermissionDenied
        form = RefiUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            suffix = ".qdpx" if upload.name.lower().endswith(".qdpx") else ".qdc"
            fd, name = tempfile.mkstemp(prefix="changebank-refi-upload-", suffix=suffix)
            try:
                with os.fdopen(fd, "wb") as fh:
                    for chunk in upload.chunks():
                        fh.write(chunk)
                importer = import_qdpx if suffix == ".qdpx" else import_qdc
                try:
                    report = importer(name, programme, user=request.user, filename=upload.name)
                except RefiError as exc:
                    error = exc
                    form.add_error("file", exc.message)
            finally:
                os.unlink(name)
    return render(
        request,
        "share/refi.html",
        {
            "programme": programme,
            "page_title": ("Error: " if form.errors else "") + "Exchange with QDA software",
            "form": form,
            "report": report,
            "error": error,
            "can_import": can_import,
            "original": request.user.has_perm(ORIGINAL),
        },
    )


@needs_permission(VIEW)
@require_GET
def refi_qdc(request: HttpRequest, slug: str) -> FileResponse:
    programme = _programme(slug)
    return _file_response(
        lambda p: export_qdc(programme, p),
        ".qdc",
        f"{programme.slug}.qdc",
        "application/xml",
    )


@needs_permission(VIEW)
@require_GET
def refi_qdpx(request: HttpRequest, slug: str) -> FileResponse:
    programme = _programme(slug)
    redacted = not request.user.has_perm(ORIGINAL)
    return _file_response(
        lambda p: export_qdpx(programme, p, redacted=redacted),
        ".qdpx",
        f"{programme.slug}{'-redacted' if redacted else ''}.qdpx",
        "application/zip",
    )


urlpatterns = [
    path("programmes/<slug:slug>/share/refi/", refi, name="refi"),
    path("programmes/<slug:slug>/share/refi/codebook.qdc", refi_qdc, name="refi_qdc"),
    path("programmes/<slug:slug>/share/refi/project.qdpx", refi_qdpx, name="refi_qdpx"),
]
