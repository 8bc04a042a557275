"""Hourly limits per client address on public pages (the form, ideas, statements, choice sets).

The address is hashed, never stored; the counter lives in Django's cache for the current hour.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone


def address_key(request: HttpRequest, scope: str) -> str:
    """The counter for ``scope`` (for example ``"form-rate:12"``), this address and this hour."""
    address = request.META.get("REMOTE_ADDR", "unknown")
    digest = hashlib.sha256(address.encode()).hexdigest()[:16]
    return f"{scope}:{digest}:{timezone.now():%Y%m%d%H}"


def limit_reached(request: HttpRequest, scope: str, limit: int) -> bool:
    """True when this address has done ``limit`` things in ``scope`` this hour."""
    return cache.get(address_key(request, scope), 0) >= limit


def count(request: HttpRequest, scope: str) -> None:
    """Count one more thing done by this address in ``scope`` this hour."""
    key = address_key(request, scope)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=3600)
