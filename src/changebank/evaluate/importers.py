"""Reading a metric's time series from an uploaded CSV or XLSX file, for an SPC chart.

:func:`read_metric_series` turns a file with a date column and a value column (and, optionally, a
note column) into validated :class:`MetricPoint` objects sorted by date, or raises
:class:`MetricFileError` listing every problem, naming the file, row and column of each. It returns
everything or nothing, so the view that stores the points can do the same. Nothing here touches the
database or needs Django settings: the file is read by
:func:`changebank.listen.importers.sources.open_source`, which copes with CSV in any delimiter and
common encoding (UTF-8 with or without BOM, UTF-16, Windows-1252) and with XLSX workbooks.

Dates are read day first, as in the UK: ``01/03/2024`` is 1 March 2024. A date that can only be read
month first (``03/13/2024``) is refused rather than guessed, so one file never mixes the two orders.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from changebank.listen.importers.errors import ImportFileError
from changebank.listen.importers.sources import (
    Column,
    FormulaCell,
    RowWidthError,
    Source,
    open_source,
    to_text,
)

#: A chart needs at least this many points.
MIN_POINTS = 2
#: Files with more data rows than this are refused (a chart of a metric has hundreds, not millions).
MAX_ROWS = 100_000
#: ``str(MetricFileError)`` lists at most this many problems, then says how many more there are.
MAX_LISTED_PROBLEMS = 50
#: How many rows are looked at to decide which column holds the dates and which the values.
SAMPLE_ROWS = 500

#: The file name endings accepted; a file with no ending is read for what it holds.
ACCEPTED_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ""}


@dataclass(frozen=True)
class MetricPoint:
    """One value of a metric and the date it belongs to."""

    period: dt.date
    value: float
    #: The row in the file as a spreadsheet user counts it (the header is row 1).
    row: int
    note: str = ""


class MetricProblem(NamedTuple):
    """One problem with a file: ``row`` and ``field`` are None when it concerns the whole file."""

    row: int | None
    field: str | None
    message: str

    def describe(self) -> str:
        """``row 5, column 'Date': no date``; just the message for a problem with the whole file."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"column '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class MetricFileError(ValueError):
    """The file cannot be used; ``problems`` lists every ``(row, field, message)`` found.

    ``str()`` gives a readable message naming the file and the row and column of each problem,
    listing at most :data:`MAX_LISTED_PROBLEMS` and saying how many more there are.
    """

    def __init__(
        self, filename: str, problems: Iterable[tuple[int | None, str | None, str]]
    ) -> None:
        self.filename = filename
        self.problems: list[MetricProblem] = [MetricProblem(*p) for p in problems]
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"{self.filename}: {self.problems[0].describe()}"
        lines = [f"{self.filename}: {len(self.problems)} problems"]
        lines += [f"  {p.describe()}" for p in self.problems[:MAX_LISTED_PROBLEMS]]
        more = len(self.problems) - MAX_LISTED_PROBLEMS
        if more > 0:
            lines.append(f"  … and {more:,} more")
        return "\n".join(lines)


# --- dates ----------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
# An optional time after a date (ignored): "2024-03-01 00:00:00", "01/03/2024 09:30", "...T00:00Z".
_TIME = (
    r"(?:(?:[ T]|,\s*)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_YEAR_FIRST = re.compile(rf"(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_TIME}")
_DAY_FIRST = re.compile(rf"(\d{{1,2}})([/.-])(\d{{1,2}})\2(\d{{4}}|\d{{2}}){_TIME}")
_YEAR_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")
_ISO_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})(?:-?([1-7]))?", re.IGNORECASE)
# "Mar 2024", "March 2024", "Mar-24", "1 March 2024", "01-Mar-2024", "1st Mar 2024"
_NAMED_MONTH = re.compile(
    r"(?:(\d{1,2})(?:st|nd|rd|th)?[\s/-]+)?([A-Za-z]+)\.?(?:[\s/-]+|,\s*)(\d{4}|\d{2})"
)
# "March 1, 2024", "Mar 1 2024"
_MONTH_DAY_YEAR = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")

_DATE_EXAMPLES = "use a date such as 2024-03-01, 01/03/2024 or Mar 2024"


class _DateError(ValueError):
    pass


def _full_year(text: str) -> int:
    """A four-digit year; two digits are 2000–2068 or 1969–1999, as ``strptime('%y')`` reads them."""
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 69 else 1900
    return year


def _make_date(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _DateError(f"'{_short(text)}' is not a real date") from None


def parse_period(value: Any) -> dt.date:
    """The date a cell stands for, or :class:`ValueError` saying why it is not one.

    Accepts spreadsheet dates and datetimes (the time is dropped); ISO dates ``2024-03-01`` (with or
    without a time); day-first dates ``01/03/2024``, ``1/3/24``, ``01.03.2024``, ``01-03-2024``
    (two-digit years are 2000–2068, else 1900s); months ``2024-03``, ``Mar 2024``, ``March 2024``,
    ``Mar-24`` (the first of the month); ``1 March 2024``, ``01-Mar-24`` and ``March 1, 2024``;
    and ISO weeks ``2024-W09`` (their Monday). Month names are English, whatever the locale.
    """
    if isinstance(value, FormulaCell):
        value = value.result
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool) or value is None:
        raise _DateError("no date" if value is None else f"'{value}' is not a date")
    if isinstance(value, int | float | decimal.Decimal):
        raise _DateError(
            f"{to_text(value)} is a number, not a date: format the cells as dates, or "
            f"{_DATE_EXAMPLES}"
        )
    text = " ".join(str(value).split())
    if not text:
        raise _DateError("no date")
    if match := _YEAR_FIRST.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
        return _make_date(text, year, month, day)
    if match := _DAY_FIRST.fullmatch(text):
        first, _, second, year_text = match.groups()
        day, month, year = int(first), int(second), _full_year(year_text)
        if month > 12 and day <= 12:
            raise _DateError(
                f"'{_short(text)}' is not a date read day first (dd/mm/yyyy): there is no month "
                f"{month}; if the file writes dates month first (US style), save them as "
                "yyyy-mm-dd instead"
            )
        return _make_date(text, year, month, day)
    if match := _YEAR_MONTH.fullmatch(text):
        return _make_date(text, int(match[1]), int(match[2]), 1)
    if match := _ISO_WEEK.fullmatch(text):
        try:
            return dt.date.fromisocalendar(int(match[1]), int(match[2]), int(match[3] or 1))
        except ValueError:
            raise _DateError(f"'{_short(text)}' is not a real ISO week") from None
    if (match := _NAMED_MONTH.fullmatch(text)) and match[2].lower() in _MONTHS:
        day_text, month_name, year_text = match.groups()
        return _make_date(
            text, _full_year(year_text), _MONTHS[month_name.lower()], int(day_text or 1)
        )
    if (match := _MONTH_DAY_YEAR.fullmatch(text)) and match[1].lower() in _MONTHS:
        return _make_date(text, int(match[3]), _MONTHS[match[1].lower()], int(match[2]))
    raise _DateError(f"'{_short(text)}' is not a date this reader understands: {_DATE_EXAMPLES}")


# --- numbers --------------------------------------------------------------------------------------

_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2013": "-"})
_EXPONENT = r"(?:[eE][+-]?\d+)?"
# A decimal point, thousands grouped by commas or not: "1,234.5", "1234.5", ".5", "1e3".
_POINT_DECIMAL = re.compile(
    rf"[+-]?(?:[1-9]\d{{0,2}}(?:,\d{{3}})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+){_EXPONENT}"
)
# A decimal comma, thousands grouped by points or spaces, as European spreadsheets write: "1.234,5".
_COMMA_DECIMAL = re.compile(r"[+-]?(?:(?:[1-9]\d{0,2}(?:[. ]\d{3})+|\d+)(?:,\d*)?|,\d+)")


def _number_text(value: Any) -> str:
    text = " ".join(str(value).replace("\u00a0", " ").split()).translate(_MINUS_SIGNS)
    if text.endswith("%"):
        text = text[:-1].rstrip()
    return text


def uses_decimal_comma(values: Iterable[Any]) -> bool:
    """Whether a column's texts write decimals with a comma (``12,5``), as European exports do.

    Only when some text can be read only that way and none can be read only with a decimal point
    (``12.5``): ``1,234`` could be either, and alone is read as one thousand two hundred and
    thirty-four.
    """
    comma = point = False
    for value in values:
        if isinstance(value, str):
            text = _number_text(value)
            as_point = bool(_POINT_DECIMAL.fullmatch(text))
            as_comma = bool(_COMMA_DECIMAL.fullmatch(text))
            point = point or (as_point and not as_comma)
            comma = comma or (as_comma and not as_point)
    return comma and not point


def parse_number(value: Any, *, decimal_comma: bool = False) -> float:
    """A cell's number, or :class:`ValueError` saying why it is not one.

    Accepts spreadsheet numbers and texts such as ``1234``, ``1,234``, ``-3.5``, ``−3.5``, ``1e3``,
    `` 12 `` and ``12.5%`` (read as 12.5: the percentage sign is dropped, the number kept). With
    ``decimal_comma`` the comma is the decimal mark and points or spaces group thousands
    (``1.234,5``). Text, true/false and dates are refused.
    """
    if isinstance(value, FormulaCell):
        value = value.result
    if value is None:
        raise ValueError("no value")
    if isinstance(value, bool | dt.date):
        raise ValueError(f"'{to_text(value)}' is not a number")
    if isinstance(value, int | float | decimal.Decimal):
        number = float(value)
    else:
        text = _number_text(value)
        if not text:
            raise ValueError("no value")
        if decimal_comma and _COMMA_DECIMAL.fullmatch(text):
            number = float(text.replace(".", "").replace(" ", "").replace(",", "."))
        elif not decimal_comma and _POINT_DECIMAL.fullmatch(text):
            number = float(text.replace(",", ""))
        else:
            raise ValueError(f"'{_short(str(value).strip())}' is not a number")
    if not math.isfinite(number):
        raise ValueError(f"'{to_text(value)}' is not a number")
    return number


# --- choosing the columns -------------------------------------------------------------------------

_DATE_WORDS = {"date", "dates", "period", "week", "month", "day", "timestamp", "wk"}
_DATE_HEADERS = {"w/e", "w/c", "w/b", "we", "wc", "wb"}
_VALUE_WORDS = {
    "value",
    "values",
    "count",
    "counts",
    "rate",
    "rates",
    "%",
    "percent",
    "percentage",
    "proportion",
    "number",
    "total",
    "score",
    "mean",
    "average",
    "median",
    "ratio",
    "amount",
    "result",
    "measure",
}
_NOTE_WORDS = {"note", "notes", "annotation", "annotations", "comment", "comments"}


def _words(header: str) -> list[str]:
    return re.sub(r"[^0-9a-z%]+", " ", header.lower().replace("%", " % ")).split()


def _normal(header: str) -> str:
    return " ".join(header.casefold().split())


def _is_date_header(header: str) -> bool:
    return _normal(header) in _DATE_HEADERS or bool(_DATE_WORDS & set(_words(header)))


def _is_value_header(header: str) -> bool:
    return bool(_VALUE_WORDS & set(_words(header)))


def _share(values: list[Any], test: Any) -> float:
    """The share of the non-empty values that pass ``test``; 0 when all are empty."""
    filled = [v for v in values if not _is_empty(v)]
    if not filled:
        return 0.0
    passed = 0
    for v in filled:
        try:
            test(v)
            passed += 1
        except ValueError:
            pass
    return passed / len(filled)


def _names(columns: Iterable[Column]) -> str:
    return ", ".join(f"'{c.header}'" for c in columns)


class _Choice:
    """Which columns hold the dates, values and notes, chosen by name or from headers and values."""

    def __init__(self, columns: list[Column], samples: list[list[Any]]) -> None:
        self.columns = columns
        self.samples = {c.index: [row[c.index] for row in samples] for c in columns}

    def dates(self, c: Column) -> float:
        return _share(self.samples[c.index], parse_period)

    def numbers(self, c: Column) -> float:
        values = self.samples[c.index]
        decimal_comma = uses_decimal_comma(values)
        return _share(values, lambda v: parse_number(v, decimal_comma=decimal_comma))

    def named(self, name: str, role: str) -> Column:
        exact = [c for c in self.columns if c.header == name]
        loose = [c for c in self.columns if _normal(c.header) == _normal(name)]
        found = exact or loose
        if len(found) != 1:
            how = "no" if not found else "more than one"
            raise _ColumnError(
                role,
                f"there is {how} column '{name}' to read the {role} from; the columns are: "
                f"{_names(self.columns)}",
            )
        return found[0]

    def date_column(self) -> Column:
        named = [c for c in self.columns if _is_date_header(c.header)]
        readable = [c for c in named if self.dates(c) >= 0.5]
        if len(readable) == 1:
            return readable[0]
        if len(readable) > 1:
            raise _ColumnError(
                "dates",
                f"could not tell which column holds the dates: {_names(readable)} all could; "
                "choose one",
            )
        # Named like a date but unreadable: choose it so each row says what is wrong with its date.
        textual = [c for c in named if self.numbers(c) < 0.5]
        if len(textual) == 1:
            return textual[0]
        dated = [c for c in self.columns if self.dates(c) >= 0.5]
        if len(dated) == 1:
            return dated[0]
        raise _ColumnError(
            "dates",
            f"could not tell which column holds the dates; the columns are: "
            f"{_names(self.columns)}; choose one",
        )

    def value_column(self, taken: Sequence[Column]) -> Column:
        pool = [c for c in self.columns if c not in taken]
        exact = [c for c in pool if _normal(c.header) in ("value", "values")]
        if len(exact) == 1:
            return exact[0]
        named = [c for c in pool if _is_value_header(c.header)]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            numeric = [c for c in named if self.numbers(c) >= 0.5]
            if len(numeric) == 1:
                return numeric[0]
            raise _ColumnError(
                "values",
                f"could not tell which column holds the values: {_names(numeric or named)} all "
                "could; choose one",
            )
        numeric = [c for c in pool if self.numbers(c) >= 0.5]
        if len(numeric) == 1:
            return numeric[0]
        raise _ColumnError(
            "values",
            f"could not tell which column holds the values; the columns are: "
            f"{_names(self.columns)}; choose one",
        )

    def note_column(self, taken: Sequence[Column]) -> Column | None:
        notes = [c for c in self.columns if c not in taken and set(_words(c.header)) & _NOTE_WORDS]
        return notes[0] if len(notes) == 1 else None


class _ColumnError(ValueError):
    def __init__(self, role: str, message: str) -> None:
        self.role = role
        self.message = message
        super().__init__(message)


# --- reading --------------------------------------------------------------------------------------


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_empty(value: Any) -> bool:
    if isinstance(value, FormulaCell):
        return False
    return value is None or (isinstance(value, str) and not value.strip())


def _header_problem(columns: list[Column]) -> str | None:
    """Say so when the first row holds data rather than headers, or periods across the top."""
    headers = [c.header for c in columns if c.header != f"column {c.index + 1}"]
    dated, data = [], []
    for header in headers:
        for parse in (parse_period, parse_number):
            try:
                parse(header)
            except ValueError:
                continue
            data.append(header)
            if parse is parse_period:
                dated.append(header)
            break
    if headers and len(data) == len(headers):
        shown = ", ".join(f"'{_short(h, 20)}'" for h in data[:4])
        return (
            f"the first row should hold the column headers (such as 'Date' and 'Value') but it "
            f"holds data ({shown}): add a header row"
        )
    if len(dated) >= 3 and not any(_is_date_header(h) for h in headers):
        shown = ", ".join(f"'{_short(h, 20)}'" for h in dated[:3])
        return (
            f"the periods run across the first row ({shown}, …): put the dates down one column "
            "and the values in the next, one row per period"
        )
    return None


def _formula_problem(cell: FormulaCell) -> str:
    return (
        f"holds a spreadsheet formula ({_short(cell.formula, 60)}) with no saved result; open "
        "the file in a spreadsheet, save it, and upload it again"
    )


def _read_rows(
    source: Source, problems: list[MetricProblem]
) -> tuple[list[tuple[int, list[Any]]], bool]:
    """The rows that are not wholly blank, and whether the whole file was read: a row the reader
    cannot get past ends the reading, with a problem saying so."""
    rows: list[tuple[int, list[Any]]] = []
    headers = [c.header for c in source.columns]
    before_first = True
    iterator = source.rows()
    while True:
        try:
            number, values = next(iterator)
        except StopIteration:
            return rows, True
        except RowWidthError as exc:
            problems.append(
                MetricProblem(
                    exc.row,
                    None,
                    f"{exc} (in a comma-separated file, a number written with a thousands "
                    "separator such as 1,234 must be in quotes); rows after it were not read",
                )
            )
            return rows, False
        except ImportFileError as exc:
            problems.append(MetricProblem(exc.row, exc.field, exc.message))
            return rows, False
        if all(_is_empty(v) for v in values):
            continue
        # A workbook with blank rows above its header yields the header row too: skip it.
        if before_first and source.format == "xlsx":
            before_first = False
            texts = [to_text(v) for v in values]
            if all(t == h for t, h in zip(texts, headers, strict=False) if t):
                continue
        before_first = False
        if len(rows) >= MAX_ROWS:
            problems.append(
                MetricProblem(
                    number,
                    None,
                    f"the file has more than {MAX_ROWS:,} rows: too many for one chart",
                )
            )
            return rows, False
        rows.append((number, values))


def _with_workbook_suffix(path: Path, stack: ExitStack) -> Path:
    """A workbook kept under a name without its ending (a temporary copy of an upload) is seen
    under an ``.xlsx`` name, which openpyxl needs, through a link in a temporary folder."""
    if path.is_dir() or path.suffix.lower() in (".xlsx", ".xlsm"):
        return path
    try:
        with path.open("rb") as fh:
            if fh.read(2) != b"PK":
                return path
    except OSError:
        return path  # open_source says what is wrong
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="changebank-metric-")))
    linked = folder / "upload.xlsx"
    try:
        linked.symlink_to(path.resolve())
    except OSError:
        shutil.copyfile(path, linked)
    return linked


_NOT_A_TABLE = "is not a CSV or XLSX file: save the sheet as .xlsx or .csv and upload it"


def _open(path: Path, name: str, stack: ExitStack) -> Source:
    """The file as a :class:`Source`, refusing anything but CSV and XLSX."""
    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        raise MetricFileError(
            name, [(None, None, "old Excel .xls files are not supported: save it as .xlsx or CSV")]
        )
    if suffix not in ACCEPTED_SUFFIXES or path.is_dir():
        raise MetricFileError(name, [(None, None, _NOT_A_TABLE)])
    path = _with_workbook_suffix(path, stack)
    try:
        source = open_source(path, name)
    except ImportFileError as exc:
        raise MetricFileError(name, [(exc.row, exc.field, exc.message)]) from None
    if source.format not in ("csv", "xlsx"):
        raise MetricFileError(name, [(None, None, _NOT_A_TABLE)])
    return source


def read_metric_series(
    path: str | Path,
    filename: str | None = None,
    *,
    date_column: str | None = None,
    value_column: str | None = None,
    note_column: str | None = None,
) -> list[MetricPoint]:
    """Read a metric's time series from a CSV or XLSX file: every point, sorted by date, or nothing.

    ``filename`` is the name used in messages (an upload's own name; by default the file's). The
    first row holds the headers; wholly blank rows are skipped. Columns named by ``date_column``,
    ``value_column`` and ``note_column`` are used as given (matched exactly, else ignoring case and
    spacing). Otherwise:

    * the date column is the one headed like a date (date, period, week, month, day, week ending,
      date of …, w/e) whose values read as dates, else the only column whose values do;
    * the value column is the one headed ``Value``, else the one headed like a value (count, rate,
      %, percentage, number, total, score, mean, …), else the only other numeric column;
    * the note column, which is optional, is the only one headed note(s), annotation(s) or
      comment(s).

    Dates are read by :func:`parse_period` (day first, as in the UK) and values by
    :func:`parse_number`. The points come back sorted by date, whatever the order in the file.

    Raises :class:`MetricFileError` listing every problem found: a file that is empty, not CSV or
    XLSX, or without a header row; columns it cannot choose; rows with no date, an unreadable date,
    a date already used in another row, no value, or text for a value; and fewer than
    :data:`MIN_POINTS` points in all.
    """
    path = Path(path)
    name = filename or path.name
    with ExitStack() as stack:
        source = _open(path, name, stack)
        return _read(source, name, date_column, value_column, note_column)


def _read(
    source: Source,
    name: str,
    date_column: str | None,
    value_column: str | None,
    note_column: str | None,
) -> list[MetricPoint]:
    columns = source.columns

    header_problem = _header_problem(columns)
    if header_problem:
        raise MetricFileError(name, [(1, None, header_problem)])

    problems: list[MetricProblem] = []
    rows, complete = _read_rows(source, problems)
    choice = _Choice(columns, [values for _, values in rows[:SAMPLE_ROWS]])
    try:
        date_col = choice.named(date_column, "dates") if date_column else choice.date_column()
        value_col = (
            choice.named(value_column, "values")
            if value_column
            else choice.value_column([date_col])
        )
        if date_col is value_col:
            raise _ColumnError(
                "values", f"the dates and the values cannot both come from '{date_col.header}'"
            )
        note_col = (
            choice.named(note_column, "notes")
            if note_column
            else choice.note_column([date_col, value_col])
        )
    except _ColumnError as exc:
        raise MetricFileError(name, [*problems, (None, None, exc.message)]) from None

    decimal_comma = uses_decimal_comma(values[value_col.index] for _, values in rows)
    points: list[MetricPoint] = []
    seen: dict[dt.date, int] = {}
    for number, values in rows:
        raw_date, raw_value = values[date_col.index], values[value_col.index]
        period = value = None
        for raw, column in ((raw_date, date_col), (raw_value, value_col)):
            if isinstance(raw, FormulaCell) and raw.result is None:
                problems.append(MetricProblem(number, column.header, _formula_problem(raw)))
        try:
            period = parse_period(raw_date)
        except ValueError as exc:
            if not (isinstance(raw_date, FormulaCell) and raw_date.result is None):
                problems.append(MetricProblem(number, date_col.header, str(exc)))
        try:
            value = parse_number(raw_value, decimal_comma=decimal_comma)
        except ValueError as exc:
            if not (isinstance(raw_value, FormulaCell) and raw_value.result is None):
                problems.append(MetricProblem(number, value_col.header, str(exc)))
        if period is not None:
            if period in seen:
                problems.append(
                    MetricProblem(
                        number,
                        date_col.header,
                        f"{period.isoformat()} already appears in row {seen[period]}",
                    )
                )
                period = None
            else:
                seen[period] = number
        if period is None or value is None:
            continue
        note = ""
        if note_col is not None:
            note = " ".join(to_text(values[note_col.index]).split())
        points.append(MetricPoint(period, value, number, note))

    if complete and len(rows) < MIN_POINTS:
        problems.append(
            MetricProblem(
                None,
                None,
                f"needs at least {MIN_POINTS} points to draw a chart, found {len(rows)}",
            )
        )
    if problems:
        raise MetricFileError(name, problems)
    points.sort(key=lambda p: p.period)
    return points
