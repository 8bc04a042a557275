"""The long list of distinct changes: filters, who raised each change, and the analysts' actions
on a change (name, merge, split, link and unlink), each validated, audited and undone exactly."""

from __future__ import annotations

import json

import pytest
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from changebank.core.models import AuditEvent
from changebank.listen.models import Programme, Respondent, Submission
from changebank.understand import changes as ops
from changebank.understand.models import DistinctChange, Origin, WorkspaceAction
from changebank.understand.undo import undo, undoable


def state(programme) -> list[dict]:
    """The programme's distinct changes with their members and links, comparable."""
    rows = json.loads(
        serializers.serialize(
            "json", DistinctChange.objects.filter(programme=programme).order_by("pk")
        )
    )
    for row in rows:
        row["fields"].pop("updated_at")
        row["fields"]["members"] = sorted(row["fields"]["members"])
        row["fields"]["linked"] = sorted(row["fields"]["linked"])
    return rows


def consistent(programme) -> None:
    """Every change's count is its number of members."""
    for change in DistinctChange.objects.filter(programme=programme):
        assert change.count == change.members.count(), change


def undo_latest(programme, user) -> WorkspaceAction:
    action = undoable(programme)
    assert action is not None
    undo(action, user)
    return action


def repeated(programme, n: int = 2) -> list[DistinctChange]:
    """The ``n`` most often raised changes (each with two or more members)."""
    found = list(programme.distinct_changes.filter(count__gt=2).order_by("-count", "pk")[:n])
    assert len(found) == n, "the demo data should give repeated changes"
    return found


@pytest.fixture
def people(analysed):
    """Respondents for the analysed submissions: staff of Trust A for even ones, patients of
    Trust B for odd ones; one person answers twice (two submissions) in each pair of four."""
    programme, subs, _ = analysed
    respondents = []
    for i, sub in enumerate(subs):
        if i % 4 == 1:
            sub.respondent = respondents[-1]  # the same person as the submission before
        else:
            respondents.append(
                Respondent.objects.create(
                    programme=programme,
                    external_id=f"r{i}",
                    role="staff" if i % 2 == 0 else "patient",
                    organisation="Trust A" if i % 2 == 0 else "Trust B",
                    sector="Acute" if i % 3 else "Community",
                    region="North" if i % 5 else "South",
                )
            )
            sub.respondent = respondents[-1]
    Submission.objects.bulk_update(subs, ["respondent"])
    return analysed


@pytest.fixture
def client_in(client, analyst, monkeypatch):
    """The test client signed in as an analyst; ``response.ctx`` is the context the page was
    rendered with (Django's test client records it for its own templates only, not Jinja2)."""
    from changebank.understand.views import changes as views

    client.force_login(analyst)
    seen = []
    real = views.render

    def spy(request, template, context=None, *args, **kwargs):
        seen.append(context)
        return real(request, template, context, *args, **kwargs)

    monkeypatch.setattr(views, "render", spy)

    def recording(method):
        def call(*args, **kwargs):
            seen.clear()
            response = method(*args, **kwargs)
            response.ctx = seen[-1] if seen else None
            return response

        return call

    client.get = recording(client.get)
    client.post = recording(client.post)
    return client


def url(name: str, programme, *args) -> str:
    return reverse(f"understand:{name}", args=[programme.slug, *args])


# --- the actions, undone exactly ---------------------------------------------------------------


def test_each_action_keeps_counts_and_is_undone_exactly(analysed, analyst):
    programme, subs, _ = analysed
    original = state(programme)
    a, b = repeated(programme)
    consistent(programme)

    ops.edit_change(a, analyst, name="Kinder reception", text="Be kinder at reception")
    a.refresh_from_db()
    assert (a.name, a.text, a.origin) == ("Kinder reception", "Be kinder at reception", "human")
    undo_latest(programme, analyst)
    assert state(programme) == original

    members = set(a.members.values_list("pk", flat=True)) | set(
        b.members.values_list("pk", flat=True)
    )
    original_b = b.pk
    ops.merge_changes(b, a, analyst)
    a.refresh_from_db()
    assert not DistinctChange.objects.filter(pk=original_b).exists()
    assert set(a.members.values_list("pk", flat=True)) == members
    assert a.count == len(members)
    consistent(programme)
    undo_latest(programme, analyst)
    assert state(programme) == original
    b = DistinctChange.objects.get(pk=original_b)

    picked = list(a.members.order_by("pk").values_list("pk", flat=True)[:2])
    new, _ = ops.split_change(a, picked, "Parking", analyst)
    a.refresh_from_db()
    assert sorted(new.members.values_list("pk", flat=True)) == picked
    assert (new.name, new.count, new.code_id, new.origin) == ("Parking", 2, a.code_id, "human")
    assert not a.members.filter(pk__in=picked).exists()
    consistent(programme)
    undo_latest(programme, analyst)
    assert state(programme) == original
    assert not DistinctChange.objects.filter(pk=new.pk).exists()

    outsider = next(s for s in subs if not a.members.filter(pk=s.pk).exists())
    ops.link_submission(a, outsider, analyst)
    assert a.members.filter(pk=outsider.pk).exists()
    consistent(programme)
    undo_latest(programme, analyst)
    assert state(programme) == original

    ops.unlink_submissions(a, picked[:1], analyst)
    assert not a.members.filter(pk=picked[0]).exists()
    consistent(programme)
    undo_latest(programme, analyst)
    assert state(programme) == original

    ops.link_changes(a, b, analyst)
    assert list(b.linked.all()) == [a]  # the link shows on both
    undo_latest(programme, analyst)
    assert state(programme) == original


def test_merge_carries_links_and_undo_restores_them(analysed, analyst):
    programme, _, _ = analysed
    a, b, c = repeated(programme, 3)
    ops.link_changes(b, c, analyst)
    ops.edit_change(b, analyst, name="Waiting times")
    before, before_b = state(programme), b.pk

    ops.merge_changes(b, a, analyst)
    a.refresh_from_db()
    assert list(a.linked.all()) == [c] and list(c.linked.all()) == [a]
    assert a.name == "Waiting times"  # it had none, so it takes the merged change's name
    undo_latest(programme, analyst)
    assert state(programme) == before
    b = DistinctChange.objects.get(pk=before_b)
    assert list(b.linked.all()) == [c]

    ops.unlink_changes(c, b, analyst)
    assert not b.linked.exists()
    undo_latest(programme, analyst)
    assert state(programme) == before


def test_actions_are_validated(analysed, analyst):
    programme, subs, _ = analysed
    a, b = repeated(programme)
    other = Programme.objects.create(title="Other", slug="other")
    elsewhere = DistinctChange.objects.create(programme=other, text="x", count=0)
    foreign = Submission.objects.create(
        programme=other, text="x", source="import", reference="CB-ZZZZ-ZZZZ", dedupe_key="z"
    )
    member = a.members.first()
    everyone = list(a.members.values_list("pk", flat=True))
    cases = [
        (lambda: ops.edit_change(a, analyst, text="  "), "wording"),
        (lambda: ops.edit_change(a, analyst, name=a.name, text=a.text), "Nothing was changed"),
        (lambda: ops.merge_changes(a, a, analyst), "itself"),
        (lambda: ops.merge_changes(elsewhere, a, analyst), "same programme"),
        (lambda: ops.split_change(a, [], "New", analyst), "Pick at least one"),
        (lambda: ops.split_change(a, everyone, "New", analyst), "Leave at least one"),
        (lambda: ops.split_change(a, everyone[:1], "  ", analyst), "Enter a name"),
        (lambda: ops.split_change(a, [foreign.pk], "New", analyst), "Pick at least one"),
        (lambda: ops.link_submission(a, member, analyst), "already in this change"),
        (lambda: ops.link_submission(a, foreign, analyst), "this programme"),
        (lambda: ops.unlink_submissions(a, everyone, analyst), "at least one submission"),
        (lambda: ops.unlink_submissions(a, ["x"], analyst), "Pick at least one"),
        (lambda: ops.link_changes(a, a, analyst), "itself"),
        (lambda: ops.unlink_changes(a, b, analyst), "not linked"),
        (lambda: ops.find_change(programme, "twelve"), "not a change number"),
        (lambda: ops.find_change(programme, 10**9), "no change number"),
        (lambda: ops.find_change(programme, elsewhere.pk), "no change number"),
        (lambda: ops.find_submission(programme, "CB-ZZZZ-ZZZZ"), "No submission"),
        (lambda: ops.find_submission(programme, ""), "Enter a submission"),
    ]
    for call, words in cases:
        with pytest.raises(ValidationError) as caught:
            call()
        assert words in " ".join(caught.value.messages)
    ops.link_changes(a, b, analyst)
    with pytest.raises(ValidationError, match="already linked"):
        ops.link_changes(b, a, analyst)
    # a form answering two questions gives two submissions with one reference
    Submission.objects.filter(pk__in=[subs[0].pk, subs[1].pk]).update(reference="CB-TWIN-0001")
    with pytest.raises(ValidationError, match="More than one"):
        ops.find_submission(programme, "cb-twin-0001")
    assert ops.find_submission(programme, " cb-t0005 ").pk == subs[5].pk
    assert ops.parse_number("#12") == 12 and ops.parse_number(" 7 ") == 7
    assert WorkspaceAction.objects.filter(programme=programme).count() == 1  # only the link
    consistent(programme)


def test_actions_are_audited_on_every_change_they_touch(analysed, analyst):
    programme, _, _ = analysed
    a, b = repeated(programme)
    action = ops.link_changes(a, b, analyst)
    for change in (a, b):
        event = AuditEvent.objects.filter(
            object_type="understand.distinctchange", object_id=str(change.pk), action="change"
        ).get()
        assert event.actor == analyst
        assert event.after["workspace_action"] == action.pk
        assert "Linked to change #" in event.note


# --- the pages ---------------------------------------------------------------------------------


def test_list_filters_and_shows_who_raised_each_change(people, client_in):
    programme, subs, _ = people
    top = programme.distinct_changes.order_by("-count", "pk").first()
    page = client_in.get(url("distinct_changes", programme))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Raised most by" in body and "People" in body
    assert "Staff (" in body or "Patient (" in body

    def listed(**params) -> list[int]:
        response = client_in.get(url("distinct_changes", programme), params)
        assert response.status_code == 200
        return [c.pk for c in response.ctx["rows"]]

    assert listed()[0] == top.pk
    assert listed(q=str(top.pk)) == [top.pk]
    assert listed(q=f"#{top.pk}") == [top.pk]
    word = max(top.text.split(), key=len)
    assert top.pk in listed(q=word)
    assert listed(q="zzzqqq-not-a-word") == []
    assert all(c.count > 1 for c in programme.distinct_changes.filter(pk__in=listed(repeated="on")))
    code_ids = listed(code=top.code_id)
    assert top.pk in code_ids
    assert set(
        programme.distinct_changes.filter(pk__in=code_ids).values_list("code", flat=True)
    ) == {top.code_id}
    assert top.pk in listed(theme=top.code.theme_id)

    # respondents: members of staff are at Trust A, patients at Trust B
    staff = listed(role="staff")
    assert staff and all(
        programme.distinct_changes.get(pk=pk).members.filter(respondent__role="staff").exists()
        for pk in staff
    )
    assert set(listed(organisation="trust a")) == set(staff)
    assert listed(role="staff", organisation="Trust B") == []
    assert listed(role="carer") == []

    ops.edit_change(top, None, name="000 first by name")
    assert listed(origin="human") == [top.pk]
    assert top.pk not in listed(origin="ai")
    assert listed(sort="name")[0] == top.pk

    row = client_in.get(url("distinct_changes", programme)).ctx["rows"][0]
    members = top.members.all()
    assert row.who["people"] == members.values("respondent").distinct().count()
    assert row.who["unknown"] == 0
    assert sum(n for _, n in row.who["groups"]) >= 1


def test_list_makes_no_query_per_row(people, client_in):
    programme, _, _ = people
    with CaptureQueriesContext(connection) as small:
        client_in.get(url("distinct_changes", programme), {"q": "staff"})
    with CaptureQueriesContext(connection) as full:
        response = client_in.get(url("distinct_changes", programme), {"role": "staff"})
    assert len(response.ctx["rows"]) == 50
    assert len(full) <= len(small) + 1, [q["sql"] for q in full.captured_queries]
    assert len(full) < 20


def test_detail_shows_who_raised_it_and_the_forms(people, client_in):
    programme, _, _ = people
    change = programme.distinct_changes.order_by("-count", "pk").first()
    response = client_in.get(url("distinct_change_detail", programme, change.pk))
    assert response.status_code == 200
    body = response.content.decode()
    for words in (
        "Who raised it, by role",
        "Who raised it, by organisation",
        "Who raised it, by sector",
        "Who raised it, by region",
        "Save name and wording",
        "Merge into this change",
        "Link as related",
        "Link submission",
        "Move ticked submissions to a new change",
        'id="history"',
    ):
        assert words in body, words
    people_count = change.members.values("respondent").distinct().count()
    assert response.ctx["people"] == people_count
    # searching other changes and submissions
    other = programme.distinct_changes.exclude(pk=change.pk).first()
    response = client_in.get(
        url("distinct_change_detail", programme, change.pk), {"other": str(other.pk)}
    )
    assert [c.pk for c in response.ctx["others"]] == [other.pk]
    member = change.members.first()
    response = client_in.get(
        url("distinct_change_detail", programme, change.pk), {"find": member.reference}
    )
    assert [(s.pk, s.is_member) for s in response.ctx["found"]] == [(member.pk, True)]


def test_actions_through_the_pages(people, client_in, analyst):
    programme, subs, _ = people
    a, b = repeated(programme)
    original = state(programme)
    detail = url("distinct_change_detail", programme, a.pk)

    response = client_in.post(
        url("distinct_change_edit", programme, a.pk), {"name": "Kind nurses", "text": a.text}
    )
    assert response.status_code == 302 and response["Location"] == detail
    a.refresh_from_db()
    assert a.name == "Kind nurses"
    page = client_in.get(detail).content.decode()
    assert "Name: ‘(none)’ → ‘Kind nurses’" in page  # the history
    assert "Last action: Change #" in page and 'name="action" value="' in page  # undo control

    response = client_in.post(url("distinct_change_merge", programme, a.pk), {"number": b.pk})
    assert response.status_code == 302
    a.refresh_from_db()
    assert not DistinctChange.objects.filter(pk=b.pk).exists()
    assert "merged into this one" in client_in.get(detail).content.decode()

    picked = [str(pk) for pk in a.members.order_by("pk").values_list("pk", flat=True)[:2]]
    response = client_in.post(
        url("distinct_change_members", programme, a.pk),
        {"members": picked, "split-name": "Two of them", "action": "split"},
    )
    new = DistinctChange.objects.get(name="Two of them")
    assert response["Location"] == url("distinct_change_detail", programme, new.pk)
    assert new.count == 2
    # undoing the split from the new change's page, which it removes, goes back to the old one
    page = client_in.get(url("distinct_change_detail", programme, new.pk)).content.decode()
    assert f'name="next" value="{detail}"' in page

    outsider = next(s for s in subs if not a.members.filter(pk=s.pk).exists())
    client_in.post(url("distinct_change_link", programme, a.pk), {"reference": outsider.reference})
    assert a.members.filter(pk=outsider.pk).exists()
    another = next(s for s in subs if not a.members.filter(pk=s.pk).exists())
    client_in.post(url("distinct_change_link", programme, a.pk), {"submission": another.pk})
    assert a.members.filter(pk=another.pk).exists()

    client_in.post(
        url("distinct_change_members", programme, a.pk),
        {"members": [str(another.pk)], "action": "unlink"},
    )
    assert not a.members.filter(pk=another.pk).exists()

    client_in.post(url("distinct_change_related", programme, a.pk), {"other": new.pk})
    assert list(a.linked.all()) == [new]
    client_in.post(
        url("distinct_change_related", programme, a.pk), {"other": new.pk, "action": "unlink"}
    )
    assert not a.linked.exists()
    consistent(programme)

    # the workspace's undo control takes every action back, newest first
    for _ in range(8):
        action = undoable(programme)
        response = client_in.post(
            reverse("understand:undo", args=[programme.slug]),
            {"action": action.pk, "next": detail},
        )
        assert response.status_code == 302
    assert undoable(programme) is None
    assert state(programme) == original
    page = client_in.get(detail).content.decode()
    assert "Undid: Change #" in page  # the undoing shows in the change's history


def test_invalid_actions_show_the_error_by_the_field(people, client_in):
    programme, _, _ = people
    a = repeated(programme, 1)[0]
    cases = [
        ("distinct_change_edit", {"name": "x", "text": "   "}, "text", "Enter the wording"),
        ("distinct_change_merge", {}, "merge-other", "Choose a change"),
        ("distinct_change_merge", {"number": "abc"}, "merge-number", "not a change number"),
        ("distinct_change_merge", {"number": str(a.pk)}, "merge-number", "into itself"),
        ("distinct_change_members", {"split-name": "x"}, "members", "Tick the submissions"),
        (
            "distinct_change_members",
            {"members": [str(a.members.first().pk)], "action": "split"},
            "split-name",
            "Enter a name",
        ),
        ("distinct_change_link", {"reference": "CB-NONE-NONE"}, "link-reference", "No submission"),
        ("distinct_change_related", {"number": "999999"}, "related-number", "no change number"),
        ("distinct_change_related", {"action": "unlink", "other": "1"}, "related", "not linked"),
    ]
    for name, data, field, words in cases:
        response = client_in.post(url(name, programme, a.pk), data)
        assert response.status_code == 400, name
        assert response.ctx["errors"] == {field: response.ctx["errors"][field]}
        assert words in response.ctx["errors"][field], (name, response.ctx["errors"])
        body = response.content.decode()
        assert "There is a problem" in body and f'href="#{field}"' in body
        assert f'id="{field}"' in body
        assert response.ctx["page_title"].startswith("Error: ")
    assert not WorkspaceAction.objects.filter(programme=programme).exists()
    # what was typed is kept
    response = client_in.post(
        url("distinct_change_members", programme, a.pk),
        {
            "members": [str(a.members.order_by("pk").first().pk)],
            "action": "split",
            "split-name": "",
        },
    )
    assert f'value="{a.members.order_by("pk").first().pk}" checked' in response.content.decode()


def test_changing_needs_the_permission(people, client, analyst):
    from django.contrib.auth.models import Group, User

    programme, _, _ = people
    a = repeated(programme, 1)[0]
    panel = User.objects.create_user("panel", password="a-long-test-password")
    panel.groups.add(Group.objects.get(name="panel member"))
    client.force_login(panel)
    page = client.get(url("distinct_change_detail", programme, a.pk))
    assert page.status_code == 200
    assert "Save name and wording" not in page.content.decode()
    response = client.post(url("distinct_change_edit", programme, a.pk), {"name": "No"})
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.name == ""
    # a GET of an action's address goes to the change's page
    response = client.get(url("distinct_change_merge", programme, a.pk) + "?page=2")
    assert response["Location"] == url("distinct_change_detail", programme, a.pk) + "?page=2"
    client.logout()
    response = client.get(url("distinct_changes", programme))
    assert response.status_code == 302 and "/sign-in/" in response["Location"]


def test_changes_an_analyst_shaped_survive_reanalysis(analysed, analyst):
    """Changes an analyst shaped are marked human, which re-running the analysis keeps."""
    from changebank.understand.analyse import analyse_now

    programme, _, _ = analysed
    a, b = repeated(programme)
    ops.link_changes(a, b, analyst)
    ops.edit_change(a, analyst, name="Kept")
    assert analyse_now(programme, embedder="wordllama").status == "done"
    a.refresh_from_db()
    assert (a.name, a.origin, list(a.linked.all())) == ("Kept", Origin.HUMAN, [b])
    consistent(programme)
