"""Values every page template needs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.context_processors import PermWrapper
from django.http import HttpRequest
from django.templatetags.static import static

from .roles import ADMIN, ANALYST, has_role


def page(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "assetPath": static("assets").rstrip("/"),
        "cspNonce": getattr(request, "csp_nonce", ""),
        "user": user,
        "perms": PermWrapper(user),
        "is_analyst": has_role(user, ANALYST) or has_role(user, ADMIN),
        "debug": settings.DEBUG,
    }
