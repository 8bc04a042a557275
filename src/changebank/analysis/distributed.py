"""Distributed analysis on Dask: codes, themes, sentiment and stance for inputs larger than memory.

:class:`DistributedAnalysis` runs the analysis of :class:`~.theme.ThemeModel` and
:mod:`.sentiment` over Parquet or CSV files, or over a Dask DataFrame, without ever holding the
whole input in one place. Only one partition per worker thread, and the sample on the client, are
in memory at any time:

1. **sample** (one pass over the data): every row with text gets a key, a keyed hash of its id
   (of its position when there is no id column). The ``sample_size`` rows with the smallest keys
   are the sample: a bottom-k sample, uniform, reproducible for a ``random_state`` and, with an
   id column, the same however the input is split into files and partitions. A tree reduction
   (``nsmallest``) brings only those rows to the client, with each partition's row count.
2. **fit** on the client: :class:`~.theme.ThemeModel` on the sample in input order, plus one empty
   answer when the input has any, so blank answers get a code of their own as in the in-process
   analysis. The sentiment model is the bundled one (nothing is fitted; nothing downloads).
3. **assign** (one pass): the fitted model, slimmed to its centroids and parameters, and the
   sentiment and stance models are sent once to every worker; ``map_partitions`` embeds each
   partition's texts and gives every row the code of its nearest centroid (rows of the sample
   keep the code the clustering gave them, exactly as ``ThemeModel.fit`` does), its theme,
   confidence, needs-review flag, the codes of its clauses, sentiment and stance. Each task
   writes its partition straight to ``results/part-NNNNN.parquet``.
4. **codebook**: per-partition counts are summed by a distributed ``groupby`` and written with
   the codes, themes, keywords and quotes to ``codebook.json``.

So each row's result depends only on its own text and on the fitted model: it is the same with one
worker or a hundred, with any partitioning, and with the in-process engine
(``engine="in-process"``, the same functions run partition by partition in one process without
Dask). It equals ``ThemeModel(sample_size=len(sample)).fit(sample)`` with ``predict`` on the rest.

Inputs: ``.parquet`` / ``.pq`` files (a partition is one or more row groups of a file, up to
``partition_rows``), ``.csv`` / ``.tsv`` files in UTF-8 (a partition is a byte range of about
``blocksize`` bytes, cut only at a line end outside quotes, so quoted comments holding line breaks
are never split), a folder of such files, a glob, or a list of any of these. Files must be on
storage every worker can read at the same path, and so must the output folder.

What the in-process analysis of a programme also does and this does not (yet): distinct changes
(a global near-duplicate grouping) and keeping analysts' decisions (there is no database here).

Dask and pyarrow are imported only when used (``pip install changebank[dask]``); this module, like
the rest of :mod:`changebank.analysis`, never imports Django.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .theme import ThemeModel

FORMAT = "changebank-codebook"
FORMAT_VERSION = 1
RESULTS = "results"
CODEBOOK = "codebook.json"
KEY_COLUMNS = ["_key", "_part", "_row"]
KINDS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv"}
_SCAN = 4 * 1024 * 1024  # bytes read at a time when looking for safe CSV cut points


class InputError(ValueError):
    """The input cannot be analysed: a missing file or column, no rows, an unreadable file."""


# -- input -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Which columns hold the text, the id and the question answered (the latter two optional)."""

    text: str
    id: str | None = None
    question: str | None = None

    def names(self) -> list[str]:
        return [c for c in (self.id, self.text, self.question) if c]

    def roles(self) -> list[tuple[str, str]]:
        pairs = [("text", self.text), ("id", self.id), ("question", self.question)]
        return [(role, name) for role, name in pairs if name]


@dataclass(frozen=True)
class Partition:
    """One partition of the input: row groups of a Parquet file, or a byte range of a CSV file."""

    number: int
    path: str
    kind: str  # "parquet" or "csv"
    row_groups: tuple[int, ...] = ()
    start: int = 0
    end: int = 0
    header: bytes = b""  # a CSV file's header line, put before each byte range when read
    sep: str = ","
    rows: int | None = None  # known for Parquet from the file's metadata

    def describe(self) -> str:
        if self.kind == "parquet":
            groups = ", ".join(str(g) for g in self.row_groups)
            return f"{self.path} (row groups {groups})"
        return f"{self.path} (bytes {self.start:,}-{self.end:,})"


def input_files(source: str | Path | Sequence[str | Path]) -> list[str]:
    """The files a source names: a file, a folder (its Parquet and CSV files), a glob, or a list.

    Raises :class:`InputError` for a missing file, a glob or folder matching nothing, or a file
    that is neither Parquet nor CSV.
    """
    items = [source] if isinstance(source, (str, Path)) else list(source)
    if not items:
        raise InputError("no input given: name Parquet or CSV files, a folder or a glob")
    files: list[str] = []
    for item in items:
        text = os.path.expanduser(str(item))
        if any(ch in text for ch in "*?["):
            matched = [p for p in sorted(glob.glob(text, recursive=True)) if os.path.isfile(p)]
            if not matched:
                raise InputError(f"no files match '{text}'")
            files += matched
        elif os.path.isdir(text):
            matched = sorted(
                str(p)
                for p in Path(text).rglob("*")
                if p.is_file() and _kind(p) and not p.name.startswith((".", "_"))
            )
            if not matched:
                raise InputError(f"no Parquet or CSV files in the folder '{text}'")
            files += matched
        elif os.path.isfile(text):
            files.append(text)
        else:
            raise InputError(f"input file not found: '{text}'")
    out = list(dict.fromkeys(os.path.abspath(f) for f in files))
    for f in out:
        if _kind(Path(f)) is None:
            raise InputError(
                f"{f}: not a Parquet (.parquet, .pq) or CSV (.csv, .tsv) file; "
                "convert it, or name only the files to analyse"
            )
    return out


def _kind(path: Path) -> str | None:
    return KINDS.get(path.suffix.lower())


def plan_partitions(
    source: str | Path | Sequence[str | Path],
    columns: Columns,
    partition_rows: int = 50_000,
    blocksize: int = 8 * 1024 * 1024,
) -> list[Partition]:
    """Partitions of the input files, after checking every file can be read and has the columns.

    Reads only Parquet metadata and CSV header lines, plus one scan of each CSV file larger than
    ``blocksize`` for cut points (a line end outside quotes).
    """
    parts: list[Partition] = []
    for path in input_files(source):
        if KINDS[Path(path).suffix.lower()] == "parquet":
            found = _plan_parquet(path, columns, partition_rows, len(parts))
        else:
            found = _plan_csv(path, columns, blocksize, len(parts))
        parts += found
    return parts


def _check_columns(where: str, names: Sequence[str], columns: Columns) -> None:
    for role, name in columns.roles():
        if name not in names:
            shown = ", ".join(f"'{n}'" for n in list(names)[:20]) or "none"
            raise InputError(f"{where} has no {role} column '{name}' (its columns: {shown})")


def _plan_parquet(path: str, columns: Columns, partition_rows: int, first: int) -> list[Partition]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)
        names = meta.schema_arrow.names
        sizes = [meta.metadata.row_group(g).num_rows for g in range(meta.metadata.num_row_groups)]
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path}: cannot read it as Parquet ({exc})") from None
    _check_columns(path, names, columns)
    parts: list[Partition] = []
    groups: list[int] = []
    rows = 0

    def emit() -> None:
        parts.append(Partition(first + len(parts), path, "parquet", tuple(groups), rows=rows))

    for g, n in enumerate(sizes):
        if groups and rows + n > partition_rows:
            emit()
            groups, rows = [], 0
        groups.append(g)
        rows += n
    if groups:
        emit()
    return parts


def _line_ends(chunk: bytes, start: int, inside: bool) -> Iterator[tuple[int, bool]]:
    """Each line end at or after ``start`` in ``chunk`` with whether it falls inside quotes.

    A doubled quote ("") toggles twice, so counting quotes is enough for RFC 4180 CSV.
    """
    i = start
    while True:
        j = chunk.find(b"\n", i)
        if j < 0:
            return
        inside ^= chunk.count(b'"', i, j) % 2 == 1
        yield j, inside
        i = j + 1


def _csv_cuts(path: str, size: int, header_end: int, blocksize: int) -> list[int]:
    """Byte offsets where partitions start: after a line end outside quotes, about every
    ``blocksize`` bytes (one streaming pass over the file; nothing is held but one buffer)."""
    cuts = [header_end]
    target = header_end + blocksize
    if size <= target:
        return cuts + [size]
    inside = False
    offset = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_SCAN):
            i = 0
            while offset + len(chunk) > target:
                begin = max(i, target - offset)
                inside ^= chunk.count(b'"', i, begin) % 2 == 1
                i = begin
                for j, inside_at in _line_ends(chunk, i, inside):
                    inside = inside_at
                    i = j + 1
                    if not inside:
                        cuts.append(offset + i)
                        target = offset + i + blocksize
                        break
                else:  # no safe line end in the rest of this buffer: keep looking in the next
                    inside ^= chunk.count(b'"', i) % 2 == 1
                    i = len(chunk)
                    break
            else:
                inside ^= chunk.count(b'"', i) % 2 == 1
            offset += len(chunk)
    cuts = [c for c in cuts if c < size]
    return cuts + [size]


def _csv_header(path: str) -> bytes:
    """The first line of a CSV file (up to its first line end outside quotes)."""
    with open(path, "rb") as fh:
        head = b""
        inside = False
        while chunk := fh.read(64 * 1024):
            for j, inside_at in _line_ends(chunk, 0, inside):
                if not inside_at:
                    return head + chunk[: j + 1]
                inside = inside_at
            else:
                inside ^= chunk.count(b'"', chunk.rfind(b"\n") + 1) % 2 == 1
            head += chunk
            if len(head) > 16 * 1024 * 1024:
                raise InputError(f"{path}: no end to the header line in its first 16 MB")
        return head


def _plan_csv(path: str, columns: Columns, blocksize: int, first: int) -> list[Partition]:
    sep = "\t" if path.lower().endswith(".tsv") else ","
    try:
        size = os.path.getsize(path)
        header = _csv_header(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc})") from None
    if not header.strip():
        raise InputError(f"{path} is empty: a CSV file needs a header row naming its columns")
    try:
        names = pd.read_csv(
            io.BytesIO(header), sep=sep, nrows=0, encoding="utf-8-sig", dtype=str
        ).columns
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save it as UTF-8 CSV or as Parquet") from None
    except ValueError as exc:
        raise InputError(f"{path}: cannot read its header row as CSV ({exc})") from None
    _check_columns(path, [str(n) for n in names], columns)
    cuts = _csv_cuts(path, size, len(header), blocksize)
    return [
        Partition(first + k, path, "csv", start=a, end=b, header=header, sep=sep)
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))
        if b > a
    ]


def _texts(values: pd.Series) -> pd.Series:
    """Strings, with missing values as "" (an empty answer)."""
    values = values.astype(object)
    values = values.where(values.notna(), "")
    return values.map(lambda v: v if isinstance(v, str) else str(v))


def _standard(df: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """The columns renamed ``id``, ``text`` and ``question``; texts as strings, never missing."""
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    if columns.id:
        out["id"] = df[columns.id].to_numpy()
    out["text"] = _texts(df[columns.text]).to_numpy()
    if columns.question:
        out["question"] = _texts(df[columns.question]).to_numpy()
    return out


def _frame_meta(columns: Columns) -> pd.DataFrame:
    meta = {}
    if columns.id:
        meta["id"] = pd.Series(dtype=object)
    meta["text"] = pd.Series(dtype=object)
    if columns.question:
        meta["question"] = pd.Series(dtype=object)
    return pd.DataFrame(meta)


def read_partition(part: Partition, spec: Columns) -> pd.DataFrame:
    """One partition as a DataFrame with columns ``id``, ``text`` and ``question`` (as present)."""
    try:
        if part.kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.ParquetFile(part.path).read_row_groups(
                list(part.row_groups), columns=list(dict.fromkeys(spec.names()))
            )
            df = table.to_pandas()
        else:
            with open(part.path, "rb") as fh:
                fh.seek(part.start)
                data = fh.read(part.end - part.start)
            df = pd.read_csv(
                io.BytesIO(part.header + data),
                sep=part.sep,
                usecols=list(dict.fromkeys(spec.names())),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                encoding="utf-8-sig",
            )
    except UnicodeDecodeError:
        raise InputError(
            f"{part.describe()}: not UTF-8 text; save it as UTF-8 CSV or as Parquet"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{part.describe()}: cannot read it ({exc})") from None
    return _standard(df, spec)


# -- the steps run on each partition (module-level functions, so workers import them) --------------


def sample_keys(values: pd.Series, random_state: int) -> np.ndarray:
    """The sampling key of each value: a 64-bit keyed hash of its text form (SipHash)."""
    secret = hashlib.blake2b(f"changebank-sample-{random_state}".encode(), digest_size=8)
    return pd.util.hash_pandas_object(
        pd.Series(values, dtype=object).astype(str), index=False, hash_key=secret.hexdigest()
    ).to_numpy(np.uint64)


def _number(partition_info: dict[str, Any] | None) -> int:
    return int(partition_info["number"]) if partition_info else 0


def _candidates(
    df: pd.DataFrame, random_state: int, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Rows with text, with their sampling key and position (partition, row)."""
    part = _number(partition_info)
    rows = np.flatnonzero([bool(t.strip()) for t in df["text"]]).astype(np.int64)
    sub = df.iloc[rows]
    if "id" in df.columns:
        keys = sample_keys(sub["id"], random_state)
    else:
        keys = sample_keys(pd.Series([f"{part}:{r}" for r in rows], dtype=object), random_state)
    out = pd.DataFrame({"_key": keys, "_part": np.full(len(rows), part, np.int64), "_row": rows})
    for column in df.columns:
        out[column] = sub[column].to_numpy()
    return out


def _candidates_meta(columns: Columns) -> pd.DataFrame:
    meta = pd.DataFrame(
        {
            "_key": pd.Series(dtype=np.uint64),
            "_part": pd.Series(dtype=np.int64),
            "_row": pd.Series(dtype=np.int64),
        }
    )
    for column, values in _frame_meta(columns).items():
        meta[column] = values
    return meta


def _stats(df: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row: the partition's number, rows and empty texts."""
    empty = sum(1 for t in df["text"] if not t.strip())
    return pd.DataFrame({"part": [_number(partition_info)], "rows": [len(df)], "empty": [empty]})


_STATS_META = pd.DataFrame(
    {
        "part": pd.Series(dtype=np.int64),
        "rows": pd.Series(dtype=np.int64),
        "empty": pd.Series(dtype=np.int64),
    }
)

_LOADED: dict[str, Any] = {}


def _embedder(spec: Any) -> Any:
    """An embedder by name, loaded once per process (a worker loads it on its first task)."""
    if not isinstance(spec, str):
        return spec
    if spec not in _LOADED:
        from .embed import get_embedder

        _LOADED[spec] = get_embedder(spec)
    return _LOADED[spec]


@dataclass
class Bundle:
    """What every worker needs to analyse a partition; sent once to each worker."""

    theme: ThemeModel  # slimmed: centroids, codes and parameters, no texts or embeddings
    theme_of: np.ndarray  # the theme of each code
    sample_rows: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, list[list[int]]]]
    offsets: np.ndarray | None  # first row number of each partition, when there is no id
    sentiment: Any = None
    stance: Any = None
    review_threshold: float = 0.5
    n_codes: int = 0
    n_themes: int = 0


def analyse_frame(
    df: pd.DataFrame, bundle: Bundle, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The results for one partition: a row for each input row, in input order."""
    part = _number(partition_info)
    texts = df["text"].tolist()
    n = len(texts)
    codes = np.zeros(n, np.int64)
    confidence = np.zeros(n, np.float32)
    members: list[list[int]] = [[] for _ in range(n)]
    in_sample = np.zeros(n, bool)
    known = bundle.sample_rows.get(part)
    if known is not None:
        rows, fitted, fitted_conf, fitted_members = known
        in_sample[rows] = True
        codes[rows] = fitted
        confidence[rows] = fitted_conf
        for r, m in zip(rows.tolist(), fitted_members, strict=True):
            members[r] = m
    rest = np.flatnonzero(~in_sample)
    if len(rest):
        model = copy.copy(bundle.theme)
        model.embedder_ = _embedder(model.embedder)
        rest_texts = [texts[i] for i in rest]
        labels, conf = model._predict(rest_texts)
        codes[rest] = labels
        confidence[rest] = conf
        M = model._memberships(rest_texts, labels, bundle.n_codes).tocsr()
        for j, i in enumerate(rest.tolist()):
            primary = int(labels[j])
            others = sorted({int(c) for c in M.indices[M.indptr[j] : M.indptr[j + 1]]} - {primary})
            members[i] = [primary, *others]
    if "id" in df.columns:
        ids: Any = df["id"].to_numpy()
    else:
        start = int(bundle.offsets[part]) if bundle.offsets is not None else 0
        ids = np.arange(start, start + n, dtype=np.int64)
    out = pd.DataFrame(
        {
            "id": ids,
            "code": codes.astype(np.int32),
            "theme": bundle.theme_of[codes].astype(np.int32) if n else np.zeros(0, np.int32),
            "confidence": confidence,
            "needs_review": confidence < bundle.review_threshold,
            "codes": members,
        }
    )
    if bundle.sentiment is not None:
        questions = df["question"].tolist() if "question" in df.columns else None
        sentiment, stance = _reading_once(bundle.sentiment, bundle.stance)
        proba = sentiment.predict_proba(texts, questions=questions)
        best = proba.argmax(axis=1) if n else np.zeros(0, np.int64)
        value = pd.array(np.asarray(sentiment.classes_)[best], dtype="Int8")
        value[np.array([not t.strip() for t in texts], bool)] = pd.NA
        out["sentiment"] = value
        out["sentiment_confidence"] = proba[np.arange(n), best].astype(np.float32)
        stances, stance_conf = stance.predict_with_confidence(texts, questions=questions)
        out["stance"] = np.asarray(stances, dtype=object)
        out["stance_confidence"] = np.asarray(stance_conf, np.float32)
    return out


def _reading_once(sentiment: Any, stance: Any) -> tuple[Any, Any]:
    """Copies of the sentiment and stance models in which the stance model's reading of the
    whole texts' sentiment is answered from the reading just made for the sentiment column.

    The stance model computes the sentiment probabilities of the whole texts again (then those of
    their clauses); featurising is most of the cost of a partition, so the second reading of the
    same texts, with the same question types, returns the same array instead of recomputing it
    (about a quarter of a partition's time). Anything else is computed as usual, so the numbers are
    exactly those of ``SentimentModel.predict_proba`` and ``StanceModel.predict_with_confidence``.
    """
    if not hasattr(sentiment, "_proba"):  # a model of another kind: nothing to share
        return sentiment, stance
    sentiment = copy.copy(sentiment)
    compute = sentiment._proba
    last: list[Any] = []

    def proba(texts: list[str], qtypes: list[str]) -> np.ndarray:
        if last and last[0] == texts and last[1] == qtypes:
            return last[2]
        P = compute(texts, qtypes)
        last[:] = [list(texts), list(qtypes), P]
        return P

    sentiment._proba = proba
    stance = copy.copy(stance)
    stance.sentiment_ = sentiment
    return sentiment, stance


def results_meta(id_dtype: Any, sentiment: bool) -> pd.DataFrame:
    """An empty frame with the columns and types of :func:`analyse_frame`'s results."""
    meta = pd.DataFrame(
        {
            "id": pd.Series(dtype=id_dtype),
            "code": pd.Series(dtype=np.int32),
            "theme": pd.Series(dtype=np.int32),
            "confidence": pd.Series(dtype=np.float32),
            "needs_review": pd.Series(dtype=bool),
            "codes": pd.Series(dtype=object),
        }
    )
    if sentiment:
        meta["sentiment"] = pd.Series(dtype="Int8")
        meta["sentiment_confidence"] = pd.Series(dtype=np.float32)
        meta["stance"] = pd.Series(dtype=object)
        meta["stance_confidence"] = pd.Series(dtype=np.float32)
    return meta


def summarise(out: pd.DataFrame, n_codes: int, n_themes: int) -> pd.DataFrame:
    """Counts in one partition's results, long form (kind, key, n), to be summed over partitions."""
    rows: list[tuple[str, str, int]] = [("rows", "all", len(out))]
    code = out["code"].to_numpy(np.int64)
    review = out["needs_review"].to_numpy(bool)
    counted = {
        "code": np.bincount(code, minlength=n_codes),
        "review": np.bincount(code[review], minlength=n_codes),
        "theme": np.bincount(out["theme"].to_numpy(np.int64), minlength=n_themes),
        "member": np.bincount(
            np.fromiter((c for m in out["codes"] for c in m), np.int64), minlength=n_codes
        ),
    }
    for kind, counts in counted.items():
        rows += [(kind, str(k), int(v)) for k, v in enumerate(counts) if v]
    if "sentiment" in out.columns:
        for value, v in out["sentiment"].value_counts(dropna=False).items():
            rows.append(("sentiment", "none" if pd.isna(value) else str(int(value)), int(v)))
        for value, v in out["stance"].value_counts().items():
            rows.append(("stance", str(value), int(v)))
    return pd.DataFrame(rows, columns=["kind", "key", "n"])


_SUMMARY_META = pd.DataFrame(
    {
        "kind": pd.Series(dtype=object),
        "key": pd.Series(dtype=object),
        "n": pd.Series(dtype=np.int64),
    }
)


def write_frame(
    df: pd.DataFrame, bundle: Bundle, folder: str, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Analyse one partition, write it to ``folder/part-NNNNN.parquet``, return its counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = _number(partition_info)
    out = analyse_frame(df, bundle, partition_info)
    path = os.path.join(folder, f"part-{part:05d}.parquet")
    tmp = os.path.join(folder, f".part-{part:05d}.parquet.tmp")
    try:
        pq.write_table(pa.Table.from_pandas(out, preserve_index=False), tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(
            f"cannot write {path} ({exc}); the output folder must be on storage every worker "
            "can write to at the same path"
        ) from None
    return summarise(out, bundle.n_codes, bundle.n_themes)


# -- the estimator --------------------------------------------------------------------------------


@dataclass
class _Source:
    """The input, ready for either engine."""

    description: str
    columns: Columns
    partitions: list[Partition] | None  # None for a Dask DataFrame given directly
    frame: Any = None  # the Dask DataFrame (engine "dask")
    n_partitions: int = 0
    key: Any = None  # what the input was, to know when write() gets the fitted input again


def _is_dask_frame(data: Any) -> bool:
    return hasattr(data, "map_partitions") and hasattr(data, "npartitions")


def _default_client() -> Any:
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


class DistributedAnalysis(BaseEstimator):
    """Codes, themes, sentiment and stance for data too large for one machine's memory.

    A :class:`~.theme.ThemeModel` is fitted on a reproducible sample gathered to the client; then
    every partition is coded and read, on Dask workers (``engine="dask"``, with whatever scheduler
    is active: a ``distributed.Client`` if one exists) or one partition after another in this
    process (``engine="in-process"``). See the module docstring for the steps.

    Parameters
    ----------
    text_column : str, default "text"
    id_column : str or None, default None
        Ids are written with the results and decide the sample; without one, rows are numbered
        from 0 in input order.
    question_column : str or None, default None
        The question each text answers, for sentiment and stance (see
        :func:`~.sentiment.question_type`).
    embedder : str or object, default "wordllama"
        A name for :func:`~.embed.get_embedder` ("wordllama" or "minilm"; loaded offline on each
        worker) or a fitted, picklable object with ``transform(texts)``.
    sample_size : int, default 20,000
        Texts the codes and themes are found in; every other row is assigned to them.
    n_codes, n_themes : int or None
        As in :class:`~.theme.ThemeModel`; None chooses.
    multi_code : bool, default True
        Also give a text the codes of clauses that clearly belong elsewhere (``codes`` column).
    review_threshold : float, default 0.5
    sentiment : "pretrained", a fitted SentimentModel, or None, default "pretrained"
        None leaves out sentiment and stance.
    engine : {"dask", "in-process"}, default "dask"
    partition_rows : int, default 50,000
        Parquet: consecutive row groups of a file are read together up to this many rows.
    blocksize : int, default 8 MiB
        CSV: bytes per partition (cut at a line end outside quotes).
    random_state : int, default 0
    verbose : bool, default False
        Print each step and its time.

    Attributes
    ----------
    theme_model_ : ThemeModel
        Fitted on the sample (its ``labels_`` are the sample's codes).
    sample_ : pandas.DataFrame
        The sample in the order it was fitted: ``_key``, ``_part``, ``_row``, ``id`` (when
        given), ``text`` and ``question`` (when given).
    n_rows_, n_empty_, n_partitions_ : int
    partition_rows_ : ndarray
        Rows in each partition.
    sentiment_model_, stance_model_ : the models read on every row (None without sentiment).
    codebook_ : dict
        After :meth:`write`: codes and themes with their counts over every row (also written to
        ``codebook.json``).
    timings_ : dict of step to seconds.
    """

    def __init__(
        self,
        text_column: str = "text",
        id_column: str | None = None,
        question_column: str | None = None,
        embedder: Any = "wordllama",
        sample_size: int = 20_000,
        n_codes: int | None = None,
        n_themes: int | None = None,
        multi_code: bool = True,
        review_threshold: float = 0.5,
        sentiment: Any = "pretrained",
        engine: str = "dask",
        partition_rows: int = 50_000,
        blocksize: int = 8 * 1024 * 1024,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.text_column = text_column
        self.id_column = id_column
        self.question_column = question_column
        self.embedder = embedder
        self.sample_size = sample_size
        self.n_codes = n_codes
        self.n_themes = n_themes
        self.multi_code = multi_code
        self.review_threshold = review_threshold
        self.sentiment = sentiment
        self.engine = engine
        self.partition_rows = partition_rows
        self.blocksize = blocksize
        self.random_state = random_state
        self.verbose = verbose

    # -- checks and input ------------------------------------------------------------------

    def _check_params(self) -> None:
        if not isinstance(self.text_column, str) or not self.text_column:
            raise ValueError(f"text_column should name a column, got {self.text_column!r}")
        if self.engine not in ("dask", "in-process"):
            raise ValueError(f"engine should be 'dask' or 'in-process', got {self.engine!r}")
        if not isinstance(self.sample_size, (int, np.integer)) or self.sample_size < 100:
            raise ValueError(
                f"sample_size should be an integer of at least 100, got {self.sample_size!r}"
            )
        if self.partition_rows < 1:
            raise ValueError(f"partition_rows should be positive, got {self.partition_rows}")
        if self.blocksize < 1024:
            raise ValueError(f"blocksize should be at least 1024 bytes, got {self.blocksize}")
        if not 0 <= self.review_threshold <= 1:
            raise ValueError(
                f"review_threshold should be between 0 and 1, got {self.review_threshold}"
            )
        if not (
            self.sentiment is None
            or self.sentiment == "pretrained"
            or hasattr(self.sentiment, "predict_proba")
        ):
            raise ValueError(
                f"sentiment should be 'pretrained', a fitted SentimentModel or None, got {self.sentiment!r}"
            )

    def _columns(self) -> Columns:
        return Columns(self.text_column, self.id_column, self.question_column)

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)

    def _source(self, data: Any) -> _Source:
        columns = self._columns()
        if _is_dask_frame(data):
            names = [str(c) for c in data.columns]
            _check_columns("the Dask DataFrame", names, columns)
            frame = data.map_partitions(
                _standard, columns, meta=_frame_meta(columns), enforce_metadata=False
            )
            return _Source(
                f"a Dask DataFrame of {data.npartitions} partitions",
                columns,
                None,
                frame,
                data.npartitions,
                key=id(data),
            )
        if isinstance(data, (list, tuple)) and data and all(isinstance(p, Partition) for p in data):
            parts = list(data)
            key: Any = tuple(parts)
        else:
            parts = plan_partitions(data, columns, self.partition_rows, self.blocksize)
            key = tuple(parts)
        if not parts:
            raise InputError(f"no rows in {_describe(data)}: the files hold no data")
        source = _Source(_describe(data), columns, parts, None, len(parts), key)
        if self.engine == "dask":
            import dask.dataframe as dd

            source.frame = dd.from_map(
                read_partition,
                parts,
                args=[columns],
                meta=_frame_meta(columns),
                enforce_metadata=False,
                label="changebank-read",
            )
        return source

    def _frames(self, source: _Source) -> Iterator[pd.DataFrame]:
        """Each partition in turn, in this process (the in-process engine)."""
        if source.partitions is not None:
            for part in source.partitions:
                yield read_partition(part, source.columns)
        else:
            for i in range(source.n_partitions):
                yield source.frame.partitions[i].compute(scheduler="sync")

    # -- fit -------------------------------------------------------------------------------

    def fit(self, data: Any, y: Any = None) -> DistributedAnalysis:
        """Sample ``data`` (files, a folder, a glob, a list of them, or a Dask DataFrame) and fit
        the codes and themes on the sample."""
        self._check_params()
        self.timings_: dict[str, float] = {}
        t0 = time.perf_counter()
        source = self._source(data)
        self.timings_["plan_s"] = time.perf_counter() - t0
        self._say(f"Sampling {source.description} ({source.n_partitions:,} partitions)...")
        t0 = time.perf_counter()
        sample, stats = self._sample(source)
        self.timings_["sample_s"] = time.perf_counter() - t0
        stats = stats.sort_values("part")
        self.partition_rows_ = stats["rows"].to_numpy(np.int64)
        self.n_partitions_ = source.n_partitions
        self.n_rows_ = int(stats["rows"].sum())
        self.n_empty_ = int(stats["empty"].sum())
        if self.n_rows_ == 0:
            raise InputError(f"no rows in {source.description}: the input is empty")
        if sample.empty:
            raise InputError(
                f"every text in the column '{self.text_column}' of {source.description} is empty: "
                "there is nothing to find codes in"
            )
        self.sample_ = sample.sort_values(["_part", "_row"], kind="stable").reset_index(drop=True)
        texts = self.sample_["text"].tolist() + ([""] if self.n_empty_ else [])
        self._say(
            f"Read {self.n_rows_:,} rows ({self.n_empty_:,} empty) in "
            f"{self.timings_['sample_s']:.1f} s; finding codes and themes in a sample of "
            f"{len(self.sample_):,}..."
        )
        t0 = time.perf_counter()
        self.theme_model_ = ThemeModel(
            n_codes=self.n_codes,
            n_themes=self.n_themes,
            embedder=self.embedder,
            sample_size=max(100, len(texts)),
            multi_code=self.multi_code,
            review_threshold=self.review_threshold,
            random_state=self.random_state,
        ).fit(texts)
        self.timings_["fit_s"] = time.perf_counter() - t0
        self.sentiment_model_, self.stance_model_ = self._reading_models()
        self._fitted_source = source
        self._say(
            f"Found {self.theme_model_.n_codes_} codes in {len(self.theme_model_.themes_)} themes "
            f"in {self.timings_['fit_s']:.1f} s"
        )
        return self

    def _sample(self, source: _Source) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The bottom-``sample_size`` rows by key, and each partition's counts (one pass)."""
        k = int(self.sample_size)
        if self.engine == "dask":
            import dask

            frame = source.frame
            candidates = frame.map_partitions(
                _candidates,
                self.random_state,
                meta=_candidates_meta(source.columns),
                enforce_metadata=False,
            )
            stats = frame.map_partitions(_stats, meta=_STATS_META, enforce_metadata=False)
            sample, counts = dask.compute(candidates.nsmallest(k, KEY_COLUMNS), stats)
            return sample, counts
        best: pd.DataFrame | None = None
        counts = []
        for i, df in enumerate(self._frames(source)):
            info = {"number": i}
            found = _candidates(df, self.random_state, partition_info=info)
            best = found if best is None else pd.concat([best, found], ignore_index=True)
            best = best.nsmallest(k, KEY_COLUMNS)
            counts.append(_stats(df, partition_info=info))
        assert best is not None
        return best, pd.concat(counts, ignore_index=True)

    def _reading_models(self) -> tuple[Any, Any]:
        if self.sentiment is None:
            return None, None
        from .sentiment import SentimentModel, StanceModel

        model = SentimentModel.pretrained() if self.sentiment == "pretrained" else self.sentiment
        return model, StanceModel(sentiment=model).fit()

    def _check_fitted(self) -> None:
        if not hasattr(self, "theme_model_"):
            raise ValueError("this DistributedAnalysis is not fitted yet: call fit(data) first")

    # -- assign ----------------------------------------------------------------------------

    def _bundle(self, offsets: np.ndarray | None) -> Bundle:
        model = self.theme_model_
        slim = copy.copy(model)
        for name in (
            "texts_",
            "embeddings_",
            "memberships_",
            "labels_",
            "confidence_",
            "locked_",
            "ctfidf_",
            "keyword_index_",
            "embedder_",
            "history_",
            "sample_index_",
        ):
            slim.__dict__.pop(name, None)
        sample = self.sample_
        M = model.memberships_.tocsr()
        rows: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, list[list[int]]]] = {}
        parts = sample["_part"].to_numpy(np.int64)
        for part in np.unique(parts):
            at = np.flatnonzero(parts == part)  # positions in the fitted texts
            members = []
            for i in at.tolist():
                primary = int(model.labels_[i])
                others = {int(c) for c in M.indices[M.indptr[i] : M.indptr[i + 1]]} - {primary}
                members.append([primary, *sorted(others)])
            rows[int(part)] = (
                sample["_row"].to_numpy(np.int64)[at],
                model.labels_[at].astype(np.int64),
                model.confidence_[at].astype(np.float32),
                members,
            )
        theme_of = np.array([c.theme for c in model.codes_], np.int64)
        return Bundle(
            theme=slim,
            theme_of=theme_of,
            sample_rows=rows,
            offsets=offsets,
            sentiment=self.sentiment_model_,
            stance=self.stance_model_,
            review_threshold=self.review_threshold,
            n_codes=len(model.codes_),
            n_themes=len(model.themes_),
        )

    def _prepare(self, data: Any) -> tuple[_Source, Bundle]:
        """The input to assign (the fitted one when ``data`` is None) and the bundle for it."""
        self._check_fitted()
        fitted = self._fitted_source
        if data is None:
            source = fitted
        else:
            source = self._source(data)
            if source.key == fitted.key and source.description == fitted.description:
                source = fitted
        offsets = None
        if self.id_column is None:
            if source is fitted:
                lengths = self.partition_rows_
            elif source.partitions is not None and all(
                p.rows is not None for p in source.partitions
            ):
                lengths = np.array([p.rows for p in source.partitions], np.int64)
            else:
                lengths = self._lengths(source)
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        bundle = self._bundle(offsets)
        if source is not fitted:
            bundle.sample_rows = {}  # new data: every row is assigned
        return source, bundle

    def _lengths(self, source: _Source) -> np.ndarray:
        if self.engine == "dask":
            stats = source.frame.map_partitions(_stats, meta=_STATS_META).compute()
        else:
            stats = pd.concat(
                [_stats(df, {"number": i}) for i, df in enumerate(self._frames(source))]
            )
        return stats.sort_values("part")["rows"].to_numpy(np.int64)

    def _shipped(self, bundle: Bundle) -> Any:
        """The bundle as a graph argument: scattered to every worker when a client is active."""
        import dask

        client = _default_client()
        if client is not None:
            return dask.delayed(client.scatter(bundle, broadcast=True, hash=False))
        return dask.delayed(bundle)

    def transform(self, data: Any = None) -> Any:
        """The results as a lazy Dask DataFrame (one partition per input partition)."""
        source, bundle = self._prepare(data)
        if source.frame is None:
            import dask.dataframe as dd

            source.frame = dd.from_map(
                read_partition,
                source.partitions,
                args=[source.columns],
                meta=_frame_meta(source.columns),
                enforce_metadata=False,
                label="changebank-read",
            )
        id_dtype = np.int64 if self.id_column is None else object
        return source.frame.map_partitions(
            analyse_frame,
            self._shipped(bundle),
            meta=results_meta(id_dtype, self.sentiment_model_ is not None),
            enforce_metadata=False,
        )

    def write(
        self, output: str | Path, data: Any = None, overwrite: bool = False
    ) -> dict[str, Any]:
        """Analyse every row of ``data`` (default: the data fitted on) and write, in ``output``,
        ``results/part-NNNNN.parquet`` (one file per partition: id, code, theme, confidence,
        needs_review, codes, sentiment, sentiment_confidence, stance, stance_confidence) and
        ``codebook.json``; returns the codebook."""
        old = check_output(output, overwrite)
        source, bundle = self._prepare(data)
        folder = os.path.abspath(os.path.join(os.path.expanduser(str(output)), RESULTS))
        codebook_path = os.path.join(os.path.dirname(folder), CODEBOOK)
        for path in old:
            os.remove(path)
        with contextlib.suppress(FileNotFoundError):
            os.remove(codebook_path)
        os.makedirs(folder, exist_ok=True)
        self._say(f"Coding and reading {source.n_partitions:,} partitions into {folder}...")
        t0 = time.perf_counter()
        if self.engine == "dask":
            summaries = source.frame.map_partitions(
                write_frame, self._shipped(bundle), folder, meta=_SUMMARY_META
            )
            totals = summaries.groupby(["kind", "key"])["n"].sum().compute()
        else:
            found = [
                write_frame(df, bundle, folder, {"number": i})
                for i, df in enumerate(self._frames(source))
            ]
            totals = pd.concat(found).groupby(["kind", "key"])["n"].sum()
        self.timings_["assign_s"] = time.perf_counter() - t0
        codebook = self._codebook(totals, source)
        tmp = codebook_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(codebook, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, codebook_path)
        self.codebook_ = codebook
        self._say(
            f"Wrote {codebook['rows']:,} rows in {source.n_partitions:,} files and the codebook in "
            f"{self.timings_['assign_s']:.1f} s"
        )
        return codebook

    def _codebook(self, totals: pd.Series, source: _Source) -> dict[str, Any]:
        import changebank

        def counts(kind: str) -> dict[str, int]:
            if kind not in totals.index.get_level_values(0):
                return {}
            return {str(k): int(v) for k, v in totals.loc[kind].items()}

        code_n, member_n, review_n, theme_n = (
            counts(k) for k in ("code", "member", "review", "theme")
        )
        model = self.theme_model_
        codes = [
            {
                "code": c,
                "label": code.label,
                "description": code.description,
                "keywords": code.keywords,
                "quotes": code.quotes,
                "theme": code.theme,
                "rows": code_n.get(str(c), 0),
                "rows_any": member_n.get(str(c), 0),
                "needs_review": review_n.get(str(c), 0),
                "in_sample": code.size,
                "empty_answers": c == model.empty_code_,
            }
            for c, code in enumerate(model.codes_)
        ]
        themes = [
            {
                "theme": t,
                "label": theme.label,
                "keywords": theme.keywords,
                "codes": theme.codes,
                "rows": theme_n.get(str(t), 0),
            }
            for t, theme in enumerate(model.themes_)
        ]
        embedder = self.embedder if isinstance(self.embedder, str) else type(self.embedder).__name__
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "changebank": changebank.__version__,
            "input": source.description,
            "rows": sum(counts("rows").values()),
            "empty_texts": self.n_empty_ if source is self._fitted_source else None,
            "partitions": source.n_partitions,
            "sample": len(self.sample_),
            "sampled_from_rows": self.n_rows_,
            "params": {
                k: v
                for k, v in self.get_params().items()
                if isinstance(v, (str, int, float, bool, type(None)))
            }
            | {"embedder": embedder},
            "resolution": model.resolution_,
            "codes": codes,
            "themes": themes,
            "sentiment": counts("sentiment"),
            "stance": counts("stance"),
            "seconds": {k: round(v, 2) for k, v in self.timings_.items()},
            "columns": list(results_meta(object, self.sentiment_model_ is not None).columns),
        }


def check_output(output: str | Path, overwrite: bool = False) -> list[str]:
    """The result files already in ``output`` (to be replaced); an error if there are some and
    ``overwrite`` is false."""
    root = os.path.abspath(os.path.expanduser(str(output)))
    if os.path.exists(root) and not os.path.isdir(root):
        raise InputError(f"{root} is a file: --output names a folder")
    old = glob.glob(os.path.join(root, RESULTS, "part-*.parquet"))
    if (old or os.path.exists(os.path.join(root, CODEBOOK))) and not overwrite:
        raise InputError(
            f"{root} already holds results; choose another folder or overwrite them "
            "(overwrite=True, --overwrite)"
        )
    return old


def _describe(data: Any) -> str:
    if isinstance(data, (str, Path)):
        return f"'{data}'"
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(p, Partition) for p in data):
            files = list(dict.fromkeys(p.path for p in data))
        else:
            files = [str(d) for d in data]
        return f"'{files[0]}'" if len(files) == 1 else f"{len(files)} files ('{files[0]}', ...)"
    return type(data).__name__


# -- command line ---------------------------------------------------------------------------------


def analyse_files(
    source: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    **params: Any,
) -> dict[str, Any]:
    """``changebank analyse --engine dask``: fit on a sample, analyse every row on a Dask cluster
    (the scheduler at ``scheduler``, or a LocalCluster of ``workers`` processes), write the results
    to ``output``; returns the codebook. The input is checked before any cluster starts."""
    estimator = DistributedAnalysis(verbose=True, **params)
    estimator._check_params()
    parts = plan_partitions(
        source, estimator._columns(), estimator.partition_rows, estimator.blocksize
    )
    if not parts:
        raise InputError(f"no rows in {_describe(source)}: the files hold no data")
    check_output(output, overwrite)
    import logging

    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        quiet = logging.getLogger("distributed")  # its start-up and shut-down notes
        stack.callback(quiet.setLevel, quiet.level)
        quiet.setLevel(logging.ERROR)
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError) as exc:
                raise InputError(
                    f"cannot reach the Dask scheduler at {scheduler} ({exc})"
                ) from None
        else:
            n = workers or os.cpu_count() or 1
            log(f"Starting a LocalCluster of {n} worker process(es) on this machine...")
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        log(f"Dask scheduler {client.scheduler.address} with {n_workers} worker(s)")
        estimator.fit(parts)
        return estimator.write(output, overwrite=overwrite)
