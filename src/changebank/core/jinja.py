"""The Jinja2 environment: NHS.UK frontend macros plus the Django helpers templates need."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import nhsuk_frontend_jinja
from django.contrib.messages import get_messages
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader
from markupsafe import Markup, escape

NHSUK_TEMPLATES = Path(nhsuk_frontend_jinja.__file__).parent / "templates"


def url(name: str, *args: Any, **kwargs: Any) -> str:
    return reverse(name, args=args or None, kwargs=kwargs or None)


def query(request: Any, **changes: Any) -> str:
    """The current query string with ``changes`` applied (``None`` removes a key)."""
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + urlencode(list(params.lists()), doseq=True) if params else "?"


def localdate(value: Any, fmt: str = "j F Y, H:i") -> str:
    if value is None:
        return ""
    if getattr(value, "tzinfo", None) is not None:
        value = timezone.localtime(value)
    return date_format(value, fmt)


def number(value: int | float | None) -> str:
    return "" if value is None else f"{value:,}"


def highlight(text: str, terms: list[str]) -> Markup:
    """Escape ``text`` and wrap each search term in <mark>."""
    import re

    escaped = str(escape(text))
    words = [re.escape(str(escape(t))) for t in terms if t and len(t) > 1]
    if not words:
        return Markup(escaped)  # noqa: S704 (escaped above)  # nosec B704
    pattern = re.compile(r"(?i)\b(" + "|".join(words) + r")")
    return Markup(pattern.sub(r"<mark>\1</mark>", escaped))  # noqa: S704 (escaped above)  # nosec B704


def environment(**options: Any) -> Environment:
    loader = options.pop("loader", None)
    loaders = [FileSystemLoader(str(NHSUK_TEMPLATES))]
    if loader is not None:
        loaders.insert(0, loader)
    options.setdefault("extensions", []).append("jinja2.ext.do")
    # The NHS.UK macros read optional parameters such as params.search.action.
    options["undefined"] = ChainableUndefined
    options.setdefault("autoescape", True)
    env = Environment(loader=ChoiceLoader(loaders), **options)  # noqa: S701 (autoescape is on)  # nosec B701
    env.globals.update(
        url=url,
        static=static,
        get_messages=get_messages,
        query=query,
    )
    env.filters.update(localdate=localdate, number=number, highlight=highlight)
    return env
