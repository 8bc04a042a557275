"""Pages about the JSON API: an overview (how to authenticate, versions, paging, errors, the
endpoints, a link to the OpenAPI schema) and each signed-in person's API tokens.

A token's key is shown once, on the page that answers the form that made it; only its hash is
stored (:class:`~changebank.share.models.ApiToken`). People see and revoke only their own tokens.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from ..api import api
from ..api.schemas import MAX_PAGE_SIZE
from ..models import ApiToken

#: Live tokens one person may hold at once.
MAX_TOKENS = 20


class TokenForm(forms.Form):
    name = forms.CharField(
        label="What is the token for?",
        max_length=100,
        help_text="For example: the coding notebook, or the dashboard script.",
        error_messages={"required": "Enter what the token is for"},
    )


def _endpoints() -> list[dict[str, Any]]:
    """The operations of the schema, grouped by tag, for the overview page."""
    schema = api.get_openapi_schema()
    groups: dict[str, list[dict[str, Any]]] = {}
    for route, operations in schema["paths"].items():
        for method, op in operations.items():
            tag = (op.get("tags") or ["Other"])[0]
            groups.setdefault(tag, []).append(
                {
                    "method": method.upper(),
                    "path": route,
                    "summary": op.get("summary", ""),
                    "signed_in": bool(op.get("security")),
                }
            )
    return [{"tag": tag, "operations": ops} for tag, ops in groups.items()]


def api_docs(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "share/api_docs.html",
        {
            "schema_url": reverse("api-v1:openapi-json"),
            "base_url": request.build_absolute_uri(reverse("api-v1:api-root")),
            "groups": _endpoints(),
            "max_page_size": MAX_PAGE_SIZE,
            "page_title": "The changebank API",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user)
    form = TokenForm()
    new_key = None
    status = 200
    if request.method == "POST" and request.POST.get("action") == "revoke":
        token = get_object_or_404(tokens, pk=request.POST.get("token") or 0, revoked_at=None)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        messages.success(request, f"The token ‘{token.name}’ is revoked: it no longer works.")
        return redirect("share:api_tokens")
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid() and tokens.filter(revoked_at=None).count() >= MAX_TOKENS:
            form.add_error(
                "name",
                f"You have {MAX_TOKENS} tokens that work: revoke one you no longer use first",
            )
        if form.is_valid():
            token, new_key = ApiToken.issue(request.user, form.cleaned_data["name"].strip())
            form = TokenForm()
        else:
            status = 400
    response = render(
        request,
        "share/api_tokens.html",
        {
            "form": form,
            "tokens": tokens,
            "new_key": new_key,
            "docs_url": reverse("share:api_docs"),
            "page_title": ("Error: " if form.errors else "") + "API tokens",
        },
        status=status,
    )
    # the key is on this page once: keep it out of caches and the browser's history store
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [
    path("api/", api_docs, name="api_docs"),
    path("account/api-tokens/", api_tokens, name="api_tokens"),
]
