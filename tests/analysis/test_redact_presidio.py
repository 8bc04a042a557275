"""Presidio's pattern recognisers as optional changebank recognisers (no spaCy model)."""

from __future__ import annotations

import pytest

# Presidio is the optional "presidio" extra; `make test` installs it, so this runs in CI.
pytest.importorskip("presidio_analyzer")

from changebank.analysis.redact import DEFAULT_RECOGNISERS, find_personal_data, redact  # noqa: E402
from changebank.analysis.redact_presidio import (  # noqa: E402
    ENTITIES,
    PresidioRecogniser,
    analyzer,
    presidio_recognisers,
)


def test_no_spacy_model_is_loaded():
    engine = analyzer().nlp_engine
    assert engine.engine_name == "no_op"
    assert engine.nlp == {"en": None}


def test_presidio_alone_finds_uk_identifiers():
    text = (
        "NHS number 943 476 5919, NI AB 12 34 56 C, email jo@example.com, "
        "ring 020 7946 0018 or see https://www.nhs.uk/conditions"
    )
    kinds = {f.kind for f in find_personal_data(text, recognisers=presidio_recognisers())}
    assert {"NHS_NUMBER", "NI_NUMBER", "EMAIL", "PHONE", "URL"} <= kinds
    assert "jo@example.com" not in redact(text, recognisers=presidio_recognisers())


def test_presidio_adds_to_the_default_recognisers():
    text = "Write to jo@example.com about Nurse Jenny, NHS number 943 476 5919."
    both = redact(text, recognisers=(*DEFAULT_RECOGNISERS, *presidio_recognisers()))
    assert both == redact(text) == "Write to [EMAIL] about Nurse [NAME], NHS number [NHS_NUMBER]."
    assert redact(text, recognisers=(*DEFAULT_RECOGNISERS, PresidioRecogniser("EMAIL"))) == both


def test_one_recogniser_per_kind():
    assert {r.kind for r in presidio_recognisers()} == set(ENTITIES.values())
    with pytest.raises(ValueError):
        PresidioRecogniser("NAME")
