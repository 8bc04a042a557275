"""The command the issue names, end to end in a subprocess on a real SQLite database:
`changebank export --programme SLUG --format F --output FILE` for every format, and
`changebank import FILE.qdpx` bringing a project back."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import docx
import pytest
from pypdf import PdfReader

from changebank.demo import FFT_SAMPLE
from tests.conftest import command_env

pytestmark = pytest.mark.slow


def test_every_export_format_and_a_qdpx_import(tmp_path):
    env = command_env(tmp_path / "data")

    def run(*args, check=True):
        return subprocess.run(
            [sys.executable, "-m", "changebank.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            check=check,
        )

    sample = tmp_path / "sample.csv"
    lines = FFT_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    sample.write_text("".join(lines[:41]), encoding="utf-8")
    run("init")
    run("programme", "create", "--title", "FFT", "--slug", "fft")
    run("import", str(sample), "--programme", "fft")

    outputs = {}
    for fmt, name in [
        ("csv", "open.zip"),
        ("xlsx", "open.xlsx"),
        ("json", "open.json"),
        ("qdc", "codebook.qdc"),
        ("qdpx", "project.qdpx"),
        ("html", "report.html"),
        ("pdf", "report.pdf"),
        ("docx", "report.docx"),
    ]:
        path = tmp_path / name
        result = run("export", "--programme", "fft", "--format", fmt, "--output", str(path))
        assert "Wrote" in result.stdout, result.stderr
        outputs[fmt] = path
    with zipfile.ZipFile(outputs["csv"]) as z:
        assert "submissions.csv" in z.namelist()
    assert json.loads(outputs["json"].read_text())["tables"]["submissions"] == []  # no consent
    assert PdfReader(outputs["pdf"]).pages
    assert docx.Document(outputs["docx"]).paragraphs
    with zipfile.ZipFile(outputs["qdpx"]) as z:
        assert "project.qde" in z.namelist()
        assert sum(n.startswith("sources/") for n in z.namelist()) == 40

    run("programme", "create", "--title", "Back", "--slug", "back")
    imported = run("import", str(outputs["qdpx"]), "--programme", "back")
    assert "40" in imported.stdout, imported.stdout
    again = run("import", str(outputs["qdpx"]), "--programme", "back")
    assert again.returncode == 0
    bad = run("export", "--programme", "fft", "--format", "pdf", check=False)
    assert bad.returncode != 0 and "--output FILE is needed" in bad.stderr
