"""REFI-QDA exchange: exported .qdc and .qdpx validate against the schemas in ../shared, the demo
data round-trips export → import → export, the reference examples import, bad files are refused
with nothing written, and the web pages."""

from __future__ import annotations

import io
import re
import struct
import zipfile

import pytest
import xmlschema
from django.contrib.auth.models import Group, User
from django.urls import reverse
from lxml import etree

from changebank.listen.models import ImportBatch, Programme, Question, Respondent, Submission
from changebank.share.refi import (
    RefiError,
    export_qdc,
    export_qdpx,
    import_qdc,
    import_qdpx,
    validate_qdc,
    validate_qdpx,
)
from changebank.share.refi.identity import AI_USER_GUID
from changebank.understand.models import Code, CodeAssignment, CodeSpan, Origin, Theme
from tests.conftest import shared

P = "{urn:QDA-XML:project:1.0}"
EMOJI_TEXT = "🙂👍🏽 The video appointment saved me a 40-mile drive, café staff were kind."


def _xsd(name):
    return xmlschema.XMLSchema(str(shared("refi-qda", name)))


def _qde(path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read("project.qde")


def _counts(programme):
    return {
        "submissions": Submission.objects.filter(programme=programme).count(),
        "respondents": Respondent.objects.filter(programme=programme).count(),
        "themes": Theme.objects.filter(programme=programme).count(),
        "codes": Code.objects.filter(programme=programme).count(),
        "codings": CodeAssignment.objects.filter(submission__programme=programme).count(),
        "spans": CodeSpan.objects.filter(assignment__submission__programme=programme).count(),
    }


@pytest.fixture
def coded(programme, analyst):
    """Themes, codes (one under two themes), codings with spans after an emoji, respondents with
    attributes, a theme meaning and a coding by the analysis."""
    q = Question.objects.create(programme=programme, key="keep", prompt="What would you keep?")
    access = Theme.objects.create(
        programme=programme,
        label="Access",
        description="Getting to care",
        meaning="People value not travelling.",
        position=0,
    )
    staff = Theme.objects.create(programme=programme, label="Staff & <kindness>", position=1)
    empty = Theme.objects.create(programme=programme, label="Empty theme", position=2)
    video = Code.objects.create(
        programme=programme, theme=access, label="Video appointments", description="Remote care"
    )
    travel = Code.objects.create(programme=programme, theme=access, label="Less travel")
    travel.also_in.add(staff)
    kind = Code.objects.create(programme=programme, theme=staff, label="Kind staff", position=1)
    loose = Code.objects.create(programme=programme, label="No theme code")
    r1 = Respondent.objects.create(
        programme=programme,
        external_id="R1",
        role="patient",
        organisation="Leeds Teaching Hospitals",
        region="North East and Yorkshire",
        attributes={"Age band": "65+", "Visits": 3, "Score": 4.5, "Carer": True},
    )
    r2 = Respondent.objects.create(programme=programme, role="staff", sector="Acute")
    s1 = Submission.objects.create(
        programme=programme,
        question=q,
        respondent=r1,
        text=EMOJI_TEXT,
        source="form",
        reference="CB-AAAA-BBBB",
        dedupe_key="s1",
        answers={"helped": 5},
    )
    s2 = Submission.objects.create(
        programme=programme,
        question=q,
        respondent=r2,
        text="Line one\r\nKind staff on the ward.\n",
        source="import",
        reference="CB-CCCC-DDDD",
        dedupe_key="s2",
        consent_given=True,
    )
    s3 = Submission.objects.create(
        programme=programme, text="No respondent here", source="form", reference="CB-EEEE-FFFF",
        dedupe_key="s3",
    )  # fmt: skip
    a = CodeAssignment.objects.create(
        submission=s1, code=video, origin=Origin.HUMAN, decided_by=analyst
    )
    start = EMOJI_TEXT.index("video")
    CodeSpan.objects.create(assignment=a, start=start, end=start + len("video appointment"))
    b = CodeAssignment.objects.create(submission=s1, code=travel, origin=Origin.HUMAN)
    dstart = EMOJI_TEXT.index("40-mile")
    CodeSpan.objects.create(assignment=b, start=dstart, end=dstart + len("40-mile drive"))
    CodeAssignment.objects.create(submission=s1, code=kind, origin=Origin.AI, confidence=0.7)
    CodeAssignment.objects.create(submission=s2, code=kind, origin=Origin.AI, confidence=0.9)
    CodeAssignment.objects.create(submission=s3, code=loose, origin=Origin.HUMAN)
    return {
        "programme": programme,
        "themes": (access, staff, empty),
        "codes": (video, travel, kind, loose),
        "submissions": (s1, s2, s3),
        "span": (start, start + len("video appointment")),
    }


# --- (a) the schemas ----------------------------------------------------------------------------


def test_exported_codebook_validates(coded, tmp_path):
    out = tmp_path / "book.qdc"
    summary = export_qdc(coded["programme"], out)
    _xsd("Codebook.xsd").validate(str(out))
    validate_qdc(out)
    assert (summary.themes, summary.codes, summary.sets) == (3, 4, 1)
    root = etree.parse(str(out)).getroot()
    ns = "{urn:QDA-XML:codebook:1.0}"
    access = root.find(f"{ns}Codes/{ns}Code")
    assert access.get("name") == "Access" and access.get("isCodable") == "false"
    assert [c.get("name") for c in access.findall(f"{ns}Code")] == [
        "Video appointments",
        "Less travel",
    ]
    assert re.fullmatch(r"#[0-9A-F]{6}", access.get("color"))
    also = root.find(f"{ns}Sets/{ns}Set")
    assert also.get("name") == "Also in: Staff & <kindness>"
    assert any("Also in" in line for line in summary.lines())
    # stable GUIDs: the same data exports the same file
    again = tmp_path / "again.qdc"
    export_qdc(coded["programme"], again)
    assert out.read_bytes() == again.read_bytes()


def test_exported_project_validates_with_offsets_in_code_points(coded, tmp_path):
    out = tmp_path / "project.qdpx"
    summary = export_qdpx(coded["programme"], out)
    qde = _qde(out)
    _xsd("Project-mrt2019.xsd").validate(etree.fromstring(qde))
    validate_qdpx(out)
    assert summary.sources == 3 and summary.cases == 2 and summary.users == 2
    assert summary.codings == 5
    root = etree.fromstring(qde)
    s1 = coded["submissions"][0]
    src = next(s for s in root.iter(f"{P}TextSource") if s.get("name") == "CB-AAAA-BBBB keep")
    with zipfile.ZipFile(out) as zf:
        text = zf.read("sources/" + src.get("plainTextPath").split("//")[1]).decode("utf-8")
    assert text == s1.text
    sel = [
        s
        for s in src.findall(f"{P}PlainTextSelection")
        if s.get("startPosition") == str(coded["span"][0])
    ][0]
    start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
    assert text[start:end] == "video appointment"  # code points: the emoji count one each
    whole = [s for s in src.findall(f"{P}PlainTextSelection") if s.get("startPosition") == "0"]
    assert whole[0].get("endPosition") == str(len(s1.text))
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{P}User")}
    assert users[AI_USER_GUID].startswith("changebank analysis") and "ana" in users.values()
    case = next(c for c in root.iter(f"{P}Case") if c.get("name") == "R1")
    names = {v.get("guid"): v.get("name") for v in root.iter(f"{P}Variable")}
    values = {
        names[vv.find(f"{P}VariableRef").get("targetGUID")]: vv[1].text
        for vv in case.findall(f"{P}VariableValue")
    }
    assert values == {
        "Role": "Patient",
        "Organisation": "Leeds Teaching Hospitals",
        "Region": "North East and Yorkshire",
        "Age band": "65+",
        "Visits": "3",
        "Score": "4.5",
        "Carer": "true",
    }
    assert [r.get("targetGUID") for r in case.findall(f"{P}SourceRef")] == [src.get("guid")]
    assert root.find(f"{P}Notes/{P}Note/{P}PlainTextContent").text.startswith("People value")
    lost = " ".join(summary.lines())
    assert "AI confidence" in lost


def test_redacted_project(coded, tmp_path):
    out = tmp_path / "redacted.qdpx"
    summary = export_qdpx(coded["programme"], out, redacted=True)
    validate_qdpx(out)
    _xsd("Project-mrt2019.xsd").validate(etree.fromstring(_qde(out)))
    # only s2 may be published (consent given); s1 and s3 are left out
    assert summary.sources == 1 and summary.cases == 1
    assert (
        summary.not_exported[
            "submissions that may not be published (left out of a redacted project)"
        ]
        == 2
    )
    root = etree.fromstring(_qde(out))
    assert not list(root.iter(f"{P}PlainTextSelection"))
    src = root.find(f"{P}Sources/{P}TextSource")
    assert src.get("name") == "Submission 1"
    assert [c.find(f"{P}CodeRef") is not None for c in src.findall(f"{P}Coding")] == [True]
    assert b"CB-CCCC-DDDD" not in _qde(out)  # no references
    assert any("without character offsets" in line for line in summary.lines())
    fresh = Programme.objects.create(title="Copy", slug="copy")
    report = import_qdpx(out, fresh)
    assert report.sources_added == 1 and report.codings_added == 1 and not report.lost


def test_round_trip_of_the_built_programme(coded, tmp_path, db):
    first = tmp_path / "first.qdpx"
    export_qdpx(coded["programme"], first)
    fresh = Programme.objects.create(title="Copy", slug="copy")
    report = import_qdpx(first, fresh)
    assert not report.lost, report.lines()
    second = tmp_path / "second.qdpx"
    export_qdpx(fresh, second)
    assert _normalised(_qde(first)) == _normalised(_qde(second))
    assert _counts(fresh) == _counts(coded["programme"])
    copy = Submission.objects.get(programme=fresh, reference="CB-AAAA-BBBB")
    assert copy.text == EMOJI_TEXT
    span = CodeSpan.objects.get(
        assignment__submission=copy, assignment__code__label="Video appointments"
    )
    assert copy.text[span.start : span.end] == "video appointment"
    crlf = Submission.objects.get(programme=fresh, reference="CB-CCCC-DDDD")
    assert crlf.text == "Line one\r\nKind staff on the ward.\n" and crlf.consent_given is True
    assert Theme.objects.get(programme=fresh, label="Access").meaning.startswith("People value")
    travel = Code.objects.get(programme=fresh, label="Less travel")
    assert list(travel.also_in.values_list("label", flat=True)) == ["Staff & <kindness>"]
    r1 = Respondent.objects.get(programme=fresh, external_id="R1")
    assert r1.role == "patient"
    assert r1.attributes == {"Age band": "65+", "Visits": 3, "Score": 4.5, "Carer": True}
    ai = CodeAssignment.objects.filter(submission__programme=fresh, origin=Origin.AI).count()
    assert ai == 2
    assert (
        CodeAssignment.objects.get(
            submission=copy, code__label="Video appointments"
        ).decided_by.username
        == "ana"
    )
    # importing the same file again adds nothing
    before = _counts(fresh)
    again = import_qdpx(first, fresh)
    assert _counts(fresh) == before
    assert again.sources_already_imported == 3 and again.sources_added == 0
    assert again.codings_added == 0


def _normalised(qde: bytes) -> bytes:
    """project.qde without what may differ between two exports: dates and the project name."""
    root = etree.fromstring(qde)
    for el in root.iter():
        for attr in ("creationDateTime", "modifiedDateTime"):
            el.attrib.pop(attr, None)
    root.set("name", "-")
    return etree.tostring(root)


# --- (b) the demo data round trip ---------------------------------------------------------------


@pytest.fixture
def demo(db, tmp_path):
    from changebank.demo import FFT_MAPPING, FFT_SAMPLE
    from changebank.listen.importers.loader import import_file
    from changebank.understand.analyse import analyse_now

    lines = FFT_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    sample = tmp_path / "fft_sample_400.csv"
    sample.write_text("".join(lines[:401]), encoding="utf-8")
    fft = Programme.objects.create(
        title="Friends and Family Test comments", slug="fft-demo", visibility="public"
    )
    import_file(sample, fft, mapping=FFT_MAPPING)
    assert analyse_now(fft, embedder="wordllama").status == "done"
    return fft


def test_demo_round_trip_without_loss(demo, tmp_path):
    first = tmp_path / "first.qdpx"
    summary = export_qdpx(demo, first)
    assert summary.sources == Submission.objects.filter(programme=demo).count()
    _xsd("Project-mrt2019.xsd").validate(etree.fromstring(_qde(first)))
    fresh = Programme.objects.create(title="FFT copy", slug="fft-copy")
    report = import_qdpx(first, fresh)
    assert not report.lost, report.lines()
    second = tmp_path / "second.qdpx"
    export_qdpx(fresh, second)
    assert _normalised(_qde(first)) == _normalised(_qde(second))
    assert _counts(fresh) == _counts(demo)
    # the source files are the same too
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        for name in a.namelist():
            if name != "project.qde":
                assert a.read(name) == b.read(name)
    # and the codebook
    qdc1, qdc2 = tmp_path / "1.qdc", tmp_path / "2.qdc"
    export_qdc(demo, qdc1)
    export_qdc(fresh, qdc2)
    assert qdc1.read_bytes() == qdc2.read_bytes()


# --- (c) the reference examples -----------------------------------------------------------------


def test_example_codebook_imports(programme):
    report = import_qdc(shared("refi-qda", "examples", "minimal-codebook.qdc"), programme)
    theme = Theme.objects.get(programme=programme)
    assert theme.label == "Staffing" and theme.description.startswith("Theme:")
    code = Code.objects.get(programme=programme)
    assert (code.label, code.theme) == ("Rota flexibility", theme)
    assert report.themes_added == 1 and report.codes_added == 1
    assert report.lost == {"sets (groups of codes, sources or notes)": 1}
    assert any("sets" in line for line in report.lines())
    # again: matched by GUID, nothing added
    again = import_qdc(shared("refi-qda", "examples", "minimal-codebook.qdc"), programme)
    assert (again.themes_added, again.codes_added, again.codes_updated) == (0, 0, 1)
    assert Code.objects.filter(programme=programme).count() == 1


def test_example_project_imports(programme, tmp_path):
    qde = shared("refi-qda", "examples", "minimal-project.qde").read_bytes()
    out = tmp_path / "minimal.qdpx"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr("sources/05000000-0000-4000-8000-000000000001.txt", "flexible rota, please")
    report = import_qdpx(out, programme)
    sub = Submission.objects.get(programme=programme)
    assert sub.text == "flexible rota, please"
    assert sub.dedupe_key == "refi:05000000-0000-4000-8000-000000000001"
    assert re.fullmatch(r"CB-[A-Z0-9]{4}-[A-Z0-9]{4}", sub.reference)
    assert sub.respondent.external_id == "Respondent 1"
    # "Nurse" is not one of changebank's roles: kept as an attribute
    assert sub.respondent.role == "" and sub.respondent.attributes == {"Role": "Nurse"}
    span = CodeSpan.objects.get()
    assert sub.text[span.start : span.end] == "flexible rota"
    a = span.assignment
    assert a.code.label == "Rota flexibility" and a.origin == Origin.HUMAN and a.decided_by is None
    assert report.lost == {"coders of codings who have no changebank account (codings kept)": 1}


def test_sources_folder_capitalised_and_inline_text(programme, tmp_path):
    qde = shared("refi-qda", "examples", "minimal-project.qde").read_bytes()
    out = tmp_path / "nvivo.qdpx"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(
            "project.qde",
            qde.replace(
                b"05000000-0000-4000-8000-000000000001.txt",
                b"05000000-0000-4000-8000-000000000001.TXT",
            ),
        )
        zf.writestr("Sources/05000000-0000-4000-8000-000000000001.TXT", "\ufeffflexible rota")
    import_qdpx(out, programme)
    assert Submission.objects.get(programme=programme).text == "flexible rota"


# --- (d) bad files ------------------------------------------------------------------------------


def _nothing_written(programme):
    assert _counts(programme) == dict.fromkeys(_counts(programme), 0)
    assert not ImportBatch.objects.filter(programme=programme).exists()


def _project_zip(path, qde: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
    return path


def test_not_a_zip(programme, tmp_path):
    bad = tmp_path / "bad.qdpx"
    bad.write_text("hello")
    with pytest.raises(RefiError, match="not a zip"):
        import_qdpx(bad, programme)
    _nothing_written(programme)


def test_zip_bomb_refused(programme, tmp_path):
    qde = shared("refi-qda", "examples", "minimal-project.qde").read_bytes()
    bomb = _project_zip(tmp_path / "bomb.qdpx", qde)
    data = bytearray(bomb.read_bytes())
    # declare a huge uncompressed size in the central directory entry
    at = data.index(b"PK\x01\x02")
    data[at + 24 : at + 28] = struct.pack("<I", 0xFFFFFFF0)
    bomb.write_bytes(bytes(data))
    with pytest.raises(RefiError, match="zip bomb"):
        import_qdpx(bomb, programme)
    _nothing_written(programme)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE CodeBook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>
<Code guid="6f1c2b7e-2d0a-4c1e-9a51-3b1f0d2e7a01" name="&xxe;" isCodable="true"/></Codes></CodeBook>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&lol3;"/>"""


def test_xml_entities_refused(programme, tmp_path):
    bad = tmp_path / "xxe.qdc"
    bad.write_bytes(XXE)
    with pytest.raises(RefiError, match="DOCTYPE"):
        import_qdc(bad, programme)
    with pytest.raises(RefiError, match="DOCTYPE"):
        import_qdpx(_project_zip(tmp_path / "laughs.qdpx", LAUGHS), programme)
    _nothing_written(programme)


def test_schema_invalid_names_the_line(programme, tmp_path):
    bad = tmp_path / "bad.qdc"
    bad.write_bytes(
        b'<?xml version="1.0"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0">\n<Codes>\n'
        b'<Code guid="not-a-guid" name="x" isCodable="maybe"/>\n</Codes>\n<Sets/>\n</CodeBook>'
    )
    with pytest.raises(RefiError) as info:
        import_qdc(bad, programme)
    text = str(info.value)
    assert "does not follow the REFI-QDA codebook schema" in text
    assert "line 4" in text and "isCodable" in text and "guid" in text
    assert "line 6" in text and "Sets" in text  # Taguette's empty <Sets/>
    qde = shared("refi-qda", "examples", "minimal-project.qde").read_bytes()
    broken = qde.replace(b'startPosition="0"', b'startPosition="zero"')
    with pytest.raises(RefiError, match="project schema") as info:
        import_qdpx(_project_zip(tmp_path / "broken.qdpx", broken), programme)
    assert "startPosition" in str(info.value)
    _nothing_written(programme)


def _nested_codebook(depth: int) -> bytes:
    def code(i):
        guid = f"6f1c2b7e-2d0a-4c1e-9a51-3b1f0d2e7a{i:02d}"
        inner = code(i + 1) if i < depth else ""
        return f'<Code guid="{guid}" name="Level {i}" isCodable="true">{inner}</Code>'

    return (
        '<?xml version="1.0"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        + code(1)
        + "</Codes></CodeBook>"
    ).encode()


def test_codes_nested_four_levels_refused(programme):
    with pytest.raises(RefiError, match="nested 4 levels") as info:
        import_qdc(_nested_codebook(4), programme, filename="deep.qdc")
    assert "Level 1 › Level 2 › Level 3 › Level 4" in str(info.value)
    _nothing_written(programme)


def test_third_level_flattened(programme):
    report = import_qdc(_nested_codebook(3), programme, filename="three.qdc")
    assert Theme.objects.get(programme=programme).label == "Level 1"
    labels = sorted(Code.objects.filter(programme=programme).values_list("label", flat=True))
    # Level 1 is codable: a code of its name takes its own codings
    assert labels == ["Level 1", "Level 2", "Level 2 › Level 3"]
    assert any("flattened" in line for line in report.lines())


def test_unsupported_content_reported(programme, tmp_path):
    qde = b"""<?xml version="1.0" encoding="UTF-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Mixed">
  <CodeBook><Codes><Code guid="0c000000-0000-4000-8000-000000000001" name="A" isCodable="true"/></Codes></CodeBook>
  <Sources>
    <TextSource guid="05000000-0000-4000-8000-000000000001" name="T">
      <PlainTextContent>Hello world</PlainTextContent>
      <PlainTextSelection guid="5e000000-0000-4000-8000-000000000001" startPosition="0" endPosition="5">
        <Description>why</Description>
        <Coding guid="c0000000-0000-4000-8000-000000000001"><CodeRef targetGUID="0c000000-0000-4000-8000-000000000001"/></Coding>
      </PlainTextSelection>
      <PlainTextSelection guid="5e000000-0000-4000-8000-000000000002" startPosition="3" endPosition="99">
        <Coding guid="c0000000-0000-4000-8000-000000000002"><CodeRef targetGUID="0c000000-0000-4000-8000-000000000001"/></Coding>
      </PlainTextSelection>
      <NoteRef targetGUID="0d000000-0000-4000-8000-000000000001"/>
    </TextSource>
    <PDFSource guid="05000000-0000-4000-8000-000000000002" path="internal://x.pdf">
      <PDFSelection guid="5e000000-0000-4000-8000-000000000003" page="1" firstX="0" firstY="0" secondX="1" secondY="1">
        <Coding guid="c0000000-0000-4000-8000-000000000003"><CodeRef targetGUID="0c000000-0000-4000-8000-000000000001"/></Coding>
      </PDFSelection>
    </PDFSource>
    <AudioSource guid="05000000-0000-4000-8000-000000000003" path="relative://a.m4a"/>
  </Sources>
  <Notes><Note guid="0d000000-0000-4000-8000-000000000001" name="memo"><PlainTextContent>A memo</PlainTextContent></Note></Notes>
  <Links><Link guid="0e000000-0000-4000-8000-000000000001"/></Links>
  <Sets><Set guid="0f000000-0000-4000-8000-000000000001" name="Group"><MemberSource targetGUID="05000000-0000-4000-8000-000000000001"/></Set></Sets>
</Project>"""
    report = import_qdpx(_project_zip(tmp_path / "mixed.qdpx", qde), programme)
    assert report.sources_added == 1 and report.codings_added == 1 and report.spans_added == 1
    lost = report.lost
    assert lost["PDF sources"] == 1 and lost["audio sources"] == 1
    assert lost["PDF area selections"] == 1
    assert lost["codings on sources changebank could not keep"] == 1
    assert lost["notes (memos): changebank has no place for them"] == 1
    assert lost["notes (memos) on sources"] == 1
    assert lost["descriptions of selections"] == 1
    assert lost["codings whose selection falls outside the text"] == 1
    assert lost["links between items"] == 1
    assert lost["sets (groups of codes, sources or notes)"] == 1
    lines = report.lines()
    assert "Not kept: PDF sources (1)." in lines and "Not kept: audio sources (1)." in lines
    assert "Nothing in the file was lost." not in lines
    batch = ImportBatch.objects.get(programme=programme)  # the report is kept with the import
    assert "Not kept: PDF sources (1)." in [w["message"] for w in batch.warnings]


def test_error_mid_import_writes_nothing(programme, tmp_path, monkeypatch):
    from changebank.share.refi import importer

    qde = shared("refi-qda", "examples", "minimal-project.qde").read_bytes()
    out = tmp_path / "minimal.qdpx"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr("sources/05000000-0000-4000-8000-000000000001.txt", "flexible rota, please")

    def boom(self, notes, used):
        raise RuntimeError("boom")

    monkeypatch.setattr(importer._ProjectImport, "_count_notes", boom)
    with pytest.raises(RuntimeError):
        import_qdpx(out, programme)
    _nothing_written(programme)


# --- (e) the pages ------------------------------------------------------------------------------


@pytest.fixture
def reader(db):
    from changebank.core.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("eve", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="evaluation lead"))
    return user


def _download(response) -> bytes:
    return b"".join(response.streaming_content)


def test_page_downloads_and_permissions(client, coded, analyst, reader, monkeypatch):
    slug = coded["programme"].slug
    page = reverse("share:refi", args=[slug])
    assert client.get(page).status_code == 302  # sign in first
    client.force_login(analyst)
    html = client.get(page).content.decode()
    assert "Download the codebook" in html and "Import" in html
    qdc = client.get(reverse("share:refi_qdc", args=[slug]))
    assert qdc.status_code == 200 and qdc["Content-Disposition"].endswith('.qdc"')
    validate_qdc(_download(qdc))
    qdpx = client.get(reverse("share:refi_qdpx", args=[slug]))
    data = _download(qdpx)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        texts = [zf.read(n).decode() for n in zf.namelist() if n.startswith("sources/")]
    assert EMOJI_TEXT in texts  # analysts get the original text

    monkeypatch.setattr("changebank.share.privacy.public_text", lambda t: "[redacted] " + t[:3])
    client.force_login(reader)
    html = client.get(page).content.decode()
    assert "redacted" in html and "Import a" not in html
    data = _download(client.get(reverse("share:refi_qdpx", args=[slug])))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        root = etree.fromstring(zf.read("project.qde"))
        texts = [zf.read(n).decode() for n in zf.namelist() if n.startswith("sources/")]
    assert all(t.startswith("[redacted]") for t in texts)
    assert not list(root.iter(f"{P}PlainTextSelection"))  # no offsets into redacted text
    assert client.post(page, {}).status_code == 403

    outsider = User.objects.create_user("nobody", password="a-long-test-password")
    client.force_login(outsider)
    assert client.get(page).status_code == 403
    assert client.get(reverse("share:refi_qdpx", args=[slug])).status_code == 403


def test_page_upload_shows_report(client, programme, analyst):
    client.force_login(analyst)
    page = reverse("share:refi", args=[programme.slug])
    with shared("refi-qda", "examples", "minimal-codebook.qdc").open("rb") as fh:
        response = client.post(page, {"file": fh})
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 theme added" in html and "Not kept: sets" in html
    assert Code.objects.filter(programme=programme, label="Rota flexibility").exists()
    bad = io.BytesIO(XXE)
    bad.name = "evil.qdc"
    response = client.post(page, {"file": bad})
    html = response.content.decode()
    assert "There is a problem" in html and "DOCTYPE" in html
    other = io.BytesIO(b"a,b\n1,2\n")
    other.name = "data.csv"
    html = client.post(page, {"file": other}).content.decode()
    assert "There is a problem" in html and ".qdc or .qdpx" in html


def test_empty_programme_exports_validate(programme, tmp_path):
    qdc, qdpx = tmp_path / "empty.qdc", tmp_path / "empty.qdpx"
    summary = export_qdc(programme, qdc)
    _xsd("Codebook.xsd").validate(str(qdc))
    assert "placeholder" in " ".join(summary.lines())
    export_qdpx(programme, qdpx)
    _xsd("Project-mrt2019.xsd").validate(etree.fromstring(_qde(qdpx)))
    report = import_qdpx(qdpx, Programme.objects.create(title="E", slug="e"))
    assert report.sources_added == 0 and not report.lost
