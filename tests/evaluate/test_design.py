"""The co-design canvas: versions, the refusal of a save based on an old version (keeping the text
typed), differences between versions, comments, and access by collaborators' and panel members'
private links."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from changebank.decide.models import Panel, PanelMember
from changebank.evaluate import codesign
from changebank.evaluate.models import (
    Collaborator,
    DesignComment,
    DesignVersion,
    Stage,
    TrackedChange,
)

SECTIONS = ["problem", "people", "solution", "risks", "measures"]


def design_url(tracked: TrackedChange) -> str:
    return reverse("evaluate:design", args=[tracked.programme.slug, tracked.pk])


def invited_url(token: str, change: TrackedChange | None = None) -> str:
    url = reverse("evaluate:design_invited", args=[token])
    return f"{url}?change={change.pk}" if change is not None else url


def canvas(based_on: int, summary: str = "", **texts: str) -> dict:
    data = {"action": "save", "based_on": based_on, "summary": summary}
    data.update({key: texts.get(key, "") for key in SECTIONS})
    return data


@pytest.fixture
def adopted(tracked):
    tracked.stage = Stage.ADOPTING
    tracked.save()
    return tracked


@pytest.fixture
def collaborator(adopted):
    return Collaborator.objects.create(tracked=adopted, name="Rosa Carer", email="r@example.com")


@pytest.fixture
def panel_member(adopted, programme):
    panel = Panel.objects.create(programme=programme, name="Co-design panel")
    adopted.panel = panel
    adopted.save()
    return PanelMember.objects.create(panel=panel, name="Amir Patient", group="patient")


# --- staff --------------------------------------------------------------------------------------


def test_the_canvas_is_closed_until_the_change_is_adopted(lead_client, tracked):
    page = lead_client.get(design_url(tracked)).content.decode()
    assert "opens when the change is being adopted" in page
    assert 'name="problem"' not in page
    response = lead_client.post(design_url(tracked), canvas(0, problem="Too early"))
    assert response.status_code == 302
    assert not DesignVersion.objects.exists()


def test_save_versions_and_see_the_history(lead_client, adopted, lead):
    page = lead_client.get(design_url(adopted)).content.decode()
    assert "Nothing has been written yet" in page
    for _, label, _ in codesign.CANVAS_SECTIONS:
        assert label in page

    response = lead_client.post(
        design_url(adopted),
        canvas(0, "First draft", problem="Travel to clinic costs a day", measures="DNA rate"),
    )
    assert response.status_code == 302
    first = DesignVersion.objects.get()
    assert (first.number, first.author_name, first.author) == (1, "Eve", lead)
    assert first.problem == "Travel to clinic costs a day"

    page = lead_client.get(design_url(adopted)).content.decode()
    assert "Travel to clinic costs a day" in page
    assert 'name="based_on" value="1"' in page
    assert ">Travel to clinic costs a day</textarea>" in page  # prefilled

    lead_client.post(
        design_url(adopted),
        canvas(
            1,
            "Risks added",
            problem="Travel to clinic costs a day\r\nfor many",
            measures="DNA rate",
            risks="People without internet",
        ),
    )
    assert list(adopted.designs.values_list("number", flat=True)) == [2, 1]
    assert adopted.designs.get(number=2).problem == "Travel to clinic costs a day\nfor many"
    page = lead_client.get(design_url(adopted)).content.decode()
    assert "Risks added" in page and "First draft" in page
    assert reverse("evaluate:design_version", args=["test", adopted.pk, 1]) in page


def test_saving_with_no_change_is_refused(lead_client, adopted):
    lead_client.post(design_url(adopted), canvas(0, problem="The problem"))
    response = lead_client.post(design_url(adopted), canvas(1, problem="  The problem \r\n"))
    assert response.status_code == 200
    assert "Nothing has changed" in response.content.decode()
    assert adopted.designs.count() == 1
    stale = lead_client.post(design_url(adopted), canvas(0))
    assert "Someone saved version 1" in stale.content.decode()
    assert adopted.designs.count() == 1


def test_a_save_based_on_an_old_version_is_refused_and_the_text_kept(lead_client, adopted):
    lead_client.post(design_url(adopted), canvas(0, problem="Version one"))
    # someone else saves version 2 while this person edits version 1
    codesign.save_version(
        adopted,
        based_on=1,
        texts={"problem": "Version two by Rosa"},
        summary="",
        author_name="Rosa",
    )
    response = lead_client.post(
        design_url(adopted), canvas(1, "Mine", problem="My careful rewrite", risks="My new risk")
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        "Someone saved version 2 while you were editing: your text is below, compare and save "
        "again" in page
    )
    assert ">My careful rewrite</textarea>" in page and ">My new risk</textarea>" in page
    assert 'name="based_on" value="2"' in page  # saving again is based on the newer version
    assert "<ins>" in page and "<del>" in page  # the comparison
    assert adopted.designs.count() == 2

    again = lead_client.post(design_url(adopted), canvas(2, "Mine", problem="My careful rewrite"))
    assert again.status_code == 302
    assert adopted.designs.get(number=3).problem == "My careful rewrite"


def test_save_version_refuses_stale_and_unchanged_saves(adopted):
    codesign.save_version(
        adopted, based_on=0, texts={"people": "Carers"}, summary="", author_name="A"
    )
    with pytest.raises(codesign.StaleVersion) as stale:
        codesign.save_version(
            adopted, based_on=0, texts={"people": "Patients"}, summary="", author_name="B"
        )
    assert stale.value.newer.number == 1
    with pytest.raises(codesign.NothingChanged):
        codesign.save_version(
            adopted, based_on=1, texts={"people": "Carers"}, summary="", author_name="B"
        )


def test_an_old_version_shows_what_changed(lead_client, adopted):
    lead_client.post(design_url(adopted), canvas(0, problem="Clinics are far away"))
    lead_client.post(
        design_url(adopted),
        canvas(1, "Reworded", problem="Clinics are very far away <b>", people="Rural patients"),
    )
    page = lead_client.get(
        reverse("evaluate:design_version", args=["test", adopted.pk, 2])
    ).content.decode()
    assert "<h1>Version 2</h1>" in page
    assert '<ins><span class="nhsuk-u-visually-hidden">added: </span>very ' in page
    assert "&lt;b&gt;" in page and "<b>" not in page.split("<main")[1]
    assert "Rural patients" in page
    assert page.count("Changed</strong>") == 2
    first = lead_client.get(
        reverse("evaluate:design_version", args=["test", adopted.pk, 1])
    ).content.decode()
    assert "This is an old version" in first
    missing = reverse("evaluate:design_version", args=["test", adopted.pk, 9])
    assert lead_client.get(missing).status_code == 404


def test_diff_marks_removed_and_added_words():
    html = str(codesign.diff_html("keep video calls", "keep phone calls\nplease"))
    assert html.startswith("keep ")
    assert '<del><span class="nhsuk-u-visually-hidden">removed: </span>video' in html
    assert '<ins><span class="nhsuk-u-visually-hidden">added: </span>phone' in html
    assert "<br>please" in html
    assert "&lt;script&gt;" in str(codesign.diff_html("", "<script>"))


def test_comments_on_a_section_or_the_whole(lead_client, adopted):
    lead_client.post(design_url(adopted), canvas(0, problem="P"))
    response = lead_client.post(
        design_url(adopted),
        {"action": "comment", "comment-section": "risks", "comment-text": "Think of interpreters"},
    )
    assert response.status_code == 302
    lead_client.post(
        design_url(adopted),
        {"action": "comment", "comment-section": "", "comment-text": "Looks good overall"},
    )
    comment = DesignComment.objects.get(section="risks")
    assert (comment.author_name, comment.version.number) == ("Eve", 1)
    page = lead_client.get(design_url(adopted)).content.decode()
    assert "Comments (2)" in page
    assert page.index("Think of interpreters") > page.index("<h3>Risks</h3>")
    assert page.index("Looks good overall") > page.index("<h3>The whole canvas</h3>")

    empty = lead_client.post(
        design_url(adopted), {"action": "comment", "comment-section": "", "comment-text": ""}
    )
    assert empty.status_code == 200 and "Enter your comment" in empty.content.decode()
    bad = lead_client.post(
        design_url(adopted), {"action": "comment", "comment-section": "nope", "comment-text": "x"}
    )
    assert bad.status_code == 200 and DesignComment.objects.count() == 2


def test_staff_permissions(client, adopted, lead):
    assert client.get(design_url(adopted)).status_code == 302
    member = User.objects.create_user("pm", password="a-long-test-password")
    member.groups.add(Group.objects.get(name="panel member"))
    client.force_login(member)
    assert client.get(design_url(adopted)).status_code == 403
    reader = User.objects.create_user("reader", password="a-long-test-password")
    from django.contrib.auth.models import Permission

    reader.user_permissions.add(Permission.objects.get(codename="view_trackedchange"))
    client.force_login(reader)
    page = client.get(design_url(adopted)).content.decode()
    assert 'name="problem"' not in page  # may look, not edit
    assert client.post(design_url(adopted), canvas(0, problem="x")).status_code == 403
    add = reverse("evaluate:collaborator_add", args=["test", adopted.pk])
    assert client.post(add, {"collaborator-name": "X"}).status_code == 403


# --- collaborators and panel members ------------------------------------------------------------


def test_invite_and_remove_a_collaborator(lead_client, adopted):
    add = reverse("evaluate:collaborator_add", args=["test", adopted.pk])
    empty = lead_client.post(add, {"collaborator-name": "", "collaborator-email": "nope"})
    assert empty.status_code == 200
    text = empty.content.decode()
    assert "Enter the contributor&#39;s name" in text or "Enter the contributor's name" in text
    assert "Enter an email address" in text
    response = lead_client.post(add, {"collaborator-name": "Rosa", "collaborator-email": ""})
    assert response.status_code == 302
    person = Collaborator.objects.get()
    page = lead_client.get(design_url(adopted)).content.decode()
    assert invited_url(person.token) in page
    remove = reverse("evaluate:collaborator_remove", args=["test", adopted.pk, person.pk])
    assert lead_client.post(remove).status_code == 302
    assert lead_client.get(invited_url(person.token)).status_code == 404


def test_a_collaborator_edits_and_comments_by_private_link(client, collaborator, adopted):
    url = invited_url(collaborator.token)
    page = client.get(url)
    assert page.status_code == 200
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    assert "Rosa Carer" in page.content.decode()
    response = client.post(url, canvas(0, "Started", solution="Video by default"))
    assert response.status_code == 302 and response["Location"] == url
    version = DesignVersion.objects.get()
    assert (version.author_name, version.author) == ("Rosa Carer", None)
    client.post(url, {"action": "comment", "comment-section": "solution", "comment-text": "Yes"})
    assert DesignComment.objects.get().author_name == "Rosa Carer"
    old = reverse("evaluate:design_invited_version", args=[collaborator.token, 1])
    assert client.get(old).status_code == 200
    assert old in client.get(url).content.decode()


def test_panel_members_reach_the_canvas_of_their_panel_s_change(
    client, lead_client, panel_member, adopted, programme
):
    staff_page = lead_client.get(design_url(adopted)).content.decode()
    assert invited_url(panel_member.token, adopted) in staff_page  # links shown to staff

    url = invited_url(panel_member.token, adopted)
    assert client.get(url).status_code == 200
    assert client.get(invited_url(panel_member.token)).status_code == 200  # the one change
    client.post(url, canvas(0, problem="Written by a member"))
    assert DesignVersion.objects.get().author_name == "Amir Patient"
    old = reverse("evaluate:design_invited_version", args=[panel_member.token, 1])
    assert client.get(f"{old}?change={adopted.pk}").status_code == 200

    # a change the member's panel does not co-design
    other = TrackedChange.objects.create(programme=programme, title="Other", stage=Stage.ADOPTING)
    assert client.get(invited_url(panel_member.token, other)).status_code == 404
    assert (
        client.post(invited_url(panel_member.token, other), canvas(0, problem="x")).status_code
        == 404
    )


def test_a_member_of_another_panel_gets_404(client, panel_member, adopted, programme):
    elsewhere = Panel.objects.create(programme=programme, name="Another panel")
    stranger = PanelMember.objects.create(panel=elsewhere, name="Stranger")
    assert client.get(invited_url(stranger.token, adopted)).status_code == 404
    assert client.get(invited_url(stranger.token)).status_code == 404


def test_a_member_whose_panel_co_designs_several_changes_chooses(
    client, panel_member, adopted, programme
):
    second = TrackedChange.objects.create(
        programme=programme, title="Second change", stage=Stage.EVALUATING, panel=adopted.panel
    )
    page = client.get(invited_url(panel_member.token)).content.decode()
    assert "Choose the change to co-design" in page
    assert invited_url(panel_member.token, second) in page
    assert invited_url(panel_member.token, adopted) in page


def test_wrong_tokens_are_not_found(client, collaborator, adopted):
    assert client.get(invited_url("not-a-token")).status_code == 404
    assert client.post(invited_url("not-a-token"), canvas(0, problem="x")).status_code == 404
    old = reverse("evaluate:design_invited_version", args=["not-a-token", 1])
    assert client.get(old).status_code == 404
    assert client.get(invited_url(adopted.pulse_token)).status_code == 404


def test_the_invited_canvas_is_closed_until_adopted(client, collaborator, adopted):
    adopted.stage = Stage.ASSESSED
    adopted.save()
    url = invited_url(collaborator.token)
    page = client.get(url).content.decode()
    assert "opens when the change is being adopted" in page and 'name="problem"' not in page
    client.post(url, canvas(0, problem="x"))
    assert not DesignVersion.objects.exists()
