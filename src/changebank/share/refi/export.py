"""REFI-QDA export: the codebook (``.qdc``) and the whole project (``.qdpx``).

Mapping (changebank → REFI-QDA):

* Theme → a top-level ``Code`` with ``isCodable="false"`` (a folder: changebank codes submissions
  with codes, never with a theme), its description, a colour and, when the theme has a *meaning*,
  a ``NoteRef`` to a ``Note`` holding it (``.qdpx`` only).
* Code → a ``Code`` under its home theme (``theme``), or at the top level when it has none.
  REFI-QDA codes have one parent, so a code that also sits under other themes (``also_in``) is
  listed under its home theme, and each other theme gets a ``Set`` named "Also in: <theme>" whose
  members are those codes; the importer turns such sets back into ``also_in``.
* Submission → a ``TextSource`` whose plain text is ``sources/<guid>.txt`` (UTF-8, exactly the
  submission's text, so offsets hold), named after its reference (and question), dated
  ``received_at``, with source variables: Reference, Question, Question prompt, Workstream,
  Consent given, Moderation (when not approved) and the closed answers.
* CodeAssignment → a ``Coding`` inside a ``PlainTextSelection``: one selection per CodeSpan
  (``startPosition``/``endPosition`` are Python string indices: Unicode code points from 0, end
  exclusive, as QualCoder writes them), or one covering the whole text when the assignment has
  no span. Codings of several codes on the same characters share one selection.
  The coding's ``creatingUser`` is the analyst who decided it, or a user named
  :data:`~.identity.AI_USER_NAME` for the analysis's suggestions.
* Respondent → a ``Case`` with variables (Role, Role (as given), Organisation, Sector, Region and
  each attribute) and a ``SourceRef`` to each of its submissions.
* Analysts → ``User`` elements; each coding names its ``creatingUser``.

Redacted projects (for people who may not see original text) hold only the submissions that may be
published (:func:`changebank.share.privacy.publishable`), with each text replaced by
:func:`changebank.share.privacy.public_text` and every text variable redacted likewise. Redaction
changes the length of the text, so offsets into the original would point at the wrong words:
codings are therefore written on the whole source (``TextSource/Coding``), with no selection.

Writing streams: source files go into the zip one at a time, and project.qde is written to a
temporary file with :class:`lxml.etree.xmlfile`, then added, so memory does not grow with the
number of submissions.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from lxml import etree

import changebank
from changebank.listen.models import Programme, Respondent, Role, Submission
from changebank.understand.models import (
    Code,
    CodeAssignment,
    CodeSpan,
    DistinctChange,
    Origin,
    SubmissionReading,
    Theme,
)

from .identity import AI_USER_GUID, AI_USER_NAME, Identities, derived
from .validate import CODEBOOK_NS, PROJECT_NS

ORIGIN = (
    f"changebank {changebank.__version__}" if hasattr(changebank, "__version__") else "changebank"
)
CHUNK = 1000

# Variable names. Case (respondent) variables first, then source (submission) variables.
ROLE, ROLE_DETAIL, ORGANISATION, SECTOR, REGION = (
    "Role",
    "Role (as given)",
    "Organisation",
    "Sector",
    "Region",
)
CASE_BUILTINS = [ROLE, ROLE_DETAIL, ORGANISATION, SECTOR, REGION]
REFERENCE, QUESTION, PROMPT, WORKSTREAM, CONSENT, MODERATION = (
    "Reference",
    "Question",
    "Question prompt",
    "Workstream",
    "Consent given",
    "Moderation",
)
SOURCE_BUILTINS = [REFERENCE, QUESTION, PROMPT, WORKSTREAM, CONSENT, MODERATION]
BUILTINS = set(CASE_BUILTINS) | set(SOURCE_BUILTINS)
ATTRIBUTE_PREFIX = "Attribute: "
ANSWER_PREFIX = "Answer: "
ALSO_IN_PREFIX = "Also in: "
ALSO_IN_DESCRIPTION = (
    "Codes that also sit under the theme ‘{label}’. changebank lets a code sit under several "
    "themes; REFI-QDA codes have one parent, so the code is listed under its home theme and here."
)
MEANING_PREFIX = "Meaning: "

_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot hold."""
    return _BAD_XML_CHARS.sub("\ufffd", value)


def attribute_variable(key: str) -> str:
    return ATTRIBUTE_PREFIX + key if key in BUILTINS or key.startswith(ATTRIBUTE_PREFIX) else key


def answer_variable(key: str) -> str:
    return ANSWER_PREFIX + key if key in BUILTINS or key.startswith(ANSWER_PREFIX) else key


def decimal_text(value: float) -> str:
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def typed(value: Any) -> tuple[str, str] | None:
    """A value as (REFI-QDA type, text), or None when there is nothing to write."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "Boolean", "true" if value else "false"
    if isinstance(value, int):
        return "Integer", str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return "Float", decimal_text(value)
        return "Text", repr(value)
    if isinstance(value, str):
        return "Text", value
    return "Text", json.dumps(value, ensure_ascii=False, sort_keys=True)


def _merge(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    if {a, b} == {"Integer", "Float"}:
        return "Float"
    return "Text"


def _as(kind: str, value: Any) -> str:
    """The text of ``value`` for a variable of type ``kind`` (types merged over all values: an
    integer in a Float variable is written as a decimal, anything in a Text variable as text)."""
    t = typed(value)
    assert t is not None
    if kind == "Float" and t[0] == "Integer":
        return decimal_text(float(value))
    return t[1]


@dataclass
class ExportSummary:
    """What an export wrote, and what it could not (the data-loss report, REFI-QDA §7)."""

    path: str
    format: str
    redacted: bool = False
    themes: int = 0
    codes: int = 0
    sources: int = 0
    selections: int = 0
    codings: int = 0
    cases: int = 0
    users: int = 0
    variables: int = 0
    notes: int = 0
    sets: int = 0
    #: what changebank holds that the file does not: label -> count
    not_exported: dict[str, int] = field(default_factory=dict)
    #: how things were represented, when REFI-QDA has no direct equivalent
    remarks: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        kind = "codebook" if self.format == "qdc" else "project"
        head = [
            f"Exported a REFI-QDA {kind}{' (redacted)' if self.redacted else ''}: "
            f"{self.themes:,} themes and {self.codes:,} codes"
            + (
                ""
                if self.format == "qdc"
                else f", {self.sources:,} sources, {self.codings:,} codings "
                f"({self.selections:,} selections), {self.cases:,} cases, {self.users:,} users, "
                f"{self.variables:,} variables"
            )
            + "."
        ]
        lost = [f"Not exported: {label} ({n:,})." for label, n in self.not_exported.items() if n]
        return head + self.remarks + lost

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


# --- the codebook -------------------------------------------------------------------------------


@dataclass
class _Book:
    themes: list[Theme]
    codes_by_theme: dict[int, list[Code]]
    loose: list[Code]
    also: dict[int, list[Code]]  # theme pk -> codes also under it (not their home)


def _book(programme: Programme) -> _Book:
    themes = list(Theme.objects.filter(programme=programme).order_by("position", "id"))
    theme_ids = {t.pk for t in themes}
    codes_by_theme: dict[int, list[Code]] = defaultdict(list)
    loose: list[Code] = []
    codes = list(
        Code.objects.filter(programme=programme)
        .order_by("position", "id")
        .prefetch_related("also_in")
    )
    also: dict[int, list[Code]] = defaultdict(list)
    for code in codes:
        if code.theme_id in theme_ids:
            codes_by_theme[code.theme_id].append(code)
        else:
            loose.append(code)
        for other in code.also_in.all():
            if other.pk != code.theme_id and other.pk in theme_ids:
                also[other.pk].append(code)
    return _Book(themes, codes_by_theme, loose, also)


class _Writer:
    """Helpers over an :class:`lxml.etree.xmlfile` in one namespace."""

    def __init__(self, xf: Any, ns: str) -> None:
        self.xf = xf
        self.ns = ns

    def tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def element(self, name: str, attrib: dict[str, str] | None = None) -> Any:
        return self.xf.element(
            self.tag(name), {k: xml_text(v) for k, v in (attrib or {}).items() if v is not None}
        )

    def leaf(
        self, name: str, attrib: dict[str, str] | None = None, text: str | None = None
    ) -> None:
        with self.element(name, attrib):
            if text:
                self.xf.write(xml_text(text))

    def nl(self) -> None:
        self.xf.write("\n")


def _write_codes(
    w: _Writer, book: _Book, ids: Identities, *, meaning_notes: dict[int, str] | None = None
) -> None:
    with w.element("Codes"):
        w.nl()
        for theme in book.themes:
            guid = ids.theme(theme.pk)
            with w.element(
                "Code",
                {
                    "guid": guid,
                    "name": theme.label,
                    "isCodable": "false",
                    "color": ids.theme_colour(theme.pk),
                },
            ):
                if theme.description:
                    w.leaf("Description", text=theme.description)
                if meaning_notes is not None and theme.pk in meaning_notes:
                    w.leaf("NoteRef", {"targetGUID": meaning_notes[theme.pk]})
                for code in book.codes_by_theme.get(theme.pk, []):
                    _write_code(w, code, ids)
            w.nl()
        for code in book.loose:
            _write_code(w, code, ids)
            w.nl()


def _write_code(w: _Writer, code: Code, ids: Identities) -> None:
    attrib = {
        "guid": ids.code(code.pk),
        "name": code.label,
        "isCodable": "true",
        "color": ids.code_colour(code.pk, code.theme_id),
    }
    with w.element("Code", attrib):
        if code.description:
            w.leaf("Description", text=code.description)


def _not_in_codebook(programme: Programme, book: _Book) -> dict[str, int]:
    return {
        "keywords of themes and codes": sum(bool(t.keywords) for t in book.themes)
        + Code.objects.filter(programme=programme).exclude(keywords=[]).count(),
        "quotes chosen for themes and codes": sum(bool(t.chosen_quotes) for t in book.themes)
        + Code.objects.filter(programme=programme).exclude(quotes=[]).count(),
        "codes' review status (suggested or accepted) and origin (AI or analyst)": Code.objects.filter(
            programme=programme
        ).count(),
    }


def _also_in_remark(book: _Book) -> list[str]:
    n = sum(len(v) for v in book.also.values())
    if not n:
        return []
    return [
        f"{n:,} placements of a code under a second theme are written as sets named "
        f"“{ALSO_IN_PREFIX}<theme>”: REFI-QDA codes have one parent."
    ]


def export_qdc(programme: Programme, path: str | Path) -> ExportSummary:
    """Write ``programme``'s themes and codes as a REFI-QDA codebook (``.qdc``) to ``path``."""
    path = Path(path)
    ids = Identities(programme)
    book = _book(programme)
    summary = ExportSummary(path=str(path), format="qdc")
    with path.open("wb") as fh, etree.xmlfile(fh, encoding="utf-8") as xf:
        xf.write_declaration(standalone=True)
        w = _Writer(xf, CODEBOOK_NS)
        with xf.element(w.tag("CodeBook"), {"origin": ORIGIN}, nsmap={None: CODEBOOK_NS}):
            w.nl()
            if book.themes or book.loose:
                _write_codes(w, book, ids)
            else:
                # The schema needs at least one code: an empty codebook gets a placeholder folder.
                with w.element("Codes"):
                    w.leaf(
                        "Code",
                        {
                            "guid": derived("empty-codebook", ids.namespace),
                            "name": f"{programme.title} (no codes yet)",
                            "isCodable": "false",
                        },
                    )
                summary.remarks.append(
                    "The programme has no codes yet: the codebook holds a placeholder."
                )
            w.nl()
            if book.also:
                # the codebook schema names a member code by "guid"
                summary.sets += _write_also_in_sets(
                    w, book, ids, lambda code: {"guid": ids.code(code.pk)}
                )
    summary.themes = len(book.themes)
    summary.codes = sum(len(v) for v in book.codes_by_theme.values()) + len(book.loose)
    summary.remarks += _also_in_remark(book)
    summary.not_exported = {
        "theme meanings (a codebook has no notes; the .qdpx project keeps them)": sum(
            bool(t.meaning) for t in book.themes
        ),
        **_not_in_codebook(programme, book),
    }
    return summary


# --- the project --------------------------------------------------------------------------------


def _stamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _role_label(role: str) -> str:
    try:
        return Role(role).label
    except ValueError:
        return role


class _Variables:
    """Variable names, types and GUIDs (derived from the name)."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}

    def see(self, name: str, value: Any) -> None:
        t = typed(value)
        if t is not None:
            self.types[name] = _merge(self.types.get(name), t[0])

    def ordered(self) -> list[str]:
        builtins = [n for n in CASE_BUILTINS + SOURCE_BUILTINS if n in self.types]
        return builtins + sorted(n for n in self.types if n not in BUILTINS)

    @staticmethod
    def guid(name: str) -> str:
        return derived("variable", name)


def _case_values(r: Respondent) -> list[tuple[str, Any]]:
    values: list[tuple[str, Any]] = [
        (ROLE, _role_label(r.role) if r.role else None),
        (ROLE_DETAIL, r.role_detail),
        (ORGANISATION, r.organisation),
        (SECTOR, r.sector),
        (REGION, r.region),
    ]
    for key, value in (r.attributes or {}).items():
        values.append((attribute_variable(str(key)), value))
    return values


def _source_values(s: dict[str, Any], redacted: bool) -> list[tuple[str, Any]]:
    values: list[tuple[str, Any]] = []
    if not redacted:
        values.append((REFERENCE, s["reference"]))
    values += [
        (QUESTION, s["question__key"]),
        (PROMPT, s["question__prompt"]),
        (WORKSTREAM, s["workstream__name"]),
        (CONSENT, s["consent_given"]),
        (
            MODERATION,
            None
            if s["moderation_status"] == Submission.Moderation.APPROVED
            else s["moderation_status"],
        ),
    ]
    for key, value in (s["answers"] or {}).items():
        values.append((answer_variable(str(key)), value))
    return values


SOURCE_FIELDS = [
    "id",
    "dedupe_key",
    "text",
    "reference",
    "received_at",
    "respondent_id",
    "question__key",
    "question__prompt",
    "workstream__name",
    "consent_given",
    "moderation_status",
    "answers",
]


def _submissions(programme: Programme, redacted: bool) -> Any:
    if redacted:
        from changebank.share.privacy import publishable

        return publishable(programme)
    return Submission.objects.filter(programme=programme)


def _chunks(qs: Any, fields: list[str]) -> Iterator[list[dict[str, Any]]]:
    """Rows of ``qs`` ordered by id, a chunk at a time (keyset pagination)."""
    last = 0
    while True:
        rows = list(qs.filter(id__gt=last).order_by("id").values(*fields)[:CHUNK])
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _codings_for(ids: list[int]) -> dict[int, list[tuple[int, int | None, str, Any, list]]]:
    """submission id -> [(code id, decided_by id, origin, decided_at, [(start, end)])]."""
    spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for a, s, e in (
        CodeSpan.objects.filter(assignment__submission_id__in=ids)
        .order_by("start", "end")
        .values_list("assignment_id", "start", "end")
    ):
        spans[a].append((s, e))
    out: dict[int, list] = defaultdict(list)
    for pk, sub, code, user, origin, at in (
        CodeAssignment.objects.filter(submission_id__in=ids)
        .order_by("id")
        .values_list("id", "submission_id", "code_id", "decided_by_id", "origin", "decided_at")
    ):
        out[sub].append((code, user, origin, at, spans.get(pk, [])))
    return out


def export_qdpx(programme: Programme, path: str | Path, *, redacted: bool = False) -> ExportSummary:
    """Write ``programme`` as a REFI-QDA project (``.qdpx``) to ``path``.

    ``redacted``: only publishable submissions, with redacted text and codings on whole sources
    (see the module's documentation). Returns what was written and what was not.
    """
    path = Path(path)
    ids = Identities(programme)
    book = _book(programme)
    summary = ExportSummary(path=str(path), format="qdpx", redacted=redacted)
    redact = _redactor() if redacted else None
    subs = _submissions(programme, redacted)
    User = get_user_model()

    # Pass 1: who coded, which variables (names and types), which respondents.
    coder_ids = set(
        CodeAssignment.objects.filter(submission__in=subs, decided_by__isnull=False)
        .values_list("decided_by_id", flat=True)
        .distinct()
    )
    ai_codings = CodeAssignment.objects.filter(
        submission__in=subs, decided_by__isnull=True, origin=Origin.AI
    ).exists()
    users = {
        u.pk: (ids.user(u.get_username()), u.get_username())
        for u in User.objects.filter(pk__in=coder_ids)
    }
    variables = _Variables()
    if redacted:
        respondents = Respondent.objects.filter(
            pk__in=subs.exclude(respondent=None).values("respondent_id")
        )
    else:
        respondents = Respondent.objects.filter(programme=programme)
    for r in respondents.only(
        "id", "role", "role_detail", "organisation", "sector", "region", "attributes"
    ).iterator(chunk_size=2000):
        for name, value in _case_values(r):
            variables.see(name, value)
    for rows in _chunks(
        subs,
        [
            "id",
            "reference",
            "question__key",
            "question__prompt",
            "workstream__name",
            "consent_given",
            "moderation_status",
            "answers",
        ],
    ):
        for s in rows:
            for name, value in _source_values(s, redacted):
                variables.see(name, value)
    var_names = variables.ordered()
    var_types = variables.types

    def write_values(w: _Writer, values: list[tuple[str, Any]]) -> None:
        by_name = {}
        for name, value in values:
            if typed(value) is not None:
                by_name[name] = value
        for name in var_names:
            if name not in by_name:
                continue
            kind = var_types[name]
            text = _as(kind, by_name[name])
            if redact and kind == "Text":
                text = redact(text)
            with w.element("VariableValue"):
                w.leaf("VariableRef", {"targetGUID": _Variables.guid(name)})
                w.leaf(f"{kind}Value", text=text)

    meaning_notes = {t.pk: derived("meaning", ids.theme(t.pk)) for t in book.themes if t.meaning}
    code_guid = {}
    for theme_codes in [*book.codes_by_theme.values(), book.loose]:
        for c in theme_codes:
            code_guid[c.pk] = ids.code(c.pk)

    tmpdir = tempfile.mkdtemp(prefix="changebank-qdpx-")
    qde = Path(tmpdir) / "project.qde"
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            with qde.open("wb") as fh, etree.xmlfile(fh, encoding="utf-8") as xf:
                xf.write_declaration(standalone=True)
                w = _Writer(xf, PROJECT_NS)
                with xf.element(
                    w.tag("Project"),
                    {
                        "name": xml_text(programme.title),
                        "origin": ORIGIN,
                        "creationDateTime": _stamp(timezone.now()),
                    },
                    nsmap={None: PROJECT_NS},
                ):
                    w.nl()
                    # Users
                    user_rows = sorted(users.values(), key=lambda u: (u[1], u[0]))
                    if ai_codings:
                        user_rows.insert(0, (AI_USER_GUID, AI_USER_NAME))
                    if user_rows:
                        with w.element("Users"):
                            for guid, name in user_rows:
                                w.leaf("User", {"guid": guid, "name": name})
                        w.nl()
                    summary.users = len(user_rows)
                    # CodeBook
                    if book.themes or book.loose:
                        with w.element("CodeBook"):
                            _write_codes(w, book, ids, meaning_notes=meaning_notes)
                        w.nl()
                    # Variables
                    if var_names:
                        with w.element("Variables"):
                            for name in var_names:
                                w.leaf(
                                    "Variable",
                                    {
                                        "guid": _Variables.guid(name),
                                        "name": name,
                                        "typeOfVariable": var_types[name],
                                    },
                                )
                        w.nl()
                    summary.variables = len(var_names)
                    # Cases
                    summary.cases = _write_cases(w, ids, respondents, subs, write_values, redact)
                    # Sources
                    _write_sources(
                        w, zf, ids, subs, code_guid, users, write_values, redact, summary
                    )
                    # Notes: theme meanings
                    if meaning_notes:
                        with w.element("Notes"):
                            for theme in book.themes:
                                if theme.pk not in meaning_notes:
                                    continue
                                with w.element(
                                    "Note",
                                    {
                                        "guid": meaning_notes[theme.pk],
                                        "name": MEANING_PREFIX + theme.label,
                                    },
                                ):
                                    w.leaf("PlainTextContent", text=theme.meaning)
                        w.nl()
                    summary.notes = len(meaning_notes)
                    # Sets: codes also under another theme
                    if book.also:
                        # the project schema names a member code by "targetGUID"
                        summary.sets += _write_also_in_sets(
                            w, book, ids, lambda code: {"targetGUID": code_guid[code.pk]}
                        )
                    if programme.description:
                        w.leaf("Description", text=programme.description)
                        w.nl()
            zf.write(qde, "project.qde")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        qde.unlink(missing_ok=True)
        os.rmdir(tmpdir)

    summary.themes = len(book.themes)
    summary.codes = len(code_guid)
    summary.remarks += _also_in_remark(book)
    summary.not_exported = _not_in_project(programme, book, redacted)
    if redacted:
        summary.remarks.append(
            "Redacted: texts have personal data replaced by placeholders, so codings are "
            "written on whole sources, without character offsets."
        )
    return summary


def _redactor() -> Any:
    from changebank.share.privacy import public_text

    return public_text


def _write_cases(
    w: _Writer, ids: Identities, respondents: Any, subs: Any, write_values: Any, redact: Any
) -> int:
    """Cases in respondent order, each with its variables and its sources (a merge over two
    ordered streams, so a million respondents do not sit in memory)."""
    source_rows = (
        subs.exclude(respondent=None)
        .order_by("respondent_id", "id")
        .values_list("respondent_id", "id", "dedupe_key")
        .iterator(chunk_size=5000)
    )
    pending = next(source_rows, None)
    n = 0
    opened = False
    for r in respondents.order_by("id").iterator(chunk_size=2000):
        refs = []
        while pending is not None and pending[0] < r.pk:
            pending = next(source_rows, None)
        while pending is not None and pending[0] == r.pk:
            refs.append(ids.source(pending[1], pending[2]))
            pending = next(source_rows, None)
        if not opened:
            cases = w.element("Cases")
            cases.__enter__()
            opened = True
        name = r.external_id or f"Respondent {r.pk}"
        if redact:
            name = redact(name)
        with w.element("Case", {"guid": ids.case(r.pk, refs[0] if refs else None), "name": name}):
            write_values(w, _case_values(r))
            for ref in refs:
                w.leaf("SourceRef", {"targetGUID": ref})
        n += 1
    if opened:
        cases.__exit__(None, None, None)
        w.nl()
    return n


def _write_sources(
    w: _Writer,
    zf: zipfile.ZipFile,
    ids: Identities,
    subs: Any,
    code_guid: dict[int, str],
    users: dict[int, tuple[str, str]],
    write_values: Any,
    redact: Any,
    summary: ExportSummary,
) -> None:
    opened = False
    index = 0
    for rows in _chunks(subs, SOURCE_FIELDS):
        codings = _codings_for([s["id"] for s in rows])
        if not opened:
            sources = w.element("Sources")
            sources.__enter__()
            opened = True
        for s in rows:
            index += 1
            guid = ids.source(s["id"], s["dedupe_key"])
            text = s["text"] or ""
            if redact:
                text = redact(text)
                name = f"Submission {index}"
            else:
                name = s["reference"] + (f" {s['question__key']}" if s["question__key"] else "")
            zf.writestr(
                zipfile.ZipInfo(f"sources/{guid}.txt", date_time=(1980, 1, 1, 0, 0, 0)),
                text.encode("utf-8", "surrogatepass"),
                compress_type=zipfile.ZIP_DEFLATED,
            )
            with w.element(
                "TextSource",
                {
                    "guid": guid,
                    "name": name,
                    "plainTextPath": f"internal://{guid}.txt",
                    "creationDateTime": _stamp(s["received_at"]),
                },
            ):
                rows_c = codings.get(s["id"], [])
                if redact:
                    for code, user, origin, at, _spans in sorted(
                        rows_c, key=lambda c: code_guid.get(c[0], "")
                    ):
                        if code not in code_guid:
                            continue
                        _write_coding(
                            w, derived("coding", guid, code_guid[code]), code_guid[code],
                            _coder(user, origin, users), at,
                        )  # fmt: skip
                        summary.codings += 1
                else:
                    selections: dict[tuple[int, int], list] = defaultdict(list)
                    for code, user, origin, at, spans in rows_c:
                        if code not in code_guid:
                            continue
                        for start, end in spans or [(0, len(text))]:
                            selections[(start, end)].append(
                                (code_guid[code], _coder(user, origin, users), at)
                            )
                    for (start, end), cs in sorted(selections.items()):
                        with w.element(
                            "PlainTextSelection",
                            {
                                "guid": derived("selection", guid, start, end),
                                "name": _excerpt(text[start:end]),
                                "startPosition": str(start),
                                "endPosition": str(end),
                            },
                        ):
                            for cguid, coder, at in sorted(cs, key=lambda c: c[0]):
                                _write_coding(
                                    w, derived("coding", guid, start, end, cguid), cguid, coder, at
                                )
                                summary.codings += 1
                        summary.selections += 1
                write_values(w, _source_values(s, bool(redact)))
            w.nl()
            summary.sources += 1
    if opened:
        sources.__exit__(None, None, None)
        w.nl()


def _coder(user: int | None, origin: str, users: dict[int, tuple[str, str]]) -> str | None:
    if user is not None and user in users:
        return users[user][0]
    if origin == Origin.AI:
        return AI_USER_GUID
    return None


def _write_coding(
    w: _Writer, guid: str, code: str, coder: str | None, at: dt.datetime | None
) -> None:
    attrib = {"guid": guid}
    if coder:
        attrib["creatingUser"] = coder
    if at is not None:
        attrib["creationDateTime"] = _stamp(at)
    with w.element("Coding", attrib):
        w.leaf("CodeRef", {"targetGUID": code})


def _not_in_project(programme: Programme, book: _Book, redacted: bool) -> dict[str, int]:
    subs = Submission.objects.filter(programme=programme)
    out = {
        "distinct changes (the long list)": DistinctChange.objects.filter(
            programme=programme
        ).count(),
        "sentiment and stance readings": SubmissionReading.objects.filter(
            submission__programme=programme
        ).count(),
        "equality-monitoring answers of respondents (special category data)": Respondent.objects.filter(
            programme=programme
        )
        .exclude(equality={})
        .count(),
        "AI confidence and review flags of codings": CodeAssignment.objects.filter(
            submission__programme=programme
        )
        .filter(Q(confidence__isnull=False) | Q(needs_review=True))
        .count(),
        "consent wording shown to contributors": subs.exclude(consent_wording="").count(),
        "links of submissions to their documents and passages (the text is exported)": subs.exclude(
            document=None
        ).count(),
        **_not_in_codebook(programme, book),
    }
    if redacted:
        from changebank.share.privacy import publishable

        out["submissions that may not be published (left out of a redacted project)"] = (
            subs.count() - publishable(programme).count()
        )
    return out


def _write_also_in_sets(w: Any, book: Any, ids: Any, member: Any) -> int:
    """One "Also in: <theme>" set per theme that holds codes whose home is another theme (REFI
    gives a code one parent); ``member(code)`` is the MemberCode's attributes. Returns the count."""
    count = 0
    with w.element("Sets"):
        for theme in book.themes:
            members = book.also.get(theme.pk)
            if not members:
                continue
            attrs = {
                "guid": derived("also-in", ids.theme(theme.pk)),
                "name": ALSO_IN_PREFIX + theme.label,
            }
            with w.element("Set", attrs):
                w.leaf("Description", text=ALSO_IN_DESCRIPTION.format(label=theme.label))
                for code in members:
                    w.leaf("MemberCode", member(code))
            count += 1
    w.nl()
    return count
