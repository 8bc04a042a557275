"""The public catalogue, its permalinks, "you said, we did", "add your experience" and the
analysts' publishing page."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from changebank.evaluate.models import Evaluation, Stage, TrackedChange
from changebank.listen.models import (
    REFERENCE_ALPHABET,
    Programme,
    Question,
    Respondent,
    Submission,
)
from changebank.share import catalogue
from changebank.share.models import Experience, PublishedTheme
from changebank.understand.models import (
    Code,
    CodeAssignment,
    DistinctChange,
    Origin,
    SubmissionReading,
    Theme,
)

pytestmark = pytest.mark.django_db

CONSENT = "I agree that my words can be quoted, without my name, in the public catalogue."
APPROVED, PENDING = Submission.Moderation.APPROVED, Submission.Moderation.PENDING


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()  # the per-address rate limits live in the local-memory cache
    yield
    cache.clear()


class World:
    """A public programme with a published theme of five approved submissions from four people,
    one change that is being adopted, and an unpublished theme."""

    def __init__(self) -> None:
        self.programme = Programme.objects.create(
            title="Beneficial changes",
            slug="keep-it",
            visibility=Programme.Visibility.PUBLIC,
            consent_text=CONSENT,
        )
        p = self.programme
        self.keep_q = Question.objects.create(
            programme=p, key="keep", prompt="What would you keep?", stance="keep"
        )
        self.never_q = Question.objects.create(
            programme=p, key="never", prompt="What should never come back?", stance="never_again"
        )
        patient1 = Respondent.objects.create(programme=p, role="patient")
        patient2 = Respondent.objects.create(programme=p, role="patient")
        staff = Respondent.objects.create(programme=p, role="staff")
        quiet = Respondent.objects.create(programme=p, role="")
        self.n = 0

        def sub(text, respondent=None, question=None, status=APPROVED, consent=True, ref=None):
            self.n += 1
            return Submission.objects.create(
                programme=p,
                question=question or self.keep_q,
                respondent=respondent,
                text=text,
                source=Submission.Source.FORM,
                moderation_status=status,
                consent_given=consent,
                reference=ref or f"CB-AAAA-{REFERENCE_ALPHABET[self.n] * 4}",
                dedupe_key=f"k{self.n}",
            )

        self.reference = "CB-7K3M-Q9XD"
        self.a = sub(
            "Video follow-ups saved me a day off work. Call Dr Sarah Jones on 07700 900123.",
            patient1,
            ref=self.reference,
        )
        self.b = sub("Being seen by video meant no bus journey at all for me", patient1)
        self.c = sub(
            "Secret wording: I never agreed to be quoted about video", patient2, consent=False
        )
        self.d = sub(
            "Video calls with frail patients are hard to do safely every time",
            staff,
            question=self.never_q,
        )
        self.e = sub(
            "Phone and video appointments suited our whole family well", None, consent=None
        )
        self.f = sub("Still waiting to be moderated, about video", quiet, status=PENDING)
        self.g = sub("A quiet person who said nothing about their role", quiet)

        self.theme = Theme.objects.create(
            programme=p,
            label="Remote appointments",
            meaning="People want to keep seeing clinicians by video and phone.",
        )
        self.code = Code.objects.create(programme=p, theme=self.theme, label="Video consultations")
        for s in (self.a, self.b, self.c, self.d, self.e, self.f, self.g):
            CodeAssignment.objects.create(submission=s, code=self.code)
        self.change = DistinctChange.objects.create(
            programme=p,
            code=self.code,
            text="Keep video follow-ups instead of a trip to the hospital",
            count=3,
        )
        self.change.members.add(self.a, self.c, self.d)
        self.tracked = TrackedChange.objects.create(
            programme=p,
            change=self.change,
            title="Video follow-ups",
            stage=Stage.ADOPTING,
            rsa="amplify",
        )
        self.evaluation = Evaluation.objects.create(
            programme=p, title="Video follow-ups study", summary="A study", public=True
        )
        self.evaluation.changes.add(self.tracked)
        draft = Evaluation.objects.create(
            programme=p, title="Draft evaluation", summary="Not yet", public=False
        )
        draft.changes.add(self.tracked)
        self.second = DistinctChange.objects.create(
            programme=p, code=self.code, text="Offer phone appointments to every family", count=1
        )
        self.second.members.add(self.e)
        PublishedTheme.objects.create(theme=self.theme)

        self.hidden_theme = Theme.objects.create(programme=p, label="Discharge lounges")
        hidden_code = Code.objects.create(programme=p, theme=self.hidden_theme, label="Lounge")
        h = sub("The discharge lounge got me home sooner", patient2)
        CodeAssignment.objects.create(submission=h, code=hidden_code)
        self.hidden_change = DistinctChange.objects.create(
            programme=p, code=hidden_code, text="Keep the discharge lounge", count=1
        )
        self.hidden_change.members.add(h)


@pytest.fixture
def world(db):
    return World()


def get(client, name, *args, **params):
    return client.get(reverse(name, args=args), params)


# --- cards ----------------------------------------------------------------------------------------


def test_theme_card_counts_people_groups_and_stance(world):
    card = catalogue.theme_card(world.theme)
    # a, b (patient 1), c (patient 2), d (staff), e (no respondent), g (role not given); f pending
    assert card.submissions == 6
    assert card.people == 5
    assert [(g.group, g.count, g.key) for g in card.groups] == [
        ("Patient", 2, "patient"),
        ("Staff", 1, "staff"),
    ]
    assert (card.keep, card.never_again, card.stance) == (5, 1, "keep")
    assert card.programme_slug == "keep-it"
    assert card.url == f"/catalogue/themes/{world.theme.pk}/"
    assert card.invite_experiences is True
    assert card.people_phrase == "5 people raised this, including patients (2) and staff (1)"
    assert [c.id for c in card.changes] == [world.change.pk, world.second.pk]
    assert card.change_count == 2


def test_quotes_only_from_publishable_submissions_and_redacted(world):
    texts = [q.text for q in catalogue.theme_card(world.theme, quotes=10).quotes]
    joined = " ".join(texts)
    assert "Secret wording" not in joined  # consent refused
    assert "Phone and video appointments" not in joined  # consent unknown, basis "consent"
    assert "Still waiting" not in joined  # pending
    assert "Sarah" not in joined and "07700" not in joined
    assert any("[PHONE]" in t for t in texts)
    quote = next(
        q for q in catalogue.theme_card(world.theme, quotes=10).quotes if "[PHONE]" in q.text
    )
    assert quote.role == "Patient"

    world.programme.publication_basis = "all"
    world.programme.save()
    texts = [q.text for q in catalogue.theme_card(world.theme, quotes=10).quotes]
    assert any("Phone and video appointments" in t for t in texts)
    assert not any("Secret wording" in t for t in texts)


def test_chosen_quotes_come_first_when_publishable(world):
    world.theme.chosen_quotes = [world.b.text, world.c.text]
    world.theme.save()
    quotes = catalogue.theme_card(world.theme, quotes=1).quotes
    assert [q.text for q in quotes] == [world.b.text]


def test_change_card(world):
    card = catalogue.change_card(world.change, quotes=5)
    assert card.title == "Video follow-ups"  # the tracked change's title
    assert card.people == 3 and card.submissions == 3
    assert [(g.group, g.count) for g in card.groups] == [("Patient", 2), ("Staff", 1)]
    assert (card.keep, card.never_again, card.stance) == (2, 1, "mixed")
    assert (card.status, card.stage) == ("Adopting", "adopting")
    assert card.rsa.startswith("Amplify")
    assert card.evaluations == [
        (
            "Video follow-ups study",
            reverse("evaluate:public_evaluation", args=[world.evaluation.pk]),
        )
    ]
    assert card.theme_id == world.theme.pk and card.theme_label == "Remote appointments"
    assert sorted(q.text for q in card.quotes) == [
        "Video calls with frail patients are hard to do safely every time",
        "Video follow-ups saved me a day off work. Call Dr [NAME] on [PHONE].",
    ]  # not c: its contributor did not consent
    second = catalogue.change_card(world.second)
    assert (second.status, second.stage, second.rsa, second.evaluations) == (
        "Not yet decided",
        "",
        "",
        [],
    )
    assert second.title == "Offer phone appointments to every family"


def test_human_reading_overrides_the_question_stance(world):
    SubmissionReading.objects.create(submission=world.d, stance="keep", origin=Origin.HUMAN)
    assert catalogue.change_card(world.change).stance == "keep"
    SubmissionReading.objects.create(submission=world.a, stance="concern", origin=Origin.AI)
    assert catalogue.change_card(world.change).stance == "keep"  # AI reading after the question


def test_stance_rule():
    assert catalogue.stance_of(0, 0) == ""
    assert catalogue.stance_of(3, 1) == "keep"
    assert catalogue.stance_of(2, 1) == "mixed"
    assert catalogue.stance_of(0, 4) == "never_again"


def test_shared_codes_count_once(world):
    other = Theme.objects.create(programme=world.programme, label="Digital care")
    own = Code.objects.create(programme=world.programme, theme=other, label="Apps")
    CodeAssignment.objects.create(submission=world.a, code=own)
    world.code.also_in.add(other)
    PublishedTheme.objects.create(theme=other)
    card = catalogue.theme_card(other)
    assert card.submissions == 6 and card.people == 5  # a counted once
    assert {c.id for c in card.changes} == {world.change.pk, world.second.pk}
    plain = catalogue.theme_cards([world.theme, other])
    assert [c.submissions for c in plain] == [6, 6]


def test_cards_use_a_fixed_number_of_queries(world):
    more = []
    for i in range(5):
        t = Theme.objects.create(programme=world.programme, label=f"Theme {i}")
        code = Code.objects.create(programme=world.programme, theme=t, label=f"Code {i}")
        for s in (world.a, world.b, world.d):
            CodeAssignment.objects.create(submission=s, code=code)
        for j in range(3):
            ch = DistinctChange.objects.create(
                programme=world.programme, code=code, text=f"Change {i}.{j}", count=1
            )
            ch.members.add(world.a, world.d)
        PublishedTheme.objects.create(theme=t)
        more.append(t)
    themes = list(catalogue.search_themes().select_related("programme"))
    with CaptureQueriesContext(connection) as few:
        catalogue.theme_cards(themes[:1], quotes=0, changes=3)
    with CaptureQueriesContext(connection) as many:
        cards = catalogue.theme_cards(themes, quotes=0, changes=2)
    assert [len(c.changes) for c in cards if c.id != world.theme.pk] == [2] * 5
    assert [c.change_count for c in cards if c.id != world.theme.pk] == [3] * 5
    assert len(many) == len(few)
    changes = list(catalogue.search_changes())
    with CaptureQueriesContext(connection) as few:
        catalogue.change_cards(changes[:1])
    with CaptureQueriesContext(connection) as many:
        catalogue.change_cards(changes)
    assert len(many) == len(few) and len(changes) == 17


# --- what is published ----------------------------------------------------------------------------


def test_only_published_themes_and_changes_of_visible_programmes(world):
    assert list(catalogue.published_themes()) == [world.theme]
    assert set(catalogue.published_changes()) == {world.change, world.second}
    world.programme.visibility = Programme.Visibility.UNLISTED
    world.programme.save()
    assert list(catalogue.published_themes()) == [world.theme]
    assert list(catalogue.search_themes()) == []  # unlisted: not listed
    assert list(catalogue.search_themes(programme=world.programme)) == [world.theme]
    world.programme.visibility = Programme.Visibility.PRIVATE
    world.programme.save()
    assert not catalogue.published_themes().exists()
    assert not catalogue.published_changes().exists()


def test_permalinks_404_unless_published(client, world):
    assert get(client, "share:catalogue_theme", world.theme.pk).status_code == 200
    assert get(client, "share:catalogue_change", world.change.pk).status_code == 200
    assert get(client, "share:catalogue_theme", world.hidden_theme.pk).status_code == 404
    assert get(client, "share:catalogue_change", world.hidden_change.pk).status_code == 404
    world.programme.visibility = Programme.Visibility.PRIVATE
    world.programme.save()
    assert get(client, "share:catalogue_theme", world.theme.pk).status_code == 404
    assert get(client, "share:catalogue_change", world.change.pk).status_code == 404
    world.programme.visibility = Programme.Visibility.PUBLIC
    world.programme.save()
    PublishedTheme.objects.filter(theme=world.theme).delete()
    assert get(client, "share:catalogue_theme", world.theme.pk).status_code == 404
    assert get(client, "share:catalogue_change", world.change.pk).status_code == 404


# --- pages ----------------------------------------------------------------------------------------


def test_catalogue_page(client, world):
    response = get(client, "share:catalogue")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Remote appointments" in html
    assert "5 people raised this, including patients (2) and staff (1)" in html
    assert "Discharge lounges" not in html
    assert "1 theme and 2 distinct changes" in html
    assert "Secret wording" not in html and "07700" not in html
    changes = get(client, "share:catalogue", show="changes").content.decode()
    assert "Video follow-ups" in changes and "Adopting" in changes
    assert "Video follow-ups study" in changes and "Draft evaluation" not in changes
    assert "Keep the discharge lounge" not in changes


def test_search(client, world):
    def found(**params):
        return (
            [t.pk for t in catalogue.search_themes(**params)],
            [c.pk for c in catalogue.search_changes(**params)],
        )

    assert found(q="remote") == ([world.theme.pk], [])
    assert found(q="hospital trip") == ([world.theme.pk], [world.change.pk])  # change text
    assert found(q="VIDEO follow") == ([world.theme.pk], [world.change.pk])  # tracked title
    assert found(q="clinicians") == ([world.theme.pk], [])  # meaning
    assert found(q="lounge") == ([], [])  # not published
    assert found(q="secret") == ([], [])  # submission texts are not searched
    html = get(client, "share:catalogue", q="hospital", show="changes").content.decode()
    assert "<mark>hospital</mark>" in html
    assert (
        "1 theme and 0 distinct changes match your search"
        in get(client, "share:catalogue", q="remote").content.decode()
    )


def test_filters(world):
    def found(**params):
        return (
            [t.pk for t in catalogue.search_themes(**params)],
            [c.pk for c in catalogue.search_changes(**params)],
        )

    both = [world.change.pk, world.second.pk]
    assert found(group="staff") == ([world.theme.pk], [world.change.pk])
    assert found(group="carer") == ([], [])
    assert found(stage="adopting") == ([world.theme.pk], [world.change.pk])
    assert found(stage="none") == ([world.theme.pk], [world.second.pk])
    assert found(stage="retired") == ([], [])
    assert found(rsa="amplify") == ([world.theme.pk], [world.change.pk])
    assert found(rsa="end") == ([], [])
    assert found(stance="mixed") == ([], [world.change.pk])
    assert found(stance="keep") == ([world.theme.pk], [world.second.pk])
    assert found(stance="never_again") == ([], [])
    assert found(programme=world.programme)[1] == both
    other = Programme.objects.create(title="Other", slug="other", visibility="public")
    assert found(programme=other) == ([], [])
    themes, changes = catalogue.search_catalogue("video", stage="adopting")
    assert [t.id for t in themes] == [world.theme.pk] and [c.id for c in changes] == [
        world.change.pk
    ]


def test_catalogue_filters_in_the_page(client, world):
    html = get(
        client, "share:catalogue", show="changes", group="staff", stage="adopting", rsa="amplify"
    ).content.decode()
    assert "0 themes" not in html and "Video follow-ups" in html
    assert "Offer phone appointments" not in html
    bad = get(client, "share:catalogue", stage="nonsense", page="99")
    assert bad.status_code == 200


def test_theme_page(client, world):
    html = get(client, "share:catalogue_theme", world.theme.pk).content.decode()
    assert "People want to keep seeing clinicians" in html
    assert "People who raised this theme, by group" in html
    assert "Did not say" in html  # e (no respondent) and g (no role)
    assert "[PHONE]" in html and "07700" not in html and "Secret wording" not in html
    assert "Video follow-ups" in html and "Adopting" in html and "Amplify" in html
    assert reverse("evaluate:public_evaluation", args=[world.evaluation.pk]) in html
    assert "Add your experience" in html and CONSENT in html
    world.theme.publication.invite_experiences = False
    world.theme.publication.save()
    html = get(client, "share:catalogue_theme", world.theme.pk).content.decode()
    assert "Add your experience" not in html
    assert get(client, "share:add_experience", world.theme.pk).status_code == 404


def test_change_page(client, world):
    html = get(client, "share:catalogue_change", world.change.pk).content.decode()
    assert "Video follow-ups" in html and "Keep video follow-ups instead" in html
    assert "Adopting" in html and "Amplify" in html and "Mixed views" in html
    assert "Video follow-ups study" in html and "Draft evaluation" not in html
    assert "Remote appointments" in html
    assert "Dr [NAME] on [PHONE]" in html and "Sarah" not in html


def test_change_text_is_redacted(client, world):
    world.second.text = "Ring Nurse Jenny on 07700 900123 for a phone appointment"
    world.second.save()
    html = get(client, "share:catalogue_change", world.second.pk).content.decode()
    assert "Jenny" not in html and "07700" not in html and "[PHONE]" in html


# --- you said, we did -----------------------------------------------------------------------------


def test_reference_format():
    assert catalogue.normalise_reference(" cb-7k3m-q9xd ") == "CB-7K3M-Q9XD"
    assert catalogue.normalise_reference("CB 7K3M Q9XD") == "CB-7K3M-Q9XD"
    assert catalogue.normalise_reference("7k3mq9xd") == "CB-7K3M-Q9XD"
    assert catalogue.normalise_reference("CB-7K3M-Q9X") is None
    assert catalogue.normalise_reference("CB-7K3M-Q9X0") is None  # 0 is never used
    assert catalogue.normalise_reference("") is None


def test_you_said_found(client, world):
    response = get(client, "share:you_said", reference="cb 7k3m q9xd")
    html = response.content.decode()
    assert response.status_code == 200
    assert "CB-7K3M-Q9XD" in html
    assert "Dr [NAME] on [PHONE]" in html and "Sarah" not in html
    assert "Remote appointments" in html and "Video follow-ups" in html and "Adopting" in html
    assert "Offer phone appointments" not in html  # a change without this submission
    result = catalogue.you_said("CB-7K3M-Q9XD")
    assert [c.id for c in result.changes] == [world.change.pk]
    assert [t.label for t in result.themes] == ["Remote appointments"]
    assert not result.pending


def test_you_said_only_published(client, world):
    PublishedTheme.objects.all().delete()
    result = catalogue.you_said(world.reference)
    assert result.themes == [] and result.changes == [] and result.texts
    html = get(client, "share:you_said", reference=world.reference).content.decode()
    assert "not yet part of a published theme" in html


def test_you_said_pending(client, world):
    html = get(client, "share:you_said", reference=world.f.reference).content.decode()
    assert "still being reviewed" in html
    assert "Still waiting to be moderated" not in html


def test_you_said_rejected(client, world):
    Submission.objects.filter(pk=world.f.pk).update(moderation_status="rejected")
    result = catalogue.you_said(world.f.reference)
    assert result.not_included and not result.pending and result.texts == []


def test_you_said_not_found_and_malformed(client, world):
    html = get(client, "share:you_said", reference="CB-2222-2222").content.decode()
    assert "We could not find that reference number" in html
    response = get(client, "share:you_said", reference="hello")
    assert response.status_code == 200
    html = response.content.decode()
    assert "There is a problem" in html and "Enter a reference number in the format" in html
    assert (
        "Enter your reference number"
        in get(client, "share:you_said", reference="").content.decode()
    )
    assert "Find my answers" in get(client, "share:you_said").content.decode()


def test_you_said_private_programme_is_not_found(world):
    world.programme.visibility = Programme.Visibility.PRIVATE
    world.programme.save()
    assert catalogue.you_said(world.reference) is None


def test_you_said_rate_limit(client, world, settings):
    from changebank.share.views import catalogue as views

    for _ in range(views.YOU_SAID_LIMIT):
        assert get(client, "share:you_said", reference="CB-2222-2222").status_code == 200
    response = get(client, "share:you_said", reference=world.reference)
    assert response.status_code == 429
    assert "Too many look-ups" in response.content.decode()
    assert "[PHONE]" not in response.content.decode()
    # another address is not limited
    other = client.get(
        reverse("share:you_said"), {"reference": world.reference}, REMOTE_ADDR="10.0.0.9"
    )
    assert other.status_code == 200


# --- add your experience --------------------------------------------------------------------------


def post_experience(client, world, **data):
    payload = {"text": "My video appointment went wrong twice", "role": "carer", "consent": "on"}
    payload.update(data)
    return client.post(reverse("share:add_experience", args=[world.theme.pk]), payload)


def test_add_experience(client, world):
    response = post_experience(client, world)
    assert response.status_code == 302
    assert response["Location"] == reverse("share:experience_done", args=[world.theme.pk])
    experience = Experience.objects.get()
    s = experience.submission
    assert experience.theme == world.theme
    assert s.programme == world.programme and s.source == Submission.Source.EXPERIENCE
    assert s.moderation_status == PENDING and s.consent_given is True
    assert s.consent_wording == CONSENT
    assert s.question.key == "experience" and s.question.on_form is False
    assert s.question.prompt == "Add your experience"
    assert s.respondent.role == "carer"
    assert catalogue.normalise_reference(s.reference) == s.reference
    done = client.get(response["Location"]).content.decode()
    assert s.reference in done
    # a second one reuses the question
    post_experience(client, world, role="")
    assert Question.objects.filter(programme=world.programme, key="experience").count() == 1
    # pending experiences change no public number
    assert catalogue.theme_card(world.theme).submissions == 6


def test_add_experience_validation(client, world):
    response = post_experience(client, world, text="")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter your experience" in html and "There is a problem" in html
    html = post_experience(client, world, text="x" * 5001).content.decode()
    assert "5,000 characters or fewer" in html
    html = post_experience(client, world, consent="").content.decode()
    assert "Confirm that you agree" in html
    html = post_experience(client, world, role="king").content.decode()
    assert "Select a valid choice" in html
    assert not Experience.objects.exists() and not Submission.objects.filter(source="experience")


def test_add_experience_without_consent_wording(client, world):
    world.programme.consent_text = ""
    world.programme.save()
    assert post_experience(client, world, consent="").status_code == 302
    assert Experience.objects.get().submission.consent_given is None


def test_add_experience_honeypot(client, world):
    html = post_experience(client, world, website="http://spam.example").content.decode()
    assert "Leave the field called ‘website’ empty" in html
    assert not Experience.objects.exists()


def test_add_experience_rate_limit(client, world, settings):
    settings.CHANGEBANK_FORM_RATE_LIMIT = 2
    assert post_experience(client, world).status_code == 302
    assert post_experience(client, world).status_code == 302
    response = post_experience(client, world)
    assert response.status_code == 429
    assert Experience.objects.count() == 2


def test_add_experience_only_on_published_themes(client, world):
    response = client.post(
        reverse("share:add_experience", args=[world.hidden_theme.pk]),
        {"text": "hello", "consent": "on"},
    )
    assert response.status_code == 404
    assert get(client, "share:experience_done", world.theme.pk).status_code == 302


# --- publishing -----------------------------------------------------------------------------------


def test_publishing_needs_permission(client, world, analyst):
    url = reverse("share:publishing", args=[world.programme.slug])
    assert client.get(url).status_code == 302  # sign in first
    from django.contrib.auth.models import User

    reader = User.objects.create_user("reader", password="a-long-test-password")
    client.force_login(reader)
    assert client.get(url).status_code == 403
    publish = reverse("share:publish_theme", args=[world.programme.slug, world.hidden_theme.pk])
    assert client.post(publish).status_code == 403
    assert not PublishedTheme.objects.filter(theme=world.hidden_theme).exists()


def test_publish_toggle_and_withdraw(client, world, analyst):
    client.force_login(analyst)
    slug = world.programme.slug
    Experience.objects.create(
        theme=world.theme,
        submission=Submission.objects.create(
            programme=world.programme,
            text="An experience",
            source=Submission.Source.EXPERIENCE,
            moderation_status=PENDING,
            reference="CB-3333-3333",
            dedupe_key="exp",
        ),
    )
    html = client.get(reverse("share:publishing", args=[slug])).content.decode()
    assert "Remote appointments" in html and "Discharge lounges" in html
    assert "source=experience" in html
    row = html.split(f'id="theme-{world.theme.pk}"')[1].split("</tr>")[0]
    assert '<td class="nhsuk-table__cell cb-numeric">1<br>' in row  # one waiting
    response = client.post(
        reverse("share:publish_theme", args=[slug, world.hidden_theme.pk]),
        {"invite_experiences": "on"},
    )
    assert response.status_code == 302
    publication = PublishedTheme.objects.get(theme=world.hidden_theme)
    assert publication.invite_experiences and publication.published_by == analyst
    assert get(client, "share:catalogue_change", world.hidden_change.pk).status_code == 200
    client.post(reverse("share:publish_theme", args=[slug, world.hidden_theme.pk]), {})
    publication.refresh_from_db()
    assert publication.invite_experiences is False
    client.post(reverse("share:unpublish_theme", args=[slug, world.hidden_theme.pk]))
    assert not PublishedTheme.objects.filter(theme=world.hidden_theme).exists()
    assert get(client, "share:catalogue_theme", world.hidden_theme.pk).status_code == 404
    assert (
        client.get(reverse("share:publish_theme", args=[slug, world.theme.pk])).status_code == 405
    )


def test_counts_of_large_themes_are_cached(world, monkeypatch):
    monkeypatch.setattr(catalogue, "CACHE_FROM", 3)
    first = catalogue.theme_card(world.theme, quotes=0, changes=0)
    CodeAssignment.objects.filter(submission=world.g).delete()
    assert catalogue.theme_card(world.theme, quotes=0, changes=0).submissions == first.submissions
    world.theme.label = "Remote care"
    world.theme.save()  # a new updated_at: counted afresh
    assert catalogue.theme_card(world.theme, quotes=0, changes=0).submissions == 5
    monkeypatch.setattr(catalogue, "CACHE_FROM", 10_000)
    cache.clear()
    assert catalogue.theme_card(world.theme, quotes=0, changes=0).never_again == 1
    SubmissionReading.objects.create(submission=world.d, stance="keep", origin=Origin.HUMAN)
    assert catalogue.theme_card(world.theme, quotes=0, changes=0).never_again == 0  # small: exact


@pytest.mark.parametrize("list_max", [0, 20_000])
def test_change_stance_filter_both_ways(world, monkeypatch, list_max):
    monkeypatch.setattr(catalogue, "STANCE_LIST_MAX", list_max)
    monkeypatch.setattr(catalogue, "STANCE_CACHE_FROM", 1)  # cached list, keyed by the changes
    for _ in range(2):
        assert [c.pk for c in catalogue.search_changes(stance="mixed")] == [world.change.pk]
        assert [c.pk for c in catalogue.search_changes(stance="keep")] == [world.second.pk]
        assert [c.pk for c in catalogue.search_changes(stance="never_again")] == []
    world.second.name = "Phone appointments"
    world.second.save()
    SubmissionReading.objects.create(submission=world.e, stance="concern", origin=Origin.HUMAN)
    assert [c.pk for c in catalogue.search_changes(stance="never_again")] == [world.second.pk]
