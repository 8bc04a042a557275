"""Fixtures for the Evaluate stage: an evaluation lead, a distinct change and a tracked change."""

from __future__ import annotations

import pytest


@pytest.fixture
def lead(db):
    from django.contrib.auth.models import Group, User

    from changebank.core.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("eve", password="a-long-test-password", first_name="Eve")
    user.groups.add(Group.objects.get(name="evaluation lead"))
    return user


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


@pytest.fixture
def distinct_change(programme):
    from changebank.listen.models import Submission
    from changebank.understand.models import Code, DistinctChange, Theme

    theme = Theme.objects.create(programme=programme, label="Remote appointments")
    code = Code.objects.create(programme=programme, theme=theme, label="Video consultations")
    change = DistinctChange.objects.create(
        programme=programme, text="Keep video consultations for follow-ups", count=2, code=code
    )
    for i, text in enumerate(
        ["Video follow-ups saved me a day off work", "Please keep video appointments"]
    ):
        sub = Submission.objects.create(
            programme=programme,
            text=text,
            source=Submission.Source.FORM,
            reference=f"REF{i}",
            dedupe_key=f"k{i}",
        )
        change.members.add(sub)
    return change


@pytest.fixture
def tracked(distinct_change, lead):
    from changebank.evaluate.models import TrackedChange

    tracked = TrackedChange.objects.create(
        programme=distinct_change.programme,
        change=distinct_change,
        title="Video consultations for follow-ups",
        owner=lead,
    )
    tracked.themes.add(distinct_change.code.theme)
    return tracked


@pytest.fixture
def evaluation(tracked, lead):
    from changebank.evaluate.models import Evaluation

    evaluation = Evaluation.objects.create(
        programme=tracked.programme, title="Video follow-ups", summary="An evaluation", lead=lead
    )
    evaluation.changes.add(tracked)
    return evaluation
