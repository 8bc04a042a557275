"""Microsoft Presidio's pattern recognisers as changebank recognisers (optional).

Presidio's analyzer runs here without any spaCy model: a no-op NLP engine (``NoOpNlpEngine``)
and only self-contained pattern recognisers, including its UK ones::

    from changebank.analysis.redact import DEFAULT_RECOGNISERS, redact
    from changebank.analysis.redact_presidio import presidio_recognisers

    redact(text, recognisers=(*DEFAULT_RECOGNISERS, *presidio_recognisers()))

A changebank recogniser finds one kind, so there is one :class:`PresidioRecogniser` per kind
(``PresidioRecogniser("EMAIL")``); they share one analyzer and one analysis per text. Presidio's
entities map onto changebank's kinds as in :data:`ENTITIES`.

Needs ``pip install presidio-analyzer`` (it brings the spaCy library, but no model is loaded or
downloaded). The email recogniser's domain check uses tldextract's bundled suffix list, never
the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from .redact import _PRIORITY

__all__ = ["ENTITIES", "PresidioRecogniser", "analyzer", "presidio_recognisers"]

#: Presidio entity -> changebank kind.
ENTITIES = {
    "UK_NHS": "NHS_NUMBER",
    "UK_NINO": "NI_NUMBER",
    "UK_POSTCODE": "POSTCODE",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "URL": "URL",
}
#: Findings scored below this are dropped. Without NLP tokens Presidio cannot raise a weak
#: pattern's score from context words in the text (a postcode scores 0.1), so all are kept.
MIN_SCORE = 0.0


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """A Presidio ``AnalyzerEngine`` with the no-op NLP engine and pattern recognisers only."""
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        EmailRecognizer,
        NhsRecognizer,
        PhoneRecognizer,
        UkNinoRecognizer,
        UkPostcodeRecognizer,
        UrlRecognizer,
    )

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class _OfflineEmail(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return offline(pattern_text).fqdn != ""

    registry = RecognizerRegistry(supported_languages=["en"])
    for recogniser in (
        NhsRecognizer(),
        UkNinoRecognizer(),
        UkPostcodeRecognizer(),
        _OfflineEmail(),
        PhoneRecognizer(supported_regions=("GB",)),
        UrlRecognizer(),
    ):
        registry.add_recognizer(recogniser)
    engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


@lru_cache(maxsize=256)
def _analyse(text: str) -> tuple[tuple[str, int, int], ...]:
    """``(kind, start, end)`` of Presidio's findings in ``text`` (cached: the recognisers of the
    several kinds share one analysis)."""
    results = analyzer().analyze(text=text, language="en", entities=list(ENTITIES))
    return tuple(
        (ENTITIES[r.entity_type], r.start, r.end)
        for r in results
        if r.entity_type in ENTITIES and r.score >= MIN_SCORE
    )


class PresidioRecogniser:
    """Presidio's findings of one changebank ``kind`` (see :data:`ENTITIES`)."""

    def __init__(self, kind: str = "EMAIL") -> None:
        if kind not in ENTITIES.values():
            raise ValueError(f"Presidio finds {', '.join(sorted(set(ENTITIES.values())))}")
        self.kind = kind
        self.priority = _PRIORITY[kind]

    def __repr__(self) -> str:
        return f"PresidioRecogniser({self.kind!r})"

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        for kind, start, end in _analyse(text):
            if kind == self.kind:
                yield start, end


def presidio_recognisers() -> tuple[PresidioRecogniser, ...]:
    """One recogniser per kind Presidio finds."""
    return tuple(PresidioRecogniser(k) for k in dict.fromkeys(ENTITIES.values()))
