"""The Decide stage's front page."""

from __future__ import annotations

from django.urls import reverse


def test_overview_lists_the_methods(client, programme, analyst):
    url = reverse("decide:overview", args=[programme.slug])
    assert client.get(url).status_code == 302  # sign in first
    client.force_login(analyst)
    page = client.get(url).content.decode()
    for title in ("Panels and Delphi rounds", "Pairwise voting", "Opinion groups"):
        assert title in page
