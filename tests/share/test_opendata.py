"""Open data: only publishable submissions, always redacted; every table in CSV, XLSX and JSON,
with a dictionary that describes every column; formulas neutralised; the public pages."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import openpyxl
import pytest
from django.urls import reverse

from changebank.decide.models import Conversation, Statement, StatementVote
from changebank.listen.models import Respondent, Submission
from changebank.share import opendata
from changebank.understand.models import Code, CodeAssignment, DistinctChange, Theme

pytestmark = pytest.mark.django_db

EMAIL = "jo.bloggs@example.com"


@pytest.fixture
def data(programme):
    theme = Theme.objects.create(programme=programme, label="Video appointments")
    code = Code.objects.create(programme=programme, theme=theme, label="Saves travel")
    nurse = Respondent.objects.create(
        programme=programme, role="staff", equality={"ethnicity": "X"}
    )

    def sub(key, text, **kw):
        s = Submission.objects.create(
            programme=programme, text=text, source="form", reference=key, dedupe_key=key, **kw
        )
        CodeAssignment.objects.create(submission=s, code=code)
        return s

    subs = {
        "consented": sub(
            "REFA1",
            f"Video calls saved me a trip. Email me at {EMAIL}",
            consent_given=True,
            respondent=nurse,
        ),
        "formula": sub("REFA2", "=SUM(A1:A9)", consent_given=True),
        "unknown": sub("REFA3", "No consent flag on this import", consent_given=None),
        "refused": sub("REFA4", "Do not publish me", consent_given=False),
        "pending": sub(
            "REFA5", "Still in moderation", consent_given=True, moderation_status="pending"
        ),
    }
    change = DistinctChange.objects.create(
        programme=programme, text="Keep video calls", count=2, code=code
    )
    change.members.add(subs["consented"], subs["refused"])
    conversation = Conversation.objects.create(
        programme=programme, slug="c", topic="Video", status="open"
    )
    statement = Statement.objects.create(
        conversation=conversation, text="Video is fine for follow-ups"
    )
    for i, v in enumerate([1, 1, -1, 0]):
        StatementVote.objects.create(statement=statement, participant=f"p{i}", vote=v)
    return {"subs": subs, "theme": theme, "code": code, "change": change}


def test_only_publishable_submissions_and_always_redacted(programme, data, tmp_path):
    path = tmp_path / "open.json"
    summary = opendata.write_open_data(programme, path, "json")
    doc = json.loads(path.read_text())
    texts = [r["text"] for r in doc["tables"]["submissions"]]
    assert summary.rows["submissions"] == 2 and len(texts) == 2
    assert EMAIL not in path.read_text() and "[EMAIL]" in texts[0]
    assert "equality" not in path.read_text() and "REFA1" not in json.dumps(doc["tables"])
    codings = doc["tables"]["codings"]
    assert {c["submission_id"] for c in codings} == {
        data["subs"]["consented"].pk,
        data["subs"]["formula"].pk,
    }
    assert doc["tables"]["distinct_changes"][0]["people"] == 1  # the refused member is not counted
    votes = {r["measure"]: r["value"] for r in doc["tables"]["votes"]}
    assert votes == {"agree": 2, "disagree": 1, "pass": 1}
    programme.publication_basis = "all"
    programme.save()
    opendata.write_open_data(programme, path, "json")
    texts = [r["text"] for r in json.loads(path.read_text())["tables"]["submissions"]]
    assert len(texts) == 3 and "No consent flag on this import" in texts
    assert not any("Do not publish" in t or "Still in moderation" in t for t in texts)


def test_dictionary_describes_every_column(programme, data, tmp_path):
    path = tmp_path / "open.json"
    opendata.write_open_data(programme, path, "json")
    doc = json.loads(path.read_text())
    described = {(d["table"], d["column"]) for d in doc["dictionary"]}
    for name, rows in doc["tables"].items():
        table = opendata.TABLES_BY_NAME[name]
        assert all(set(r) == set(table.header) for r in rows)
        assert {(name, c) for c in table.header} <= described
    assert all(d["description"] for d in doc["dictionary"])


def test_csv_zip_neutralises_formulas(programme, data, tmp_path):
    path = tmp_path / "open.zip"
    opendata.write_open_data(programme, path, "csv")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert {f"{t.name}.csv" for t in opendata.TABLES} | {
            "data_dictionary.csv",
            "about.csv",
        } == names
        rows = list(csv.DictReader(io.StringIO(z.read("submissions.csv").decode())))
    assert [r["text"] for r in rows if "SUM(" in r["text"]] == ["'=SUM(A1:A9)"]


def test_csv_beside_a_plain_file_name(programme, data, tmp_path):
    path = tmp_path / "out.csv"
    opendata.write_open_data(programme, path, "csv")
    assert path.read_text(encoding="utf-8-sig").startswith("submission_id,respondent_number")
    assert (tmp_path / "out-codings.csv").exists() and (tmp_path / "out-dictionary.csv").exists()


def test_xlsx_cells_are_text_not_formulas(programme, data, tmp_path):
    path = tmp_path / "open.xlsx"
    opendata.write_open_data(programme, path, "xlsx")
    book = openpyxl.load_workbook(path)
    assert set(book.sheetnames) == {t.name for t in opendata.TABLES} | {"data_dictionary", "about"}
    cells = [
        c
        for row in book["submissions"].iter_rows()
        for c in row
        if c.value and "SUM(" in str(c.value)
    ]
    assert len(cells) == 1 and cells[0].data_type == "s" and cells[0].value.startswith("=SUM(")


def test_public_pages(client, programme, data, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    page = client.get(reverse("share:open_data", args=[programme.slug]))
    assert page.status_code == 200 and "respondent_number" in page.content.decode()
    download = client.get(reverse("share:open_data_download", args=[programme.slug, "xlsx"]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content)[:2] == b"PK"
    programme.visibility = "private"
    programme.save()
    assert client.get(reverse("share:open_data", args=[programme.slug])).status_code == 404
