"""Discrete choice experiments on the web: defining one (validation), the design, the public
pages (block assignment, one answer per set), and the results against simulated choices."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from changebank.decide.models import ChoiceAnswer, ChoiceExperiment, Status
from changebank.decide.views import choice

ATTRIBUTES = [
    {"name": "Waiting time", "levels": ["6 weeks", "3 weeks", "1 week"], "ordered": True},
    {"name": "Who you see", "levels": ["Any clinician", "Your own GP"], "ordered": False},
    {"name": "How", "levels": ["Phone", "Video", "In person"], "ordered": False},
]


def form_data(**overrides):
    data = {
        "title": "How should appointments work?",
        "description": "Choose between two ways of running appointments.",
        "n_sets": "8",
        "n_alternatives": "2",
        "n_blocks": "2",
        "attr-TOTAL_FORMS": "4",
        "attr-INITIAL_FORMS": "0",
        "attr-MIN_NUM_FORMS": "0",
        "attr-MAX_NUM_FORMS": "12",
    }
    for i, a in enumerate(ATTRIBUTES):
        data[f"attr-{i}-name"] = a["name"]
        data[f"attr-{i}-levels"] = "\n".join(a["levels"])
        if a["ordered"]:
            data[f"attr-{i}-ordered"] = "on"
    data.update(overrides)
    return data


def make_experiment(programme, *, n_sets=8, n_blocks=2, status=Status.DRAFT, seed=7, **kw):
    exp = ChoiceExperiment.objects.create(
        programme=programme,
        slug=kw.pop("slug", "appointments"),
        title="How should appointments work?",
        attributes=kw.pop("attributes", ATTRIBUTES),
        n_sets=n_sets,
        n_alternatives=kw.pop("n_alternatives", 2),
        n_blocks=n_blocks,
    )
    exp.design = choice.generate_design(exp, seed=seed)
    exp.status = status
    exp.save()
    return exp


@pytest.fixture
def staff(client, analyst):
    client.force_login(analyst)
    return client


def test_pages_need_the_analyst_role(client, programme, analyst):
    url = reverse("decide:experiments", args=[programme.slug])
    assert client.get(url).status_code == 302  # sign in first
    client.force_login(analyst)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "message", "anchor"),
    [
        (
            {"attr-1-name": "", "attr-1-levels": "", "attr-2-name": "", "attr-2-levels": ""},
            "Enter at least 2 attributes",
            "#id_attr-0-name",
        ),
        (
            {"attr-1-levels": "Your own GP"},
            "Enter at least 2 levels for Who you see",
            "#id_attr-1-levels",
        ),
        (
            {"attr-2-name": "waiting TIME"},
            "Each attribute needs a different name",
            "#id_attr-2-name",
        ),
        (
            {"attr-1-levels": "GP\ngp"},
            "Each level of Who you see must be different",
            "#id_attr-1-levels",
        ),
        ({"attr-3-levels": "A\nB"}, "Enter a name for this attribute", "#id_attr-3-name"),
        ({"n_blocks": "3"}, "must split evenly into blocks", "#id_n_blocks"),
        ({"n_sets": "1"}, "Enter at least 2 choice sets", "#id_n_sets"),
        ({"n_alternatives": "4"}, "Choose 2 or 3 options", "#id_n_alternatives"),
        ({"title": ""}, "Enter a title", "#id_title"),
    ],
)
def test_definition_is_validated(staff, programme, overrides, message, anchor):
    response = staff.post(
        reverse("decide:experiments", args=[programme.slug]), form_data(**overrides)
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "There is a problem" in page
    assert f'href="{anchor}"' in page  # the error summary links to the field
    assert not ChoiceExperiment.objects.exists()


def test_add_another_attribute_keeps_what_was_typed(staff, programme):
    response = staff.post(
        reverse("decide:experiments", args=[programme.slug]), form_data(action="more", title="")
    )
    page = response.content.decode()
    assert 'id="id_attr-4-name"' in page  # a fifth row
    assert "Waiting time" in page
    assert "There is a problem" not in page
    assert not ChoiceExperiment.objects.exists()


def test_define_generate_and_open(staff, programme):
    response = staff.post(reverse("decide:experiments", args=[programme.slug]), form_data())
    exp = ChoiceExperiment.objects.get()
    detail = reverse("decide:experiment_detail", args=[programme.slug, exp.slug])
    assert response.status_code == 302 and response["Location"] == detail
    assert exp.attributes == ATTRIBUTES
    assert (exp.n_sets, exp.n_alternatives, exp.n_blocks) == (8, 2, 2)
    # cannot open without a design
    staff.post(
        reverse("decide:experiment_status", args=[programme.slug, exp.slug]), {"status": "open"}
    )
    exp.refresh_from_db()
    assert exp.status == Status.DRAFT

    staff.post(reverse("decide:experiment_design", args=[programme.slug, exp.slug]))
    exp.refresh_from_db()
    sets = exp.design["sets"]
    assert len(sets) == 8
    assert sorted(s["set"] for s in sets) == list(range(8))
    assert [sum(1 for s in sets if s["block"] == b) for b in (0, 1)] == [4, 4]
    assert exp.design["d_efficiency"] > exp.design["baseline"] > 0
    for s in sets:
        a, b = s["alternatives"]
        assert a != b
        assert not choice.dominated(ATTRIBUTES, s["alternatives"])
    page = staff.get(detail).content.decode()
    assert "D-efficiency" in page and "Choice set 1" in page

    staff.post(
        reverse("decide:experiment_status", args=[programme.slug, exp.slug]), {"status": "open"}
    )
    exp.refresh_from_db()
    assert exp.status == Status.OPEN
    # an open experiment's design and definition do not change
    before = exp.design["sets"]
    staff.post(reverse("decide:experiment_design", args=[programme.slug, exp.slug]))
    exp.refresh_from_db()
    assert exp.design["sets"] == before
    assert (
        staff.get(reverse("decide:experiment_edit", args=[programme.slug, exp.slug])).status_code
        == 302
    )

    staff.post(
        reverse("decide:experiment_status", args=[programme.slug, exp.slug]), {"status": "closed"}
    )
    exp.refresh_from_db()
    assert exp.status == Status.CLOSED


def test_no_dominated_options_with_two_ordered_attributes(programme):
    attributes = [
        {"name": "Wait", "levels": ["Long", "Medium", "Short"], "ordered": True},
        {"name": "Cost", "levels": ["High", "Low"], "ordered": True},
        {"name": "Place", "levels": ["Clinic", "Home", "Online"], "ordered": False},
    ]
    exp = make_experiment(programme, attributes=attributes, n_sets=6, n_blocks=1)
    for s in exp.design["sets"]:
        a, b = s["alternatives"]
        a_better = a[0] >= b[0] and a[1] >= b[1] and (a[0] > b[0] or a[1] > b[1])
        b_better = b[0] >= a[0] and b[1] >= a[1] and (b[0] > a[0] or b[1] > a[1])
        assert not a_better and not b_better, s


def test_editing_a_draft_drops_its_design(staff, programme):
    exp = make_experiment(programme)
    url = reverse("decide:experiment_edit", args=[programme.slug, exp.slug])
    assert "Waiting time" in staff.get(url).content.decode()
    staff.post(url, form_data(n_sets="10"))
    exp.refresh_from_db()
    assert exp.n_sets == 10 and exp.design == {}


def test_public_page_only_for_open_experiments_of_public_programmes(client, programme):
    exp = make_experiment(programme, status=Status.DRAFT)
    url = reverse("decide:experiment_take", args=[programme.slug, exp.slug])
    assert client.get(url).status_code == 404
    exp.status = Status.OPEN
    exp.save()
    assert client.get(url).status_code == 200
    programme.visibility = "private"
    programme.save()
    assert client.get(url).status_code == 404
    programme.visibility = "unlisted"
    programme.save()
    exp.status = Status.CLOSED
    exp.save()
    response = client.get(url)
    assert response.status_code == 200 and "This experiment is closed" in response.content.decode()
    assert client.post(url, {"choice_set": "0", "chosen": "0"}).status_code == 200
    assert not ChoiceAnswer.objects.exists()


def answer_all(client: Client, url: str, pick: int = 0) -> int:
    """Answer every set shown; return how many."""
    n = 0
    while True:
        page = client.get(url).content.decode()
        match = re.search(r'name="choice_set" value="(\d+)"', page)
        if not match:
            assert "Thank you" in page
            return n
        response = client.post(url, {"choice_set": match.group(1), "chosen": str(pick)})
        assert response.status_code == 302
        n += 1


def test_answers_are_recorded_once_per_set(client, programme):
    exp = make_experiment(programme, status=Status.OPEN, n_sets=8, n_blocks=2)
    url = reverse("decide:experiment_take", args=[programme.slug, exp.slug])
    page = client.get(url).content.decode()
    assert "Choice 1 of 4" in page
    assert '<th scope="row" class="nhsuk-table__header">Waiting time</th>' in page
    assert "Option A" in page and "Option B" in page
    first = int(re.search(r'name="choice_set" value="(\d+)"', page).group(1))

    # no choice: an error, linked to the radios
    response = client.post(url, {"choice_set": str(first)})
    assert response.status_code == 400
    assert 'href="#chosen"' in response.content.decode()
    # an option that does not exist
    assert client.post(url, {"choice_set": str(first), "chosen": "5"}).status_code == 400
    assert not ChoiceAnswer.objects.exists()

    assert client.post(url, {"choice_set": str(first), "chosen": "1"}).status_code == 302
    assert client.post(url, {"choice_set": str(first), "chosen": "0"}).status_code == 302  # replay
    answer = ChoiceAnswer.objects.get()
    assert (answer.choice_set, answer.chosen) == (first, 1)
    assert "Choice 2 of 4" in client.get(url).content.decode()
    # a set of another block is not accepted
    other = next(s["set"] for s in exp.design["sets"] if s["block"] != answer.block)
    client.post(url, {"choice_set": str(other), "chosen": "0"})
    assert not ChoiceAnswer.objects.filter(choice_set=other).exists()

    assert answer_all(client, url) == 3
    assert ChoiceAnswer.objects.count() == 4
    assert ChoiceAnswer.objects.values("respondent").distinct().count() == 1
    assert set(ChoiceAnswer.objects.values_list("block", flat=True)) == {answer.block}
    assert "Thank you" in client.get(url).content.decode()


def test_blocks_are_assigned_to_the_block_with_fewest_respondents(programme):
    exp = make_experiment(programme, status=Status.OPEN, n_sets=9, n_blocks=3)
    url = reverse("decide:experiment_take", args=[programme.slug, exp.slug])
    for _ in range(9):
        client = Client()
        client.get(url)
        match = re.search(r'name="choice_set" value="(\d+)"', client.get(url).content.decode())
        client.post(url, {"choice_set": match.group(1), "chosen": "0"})
    assert choice.block_counts(exp) == {0: 3, 1: 3, 2: 3}

    # uneven: the next respondent goes to the emptiest block
    for k in range(2):
        ChoiceAnswer.objects.create(
            experiment=exp, respondent=f"x{k}", block=0, choice_set=0, chosen=0
        )
    ChoiceAnswer.objects.create(experiment=exp, respondent="y", block=2, choice_set=6, chosen=0)
    assert choice.block_counts(exp) == {0: 5, 1: 3, 2: 4}
    client = Client()
    client.get(url)
    key = client.session[f"dce-{exp.pk}-respondent"]
    assert client.session[f"dce-{exp.pk}-block"] == 1
    assert len(key) >= 20
    # the block is kept for the respondent
    client.get(url)
    assert client.session[f"dce-{exp.pk}-block"] == 1


# --- results ------------------------------------------------------------------------------------

TRUE = {  # utilities: the first level of each attribute is 0
    0: [0.0, 0.8, 1.6],  # shorter waits are better, in order
    1: [0.0, 0.5],  # own GP is preferred
    2: [0.0, -0.6, 0.4],  # video least liked, in person most
}


def simulate(exp, n_respondents, seed=1, start=0):
    rng = np.random.default_rng(seed)
    sets = exp.design["sets"]
    rows = []
    for r in range(start, start + n_respondents):
        block = r % exp.n_blocks
        for s in sets:
            if s["block"] != block:
                continue
            u = np.array(
                [sum(TRUE[k][lv] for k, lv in enumerate(alt)) for alt in s["alternatives"]]
            )
            u = u + rng.gumbel(size=len(u))
            rows.append(
                ChoiceAnswer(
                    experiment=exp,
                    respondent=f"sim-{r}",
                    block=block,
                    choice_set=s["set"],
                    chosen=int(np.argmax(u)),
                )
            )
    ChoiceAnswer.objects.bulk_create(rows)


def test_results_wait_for_enough_answers(staff, programme):
    exp = make_experiment(programme, status=Status.OPEN)
    simulate(exp, choice.MIN_RESPONDENTS - 1)
    url = reverse("decide:experiment_results", args=[programme.slug, exp.slug])
    page = staff.get(url).content.decode()
    assert "Not enough answers yet" in page
    assert "1 more to go" in page


def test_results_recover_the_simulated_preferences(staff, programme):
    exp = make_experiment(programme, status=Status.OPEN, n_sets=12, n_blocks=2, seed=3)
    simulate(exp, 400)
    fit = choice.estimate(exp, choice.answer_rows(exp))
    coef = fit.coef_
    assert fit.n_respondents_ == 400
    # the right signs
    assert coef["a0[1]"] > 0 and coef["a0[2]"] > 0 and coef["a1[1]"] > 0
    assert coef["a2[1]"] < 0 < coef["a2[2]"]
    # and the right order
    assert coef["a0[2]"] > coef["a0[1]"]
    assert coef["a0[2]"] > coef["a2[2]"]
    for name, truth in (("a0[1]", 0.8), ("a0[2]", 1.6), ("a1[1]", 0.5), ("a2[1]", -0.6)):
        assert abs(coef[name] - truth) < 4 * fit.se_[name], name

    url = reverse("decide:experiment_results", args=[programme.slug, exp.slug])
    response = staff.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Relative importance of each attribute" in page
    assert '<svg role="img"' in page
    # importance: waiting time first (range 1.6), then how (1.0), then who (0.5)
    table = page[page.index('id="importance-table"') :]
    order = [table.index(name) for name in ("Waiting time", "How", "Who you see")]
    assert order == sorted(order)
    assert "Pseudo-R²" in page and "Log-likelihood" in page
    assert "How this was computed" in page
    # shares of the default profiles: best against worst
    shares = page[page.index('id="shares-table"') :]
    # each row: share, standard error (then the interval)
    first, second = re.findall(r'cb-numeric">([\d.]+)%</td>', shares)[0:4:2]
    assert float(first) > 80 > 20 > float(second)


def test_composed_profiles_and_their_errors(staff, programme):
    exp = make_experiment(programme, status=Status.OPEN, n_sets=12, n_blocks=2, seed=3)
    simulate(exp, 60)
    url = reverse("decide:experiment_results", args=[programme.slug, exp.slug])
    params = {"p0-0": "2", "p0-1": "1", "p0-2": "2", "p1-0": "2", "p1-1": "1", "p1-2": "2"}
    params.update({"p2-0": "0", "p2-1": "0", "p2-2": "0"})
    page = staff.get(url, params).content.decode()
    shares = page[page.index('id="shares-table"') :]
    assert shares.count('<th scope="row">Profile') == 3
    # profiles 1 and 2 are the same, so they share equally
    values = re.findall(r'<td class="nhsuk-table__cell cb-numeric">([\d.]+)%</td>', shares)
    assert values[0] == values[2]

    params["p3-0"] = "1"  # a fourth profile only half chosen
    page = staff.get(url, params).content.decode()
    assert "Choose a level of every attribute for profile 4" in page
    assert 'href="#id_p3-1"' in page
    assert 'id="shares-table"' not in page
