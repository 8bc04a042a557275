"""Themed reports: what they hold, the three formats (HTML, PDF turned into PNG pages, Word), that
only publishable submissions are quoted and always redacted, and the report pages."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.urls import reverse

PLANTED_EMAIL = "jo.bloggs@example.com"
PLANTED_PHONE = "07700 900123"
NO_CONSENT = "Zebracorn parking permits were the best thing that happened to us"
PENDING = "Quokkaberry rota swaps let me see my children every weekend"
PDFTOPPM = shutil.which("pdftoppm") or "/usr/bin/pdftoppm"

LABELS = ["Video appointments", "Staff wellbeing", "Cancelled operations"]


def _norm(text: str) -> str:
    return " ".join(text.split())


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return _norm(" ".join(page.extract_text() or "" for page in reader.pages))


def docx_all_text(doc) -> str:
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts += [c.text for c in row.cells]
    return _norm(" ".join(parts))


def png_pages(data: bytes, tmp_path: Path) -> list[Path]:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    subprocess.run([PDFTOPPM, "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
    return sorted(tmp_path.glob("page*.png"))


def check_docx(data: bytes, labels: list[str]) -> object:
    import docx
    from docx.oxml.ns import qn

    doc = docx.Document(io.BytesIO(data))
    headings2 = [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]
    for label in labels:
        assert any(h.endswith(label) for h in headings2), (label, headings2)
    assert any(p.style.name == "Heading 1" for p in doc.paragraphs)
    pictures = list(doc.element.body.iter(qn("wp:docPr")))
    assert pictures, "every theme has a chart"
    for pr in pictures:
        assert pr.get("descr", "").strip(), "every picture has alternative text"
    for table in doc.tables:  # header rows repeat on each page
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    return doc


def check_html(html: str, labels: list[str]) -> None:
    assert '<html lang="en' in html
    for label in labels:
        assert label in html
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert svgs
    for svg in svgs:
        assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
        desc = re.search(r"<desc[^>]*>(.*?)</desc>", svg, flags=re.S).group(1)
        assert re.search(r"\d", desc), "the description gives the numbers"
    levels = [int(h) for h in re.findall(r"<h([1-6])\b", html)]
    assert levels[0] == 1
    for before, after in zip(levels, levels[1:], strict=False):
        assert after <= before + 1, "headings go down one level at a time"
    assert html.count("<table") == html.count("<caption")


def assert_private(*texts: str) -> None:
    for text in texts:
        assert PLANTED_EMAIL not in text
        assert PLANTED_PHONE not in text and "07700900123" not in text
        assert "Zebracorn" not in text, "a contributor who refused consent is quoted"
        assert "Quokkaberry" not in text, "a submission waiting for moderation is quoted"


# --- a programme built in the test ---------------------------------------------------------------


@pytest.fixture
def built(db):
    from django.contrib.auth.models import User

    from changebank.listen.models import Programme, Question, Respondent, Submission
    from changebank.share.models import PublishedTheme
    from changebank.understand.models import (
        Code,
        CodeAssignment,
        CodingSample,
        DistinctChange,
        SampleCoding,
        SubmissionReading,
        Theme,
    )

    programme = Programme.objects.create(
        title="What should we keep?",
        slug="keep",
        visibility="public",
        summary="Changes made during COVID-19 to keep, and what must not come back.",
    )
    keep = Question.objects.create(
        programme=programme, key="keep", prompt="What would you keep?", stance="keep"
    )
    never = Question.objects.create(
        programme=programme,
        key="never",
        position=1,
        prompt="What should never come back?",
        stance="never_again",
    )
    people = [
        Respondent.objects.create(
            programme=programme,
            external_id=f"r{i}",
            role=role,
            organisation=org,
            sector=sector,
            region="London" if i % 2 else "North East",
        )
        for i, (role, org, sector) in enumerate(
            [
                ("staff", "Trust A", "Acute"),
                ("staff", "Trust B", "Community"),
                ("patient", "", ""),
                ("carer", "", ""),
                ("patient", "Trust A", "Acute"),
                ("staff", "Trust C", "Mental health"),
            ]
        )
    ]
    n = 0

    def sub(text, who, question=keep, **kw):
        nonlocal n
        n += 1
        kw.setdefault("consent_given", True)
        return Submission.objects.create(
            programme=programme,
            question=question,
            respondent=people[who],
            text=text,
            source="form",
            reference=f"CB-{n:04d}",
            dedupe_key=f"k{n}",
            **kw,
        )

    video = [
        sub("Video appointments saved me a two hour drive to the clinic every month.", 2),
        sub("Seeing my consultant by video meant I did not need a day off work.", 4),
        sub(
            f"The video clinic was great; write to me at {PLANTED_EMAIL} or call {PLANTED_PHONE}.",
            3,
        ),
        sub(NO_CONSENT + " and the video calls with the ward.", 0, consent_given=False),
        sub(PENDING + " thanks to video rotas.", 1, moderation_status="pending"),
        sub("Remote consultations by video should stay for follow ups.", 5),
    ]
    wellbeing = [
        sub("Staff rest rooms and free food made us feel valued during the pandemic.", 0),
        sub("Wellbeing hubs gave staff a place to decompress after hard shifts.", 1),
        sub("Free parking for staff removed a daily worry and saved money.", 5),
    ]
    cancelled = [
        sub(
            "Cancelling routine operations without telling patients must never happen again.",
            2,
            never,
        ),
        sub("Visiting bans that left people dying alone should never come back.", 3, never),
        sub("Blanket cancellation of clinics left my mother without care for months.", 4, never),
    ]
    t_video = Theme.objects.create(
        programme=programme,
        label=LABELS[0],
        position=0,
        meaning="People valued not travelling; video suits follow-ups.",
        chosen_quotes=[NO_CONSENT + " and the video calls with the ward.", video[2].text],
    )
    t_well = Theme.objects.create(programme=programme, label=LABELS[1], position=1)
    t_cancel = Theme.objects.create(programme=programme, label=LABELS[2], position=2)
    c_video = Code.objects.create(
        programme=programme,
        theme=t_video,
        label="Video consultations",
        quotes=[PENDING + " thanks to video rotas.", video[0].text],
        size=len(video),
    )
    c_well = Code.objects.create(
        programme=programme, theme=t_well, label="Feeling valued", size=len(wellbeing)
    )
    c_cancel = Code.objects.create(
        programme=programme, theme=t_cancel, label="Cancelled care", size=len(cancelled)
    )
    for code, subs in ((c_video, video), (c_well, wellbeing), (c_cancel, cancelled)):
        for i, s in enumerate(subs):
            CodeAssignment.objects.create(submission=s, code=code, confidence=0.9 - i / 20)
    for s in cancelled:
        SubmissionReading.objects.create(submission=s, sentiment=5, stance="concern")
    for s in video[:3] + wellbeing:
        SubmissionReading.objects.create(submission=s, sentiment=1, stance="keep")
    change = DistinctChange.objects.create(
        programme=programme, text=cancelled[0].text, count=2, code=c_cancel
    )
    change.members.set(cancelled[:2])
    named = DistinctChange.objects.create(
        programme=programme, text=video[3].text, count=3, code=c_video, name="Video follow-ups"
    )
    named.members.set(video[:4])
    hidden = DistinctChange.objects.create(
        programme=programme, text=video[3].text, count=1, code=c_video
    )
    hidden.members.set([video[3]])
    PublishedTheme.objects.create(theme=t_video)

    # double coding: two coders, six submissions, agreeing on all but one
    a = User.objects.create_user("coder-a")
    b = User.objects.create_user("coder-b")
    sample = CodingSample.objects.create(programme=programme, name="First sample")
    chosen = video[:3] + wellbeing
    sample.submissions.set(chosen)
    sample.coders.set([a, b])
    for coder in (a, b):
        for s in chosen:
            coding = SampleCoding.objects.create(sample=sample, submission=s, coder=coder)
            code = c_video if s in video else c_well
            if coder == b and s == wellbeing[2]:
                code = c_video
            coding.codes.set([code])
    return programme


def test_report_tree(built):
    from changebank.share.report import build_report

    report = build_report(built)
    assert [t.label for t in report.themes] == LABELS  # largest first (6, 3, 3 by position)
    video = report.themes[0]
    assert video.submissions == 5  # the pending one is not counted
    assert video.meaning.startswith("People valued")
    assert [b.dimension for b in video.who] == ["role", "organisation"]
    roles = {r.label: r.n for r in video.who[0].rows}
    assert roles == {"Staff": 2, "Patient": 2, "Carer": 1}
    quotes = [q.text for q in video.quotes]
    assert quotes and all("Zebracorn" not in q and "Quokkaberry" not in q for q in quotes)
    assert any("[EMAIL]" in q for q in quotes), quotes  # the analysts' choice, redacted
    assert video.quotes[0].attribution  # role (and sector) when known
    assert [c.text for c in video.changes] == ["Video follow-ups"]  # unnamed, unquotable: left out
    big = {r.label: r for r in report.big_picture}
    assert big[LABELS[2]].concern == 3 and big[LABELS[0]].concern == 0
    na = report.never_again
    assert na.submissions == 3
    assert [r.label for r in na.themes] == [LABELS[2]]
    assert na.quotes and na.changes[0].concern == 2
    assert na.questions == ["What should never come back?"]
    m = report.method
    assert m.submissions == 11 and m.contributors == 6
    assert [r.label for r in m.not_analysed] == ["Waiting for review"]
    assert {b.dimension for b in m.groups} == {"role", "organisation", "sector", "region"}
    assert len(m.double_coding) == 1
    s = m.double_coding[0]
    assert s.coders == 2 and s.coded_by_all == 6 and s.exact == 5
    assert s.kappa is not None and s.alpha is not None


def test_published_only(built):
    from changebank.share.report import build_report, render_html

    report = build_report(built, published_only=True)
    assert [t.label for t in report.themes] == [LABELS[0]]
    html = render_html(report)
    assert LABELS[1] not in html and LABELS[2] not in html
    assert report.never_again.submissions == 0
    assert_private(html)


def test_three_formats(built, tmp_path):
    from changebank.share.report import build_report, render_docx, render_html, render_pdf

    report = build_report(built)
    html = render_html(report)
    check_html(html, LABELS)
    assert "Cohen's kappa" in __import__("html").unescape(html)
    pdf = render_pdf(report, html)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for label in LABELS:
        assert label in text
    assert "Page 2 of" in text  # page numbers
    pages = png_pages(pdf, tmp_path)
    assert len(pages) > 1 and all(p.stat().st_size > 1000 for p in pages)
    data = render_docx(report)
    doc = check_docx(data, LABELS)
    assert any(p.style.name == "Quote" for p in doc.paragraphs)
    assert_private(html, text, docx_all_text(doc))
    assert "[EMAIL]" in html and "[PHONE]" in html


def test_write_report(built, tmp_path):
    from changebank.share.report import write_report

    for fmt in ("html", "pdf", "docx"):
        out = tmp_path / f"r.{fmt}"
        write_report(built, out, fmt)
        assert out.stat().st_size > 1000
    with pytest.raises(ValueError):
        write_report(built, tmp_path / "r.odt", "odt")


def test_no_double_coding_and_no_themes(db):
    from changebank.listen.models import Programme
    from changebank.share.report import build_report, render_docx, render_html, render_pdf

    programme = Programme.objects.create(title="Empty", slug="empty")
    report = build_report(programme)
    assert report.themes == [] and report.notes
    html = render_html(report)
    assert "No double coding was done" in html
    assert render_pdf(report).startswith(b"%PDF")
    assert render_docx(report)


# --- pages ---------------------------------------------------------------------------------------


def test_report_pages(built, analyst, client):
    from django.contrib.auth.models import User

    url = reverse("share:report", args=[built.slug])
    assert client.get(url).status_code == 302  # sign in first
    User.objects.create_user("nobody", password="a-long-test-password")
    client.login(username="nobody", password="a-long-test-password")
    assert client.get(url).status_code == 403
    client.force_login(analyst)
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    for label in LABELS:
        assert label in body
    assert_private(body)
    for fmt, start in (("pdf", b"%PDF"), ("docx", b"PK"), ("html", b"<!DOCTYPE html>")):
        response = client.get(reverse("share:report_download", args=[built.slug, fmt]))
        assert response.status_code == 200
        assert response.content.startswith(start)
        assert "attachment" in response["Content-Disposition"]
    assert client.get(reverse("share:report_download", args=[built.slug, "odt"])).status_code == 404


def test_public_report_pages(built, client):
    url = reverse("share:public_report", args=[built.slug])
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert LABELS[0] in body and LABELS[1] not in body
    assert_private(body)
    response = client.get(reverse("share:public_report_download", args=[built.slug, "pdf"]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert (
        client.get(reverse("share:public_report_download", args=[built.slug, "x"])).status_code
        == 404
    )
    built.visibility = "private"
    built.save()
    assert client.get(url).status_code == 404
    built.visibility = "public"
    built.save()
    from changebank.share.models import PublishedTheme

    PublishedTheme.objects.all().delete()
    assert client.get(url).status_code == 404


# --- real data -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_report(db, tmp_path, capsys):
    """The first 400 rows of the bundled demo, imported and analysed as the demo does."""
    from changebank.demo import FFT_MAPPING, FFT_SAMPLE
    from changebank.listen.importers.loader import import_file
    from changebank.listen.models import Programme
    from changebank.share.report import build_report, render_docx, render_html, render_pdf
    from changebank.understand.analyse import analyse_now

    lines = FFT_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    sample = tmp_path / "fft_sample_400.csv"
    sample.write_text("".join(lines[:401]), encoding="utf-8")
    fft = Programme.objects.create(
        title="Friends and Family Test comments",
        slug="fft-demo",
        visibility="public",
        publication_basis="all",
    )
    import_file(sample, fft, mapping=FFT_MAPPING)
    assert analyse_now(fft, embedder="wordllama").status == "done"

    times = {}
    t0 = time.perf_counter()
    report = build_report(fft)
    times["build"] = time.perf_counter() - t0
    labels = [t.label for t in report.themes]
    assert len(labels) > 1
    assert report.total == 400 or report.total > 300
    assert all(t.quotes for t in report.themes)
    t0 = time.perf_counter()
    html = render_html(report)
    times["html"] = time.perf_counter() - t0
    check_html(html, [str(__import__("markupsafe").escape(label)) for label in labels])
    t0 = time.perf_counter()
    pdf = render_pdf(report, html)
    times["pdf"] = time.perf_counter() - t0
    text = pdf_text(pdf)
    for label in labels:
        assert _norm(label) in text, label
    pages = png_pages(pdf, tmp_path)
    assert len(pages) > len(labels) and all(p.stat().st_size > 1000 for p in pages)
    t0 = time.perf_counter()
    data = render_docx(report)
    times["docx"] = time.perf_counter() - t0
    check_docx(data, labels)
    (tmp_path / "report.docx").write_bytes(data)
    (tmp_path / "report.html").write_text(html, encoding="utf-8")
    with capsys.disabled():
        print(
            "\nreport of 400 demo rows: "
            + ", ".join(f"{k} {v:.2f}s" for k, v in times.items())
            + f"; {len(labels)} themes, {len(pages)} PDF pages"
        )


def test_shared_codes_count_in_both_themes(built):
    """A code that also sits under another theme counts there too, without counting twice."""
    from changebank.share.report import build_report
    from changebank.understand.models import Code, Theme

    video = Code.objects.get(label="Video consultations")
    wellbeing = Theme.objects.get(label=LABELS[1])
    video.also_in.add(wellbeing)
    report = build_report(built)
    sizes = {t.label: t.submissions for t in report.themes}
    assert sizes == {LABELS[0]: 5, LABELS[1]: 8, LABELS[2]: 3}
    assert report.themes[0].label == LABELS[1]  # now the largest
    roles = {r.label: r.n for r in report.themes[0].who[0].rows}
    assert sum(roles.values()) == 8
