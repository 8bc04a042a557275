"""Bad input: a clear message naming file, row and field; the database exactly as it was (or, when
skipping was chosen, the good rows and a report of the rest)."""

from __future__ import annotations

import pytest

from changebank.core.models import AuditEvent
from changebank.listen.importers import ImportFileError
from changebank.listen.importers.loader import ImportRejected, import_file
from changebank.listen.models import ImportBatch, Question, Respondent, Submission, Workstream
from tests.conftest import FIXTURES

BAD = FIXTURES / "surveys" / "bad"
MODELS = [Submission, Respondent, ImportBatch, Question, Workstream, AuditEvent]


def snapshot():
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in MODELS}


@pytest.fixture
def before(programme):
    return snapshot()


def test_empty_file(programme, before):
    with pytest.raises(ImportFileError, match=r"empty\.csv: the file is empty \(0 bytes\)"):
        import_file(BAD / "empty.csv", programme)
    assert snapshot() == before


def test_header_only_file_adds_nothing(programme, before):
    with pytest.raises(ImportFileError, match="header_only.csv"):
        import_file(BAD / "header_only.csv", programme, on_error="skip")
    assert snapshot() == before


def test_truncated_xlsx(programme, before):
    with pytest.raises(ImportFileError, match=r"truncated\.xlsx: is not a complete XLSX workbook"):
        import_file(BAD / "truncated.xlsx", programme)
    assert snapshot() == before


def test_cp1252_bytes_are_read_as_windows_text(programme):
    result = import_file(BAD / "cp1252.csv", programme)
    assert "cp1252" in result.description
    assert "semicolon" in result.description
    texts = " ".join(Submission.objects.values_list("text", flat=True))
    for fragment in ("café", "£5", "–", "’"):
        assert fragment in texts


def test_invalid_bytes_in_any_encoding(programme, before, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(b"id,comment\n1,fine\n2,bad \x81\x8d byte\n")
    with pytest.raises(
        ImportFileError, match=r"broken\.csv: the text is neither UTF-8 nor Windows-1252"
    ):
        import_file(path, programme)
    assert snapshot() == before


def test_missing_text_column(programme, before):
    with pytest.raises(ImportFileError, match=r"no_text_column\.csv: no column holds free text"):
        import_file(BAD / "no_text_column.csv", programme)
    assert snapshot() == before


def test_mapping_names_a_missing_column(programme, before):
    with pytest.raises(ImportFileError, match=r"has no column 'Feedback'"):
        import_file(BAD / "duplicates.csv", programme, mapping={"columns": {"Feedback": "text"}})
    assert snapshot() == before


def _big_cell_file(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,comment\n1,A normal comment about parking\n")
        fh.write("2," + "x" * (10 * 1024 * 1024) + "\n")
        fh.write("3,Another normal comment about staff\n")
    return path


def test_ten_megabyte_cell_rejects_the_file(programme, before, tmp_path):
    with pytest.raises(ImportRejected) as info:
        import_file(_big_cell_file(tmp_path), programme)
    problem = info.value.result.errors[0]
    assert (problem.row, problem.field) == (3, "comment")
    assert "10,485,760 characters" in problem.message
    assert "big.csv, row 3, field 'comment'" in str(info.value)
    assert snapshot() == before


def test_ten_megabyte_cell_skipped_on_request(programme, tmp_path):
    result = import_file(_big_cell_file(tmp_path), programme, on_error="skip")
    assert result.rows_added == 2
    assert result.rows_skipped == 1
    assert Submission.objects.count() == 2
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.COMPLETED_WITH_SKIPS
    assert batch.errors[0]["row"] == 3


def test_formulas_in_csv_are_kept_as_text_with_warnings(programme):
    result = import_file(BAD / "formulas.csv", programme)
    flagged = {w.row for w in result.warnings}
    assert flagged, "formula-like cells should be reported"
    stored = Submission.objects.filter(text__startswith="=HYPERLINK").get()
    assert stored.source_row in flagged


def test_formulas_in_xlsx_without_saved_results_are_rejected(programme, before):
    with pytest.raises(ImportRejected) as info:
        import_file(BAD / "formulas.xlsx", programme)
    messages = [p.message for p in info.value.result.errors]
    assert any("formula" in m and "no saved result" in m for m in messages)
    assert snapshot() == before


def test_duplicate_rows(programme, before):
    # Rows repeating earlier rows are not added twice; an ID with different text is a conflict.
    with pytest.raises(ImportRejected) as info:
        import_file(BAD / "duplicates.csv", programme)
    assert "R-0005 also appears in row" in str(info.value.result.errors[0].message)
    assert snapshot() == before

    result = import_file(BAD / "duplicates.csv", programme, on_error="skip")
    assert result.rows_repeated == 2
    assert result.rows_skipped == 1
    assert Submission.objects.count() == 6
    assert Respondent.objects.count() == 6


def test_reimport_of_the_same_file_adds_nothing(programme):
    first = import_file(FIXTURES / "surveys" / "googleforms.csv", programme)
    counts = (Submission.objects.count(), Respondent.objects.count())
    second = import_file(FIXTURES / "surveys" / "googleforms.csv", programme)
    assert first.submissions_added == counts[0] > 0
    assert second.submissions_added == 0
    assert second.rows_already_imported == first.rows_added
    assert (Submission.objects.count(), Respondent.objects.count()) == counts


def test_later_export_with_overlapping_rows_adds_only_new_rows(programme, tmp_path):
    header = "Response ID,Comment\n"
    first = tmp_path / "week1.csv"
    first.write_text(
        header + "".join(f"R{i},Comment {i} on discharge letters\n" for i in range(10))
    )
    later = tmp_path / "week2.csv"
    later.write_text(
        header + "".join(f"R{i},Comment {i} on discharge letters\n" for i in range(15))
    )
    import_file(first, programme)
    result = import_file(later, programme)
    assert result.rows_already_imported == 10
    assert result.rows_added == 5
    assert Submission.objects.count() == 15


def test_rejected_import_names_every_problem_row(programme, tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text(
        "id,comment,date\n1,Good,2021-03-01\n2,Bad date,not a date\n3,Also bad,31/31/2021\n"
    )
    with pytest.raises(ImportRejected) as info:
        import_file(
            path, programme, mapping={"columns": {"comment": "text", "date": "received_at"}}
        )
    rows = [(p.row, p.field) for p in info.value.result.errors]
    assert rows == [(3, "date"), (4, "date")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-04", (2021, 3, 4, 0, 0)),
        ("2021-03-04 10:15:22", (2021, 3, 4, 10, 15)),
        ("04/03/2021", (2021, 3, 4, 0, 0)),  # day first when it could be either
        ("10/17/2021", (2021, 10, 17, 0, 0)),  # month first only when day first is impossible
        ("03/04/2021 10:15:22 PM", (2021, 4, 3, 22, 15)),
        ("2021/03/04 10:15:22 am GMT", (2021, 3, 4, 10, 15)),
        ("04.03.2021", (2021, 3, 4, 0, 0)),
    ],
)
def test_dates_as_exports_write_them(text, expected):
    from changebank.listen.importers.loader import parse_datetime

    value = parse_datetime(text)
    assert (value.year, value.month, value.day, value.hour, value.minute) == expected
    assert value.tzinfo is not None


@pytest.mark.parametrize("text", ["31/31/2021", "not a date", "2021-02-30"])
def test_impossible_dates_are_errors(text):
    from changebank.listen.importers.loader import parse_datetime

    with pytest.raises(ValueError, match="is not a date and time"):
        parse_datetime(text)


def test_a_row_wider_than_the_header_is_reported_and_the_rows_after_it_kept(programme, tmp_path):
    """Skipping a too-wide row must not end the import there: every later row lands."""
    path = tmp_path / "wide.csv"
    said = "The staff on the ward were kind and explained everything to me clearly"
    path.write_text(
        f"id,comment\n1,{said} (1)\n2,{said} (2),an extra cell\n3,{said} (3)\n4,{said} (4)\n"
    )
    result = import_file(path, programme, on_error="skip")
    texts = sorted(Submission.objects.filter(programme=programme).values_list("text", flat=True))
    assert texts == [f"{said} (1)", f"{said} (3)", f"{said} (4)"]
    assert result.rows_read == 4 and result.error_count == 1
    assert "row 3" in result.errors[0].describe("wide.csv")
    with pytest.raises(ImportRejected):
        import_file(path, programme)  # the default still rejects the whole file
