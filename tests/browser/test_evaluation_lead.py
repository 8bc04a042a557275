"""An evaluation lead in a real browser: records an evaluation of an adopted change, adds a metric,
uploads its series (a real one: the monthly share of positive Friends and Family Test answers of
one NHS trust, from the pxtextmining data), sees the XmR chart, the variation and assurance icons
and the before-and-after summary, publishes it, and a reader finds it in the public repository,
filtered by design type, with JavaScript turned off. axe-core runs on every page."""

from __future__ import annotations

import datetime as dt
import os
import re

import pandas as pd
import pytest
from browserkit import ANALYST_PASSWORD, assert_no_violations, axe_violations

from tests.conftest import shared

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")
GO_LIVE = dt.date(2022, 2, 1)


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/evaluation-{name}.png", full_page=True)


def positive_share_by_month(path) -> pd.DataFrame:
    """The FFT "positive" measure (very good or good, of answers 1–5) by month for trust NEAS."""
    data = pd.read_csv(path, usecols=["Trust", "Date", "FFT categorical answer"])
    data = data[data["Trust"] == "NEAS"]
    data["Date"] = pd.to_datetime(data["Date"], dayfirst=True, errors="coerce")
    answers = data["FFT categorical answer"]
    data = data[
        answers.between(1, 5) & (data["Date"] >= "2021-09-01") & (data["Date"] < "2022-10-01")
    ]
    month = data["Date"].dt.to_period("M")
    share = data.groupby(month)["FFT categorical answer"].apply(
        lambda s: round((s <= 2).mean() * 100, 1)
    )
    return pd.DataFrame(
        {"Month": [p.strftime("%b %Y") for p in share.index], "Positive %": share.values}
    )


@pytest.fixture
def lead_site(site, tmp_path):
    from django.contrib.auth.models import Group, User

    from changebank.evaluate.models import Stage, TrackedChange

    lead = User.objects.create_user("browser-lead", password=ANALYST_PASSWORD)
    lead.groups.add(Group.objects.get(name="evaluation lead"))
    tracked = TrackedChange.objects.create(
        programme=site["programme"],
        title="Text message reminders before appointments",
        summary="Kept from the pandemic: a text the day before every appointment.",
        stage=Stage.EVALUATING,
        go_live=GO_LIVE,
    )
    series = positive_share_by_month(shared("pxtextmining", "v6framework_train.csv"))
    assert len(series) == 13
    csv_path = tmp_path / "fft-positive-neas.csv"
    series.to_csv(csv_path, index=False)
    return {**site, "lead": lead, "tracked": tracked, "series": series, "csv": csv_path}


def test_lead_records_an_evaluation_and_the_public_finds_it(axe_page, no_js_page, lead_site):
    page, base = axe_page, lead_site["base"]
    slug = lead_site["programme"].slug
    found: list[str] = []

    page.goto(f"{base}/sign-in/?next=/programmes/{slug}/evaluate/")
    page.locator("#id_username").fill("browser-lead")
    page.locator("#id_password").fill(ANALYST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/evaluate/$"))
    page.get_by_role("link", name=re.compile("Record an evaluation")).first.click()
    page.wait_for_url(re.compile(r"/evaluations/new/"))
    found += axe_violations(page, "the evaluation form")

    # A mistake first: 'Other' design without saying what it is.
    page.get_by_label("Title").fill("Text reminders and patient experience")
    page.get_by_label("Summary").fill(
        "Did text reminders change how patients rate the service? An interrupted time series "
        "of the Friends and Family Test, with interviews of patients who missed appointments."
    )
    page.get_by_role("radio", name="Ongoing").check()
    page.get_by_role("checkbox", name="Text message reminders before appointments").check()
    page.get_by_role("checkbox", name="Interrupted time series").check()
    page.get_by_role("checkbox", name="Interviews").check()
    page.get_by_role("checkbox", name="Other (describe below)").check()
    page.get_by_label("Lead organisation (optional)").fill("North East Ambulance Service")
    page.get_by_role("button", name="Save the evaluation").click()
    summary = page.locator(".nhsuk-error-summary")
    assert "Describe the other design" in summary.inner_text()
    assert page.title().startswith("Error:")
    found += axe_violations(page, "the evaluation form with an error")
    page.get_by_role("checkbox", name="Other (describe below)").uncheck()
    page.get_by_role("button", name="Save the evaluation").click()
    page.wait_for_url(re.compile(r"/evaluations/\d+/$"))
    assert (
        page.get_by_role("heading", level=1).inner_text() == "Text reminders and patient experience"
    )

    # A metric, then its series.
    page.get_by_text("Add a metric").click()
    page.get_by_label("Name of the measure").fill("Positive FFT answers")
    page.get_by_label("Unit (optional)").fill("%")
    page.get_by_role("radio", name="Higher is better").check()
    page.get_by_label("Target (optional)").fill("80")
    page.get_by_role("button", name="Add the metric").click()
    page.wait_for_url(re.compile(r"/metrics/\d+/$"))
    page.get_by_label("Upload the series").set_input_files(str(lead_site["csv"]))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(re.compile(r"/metrics/\d+/$"))
    assert (
        "13 points stored from fft-positive-neas.csv" in page.locator("[role=status]").inner_text()
    )

    from changebank.analysis import spc

    values = lead_site["series"]["Positive %"].tolist()
    frame = spc.xmr(values, improvement="increase", rebase_at=[5])
    chart = page.get_by_role("img", name=re.compile("Positive FFT answers"))
    assert chart.count() == 1
    assert (
        chart.locator("circle").count() + chart.locator("rect.cb-point, path.cb-point").count()
        >= 13
    )
    icons = page.locator(".cb-spc-icons")
    assert "Variation:" in icons.inner_text()
    assert "Assurance:" in icons.inner_text()
    assert icons.locator("svg title").count() == 2
    before_after = page.locator(".cb-before-after").inner_text()
    expected = spc.before_after(values, 5, "increase").summary
    assert expected in before_after
    table = page.locator("table.cb-spc-table")
    page.get_by_text(re.compile(r"The data behind the chart \(13 points\)")).click()
    assert table.locator("tbody tr").count() == 13
    assert f"{frame['mean'].iloc[-1]:.2f}" in table.inner_text()
    assert "go-live" in table.locator("tbody tr").nth(5).inner_text()
    shot(page, "metric")
    found += axe_violations(page, "the metric page")

    # Publish.
    page.get_by_role("link", name="Text reminders and patient experience").first.click()
    page.wait_for_url(re.compile(r"/evaluations/\d+/$"))
    found += axe_violations(page, "the evaluation page")
    with page.expect_navigation():
        page.get_by_role("button", name="Publish in the public repository").click()
    assert "Published" in page.locator("[role=status]").inner_text()
    shot(page, "detail")

    # A reader, without JavaScript, finds it by design type.
    reader = no_js_page
    reader.goto(f"{base}/")
    reader.get_by_role("link", name="Evaluations").first.click()
    reader.wait_for_url(re.compile(r"/evaluations/$"))
    reader.get_by_label("Design type (optional)").select_option("interrupted_time_series")
    reader.get_by_role("button", name="Apply filters").click()
    reader.wait_for_url(re.compile(r"design=interrupted_time_series"))
    assert "1 evaluation match" in reader.locator("#results").inner_text()
    reader.get_by_role("link", name="Text reminders and patient experience").click()
    reader.wait_for_url(re.compile(r"/evaluations/\d+/$"))
    assert reader.get_by_role("img", name=re.compile("Positive FFT answers")).count() == 1
    assert "North East Ambulance Service" in reader.content()

    page.goto(reader.url)
    found += axe_violations(page, "the public evaluation page")
    page.goto(f"{base}/evaluations/?design=interrupted_time_series")
    found += axe_violations(page, "the public repository")
    shot(page, "repository")
    assert_no_violations(found)
