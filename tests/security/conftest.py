"""A small world with one of everything the site shows, built once per test module.

``build_world(text)`` makes every user-controlled text field from ``text(name)``, so the
permissions matrix builds it with plain words and the stored-XSS tests with script payloads.
The world lives inside a transaction that is rolled back when the module ends (each test runs
in a savepoint inside it, as Django's ``TestCase.setUpTestData`` does).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client, override_settings

ROLES = ("anonymous", "analyst", "panel member", "evaluation lead", "admin")
PASSWORD = "a-long-test-password"


def plain(name: str) -> str:
    return name


def build_world(
    text: Callable[[str], str] = plain, url: str = "https://example.org/report"
) -> SimpleNamespace:
    """Every kind of object a page shows, in a public programme and a private one."""
    from changebank.core.roles import ensure_roles
    from changebank.decide import delphi
    from changebank.decide import pairwise as pairwise_ops
    from changebank.decide.models import (
        DEFAULT_RULES,
        DEFAULT_SCALES,
        ChoiceExperiment,
        Conversation,
        Panel,
        PanelMember,
        Statement,
        Status,
    )
    from changebank.decide.views import choice as choice_views
    from changebank.evaluate.models import (
        Adoption,
        Collaborator,
        DesignComment,
        DesignVersion,
        Evaluation,
        EvaluationDocument,
        Metric,
        MetricValue,
        Outcome,
        PulseResponse,
        Stage,
        TrackedChange,
    )
    from changebank.listen.models import (
        Document,
        ImportBatch,
        Programme,
        Question,
        Respondent,
        Submission,
    )
    from changebank.share.models import Experience, PublishedTheme
    from changebank.understand.double import create_sample
    from changebank.understand.models import (
        AnalysisRun,
        Code,
        CodeAssignment,
        DistinctChange,
        Origin,
        Theme,
    )

    ensure_roles()
    users = {}
    for role in ROLES[1:]:
        user = User.objects.create_user(role.replace(" ", "-"), password=PASSWORD)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    analyst, lead = users["analyst"], users["evaluation lead"]

    programme = Programme.objects.create(
        title=text("Programme title"),
        slug="open",
        summary=text("Programme summary"),
        description=text("Programme description"),
        organiser=text("Organiser"),
        visibility="public",
        publication_basis="all",
        consent_text="You agree that we may quote you.",
    )
    private = Programme.objects.create(
        title="Private programme", slug="hidden", visibility="private"
    )
    question = Question.objects.create(
        programme=programme,
        key="what",
        prompt=text("What should we keep?"),
        required=True,
        position=1,
    )
    subs = []
    for i in range(6):
        respondent = Respondent.objects.create(
            programme=programme, role="staff", organisation=text(f"Organisation {i}")
        )
        subs.append(
            Submission.objects.create(
                programme=programme,
                question=question,
                respondent=respondent,
                text=text(f"Video appointments saved me a journey {i}"),
                source=Submission.Source.FORM,
                consent_given=True,
                reference=f"CB-SEC-{i:04d}",
                dedupe_key=f"sec{i}",
            )
        )
    private_sub = Submission.objects.create(
        programme=private,
        text="Private words",
        source=Submission.Source.IMPORT,
        reference="CB-PRIV-0001",
        dedupe_key="p1",
    )
    run = AnalysisRun.objects.create(programme=programme)
    theme = Theme.objects.create(
        programme=programme, label=text("Remote care"), meaning=text("Theme meaning"), position=0
    )
    PublishedTheme.objects.create(theme=theme)
    private_theme = Theme.objects.create(programme=private, label="Private theme")
    PublishedTheme.objects.create(theme=private_theme)
    code = Code.objects.create(
        programme=programme,
        label=text("Video calls"),
        description=text("Code description"),
        theme=theme,
        status="accepted",
        size=6,
    )
    for s in subs:
        CodeAssignment.objects.create(submission=s, code=code, origin=Origin.HUMAN)
    change = DistinctChange.objects.create(
        programme=programme,
        text=text("Keep video appointments"),
        name=text("Video change"),
        count=6,
        code=code,
    )
    change.members.set(subs)
    other_change = DistinctChange.objects.create(
        programme=programme, text=text("Free parking"), count=2
    )
    sample = create_sample(
        programme, name=text("Sample"), size=2, coders=[analyst, users["admin"]], seed=1
    )
    batch = ImportBatch.objects.create(
        programme=programme,
        filename="a.csv",
        file_sha256="0" * 64,
        size=10,
        detected_format="csv",
        status="done",
        started_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
        finished_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
    )
    document = Document.objects.create(
        programme=programme,
        title=text("Document title"),
        filename="d.txt",
        kind="text",
        sha256="1" * 64,
        size=5,
    )

    panel = Panel.objects.create(programme=programme, name=text("Lived-experience panel"))
    member = PanelMember.objects.create(panel=panel, name=text("Member name"), group="patient")
    delphi_round = delphi.create_round(
        panel,
        changes=[change, other_change],
        scales=DEFAULT_SCALES,
        rules=DEFAULT_RULES,
        ask_rsa=True,
    )
    delphi.set_status(delphi_round, Status.OPEN)
    private_panel = Panel.objects.create(programme=private, name="Private panel")
    private_member = PanelMember.objects.create(panel=private_panel, name="Hidden", group="patient")

    survey = pairwise_ops.create_survey(
        programme,
        question=text("Which change?"),
        slug="which",
        typed=[text("Idea one"), text("Idea two"), "Idea three"],
    )
    pairwise_ops.set_status(survey, Status.OPEN)
    idea = survey.ideas.first()
    conversation = Conversation.objects.create(
        programme=programme, slug="talk", topic=text("What should we keep?"), status=Status.OPEN
    )
    statements = [
        Statement.objects.create(conversation=conversation, text=text(f"Statement {i}"))
        for i in range(3)
    ]
    experiment = ChoiceExperiment.objects.create(
        programme=programme,
        slug="appointments",
        title=text("How should appointments work?"),
        attributes=[
            {
                "name": text("Waiting time"),
                "levels": ["6 weeks", "3 weeks", "1 week"],
                "ordered": True,
            },
            {
                "name": "Who you see",
                "levels": [text("Any clinician"), "Your own GP"],
                "ordered": False,
            },
            {"name": "How", "levels": ["Phone", "Video", "In person"], "ordered": False},
        ],
        n_sets=8,
        n_alternatives=2,
        n_blocks=1,
    )
    experiment.design = choice_views.generate_design(experiment, seed=7)
    experiment.status = Status.OPEN
    experiment.save()

    tracked = TrackedChange.objects.create(
        programme=programme,
        change=change,
        title=text("Video follow-ups"),
        summary=text("Tracked summary"),
        owner=lead,
        stage=Stage.ADOPTING,
        pulse_open=True,
        panel=panel,
        go_live=datetime.date(2025, 1, 1),
    )
    tracked.themes.add(theme)
    adoption = Adoption.objects.create(
        tracked=tracked, organisation=text("Adopting trust"), note=text("Adoption note")
    )
    collaborator = Collaborator.objects.create(tracked=tracked, name=text("Collaborator"))
    version = DesignVersion.objects.create(
        tracked=tracked,
        number=1,
        problem=text("Design problem"),
        people=text("Design people"),
        solution=text("Design solution"),
        risks=text("Design risks"),
        measures=text("Design measures"),
        author_name=text("Author"),
    )
    DesignComment.objects.create(
        tracked=tracked,
        version=version,
        section="problem",
        text=text("Design comment"),
        author_name=text("Commenter"),
    )
    pulse_sub = Submission.objects.create(
        programme=programme,
        text=text("Pulse comment"),
        source=Submission.Source.FORM,
        reference="CB-PULSE-1",
        dedupe_key="pulse1",
    )
    PulseResponse.objects.create(
        tracked=tracked, helped="yes", text=text("Pulse comment"), submission=pulse_sub
    )
    exp_sub = Submission.objects.create(
        programme=programme,
        text=text("My experience"),
        source=Submission.Source.FORM,
        consent_given=True,
        reference="CB-EXP-1",
        dedupe_key="exp1",
    )
    Experience.objects.create(submission=exp_sub, theme=theme)

    def evaluation(public: bool, title: str) -> tuple:
        ev = Evaluation.objects.create(
            programme=programme,
            title=text(title),
            summary=text("Evaluation summary"),
            lead=lead,
            public=public,
            report_url=url,
            plan_url=url,
            organisation=text("Evaluating organisation"),
        )
        ev.changes.add(tracked)
        Outcome.objects.create(
            evaluation=ev, name=text("Outcome name"), result=text("Outcome result")
        )
        metric = Metric.objects.create(
            evaluation=ev,
            name=text("Metric name"),
            unit="%",
            description=text("Metric description"),
        )
        for month in range(1, 13):
            MetricValue.objects.create(
                metric=metric,
                period=datetime.date(2024, month, 1),
                value=month % 5,
                note=text("Note"),
            )
        doc = EvaluationDocument(
            evaluation=ev, title=text("Evaluation document"), filename="plan.txt", size=5
        )
        doc.file.save("plan.txt", ContentFile(b"plan\n"), save=True)
        return ev, metric, doc

    published, metric, ev_doc = evaluation(True, "Published evaluation")
    draft, draft_metric, draft_doc = evaluation(False, "Draft evaluation")

    return SimpleNamespace(
        users=users,
        ids={
            "slug": programme.slug,
            "private_slug": private.slug,
            "submission": subs[0].pk,
            "private_submission": private_sub.pk,
            "import": batch.pk,
            "document": document.pk,
            "run": run.pk,
            "theme": theme.pk,
            "private_theme": private_theme.pk,
            "code": code.pk,
            "change": change.pk,
            "sample": sample.pk,
            "panel": panel.pk,
            "member": member.pk,
            "member_token": member.token,
            "private_member_token": private_member.token,
            "round": delphi_round.number,
            "survey": survey.slug,
            "idea": idea.pk,
            "conversation": conversation.slug,
            "statement": statements[0].pk,
            "experiment": experiment.slug,
            "tracked": tracked.pk,
            "adoption": adoption.pk,
            "collaborator": collaborator.pk,
            "collaborator_token": collaborator.token,
            "pulse_token": tracked.pulse_token,
            "version": version.number,
            "evaluation": published.pk,
            "draft": draft.pk,
            "metric": metric.pk,
            "draft_metric": draft_metric.pk,
            "ev_doc": ev_doc.pk,
            "draft_doc": draft_doc.pk,
            "kind": "outcome",
            "item": published.outcomes.first().pk,
            "position": 1,
            "one": 1,
            "token": "no-such-upload",
            "fmt_report": "html",
            "fmt_data": "csv",
        },
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")):
        yield


def world_fixture(text: Callable[[str], str] = plain, **kwargs: str) -> Callable:
    """A module-scoped fixture holding ``build_world(text)`` for the whole module."""

    @pytest.fixture(scope="module")
    def world(django_db_setup, django_db_blocker, media) -> Iterator[SimpleNamespace]:  # noqa: ARG001
        with django_db_blocker.unblock():
            atomic = transaction.atomic()
            atomic.__enter__()
            try:
                yield build_world(text, **kwargs)
            finally:
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)
                cache.clear()

    return world


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


_CLIENTS: dict[bool, Client] = {}


def client_for(world: SimpleNamespace, role: str, enforce_csrf_checks: bool = False) -> Client:
    """A client signed in as ``role`` (or anonymous). Clients are reused: each new one loads the
    middleware again, and WhiteNoise then indexes every static file (half a second)."""
    client = _CLIENTS.get(enforce_csrf_checks)
    if client is None:
        client = _CLIENTS[enforce_csrf_checks] = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.cookies.clear()
    if role != "anonymous":
        client.force_login(world.users[role])
    return client
