"""Metric time series from uploaded files: real CSV and XLSX files written to a temporary folder,
read into sorted points, and every kind of bad input refused with a message naming the file, the
row and the column. No database: these tests would fail if the reader touched one."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from changebank.evaluate.importers import (
    MAX_LISTED_PROBLEMS,
    MetricFileError,
    MetricPoint,
    parse_number,
    parse_period,
    read_metric_series,
)

D = dt.date


def write_csv(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(folder: Path, name: str, rows: list[list], start_row: int = 1) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for offset, row in enumerate(rows):
        for col, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=start_row + offset, column=col, value=value)
    path = folder / name
    wb.save(path)
    return path


def problems_of(excinfo: pytest.ExceptionInfo[MetricFileError]) -> list[tuple]:
    return [tuple(p) for p in excinfo.value.problems]


# --- good files -----------------------------------------------------------------------------------


def test_utf8_csv_with_iso_dates(tmp_path):
    path = write_csv(
        tmp_path, "ae.csv", "Date,Value\n2024-01-01,10\n2024-01-08,12.5\n2024-01-15,9\n"
    )
    assert read_metric_series(path) == [
        MetricPoint(D(2024, 1, 1), 10.0, 2),
        MetricPoint(D(2024, 1, 8), 12.5, 3),
        MetricPoint(D(2024, 1, 15), 9.0, 4),
    ]


def test_csv_with_bom_reads_the_first_header(tmp_path):
    path = write_csv(
        tmp_path, "bom.csv", "Date,Count\r\n01/03/2024,5\r\n02/03/2024,6\r\n", "utf-8-sig"
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    points = read_metric_series(path)
    assert [(p.period, p.value) for p in points] == [(D(2024, 3, 1), 5.0), (D(2024, 3, 2), 6.0)]


def test_semicolon_csv_with_thousands_separators(tmp_path):
    text = 'Week ending;Attendances\n07/01/2024;"1,234"\n14/01/2024;1,301\n21/01/2024;987\n'
    points = read_metric_series(write_csv(tmp_path, "weekly.csv", text))
    assert [(p.period, p.value) for p in points] == [
        (D(2024, 1, 7), 1234.0),
        (D(2024, 1, 14), 1301.0),
        (D(2024, 1, 21), 987.0),
    ]


def test_semicolon_csv_with_decimal_commas(tmp_path):
    text = "Datum;Rate\n2024-01-01;12,5\n2024-02-01;1.234,75\n2024-03-01;-0,5\n"
    points = read_metric_series(write_csv(tmp_path, "eu.csv", text))
    assert [p.value for p in points] == [12.5, 1234.75, -0.5]


def test_decimal_comma_column_found_by_its_values(tmp_path):
    text = "Datum;Anteil\n01.01.2024;12,5\n01.02.2024;13,25\n"
    points = read_metric_series(write_csv(tmp_path, "de.csv", text))
    assert [(p.period, p.value) for p in points] == [(D(2024, 1, 1), 12.5), (D(2024, 2, 1), 13.25)]


def test_cp1252_csv_with_note_column(tmp_path):
    text = "Month,Cost (£),Notes\nJan 2024,1200,\nFeb 2024,1350,New rota – started 5 Feb\n"
    path = write_csv(tmp_path, "costs.csv", text, "cp1252")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    points = read_metric_series(path, value_column="Cost (£)")
    assert points == [
        MetricPoint(D(2024, 1, 1), 1200.0, 2, ""),
        MetricPoint(D(2024, 2, 1), 1350.0, 3, "New rota – started 5 Feb"),
    ]


def test_utf16_csv(tmp_path):
    text = "Period\tRate\n2024-01\t0.5\n2024-02\t0.75\n"
    points = read_metric_series(write_csv(tmp_path, "export.csv", text, "utf-16"))
    assert [(p.period, p.value) for p in points] == [(D(2024, 1, 1), 0.5), (D(2024, 2, 1), 0.75)]


def test_xlsx_with_real_date_cells(tmp_path):
    path = write_xlsx(
        tmp_path,
        "falls.xlsx",
        [
            ["Date of report", "Falls per 1,000 bed days", "Annotation"],
            [dt.datetime(2024, 3, 1), 4, "Baseline"],
            [dt.date(2024, 2, 1), 5.5, None],
            [dt.datetime(2024, 4, 1, 13, 30), "6", None],
            [None, None, None],
            [dt.datetime(2024, 5, 1), -1.25, "Correction"],
        ],
    )
    points = read_metric_series(path)
    assert points == [
        MetricPoint(D(2024, 2, 1), 5.5, 3),
        MetricPoint(D(2024, 3, 1), 4.0, 2, "Baseline"),
        MetricPoint(D(2024, 4, 1), 6.0, 4),
        MetricPoint(D(2024, 5, 1), -1.25, 6, "Correction"),
    ]


def test_xlsx_with_blank_rows_above_the_header_and_at_the_end(tmp_path):
    rows = [["Week", "Count"], [dt.datetime(2024, 1, 1), 3], [dt.datetime(2024, 1, 8), 4]]
    rows += [[None, None]] * 5
    path = write_xlsx(tmp_path, "offset.xlsx", rows, start_row=3)
    points = read_metric_series(path)
    assert [(p.period, p.value, p.row) for p in points] == [
        (D(2024, 1, 1), 3.0, 4),
        (D(2024, 1, 8), 4.0, 5),
    ]


def test_upload_name_is_used_for_messages_and_format(tmp_path):
    # The web view keeps an upload in a temporary file: the upload's name decides and is shown.
    path = write_xlsx(tmp_path, "upload-tmp", [["Date", "Value"], [dt.datetime(2024, 1, 1), 1]])
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(path, "Theatre utilisation.xlsx")
    assert str(excinfo.value) == (
        "Theatre utilisation.xlsx: needs at least 2 points to draw a chart, found 1"
    )


def test_twenty_four_months_of_a_real_looking_series(tmp_path):
    """Two years of monthly emergency admissions as a performance team exports them: month names,
    thousands separators, a note where a change was made, and rows not quite in order."""
    values = [
        1843, 1790, 1902, 1875, 1811, 1760, 1934, 2011, 1988, 2104, 1957, 1899,
        1702, 1688, 1730, 1695, 1650, 1712, 1801, 1842, 1830, 1907, 1795, 1744,
    ]  # fmt: skip
    months = [dt.date(2022 + (3 + i) // 12, (3 + i) % 12 + 1, 1) for i in range(24)]
    lines = ["Month,Emergency admissions,Notes"]
    for month, value in zip(months, values, strict=True):
        note = "Same-day emergency care opened" if month == dt.date(2023, 4, 1) else ""
        lines.append(f'{month:%B %Y},"{value:,}",{note}')
    lines[5], lines[6] = lines[6], lines[5]  # one pair of months out of order
    lines += ["", ",,", ""]
    path = write_csv(tmp_path, "emergency_admissions.csv", "\r\n".join(lines) + "\r\n")

    points = read_metric_series(path)

    assert len(points) == 24
    assert [p.period for p in points] == months  # sorted by date
    assert [p.value for p in points] == [float(v) for v in values]
    assert points[0] == MetricPoint(D(2022, 4, 1), 1843.0, 2)
    assert (points[4].row, points[5].row) == (7, 6)  # August was below September
    noted = [p for p in points if p.note]
    assert noted == [MetricPoint(D(2023, 4, 1), 1702.0, 14, "Same-day emergency care opened")]


# --- dates and numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-03-01", D(2024, 3, 1)),
        ("2024-03-01 00:00:00", D(2024, 3, 1)),
        ("2024-03-01T09:15:00Z", D(2024, 3, 1)),
        ("01/03/2024", D(2024, 3, 1)),  # day first: 1 March, not 3 January
        ("1/3/24", D(2024, 3, 1)),
        ("13/03/2024", D(2024, 3, 13)),
        ("01.03.2024", D(2024, 3, 1)),
        ("01-03-2024", D(2024, 3, 1)),
        ("01/03/2024 14:30", D(2024, 3, 1)),
        ("Mar 2024", D(2024, 3, 1)),
        ("March 2024", D(2024, 3, 1)),
        ("  march   2024 ", D(2024, 3, 1)),
        ("Mar-24", D(2024, 3, 1)),
        ("Sept 2024", D(2024, 9, 1)),
        ("2024-03", D(2024, 3, 1)),
        ("2024/3", D(2024, 3, 1)),
        ("1 March 2024", D(2024, 3, 1)),
        ("01-Mar-24", D(2024, 3, 1)),
        ("March 1, 2024", D(2024, 3, 1)),
        ("2024-W09", D(2024, 2, 26)),
        (dt.datetime(2024, 3, 1, 23, 59), D(2024, 3, 1)),
        (dt.date(2024, 3, 1), D(2024, 3, 1)),
    ],
)
def test_dates_accepted(text, expected):
    assert parse_period(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no date"),
        (None, "no date"),
        (
            "03/13/2024",
            "'03/13/2024' is not a date read day first (dd/mm/yyyy): there is no month 13",
        ),
        ("31/02/2024", "'31/02/2024' is not a real date"),
        ("2024-13", "'2024-13' is not a real date"),
        ("Q1 2024", "'Q1 2024' is not a date this reader understands"),
        ("2024", "'2024' is not a date this reader understands"),
        ("Marchish 2024", "'Marchish 2024' is not a date this reader understands"),
        (45352, "45352 is a number, not a date"),
    ],
)
def test_dates_refused(text, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_period(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,234", 1234.0),
        ("12,345,678.5", 12345678.5),
        ("12.5%", 12.5),
        ("12.5 %", 12.5),
        ("  7  ", 7.0),
        ("-3", -3.0),
        ("\u22122.5", -2.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        (42, 42.0),
        (0.125, 0.125),
    ],
)
def test_numbers_accepted(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["n/a", "-", "twelve", "12,5", "0,125", "nan", "inf", "£12", True])
def test_numbers_refused(text):
    with pytest.raises(ValueError, match="is not a number"):
        parse_number(text)


# --- choosing columns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, dates",
    [
        ("Date", "2024-01-01,2024-01-08"),
        ("Period", "2024-01,2024-02"),
        ("Week ending", "07/01/2024,14/01/2024"),
        ("W/E", "07/01/2024,14/01/2024"),
        ("Month", "Jan 2024,Feb 2024"),
        ("Date of admission", "2024-01-01,2024-01-02"),
        ("When", "2024-01-01,2024-01-02"),  # not a date name: chosen by its values
    ],
)
def test_date_column_found(tmp_path, header, dates):
    first, second = dates.split(",")
    text = f"Ward,{header},Value\nA,{first},1\nA,{second},2\n"
    points = read_metric_series(write_csv(tmp_path, "m.csv", text))
    assert [p.value for p in points] == [1.0, 2.0]


@pytest.mark.parametrize(
    "headers",
    [
        "Date,Ward,Value,Target",  # named Value wins
        "Date,Ward,Count,Target",
        "Date,Ward,Rate per 1000,Target",
        "Date,Ward,% seen in 4 hours,Target",
        "Date,Ward,Percentage,Target",
        "Date,Ward,Admissions",  # the only numeric column
    ],
)
def test_value_column_found(tmp_path, headers):
    width = len(headers.split(","))
    rows = ["2024-01-01,A,5,9", "2024-02-01,A,6,9"]
    text = headers + "\n" + "\n".join(",".join(r.split(",")[:width]) for r in rows) + "\n"
    points = read_metric_series(write_csv(tmp_path, "m.csv", text))
    assert [p.value for p in points] == [5.0, 6.0]


def test_columns_named_by_the_caller(tmp_path):
    text = "when,a,b,why\n2024-01-01,1,10,x\n2024-02-01,2,20,y\n"
    path = write_csv(tmp_path, "m.csv", text)
    points = read_metric_series(path, date_column="WHEN", value_column="b", note_column="why")
    assert [(p.value, p.note) for p in points] == [(10.0, "x"), (20.0, "y")]


def test_values_ambiguous(tmp_path):
    path = write_csv(tmp_path, "m.csv", "Date,Admissions,Target\n2024-01-01,5,9\n2024-02-01,6,9\n")
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(path)
    assert str(excinfo.value) == (
        "m.csv: could not tell which column holds the values; the columns are: 'Date', "
        "'Admissions', 'Target'; choose one"
    )


def test_values_ambiguous_between_value_names(tmp_path):
    path = write_csv(tmp_path, "m.csv", "Date,Count,Rate\n2024-01-01,5,0.1\n2024-02-01,6,0.2\n")
    with pytest.raises(MetricFileError, match="'Count', 'Rate' all could; choose one"):
        read_metric_series(path)


def test_dates_ambiguous(tmp_path):
    text = "Date,Month,Value\n2024-01-01,Jan 2024,1\n2024-02-01,Feb 2024,2\n"
    with pytest.raises(MetricFileError, match="m.csv: could not tell which column holds the dates"):
        read_metric_series(write_csv(tmp_path, "m.csv", text))


def test_no_date_column(tmp_path):
    text = "Ward,Value\nA,1\nB,2\n"
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "m.csv", text))
    assert "could not tell which column holds the dates; the columns are: 'Ward', 'Value'" in str(
        excinfo.value
    )


def test_unknown_column_named(tmp_path):
    path = write_csv(tmp_path, "m.csv", "Date,Value\n2024-01-01,1\n2024-02-01,2\n")
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(path, value_column="Total")
    assert str(excinfo.value) == (
        "m.csv: there is no column 'Total' to read the values from; the columns are: 'Date', 'Value'"
    )


# --- bad input ------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "empty.csv", ""))
    assert str(excinfo.value) == "empty.csv: the file is empty (0 bytes)"
    assert excinfo.value.filename == "empty.csv"


def test_header_only(tmp_path):
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "header.csv", "Date,Value\n\n\n"))
    assert "header.csv" in str(excinfo.value)
    assert "needs at least 2 points to draw a chart, found 0" in str(excinfo.value)


def test_one_point(tmp_path):
    path = write_csv(tmp_path, "one.csv", "Date,Value\n2024-01-01,4\n,\n")
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(path)
    assert str(excinfo.value) == "one.csv: needs at least 2 points to draw a chart, found 1"
    assert problems_of(excinfo) == [
        (None, None, "needs at least 2 points to draw a chart, found 1")
    ]


@pytest.mark.parametrize(
    "name, content",
    [
        ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
        ("series.json", b'[{"date": "2024-01-01", "value": 1}]'),
        ("series.docx", b"PK\x03\x04 not a spreadsheet"),
    ],
)
def test_not_csv_or_xlsx(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(path)
    assert str(excinfo.value) == (
        f"{name}: is not a CSV or XLSX file: save the sheet as .xlsx or .csv and upload it"
    )


def test_old_excel_file(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(MetricFileError, match=r"old\.xls: old Excel \.xls files are not supported"):
        read_metric_series(path)


def test_damaged_xlsx(tmp_path):
    good = write_xlsx(tmp_path, "good.xlsx", [["Date", "Value"], [dt.datetime(2024, 1, 1), 1]])
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(good.read_bytes()[:300])
    with pytest.raises(MetricFileError, match=r"^broken\.xlsx: is not a complete XLSX workbook"):
        read_metric_series(broken)


def test_missing_header_row(tmp_path):
    path = write_csv(tmp_path, "noheader.csv", "2024-01-01,12\n2024-02-01,15\n2024-03-01,11\n")
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(path)
    assert str(excinfo.value) == (
        "noheader.csv: row 1: the first row should hold the column headers (such as 'Date' and "
        "'Value') but it holds data ('2024-01-01', '12'): add a header row"
    )


def test_missing_header_row_in_xlsx(tmp_path):
    rows = [[dt.datetime(2024, 1, 1), 12], [dt.datetime(2024, 2, 1), 15]]
    with pytest.raises(MetricFileError, match=r"noheader\.xlsx: row 1: the first row should hold"):
        read_metric_series(write_xlsx(tmp_path, "noheader.xlsx", rows))


def test_blank_first_row_of_csv(tmp_path):
    path = write_csv(tmp_path, "gap.csv", "\nDate,Value\n2024-01-01,1\n2024-02-01,2\n")
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(path)
    assert str(excinfo.value) == (
        "gap.csv: row 1: the first row is empty: it should hold the column headers"
    )


def test_periods_across_the_top(tmp_path):
    path = write_csv(tmp_path, "wide.csv", "Metric,Jan 2024,Feb 2024,Mar 2024\nFalls,4,5,6\n")
    with pytest.raises(MetricFileError, match="the periods run across the first row"):
        read_metric_series(path)


def test_missing_date(tmp_path):
    text = "Date,Value\n2024-01-01,1\n2024-02-01,2\n2024-03-01,3\n,4\n2024-05-01,5\n"
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "m.csv", text))
    assert str(excinfo.value) == "m.csv: row 5, column 'Date': no date"
    assert problems_of(excinfo) == [(5, "Date", "no date")]


def test_unreadable_date(tmp_path):
    text = "Date,Value\n2024-01-01,1\nsoon,2\n03/13/2024,3\n"
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "m.csv", text))
    message = str(excinfo.value)
    assert message.startswith("m.csv: 2 problems\n")
    assert "row 3, column 'Date': 'soon' is not a date this reader understands" in message
    assert "row 4, column 'Date': '03/13/2024' is not a date read day first" in message


def test_duplicate_date(tmp_path):
    rows = [f"2024-0{m}-01,{m}" for m in range(1, 8)] + ["01/03/2024,99"]
    text = "Date,Value\n" + "\n".join(rows) + "\n"
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "m.csv", text))
    assert str(excinfo.value) == "m.csv: row 9, column 'Date': 2024-03-01 already appears in row 4"


def test_text_in_a_number_cell(tmp_path):
    text = "Date,Value\n" + "".join(f"2024-0{m}-01,{m}\n" for m in range(1, 6)) + "2024-06-01,n/a\n"
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "m.csv", text))
    assert str(excinfo.value) == "m.csv: row 7, column 'Value': 'n/a' is not a number"


def test_empty_value_cell(tmp_path):
    text = "Date,Value\n2024-01-01,1\n2024-02-01,  \n2024-03-01,3\n"
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "m.csv", text))
    assert problems_of(excinfo) == [(3, "Value", "no value")]


def test_formula_without_a_saved_result(tmp_path):
    rows = [["Date", "Value"], [dt.datetime(2024, 1, 1), 1], [dt.datetime(2024, 2, 1), "=B2*2"]]
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_xlsx(tmp_path, "formula.xlsx", rows))
    assert str(excinfo.value).startswith(
        "formula.xlsx: row 3, column 'Value': holds a spreadsheet formula (=B2*2) with no saved result"
    )


def test_every_problem_listed_and_nothing_returned(tmp_path):
    text = (
        "Date,Value\n"
        "2024-01-01,1\n"  # row 2: good
        ",2\n"  # row 3: no date
        "2024-02-30,3\n"  # row 4: impossible date
        "2024-01-01,4\n"  # row 5: duplicate of row 2
        "2024-05-01,many\n"  # row 6: text
        "2024-06-01,\n"  # row 7: no value
        ",\n"  # blank: skipped silently
        "later,also\n"  # row 9: two problems
        "2024-09-01,9\n"  # row 10: good
    )
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "bad.csv", text))
    assert problems_of(excinfo) == [
        (3, "Date", "no date"),
        (4, "Date", "'2024-02-30' is not a real date"),
        (5, "Date", "2024-01-01 already appears in row 2"),
        (6, "Value", "'many' is not a number"),
        (7, "Value", "no value"),
        (
            9,
            "Date",
            "'later' is not a date this reader understands: use a date such as 2024-03-01, 01/03/2024 or Mar 2024",
        ),
        (9, "Value", "'also' is not a number"),
    ]
    assert str(excinfo.value).splitlines()[:3] == [
        "bad.csv: 7 problems",
        "  row 3, column 'Date': no date",
        "  row 4, column 'Date': '2024-02-30' is not a real date",
    ]


def test_long_list_of_problems_is_capped(tmp_path):
    text = "Date,Value\n" + "".join(f"2024-01-{d:02d},x\n" for d in range(1, 31))
    text += "".join(f"2024-02-{d:02d},y\n" for d in range(1, 29))
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "many.csv", text))
    assert len(excinfo.value.problems) == 58
    lines = str(excinfo.value).splitlines()
    assert lines[0] == "many.csv: 58 problems"
    assert len(lines) == 1 + MAX_LISTED_PROBLEMS + 1
    assert lines[-1] == "  … and 8 more"


def test_row_wider_than_the_header(tmp_path):
    text = "Date,Value\n2024-01-01,12\n2024-02-01,1,234\n2024-03-01,9\n"
    with pytest.raises(MetricFileError) as excinfo:
        read_metric_series(write_csv(tmp_path, "wide.csv", text))
    (problem,) = excinfo.value.problems
    assert problem.row == 3
    assert problem.message.startswith("the row has 3 cells but the header has 2")
    assert "rows after it were not read" in problem.message


def test_error_is_a_value_error():
    error = MetricFileError("f.csv", [(2, "Date", "no date"), (None, None, "too few")])
    assert isinstance(error, ValueError)
    assert str(error) == "f.csv: 2 problems\n  row 2, column 'Date': no date\n  too few"
    assert [tuple(p) for p in error.problems] == [(2, "Date", "no date"), (None, None, "too few")]


def test_reads_without_django_settings(tmp_path):
    """Usable with no database and no Django settings, as a notebook or a worker would use it."""
    path = write_csv(tmp_path, "m.csv", "Date,Value\n2024-01-01,1\n2024-02-01,2\n")
    code = (
        "import sys; from changebank.evaluate.importers import read_metric_series; "
        f"print(len(read_metric_series({str(path)!r}))); "
        "print(sorted(m for m in sys.modules if m.startswith('django.db')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split("\n")[:2] == ["2", "[]"]
