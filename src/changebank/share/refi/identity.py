"""Stable REFI-QDA identities (GUIDs) and colours for changebank's rows.

Every element of a REFI-QDA file has a GUID, and other tools match codes across files by it, so the
GUIDs changebank writes must not change between two exports of the same data, and a file imported
and exported again must keep the GUIDs it came with:

* rows made in changebank get ``uuid5(programme namespace, "<model>:<pk>")``; the programme
  namespace is itself a uuid5 of the programme's pk and creation time, so two installations (or two
  programmes) do not hand out the same GUIDs;
* a submission imported from a REFI-QDA file keeps its source's GUID in ``dedupe_key``
  (``refi:<guid>``), which also makes the import idempotent;
* themes, codes, respondents (cases) and users imported from a file keep the file's GUID (and a
  code's colour) in the ``mapping`` of the :class:`~changebank.listen.models.ImportBatch` that
  recorded the import, under ``"refi"``: changebank has no GUID or colour field on those models.
  Only GUIDs that differ from the derived ones are kept, so the list stays short;
* selections, codings, variables, notes and sets get GUIDs derived from the GUIDs above and their
  content, so they round-trip without being stored;
* a case (respondent) is named after its first source: ``uuid5(NS, "case:<first source guid>")``.

Colours: changebank has no colour field; a theme's colour is picked from a fixed palette by its
GUID (a code takes its theme's colour), unless an imported file gave one, which is then kept.
"""

from __future__ import annotations

import uuid
from typing import Any

from changebank.listen.models import ImportBatch, Programme

#: changebank's namespace for derived GUIDs. Never change it: exported GUIDs depend on it.
NAMESPACE = uuid.UUID("885c8556-20ce-447b-9c09-000e13e56520")
#: The user REFI-QDA files name as the coder of the analysis's (AI) codings.
AI_USER_GUID = str(uuid.uuid5(NAMESPACE, "user:changebank-analysis"))
AI_USER_NAME = "changebank analysis (AI suggestions)"
#: ``ImportBatch.detected_format`` of REFI-QDA imports.
FORMAT_QDC = "refi-qda-qdc"
FORMAT_QDPX = "refi-qda-qdpx"
DEDUPE_PREFIX = "refi:"

#: Distinguishable colours (the NHS identity palette and tints), picked by GUID.
PALETTE = [
    "#005EB8",
    "#007F3B",
    "#DA291C",
    "#330072",
    "#ED8B00",
    "#00A499",
    "#AE2573",
    "#7C2855",
    "#41B6E6",
    "#78BE20",
    "#FFB81C",
    "#425563",
]


def derived(*parts: object) -> str:
    """A GUID derived from changebank's namespace and ``parts``."""
    return str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))


def canonical(guid: str) -> str:
    """A GUID as changebank writes it: lower case, no braces."""
    return str(uuid.UUID(guid.strip().strip("{}")))


def palette_colour(guid: str) -> str:
    return PALETTE[uuid.UUID(guid).int % len(PALETTE)]


def source_guid_from_key(pk: int, dedupe_key: str, namespace: uuid.UUID) -> str:
    if dedupe_key.startswith(DEDUPE_PREFIX):
        try:
            return canonical(dedupe_key[len(DEDUPE_PREFIX) :])
        except ValueError:
            pass
    return str(uuid.uuid5(namespace, f"submission:{pk}"))


def case_guid(respondent_pk: int, first_source: str | None, namespace: uuid.UUID) -> str:
    if first_source:
        return derived("case", first_source)
    return str(uuid.uuid5(namespace, f"respondent:{respondent_pk}"))


class Identities:
    """The GUIDs and colours of one programme's rows, derived or kept from earlier imports."""

    def __init__(self, programme: Programme) -> None:
        self.programme = programme
        self.namespace = uuid.uuid5(
            NAMESPACE, f"programme:{programme.pk}:{programme.created_at.isoformat()}"
        )
        # kind -> str(pk) -> {"guid": ..., "color": ...}; users: username -> guid
        self.kept: dict[str, dict[str, dict[str, str]]] = {
            "themes": {},
            "codes": {},
            "respondents": {},
        }
        self.users: dict[str, str] = {}
        batches = ImportBatch.objects.filter(
            programme=programme, detected_format__in=[FORMAT_QDC, FORMAT_QDPX]
        ).order_by("started_at", "id")
        for mapping in batches.values_list("mapping", flat=True):
            refi = (mapping or {}).get("refi") or {}
            for kind, rows in self.kept.items():
                rows.update(refi.get(kind) or {})
            self.users.update(refi.get("users") or {})

    # --- GUIDs ---------------------------------------------------------------------------------

    def _guid(self, kind: str, pk: int) -> str:
        kept = self.kept[kind].get(str(pk))
        if kept and kept.get("guid"):
            return kept["guid"]
        return str(uuid.uuid5(self.namespace, f"{kind}:{pk}"))

    def theme(self, pk: int) -> str:
        return self._guid("themes", pk)

    def code(self, pk: int) -> str:
        return self._guid("codes", pk)

    def source(self, pk: int, dedupe_key: str) -> str:
        return source_guid_from_key(pk, dedupe_key, self.namespace)

    def case(self, pk: int, first_source: str | None) -> str:
        kept = self.kept["respondents"].get(str(pk))
        if kept and kept.get("guid"):
            return kept["guid"]
        return case_guid(pk, first_source, self.namespace)

    def user(self, username: str) -> str:
        return self.users.get(username) or derived("user", username)

    # --- colours -------------------------------------------------------------------------------

    def theme_colour(self, pk: int) -> str:
        kept = self.kept["themes"].get(str(pk)) or {}
        return kept.get("color") or palette_colour(self.theme(pk))

    def code_colour(self, pk: int, theme_pk: int | None) -> str:
        kept = self.kept["codes"].get(str(pk)) or {}
        if kept.get("color"):
            return kept["color"]
        if theme_pk is not None:
            return self.theme_colour(theme_pk)
        return palette_colour(self.code(pk))

    # --- reverse look-ups, for imports -----------------------------------------------------------

    def themes_by_guid(self) -> dict[str, Any]:
        from changebank.understand.models import Theme

        return {self.theme(t.pk): t for t in Theme.objects.filter(programme=self.programme)}

    def codes_by_guid(self) -> dict[str, Any]:
        from changebank.understand.models import Code

        return {self.code(c.pk): c for c in Code.objects.filter(programme=self.programme)}
