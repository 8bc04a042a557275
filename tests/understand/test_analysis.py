"""The analysis in the platform: a background task that stores codes, themes, distinct changes,
sentiment and stance with provenance, and keeps every human decision when it runs again."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Group, User
from django.db.models import Count
from django.urls import reverse

from changebank.core.models import AuditEvent, Task
from changebank.core.tasks import enqueue, run_pending, wait_for_in_process_worker
from changebank.listen.models import Submission
from changebank.understand.analyse import analyse_now
from changebank.understand.models import (
    Code,
    CodeAssignment,
    DistinctChange,
    Origin,
    SubmissionReading,
    Theme,
)
from changebank.understand.views.board import decide, merge_codes

from .conftest import FAST, _load  # noqa: F401


def test_analysis_stores_codes_themes_changes_and_readings(analysed):
    programme, subs, row = analysed
    codes = list(programme.codes.all())
    assert len(codes) >= 3
    assert all(c.origin == Origin.AI and c.status == Code.Status.SUGGESTED for c in codes)
    assert all(c.model.startswith("changebank") and "wordllama" in c.model for c in codes)
    assert all(c.label and c.theme_id for c in codes)
    assert Theme.objects.filter(programme=programme).count() >= 1
    primary = CodeAssignment.objects.filter(submission__programme=programme, primary=True)
    assert primary.count() == len(subs)  # every submission has a code: no outlier bin
    assert all(0 <= a.confidence <= 1 for a in primary)
    assert primary.filter(needs_review=True).count() == row.result["flagged_for_review"]
    assert sum(c.size for c in codes) >= len(subs)
    changes = DistinctChange.objects.filter(programme=programme)
    assert changes.exists()
    linked = DistinctChange.members.through.objects.filter(distinctchange__programme=programme)
    assert linked.count() == sum(changes.values_list("count", flat=True))
    readings = SubmissionReading.objects.filter(submission__programme=programme)
    assert readings.count() == len(subs)
    assert readings.exclude(stance="").count() == len(subs)
    assert AuditEvent.objects.filter(action="analyse").count() == 1
    assert row.progress == 100 and row.stage == "Finished"


def test_rerun_keeps_every_human_decision(analysed, analyst):
    programme, subs, first = analysed
    codes = list(programme.codes.order_by("-size"))
    named = codes[0]
    named.label, named.origin = "Kind and caring staff", Origin.HUMAN
    named.save()
    accepted = codes[1]
    accepted.status = Code.Status.ACCEPTED
    accepted.save()
    merge_codes(codes[3], codes[2])
    merged = Code.objects.get(pk=codes[2].pk)
    assert merged.origin == Origin.HUMAN
    review = (
        CodeAssignment.objects.filter(
            submission__programme=programme, origin=Origin.AI, primary=True
        )
        .exclude(code=accepted)
        .order_by("pk")[0]
    )
    decide(review, str(accepted.pk), analyst)
    reading = SubmissionReading.objects.filter(submission__programme=programme)[0]
    reading.sentiment, reading.origin = 5, Origin.HUMAN
    reading.save()
    human_assignments = set(
        CodeAssignment.objects.filter(origin=Origin.HUMAN).values_list("submission_id", "code_id")
    )

    second = analyse_now(programme, **FAST)
    assert second.status == Task.Status.DONE, second.error
    kept = {c.pk: c for c in programme.codes.all()}
    assert kept[named.pk].label == "Kind and caring staff"
    assert accepted.pk in kept and merged.pk in kept
    assert codes[3].pk not in kept
    assert human_assignments <= set(
        CodeAssignment.objects.filter(origin=Origin.HUMAN).values_list("submission_id", "code_id")
    )
    # the analyst's submission was not recoded by the AI
    assert not CodeAssignment.objects.filter(
        submission=review.submission, origin=Origin.AI
    ).exists()
    assert SubmissionReading.objects.get(pk=reading.pk).sentiment == 5
    # unreviewed AI codes from the first run were replaced, not duplicated
    # (an AI code stays when an analyst used it: deciding a submission's code keeps its other codes
    # as the analyst's coding, so which codes stay depends on the submission picked for review)
    first_run_ai = Code.objects.filter(run_id=first.analysis_run.pk, origin=Origin.AI)
    used = CodeAssignment.objects.filter(origin=Origin.HUMAN).values("code")
    assert not first_run_ai.exclude(status=Code.Status.ACCEPTED).exclude(pk__in=used).exists()
    assert second.result["codes_matched_to_human_codes"] >= 1
    primary = CodeAssignment.objects.filter(submission__programme=programme, primary=True)
    assert primary.values("submission").distinct().count() == len(subs)


def test_a_failed_analysis_is_recorded_and_changes_nothing(programme):
    row = analyse_now(programme, **FAST)  # no submissions yet
    assert row.status == Task.Status.FAILED
    assert "no submissions to analyse" in row.error
    assert not Code.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_background_worker_runs_queued_tasks(programme):
    _load(programme, 150)
    from changebank.understand.analyse import start_analysis

    run = start_analysis(programme, embedder="wordllama")  # starts the in-process thread
    wait_for_in_process_worker(timeout=300)
    run_pending()  # in case the thread had not started yet
    task = Task.objects.get(pk=run.task_id)
    assert task.status == Task.Status.DONE, task.error
    assert task.progress == 100
    assert Code.objects.filter(programme=programme).exists()
    with pytest.raises(ValueError, match="unknown task"):
        enqueue("no.such.task")


# --- the pages ----------------------------------------------------------------------------


@pytest.fixture
def panel(db):
    from changebank.core.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("pam", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="panel member"))
    return user


def test_pages_show_themes_codes_review_and_changes(client, analysed, analyst):
    programme, subs, row = analysed
    client.force_login(analyst)
    page = client.get(reverse("understand:overview", args=[programme.slug]))
    assert page.status_code == 200
    body = page.content.decode()
    code = programme.codes.order_by("-size")[0]
    assert code.label in body and "Sentiment" in body and "Stance" in body
    detail = client.get(reverse("understand:code_detail", args=[programme.slug, code.pk]))
    assert detail.status_code == 200 and code.quotes[0][:40] in detail.content.decode()
    run_page = client.get(
        reverse("understand:run_detail", args=[programme.slug, row.analysis_run.pk])
    )
    assert "Finished" in run_page.content.decode()
    changes = client.get(
        reverse("understand:distinct_changes", args=[programme.slug]) + "?repeated=1"
    )
    assert changes.status_code == 200
    review = client.get(reverse("understand:review", args=[programme.slug]))
    assert review.status_code == 200


def test_analyst_edits_through_the_pages(client, analysed, analyst):
    programme, subs, row = analysed
    client.force_login(analyst)
    a, b = programme.codes.order_by("-size")[:2]
    url = reverse("understand:code_detail", args=[programme.slug, a.pk])
    r = client.post(url, {"action": "rename", "label": "Parking", "description": "Car parks"})
    assert r.status_code == 302
    a.refresh_from_db()
    assert (a.label, a.origin, a.status) == ("Parking", Origin.HUMAN, Code.Status.ACCEPTED)
    assert AuditEvent.objects.filter(object_type="understand.code", object_id=str(a.pk)).exists()
    r = client.post(url, {"action": "rename", "label": "  "})
    assert Code.objects.get(pk=a.pk).label == "Parking"
    r = client.post(url, {"action": "theme", "new_theme": "Getting there"})
    a.refresh_from_db()
    assert a.theme.label == "Getting there" and a.theme.origin == Origin.HUMAN
    size_b = b.size
    r = client.post(url, {"action": "merge", "target": b.pk})
    assert r.status_code == 302 and not Code.objects.filter(pk=a.pk).exists()
    b.refresh_from_db()
    assert b.size > size_b
    pending = CodeAssignment.objects.filter(
        submission__programme=programme, needs_review=True, origin=Origin.AI
    ).first()
    if pending is None:  # make one to review
        pending = CodeAssignment.objects.filter(primary=True, origin=Origin.AI).first()
        pending.needs_review = True
        pending.save()
    r = client.post(
        reverse("understand:review", args=[programme.slug]),
        {"assignment": pending.pk, "code": b.pk},
    )
    assert r.status_code == 302
    decided = CodeAssignment.objects.get(submission=pending.submission, code=b)
    assert decided.origin == Origin.HUMAN and not decided.needs_review
    assert decided.decided_by == analyst
    if pending.code_id != b.pk:  # the suggestion the analyst replaced is gone
        assert not CodeAssignment.objects.filter(
            submission=pending.submission, code=pending.code_id
        ).exists()


def test_permissions(client, analysed, panel):
    programme, subs, row = analysed
    overview = reverse("understand:overview", args=[programme.slug])
    assert client.get(overview).status_code == 302  # sign in first
    client.force_login(panel)
    assert client.get(overview).status_code == 200  # panel members may look
    start = reverse("understand:start", args=[programme.slug])
    assert client.post(start).status_code == 403
    code = programme.codes.first()
    url = reverse("understand:code_detail", args=[programme.slug, code.pk])
    client.post(url, {"action": "rename", "label": "Hijacked"})
    assert Code.objects.get(pk=code.pk).label != "Hijacked"


def test_who_said_it_splits_themes_by_group(client, analysed, analyst):
    from changebank.listen.models import Respondent

    programme, subs, row = analysed
    trusts = [
        Respondent.objects.create(programme=programme, external_id=name, organisation=name)
        for name in ("Ambulance trust", "Community trust")
    ]
    for i, sub in enumerate(subs):
        sub.respondent = trusts[i % 2] if i < 300 else None
    Submission.objects.bulk_update(subs, ["respondent"])
    client.force_login(analyst)
    page = client.get(reverse("understand:who_said_it", args=[programme.slug]) + "?by=organisation")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Ambulance trust" in body and "Community trust" in body and "Cramér" in body
    assert "100 submissions have no organisation" in body
    # the first row's first cell: submissions of the first trust that raised the theme
    import html
    import re

    first = re.search(
        r'<th scope="row" class="nhsuk-table__cell">(.*?)</th>\s*<td[^>]*>([\d,]+) \(', body
    )
    theme = Theme.objects.get(programme=programme, label=html.unescape(first.group(1)))
    in_theme = set(
        CodeAssignment.objects.filter(code__theme=theme).values_list("submission_id", flat=True)
    )
    expected = sum(1 for s in subs[:300:2] if s.pk in in_theme)
    assert int(first.group(2).replace(",", "")) == expected
    assert (
        client.get(
            reverse("understand:who_said_it", args=[programme.slug]) + "?by=role"
        ).status_code
        == 200
    )


def test_a_run_that_fails_while_saving_leaves_the_last_results(analysed, monkeypatch):
    from changebank.understand.analyse import Analysis

    programme, subs, first = analysed
    before = (
        sorted(programme.codes.values_list("pk", flat=True)),
        CodeAssignment.objects.filter(submission__programme=programme).count(),
        programme.distinct_changes.count(),
    )

    def broken(self, *args):
        raise OSError("disk full")

    monkeypatch.setattr(Analysis, "_save_readings", broken)
    second = analyse_now(programme, **FAST)
    assert second.status == Task.Status.FAILED and "disk full" in second.error
    after = (
        sorted(programme.codes.values_list("pk", flat=True)),
        CodeAssignment.objects.filter(submission__programme=programme).count(),
        programme.distinct_changes.count(),
    )
    assert after == before


def test_find_submissions_by_theme_code_stance_sentiment_and_coding(client, analysed, analyst):
    programme, subs, row = analysed
    client.force_login(analyst)
    url = reverse("understand:submissions", args=[programme.slug])

    def count(**params) -> int:
        page = client.get(url, params)
        assert page.status_code == 200
        body = page.content.decode()
        return int(
            re.search(r'id="results"[^>]*>([\d,]+) submission', body).group(1).replace(",", "")
        )

    assert count() == len(subs)
    code = programme.codes.order_by("-size")[1]
    assert count(code=code.pk) == code.assignments.values("submission").distinct().count()
    theme = code.theme
    in_theme = CodeAssignment.objects.filter(code__theme=theme).values("submission").distinct()
    assert count(theme=theme.pk) == in_theme.count()
    keep = SubmissionReading.objects.filter(submission__programme=programme, stance="keep")
    assert count(stance="keep") == keep.count()
    very_positive = SubmissionReading.objects.filter(submission__programme=programme, sentiment=1)
    assert count(sentiment=1) == very_positive.count()
    review = CodeAssignment.objects.filter(code__programme=programme, needs_review=True)
    assert count(coding="review") == review.values("submission").distinct().count()
    assert count(coding="uncoded") == 0 and count(coding="human") == 0
    decide(review.first() or CodeAssignment.objects.first(), None, analyst)
    assert count(coding="human") == 1 and count(coding="ai") == len(subs) - 1
    assert count(q="staff", coding="ai") <= count(q="staff")
    assert client.get(url, {"sentiment": "9"}).status_code == 200  # a bad filter is ignored


def test_finalising_a_theme_keeps_it_and_its_codes_on_re_runs(client, analysed, analyst):
    programme, subs, row = analysed
    client.force_login(analyst)
    theme = programme.themes.annotate(n=Count("codes")).filter(n__gt=0).first()
    url = reverse("understand:theme_detail", args=[programme.slug, theme.pk])
    page = client.get(url)
    assert page.status_code == 200
    proposed = [q for c in theme.codes.all() for q in c.quotes[:2]]
    assert proposed and proposed[0][:30] in html.unescape(page.content.decode())
    r = client.post(
        url,
        {
            "label": "Getting care on time",
            "meaning": "People valued being seen quickly.",
            "quotes": [proposed[0], "an invented quote that was never offered"],
        },
    )
    assert r.status_code == 302
    theme.refresh_from_db()
    assert theme.label == "Getting care on time" and theme.origin == Origin.HUMAN
    assert theme.chosen_quotes == [proposed[0]]  # only offered quotes can be chosen
    codes = set(theme.codes.values_list("pk", flat=True))
    assert all(c.is_human for c in theme.codes.all())
    assert analyse_now(programme, **FAST).status == Task.Status.DONE
    theme.refresh_from_db()
    assert theme.meaning == "People valued being seen quickly."
    assert codes <= set(theme.codes.values_list("pk", flat=True))
    overview = client.get(reverse("understand:overview", args=[programme.slug]))
    assert "People valued being seen quickly." in overview.content.decode()
    assert client.post(url, {"label": " "}).status_code == 302
    theme.refresh_from_db()
    assert theme.label == "Getting care on time"


def test_code_and_theme_pages_show_who_changed_what_and_when(client, analysed, analyst):
    programme, subs, row = analysed
    client.force_login(analyst)
    a, b = programme.codes.order_by("-size")[:2]
    old_label = a.label
    url = reverse("understand:code_detail", args=[programme.slug, a.pk])
    client.post(url, {"action": "rename", "label": "Waiting times", "description": ""})
    body = html.unescape(client.get(url).content.decode())
    history = body[body.index('id="history"') :]
    assert "ana" in history and f"Label: {old_label}" in history and "Waiting times" in history
    b_url = reverse("understand:code_detail", args=[programme.slug, b.pk])
    client.post(url, {"action": "merge", "target": b.pk})
    history = html.unescape(client.get(b_url).content.decode())
    assert "Merged ‘Waiting times’ into this code" in history
    theme_url = reverse("understand:theme_detail", args=[programme.slug, b.theme_id])
    client.post(theme_url, {"label": "Access", "meaning": "Getting in."})
    history = html.unescape(client.get(theme_url).content.decode())
    assert "Meaning: (none) → Getting in." in history


def test_a_distinct_change_shows_who_raised_it(client, analysed, analyst):
    from changebank.listen.models import Respondent

    programme, subs, row = analysed
    change = programme.distinct_changes.filter(count__gt=1).first()
    members = list(change.members.all())
    patient = Respondent.objects.create(
        programme=programme, external_id="p1", role="patient", organisation="Ambulance trust"
    )
    members[0].respondent = patient
    members[0].save()
    client.force_login(analyst)
    url = reverse("understand:distinct_change_detail", args=[programme.slug, change.pk])
    body = client.get(url).content.decode()
    assert "Raised by 1 person whose details are known" in body
    assert "Who raised it, by role" in body and "Patient" in body and "Ambulance trust" in body
