"""Imports: survey exports, spreadsheets and JSON into a programme.

``sources`` reads files as streams of rows and recognises survey tools (no database);
``mapping`` says what each column means; ``loader`` writes rows to the database atomically.
"""

from .errors import ImportFileError, RowProblem
from .mapping import ROLES, ColumnMapping, propose_mapping
from .sources import Source, open_source

__all__ = [
    "ROLES",
    "ColumnMapping",
    "ImportFileError",
    "RowProblem",
    "Source",
    "open_source",
    "propose_mapping",
]
