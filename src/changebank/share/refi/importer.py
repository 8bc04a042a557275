"""REFI-QDA import: a codebook (``.qdc``) or a whole project (``.qdpx``) into a programme.

The file is checked first (safe zip, safe XML, the REFI-QDA schema, codes at most three levels
deep); a file that fails raises :class:`~.validate.RefiError` and nothing is written. The import
itself runs in one transaction.

Mapping (REFI-QDA → changebank), the reverse of :mod:`.export`:

* A top-level code that is not codable, or has children → a Theme; a top-level codable code with
  no children → a Code outside any theme. A codable top-level code with children (an NVivo parent
  node) also gets a code of the same name under its theme, which takes the codings made on the
  parent itself.
* A second-level code → a Code under its theme. A third-level code → a Code under the same theme,
  labelled "second › third" (changebank has two levels); a second-level folder (not codable) with
  children is not kept itself, its children carry its name. Deeper nesting is refused.
* Codes are matched by GUID first (the GUIDs changebank exported, or kept from an earlier import),
  then by name under the same parent; matched codes are updated, others created.
* Sets named "Also in: <theme>" (as changebank exports them) → the member codes also sit under
  that theme. Notes referenced by a theme → the theme's *meaning*.
* TextSource → a Submission (``source="import"``), its text from ``sources/`` or ``Sources/``
  (``internal://``) or ``PlainTextContent``; ``dedupe_key`` is ``refi:<source GUID>``, so importing
  the same file again adds nothing. Source variables named as changebank exports them set the
  reference, question, workstream, consent and moderation; other source variables become closed
  answers.
* Case → a Respondent matched or created by name (``external_id``); its variables set role,
  organisation, sector and region, others become attributes; its SourceRefs link submissions.
* PlainTextSelection + Coding → a CodeAssignment with a CodeSpan (a selection covering the whole
  text gives an assignment without span, as changebank's own whole-text codings are); a Coding
  directly on a source → an assignment without span. Codings whose ``creatingUser`` is
  changebank's analysis stay AI suggestions; others are the analyst's (``origin="human"``),
  ``decided_by`` the changebank user of that name when there is one.

Everything else in the file is counted in the report's ``lost`` (REFI-QDA §7, "Data loss").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from lxml import etree

from changebank.core import audit
from changebank.listen.models import (
    ImportBatch,
    Programme,
    Question,
    Respondent,
    Role,
    Submission,
    Workstream,
    new_reference,
)
from changebank.listen.privacy_ingest import map_offset, text_fields
from changebank.understand.models import Code, CodeAssignment, CodeSpan, Origin, Theme

from . import export as ex
from .identity import (
    AI_USER_GUID,
    DEDUPE_PREFIX,
    FORMAT_QDC,
    FORMAT_QDPX,
    Identities,
    canonical,
    derived,
    palette_colour,
)
from .validate import CODEBOOK_NS, PROJECT_NS, Qdpx, RefiError, open_qdpx, read_qdc

#: Codes deeper than this are refused (3: theme, code, and a flattened third level).
MAX_DEPTH = 3
CHUNK = 500
REFERENCE_RE = re.compile(r"^CB-[A-Z0-9]{4}-[A-Z0-9]{4}$")
FLATTEN = " › "


def _n(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass
class RefiImportReport:
    """What an import added or matched, and what the file held that changebank could not keep."""

    filename: str
    format: str
    themes_added: int = 0
    themes_updated: int = 0
    codes_added: int = 0
    codes_updated: int = 0
    sources_read: int = 0
    sources_added: int = 0
    sources_already_imported: int = 0
    respondents_added: int = 0
    respondents_matched: int = 0
    questions_added: int = 0
    codings_added: int = 0
    codings_already: int = 0
    spans_added: int = 0
    users_matched: int = 0
    #: data loss: what was in the file and is not kept -> count
    lost: dict[str, int] = field(default_factory=dict)
    #: how things were kept when changebank has no direct equivalent -> count
    changed: dict[str, int] = field(default_factory=dict)
    batch_id: int | None = None

    def lose(self, what: str, n: int = 1) -> None:
        if n:
            self.lost[what] = self.lost.get(what, 0) + n

    def change(self, what: str, n: int = 1) -> None:
        if n:
            self.changed[what] = self.changed.get(what, 0) + n

    def summary(self) -> str:
        parts = [
            f"{_n(self.themes_added, 'theme')} added, {self.themes_updated:,} matched",
            f"{_n(self.codes_added, 'code')} added, {self.codes_updated:,} matched",
        ]
        if self.format == "qdpx":
            parts += [
                f"{_n(self.sources_added, 'submission')} added"
                + (
                    f" ({self.sources_already_imported:,} already imported)"
                    if self.sources_already_imported
                    else ""
                ),
                f"{_n(self.respondents_added, 'respondent')} added, "
                f"{self.respondents_matched:,} matched",
                f"{_n(self.codings_added, 'coding')} added "
                f"({_n(self.spans_added, 'passage')} marked)"
                + (f", {self.codings_already:,} already there" if self.codings_already else ""),
            ]
        return "; ".join(parts) + "."

    def lines(self) -> list[str]:
        """The human-readable report: the summary, then what was changed, then what was lost."""
        out = [self.summary()]
        out += [f"Kept differently: {what} ({n:,})." for what, n in self.changed.items()]
        out += [f"Not kept: {what} ({n:,})." for what, n in self.lost.items()]
        if not self.lost:
            out.append("Nothing in the file was lost.")
        return out

    @property
    def loss_lines(self) -> list[str]:
        return [f"{what} ({n:,})" for what, n in self.lost.items()]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# --- the code tree ------------------------------------------------------------------------------


@dataclass
class _Node:
    guid: str
    name: str
    codable: bool
    color: str | None
    description: str | None
    note_refs: list[str]
    children: list[_Node]
    line: int | None


def _local(el: Any) -> str:
    return etree.QName(el).localname


def _kids(el: Any, name: str) -> list[Any]:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def _kid(el: Any, name: str) -> Any:
    found = _kids(el, name)
    return found[0] if found else None


def _guid(value: str | None, filename: str, line: int | None) -> str:
    try:
        return canonical(value or "")
    except ValueError:
        raise RefiError(filename, f"line {line}: ‘{value}’ is not a GUID") from None


def _nodes(codes_el: Any, filename: str, path: tuple[str, ...] = ()) -> list[_Node]:
    out = []
    for el in _kids(codes_el, "Code"):
        name = el.get("name", "")
        here = (*path, name)
        if len(here) > MAX_DEPTH:
            raise RefiError(
                filename,
                f"line {el.sourceline}: the code ‘{' › '.join(here)}’ is nested {len(here)} levels "
                f"deep. changebank keeps themes and codes, and flattens a third level into its "
                f"second; codes more than {MAX_DEPTH} levels deep cannot be kept. Move them up in "
                "the tool that made the file and export again. Nothing was imported",
            )
        desc = _kid(el, "Description")
        out.append(
            _Node(
                guid=_guid(el.get("guid"), filename, el.sourceline),
                name=name,
                codable=el.get("isCodable") in ("true", "1"),
                color=el.get("color"),
                description=desc.text if desc is not None else None,
                note_refs=[
                    _guid(n.get("targetGUID"), filename, n.sourceline) for n in _kids(el, "NoteRef")
                ],
                children=_nodes(el, filename, here),
                line=el.sourceline,
            )
        )
    return out


@dataclass
class _CodeTarget:
    code: Code | None = None
    theme: Theme | None = None


class _Codebook:
    """Turns the file's code tree into themes and codes, and resolves codings' CodeRefs."""

    def __init__(
        self, programme: Programme, ids: Identities, report: RefiImportReport, kept: dict
    ) -> None:
        self.programme = programme
        self.ids = ids
        self.report = report
        self.kept = kept  # the "refi" part of the batch mapping
        self.themes_by_guid = ids.themes_by_guid()
        self.codes_by_guid = ids.codes_by_guid()
        self.targets: dict[str, _CodeTarget] = {}
        self.theme_nodes: dict[str, Theme] = {}  # file guid -> theme
        self.theme_names: dict[str, Theme] = {}
        self.general: dict[int, Code] = {}
        self.meaning_refs: dict[int, list[str]] = {}
        self.next_theme = (
            Theme.objects.filter(programme=programme).aggregate(m=Max("position"))["m"] or 0
        ) + (1 if Theme.objects.filter(programme=programme).exists() else 0)

    def _keep(self, kind: str, pk: int, guid: str, color: str | None, current: str) -> None:
        entry: dict[str, str] = {}
        if guid != current:
            entry["guid"] = guid
        if color:
            entry["color"] = color
        if entry:
            entry.setdefault("guid", guid)
            self.kept.setdefault(kind, {})[str(pk)] = entry

    def _theme(self, node: _Node) -> Theme:
        theme = self.themes_by_guid.get(node.guid)
        if theme is None:
            theme = (
                Theme.objects.filter(programme=self.programme, label=node.name)
                .order_by("position", "id")
                .first()
            )
            matched_by_guid = False
        else:
            matched_by_guid = True
        if theme is None:
            theme = Theme.objects.create(
                programme=self.programme,
                label=node.name[:200],
                description=node.description or "",
                origin=Origin.HUMAN,
                position=self.next_theme,
            )
            self.next_theme += 1
            self.report.themes_added += 1
        else:
            changed = []
            if matched_by_guid and theme.label != node.name[:200]:
                theme.label = node.name[:200]
                changed.append("label")
            if node.description is not None and theme.description != node.description:
                theme.description = node.description
                changed.append("description")
            if changed:
                theme.save(update_fields=[*changed, "updated_at"])
            self.report.themes_updated += 1
        self._keep("themes", theme.pk, node.guid, node.color, self.ids.theme(theme.pk))
        self.themes_by_guid[node.guid] = theme
        self.theme_nodes[node.guid] = theme
        self.theme_names[node.name] = theme
        if node.note_refs:
            self.meaning_refs[theme.pk] = node.note_refs
        self.targets[node.guid] = _CodeTarget(theme=theme)
        return theme

    def _code(self, node: _Node, theme: Theme | None, label: str, position: int) -> Code:
        code = self.codes_by_guid.get(node.guid)
        matched_by_guid = code is not None
        if code is None:
            code = (
                Code.objects.filter(programme=self.programme, theme=theme, label=label[:200])
                .order_by("position", "id")
                .first()
            )
        if code is None:
            code = Code.objects.create(
                programme=self.programme,
                theme=theme,
                label=label[:200],
                description=node.description or "",
                origin=Origin.HUMAN,
                status=Code.Status.ACCEPTED,
                position=position,
            )
            self.report.codes_added += 1
        else:
            changed = []
            if matched_by_guid and code.label != label[:200]:
                code.label = label[:200]
                changed.append("label")
            if matched_by_guid and code.theme_id != (theme.pk if theme else None):
                code.theme = theme
                changed.append("theme")
            if node.description is not None and code.description != node.description:
                code.description = node.description
                changed.append("description")
            if changed:
                code.save(update_fields=[*changed, "updated_at"])
            self.report.codes_updated += 1
        if node.note_refs:
            self.report.lose("notes (memos) attached to codes", len(node.note_refs))
        self._keep("codes", code.pk, node.guid, node.color, self.ids.code(code.pk))
        self.codes_by_guid[node.guid] = code
        self.targets[node.guid] = _CodeTarget(code=code)
        return code

    def build(self, nodes: list[_Node]) -> None:
        loose_position = 0
        for node in nodes:
            if node.children or not node.codable:
                theme = self._theme(node)
                position = 0
                if node.codable:
                    # A codable parent: its own codings go to a code of the same name.
                    general = self._code(
                        _Node(
                            derived("general", node.guid), node.name, True, node.color,
                            None, [], [], node.line,
                        ),
                        theme, node.name, position,
                    )  # fmt: skip
                    self.targets[node.guid] = _CodeTarget(code=general, theme=theme)
                    self.report.change(
                        "codable parent codes kept as a theme plus a code of the same name"
                    )
                    position += 1
                for child in node.children:
                    if child.children:
                        if child.codable:
                            self._code(child, theme, child.name, position)
                            position += 1
                        else:
                            self.report.change(
                                "third-level codes whose folder was not codable: the folder's "
                                "name is kept in their labels"
                            )
                        for grandchild in child.children:
                            self._code(
                                grandchild, theme, child.name + FLATTEN + grandchild.name, position
                            )
                            position += 1
                            self.report.change(
                                f"third-level codes flattened into their theme, labelled "
                                f"“code{FLATTEN}sub-code”"
                            )
                            if grandchild.children:  # cannot happen (MAX_DEPTH)
                                raise RefiError(self.report.filename, "codes nested too deep")
                    else:
                        self._code(child, theme, child.name, position)
                        position += 1
            else:
                self._code(node, None, node.name, loose_position)
                loose_position += 1

    def apply_sets(self, sets: list[tuple[str, str, list[str], int]]) -> None:
        """``sets``: (guid, name, member code guids, other members). "Also in" sets → also_in."""
        also_guids = {derived("also-in", g): t for g, t in self.theme_nodes.items()}
        for guid, name, members, others in sets:
            theme = also_guids.get(guid)
            if theme is None and name.startswith(ex.ALSO_IN_PREFIX):
                theme = self.theme_names.get(name[len(ex.ALSO_IN_PREFIX) :])
            if theme is None:
                self.report.lose("sets (groups of codes, sources or notes)")
                continue
            for member in members:
                target = self.targets.get(member)
                if target is None or target.code is None:
                    self.report.lose("members of “Also in” sets that are not codes")
                    continue
                if target.code.theme_id != theme.pk:
                    target.code.also_in.add(theme)
            if others:
                self.report.lose("sources and notes in “Also in” sets", others)

    def apply_meanings(self, notes: dict[str, str]) -> set[str]:
        used = set()
        for theme_pk, refs in self.meaning_refs.items():
            texts = [notes[r] for r in refs if r in notes]
            used.update(r for r in refs if r in notes)
            if texts:
                meaning = "\n\n".join(texts)
                Theme.objects.filter(pk=theme_pk).update(meaning=meaning)
        return used

    def code_for(self, guid: str) -> Code | None:
        target = self.targets.get(guid)
        if target is None:
            code = self.codes_by_guid.get(guid)
            return code
        if target.code is not None:
            return target.code
        theme = target.theme
        assert theme is not None
        # A coding on a theme (a folder): kept on a code of the theme's name.
        code = self.general.get(theme.pk)
        if code is None:
            code, created = Code.objects.get_or_create(
                programme=self.programme,
                theme=theme,
                label=theme.label,
                defaults={"origin": Origin.HUMAN, "status": Code.Status.ACCEPTED},
            )
            if created:
                self.report.codes_added += 1
            self.general[theme.pk] = code
        self.report.change("codings on a theme (a folder) kept on a code of the theme's name")
        return code


# --- shared -------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _new_batch(path: Path, programme: Programme, fmt: str, name: str, user: Any) -> ImportBatch:
    now = timezone.now()
    return ImportBatch.objects.create(
        programme=programme,
        filename=name[:300],
        file_sha256=_sha256(path),
        size=path.stat().st_size,
        detected_format=fmt,
        mapping={},
        status=ImportBatch.Status.COMPLETED,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        started_at=now,
        finished_at=now,
    )


def _finish_batch(batch: ImportBatch, report: RefiImportReport, kept: dict) -> None:
    batch.mapping = {"refi": kept}
    batch.rows_read = report.sources_read
    batch.rows_added = report.sources_added
    batch.rows_already_imported = report.sources_already_imported
    batch.submissions_added = report.sources_added
    batch.respondents_added = report.respondents_added
    batch.warnings = [{"row": "", "field": "", "message": line} for line in report.lines()[1:]]
    batch.finished_at = timezone.now()
    batch.save()
    audit.record("import", batch, after={"summary": report.summary(), "lost": report.lost})
    report.batch_id = batch.pk


def _write_path(path: str | Path | bytes, suffix: str) -> tuple[Path, Any]:
    if isinstance(path, bytes):
        import tempfile

        tmp = tempfile.NamedTemporaryFile(suffix=suffix)  # noqa: SIM115 - closed by the caller
        tmp.write(path)
        tmp.flush()
        return Path(tmp.name), tmp
    return Path(path), None


# --- .qdc ---------------------------------------------------------------------------------------


def import_qdc(
    path: str | Path | bytes,
    programme: Programme,
    *,
    user: Any = None,
    filename: str | None = None,
) -> RefiImportReport:
    """Import a REFI-QDA codebook into ``programme``: themes and codes are created or updated
    (matched by GUID, then by name under the same parent). Raises :class:`RefiError` (nothing
    written) when the file is not a valid codebook."""
    path, tmp = _write_path(path, ".qdc")
    try:
        name = filename or path.name
        tree = read_qdc(path, name)
        root = tree.getroot()
        nodes = _nodes(root.find(f"{{{CODEBOOK_NS}}}Codes"), name)
        report = RefiImportReport(filename=name, format="qdc")
        sets = []
        sets_el = root.find(f"{{{CODEBOOK_NS}}}Sets")
        for s in _kids(sets_el, "Set") if sets_el is not None else []:
            members = [_guid(m.get("guid"), name, m.sourceline) for m in _kids(s, "MemberCode")]
            sets.append((_guid(s.get("guid"), name, s.sourceline), s.get("name", ""), members, 0))
        with transaction.atomic():
            batch = _new_batch(path, programme, FORMAT_QDC, name, user)
            ids = Identities(programme)
            kept: dict = {}
            book = _Codebook(programme, ids, report, kept)
            book.build(nodes)
            book.apply_sets(sets)
            _finish_batch(batch, report, kept)
        return report
    finally:
        if tmp is not None:
            tmp.close()


# --- .qdpx --------------------------------------------------------------------------------------


def _value(vv: Any, report: RefiImportReport) -> tuple[str | None, Any]:
    ref = _kid(vv, "VariableRef")
    target = ref.get("targetGUID") if ref is not None else None
    for child in vv:
        if not isinstance(child.tag, str):
            continue
        kind = _local(child)
        text = child.text or ""
        if kind == "TextValue":
            return target, text
        if kind == "BooleanValue":
            return target, text.strip() in ("true", "1")
        if kind == "IntegerValue":
            return target, int(text.strip())
        if kind == "FloatValue":
            return target, float(text.strip())
        if kind in ("DateValue", "DateTimeValue"):
            report.change("date values of variables kept as text")
            return target, text.strip()
    return target, None


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8", errors="replace")


_ROLES = {**{r.value: r.value for r in Role}, **{r.label.casefold(): r.value for r in Role}}


def _set_case_values(r: Respondent, values: list[tuple[str, Any]]) -> None:
    limits = {
        ex.ROLE_DETAIL: ("role_detail", 200),
        ex.ORGANISATION: ("organisation", 200),
        ex.SECTOR: ("sector", 100),
        ex.REGION: ("region", 100),
    }
    for name, value in values:
        if value is None:
            continue
        if name == ex.ROLE:
            role = _ROLES.get(str(value).casefold())
            if role:
                r.role = role
                continue
        elif name in limits and isinstance(value, str) and len(value) <= limits[name][1]:
            setattr(r, limits[name][0], value)
            continue
        key = name[len(ex.ATTRIBUTE_PREFIX) :] if name.startswith(ex.ATTRIBUTE_PREFIX) else name
        r.attributes[key] = value


class _ProjectImport:
    def __init__(
        self, qdpx: Qdpx, programme: Programme, user: Any, report: RefiImportReport
    ) -> None:
        self.qdpx = qdpx
        self.root = qdpx.tree.getroot()
        self.programme = programme
        self.user = user
        self.report = report
        self.name = qdpx.filename

    def el(self, name: str) -> Any:
        return self.root.find(f"{{{PROJECT_NS}}}{name}")

    def guid(self, el: Any, attr: str = "guid") -> str:
        return _guid(el.get(attr), self.name, el.sourceline)

    # ------------------------------------------------------------------------------------------

    def check(self) -> list[_Node]:
        """Everything that can fail before writing."""
        book = self.el("CodeBook")
        codes = _kid(book, "Codes") if book is not None else None
        return _nodes(codes, self.name) if codes is not None else []

    def run(self, nodes: list[_Node], path: Path) -> None:
        report = self.report
        batch = _new_batch(path, self.programme, FORMAT_QDPX, self.name, self.user)
        self.batch = batch
        ids = Identities(self.programme)
        self.ids = ids
        kept: dict = {}
        book = _Codebook(self.programme, ids, report, kept)
        book.build(nodes)
        self.book = book
        self.users = self._users(kept)
        self.variables = self._variables()
        self.questions: dict[str, Question] = {
            q.key: q for q in Question.objects.filter(programme=self.programme)
        }
        self.workstreams: dict[str, Workstream] = {
            w.name: w for w in Workstream.objects.filter(programme=self.programme)
        }
        self.next_question = (
            Question.objects.filter(programme=self.programme).aggregate(m=Max("position"))["m"] or 0
        ) + 1
        case_of_source, case_respondents = self._cases()
        self._sources(case_of_source)
        self._keep_case_guids(case_respondents, kept)
        notes = self._notes()
        used = book.apply_meanings(notes)
        self._count_notes(notes, used)
        book.apply_sets(self._sets())
        for what in ("Links", "Graphs"):
            el = self.el(what)
            if el is not None:
                report.lose(
                    {"Links": "links between items", "Graphs": "graphs (diagrams)"}[what], len(el)
                )
        desc = self.el("Description")
        if desc is not None and desc.text:
            if not self.programme.description:
                self.programme.description = desc.text
                self.programme.save(update_fields=["description", "updated_at"])
            elif self.programme.description != desc.text:
                report.lose("the project's description (the programme already has one)")
        from changebank.understand.analyse import update_code_sizes

        update_code_sizes(self.programme)
        _finish_batch(batch, report, kept)

    # ------------------------------------------------------------------------------------------

    def _users(self, kept: dict) -> dict[str, tuple[str, Any]]:
        """file user guid -> ("ai" | "human", changebank user or None)."""
        users_el = self.el("Users")
        out: dict[str, tuple[str, Any]] = {}
        if users_el is None:
            return out
        User = get_user_model()
        for u in _kids(users_el, "User"):
            guid = self.guid(u)
            if guid == AI_USER_GUID:
                out[guid] = ("ai", None)
                continue
            name = (u.get("name") or "").strip()
            match = None
            if name:
                match = User.objects.filter(**{User.USERNAME_FIELD: name}).first()
                if match is None and " " in name:
                    first, last = name.split(" ", 1)
                    found = list(User.objects.filter(first_name=first, last_name=last)[:2])
                    match = found[0] if len(found) == 1 else None
            if match is not None:
                self.report.users_matched += 1
                username = match.get_username()
                if guid != derived("user", username):
                    kept.setdefault("users", {})[username] = guid
            out[guid] = ("human", match)
        return out

    def _variables(self) -> dict[str, str]:
        el = self.el("Variables")
        if el is None:
            return {}
        return {self.guid(v): v.get("name", "") for v in _kids(el, "Variable")}

    def _named_values(self, el: Any) -> list[tuple[str, Any]]:
        out = []
        for vv in _kids(el, "VariableValue"):
            target, value = _value(vv, self.report)
            if target is None:
                continue
            name = self.variables.get(canonical(target))
            if name is None:
                self.report.lose("variable values of undeclared variables")
                continue
            out.append((name, value))
        return out

    def _cases(self) -> tuple[dict[str, Respondent], dict[int, str]]:
        """Respondents for the cases; returns source guid -> respondent, respondent pk -> case
        guid."""
        cases_el = self.el("Cases")
        of_source: dict[str, Respondent] = {}
        case_guid: dict[int, str] = {}
        if cases_el is None:
            return of_source, case_guid
        cases = [(case, self.guid(case)) for case in _kids(cases_el, "Case")]
        names = list(dict.fromkeys((case.get("name") or guid)[:200] for case, guid in cases))
        existing: dict[str, Respondent] = {}
        for i in range(0, len(names), CHUNK):
            for r in Respondent.objects.filter(
                programme=self.programme, external_id__in=names[i : i + CHUNK]
            ):
                existing[r.external_id] = r
        new: dict[str, Respondent] = {}
        for case, _guid in cases:
            name = (case.get("name") or _guid)[:200]
            if name in existing or name in new:
                self.report.respondents_matched += 1
                continue
            r = Respondent(programme=self.programme, external_id=name, attributes={})
            _set_case_values(r, self._named_values(case))
            new[name] = r
        Respondent.objects.bulk_create(list(new.values()), batch_size=CHUNK)
        self.report.respondents_added += len(new)
        existing.update(new)
        for case, guid in cases:
            r = existing[(case.get("name") or guid)[:200]]
            case_guid.setdefault(r.pk, guid)
            if _kid(case, "Description") is not None:
                self.report.lose("descriptions of cases")
            self.report.lose("codes applied to whole cases", len(_kids(case, "CodeRef")))
            self.report.lose("selections linked to cases", len(_kids(case, "SelectionRef")))
            for ref in _kids(case, "SourceRef"):
                sguid = self.guid(ref, "targetGUID")
                if sguid in of_source and of_source[sguid].pk != r.pk:
                    self.report.lose(
                        "links of a source to a second case (a submission has one respondent)"
                    )
                    continue
                of_source[sguid] = r
        return of_source, case_guid

    def _keep_case_guids(self, case_guid: dict[int, str], kept: dict) -> None:
        if not case_guid:
            return
        first: dict[int, str] = {}
        rows = (
            Submission.objects.filter(respondent_id__in=list(case_guid))
            .order_by("respondent_id", "id")
            .values_list("respondent_id", "id", "dedupe_key")
        )
        for rid, pk, key in rows.iterator(chunk_size=5000):
            first.setdefault(rid, self.ids.source(pk, key))
        for rid, guid in case_guid.items():
            if guid != self.ids.case(rid, first.get(rid)):
                kept.setdefault("respondents", {})[str(rid)] = {"guid": guid}

    def _question(self, key: str | None, prompt: str | None) -> Question | None:
        if not key and not prompt:
            return None
        key = slugify(key or prompt or "")[:80] or "question"
        q = self.questions.get(key)
        if q is None:
            q = Question.objects.create(
                programme=self.programme,
                key=key,
                prompt=prompt or key,
                kind=Question.Kind.FREE_TEXT,
                on_form=False,
                position=self.next_question,
            )
            self.next_question += 1
            self.questions[key] = q
            self.report.questions_added += 1
        return q

    def _submission_fields(self, values: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"answers": {}}
        key = prompt = None
        for name, value in values:
            if value is None:
                continue
            if name == ex.REFERENCE and isinstance(value, str) and REFERENCE_RE.match(value):
                out["reference"] = value
            elif name == ex.QUESTION and isinstance(value, str):
                key = value
            elif name == ex.PROMPT and isinstance(value, str):
                prompt = value
            elif name == ex.WORKSTREAM and isinstance(value, str) and len(value) <= 200:
                ws = self.workstreams.get(value)
                if ws is None:
                    ws = Workstream.objects.create(programme=self.programme, name=value)
                    self.workstreams[value] = ws
                out["workstream"] = ws
            elif name == ex.CONSENT and isinstance(value, bool):
                out["consent_given"] = value
            elif name == ex.MODERATION and value in Submission.Moderation.values:
                out["moderation_status"] = value
            else:
                k = name[len(ex.ANSWER_PREFIX) :] if name.startswith(ex.ANSWER_PREFIX) else name
                out["answers"][k] = value
        out["question"] = self._question(key, prompt)
        return out

    def _text(self, src: Any) -> str | None:
        content = _kid(src, "PlainTextContent")
        if content is not None:
            return content.text or ""
        where = src.get("plainTextPath") or ""
        if where.startswith("internal://") or "://" not in where and where:
            data = self.qdpx.read_source(where)
            if data is None:
                self.report.lose("text sources whose file is missing from the .qdpx")
                return None
            return _decode(data)
        if where:
            self.report.lose("text sources kept outside the .qdpx (relative:// or absolute://)")
        else:
            self.report.lose("text sources with no text")
        return None

    def _sources(self, case_of_source: dict[str, Respondent]) -> None:
        sources_el = self.el("Sources")
        if sources_el is None:
            return
        pending: list[tuple[Submission, list]] = []
        for src in sources_el:
            if not isinstance(src.tag, str):
                continue
            kind = _local(src)
            if kind != "TextSource":
                self._lose_source(src, kind)
                continue
            self.report.sources_read += 1
            guid = self.guid(src)
            text = self._text(src)
            if text is None:
                self._lose_codings(src)
                continue
            if src.get("richTextPath"):
                self.report.change("formatted (rich text) versions of sources: plain text kept")
            if _kid(src, "Description") is not None:
                self.report.lose("descriptions of sources")
            self.report.lose("notes (memos) on sources", len(_kids(src, "NoteRef")))
            codings = self._codings(src, text)
            # personal data is redacted at ingest: the codings move onto the redacted text
            redacted = text_fields(self.programme, text, names=self.programme.names_to_redact())
            if redacted["redactions"]:
                marks = redacted["redactions"]
                codings = [
                    (code, origin, user, map_offset(marks, s), map_offset(marks, e, end=True))
                    for code, origin, user, s, e in codings
                ]
            fields = self._submission_fields(self._named_values(src))
            received = parse_datetime(src.get("creationDateTime") or "") or timezone.now()
            if timezone.is_naive(received):
                received = timezone.make_aware(received, dt.UTC)
            sub = Submission(
                programme=self.programme,
                **redacted,
                source=Submission.Source.IMPORT,
                received_at=received,
                reference=fields.pop("reference", None) or new_reference(),
                respondent=case_of_source.get(guid),
                import_batch=self.batch,
                source_row=self.report.sources_read,
                dedupe_key=DEDUPE_PREFIX + guid,
                **fields,
            )
            pending.append((sub, codings))
            if len(pending) >= CHUNK:
                self._flush(pending)
                pending = []
        self._flush(pending)

    def _lose_source(self, src: Any, kind: str) -> None:
        label = {
            "PictureSource": "picture sources",
            "PDFSource": "PDF sources",
            "AudioSource": "audio sources",
            "VideoSource": "video sources",
        }.get(kind, f"{kind} elements")
        self.report.lose(label)
        self._lose_codings(src)

    def _lose_codings(self, src: Any) -> None:
        n = sum(1 for el in src.iter(f"{{{PROJECT_NS}}}Coding"))
        self.report.lose("codings on sources changebank could not keep", n)
        for what, label in (
            ("PictureSelection", "picture selections"),
            ("PDFSelection", "PDF area selections"),
            ("AudioSelection", "audio selections"),
            ("VideoSelection", "video selections"),
            ("TranscriptSelection", "transcript selections"),
        ):
            self.report.lose(label, sum(1 for _ in src.iter(f"{{{PROJECT_NS}}}{what}")))

    def _coder(self, el: Any) -> tuple[str, Any]:
        user = el.get("creatingUser")
        if not user:
            return Origin.HUMAN, None
        guid = canonical(user)
        origin, match = self.users.get(guid, ("human", None))
        if origin == "ai":
            return Origin.AI, None
        if match is None:
            self.report.lose("coders of codings who have no changebank account (codings kept)")
        return Origin.HUMAN, match

    def _codings(self, src: Any, text: str) -> list[tuple[Code, str, Any, int, int]]:
        """[(code, origin, user, start, end)] of a source's selections and codings."""
        out = []
        length = len(text)

        def add(coding: Any, start: int, end: int) -> None:
            ref = _kid(coding, "CodeRef")
            code = self.book.code_for(canonical(ref.get("targetGUID")))
            if code is None:
                self.report.lose("codings of codes that are not in the file's codebook")
                return
            self.report.lose("notes (memos) on codings", len(_kids(coding, "NoteRef")))
            origin, user = self._coder(coding)
            out.append((code, origin, user, start, end))

        for sel in _kids(src, "PlainTextSelection"):
            start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
            if _kid(sel, "Description") is not None:
                self.report.lose("descriptions of selections")
            self.report.lose("notes (memos) on selections", len(_kids(sel, "NoteRef")))
            codings = _kids(sel, "Coding")
            if not codings:
                self.report.lose("selections without a coding")
                continue
            if start < 0 or end > length or end < start or (end == start and length):
                self.report.lose("codings whose selection falls outside the text", len(codings))
                continue
            for coding in codings:
                add(coding, start, end)
        for coding in _kids(src, "Coding"):
            add(coding, 0, length)
        return out

    def _flush(self, pending: list[tuple[Submission, list]]) -> None:
        if not pending:
            return
        keys = [s.dedupe_key for s, _ in pending]
        existing = dict(
            Submission.objects.filter(programme=self.programme, dedupe_key__in=keys).values_list(
                "dedupe_key", "id"
            )
        )
        new = [s for s, _ in pending if s.dedupe_key not in existing]
        seen: set[str] = set()
        unique_new = []
        for s in new:
            if s.dedupe_key in seen:
                self.report.lose("sources repeated in the file (same GUID)")
                continue
            seen.add(s.dedupe_key)
            unique_new.append(s)
        Submission.objects.bulk_create(unique_new, batch_size=CHUNK)
        self.report.sources_added += len(unique_new)
        self.report.sources_already_imported += len(pending) - len(new)
        ids = dict(existing)
        ids.update(
            Submission.objects.filter(
                programme=self.programme, dedupe_key__in=[s.dedupe_key for s in unique_new]
            ).values_list("dedupe_key", "id")
        )
        # Group ranges per (submission, code).
        wanted: dict[tuple[int, int], dict] = {}
        order: list[tuple[int, int]] = []
        lengths: dict[int, int] = {}
        for s, codings in pending:
            sid = ids.get(s.dedupe_key)
            if sid is None:
                continue
            lengths[sid] = len(s.text)
            for code, origin, user, start, end in codings:
                k = (sid, code.pk)
                if k not in wanted:
                    wanted[k] = {"origin": origin, "user": user, "ranges": []}
                    order.append(k)
                if (start, end) not in wanted[k]["ranges"]:
                    wanted[k]["ranges"].append((start, end))
        if not wanted:
            return
        have = {
            (a.submission_id, a.code_id): a
            for a in CodeAssignment.objects.filter(submission_id__in=list(lengths))
        }
        to_create = [
            CodeAssignment(
                submission_id=sid,
                code_id=cid,
                origin=wanted[(sid, cid)]["origin"],
                decided_by=wanted[(sid, cid)]["user"],
                primary=True,
            )
            for sid, cid in order
            if (sid, cid) not in have
        ]
        self.report.codings_already += len(order) - len(to_create)
        CodeAssignment.objects.bulk_create(to_create, batch_size=CHUNK)
        self.report.codings_added += len(to_create)
        assignments = {
            (a.submission_id, a.code_id): a
            for a in CodeAssignment.objects.filter(submission_id__in=list(lengths))
        }
        have_spans = set(
            CodeSpan.objects.filter(assignment__in=list(assignments.values())).values_list(
                "assignment_id", "start", "end"
            )
        )
        spans = []
        for k in order:
            ranges = wanted[k]["ranges"]
            whole = (0, lengths[k[0]])
            if all(r == whole for r in ranges):
                continue  # the whole text: an assignment without span
            a = assignments[k]
            for start, end in ranges:
                if end > start and (a.pk, start, end) not in have_spans:
                    spans.append(CodeSpan(assignment=a, start=start, end=end))
                    have_spans.add((a.pk, start, end))
        CodeSpan.objects.bulk_create(spans, batch_size=CHUNK)
        self.report.spans_added += len(spans)

    def _notes(self) -> dict[str, str]:
        notes_el = self.el("Notes")
        out: dict[str, str] = {}
        if notes_el is None:
            return out
        for note in _kids(notes_el, "Note"):
            text = self._text(note)
            out[self.guid(note)] = text or ""
        return out

    def _count_notes(self, notes: dict[str, str], used: set[str]) -> None:
        self.report.lose("notes (memos): changebank has no place for them", len(set(notes) - used))
        self.report.lose("notes on the project as a whole", len(_kids(self.root, "NoteRef")))

    def _sets(self) -> list[tuple[str, str, list[str], int]]:
        sets_el = self.el("Sets")
        out = []
        if sets_el is None:
            return out
        for s in _kids(sets_el, "Set"):
            members = [self.guid(m, "targetGUID") for m in _kids(s, "MemberCode")]
            others = len(_kids(s, "MemberSource")) + len(_kids(s, "MemberNote"))
            out.append((self.guid(s), s.get("name", ""), members, others))
        return out


def import_qdpx(
    path: str | Path,
    programme: Programme,
    *,
    user: Any = None,
    filename: str | None = None,
) -> RefiImportReport:
    """Import a REFI-QDA project into ``programme`` (see the module's documentation). Idempotent:
    sources already imported are not added again. Raises :class:`RefiError` (nothing written) when
    the file is not a safe, valid .qdpx."""
    path = Path(path)
    qdpx = open_qdpx(path, filename)
    try:
        report = RefiImportReport(filename=qdpx.filename, format="qdpx")
        job = _ProjectImport(qdpx, programme, user, report)
        nodes = job.check()
        with transaction.atomic():
            job.run(nodes, path)
        return report
    finally:
        qdpx.close()


def import_refi(
    path: str | Path,
    programme: Programme,
    *,
    user: Any = None,
    filename: str | None = None,
) -> RefiImportReport:
    """Import a .qdc or .qdpx, chosen by the file's content (a zip is a project)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        return import_qdpx(path, programme, user=user, filename=filename)
    return import_qdc(path, programme, user=user, filename=filename)


__all__ = ["RefiImportReport", "import_qdc", "import_qdpx", "import_refi", "palette_colour"]
