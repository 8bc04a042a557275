"""Contributors' rights: erasure by reference, subject access, and retention."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import models
from django.urls import reverse
from django.utils import timezone

from changebank.core import tasks
from changebank.core.models import AuditEvent
from changebank.core.roles import ensure_roles
from changebank.listen.models import Programme, Question, Respondent, Submission
from changebank.listen.rights import erase, purge, subject_access

WRITTEN = "Nurse Beryl rang me on 07700 900123; email jo.bloggs@example.com if you need to."
SECRET = "jo.bloggs"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    """One contributor's form answers (two questions), coded, read, in a distinct change, with a
    pulse response and an experience under other references; and someone else's answer."""
    from changebank.evaluate.models import TrackedChange
    from changebank.evaluate.views.pulse import save_pulse
    from changebank.listen.taking_part import save_answers
    from changebank.share.views.catalogue import _save_experience
    from changebank.understand.models import (
        Code,
        CodeAssignment,
        CodeSpan,
        DistinctChange,
        SubmissionReading,
        Theme,
    )

    p = Programme.objects.create(
        title="Rights", slug="rights", visibility="public", consent_text="I agree."
    )
    q1 = Question.objects.create(programme=p, key="keep", position=1, prompt="Keep?")
    q2 = Question.objects.create(programme=p, key="never", position=2, prompt="Never again?")
    form = SimpleNamespace(
        cleaned_data={
            "q_keep": WRITTEN,
            "q_never": "Queues at the front desk",
            "consent": True,
            "role": "carer",
            "organisation": "Riverside",
            "eq_age": "45 to 54",
        },
        questions=[q1, q2],
        free_text_questions=lambda: [q1, q2],
    )
    reference = save_answers(p, form)
    other_ref = save_answers(
        p,
        SimpleNamespace(
            cleaned_data={"q_keep": "Keep the video clinic", "consent": True},
            questions=[q1, q2],
            free_text_questions=lambda: [q1, q2],
        ),
    )
    mine = list(Submission.objects.filter(reference=reference).order_by("pk"))
    other = Submission.objects.get(reference=other_ref)
    theme = Theme.objects.create(programme=p, label="Contact")
    code = Code.objects.create(programme=p, label="Phone calls", theme=theme)
    a = CodeAssignment.objects.create(submission=mine[0], code=code, origin="human")
    CodeSpan.objects.create(assignment=a, start=0, end=5)
    CodeAssignment.objects.create(submission=other, code=code)
    SubmissionReading.objects.create(submission=mine[0], sentiment=2, stance="keep")
    change = DistinctChange.objects.create(programme=p, text=mine[0].text, count=2)
    change.members.add(mine[0], other)
    tracked = TrackedChange.objects.create(programme=p, title="Call-backs")
    pulse = save_pulse(tracked, {"helped": "yes", "text": "Ring 07700 900456", "role": "carer"})
    experience_ref = _save_experience(
        theme, SimpleNamespace(cleaned_data={"text": "Lovely, call 07700 900789", "role": ""})
    )
    return SimpleNamespace(
        programme=p,
        reference=reference,
        mine=mine,
        other=other,
        change=change,
        code=code,
        pulse=pulse,
        pulse_ref=pulse.submission.reference,
        experience_ref=experience_ref,
    )


def _user(name: str, role: str | None = None, superuser: bool = False) -> User:
    ensure_roles()
    if superuser:
        return User.objects.create_superuser(name, password="a-long-test-password")
    user = User.objects.create_user(name, password="a-long-test-password")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def _everything_holding(text: str) -> list[str]:
    """Every row of every table whose text or JSON columns hold ``text``."""
    found = []
    for model in apps.get_models():
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        for row in model.objects.values(*fields) if fields else []:
            if text.lower() in json.dumps(row, default=str).lower():
                found.append(f"{model._meta.label}: {row}")
    return found


# --- subject access -------------------------------------------------------------------------------


def test_subject_access_holds_everything(world):
    data = subject_access(world.reference.lower())
    assert data["found"] and data["reference"] == world.reference
    first = data["submissions"][0]
    assert first["text_as_written"] == WRITTEN
    assert SECRET not in first["text_as_analysed"]
    assert {r["kind"] for r in first["personal_data_removed"]} >= {"EMAIL", "PHONE", "NAME"}
    assert first["consent_given"] is True and first["consent_wording"] == "I agree."
    assert first["question"] == "Keep?" and first["received_at"]
    assert first["codes_applied"][0]["code"] == "Phone calls"
    assert first["codes_applied"][0]["words"] == [first["text_as_analysed"][:5]]
    assert first["reading"] == {"sentiment": "Positive", "stance": "Keep: a benefit"}
    assert first["distinct_changes"][0]["text"] == world.change.text
    assert data["submissions"][1]["text_as_written"] == "Queues at the front desk"
    (respondent,) = data["respondents"]
    assert respondent["organisation"] == "Riverside"
    assert respondent["equality"] == {"What is your age?": "45 to 54"}
    json.dumps(data)  # ready to download
    pulse = subject_access(world.pulse_ref)
    assert pulse["pulse_responses"][0]["helped"] == "Yes"
    assert pulse["submissions"][0]["text_as_written"] == "Ring 07700 900456"
    experience = subject_access(world.experience_ref)
    assert experience["experiences"][0]["theme"] == "Contact"
    assert subject_access("CB-ZZZZ-ZZZZ")["found"] is False


def test_subject_access_page_is_for_admins_only(client, world):
    url = reverse("listen:subject_access")
    client.force_login(_user("ana", "analyst"))
    assert client.get(url, {"reference": world.reference}).status_code == 403
    client.force_login(_user("boss", "admin"))
    assert client.get(url).status_code == 200
    response = client.get(url, {"reference": world.reference})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert json.loads(response.content)["submissions"][0]["text_as_written"] == WRITTEN


# --- erasure --------------------------------------------------------------------------------------


def test_erasure_leaves_nothing_of_the_reference(world):
    from changebank.understand.models import CodeAssignment, CodeSpan, SubmissionReading

    ids = [s.pk for s in world.mine]
    respondent_id = world.mine[0].respondent_id
    admin = _user("boss", superuser=True)
    assert _everything_holding(SECRET)  # before: held (as written)
    report = erase(world.reference, by=admin)
    assert report.found
    assert report.counts["submissions"] == 2
    assert report.counts["respondents"] == 1
    assert report.counts["codes applied"] == 1
    assert report.counts["readings"] == 1
    assert report.counts["distinct change memberships"] == 1
    assert not Submission.objects.filter(reference=world.reference).exists()
    assert not Submission.objects.filter(pk__in=ids).exists()
    assert not Respondent.objects.filter(pk=respondent_id).exists()
    assert not CodeAssignment.objects.filter(submission__in=ids).exists()
    assert not CodeSpan.objects.filter(assignment__submission__in=ids).exists()
    assert not SubmissionReading.objects.filter(submission__in=ids).exists()
    # nothing written by them anywhere (the distinct change took the other member's words)
    assert _everything_holding(SECRET) == []
    assert _everything_holding("Queues at the front desk") == []
    assert _everything_holding("900123") == []
    world.change.refresh_from_db()
    assert world.change.count == 1 and world.change.text == world.other.text
    # the others are untouched
    assert Submission.objects.filter(pk=world.other.pk).exists()
    assert Submission.objects.filter(reference=world.pulse_ref).exists()
    # one event: the reference, counts, who, when; no content
    event = AuditEvent.objects.get(action="erase")
    assert event.object_id == world.reference and event.actor == admin
    assert event.after == {"counts": report.counts}
    assert "Riverside" not in json.dumps([event.before, event.after, event.object_repr])
    assert not AuditEvent.objects.filter(object_type="listen.submission", action="delete").exists()
    # erasing again finds nothing
    assert not erase(world.reference).found


def test_erasure_of_a_pulse_response_and_an_experience(world):
    from changebank.evaluate.models import PulseResponse
    from changebank.share.models import Experience

    assert erase(world.pulse_ref).counts["pulse responses"] == 1
    assert not PulseResponse.objects.exists()
    assert erase(world.experience_ref).counts["experiences"] == 1
    assert not Experience.objects.exists()
    assert _everything_holding("900456") == [] and _everything_holding("900789") == []


def test_erase_page_confirms_and_is_for_admins_only(client, world):
    url = reverse("listen:erase")
    client.force_login(_user("ana", "analyst"))
    assert client.get(url).status_code == 403
    assert client.post(url, {"reference": world.reference, "confirm": "yes"}).status_code == 403
    assert Submission.objects.filter(reference=world.reference).exists()
    client.force_login(_user("boss", "admin"))
    page = client.get(url, {"reference": world.reference}).content.decode()
    assert "2 submissions in Rights" in page and 'name="confirm"' in page
    unconfirmed = client.post(url, {"reference": world.reference}).content.decode()
    assert "Confirm that you want to erase" in unconfirmed
    assert Submission.objects.filter(reference=world.reference).exists()
    done = client.post(url, {"reference": world.reference, "confirm": "yes"}, follow=True)
    assert f"Erased {world.reference}" in done.content.decode()
    assert not Submission.objects.filter(reference=world.reference).exists()


# --- retention ------------------------------------------------------------------------------------


def test_purge_deletes_only_old_submissions(world):
    p = world.programme
    old = timezone.now() - dt.timedelta(days=400)
    Submission.objects.filter(pk=world.mine[0].pk).update(received_at=old)
    Submission.objects.filter(pk=world.other.pk).update(received_at=old)
    assert purge() == {}  # no retention period: keep
    p.retention_days = 365
    p.save()
    assert purge(dry_run=True)[p.slug]["submissions"] == 2
    assert Submission.objects.filter(pk=world.other.pk).exists()
    before = Submission.objects.count()
    result = purge(batch_size=1)
    assert result[p.slug]["submissions"] == 2
    assert Submission.objects.count() == before - 2
    assert not Submission.objects.filter(pk__in=[world.mine[0].pk, world.other.pk]).exists()
    assert Submission.objects.filter(pk=world.mine[1].pk).exists()  # recent: kept
    event = AuditEvent.objects.get(action="purge")
    assert event.after["counts"]["submissions"] == 2
    assert SECRET not in json.dumps([event.before, event.after])


def test_purge_task_is_registered(world):
    p = world.programme
    p.retention_days = 1
    p.save()
    Submission.objects.filter(pk=world.other.pk).update(
        received_at=timezone.now() - dt.timedelta(days=3)
    )
    row = tasks.enqueue("listen.purge", start=False, programme=p.slug)
    tasks.run(tasks.claim(row.pk))
    row.refresh_from_db()
    assert row.status == "done", row.error
    assert row.result[p.slug]["submissions"] == 1


def test_copies_under_the_same_reference_in_other_programmes_are_erased_too(world):
    # a REFI-QDA import of a changebank export keeps the exported reference numbers
    copy_of = Programme.objects.create(title="Copy", slug="copy")
    Submission.objects.create(
        programme=copy_of,
        text=world.mine[0].text,
        source="import",
        reference=world.reference,
        dedupe_key="refi:copy",
    )
    assert len(subject_access(world.reference)["submissions"]) == 3
    assert erase(world.reference).counts["submissions"] == 3
    assert not Submission.objects.filter(reference=world.reference).exists()
