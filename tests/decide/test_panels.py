"""Panels and Delphi rounds: panels and members, rounds with their scales and rules, members'
answers by private link, the results against hand-computed values, and round 2's feedback."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from changebank.core.models import AuditEvent
from changebank.decide import delphi as ops
from changebank.decide.models import (
    DEFAULT_RULES,
    DEFAULT_SCALES,
    DelphiAnswer,
    DelphiRound,
    Panel,
    PanelMember,
    Status,
)
from changebank.listen.models import Programme
from changebank.understand.models import DistinctChange

SCALES = [s["key"] for s in DEFAULT_SCALES]  # benefit, feasibility, inequalities

# A small round, hand computed (type 7 percentiles: h = (n − 1)·q, interpolate between order
# statistics; IPRAS = 2.35 + 1.5·|5 − IPRCP|). Five members; three patients, two staff.
GROUPS = ["patient", "patient", "patient", "staff", "staff"]
RATINGS = {
    # change A
    ("A", "benefit"): [7, 8, 9, 9, 8],  # sorted 7 8 8 9 9
    ("A", "feasibility"): [1, 2, 9, 9, 5],  # sorted 1 2 5 9 9
    ("A", "inequalities"): [1, 2, 1, 3, 5],  # sorted 1 1 2 3 5
    # change B
    ("B", "benefit"): [5, 5, 6, 4, 5],  # sorted 4 5 5 5 6: P30 = P70 = 5
    ("B", "feasibility"): [5, 5, 5, 5, 5],
    ("B", "inequalities"): [9, 9, 9, 9, 9],
}
RSA_A = ["amplify", "amplify", "end", "amplify", "unsure"]
EXPECTED = {
    # n, median, low, middle, high, P30, P70, IPR, IPRCP, IPRAS, outcome
    ("A", "benefit"): (5, 8, 0, 0, 1, 8.0, 8.8, 0.8, 8.4, 7.45, "in"),
    ("A", "feasibility"): (5, 5, 0.4, 0.2, 0.4, 2.6, 8.2, 5.6, 5.4, 2.95, "disagreement"),
    ("A", "inequalities"): (5, 2, 0.8, 0.2, 0, 1.2, 2.8, 1.6, 2.0, 6.85, "out"),
    ("B", "benefit"): (5, 5, 0, 1, 0, 5.0, 5.0, 0.0, 5.0, 2.35, "none"),
    ("B", "feasibility"): (5, 5, 0, 1, 0, 5.0, 5.0, 0.0, 5.0, 2.35, "none"),
    ("B", "inequalities"): (5, 9, 0, 0, 1, 9.0, 9.0, 0.0, 9.0, 8.35, "in"),
}
# by group, change A, benefit: patients 7 8 9, staff 9 8
EXPECTED_GROUPS = {
    "patient": (3, 8, 0, 0, 1, 7.6, 8.4, 0.8, 8.0, 6.85, "in"),
    "staff": (2, 8.5, 0, 0, 1, 8.3, 8.7, 0.4, 8.5, 7.6, "in"),
}


# --- helpers ------------------------------------------------------------------------------------


def panels_url(p: Programme) -> str:
    return reverse("decide:panels", args=[p.slug])


def panel_url(panel: Panel) -> str:
    return reverse("decide:panel_detail", args=[panel.programme.slug, panel.pk])


def new_round_url(panel: Panel) -> str:
    return reverse("decide:delphi_new", args=[panel.programme.slug, panel.pk])


def round_url(r: DelphiRound, name: str = "delphi_round") -> str:
    return reverse(f"decide:{name}", args=[r.panel.programme.slug, r.panel.pk, r.number])


def home_url(member: PanelMember) -> str:
    return reverse("decide:panel_member_home", args=[member.panel.programme.slug, member.token])


def rate_url(member: PanelMember, r: DelphiRound, change: DistinctChange) -> str:
    return reverse(
        "decide:delphi_rate",
        args=[member.panel.programme.slug, member.token, r.number, change.pk],
    )


def round_form(**changes: object) -> dict:
    """A valid POST for round 1: the top 2 changes, the default scales and rules, RSA asked."""
    data: dict = {
        "action": "create",
        "how": "top",
        "top": "2",
        "scale-count": str(len(DEFAULT_SCALES)),
        "in_share": "70",
        "out_share": "15",
        "low_from": "1",
        "low_to": "3",
        "high_from": "7",
        "high_to": "9",
        "ask_rsa": "yes",
    }
    for i, scale in enumerate(DEFAULT_SCALES):
        for part in ("key", "label", "low", "high"):
            data[f"scale-{i}-{part}"] = scale[part]
    data.update(changes)
    return data


def answer(**ratings: object) -> dict:
    data = {f"rating-{k}": str(v) for k, v in ratings.items()}
    data.setdefault("rsa", "unsure")
    return data


@pytest.fixture
def changes(programme):
    a = DistinctChange.objects.create(programme=programme, text="Video consultations", count=9)
    b = DistinctChange.objects.create(programme=programme, text="Repeat prescriptions", count=5)
    c = DistinctChange.objects.create(programme=programme, text="=HYPERLINK(1)", count=1)
    return {"A": a, "B": b, "C": c}


@pytest.fixture
def panel(programme, analyst):
    p = Panel.objects.create(programme=programme, name="Lived-experience panel")
    for i, group in enumerate(GROUPS, start=1):
        PanelMember.objects.create(panel=p, name=f"Member {i}", group=group)
    return p


@pytest.fixture
def open_round(panel, changes):
    r = ops.create_round(
        panel,
        changes=[changes["A"], changes["B"]],
        scales=DEFAULT_SCALES,
        rules=DEFAULT_RULES,
        ask_rsa=True,
    )
    ops.set_status(r, Status.OPEN)
    return r


@pytest.fixture
def answered(client, panel, open_round, changes):
    """Every member answers both changes through the rating page."""
    members = list(panel.members.order_by("pk"))
    for i, member in enumerate(members):
        for name in ("A", "B"):
            data = answer(**{k: RATINGS[(name, k)][i] for k in SCALES})
            if name == "A":
                data["rsa"] = RSA_A[i]
                data["comment"] = f"Comment of member {i + 1}"
            response = client.post(rate_url(member, open_round, changes[name]), data)
            assert response.status_code == 302, response.content.decode()[:2000]
    return open_round


# --- panels and members -------------------------------------------------------------------------


def test_panel_pages_need_the_right_role(client, programme, panel, analyst):
    assert client.get(panels_url(programme)).status_code == 302
    member_user = User.objects.create_user("pm", password="a-long-test-password")
    member_user.groups.add(Group.objects.get(name="panel member"))
    client.force_login(member_user)
    assert client.get(panels_url(programme)).status_code == 200  # may look
    assert client.post(panels_url(programme), {"name": "Mine"}).status_code == 403
    page = client.get(panel_url(panel)).content.decode()
    assert panel.members.first().token not in page  # the private links are for analysts
    add = reverse("decide:panel_member_add", args=[programme.slug, panel.pk])
    assert client.post(add, {"name": "X"}).status_code == 403


def test_create_a_panel_and_add_members(client, programme, analyst):
    client.force_login(analyst)
    response = client.post(panels_url(programme), {"name": "", "description": ""})
    page = response.content.decode()
    assert "Enter a name for the panel" in page and 'href="#name"' in page
    assert "<title>Error: " in page
    response = client.post(
        panels_url(programme), {"name": "Lived-experience panel", "description": "People"}
    )
    panel = Panel.objects.get(programme=programme)
    assert response.status_code == 302 and response["Location"] == panel_url(panel)
    assert panel.created_by == analyst
    assert "Lived-experience panel" in client.get(panels_url(programme)).content.decode()
    # the same name again
    page = client.post(panels_url(programme), {"name": "lived-experience PANEL"}).content.decode()
    assert "There is already a panel called" in page

    add = reverse("decide:panel_member_add", args=[programme.slug, panel.pk])
    response = client.post(
        add, {"name": "Asha Patel", "email": "asha@example.com", "group": "patient"}
    )
    assert response.status_code == 302
    asha = panel.members.get()
    assert (asha.email, asha.group, len(asha.token)) == ("asha@example.com", "patient", 32)
    page = client.post(add, {"name": "", "email": "not an email"}).content.decode()
    assert "Enter the member&#39;s name." in page and 'href="#member-name"' in page
    assert "is not an email address" in page and 'href="#member-email"' in page
    page = client.post(add, {"name": "Asha again", "email": "ASHA@example.com"}).content.decode()
    assert "is already on the panel" in page
    assert panel.members.count() == 1

    paste = reverse("decide:panel_members_paste", args=[programme.slug, panel.pk])
    lines = (
        "Tom Reed, tom@example.com, carer\n\n"
        "Jo Bloggs, , staff\n"
        "Sam Lee, staff\n"
        '"Smith, Pat", pat@example.com, patient\n'
        "Ann\tann@example.com\tstaff\n"
    )
    events = AuditEvent.objects.count()
    assert client.post(paste, {"lines": lines}).status_code == 302
    got = {m.name: (m.email, m.group) for m in panel.members.all()}
    assert got == {
        "Asha Patel": ("asha@example.com", "patient"),
        "Tom Reed": ("tom@example.com", "carer"),
        "Jo Bloggs": ("", "staff"),
        "Sam Lee": ("", "staff"),
        "Smith, Pat": ("pat@example.com", "patient"),
        "Ann": ("ann@example.com", "staff"),
    }
    assert AuditEvent.objects.count() == events + 1  # one event for the batch
    assert len({m.token for m in panel.members.all()}) == 6

    # all or nothing: one bad line adds nobody
    bad = "Ok Person, ok@example.com, staff\n, nobody@example.com\nX, y@, staff\nTom, tom@example.com\n"
    page = client.post(paste, {"lines": bad}).content.decode()
    assert "Line 2: enter the member&#39;s name." in page
    assert "Line 3: ‘y@’ is not an email address" in page
    assert "tom@example.com is already on the panel." in page
    assert 'href="#lines"' in page and "Ok Person" in page  # kept in the box
    assert panel.members.count() == 6

    # the panel page shows each member's private link; a new link replaces the old one
    page = client.get(panel_url(panel)).content.decode()
    tom = panel.members.get(name="Tom Reed")
    assert f"/programmes/{programme.slug}/decide/panel/{tom.token}/" in page
    old = tom.token
    renew = reverse("decide:panel_member_new_link", args=[programme.slug, panel.pk, tom.pk])
    assert client.post(renew).status_code == 302
    tom.refresh_from_db()
    assert tom.token != old
    assert client.get(f"/programmes/{programme.slug}/decide/panel/{old}/").status_code == 404
    links = client.get(reverse("decide:panel_links_csv", args=[programme.slug, panel.pk]))
    rows = list(csv.DictReader(io.StringIO(links.content.decode())))
    assert len(rows) == 6 and rows[0]["link"].startswith("http://testserver/programmes/")


# --- creating rounds ----------------------------------------------------------------------------


def test_create_round_one_with_edited_scales_and_rules(client, programme, panel, changes, analyst):
    client.force_login(analyst)
    url = new_round_url(panel)
    page = client.get(url).content.decode()
    for scale in DEFAULT_SCALES:
        assert f'value="{scale["label"]}"' in page
    assert 'value="70"' in page and 'value="15"' in page

    # add a scale: the form comes back with an empty row, nothing created
    response = client.post(url, round_form(action="add_scale"))
    assert 'name="scale-3-label"' in response.content.decode()
    assert not DelphiRound.objects.exists()

    # bad rules and scales are all reported, each linked to its field
    data = round_form(
        **{
            "in_share": "10",
            "out_share": "20",
            "low_to": "7",
            "high_from": "x",
            "scale-1-label": "",
            "scale-3-label": "Cost",
            "scale-3-low": "",
            "scale-3-high": "Cheap",
            "scale-count": "4",
        }
    )
    page = client.post(url, data).content.decode()
    assert 'href="#high_from"' in page and "as a whole number" in page
    assert 'href="#scale-1-label"' in page and "Enter a name for scale 2." in page
    assert 'href="#scale-3-low"' in page and "Enter what 1 means on the scale ‘Cost’." in page
    data["high_from"] = "7"
    page = client.post(url, data).content.decode()
    assert "smaller than the share for consensus" in page  # 20 ≥ 10
    data.update(in_share="70", out_share="15")
    page = client.post(url, data).content.decode()
    assert "The high ratings must start after the low ratings end." in page
    assert not DelphiRound.objects.exists()
    assert client.post(url, round_form(how="top", top="0")).status_code == 200
    assert "from 1 to 200" in client.post(url, round_form(top="0")).content.decode()
    page = client.post(url, round_form(how="pick")).content.decode()
    assert "Tick at least one change" in page
    page = client.post(url, round_form(changes=[str(changes["A"].pk)])).content.decode()
    assert "You ticked changes in the long list" in page and 'href="#how"' in page
    page = client.post(url, round_form(how="")).content.decode()
    assert "Choose how to pick the changes" in page

    # valid: rename one scale, remove another, add one; pick two changes by ticking
    data = round_form(
        **{
            "how": "pick",
            "changes": [str(changes["B"].pk), str(changes["C"].pk)],
            "scale-0-label": "How much it helps",
            "scale-2-remove": "yes",
            "scale-3-label": "Cost",
            "scale-3-low": "Very costly",
            "scale-3-high": "Costs nothing",
            "scale-count": "4",
            "in_share": "75",
            "out_share": "10",
            "high_from": "8",
            "ask_rsa": "no",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302
    r = DelphiRound.objects.get(panel=panel)
    assert response["Location"] == round_url(r)
    assert (r.number, r.status, r.ask_rsa) == (1, Status.DRAFT, False)
    assert r.scales == [
        {
            "key": "benefit",
            "label": "How much it helps",
            "low": "No benefit",
            "high": "Great benefit",
        },
        DEFAULT_SCALES[1],
        {"key": "cost", "label": "Cost", "low": "Very costly", "high": "Costs nothing"},
    ]
    assert r.rules == {"in_share": 0.75, "out_share": 0.10, "low": [1, 3], "high": [8, 9]}
    assert set(r.changes.all()) == {changes["B"], changes["C"]}
    # a second round cannot start while this one is not closed
    response = client.get(new_round_url(panel))
    assert response.status_code == 302


def test_open_and_close_and_only_one_round_open(client, panel, open_round, analyst):
    client.force_login(analyst)
    status = round_url(open_round, "delphi_status")
    assert "Close round 1" in client.get(round_url(open_round)).content.decode()
    client.post(status, {"status": "closed"})
    open_round.refresh_from_db()
    assert open_round.status == Status.CLOSED and open_round.closes_at is not None
    client.post(status, {"status": "open"})  # may open again while it is the latest
    open_round.refresh_from_db()
    assert open_round.status == Status.OPEN
    client.post(status, {"status": "closed"})
    response = client.post(new_round_url(panel), {"action": "create", **round_form()})
    second = DelphiRound.objects.get(panel=panel, number=2)
    assert response["Location"] == round_url(second)
    response = client.post(status, {"status": "open"}, follow=True)
    assert "A later round exists" in response.content.decode()
    open_round.refresh_from_db()
    assert open_round.status == Status.CLOSED
    with pytest.raises(Exception, match="cannot become"):
        ops.set_status(second, Status.CLOSED)  # a draft opens before it closes


# --- members' answers ---------------------------------------------------------------------------


def test_a_member_rates_a_change_and_changes_the_answer(client, panel, open_round, changes):
    member = panel.members.order_by("pk").first()
    page = client.get(home_url(member)).content.decode()
    assert "Round 1 is open" in page and "You have answered 0 of 2 changes." in page
    assert client.get(home_url(member))["X-Robots-Tag"] == "noindex, nofollow"
    page = client.get(rate_url(member, open_round, changes["A"])).content.decode()
    assert "change 1 of 2" in page
    for scale in DEFAULT_SCALES:
        assert f"Your rating for {scale['label'].lower()}" in page
        assert f'id="rating-{scale["key"]}"' in page and f'id="rating-{scale["key"]}-9"' in page
    assert "Amplify" in page and "Let go" in page and "Not sure" in page

    data = answer(benefit=7, feasibility=5, inequalities=3) | {"rsa": "restart"}
    response = client.post(rate_url(member, open_round, changes["A"]), data)
    assert response["Location"] == rate_url(member, open_round, changes["B"])  # save and next
    got = DelphiAnswer.objects.get(member=member, change=changes["A"])
    assert (got.ratings, got.rsa) == (
        {"benefit": 7, "feasibility": 5, "inequalities": 3},
        "restart",
    )
    # the answer is shown again, and can be changed while the round is open
    page = client.get(rate_url(member, open_round, changes["A"])).content.decode()
    assert 'value="7" checked' in page and 'value="restart" checked' in page
    data = answer(benefit=9, feasibility=5, inequalities=3) | {"rsa": "unsure", "then": "list"}
    response = client.post(rate_url(member, open_round, changes["A"]), data)
    assert response["Location"] == home_url(member)
    got = DelphiAnswer.objects.get(member=member, change=changes["A"])
    assert (got.ratings["benefit"], got.rsa) == (9, "")
    assert DelphiAnswer.objects.count() == 1
    assert "You have answered 1 of 2 changes." in client.get(home_url(member)).content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"benefit": 0}, "rating-benefit", "Choose a rating from 1 to 9 for benefit"),
        ({"benefit": 10}, "rating-benefit", "‘10’ is not one of them"),
        ({"benefit": "high"}, "rating-benefit", "‘high’ is not one of them"),
        ({"benefit": ""}, "rating-benefit", "Choose a rating from 1 to 9 for benefit."),
        ({"cost": 5}, "rate-form", "This round has no scale called ‘cost’"),
        ({"rsa": "keep"}, "rsa", "Choose one of the answers listed"),
        ({"rsa": ""}, "rsa", "Choose where the change fits"),
    ],
)
def test_bad_answers_are_refused(client, panel, open_round, changes, data, field, message):
    member = panel.members.first()
    post = answer(benefit=5, feasibility=5, inequalities=5)
    for key, value in data.items():
        post["rsa" if key == "rsa" else f"rating-{key}"] = str(value)
    response = client.post(rate_url(member, open_round, changes["A"]), post)
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page and f'href="#{field}"' in page
    assert "<title>Error: " in page
    assert not DelphiAnswer.objects.exists()


def test_links_rounds_and_changes_that_do_not_work(client, programme, panel, open_round, changes):
    member = panel.members.first()
    good = answer(benefit=5, feasibility=5, inequalities=5)
    # a bad token, or a token under another programme
    other = Programme.objects.create(title="Other", slug="other", visibility="public")
    assert client.get(f"/programmes/{programme.slug}/decide/panel/not-a-token/").status_code == 404
    assert client.get(f"/programmes/other/decide/panel/{member.token}/").status_code == 404
    bad = rate_url(member, open_round, changes["A"]).replace(member.token, "x" * 32)
    assert client.post(bad, good).status_code == 404
    # a change outside the round, a round that does not exist
    assert client.get(rate_url(member, open_round, changes["C"])).status_code == 404
    assert (
        client.get(rate_url(member, open_round, changes["A"]).replace("/1/", "/9/")).status_code
        == 404
    )
    # a closed round: shown as closed, and nothing is saved
    ops.set_status(open_round, Status.CLOSED)
    response = client.post(rate_url(member, open_round, changes["A"]), good)
    assert response.status_code == 403 and "Round 1 is closed" in response.content.decode()
    assert client.get(rate_url(member, open_round, changes["A"])).status_code == 200
    assert not DelphiAnswer.objects.exists()
    assert "Round 1 has closed" in client.get(home_url(member)).content.decode()
    # a draft round is not shown to members
    draft = ops.create_round(
        panel, changes=[changes["A"]], scales=DEFAULT_SCALES, rules=DEFAULT_RULES, ask_rsa=True
    )
    assert client.get(rate_url(member, draft, changes["A"])).status_code == 404
    # a private programme's links do not work
    programme.visibility = Programme.Visibility.PRIVATE
    programme.save()
    assert client.get(home_url(member)).status_code == 404
    assert other.pk


def test_save_answer_checks_its_input(panel, open_round, changes):
    member = panel.members.first()
    with pytest.raises(Exception, match="Rate every scale"):
        ops.save_answer(open_round, member, changes["A"], ratings={"benefit": 5})
    with pytest.raises(Exception, match="from 1 to 9"):
        ops.save_answer(
            open_round,
            member,
            changes["A"],
            ratings={"benefit": 5, "feasibility": 5, "inequalities": 11},
        )
    with pytest.raises(Exception, match="not part of the round"):
        ops.save_answer(
            open_round,
            member,
            changes["C"],
            ratings={"benefit": 5, "feasibility": 5, "inequalities": 5},
        )


# --- results ------------------------------------------------------------------------------------


def _row(result, expected) -> None:
    n, median, low, mid, high, p30, p70, ipr, iprcp, ipras, outcome = expected
    assert result.n == n
    assert result.median == pytest.approx(median)
    assert (result.share_low, result.share_mid, result.share_high) == pytest.approx(
        (low, mid, high)
    )
    assert result.p30 == pytest.approx(p30)
    assert result.p70 == pytest.approx(p70)
    assert result.ipr == pytest.approx(ipr)
    assert result.iprcp == pytest.approx(iprcp)
    assert result.ipras == pytest.approx(ipras)
    assert result.classification == outcome


def test_results_match_hand_computed_values(client, answered, changes, analyst):
    results = {r.change.pk: r for r in ops.round_results(answered)}
    for (name, key), expected in EXPECTED.items():
        scale = next(s for s in results[changes[name].pk].scales if s.scale["key"] == key)
        _row(scale, expected)
    a = results[changes["A"].pk]
    for group, expected in EXPECTED_GROUPS.items():
        _row(a.groups[group][0], expected)
    assert a.rsa_counts == {"amplify": 3, "end": 1, "restart": 0, "let_go": 0}
    assert a.rsa_most_common == ["amplify"]
    assert a.rsa_groups["patient"] == {"amplify": 2, "end": 1, "restart": 0, "let_go": 0}
    assert a.settled is False  # disagreement on feasibility
    assert len(a.comments) == 5

    client.force_login(analyst)
    page = client.get(round_url(answered, "delphi_results")).content.decode()
    assert "Consensus in (8)" in page and "Disagreement (5)" in page
    assert "Consensus out (2)" in page and "No consensus (5)" in page
    for figure in ("7.45", "8.80", "2.95", "5.60", "6.85", "80%", "40%"):
        assert figure in page
    assert "Rated 1–3" in page and "Rated 4–6" in page and "Rated 7–9" in page
    assert ">patient<" not in page
    page = client.get(round_url(answered, "delphi_results") + "?by=group").content.decode()
    assert ">patient<" in page and ">staff<" in page and "7.60" in page and "8.50" in page

    response = client.get(round_url(answered, "delphi_results_csv"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2 * 3 * 3  # changes × scales × (everyone, patient, staff)
    row = next(
        r
        for r in rows
        if r["change"] == "Video consultations"
        and r["scale"] == "Feasibility"
        and r["group"] == "Everyone"
    )
    assert float(row["p30"]) == pytest.approx(2.6) and float(row["p70"]) == pytest.approx(8.2)
    assert float(row["ipras"]) == pytest.approx(2.95) and row["classification"] == "disagreement"
    assert [int(row[f"count_{i}"]) for i in range(1, 10)] == [1, 1, 0, 0, 1, 0, 0, 0, 2]
    benefit = next(
        r
        for r in rows
        if r["change"] == "Video consultations"
        and r["scale"] == "Benefit"
        and r["group"] == "Everyone"
    )
    assert (benefit["rsa_amplify"], benefit["rsa_most_common"]) == ("3", "amplify")


def test_the_rules_of_the_round_are_used(panel, changes):
    r = ops.create_round(
        panel,
        changes=[changes["A"]],
        scales=DEFAULT_SCALES[:1],
        rules={"in_share": 0.9, "out_share": 0.1, "low": [1, 3], "high": [7, 9]},
        ask_rsa=False,
    )
    ops.set_status(r, Status.OPEN)
    for member, rating in zip(panel.members.order_by("pk"), [7, 8, 9, 9, 5], strict=True):
        ops.save_answer(r, member, changes["A"], ratings={"benefit": rating})
    (result,) = ops.round_results(r)
    assert result.scales[0].share_high == pytest.approx(0.8)
    assert result.scales[0].classification == "none"  # 80 % < 90 %
    r.rules = DEFAULT_RULES
    r.save()
    assert ops.round_results(r)[0].scales[0].classification == "in"


def test_results_csv_is_safe_in_a_spreadsheet(client, panel, changes, analyst):
    r = ops.create_round(
        panel, changes=[changes["C"]], scales=DEFAULT_SCALES, rules=DEFAULT_RULES, ask_rsa=True
    )
    client.force_login(analyst)
    rows = list(
        csv.reader(io.StringIO(client.get(round_url(r, "delphi_results_csv")).content.decode()))
    )
    assert rows[1][2] == "'=HYPERLINK(1)"
    assert rows[1][5] == "0"  # nobody answered yet


# --- round 2 ------------------------------------------------------------------------------------


def test_round_two_carries_the_changes_and_shows_the_panel_s_answers(
    client, panel, answered, changes, analyst
):
    client.force_login(analyst)
    ops.set_status(answered, Status.CLOSED)
    page = client.get(new_round_url(panel)).content.decode()
    assert "carries the 2 changes of round 1" in page
    # A disagrees on feasibility and B has no consensus on benefit: nothing is settled
    assert "No change reached consensus on every scale in round 1" in page
    response = client.post(
        new_round_url(panel),
        {
            "action": "create",
            "drop": "yes",
            "ask_rsa": "yes",
            **{k: v for k, v in round_form().items() if k in ops.RULE_FIELDS},
        },
    )
    second = DelphiRound.objects.get(panel=panel, number=2)
    assert response["Location"] == round_url(second)
    assert second.scales == answered.scales
    ops.set_status(second, Status.OPEN)
    kept = list(second.changes.all())
    assert kept == [changes["A"], changes["B"]]

    member = panel.members.order_by("pk").first()
    change = kept[0]
    page = client.get(rate_url(member, second, change)).content.decode()
    assert "how the panel rated this change in round 1" in page
    name = "A" if change == changes["A"] else "B"
    counts = [RATINGS[(name, "benefit")].count(i) for i in range(1, 10)]
    assert "Benefit: how many gave each rating in round 1" in page
    assert "".join(f'<td class="nhsuk-table__cell cb-numeric">{c}</td>' for c in counts) in page
    own = RATINGS[(name, "benefit")][0]
    assert f"Your rating in round 1: <strong>{own}</strong>" in page
    assert 'role="img"' in page and "Your rating was" in page
    if name == "A":
        assert "You chose <strong>Amplify</strong>." in page
        assert "Your comment in round 1: <q" in page and "Comment of member 1" in page
    # nothing is pre-filled from round 1: the member answers afresh
    assert "checked" not in page.split('id="rating-benefit-heading"')[1].split("</fieldset>")[0]


def test_dropping_changes_with_consensus(panel, changes):
    r = ops.create_round(
        panel,
        changes=[changes["A"], changes["B"]],
        scales=DEFAULT_SCALES[:1],
        rules=DEFAULT_RULES,
        ask_rsa=False,
    )
    ops.set_status(r, Status.OPEN)
    for member in panel.members.all():
        ops.save_answer(r, member, changes["A"], ratings={"benefit": 8})
        ops.save_answer(r, member, changes["B"], ratings={"benefit": 5})
    ops.set_status(r, Status.CLOSED)
    assert ops.carried_changes(r, drop_consensus=True) == [changes["B"]]
    assert ops.carried_changes(r, drop_consensus=False) == [changes["A"], changes["B"]]


def test_parse_member_lines():
    members, errors = ops.parse_member_lines("A, a@example.com\nB, carer\n\nC,,\n")
    assert [(m.name, m.email, m.group) for m in members] == [
        ("A", "a@example.com", ""),
        ("B", "", "carer"),
        ("C", "", ""),
    ]
    assert errors == []
    _, errors = ops.parse_member_lines("A, b, c, d\n" + "x" * 201 + "\n")
    assert errors[0].startswith("Line 1: too many commas")
    assert errors[1] == "Line 2: enter a name of at most 200 characters."
    assert ops.parse_member_lines("  \n")[1] == [
        "Enter at least one member: a name, an email and a group on each line."
    ]
