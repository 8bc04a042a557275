"""Fixtures of the Understand tests: real FFT comments from the demo data, analysed."""

from __future__ import annotations

import csv

import pytest

from changebank.core.models import Task
from changebank.demo import FFT_SAMPLE
from changebank.listen.models import Submission
from changebank.understand.analyse import analyse_now

FAST = {"embedder": "wordllama"}


def _load(programme, n: int = 400) -> list[Submission]:
    with FFT_SAMPLE.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:n]
    subs = [
        Submission(
            programme=programme,
            text=r["FFT answer"],
            source=Submission.Source.IMPORT,
            reference=f"CB-T{i:04d}",
            dedupe_key=f"k{i}",
        )
        for i, r in enumerate(rows)
    ]
    return Submission.objects.bulk_create(subs)


@pytest.fixture
def analysed(programme):
    subs = _load(programme)
    row = analyse_now(programme, **FAST)
    assert row.status == Task.Status.DONE, row.error
    return programme, subs, row
