"""Every importer, fuzzed with hypothesis: it imports, or it raises its documented validation error
(ImportFileError and its subclass RefiError, ImportRejected, MetricFileError, DocumentError) with a
message naming the file, and a rejected file writes nothing. See fuzz_targets.py for the inputs;
benchmarks/bench_fuzz.py runs the same targets with thousands of examples each."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .fuzz_targets import (
    TARGETS,
    Unexpected,
    known_bug,
    make_pdf,
    qdpx_from,
    run_document,
    run_import,
)

EXAMPLES = 30


@pytest.mark.django_db
@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    database=None,
    derandomize=True,
)
@given(data=st.data())
def test_importer_accepts_or_rejects_clearly(target, programme, data):
    drawn = data.draw(target.strategy, label="input")
    with tempfile.TemporaryDirectory() as work:
        try:
            outcome = target.run(drawn, Path(work), programme)
        except Unexpected as exc:
            bug = known_bug(exc)
            if bug is None:
                raise AssertionError(f"{target.name}: {exc}") from exc.__cause__
            event(f"known bug: {bug}")  # see test_fuzz_findings.py
            return
    assert outcome in ("ok", "rejected")


# --- fixed inputs that once mattered -----------------------------------------------------------


@pytest.mark.django_db
def test_known_nasty_inputs(programme, tmp_path):
    cases = {
        "nul.csv": b"ID,Comment\n1,a\x00b\n",
        "ragged.csv": b"ID,Comment\n1,a,b,c\n2\n",
        "bom16.csv": "ID,Comment\n1,caf\u00e9\n".encode("utf-16"),
        "cp1252.csv": "ID,Comment\n1,caf\u00e9 \u20ac\n".encode("cp1252"),
        "badquote.csv": b'ID,Comment\n1,"unterminated\n2,x\n',
        "long.csv": b"ID,Comment\n1," + b"x" * 200_000 + b"\n",
        "object.json": b'{"a": 1}',
        "broken.jsonl": b'{"a": 1}\n{"a": \n',
        "zip.xlsx": b"PK\x03\x04" + b"\x00" * 40,
    }
    for name, data in cases.items():
        assert run_import(data, tmp_path, programme, name, "reject") in ("ok", "rejected"), name
    assert run_document("pdf", make_pdf("hello")[:200], tmp_path) == "rejected"
    assert run_document("docx", qdpx_from(b"<x/>"), tmp_path) == "rejected"
