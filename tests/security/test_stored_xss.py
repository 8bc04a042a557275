"""Stored script payloads in every user-controlled text field stay inert in every page, export
and report: escaped in HTML, never a live attribute or link, never evaluated as a template, and
neutralised as spreadsheet formulas in CSV and XLSX."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from .access_policy import API, HIDDEN, NOBODY, POLICY, TOKEN
from .conftest import client_for, world_fixture
from .test_permissions_matrix import PARAMS

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "tpl{{7*7}}tpl"
FORMULA = "=cmd|' /C calc'!A0"


def payload(name: str) -> str:
    # The formula comes first, so that a cell of a spreadsheet starts with it.
    return f"{FORMULA} {SCRIPT} {IMG} {TEMPLATE} {name}"


world = world_fixture(payload, url="javascript:alert(1)")


LINKS = ("href", "src", "action", "formaction", "xlink:href")


class Checker(HTMLParser):
    """Collects what would run: script elements, event-handler attributes, script links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            link = (value or "").strip().lower().replace("\t", "")
            if name in LINKS and link.startswith(("javascript:", "data:text")):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and "src" not in names and "nonce" not in names:
            self.problems.append("<script> without src or nonce")


def assert_inert_html(html: str, where: str) -> None:
    assert "<script>alert(1)" not in html, where
    assert "<img src=x" not in html, where
    assert "tpl49tpl" not in html, f"{where}: a template expression was evaluated"
    checker = Checker()
    checker.feed(html)
    assert checker.problems == [], where


def assert_neutral_csv(text: str, where: str) -> None:
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if "cmd|" in cell:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), f"{where}: {cell!r}"


def check_response(response, where: str) -> None:
    kind = response.get("Content-Type", "")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if kind.startswith("text/html"):
        assert_inert_html(body.decode(), where)
    elif kind.startswith("text/csv"):
        assert_neutral_csv(body.decode("utf-8-sig"), where)
    elif kind.startswith("application/json"):
        json.loads(body)


PAGES = [
    (key, rule)
    for key, rule in POLICY.items()
    if rule.get not in (API, NOBODY, HIDDEN) and "[" not in key
]


@pytest.mark.parametrize("role", ["anonymous", "admin"])
@pytest.mark.parametrize(
    ("key", "rule"),
    [pytest.param(key, rule, id=key) for key, rule in PAGES],
)
def test_pages_keep_payloads_inert(world, db, key, rule, role):
    if role == "anonymous" and rule.get not in ("public", TOKEN):
        pytest.skip("not a public page")
    name = key.split(" [")[0]
    url = reverse(name, kwargs=rule.kwargs(PARAMS[name], world.ids))
    response = client_for(world, role).get(url)
    assert response.status_code < 500
    check_response(response, f"{url} as {role}")


def test_the_payloads_are_on_the_pages(world, db):
    """The check above means something: the payload is shown, escaped."""
    client = client_for(world, "admin")
    html = client.get(reverse("understand:theme_detail", args=["open", world.ids["theme"]]))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.content.decode()
    html = client.get(reverse("share:catalogue_theme", args=[world.ids["theme"]])).content.decode()
    assert "&lt;script&gt;" in html and "tpl{{7*7}}tpl" in html


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_open_data_downloads(world, db, fmt):
    response = client_for(world, "anonymous").get(
        reverse("share:open_data_download", args=["open", fmt])
    )
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    if fmt == "csv":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            texts = [z.read(n).decode("utf-8-sig") for n in z.namelist() if n.endswith(".csv")]
        assert any("cmd|" in t for t in texts), "the payload is not in the open data"
        for text in texts:
            assert_neutral_csv(text, "open data CSV")
    elif fmt == "xlsx":
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data))
        seen = 0
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                    if isinstance(cell.value, str) and "cmd|" in cell.value:
                        seen += 1
                        assert cell.data_type == "s"
        assert seen
    else:
        assert "<script>alert(1)</script>" in data.decode()  # data, served as JSON
        assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("url_name", ["share:report_download", "share:public_report_download"])
@pytest.mark.parametrize("fmt", ["html", "pdf", "docx"])
def test_reports(world, db, url_name, fmt):
    response = client_for(world, "admin").get(reverse(url_name, args=["open", fmt]))
    assert response.status_code == 200
    data = response.content
    if fmt == "html":
        html = data.decode()
        assert "&lt;script&gt;" in html
        assert_inert_html(html, f"{url_name} html")
        assert "script-src" not in response["Content-Security-Policy"]
        assert "default-src 'none'" in response["Content-Security-Policy"]
    elif fmt == "pdf":
        assert data.startswith(b"%PDF")
        lowered = data.lower()
        assert b"/javascript" not in lowered and b"/js " not in lowered
        assert b"(javascript:" not in lowered
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            xml = z.read("word/document.xml").decode()
            rels = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".rels")).lower()
        assert "<script>" not in xml and "&lt;script&gt;" in xml
        assert "javascript:" not in rels


def test_refi_export(world, db):
    from defusedxml import ElementTree

    response = client_for(world, "admin").get(reverse("share:refi_qdpx", args=["open"]))
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        qde = z.read("project.qde")
    root = ElementTree.fromstring(qde)  # well-formed: the payloads are escaped text
    texts = " ".join(e.get("name") or "" for e in root.iter())
    assert SCRIPT in texts


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/programmes/open",
        "/api/v1/catalogue/themes",
        "/api/v1/catalogue/changes",
        "/api/v1/programmes/open/codes",
        "/api/v1/programmes/open/submissions",
    ],
)
def test_api_json(world, db, path):
    from changebank.share.models import ApiToken

    _, key = ApiToken.issue(world.users["admin"], "xss")
    response = client_for(world, "anonymous").get(path, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert SCRIPT in json.dumps(response.json())  # returned as data, never as HTML


def test_the_evaluation_form_refuses_script_links():
    from django.core.exceptions import ValidationError

    from changebank.evaluate.views.evaluations import EvaluationForm

    for field in ("plan_url", "report_url"):
        with pytest.raises(ValidationError):
            EvaluationForm.base_fields[field].clean("javascript:alert(1)")


def test_evaluation_report_link_is_not_a_script_link(world, db):
    for role, name, pk in [
        ("anonymous", "evaluate:public_evaluation", [world.ids["evaluation"]]),
        ("admin", "evaluate:evaluation_detail", ["open", world.ids["evaluation"]]),
    ]:
        html = client_for(world, role).get(reverse(name, args=pk)).content.decode()
        assert_inert_html(html, name)
