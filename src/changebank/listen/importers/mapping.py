"""What each column of an import means: free text, who the respondent is, or something to keep or drop.

:func:`propose_mapping` guesses from headers and values; analysts confirm or change it in the
preview, or pass a mapping file to the command line (JSON: ``{"columns": {"Header": "role"}}``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ImportFileError
from .sources import Column, Source

#: Every role a column can take, with a description for the preview page.
ROLES: dict[str, str] = {
    "text": "Free text to analyse (one submission per answer)",
    "id": "Response or respondent ID (used to spot rows already imported)",
    "respondent_id": "Respondent ID, when one person gave several rows",
    "question": "Which question the free text answers (long-format files)",
    "received_at": "Date and time of the response",
    "role": "Respondent's role (staff, patient, carer, public)",
    "organisation": "Respondent's organisation",
    "sector": "Sector",
    "region": "Region or nation",
    "workstream": "Workstream",
    "equality": "Equality monitoring answer",
    "answer": "Answer to a closed question (choice or rating)",
    "attribute": "Other respondent attribute",
    "ignore": "Do not import",
}

_ID = re.compile(
    r"^(response[ _]?id|respondent[ _]?id|comment[ _]?id|record[ _]?id|submission[ _]?id|id|row_?index)$",
    re.I,
)
_DATE = re.compile(
    r"^(recordeddate|recorded date|completion time|timestamp|end ?date|submitted|date)$", re.I
)
_PERSONAL = re.compile(
    r"^(ip ?address|ipaddress|email|email address|name|first ?name|last ?name|recipient.*|"
    r"location ?(latitude|longitude)|externalreference|external ?reference|person identifiable info\??)$",
    re.I,
)
_METADATA = re.compile(
    r"^(status|progress|duration.*|finished|distributionchannel|userlanguage|collector ?id|"
    r"custom data.*|start ?date|start time|last modified time|startdate|enddate)$",
    re.I,
)
_EQUALITY = re.compile(
    r"ethnic|gender|\bsex\b|\bage\b|age group|disab|health condition|religio|belief|sexual orientation|"
    r"pregnan|marital|civil partnership|trans\b|caring responsibilit",
    re.I,
)
_TEXT_HINT = re.compile(
    r"comment|feedback|why|what|describe|tell us|explain|suggest|improve|change|keep|never|answer|"
    r"response|free ?text|story|experience|other.*specify",
    re.I,
)


@dataclass
class ColumnMapping:
    """Roles for the columns of one source, keyed by column header."""

    roles: dict[str, str] = field(default_factory=dict)
    questions: dict[str, str] = field(default_factory=dict)  # text column -> question prompt
    drop_repeats: bool = True

    def columns_with(self, role: str) -> list[str]:
        return [h for h, r in self.roles.items() if r == role]

    def as_dict(self) -> dict:
        return {
            "columns": dict(self.roles),
            "questions": dict(self.questions),
            "drop_repeats": self.drop_repeats,
        }

    @classmethod
    def from_dict(cls, data: dict, source: Source, filename: str = "mapping") -> ColumnMapping:
        columns = data.get("columns")
        if not isinstance(columns, dict):
            raise ImportFileError(filename, 'should hold {"columns": {"<header>": "<role>"}}')
        headers = {c.header for c in source.columns}
        by_label = {c.label: c.header for c in source.columns}
        mapping = propose_mapping(source) if data.get("propose_rest", True) else cls()
        if not data.get("propose_rest", True):
            mapping.roles = dict.fromkeys(headers, "ignore")
        for header, role in columns.items():
            real = header if header in headers else by_label.get(header)
            if real is None:
                raise ImportFileError(
                    source.filename,
                    f"has no column '{header}' (named in {filename}); its columns are: "
                    + ", ".join(c.header for c in source.columns[:40]),
                )
            if role not in ROLES:
                raise ImportFileError(
                    filename,
                    f"'{role}' is not a column role; use one of: {', '.join(ROLES)}",
                    field=header,
                )
            mapping.roles[real] = role
        for header, prompt in (data.get("questions") or {}).items():
            mapping.questions[by_label.get(header, header)] = str(prompt)
        mapping.drop_repeats = bool(data.get("drop_repeats", True))
        return mapping

    @classmethod
    def from_file(cls, path: str | Path, source: Source) -> ColumnMapping:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ImportFileError(path.name, f"cannot be read as a JSON mapping: {exc}") from None
        return cls.from_dict(data, source, path.name)


def _is_numberish(values: list[str]) -> bool:
    return bool(values) and all(re.fullmatch(r"[-+]?\d+([.,]\d+)?", v) for v in values)


def propose_role(column: Column) -> str:
    """Guess one column's role from its header, question text and sample values."""
    header = column.header.strip()
    label = column.label
    samples = column.samples
    if re.fullmatch(
        r"(respondent|person|participant|patient)[ _]?(id|identifier|number)", header, re.I
    ):
        return "respondent_id"
    if _ID.match(header):
        return "id"
    if re.fullmatch(r"((fft|survey) )?question( text)?", header, re.I):
        return "question"
    if _PERSONAL.match(header):
        return "ignore"
    if _DATE.match(header):
        return "received_at"
    if _METADATA.match(header):
        return "ignore"
    if samples and all(s.startswith('{"ImportId"') for s in samples):
        return "ignore"
    low = label.lower()
    if not samples:
        # Empty in the rows sampled: say so plainly (kept as an attribute) rather than guess.
        return "attribute"
    if _is_numberish(samples) and not re.search(r"rate|rating|scale|score|how ", low):
        return "attribute"  # codes, flags and counts
    if "workstream" in low:
        return "workstream"
    if re.search(r"\brole\b|are you a|best describes you|which of these are you|job title", low):
        return "role"
    if re.search(r"organi[sz]ation|\btrust\b|employer|which hospital|practice name", low):
        return "organisation"
    if re.search(r"\bsector\b|service type|setting", low):
        return "sector"
    if re.search(r"region|do you live in|nation\b|area\b|county|\bics\b|\bicb\b", low):
        return "region"
    if _EQUALITY.search(low) and not _long(samples):
        return "equality"
    if _is_numberish(samples):
        return (
            "answer"
            if re.search(r"rate|rating|scale|how (likely|much|well|good)|score", low)
            else "attribute"
        )
    if _long(samples) or (_TEXT_HINT.search(low) and _distinct(samples) > 0.5):
        return "text"
    if re.search(r"rate|rating|how (likely|much|well|good)", low):
        return "answer"
    return "attribute"


def _mean_length(samples: list[str]) -> float:
    return sum(len(s) for s in samples) / len(samples) if samples else 0.0


def _long(samples: list[str]) -> bool:
    return _mean_length(samples) >= 25


def _distinct(samples: list[str]) -> float:
    return len(set(samples)) / len(samples) if samples else 0.0


def propose_mapping(source: Source) -> ColumnMapping:
    """A proposed role for every column, and the question prompt for each text column."""
    mapping = ColumnMapping()
    for column in source.columns:
        role = propose_role(column)
        if role == "id" and mapping.columns_with("id"):
            role = "attribute"
        if role in ("received_at", "question", "respondent_id") and mapping.columns_with(role):
            role = "ignore" if role == "received_at" else "attribute"
        mapping.roles[column.header] = role
        if role == "text":
            mapping.questions[column.header] = column.label
    if not mapping.columns_with("id") and mapping.columns_with("respondent_id"):
        # One row per respondent: their ID identifies the row too.
        mapping.roles[mapping.columns_with("respondent_id")[0]] = "id"
    return mapping
