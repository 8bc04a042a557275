"""The framework pages through the test client: the matrix by any attribute, keep or never again,
codes that go together and the representation check, on a small programme counted by hand.

Six submissions from four respondents; three themes, the third reached only through a code that
also sits under it (``also_in``)::

    sub  respondent                                        question  codes          stance
    s1   r1 staff, Ambulance trust, 25 to 34, Female, In   keep      video          keep
    s2   r1                                                never     waits          concern
    s3   r2 staff, Community trust, 25 to 34, Male, Out    keep      video, phone   keep
    s4   r3 patient, Community trust, 65 to 74, PNS, Out   keep      phone          mixed
    s5   r3                                                never     waits          concern
    s6   r4 patient, no organisation, no equality answers  keep      video, waits   (none)

    Video appointments = {video, phone} → s1 s3 s4 s6; Waiting times = {waits} → s2 s5 s6;
    Staff kindness = {phone via also_in} → s3 s4.
"""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from changebank.core.models import AuditEvent
from changebank.listen.models import Question, Respondent, Submission
from changebank.understand.models import (
    Code,
    CodeAssignment,
    ReferenceShare,
    SubmissionReading,
    Theme,
)


@pytest.fixture
def data(programme):
    keep = Question.objects.create(programme=programme, key="keep", prompt="What would you keep?")
    never = Question.objects.create(
        programme=programme, key="never", position=2, prompt="What should never come back?"
    )
    people = [
        dict(
            role="staff",
            organisation="Ambulance trust",
            equality={"age": "25 to 34", "sex": "Female"},
            attributes={"Service type 2": "Inpatients"},
        ),
        dict(
            role="staff",
            organisation="Community trust",
            equality={"age": "25 to 34", "sex": "Male"},
            attributes={"Service type 2": "Outpatients"},
        ),
        dict(
            role="patient",
            organisation="Community trust",
            equality={"age": "65 to 74", "sex": "Prefer not to say"},
            attributes={"Service type 2": "Outpatients"},
        ),
        dict(role="patient"),
    ]
    r = [
        Respondent.objects.create(programme=programme, external_id=f"r{i + 1}", **p)
        for i, p in enumerate(people)
    ]
    plan = [(r[0], keep), (r[0], never), (r[1], keep), (r[2], keep), (r[2], never), (r[3], keep)]
    s = [
        Submission.objects.create(
            programme=programme,
            question=q,
            respondent=who,
            text=f"Submission {i + 1}",
            source=Submission.Source.IMPORT,
            reference=f"CB-F{i:04d}",
            dedupe_key=f"f{i}",
        )
        for i, (who, q) in enumerate(plan)
    ]
    video_theme = Theme.objects.create(programme=programme, label="Video appointments", position=1)
    waits_theme = Theme.objects.create(programme=programme, label="Waiting times", position=2)
    kind_theme = Theme.objects.create(programme=programme, label="Staff kindness", position=3)
    video = Code.objects.create(programme=programme, theme=video_theme, label="Video calls")
    phone = Code.objects.create(
        programme=programme, theme=video_theme, label="Phone triage", position=1
    )
    phone.also_in.add(kind_theme)
    waits = Code.objects.create(
        programme=programme, theme=waits_theme, label="Long waits", position=2
    )
    coding = {0: [video], 1: [waits], 2: [video, phone], 3: [phone], 4: [waits], 5: [video, waits]}
    for i, codes in coding.items():
        for code in codes:
            CodeAssignment.objects.create(submission=s[i], code=code)
    for i, stance in enumerate(["keep", "concern", "keep", "mixed", "concern"]):
        SubmissionReading.objects.create(submission=s[i], sentiment=3, stance=stance)
    return {
        "programme": programme,
        "subs": s,
        "respondents": r,
        "themes": (video_theme, waits_theme, kind_theme),
        "codes": (video, phone, waits),
        "questions": (keep, never),
    }


def url(name, programme, **params):
    from urllib.parse import urlencode

    base = reverse(f"understand:{name}", args=[programme.slug])
    return base + ("?" + urlencode(params) if params else "")


def rows_of(body: str, caption_start: str) -> dict[str, list[str]]:
    """The table whose caption starts with ``caption_start``: row header → cell texts."""
    start = body.index(f'<caption class="nhsuk-table__caption">{caption_start}')
    table = body[start : body.index("</table>", start)]
    out = {}
    for tr in re.findall(r"<tr class=\"nhsuk-table__row\">(.*?)</tr>", table, flags=re.S):
        header = re.search(r"<th[^>]*>(.*?)</th>", tr, flags=re.S).group(1)
        header = html.unescape(re.sub(r"<[^>]+>", "", header.split("<br>")[0])).strip()
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c.replace("<br>", " "))).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
        ]
        out[header] = cells
    return out


def page(client, user, name, programme, **params):
    client.force_login(user)
    response = client.get(url(name, programme, **params))
    assert response.status_code == 200
    return response.content.decode()


# --- the matrix -----------------------------------------------------------------------------------


def test_matrix_by_organisation_counts_shares_and_flags(client, analyst, data):
    programme = data["programme"]
    body = page(client, analyst, "who_said_it", programme, by="organisation")
    assert "<h1>Framework matrix</h1>" in body
    assert "<title>Framework matrix: Test programme" in body
    table = rows_of(body, "Themes by organisation")
    # Columns: Community trust (3 submissions), Ambulance trust (2), All, V, p, consistent
    assert body.index("Community trust<br>") < body.index("Ambulance trust<br>")
    assert table["Video appointments"][:3] == ["2 (66.7%)", "1 (50.0%)", "4"]
    # chi-square of [[2, 1], [1, 1]]: 0.1389, V = sqrt(0.1389 / 5) = 0.17
    assert table["Video appointments"][3:] == ["0.17", "0.709", "Yes"]
    assert table["Waiting times"][:3] == ["1 (33.3%)", "1 (50.0%)", "3"]
    # Staff kindness comes only through the code that also sits under it; no one from the
    # ambulance trust raised it, so it is not consistent across groups.
    assert table["Staff kindness"][:3] == ["2 (66.7%)", "0 (0.0%)", "2"]
    assert table["Staff kindness"][-1] == "No"
    assert list(table) == ["Video appointments", "Waiting times", "Staff kindness"]
    assert "1 submission has no organisation and is left out." in body
    # Each share links to the submissions of that theme and organisation; the total to the theme.
    video_theme = data["themes"][0]
    assert (
        f'href="/programmes/test/analysis/submissions/?theme={video_theme.pk}&amp;organisation=Community+trust"'
        in body
    )
    assert f'href="/programmes/test/analysis/submissions/?theme={video_theme.pk}">4</a>' in body


def test_matrix_links_follow_the_search_filters(client, analyst, data):
    programme = data["programme"]
    video_theme = data["themes"][0]
    body = page(client, analyst, "who_said_it", programme, by="role")
    table = rows_of(body, "Themes by role")
    assert table["Video appointments"][:2] == ["2 (66.7%)", "2 (66.7%)"]  # Patient, Staff
    assert f"?theme={video_theme.pk}&amp;role=patient" in body
    # the link finds exactly the submissions counted
    client.force_login(analyst)
    found = client.get(url("submissions", programme, theme=video_theme.pk, role="staff"))
    listed = re.findall(r">Submission (\d)</a>", found.content.decode())
    assert sorted(listed) == ["1", "3"]  # s1 and s3: the 2 counted in the cell

    # the role called "Other" is a real group, not the column of smaller groups
    Respondent.objects.filter(external_id="r4").update(role="other")
    body = page(client, analyst, "who_said_it", programme, by="role")
    assert f"?theme={video_theme.pk}&amp;role=other" in body and "holds the rest" not in body

    keep = data["questions"][0]
    body = page(client, analyst, "who_said_it", programme, by="question")
    assert f"?theme={video_theme.pk}&amp;question={keep.pk}" in body
    # Sector is not a filter of the search: no per-group links, only the totals.
    Respondent.objects.update(sector="Acute hospital")
    body = page(client, analyst, "who_said_it", programme, by="sector")
    assert "organisation=" not in body and "so only the numbers in the ‘All’ column" in body


def test_matrix_by_equality_answer_and_imported_column(client, analyst, data):
    programme = data["programme"]
    body = page(client, analyst, "who_said_it", programme)
    # every equality key and imported column present is offered
    for value in ("equality:age", "equality:sex", "attribute:Service type 2"):
        assert f'value="{value}"' in body
    body = page(client, analyst, "who_said_it", programme, by="equality:age")
    table = rows_of(body, "Themes by equality: age")
    # 25 to 34: s1 s2 s3; 65 to 74: s4 s5; s6 not known
    assert table["Video appointments"][:3] == ["2 (66.7%)", "1 (50.0%)", "4"]
    assert "1 submission has no answer about age" in body
    body = page(client, analyst, "who_said_it", programme, by="attribute:Service type 2")
    table = rows_of(body, "Themes by ‘Service type 2’")
    # Outpatients: s3 s4 s5; Inpatients: s1 s2
    assert table["Waiting times"][:2] == ["1 (33.3%)", "1 (50.0%)"]


def test_matrix_with_codes_and_the_other_column(client, analyst, data):
    programme = data["programme"]
    video, phone, waits = data["codes"]
    body = page(client, analyst, "who_said_it", programme, by="organisation", rows="codes")
    table = rows_of(body, "Codes by organisation")
    assert table["Video calls"][:3] == ["1 (33.3%)", "1 (50.0%)", "3"]
    assert table["Phone triage"][:3] == ["2 (66.7%)", "0 (0.0%)", "2"]
    assert f"?code={phone.pk}&amp;organisation=Community+trust" in body
    # Ten organisations: the eight largest are shown, the rest become "Other".
    for i in range(8):
        r = Respondent.objects.create(programme=programme, organisation=f"Trust {i}")
        for j in range(2 if i < 4 else 1):
            Submission.objects.create(
                programme=programme,
                respondent=r,
                text="x",
                source="import",
                reference=f"CB-X{i}{j}",
                dedupe_key=f"x{i}{j}",
            )
    body = page(client, analyst, "who_said_it", programme)
    heads = re.findall(r'<th scope="col" class="cb-numeric">([^<]+)<br>', body)
    assert len(heads) == 9 and heads[-1] == "Other"
    assert "‘Other’ holds the rest" in body


def test_matrix_with_nothing_to_show(client, analyst, programme):
    body = page(client, analyst, "who_said_it", programme, by="nonsense")
    assert "Nothing to show" in body


# --- keep or never again --------------------------------------------------------------------------


def test_keep_or_never_again_in_each_theme(client, analyst, data):
    programme = data["programme"]
    video_theme = data["themes"][0]
    body = page(client, analyst, "framework_stance", programme)
    table = rows_of(body, "Stance of the submissions in each theme")
    # keep, concern, mixed, no stance, not read, submissions, keep minus never again
    assert table["Video appointments"] == [
        "2 (50.0%)",
        "0 (0.0%)",
        "1 (25.0%)",
        "0 (0.0%)",
        "1 (25.0%)",
        "4",
        "+50.0",
    ]
    assert table["Waiting times"][:2] == ["0 (0.0%)", "2 (66.7%)"]
    assert table["Waiting times"][-1] == "-66.7"
    assert table["Staff kindness"][:3] == ["1 (50.0%)", "0 (0.0%)", "1 (50.0%)"]
    assert table["All submissions"] == [
        "2 (33.3%)",
        "2 (33.3%)",
        "1 (16.7%)",
        "0 (0.0%)",
        "1 (16.7%)",
        "6",
        "+0.0",
    ]
    assert f"?theme={video_theme.pk}&amp;stance=keep" in body
    body = page(client, analyst, "framework_stance", programme, rows="codes")
    assert rows_of(body, "Stance of the submissions in each code")["Long waits"][1] == "2 (66.7%)"


# --- codes that go together -----------------------------------------------------------------------


def test_codes_that_go_together(client, analyst, data):
    programme = data["programme"]
    body = page(client, analyst, "framework_cooccurrence", programme)
    assert "Jaccard similarity" in body and "Lift" in body
    table = rows_of(body, "Submissions with both codes")
    # largest first, ties in position order: Video calls (3), Long waits (3), Phone triage (2)
    assert list(table) == ["1. Video calls", "2. Long waits", "3. Phone triage"]
    # Video & waits: s6 → 1, Jaccard 1 / (3 + 3 − 1); video & phone: s3 → 1, 1 / (3 + 2 − 1)
    assert table["1. Video calls"] == ["3 in all", "1 0.20", "1 0.25"]
    assert table["2. Long waits"] == ["1 0.20", "3 in all", "0 0.00"]
    body = page(client, analyst, "framework_cooccurrence", programme, measure="lift")
    table = rows_of(body, "Submissions with both codes")
    # lift: 6 · 1 / (3 · 3) and 6 · 1 / (3 · 2)
    assert table["1. Video calls"][1:] == ["1 0.67", "1 1.00"]
    # pairs most often together: equal counts, the higher Jaccard first
    start = body.index("The 2 pairs of codes")
    pairs = [
        [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        for tr in re.findall(r"<tr class=\"nhsuk-table__row\">(.*?)</tr>", body[start:], re.S)
    ]
    assert pairs == [
        ["Video calls", "Phone triage", "1", "0.25", "1.00"],
        ["Video calls", "Long waits", "1", "0.20", "0.67"],
    ]


# --- representation check -------------------------------------------------------------------------


def post_reference(client, programme, by, rows, source=""):
    data = {"source": source}
    for i, (group, share) in enumerate(rows):
        data[f"group_{i}"] = group
        data[f"share_{i}"] = share
    return client.post(url("framework_representation", programme, by=by), data)


def test_representation_by_role_with_a_reference(client, analyst, data):
    programme = data["programme"]
    client.force_login(analyst)
    body = page(client, analyst, "framework_representation", programme, by="role")
    # before a reference: the contributors' profile, and a form prefilled with every role
    assert "4 respondents gave their role" in body
    assert 'value="Carer"' in body and 'value="Staff"' in body
    response = post_reference(
        client,
        programme,
        "role",
        [("Staff", "60"), ("Patient", "30%"), ("Carer", "10"), ("Other", ""), ("", "")],
        source="Made-up workforce figures",
    )
    assert response.status_code == 302
    assert response["Location"] == url("framework_representation", programme, by="role")
    saved = ReferenceShare.objects.filter(programme=programme, attribute="role")
    assert sorted(saved.values_list("group", "share", "source")) == [
        ("Carer", 10.0, "Made-up workforce figures"),
        ("Patient", 30.0, "Made-up workforce figures"),
        ("Staff", 60.0, "Made-up workforce figures"),
    ]
    assert AuditEvent.objects.filter(action="reference profile").count() == 1
    body = client.get(response["Location"]).content.decode()
    assert "Reference profile for Role saved: 3 groups." in body
    table = rows_of(body, "Respondents by role")
    # Staff 2 of 4 = 50% against 60% (ratio 0.83 ≥ 0.8); Patient 50% against 30%; no carers.
    assert table["Staff"] == ["2", "50.0%", "60.0%", "2.4", "0.83", "Reached"]
    assert table["Patient"] == ["2", "50.0%", "30.0%", "1.2", "1.67", "Reached"]
    assert table["Carer"] == ["0", "0.0%", "10.0%", "0.4", "0.00", "Not yet reached"]
    assert "Not yet reached: Carer." in body
    # chi-square: 0.4²/2.4 + 0.8²/1.2 + 0.4²/0.4 = 1.00 with 2 df, p = exp(−0.5)
    assert "χ² = 1.00 with 2 degrees of freedom, p = 0.607, over 4 respondents" in body
    assert "Reference profile from: Made-up workforce figures." in body

    # Saving again replaces the rows; staff now under-represented (50% < 0.8 × 70%).
    post_reference(client, programme, "role", [("Staff", "70"), ("Patient", "30")])
    assert sorted(saved.values_list("group", "share")) == [("Patient", 30.0), ("Staff", 70.0)]
    body = client.get(url("framework_representation", programme, by="role")).content.decode()
    assert rows_of(body, "Respondents by role")["Staff"][-1] == "Under-represented"
    # Rows without a share are left out; saving with no shares removes the profile.
    post_reference(client, programme, "role", [("Staff", ""), ("", "")])
    assert not saved.exists()


def test_representation_by_equality_answer(client, analyst, data):
    programme = data["programme"]
    client.force_login(analyst)
    body = page(client, analyst, "framework_representation", programme, by="equality:sex")
    # r3 preferred not to say and r4 gave no answer
    assert "2 respondents gave their answer about sex; 2 did not say" in body
    # every standard equality question is offered, answered or not
    assert 'value="equality:ethnicity"' in body and 'value="equality:disability"' in body
    post_reference(client, programme, "equality:sex", [("Female", "51"), ("Male", "49")])
    body = client.get(url("framework_representation", programme, by="equality:sex")).content
    table = rows_of(body.decode(), "Respondents by equality: sex")
    assert table["Female"] == ["1", "50.0%", "51.0%", "1.0", "0.98", "Reached"]
    # contributors in groups outside the reference, and shares under 100
    post_reference(client, programme, "equality:age", [("25 to 34", "40"), ("75 or over", "20")])
    body = client.get(url("framework_representation", programme, by="equality:age")).content
    body = html.unescape(body.decode())
    table = rows_of(body, "Respondents by equality: age")
    assert table["25 to 34"][-1] == "Reached"
    assert table["75 or over"][-1] == "Not yet reached"
    assert table["65 to 74"] == ["1", "33.3%", "–", "–", "–", "Not in the reference"]
    assert "the remaining 40% is tested as one group, ‘everyone else’" in body


def test_reference_form_errors_name_the_row_and_field(client, analyst, data):
    programme = data["programme"]
    client.force_login(analyst)
    ReferenceShare.objects.create(programme=programme, attribute="role", group="Staff", share=50)
    cases = [
        ([("Staff", "lots")], "Row 1, share: enter the share of ‘Staff’ as a number, like 12.5"),
        (
            [("Staff", "50"), ("Carer", "120")],
            "Row 2, share: the share of ‘Carer’ must be between 0 and 100",
        ),
        ([("Staff", "-1")], "Row 1, share: the share of ‘Staff’ must be between 0 and 100"),
        ([("Staff", "nan")], "Row 1, share: enter the share of ‘Staff’ as a number"),
        ([("Staff", "50"), ("", "20")], "Row 2, group: enter the group's name, or clear its share"),
        ([("Staff", "50"), ("staff ", "10")], "Row 2, group: ‘staff’ is already in row 1"),
        (
            [("Staff", "60"), ("Patient", "40.6")],
            "The shares add up to 100.6%. They must add up to 100% or less",
        ),
        ([("x" * 201, "10")], "Row 1, group: enter 200 characters or fewer"),
    ]
    for rows, message in cases:
        response = post_reference(client, programme, "role", rows)
        assert response.status_code == 200, rows
        body = html.unescape(response.content.decode())
        assert message in body, (rows, body[body.find("There is a problem") :][:600])
        assert "<title>Error: Representation check" in body
        assert 'class="nhsuk-error-summary' in body
        # nothing was saved: the earlier profile is still there
        assert list(
            ReferenceShare.objects.filter(programme=programme).values_list("group", "share")
        ) == [("Staff", 50.0)]
    # the summary links to the field at fault
    response = post_reference(client, programme, "role", [("Staff", "50"), ("Carer", "120")])
    assert 'href="#id_share_1"' in response.content.decode()
    assert 'aria-describedby="id_share_1-error"' in response.content.decode()
    response = post_reference(client, programme, "role", [("Staff", "60"), ("Patient", "41")])
    assert 'href="#shares"' in response.content.decode()
    # 100.5 is allowed for rounding
    response = post_reference(client, programme, "role", [("Staff", "60.25"), ("Patient", "40.25")])
    assert response.status_code == 302


def test_representation_of_a_programme_without_respondents(client, analyst, programme):
    Submission.objects.create(
        programme=programme, text="x", source="import", reference="CB-N1", dedupe_key="n1"
    )
    body = page(client, analyst, "framework_representation", programme, by="region")
    assert "0 submissions gave their region; 1 did not say" in body


# --- permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["who_said_it", "framework_stance", "framework_cooccurrence", "framework_representation"],
)
def test_pages_need_signing_in_and_the_role(client, data, name):
    programme = data["programme"]
    response = client.get(url(name, programme))
    assert response.status_code == 302 and "/sign-in/" in response["Location"]
    nobody = User.objects.create_user("nobody", password="a-long-test-password")
    client.force_login(nobody)
    assert client.get(url(name, programme)).status_code == 403


def test_panel_members_see_the_representation_check_but_cannot_change_it(client, data):
    from changebank.core.roles import ensure_roles

    programme = data["programme"]
    ensure_roles()
    panel = User.objects.create_user("panel", password="a-long-test-password")
    panel.groups.add(Group.objects.get(name="panel member"))
    client.force_login(panel)
    body = client.get(url("framework_representation", programme, by="role")).content.decode()
    assert "Representation check" in body and "Save the reference profile" not in body
    assert post_reference(client, programme, "role", [("Staff", "100")]).status_code == 403
    assert not ReferenceShare.objects.exists()
    client.logout()
    response = post_reference(client, programme, "role", [("Staff", "100")])
    assert response.status_code == 302 and not ReferenceShare.objects.exists()
