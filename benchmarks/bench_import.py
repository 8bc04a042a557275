"""Import throughput and peak memory for CSV files of 10k, 100k and 1M rows.

Run it with ``make bench`` or ``.venv/bin/python benchmarks/bench_import.py [--quick]``; see
``benchmarks/README.md``. For every size, three fresh child processes read the same CSV:

- ``csv read``: Python's ``csv`` module alone, streaming, no Django: the floor for time and memory;
- ``source read``: changebank's own reader (``open_source(...).rows()``), no database;
- ``import``: ``import_file`` into a fresh SQLite database, as ``changebank import`` does.

Each child prints one line of JSON (time, CPU time, peak RSS from ``getrusage``) and the parent
prints a table and writes ``benchmarks/results/import-YYYYMMDD-HHMMSS.json`` and
``benchmarks/results/import-latest.json``. Test files are made once from real NHS Friends and
Family Test comments and cached in ``var/bench/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / "var" / "bench"
COMMENTS = ROOT.parent / "shared" / "data" / "pxtextmining" / "v6framework_train.csv"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
#: Bump when the generated files change, so cached files are made again.
GENERATOR_VERSION = 1
#: How the benchmark file's columns map to roles; the other columns are ignored.
MAPPING = {
    "propose_rest": False,
    "columns": {
        "Comment ID": "id",
        "Respondent ID": "respondent_id",
        "FFT question": "question",
        "FFT answer": "text",
        "FFT categorical answer": "answer",
        "Trust": "organisation",
        "Service type 1": "sector",
        "Date": "received_at",
    },
}
MODES = ("csv", "source", "import")
MODE_LABELS = {"csv": "csv read", "source": "source read", "import": "import"}


# --- test files -----------------------------------------------------------------------------------


def generate_csv(rows: int, cache_dir: Path, comments: Path) -> Path:
    """A CSV of ``rows`` rows cycled from the real comments, made once and reused.

    Every row gets a unique ``Comment ID`` and ``Respondent ID``; on the second and later passes
    through the comments their text gets " (visit N)" so no two rows are the same.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"fft-{rows}.csv"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError:
            meta = {}
        if (
            meta.get("rows") == rows
            and meta.get("version") == GENERATOR_VERSION
            and meta.get("bytes") == path.stat().st_size
        ):
            return path
    started = time.perf_counter()
    with comments.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        source = [r for r in reader if len(r) == len(header)]
    id_col = header.index("Comment ID")
    respondent_col = header.index("Respondent ID")
    text_col = header.index("FFT answer")
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for n in range(rows):
            row = list(source[n % len(source)])
            visit = n // len(source) + 1
            row[id_col] = f"{row[id_col]} #{n + 1}"
            row[respondent_col] = f"{row[respondent_col]} #{n + 1}"
            if visit > 1 and row[text_col].strip():
                row[text_col] = f"{row[text_col]} (visit {visit})"
            writer.writerow(row)
    tmp.replace(path)
    meta = {
        "rows": rows,
        "version": GENERATOR_VERSION,
        "bytes": path.stat().st_size,
        "source": str(comments),
        "source_rows": len(source),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(
        f"  made {path} ({rows:,} rows, {meta['bytes'] / 1e6:,.0f} MB) in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return path


def warm_page_cache(path: Path) -> None:
    """Read the file once so that no child pays for the first read from disk."""
    with path.open("rb") as fh:
        while fh.read(8 * 1024 * 1024):
            pass


# --- children: one measurement each, in a fresh process -------------------------------------------


class RssSampler:
    """Samples resident memory in a background thread, to show how it moves during a run."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - start, common.rss_mb()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((self.samples[-1][0] if self.samples else 0.0, common.rss_mb()))

    def profile(self, points: int = 10) -> list[dict]:
        """RSS at 10%, 20%, ... 100% of the run."""
        if not self.samples:
            return []
        end = self.samples[-1][0] or 1.0
        out = []
        for i in range(1, points + 1):
            at = end * i / points
            t, rss = min(self.samples, key=lambda s: abs(s[0] - at))
            out.append({"pct": 100 * i // points, "t_s": round(t, 2), "rss_mb": round(rss, 1)})
        return out


def child_csv(path: Path) -> dict:
    """The floor: stream the file through Python's csv module, touching every field."""
    rss_before = common.rss_mb()
    started, cpu0 = time.perf_counter(), common.cpu_s()
    rows = cells = 0
    with RssSampler() as sampler, path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            rows += 1
            cells += len(row)
    return {
        "rows_read": rows,
        "cells": cells,
        "seconds": time.perf_counter() - started,
        "cpu_s": common.cpu_s() - cpu0,
        "rss_before_mb": rss_before,
        "peak_rss_mb": common.peak_rss_mb(),
        "rss_profile": sampler.profile(),
    }


def child_source(path: Path) -> dict:
    """changebank's reader alone: encoding check, sniffing, survey-tool detection, row padding."""
    from changebank.listen.importers.sources import open_source

    rss_before = common.rss_mb()
    started, cpu0 = time.perf_counter(), common.cpu_s()
    rows = 0
    with RssSampler() as sampler:
        source = open_source(path)
        for _number, _values in source.rows():
            rows += 1
    return {
        "rows_read": rows,
        "seconds": time.perf_counter() - started,
        "cpu_s": common.cpu_s() - cpu0,
        "rss_before_mb": rss_before,
        "peak_rss_mb": common.peak_rss_mb(),
        "rss_profile": sampler.profile(),
    }


def _setup_django() -> float:
    """Django on a fresh, migrated SQLite database in $CHANGEBANK_DATA_DIR; returns the seconds."""
    started = time.perf_counter()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return time.perf_counter() - started


def _new_programme() -> object:
    from changebank.listen.models import Programme

    return Programme.objects.create(
        title="Benchmark import", slug="benchmark-import", visibility=Programme.Visibility.PRIVATE
    )


class DbTimer:
    """A Django ``execute_wrapper``: time spent running SQL, by kind of statement, and progress.

    Its cost is a few microseconds per statement (about 30 statements per 1,000 rows). The time is
    from the database driver's view: SQLite's own work (B-tree and FTS5 index updates, page cache)
    plus Django's cursor wrapper; building the SQL and model objects happens before it is called.
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.total = 0.0
        self.by_kind: dict[str, list[float]] = {}
        self.submissions = 0
        self.marks: list[tuple[float, float, int]] = []  # (seconds, SQL seconds, submissions)

    def __call__(self, execute: object, sql: str, params: object, many: bool, context: dict):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - t
            self.total += spent
            kind = _sql_kind(sql)
            entry = self.by_kind.setdefault(kind, [0, 0.0])
            entry[0] += 1
            entry[1] += spent
            if kind == "INSERT listen_submission":
                self.submissions += sql.count("), (") + 1
                self.marks.append((t + spent - self.start, self.total, self.submissions))

    def stages(self, parts: int = 10) -> list[dict]:
        """Time and SQL time for each tenth of the submissions written: does it slow down?"""
        if not self.marks:
            return []
        out, last = [], (0.0, 0.0, 0)
        for i in range(1, parts + 1):
            goal = self.submissions * i / parts
            mark = next(m for m in self.marks if m[2] >= goal)
            if mark[2] == last[2]:
                continue
            secs, sql = mark[0] - last[0], mark[1] - last[1]
            out.append(
                {
                    "upto_submissions": mark[2],
                    "seconds": secs,
                    "sql_s": sql,
                    "other_s": secs - sql,
                    "submissions_per_s": (mark[2] - last[2]) / secs,
                }
            )
            last = mark
        return out


def _sql_kind(sql: str) -> str:
    """ "INSERT listen_submission", "SELECT listen_respondent", ...: the verb and the main table."""
    verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
    match = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.I)
    return f"{verb} {match.group(1) if match else ''}".strip()


def child_import(path: Path) -> dict:
    """``import_file`` into a fresh database, all rows in one transaction, as the CLI does."""
    setup_s = _setup_django()
    from django.conf import settings
    from django.db import connection

    from changebank.listen.importers.loader import import_file
    from changebank.listen.models import Respondent, Submission

    programme = _new_programme()
    peak_before = common.peak_rss_mb()
    rss_before = common.rss_mb()
    started, cpu0 = time.perf_counter(), common.cpu_s()
    timer = DbTimer()
    with RssSampler() as sampler, connection.execute_wrapper(timer):
        result = import_file(path, programme, mapping=MAPPING, on_error="reject")
    seconds = time.perf_counter() - started
    cpu_s = common.cpu_s() - cpu0
    peak = common.peak_rss_mb()
    db = Path(settings.DATABASES["default"]["NAME"])
    connection.close()  # checkpoints the WAL into the database file
    return {
        "rows_read": result.rows_read,
        "rows_added": result.rows_added,
        "rows_empty": result.rows_empty,
        "rows_skipped": result.rows_skipped,
        "submissions_added": result.submissions_added,
        "respondents_added": result.respondents_added,
        "submissions_in_db": Submission.objects.filter(programme=programme).count(),
        "respondents_in_db": Respondent.objects.filter(programme=programme).count(),
        "error_count": result.error_count,
        "warning_count": result.warning_count,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "setup_s": setup_s,
        "rss_before_mb": rss_before,
        "peak_rss_before_import_mb": peak_before,
        "peak_rss_mb": peak,
        "rss_profile": sampler.profile(),
        "sql_s": timer.total,
        "sql_by_kind": {k: {"statements": n, "seconds": t} for k, (n, t) in timer.by_kind.items()},
        "stages": timer.stages(),
        "db_mb": sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 1024**2,
        "debug": settings.DEBUG,
    }


def child_profile(path: Path, out: Path, top: int) -> dict:
    """The import under cProfile: the functions that take the time, and time by area."""
    import cProfile
    import pstats

    _setup_django()
    from changebank.listen.importers.loader import import_file

    programme = _new_programme()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    result = import_file(path, programme, mapping=MAPPING, on_error="reject")
    profiler.disable()
    seconds = time.perf_counter() - started
    profiler.dump_stats(out)
    stats = pstats.Stats(profiler)
    entries = []
    for (filename, line, name), (cc, nc, tt, ct, _callers) in stats.stats.items():
        entries.append(
            {
                "function": _function_label(filename, line, name),
                "calls": nc,
                "primitive_calls": cc,
                "tottime": tt,
                "cumtime": ct,
                "area": _area(filename, name),
            }
        )
    total = sum(e["tottime"] for e in entries) or 1.0
    areas: dict[str, float] = {}
    for e in entries:
        areas[e["area"]] = areas.get(e["area"], 0.0) + e["tottime"]
    return {
        "rows_read": result.rows_read,
        "seconds_under_profiler": seconds,
        "profile_file": str(out),
        "profiled_total_s": total,
        "by_area": [
            {"area": a, "tottime": t, "share": t / total}
            for a, t in sorted(areas.items(), key=lambda kv: -kv[1])
        ],
        "top_tottime": sorted(entries, key=lambda e: -e["tottime"])[:top],
        "top_cumtime": sorted(entries, key=lambda e: -e["cumtime"])[:top],
    }


def _function_label(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    short = filename
    for marker in ("/site-packages/", "/src/", "/lib/python"):
        if marker in filename:
            short = filename.split(marker, 1)[1]
            break
    return f"{short}:{line}({name})"


#: (area, test on "filename name") in order: the first match wins.
_AREAS = (
    ("SQLite (C: execute, FTS5 trigger, indexes)", lambda f, n: "sqlite" in n.lower()),
    ("csv module (C)", lambda f, n: "_csv" in n),
    ("date parsing (strptime)", lambda f, n: "_strptime" in f or "strptime" in n),
    ("hashing (sha256)", lambda f, n: "hashlib" in f or "sha256" in n or "hexdigest" in n),
    (
        "references (secrets.choice)",
        lambda f, n: (
            "/secrets.py" in f or "/random.py" in f or "getrandbits" in n or "urandom" in n
        ),
    ),
    (
        "regex and unicode normalisation",
        lambda f, n: "/re/" in f or "re.Pattern" in n or "unicodedata" in n,
    ),
    ("importers/sources.py", lambda f, n: f.endswith("importers/sources.py")),
    ("importers/loader.py", lambda f, n: f.endswith("importers/loader.py")),
    ("Django ORM: model init", lambda f, n: "django/db/models/base.py" in f),
    ("Django ORM: fields and SQL building", lambda f, n: "django/db/models/" in f),
    (
        "Django DB backend and JSON",
        lambda f, n: "django/db/backends/" in f or "/json/" in f or "django/db/utils.py" in f,
    ),
    ("Django: timezone, signals, other", lambda f, n: "/django/" in f),
)


def _area(filename: str, name: str) -> str:
    for label, test in _AREAS:
        if test(filename, name):
            return label
    return "other Python and builtins"


# --- parent ---------------------------------------------------------------------------------------


def run_child(mode: str, path: Path, timeout: float, extra: tuple[str, ...] = ()) -> dict:
    """Run one measurement in a fresh interpreter with a fresh data folder; return its JSON."""
    data_dir = Path(tempfile.mkdtemp(prefix="changebank-bench-"))
    env = dict(os.environ)
    for name in ("CHANGEBANK_DEBUG", "DATABASE_URL", "CHANGEBANK_SQLITE_PATH"):
        env.pop(name, None)  # production-like: DEBUG off (no query log), SQLite in the data folder
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "changebank.settings",
            "CHANGEBANK_SECRET_KEY": "bench-import-not-secret-" + "x" * 40,
            "CHANGEBANK_DATA_DIR": str(data_dir),
            "PYTHONHASHSEED": "0",
        }
    )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--file",
        str(path),
        *extra,
    ]
    load_before = common.loadavg()
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {
            "error": f"timed out after {timeout:.0f} s",
            "wall_s": time.perf_counter() - started,
        }
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}", "wall_s": wall}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {
            "error": f"no JSON from child; stderr: {proc.stderr.strip()[-2000:]}",
            "wall_s": wall,
        }
    data = json.loads(lines[-1])
    data.update({"wall_s": wall, "loadavg_before": load_before, "loadavg_after": common.loadavg()})
    return data


def machine_info() -> dict:
    import sqlite3

    info = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": common.cpu_model(),
        "sqlite": sqlite3.sqlite_version,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": common.loadavg(),
    }
    try:
        import django

        info["django"] = django.get_version()
    except ImportError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages / 1024**3, 1)
    except (ValueError, OSError):
        pass
    return info


def add_ratios(runs: list[dict]) -> None:
    """Peak RSS against the smallest size of the same mode; import time against the csv read."""
    by_mode: dict[str, list[dict]] = {}
    for run in runs:
        by_mode.setdefault(run["mode"], []).append(run)
    for mode_runs in by_mode.values():
        ok = [r for r in mode_runs if "error" not in r]
        if not ok:
            continue
        base = min(ok, key=lambda r: r["size"])
        for r in ok:
            r["rss_vs_smallest"] = r["peak_rss_mb"] / base["peak_rss_mb"]
            r["rss_baseline_size"] = base["size"]
    csv_time = {r["size"]: r["seconds"] for r in by_mode.get("csv", []) if "error" not in r}
    for run in runs:
        if "error" not in run and run["size"] in csv_time and csv_time[run["size"]] > 0:
            run["time_vs_csv"] = run["seconds"] / csv_time[run["size"]]


def print_table(runs: list[dict]) -> None:
    smallest = min((r["size"] for r in runs), default=0)
    rss_head = f"RSS/{common.short_size(smallest)}"
    head = (
        f"{'rows':>10}  {'run':<11} {'rows/s':>9} {'seconds':>8} {'CPU s':>7} "
        f"{'peak RSS MB':>11} {rss_head:>8} {'time/csv':>8}"
    )
    print()
    print(head)
    print("-" * len(head))
    last_size = None
    for r in runs:
        if last_size is not None and r["size"] != last_size:
            print()
        last_size = r["size"]
        label = MODE_LABELS[r["mode"]]
        if "error" in r:
            print(f"{r['size']:>10,}  {label:<11} FAILED: {r['error'].splitlines()[-1][:80]}")
            continue
        print(
            f"{r['size']:>10,}  {label:<11} {r['rows_per_s']:>9,.0f} {r['seconds']:>8.2f} "
            f"{r['cpu_s']:>7.2f} {r['peak_rss_mb']:>11.1f} {r.get('rss_vs_smallest', 0):>7.2f}x "
            f"{r.get('time_vs_csv', 0):>7.1f}x"
        )
    busy = [
        r
        for r in runs
        if "error" not in r and r["seconds"] > 1 and r["cpu_s"] < 0.85 * r["seconds"]
    ]
    for r in busy:
        print(
            f"note: {r['size']:,} {MODE_LABELS[r['mode']]} used {r['cpu_s']:.1f} CPU s in "
            f"{r['seconds']:.1f} s: the machine was busy (load {r['loadavg_before']}) "
            "or the run waited on disk"
        )
    imports = [r for r in runs if r["mode"] == "import" and "error" not in r]
    if imports:
        print()
        print(
            "import detail: RSS after Django setup and migrate, growth during the import, and RSS"
        )
        print(
            "sampled at 20/40/60/80/100% of the import (flat = memory does not grow with the file)"
        )
        for r in imports:
            growth = r["peak_rss_mb"] - r["rss_before_mb"]
            during = " ".join(f"{p['rss_mb']:.0f}" for p in r["rss_profile"][1::2])
            print(
                f"{r['size']:>10,}  before {r['rss_before_mb']:6.1f} MB, "
                f"peak {r['peak_rss_mb']:6.1f} MB (+{growth:.1f}); during: {during} MB; "
                f"{r['submissions_in_db']:,} submissions, "
                f"DB {r['db_mb']:,.0f} MB"
            )
        print()
        print(
            "import time: share inside SQL execution (SQLite's work: B-tree and FTS5 updates) and"
        )
        print("the rest (reading, validating, building model objects and SQL in Python); then")
        print("submissions/s and SQL share by tenth of the file (falling = slows as the DB grows)")
        for r in imports:
            sql = r.get("sql_s", 0.0)
            kinds = sorted(r.get("sql_by_kind", {}).items(), key=lambda kv: -kv[1]["seconds"])
            top = ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in kinds[:3])
            print(
                f"{r['size']:>10,}  SQL {sql:.1f} s ({sql / r['seconds'] * 100:.0f}%), "
                f"rest {r['seconds'] - sql:.1f} s; {top}"
            )
            stages = r.get("stages") or []
            if len(stages) >= 5:
                speeds = " ".join(f"{st['submissions_per_s']:,.0f}" for st in stages)
                shares = " ".join(f"{st['sql_s'] / st['seconds'] * 100:.0f}%" for st in stages)
                print(f"{'':>10}  by tenth: {speeds} submissions/s; SQL share {shares}")


def print_profile(profile: dict, top: int) -> None:
    print()
    print(
        f"cProfile of the {profile['size']:,}-row import: "
        f"{profile['seconds_under_profiler']:.1f} s under the profiler ({profile['profile_file']})"
    )
    print("time by area (own time, share of all profiled time):")
    for a in profile["by_area"]:
        print(f"  {a['share'] * 100:5.1f}%  {a['tottime']:7.2f} s  {a['area']}")
    print(f"top {top} by own time:")
    print(f"  {'tottime':>8} {'cumtime':>8} {'calls':>10}  function")
    for e in profile["top_tottime"][:top]:
        print(f"  {e['tottime']:8.2f} {e['cumtime']:8.2f} {e['calls']:>10,}  {e['function']}")
    print(f"top {top} by cumulative time:")
    for e in profile["top_cumtime"][:top]:
        print(f"  {e['tottime']:8.2f} {e['cumtime']:8.2f} {e['calls']:>10,}  {e['function']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=common.parse_sizes,
        default=list(DEFAULT_SIZES),
        help="row counts, comma-separated (default 10000,100000,1000000)",
    )
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 rows only")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"which runs, comma-separated (default {','.join(MODES)})",
    )
    parser.add_argument(
        "--profile",
        type=common.parse_sizes,
        default=None,
        metavar="ROWS",
        help="also run the import of this many rows under cProfile (e.g. 100000)",
    )
    parser.add_argument("--top", type=int, default=20, help="profile entries to show")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help="where test files are kept (default var/bench)",
    )
    parser.add_argument(
        "--comments", type=Path, default=COMMENTS, help="CSV of real comments to build rows from"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds before one run is given up (default 900)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no JSON")
    parser.add_argument("--child", choices=(*MODES, "profile"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        if args.child == "csv":
            data = child_csv(args.file)
        elif args.child == "source":
            data = child_source(args.file)
        elif args.child == "import":
            data = child_import(args.file)
        else:
            data = child_profile(args.file, args.profile_out, args.top)
        print(json.dumps(data))
        return 0

    sizes = list(QUICK_SIZES) if args.quick else args.sizes
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    modes = [m for m in MODES if m in modes]
    if not args.comments.exists():
        parser.error(f"no comments file at {args.comments} (use --comments)")

    info = machine_info()
    print(
        f"changebank import benchmark: sizes {', '.join(f'{s:,}' for s in sizes)}; "
        f"{info['cpus_usable']} CPUs, Python {info['python']}, SQLite {info['sqlite']}",
        flush=True,
    )
    started = time.perf_counter()
    files = {}
    for size in sorted(set(sizes) | set(args.profile or [])):
        files[size] = generate_csv(size, args.cache_dir, args.comments)
    runs: list[dict] = []
    for size in sizes:
        warm_page_cache(files[size])
        for mode in modes:
            print(f"  {size:>10,} rows: {MODE_LABELS[mode]} ...", end="", flush=True)
            data = run_child(mode, files[size], args.timeout)
            data.update(
                {
                    "size": size,
                    "mode": mode,
                    "file": str(files[size]),
                    "file_mb": files[size].stat().st_size / 1024**2,
                }
            )
            if "error" in data:
                print(f" FAILED ({data['error'].splitlines()[-1][:200]})", flush=True)
            else:
                data["rows_per_s"] = data["rows_read"] / data["seconds"] if data["seconds"] else 0.0
                if data["rows_read"] != size:
                    data["warning"] = f"read {data['rows_read']:,} rows, expected {size:,}"
                print(
                    f" {data['seconds']:.2f} s, {data['rows_per_s']:,.0f} rows/s, "
                    f"peak RSS {data['peak_rss_mb']:.1f} MB",
                    flush=True,
                )
            runs.append(data)
    add_ratios(runs)
    print_table(runs)
    measured = time.perf_counter() - started

    profiles = []
    for size in args.profile or []:
        out = args.cache_dir / f"import-{size}.prof"
        print(f"\n  profiling the {size:,}-row import ...", flush=True)
        warm_page_cache(files[size])
        data = run_child(
            "profile",
            files[size],
            args.timeout,
            ("--profile-out", str(out), "--top", str(args.top)),
        )
        data["size"] = size
        if "error" in data:
            print(f"  profile FAILED: {data['error']}")
        else:
            print_profile(data, args.top)
        profiles.append(data)

    total = time.perf_counter() - started
    print(f"\nbenchmark took {total:.0f} s ({measured:.0f} s without profiling)")
    problems = [r for r in runs if "error" in r or "warning" in r]
    problems += [{**p, "mode": "profile"} for p in profiles if "error" in p]
    for r in problems:
        print(f"PROBLEM {r['size']:,} {r['mode']}: {r.get('error') or r.get('warning')}")
    if not args.no_save:
        report = {
            "benchmark": "import",
            "machine": info,
            "sizes": sizes,
            "modes": modes,
            "mapping": MAPPING,
            "batch_rows_note": "loader writes in batches of 1,000 rows",
            "total_s": total,
            "total_without_profile_s": measured,
            "runs": runs,
            "profiles": profiles,
        }
        common.write_results("import", report)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
