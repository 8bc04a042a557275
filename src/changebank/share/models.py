"""What the Share stage keeps: which themes are published in the public catalogue, experiences
people added to a published theme, and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from changebank.core.audit import audited
from changebank.listen.models import Submission
from changebank.understand.models import Theme


@audited
class PublishedTheme(models.Model):
    """A theme shown in the public catalogue, with its codes, distinct changes and quotes."""

    theme = models.OneToOneField(Theme, on_delete=models.CASCADE, related_name="publication")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)
    invite_experiences = models.BooleanField(
        default=True, help_text="Show ‘add your experience’ on the theme's public page."
    )

    class Meta:
        ordering = ["theme__position", "theme_id"]

    def __str__(self) -> str:
        return f"{self.theme} (published)"


class Experience(models.Model):
    """An experience someone added to a published theme: a submission (moderated) linked to it."""

    submission = models.OneToOneField(
        Submission, on_delete=models.CASCADE, related_name="experience"
    )
    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="experiences")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Experience of {self.theme}"


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the API. Only a hash is stored; the key is shown once, when created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for.")
    prefix = models.CharField(max_length=8, help_text="The first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: object, name: str) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns it and the key, which is never stored."""
        key = "cb_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=key[:8], key_hash=hash_token(key))
        return token, key

    @classmethod
    def authenticate(cls, key: str) -> ApiToken | None:
        token = (
            cls.objects.select_related("user")
            .filter(key_hash=hash_token(key), revoked_at=None, user__is_active=True)
            .first()
        )
        if token is not None:
            cls.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token
