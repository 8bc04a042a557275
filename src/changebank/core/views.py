"""Pages that belong to no single stage: the home page, sign-in and the site's statements."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from changebank.core import ratelimit
from changebank.listen.models import Programme


def home(request: HttpRequest) -> HttpResponse:
    programmes = Programme.objects.visible_to(request.user).order_by("-opens_on", "title")
    return render(request, "core/home.html", {"programmes": programmes})


class LoginView(auth_views.LoginView):
    """Sign-in, with failed attempts limited per address and hour against password guessing."""

    template_name = "core/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = getattr(settings, "CHANGEBANK_LOGIN_RATE_LIMIT", 20)
        if ratelimit.limit_reached(request, "login-failed", limit):
            return render(
                request,
                "core/login_limited.html",
                {"page_title": "Too many attempts to sign in", "limit": limit},
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        ratelimit.count(self.request, "login-failed")
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    pass


def accessibility(request: HttpRequest) -> HttpResponse:
    return render(request, "core/accessibility.html", {"page_title": "Accessibility statement"})


def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "core/privacy.html", {"page_title": "Privacy"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "core/404.html", {"page_title": "Page not found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "core/500.html", {"page_title": "Sorry, there is a problem"}, status=500)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "core/403.html", {"page_title": "You cannot see this page"}, status=403)
