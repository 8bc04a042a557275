"""Errors and row problems that name the file, the row and the field."""

from __future__ import annotations

from dataclasses import dataclass


class ImportFileError(ValueError):
    """The file cannot be imported at all; the message says why, naming the file (and row, field)."""

    def __init__(
        self, filename: str, message: str, *, row: int | None = None, field: str | None = None
    ) -> None:
        self.filename = filename
        self.message = message
        self.row = row
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.filename
        if self.row is not None:
            where += f", row {self.row}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RowProblem:
    """A problem with one row: an error (the row cannot be imported) or a warning (it was, with a note)."""

    row: int
    field: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message}

    def describe(self, filename: str) -> str:
        field = f", field '{self.field}'" if self.field else ""
        return f"{filename}, row {self.row}{field}: {self.message}"
