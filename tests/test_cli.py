"""The `changebank` command, run as a user would run it, in a fresh data folder."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, command_db, command_env

ROOT = Path(__file__).resolve().parents[1]


def run(data_dir, *args, check=True):
    env = command_env(data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "changebank.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result


def test_every_command_has_help(tmp_path):
    top = run(tmp_path, "--help").stdout
    for command in [
        "init",
        "programme",
        "import",
        "createuser",
        "export",
        "serve",
        "demo",
        "analyse",
        "worker",
        "erase",
        "subject-access",
        "purge",
        "redact-existing",
        "backup",
        "restore",
        "manage",
    ]:
        assert command in top
        assert "usage: changebank " + command in run(tmp_path, command, "--help").stdout


def test_init_import_export_round_trip(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "programme", "create", "--title", "Survey", "--slug", "survey")
    out = run(
        tmp_path, "import", str(FIXTURES / "surveys" / "surveymonkey.csv"), "--programme", "survey"
    )
    assert "SurveyMonkey export" in out.stdout and "18 submissions" in out.stdout
    again = run(
        tmp_path, "import", str(FIXTURES / "surveys" / "surveymonkey.csv"), "--programme", "survey"
    )
    assert "0 submissions" in again.stdout and "10 already imported" in again.stdout
    exported = run(tmp_path, "export", "submissions", "--programme", "survey").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 18
    assert all(not r["text"].startswith(("=", "+", "@")) for r in rows)


def test_bad_file_exits_non_zero_with_a_clear_message(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "programme", "create", "--title", "Survey", "--slug", "survey")
    bad = run(
        tmp_path,
        "import",
        str(FIXTURES / "surveys" / "bad" / "duplicates.csv"),
        "--programme",
        "survey",
        check=False,
    )
    assert bad.returncode == 1
    assert "duplicates.csv, row 9" in bad.stderr and "Nothing was imported" in bad.stderr
    missing = run(tmp_path, "import", "x.csv", "--programme", "nope", check=False)
    assert missing.returncode == 2 and "no programme 'nope'" in missing.stderr


def test_demo_is_idempotent(tmp_path):
    first = run(tmp_path, "demo", "--no-serve").stdout
    assert "3,000 added" in first and "username analyst" in first
    assert "Analysed 3,000 demo comments" in first
    # the demo programme opens with themes, codes and distinct changes already found
    db = command_db(tmp_path)
    counts = [
        db.execute(
            f"SELECT count(*) FROM {table} t JOIN listen_programme p ON p.id = t.programme_id "
            "WHERE p.slug = 'fft-demo'"
        ).fetchone()[0]
        for table in ("understand_theme", "understand_code", "understand_distinctchange")
    ]
    assert all(n > 0 for n in counts), counts
    coded = db.execute(
        "SELECT count(DISTINCT submission_id) FROM understand_codeassignment"
    ).fetchone()[0]
    assert coded == 3000
    # and an illustrative, published evaluation of its most-raised change with a real series
    assert "Demo evaluation published with 16 monthly points" in first
    points = db.execute("SELECT count(*) FROM evaluate_metricvalue").fetchone()[0]
    assert points == 16
    # REFI-QDA on all the demo data: export, import into a new programme, export again: the same
    # project (apart from dates and the project's name), valid against the schema
    import zipfile

    import xmlschema
    from lxml import etree

    from tests.conftest import shared

    def project(path):
        with zipfile.ZipFile(path) as z:
            root = etree.fromstring(z.read("project.qde"))
        for el in root.iter():
            for attr in ("creationDateTime", "modifiedDateTime"):
                el.attrib.pop(attr, None)
        root.set("name", "-")
        return root

    first_qdpx, second_qdpx = tmp_path / "first.qdpx", tmp_path / "second.qdpx"
    run(tmp_path, "export", "--programme", "fft-demo", "--format", "qdpx", "-o", str(first_qdpx))
    run(tmp_path, "programme", "create", "--title", "Demo copy", "--slug", "demo-copy")
    report = run(tmp_path, "import", str(first_qdpx), "--programme", "demo-copy").stdout
    assert "3,000 submissions added" in report and "Nothing in the file was lost." in report, report
    run(tmp_path, "export", "--programme", "demo-copy", "--format", "qdpx", "-o", str(second_qdpx))
    xmlschema.XMLSchema(str(shared("refi-qda", "Project-mrt2019.xsd"))).validate(
        project(first_qdpx)
    )
    assert etree.tostring(project(first_qdpx)) == etree.tostring(project(second_qdpx))
    second = run(tmp_path, "demo", "--no-serve").stdout
    assert "already loaded" in second and "already analysed" in second
    assert "Demo evaluation already there" in second
    assert "Published" in first and "demo themes in the catalogue" in first
    assert "Demo themes already published" in second


def test_import_a_document(tmp_path):
    run(tmp_path, "init")
    run(tmp_path, "programme", "create", "--title", "Evidence", "--slug", "evidence")
    notes = tmp_path / "notes.md"
    notes.write_text(
        "# Workshop notes\n\nStaff liked the virtual huddles.\n\nPatients want text reminders.\n"
    )
    out = run(tmp_path, "import", str(notes), "--programme", "evidence").stdout
    assert "Added notes.md (markdown)" in out
    again = run(tmp_path, "import", str(notes), "--programme", "evidence").stdout
    assert "Already imported" in again


def test_demo_serves_the_home_page_a_programme_and_the_form(tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = command_env(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "changebank.cli", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 900  # the demo analyses 3,000 comments before serving
        while True:
            try:
                home = urllib.request.urlopen(base + "/", timeout=5).read().decode()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stdout.read()) from None
                time.sleep(0.5)
        assert "Friends and Family Test comments" in home
        programme = urllib.request.urlopen(base + "/programmes/beneficial-changes/").read().decode()
        assert "Take part" in programme
        form = (
            urllib.request.urlopen(base + "/programmes/beneficial-changes/take-part/")
            .read()
            .decode()
        )
        assert "What change made during COVID-19 would you keep?" in form
        evaluations = urllib.request.urlopen(base + "/evaluations/").read().decode()
        assert "Illustration: patient experience before and after go-live" in evaluations
        catalogue = urllib.request.urlopen(base + "/catalogue/").read().decode()
        assert "people raised this" in catalogue
        css = urllib.request.urlopen(base + "/static/nhsuk-frontend.min.css")
        assert css.status == 200 and "text/css" in css.headers["Content-Type"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_analyse_a_programme_and_run_the_worker(tmp_path):
    from changebank.demo import FFT_SAMPLE

    sample = tmp_path / "sample.csv"
    lines = FFT_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    sample.write_text("".join(lines[:201]), encoding="utf-8")
    run(tmp_path, "init")
    run(tmp_path, "programme", "create", "--title", "FFT", "--slug", "fft")
    run(tmp_path, "import", str(sample), "--programme", "fft")
    out = run(tmp_path, "analyse", "--programme", "fft", "--codes", "6").stdout
    assert "Analysed 200 submissions of 'fft': 6 codes in" in out
    missing = run(tmp_path, "analyse", "--programme", "nope", check=False)
    assert missing.returncode == 2 and "no programme 'nope'" in missing.stderr
    assert "Ran 0 task(s)" in run(tmp_path, "worker", "--once").stdout


def test_redaction_at_ingest_and_contributors_rights_from_the_command_line(tmp_path):
    """Text is redacted when it comes in; staff can export it as written; a contributor's data
    can be exported (subject access) and erased by reference; purge needs a retention period."""
    import json

    said = "The physio was brilliant so email me at jo.bloggs@example.com about the follow-up"
    survey = tmp_path / "survey.csv"
    other = "Parking was impossible at the weekend and the signs to the clinic were confusing"
    survey.write_text(f"id,comment\n1,{said}\n2,{other}\n3,{other} again\n")
    run(tmp_path, "init")
    run(tmp_path, "programme", "create", "--title", "Rights", "--slug", "rights")
    run(tmp_path, "import", str(survey), "--programme", "rights")
    redacted = run(tmp_path, "export", "submissions", "--programme", "rights").stdout
    assert "jo.bloggs@example.com" not in redacted and "[EMAIL]" in redacted
    written = run(tmp_path, "export", "submissions", "--programme", "rights", "--as-written")
    assert "jo.bloggs@example.com" in written.stdout
    reference = next(line.split(",")[0] for line in redacted.splitlines() if "[EMAIL]" in line)
    held = json.loads(run(tmp_path, "subject-access", "--reference", reference).stdout)
    assert "jo.bloggs@example.com" in json.dumps(held)
    erased = run(tmp_path, "erase", "--reference", reference, "--yes").stdout
    assert "1" in erased
    after = run(tmp_path, "export", "submissions", "--programme", "rights").stdout
    assert "physio" not in after and "Parking" in after
    assert run(tmp_path, "erase", "--reference", reference, "--yes", check=False).returncode == 1
    refused = run(tmp_path, "purge", "--programme", "rights", check=False)
    assert refused.returncode != 0 and "no retention period" in refused.stderr
