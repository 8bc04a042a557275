"""REFI-QDA exchange (https://www.qdasoftware.org): codebooks (``.qdc``) and projects (``.qdpx``)
to and from NVivo, ATLAS.ti, MAXQDA, QualCoder and other QDA tools.

* :func:`export_qdc`, :func:`export_qdpx` write files that validate against the REFI-QDA schemas
  (copies in ``data/``, with their provenance in ``data/NOTICE``), and return an
  :class:`ExportSummary` that lists what was not exported;
* :func:`import_qdc`, :func:`import_qdpx` (or :func:`import_refi`, which tells them apart) read
  them back, returning a :class:`RefiImportReport` with the data-loss report;
* :func:`validate_qdc`, :func:`validate_qdpx` raise :class:`RefiError` listing schema violations.
"""

from .export import ExportSummary, export_qdc, export_qdpx
from .importer import RefiImportReport, import_qdc, import_qdpx, import_refi
from .validate import RefiError, validate_qdc, validate_qdpx

__all__ = [
    "ExportSummary",
    "RefiError",
    "RefiImportReport",
    "export_qdc",
    "export_qdpx",
    "import_qdc",
    "import_qdpx",
    "import_refi",
    "validate_qdc",
    "validate_qdpx",
]
