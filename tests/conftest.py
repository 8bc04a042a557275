"""Shared fixtures: real data files, programmes and users with each role."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).parent / "fixtures"


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture
def programme(db):
    from changebank.listen.models import Programme

    return Programme.objects.create(title="Test programme", slug="test", visibility="public")


@pytest.fixture
def analyst(db):
    from django.contrib.auth.models import Group, User

    from changebank.core.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("ana", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="analyst"))
    return user
