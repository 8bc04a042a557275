"""The lifecycle of tracked changes through Django's test client: the Evaluate page, taking changes
into the lifecycle, allowed and refused moves with their history, details, adoptions, sources,
pulse settings and permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from changebank.decide.models import DelphiAnswer, DelphiRound, Panel, PanelMember
from changebank.evaluate import lifecycle
from changebank.evaluate.models import (
    TRANSITIONS,
    Adoption,
    Evaluation,
    Stage,
    StageMove,
    TrackedChange,
)
from changebank.listen.models import Programme
from changebank.understand.models import DistinctChange


def url(name: str, *args: object) -> str:
    return reverse(f"evaluate:{name}", args=args)


def detail(tracked: TrackedChange) -> str:
    return url("change_detail", tracked.programme.slug, tracked.pk)


def move(client, tracked: TrackedChange, to: str, note: str = ""):
    return client.post(
        url("change_move", tracked.programme.slug, tracked.pk),
        {"move-to_stage": to, "move-note": note},
    )


@pytest.fixture
def panel_member_user(db, lead):  # lead: the roles exist
    user = User.objects.create_user("pm", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="panel member"))
    return user


# --- the Evaluate page --------------------------------------------------------------------------


def test_overview_lists_changes_by_stage_and_filters(lead_client, programme, tracked):
    other = TrackedChange.objects.create(
        programme=programme, title="Text reminders", stage=Stage.ADOPTING, owner_name="Sam Okoro"
    )
    Adoption.objects.create(tracked=other, organisation="North Trust")
    evaluation = Evaluation.objects.create(
        programme=programme, title="Reminders study", summary="s"
    )
    evaluation.changes.add(other)
    elsewhere = Programme.objects.create(title="Other", slug="other", visibility="public")
    TrackedChange.objects.create(programme=elsewhere, title="Not in this programme")

    page = lead_client.get(url("overview", programme.slug)).content.decode()
    assert "Video consultations for follow-ups" in page
    assert "Text reminders" in page and "North Trust" in page and "Sam Okoro" in page
    assert "Not in this programme" not in page
    assert "Reminders study" in page
    assert page.index('id="stage-proposed"') < page.index('id="stage-adopting"')
    assert "<caption" in page

    adopting = lead_client.get(url("overview", programme.slug) + "?stage=adopting")
    text = adopting.content.decode()
    assert "Text reminders" in text and "Video consultations for follow-ups" not in text
    assert "<title>Evaluate: Test programme" in text


def test_overview_survives_pages_that_do_not_exist_yet(lead_client, programme):
    response = lead_client.get(url("overview", programme.slug))
    assert response.status_code == 200
    assert "No changes are tracked yet" in response.content.decode()


def test_permissions(client, programme, tracked, panel_member_user):
    pages = [
        url("overview", programme.slug),
        url("track", programme.slug),
        detail(tracked),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("core:login"))
    client.force_login(panel_member_user)
    for page in pages:
        assert client.get(page).status_code == 403
    assert move(client, tracked, Stage.ASSESSED).status_code == 403
    tracked.refresh_from_db()
    assert tracked.stage == Stage.PROPOSED


def test_an_analyst_may_track_and_move(client, programme, tracked, analyst):
    client.force_login(analyst)
    assert client.get(detail(tracked)).status_code == 200
    assert move(client, tracked, Stage.ASSESSED).status_code == 302


def test_actions_are_post_only(lead_client, tracked):
    assert lead_client.get(url("change_move", "test", tracked.pk)).status_code == 405
    assert lead_client.get(url("pulse_toggle", "test", tracked.pk)).status_code == 405


# --- tracking a change --------------------------------------------------------------------------


def test_track_a_change_from_the_long_list(lead_client, programme, distinct_change, lead):
    distinct_change.name = "Video follow-ups"
    distinct_change.save()
    DistinctChange.objects.create(programme=programme, text="Shorter waiting lists", count=5)
    page = lead_client.get(url("track", programme.slug)).content.decode()
    assert "Video follow-ups" in page and "Shorter waiting lists" in page

    found = lead_client.get(url("track", programme.slug) + "?q=waiting").content.decode()
    assert "Shorter waiting lists" in found and "Video follow-ups" not in found

    response = lead_client.post(
        url("track", programme.slug), {"how": "list", "change": distinct_change.pk}
    )
    tracked = TrackedChange.objects.get(change=distinct_change)
    assert response.status_code == 302 and response["Location"] == detail(tracked)
    assert tracked.title == "Video follow-ups"
    assert tracked.stage == Stage.PROPOSED
    assert list(tracked.themes.values_list("label", flat=True)) == ["Remote appointments"]
    first = tracked.moves.get()
    assert (first.from_stage, first.to_stage, first.moved_by) == ("", Stage.PROPOSED, lead)

    # a tracked change is no longer offered, and cannot be tracked twice
    offered = lead_client.get(url("track", programme.slug)).content.decode()
    assert f'value="{distinct_change.pk}"' not in offered and "Shorter waiting lists" in offered
    again = lead_client.post(
        url("track", programme.slug), {"how": "list", "change": distinct_change.pk}
    )
    assert again.status_code == 200
    assert "already tracked" in again.content.decode()
    assert TrackedChange.objects.count() == 1


def test_track_takes_the_title_from_the_text_and_the_rsa_from_delphi(
    lead_client, programme, distinct_change
):
    panel = Panel.objects.create(programme=programme, name="Lived experience")
    delphi = DelphiRound.objects.create(panel=panel, number=1, status="closed")
    delphi.changes.add(distinct_change)
    for i, rsa in enumerate(["amplify", "amplify", "end"]):
        member = PanelMember.objects.create(panel=panel, name=f"M{i}")
        DelphiAnswer.objects.create(round=delphi, member=member, change=distinct_change, rsa=rsa)
    lead_client.post(url("track", programme.slug), {"how": "list", "change": distinct_change.pk})
    tracked = TrackedChange.objects.get()
    assert tracked.title == "Keep video consultations for follow-ups"
    assert tracked.rsa == "amplify"


def test_track_refuses_a_change_of_another_programme(lead_client, programme):
    elsewhere = Programme.objects.create(title="Other", slug="other", visibility="public")
    foreign = DistinctChange.objects.create(programme=elsewhere, text="Elsewhere", count=1)
    response = lead_client.post(url("track", programme.slug), {"how": "list", "change": foreign.pk})
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()
    assert not TrackedChange.objects.exists()
    missing = lead_client.post(url("track", programme.slug), {"how": "list"})
    assert "Choose a change from the list" in missing.content.decode()


def test_track_a_change_by_hand(lead_client, programme):
    empty = lead_client.post(url("track", programme.slug), {"how": "hand", "hand-title": ""})
    assert empty.status_code == 200
    assert "Enter a title for the change" in empty.content.decode()
    assert "<title>Error: Track a change" in empty.content.decode()
    response = lead_client.post(
        url("track", programme.slug),
        {"how": "hand", "hand-title": "Walk-in blood tests", "hand-summary": "No booking"},
    )
    tracked = TrackedChange.objects.get()
    assert response["Location"] == detail(tracked)
    assert (tracked.title, tracked.summary, tracked.change) == (
        "Walk-in blood tests",
        "No booking",
        None,
    )
    assert tracked.moves.count() == 1


# --- moves --------------------------------------------------------------------------------------


def test_the_detail_page_offers_only_allowed_moves(lead_client, tracked):
    page = lead_client.get(detail(tracked)).content.decode()
    for stage in TRANSITIONS[Stage.PROPOSED]:
        assert f'value="{stage}"' in page
    assert 'value="adopting"' not in page
    assert 'name="move-to_stage"' in page


def test_allowed_moves_are_recorded_in_the_history(lead_client, tracked, lead):
    response = move(lead_client, tracked, Stage.ASSESSED, "Panel agreed")
    assert response.status_code == 302
    move(lead_client, tracked, Stage.ADOPTING)
    tracked.refresh_from_db()
    assert tracked.stage == Stage.ADOPTING
    history = list(tracked.moves.order_by("moved_at", "id").values_list("from_stage", "to_stage"))
    assert history == [("proposed", "assessed"), ("assessed", "adopting")]
    assert StageMove.objects.filter(note="Panel agreed", moved_by=lead).exists()
    page = lead_client.get(detail(tracked)).content.decode()
    assert "Panel agreed" in page and "Eve" in page
    assert "moved from assessed to adopting" in page


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("spreading", "cannot move to spreading"),
        ("adopting", "cannot move to adopting"),
        ("proposed", "already proposed"),
        ("flying", "Choose the stage"),
        ("", "Choose the stage"),
    ],
)
def test_refused_moves_say_why_and_change_nothing(lead_client, tracked, to, message):
    response = move(lead_client, tracked, to)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "There is a problem" in page
    tracked.refresh_from_db()
    assert tracked.stage == Stage.PROPOSED
    assert not tracked.moves.exists()


def test_move_checks_the_lifecycle_itself(tracked):
    with pytest.raises(lifecycle.MoveRefused):
        lifecycle.move(tracked, Stage.EVALUATING)
    lifecycle.move(tracked, Stage.RETIRED, note="Not wanted")
    tracked.refresh_from_db()
    assert tracked.allowed_moves() == (Stage.PROPOSED,)
    lifecycle.move(tracked, Stage.PROPOSED)
    assert tracked.moves.count() == 2


def test_leaving_the_adopted_stages_closes_pulse_feedback(tracked):
    tracked.stage = Stage.ADOPTING
    tracked.pulse_open = True
    tracked.save()
    lifecycle.move(tracked, Stage.RETIRED)
    tracked.refresh_from_db()
    assert tracked.pulse_open is False


# --- details and adoptions ----------------------------------------------------------------------


def test_edit_the_details(lead_client, programme, tracked, analyst):
    panel = Panel.objects.create(programme=programme, name="Co-design panel")
    foreign = Panel.objects.create(
        programme=Programme.objects.create(title="O", slug="o"), name="Foreign panel"
    )
    outsider = User.objects.create_user("out", password="a-long-test-password")
    page = lead_client.get(detail(tracked)).content.decode()
    assert "Co-design panel" in page and "Foreign panel" not in page
    assert "ana" in page and ">out<" not in page  # analysts and leads may own changes

    data = {
        "edit-title": "Video follow-ups",
        "edit-summary": "For follow-up appointments",
        "edit-rsa": "amplify",
        "edit-owner": analyst.pk,
        "edit-owner_name": "Dr Patel",
        "edit-panel": panel.pk,
        "edit-go_live": "2026-03-31",
    }
    response = lead_client.post(url("change_edit", programme.slug, tracked.pk), data)
    assert response.status_code == 302
    tracked.refresh_from_db()
    assert (tracked.title, tracked.rsa, tracked.owner, tracked.panel) == (
        "Video follow-ups",
        "amplify",
        analyst,
        panel,
    )
    assert tracked.go_live.isoformat() == "2026-03-31"

    bad = lead_client.post(
        url("change_edit", programme.slug, tracked.pk),
        {**data, "edit-title": "", "edit-panel": foreign.pk, "edit-owner": outsider.pk},
    )
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "Enter a title for the change" in text
    assert text.count("nhsuk-error-message") >= 3  # title, panel and owner
    assert 'href="#id_edit-panel"' in text and 'href="#id_edit-owner"' in text
    tracked.refresh_from_db()
    assert tracked.title == "Video follow-ups"


def test_add_and_remove_adoptions(lead_client, programme, tracked):
    add = url("adoption_add", programme.slug, tracked.pk)
    response = lead_client.post(
        add,
        {
            "adoption-organisation": "Leeds Teaching Hospitals",
            "adoption-status": "live",
            "adoption-started": "2026-04-01",
            "adoption-note": "Two clinics",
        },
    )
    assert response.status_code == 302
    adoption = tracked.adoptions.get()
    assert (adoption.status, adoption.started.isoformat()) == ("live", "2026-04-01")

    twice = lead_client.post(
        add, {"adoption-organisation": "leeds teaching hospitals", "adoption-status": "planned"}
    )
    assert twice.status_code == 200
    assert "already adopting" in twice.content.decode()
    empty = lead_client.post(add, {"adoption-organisation": "", "adoption-status": "planned"})
    assert "Enter the name of the organisation" in empty.content.decode()
    assert tracked.adoptions.count() == 1

    page = lead_client.get(url("overview", programme.slug)).content.decode()
    assert "Leeds Teaching Hospitals" in page

    remove = url("adoption_remove", programme.slug, tracked.pk, adoption.pk)
    assert lead_client.post(remove).status_code == 302
    assert not Adoption.objects.exists()
    assert lead_client.post(remove).status_code == 404


def test_the_detail_page_links_back_to_the_sources(lead_client, programme, tracked):
    page = lead_client.get(detail(tracked)).content.decode()
    assert "Video follow-ups saved me a day off work" in page
    submission = tracked.change.members.first()
    assert reverse("listen:submission_detail", args=[submission.pk]) in page
    theme = tracked.themes.get()
    assert reverse("understand:theme_detail", args=[programme.slug, theme.pk]) in page
    assert "raised by 2 submissions" in page
    assert url("design", programme.slug, tracked.pk) in page


def test_the_detail_page_lists_evaluations_and_links_to_record_one(lead_client, programme, tracked):
    evaluation = Evaluation.objects.create(programme=programme, title="Video study", summary="s")
    evaluation.changes.add(tracked)
    page = lead_client.get(detail(tracked)).content.decode()
    assert "Video study" in page
    try:
        new = reverse("evaluate:evaluation_new", args=[programme.slug])
    except Exception:  # the evaluation pages are not there yet: the page still works
        return
    assert f"{new}?change={tracked.pk}" in page


def test_a_change_of_another_programme_is_not_found(lead_client, tracked):
    Programme.objects.create(title="Other", slug="other", visibility="public")
    assert lead_client.get(url("change_detail", "other", tracked.pk)).status_code == 404


# --- pulse settings -----------------------------------------------------------------------------


def test_pulse_opens_only_for_an_adopted_change(lead_client, programme, tracked):
    toggle = url("pulse_toggle", programme.slug, tracked.pk)
    response = lead_client.post(toggle, {"action": "open"}, follow=True)
    assert "opens only for a change being adopted" in response.content.decode()
    tracked.refresh_from_db()
    assert tracked.pulse_open is False

    tracked.stage = Stage.ADOPTING
    tracked.save()
    lead_client.post(toggle, {"action": "open"})
    tracked.refresh_from_db()
    assert tracked.pulse_open is True
    page = lead_client.get(detail(tracked)).content.decode()
    assert url("pulse", tracked.pulse_token) in page

    lead_client.post(toggle, {"action": "question", "pulse-question": "Was it better?"})
    lead_client.post(toggle, {"action": "close"})
    tracked.refresh_from_db()
    assert (tracked.pulse_open, tracked.pulse_question) == (False, "Was it better?")

    empty = lead_client.post(toggle, {"action": "question", "pulse-question": ""})
    assert empty.status_code == 200 and "Enter the question to ask" in empty.content.decode()
