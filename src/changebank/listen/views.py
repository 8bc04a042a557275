"""Pages of the Listen stage: programme pages, the public form, finding submissions, imports."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from changebank.core import ratelimit
from changebank.core.permissions import needs_permission

from .documents import DocumentError
from .forms import (
    EQUALITY_QUESTIONS,
    PREFER_NOT,
    ImportConfirmForm,
    ImportUploadForm,
    SubmissionFilterForm,
    SubmissionForm,
)
from .importers import ImportFileError, open_source, propose_mapping
from .importers.loader import ImportRejected, import_file
from .importers.mapping import ROLES, ColumnMapping
from .ingest import add_document, is_document
from .models import Document, ImportBatch, Programme, Submission
from .privacy_ingest import highlight
from .search import filter_submissions, search_terms
from .taking_part import form_rate_scope, save_answers

PAGE_SIZE = 50


def _programme_for(request: HttpRequest, slug: str) -> Programme:
    programme = get_object_or_404(Programme, slug=slug)
    if programme.visibility == Programme.Visibility.PRIVATE and not request.user.has_perm(
        "listen.view_programme"
    ):
        raise Http404("No such programme")
    return programme


def programme_detail(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme_for(request, slug)
    context = {
        "programme": programme,
        "page_title": programme.title,
        "questions": programme.questions.filter(on_form=True),
    }
    if request.user.has_perm("listen.view_submission"):
        context["submission_count"] = programme.submissions.count()
        context["respondent_count"] = programme.respondents.count()
        context["imports"] = programme.imports.all()[:10]
        by_source = programme.submissions.values("source").annotate(n=Count("id")).order_by("-n")
        context["by_source"] = {Submission.Source(r["source"]).label: r["n"] for r in by_source}
    return render(request, "listen/programme_detail.html", context)


# --- the public form ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def take_part(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme_for(request, slug)
    if not programme.is_open():
        return render(
            request,
            "listen/closed.html",
            {"programme": programme, "page_title": "This programme is closed"},
        )
    if request.method == "POST":
        if ratelimit.limit_reached(
            request, form_rate_scope(programme), settings.CHANGEBANK_FORM_RATE_LIMIT
        ):
            return render(
                request,
                "listen/rate_limited.html",
                {
                    "programme": programme,
                    "page_title": "Too many responses from this connection",
                    "limit": settings.CHANGEBANK_FORM_RATE_LIMIT,
                },
                status=429,
            )
        form = SubmissionForm(programme, request.POST)
        if form.is_valid():
            reference = save_answers(programme, form)
            ratelimit.count(request, form_rate_scope(programme))
            request.session[f"reference-{programme.pk}"] = reference
            return redirect("listen:take_part_done", slug=programme.slug)
    else:
        form = SubmissionForm(programme)
    return render(
        request,
        "listen/take_part.html",
        {
            "programme": programme,
            "form": form,
            "equality": EQUALITY_QUESTIONS,
            "prefer_not": PREFER_NOT,
            "page_title": ("Error: " if form.errors else "") + f"Take part: {programme.title}",
        },
    )


def take_part_done(request: HttpRequest, slug: str) -> HttpResponse:
    programme = _programme_for(request, slug)
    reference = request.session.get(f"reference-{programme.pk}")
    if not reference:
        return redirect("listen:take_part", slug=slug)
    return render(
        request,
        "listen/take_part_done.html",
        {
            "programme": programme,
            "reference": reference,
            "page_title": "Thank you",
        },
    )


# --- analysts: finding submissions ----------------------------------------------------------------


@needs_permission("listen.view_submission")
def submission_list(request: HttpRequest) -> HttpResponse:
    form = SubmissionFilterForm(request.GET or None)
    qs = Submission.objects.select_related("programme", "question", "respondent")
    params = form.cleaned_data if form.is_valid() else {}
    qs = filter_submissions(qs, params).order_by("-received_at", "-id")
    paginator = Paginator(qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "listen/submission_list.html",
        {
            "form": form,
            "page": page,
            "terms": search_terms(params.get("q") or ""),
            "programmes": Programme.objects.all(),
            "page_title": "Submissions",
        },
    )


@needs_permission("listen.view_submission")
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = get_object_or_404(
        Submission.objects.select_related(
            "programme",
            "question",
            "respondent",
            "import_batch",
            "document",
            "passage",
            "workstream",
        ),
        pk=pk,
    )
    siblings = (
        Submission.objects.filter(programme=submission.programme, reference=submission.reference)
        .exclude(pk=submission.pk)
        .select_related("question")
    )
    # redacted by default; the text as written only for people allowed to see it
    original = request.user.has_perm("listen.view_original_text") and bool(submission.original_text)
    return render(
        request,
        "listen/submission_detail.html",
        {
            "submission": submission,
            "text_html": highlight(submission, original=False),
            "original_html": highlight(submission, original=True) if original else None,
            "siblings": siblings,
            "page_title": f"Submission {submission.reference}",
        },
    )


# --- analysts: imports ----------------------------------------------------------------------------


PENDING_MAX_AGE_SECONDS = 24 * 3600


def _pending_dir() -> Path:
    """Where uploads wait between the preview and the import; abandoned ones go after a day."""
    path = Path(settings.DATA_DIR) / "uploads" / "pending"
    path.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - PENDING_MAX_AGE_SECONDS
    for folder in path.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
    return path


@needs_permission("listen.add_importbatch")
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(
        request.POST or None,
        request.FILES or None,
        initial={"programme": request.GET.get("programme")},
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        token = secrets.token_urlsafe(16)
        folder = _pending_dir() / token
        folder.mkdir()
        safe_name = Path(upload.name).name.replace("/", "_")[:200] or "upload"
        with (folder / safe_name).open("wb") as fh:
            for chunk in upload.chunks():
                fh.write(chunk)
        programme = form.cleaned_data["programme"]
        if is_document(safe_name):
            return _add_uploaded_document(request, form, programme, folder / safe_name)
        request.session[f"import-{token}"] = {"programme": programme.slug, "filename": safe_name}
        return redirect("listen:import_preview", token=token)
    return render(
        request, "listen/import_upload.html", {"form": form, "page_title": "Import a file"}
    )


def _add_uploaded_document(
    request: HttpRequest, form: ImportUploadForm, programme: Programme, path: Path
) -> HttpResponse:
    """Documents, transcripts and recordings need no column mapping: extract and store them."""
    try:
        document, created = add_document(programme, path, user=request.user, filename=path.name)
    except DocumentError as exc:
        form.add_error("file", str(exc))
        return render(
            request,
            "listen/import_upload.html",
            {"form": form, "page_title": "Error: Import a file"},
            status=400,
        )
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    if not created:
        messages.info(request, f"{path.name} is already in this programme; nothing was added.")
    return redirect("listen:document_detail", pk=document.pk)


@needs_permission("listen.view_document")
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    document = get_object_or_404(Document.objects.select_related("programme"), pk=pk)
    passages = Paginator(document.passages.select_related("submission"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "listen/document_detail.html",
        {
            "document": document,
            "page": passages,
            # passages are the document as written: others see the redacted submissions
            "can_see_original": request.user.has_perm("listen.view_original_text"),
            "page_title": document.title,
        },
    )


@needs_permission("listen.add_importbatch")
@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest, token: str) -> HttpResponse:
    pending = request.session.get(f"import-{token}")
    if not pending:
        raise Http404("This upload has expired; upload the file again")
    path = _pending_dir() / token / pending["filename"]
    programme = get_object_or_404(Programme, slug=pending["programme"])
    context = {
        "programme": programme,
        "filename": pending["filename"],
        "token": token,
        "roles": ROLES,
        "page_title": f"Check the import of {pending['filename']}",
    }
    try:
        source = open_source(path, pending["filename"])
    except ImportFileError as exc:
        context["file_error"] = str(exc)
        return render(request, "listen/import_preview.html", context, status=400)
    proposed = propose_mapping(source)
    headers = [c.header for c in source.columns]
    initial = {f"role_{i}": proposed.roles[h] for i, h in enumerate(headers)}
    form = ImportConfirmForm(headers, request.POST or None, initial=initial)
    preview_rows = []
    try:
        for _number, values in source.rows():
            preview_rows.append(values)
            if len(preview_rows) == 5:
                break
    except Exception as exc:  # the full import reports it by row; the preview shows what it can
        context["preview_problem"] = str(exc)
    context.update(
        {
            "source": source,
            "form": form,
            "preview_rows": preview_rows,
            "columns": list(
                zip(source.columns, [form[f"role_{i}"] for i in range(len(headers))], strict=True)
            ),
        }
    )
    if request.method == "POST" and form.is_valid():
        mapping = ColumnMapping(roles=form.roles(), questions=proposed.questions)
        mapping.questions.update(
            {
                h: c.label
                for h, c in zip(headers, source.columns, strict=True)
                if mapping.roles[h] == "text" and h not in mapping.questions
            }
        )
        try:
            result = import_file(
                path,
                programme,
                mapping=mapping,
                on_error=form.cleaned_data["on_error"],
                filename=pending["filename"],
                user=request.user,
            )
        except ImportRejected as exc:
            context["rejected"] = exc.result
            return render(request, "listen/import_preview.html", context, status=400)
        except ImportFileError as exc:
            context["file_error"] = str(exc)
            return render(request, "listen/import_preview.html", context, status=400)
        shutil.rmtree(path.parent, ignore_errors=True)
        del request.session[f"import-{token}"]
        return redirect("listen:import_detail", pk=result.batch.pk)
    return render(request, "listen/import_preview.html", context)


@needs_permission("listen.view_importbatch")
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(ImportBatch.objects.select_related("programme"), pk=pk)
    return render(
        request,
        "listen/import_detail.html",
        {
            "batch": batch,
            "mapping": json.dumps(batch.mapping, indent=2, ensure_ascii=False),
            "page_title": f"Import of {batch.filename}",
        },
    )
