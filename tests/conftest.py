"""Shared fixtures: real data files, programmes and users with each role."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    """The shared real data: $CHANGEBANK_SHARED_DATA, else ../shared/data beside the checkout, else
    beside the repository this one was cloned from (a fresh clone in a temporary folder)."""
    if os.environ.get("CHANGEBANK_SHARED_DATA"):
        return Path(os.environ["CHANGEBANK_SHARED_DATA"])
    beside = ROOT.parent / "shared" / "data"
    if beside.exists():
        return beside
    import subprocess

    origin = subprocess.run(
        ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        cloned_from = Path(origin).resolve().parent / "shared" / "data"
        if cloned_from.exists():
            return cloned_from
    return beside


SHARED_DATA = _shared_data()
FIXTURES = Path(__file__).parent / "fixtures"


def shared(*parts: str) -> Path:
    """A file from the shared real data beside the checkout; missing data fails the test, because
    a skipped import test proves nothing (set CHANGEBANK_SKIP_MISSING_DATA=1 to skip instead)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared data not present: {path} (the tests expect ../shared beside the checkout, or CHANGEBANK_SHARED_DATA)"
        if os.environ.get("CHANGEBANK_SKIP_MISSING_DATA") == "1":
            pytest.skip(message)
        pytest.fail(message)
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
