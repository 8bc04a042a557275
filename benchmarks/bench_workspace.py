"""Server-side render time of the analysts' workspace with 1,000 and 100,000 submissions.

Run it with ``make bench`` or ``.venv/bin/python benchmarks/bench_workspace.py [--quick]``; see
``benchmarks/README.md``. For every size a SQLite database is built once and cached in
``var/bench/workspace-<size>-v<version>/``: real NHS Friends and Family Test comments (the CSV
``bench_import.py`` makes, as many rows as hold exactly <size> comments, without the " (visit N)"
it appends: see ``comments_csv``) imported with ``import_file`` and the demo's FFT mapping, then
analysed with ``analyse_now(programme, embedder="wordllama")`` (WordLlama rather than the default
MiniLM to build faster; the pages render the same kind of codes, themes and readings either way).
Delete the folder, or pass ``--rebuild``, to build it again.

Each size is then measured in a fresh child process on its own data folder: Django's test
``Client``, signed in as a member of the "analyst" group, requests every page of ``PAGES`` 3 times
to warm up (the last under ``CaptureQueriesContext``, for the query count and the slowest queries),
then 30 times under ``time.perf_counter()``. Every response must be 200. The parent prints median
and 95th percentile per page with ratios against the smallest size of the same run and writes
``benchmarks/results/workspace-YYYYMMDD-HHMMSS.json`` and ``benchmarks/results/workspace-latest.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import bench_import  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import common  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = bench_import.DEFAULT_CACHE  # var/bench/, shared with the import benchmark's CSVs
COMMENTS = bench_import.COMMENTS
DEFAULT_SIZES = (1_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
DEFAULT_REPEAT = 30
QUICK_REPEAT = 10
WARMUP = 3
#: Pages slower than this (median, ms) get their slowest queries explained in the output.
SLOW_MS = 500.0
#: Queries at least this slow (ms) in the captured request get an EXPLAIN QUERY PLAN.
EXPLAIN_MS = 20.0
EMBEDDER = "wordllama"
SLUG = "bench-workspace"
ANALYST = "bench-analyst"
#: Bump when the way the databases are built changes, so cached databases are built again.
BUILD_VERSION = 2


# --- the pages ------------------------------------------------------------------------------------


@dataclass
class Target:
    """What the page URLs are made from: the programme, the theme with most submissions, and the
    theme with most submissions that match ``SEARCH_WORD`` and ``SEARCH_STANCE``."""

    slug: str
    theme_pk: int
    search_theme_pk: int


SEARCH_WORD = "staff"
SEARCH_STANCE = "keep"


def _url(names: str | tuple[str, ...], *args: object, query: dict | None = None) -> str:
    """The URL of the first of ``names`` that reverses with ``args``, with ``query`` added."""
    from django.urls import NoReverseMatch, reverse

    for name in (names,) if isinstance(names, str) else names:
        try:
            url = reverse(name, args=args)
        except NoReverseMatch:
            continue
        return f"{url}?{urlencode(query)}" if query else url
    raise NoReverseMatch(
        f"no URL named {' or '.join((names,) if isinstance(names, str) else names)}"
    )


#: (label, function making the page's URL). Add a page here; a page whose URL name does not
#: reverse (not built yet) is skipped and reported as skipped.
PAGES: list[tuple[str, Callable[[Target], str]]] = [
    ("theme board", lambda t: _url("understand:overview", t.slug)),
    ("theme page (largest)", lambda t: _url("understand:theme_detail", t.slug, t.theme_pk)),
    (
        "search q+stance+theme",
        lambda t: _url(
            "understand:submissions",
            t.slug,
            query={"q": SEARCH_WORD, "stance": SEARCH_STANCE, "theme": t.theme_pk},
        ),
    ),
    (
        # the same filters on the theme where they find most (the largest can find nothing)
        "search q+stance+theme*",
        lambda t: _url(
            "understand:submissions",
            t.slug,
            query={"q": SEARCH_WORD, "stance": SEARCH_STANCE, "theme": t.search_theme_pk},
        ),
    ),
    (
        "search coding+sentiment",
        lambda t: _url("understand:submissions", t.slug, query={"coding": "ai", "sentiment": 1}),
    ),
    ("coding view", lambda t: _url(("understand:coding", "understand:coding_grid"), t.slug)),
    (
        "framework matrix",
        lambda t: _url(("understand:framework", "understand:who_said_it"), t.slug),
    ),
]


# --- children -------------------------------------------------------------------------------------


def _setup_django() -> list[str]:
    """Django on the database in $CHANGEBANK_DATA_DIR, migrated; returns migrations applied now."""
    import django
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    django.setup()
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    call_command("migrate", verbosity=0)
    return [f"{m.app_label}.{m.name}" for m, _backwards in plan]


def _read_comments(comments: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comments file, as ``bench_import.generate_csv`` reads them."""
    with comments.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, [r for r in reader if len(r) == len(header)]


def rows_for(size: int, comments: Path) -> int:
    """How many rows of ``bench_import.generate_csv``'s cycle hold ``size`` non-empty comments,
    by the importer's own cleaning (``clean_text``), so the import adds exactly ``size``."""
    from changebank.listen.importers.loader import clean_text

    header, rows = _read_comments(comments)
    text_col = header.index("FFT answer")
    nonempty = [bool(clean_text(r[text_col])) for r in rows]
    if not any(nonempty):
        raise RuntimeError(f"{comments} has no non-empty comments")
    found = n = 0
    while found < size:
        found += nonempty[n % len(rows)]
        n += 1
    return n


def comments_csv(size: int, cache_dir: Path, comments: Path) -> tuple[Path, int]:
    """A CSV holding ``size`` non-empty real comments, and its row count; made once.

    Made from ``bench_import.generate_csv``'s file (real rows cycled, unique IDs) with the
    " (visit N)" it appends from the second pass taken off again: the importer tells rows apart
    by their unique ``Comment ID``, and left in, the word "visit", in every comment after the first
    pass, makes themes of its own ("Answer visit", "Visit, absolutely", ...). Above the 6,000-odd
    non-empty comments of the source, comments therefore repeat word for word."""
    rows = rows_for(size, comments)
    path = cache_dir / f"workspace-fft-{rows}.csv"
    meta_path = path.with_suffix(".json")
    want = {"rows": rows, "version": BUILD_VERSION, "generator": bench_import.GENERATOR_VERSION}
    if path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError:
            meta = {}
        if meta == {**want, "bytes": path.stat().st_size}:
            return path, rows
    source = bench_import.generate_csv(rows, cache_dir, comments)
    period = len(_read_comments(comments)[1])
    tmp = path.with_suffix(".csv.tmp")
    with (
        source.open(encoding="utf-8", newline="") as fh,
        tmp.open("w", encoding="utf-8", newline="") as out,
    ):
        reader, writer = csv.reader(fh), csv.writer(out)
        header = next(reader)
        writer.writerow(header)
        text_col = header.index("FFT answer")
        for n, row in enumerate(reader):
            suffix = f" (visit {n // period + 1})"
            if n >= period and row[text_col].endswith(suffix):
                row[text_col] = row[text_col][: -len(suffix)]
            writer.writerow(row)
    tmp.replace(path)
    meta_path.write_text(json.dumps({**want, "bytes": path.stat().st_size}, indent=2) + "\n")
    return path, rows


def child_build(size: int, comments: Path, csv_dir: Path) -> dict:
    """Import ``size`` real comments into a fresh database and analyse them."""
    started = time.perf_counter()
    _setup_django()
    from django.conf import settings
    from django.db import connection

    from changebank.core.audit import acting_as
    from changebank.core.roles import ensure_roles
    from changebank.demo import FFT_MAPPING
    from changebank.listen.importers.loader import import_file
    from changebank.listen.models import Programme
    from changebank.understand.analyse import analyse_now

    ensure_roles()
    path, rows = comments_csv(size, csv_dir, comments)
    with acting_as(label="benchmark"):
        programme = Programme.objects.create(
            title=f"Workspace benchmark, {size:,} comments",
            slug=SLUG,
            visibility=Programme.Visibility.PRIVATE,
        )
        t0 = time.perf_counter()
        result = import_file(path, programme, mapping=FFT_MAPPING, on_error="reject")
        import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    task = analyse_now(programme, embedder=EMBEDDER)
    analyse_s = time.perf_counter() - t0
    if task.status != task.Status.DONE:
        raise RuntimeError(f"the analysis failed: {task.error}")
    submissions = programme.submissions.count()
    db = Path(settings.DATABASES["default"]["NAME"])
    connection.close()  # checkpoints the WAL into the database file
    return {
        "size": size,
        "version": BUILD_VERSION,
        "embedder": EMBEDDER,
        "csv": str(path),
        "csv_rows": rows,
        "rows_empty": result.rows_empty,
        "submissions": submissions,
        "respondents": result.respondents_added,
        "analysis": task.result,
        "import_s": import_s,
        "analyse_s": analyse_s,
        "build_s": time.perf_counter() - started,
        "db_mb": db.stat().st_size / 1024**2,
        "peak_rss_mb": common.peak_rss_mb(),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _normalise_sql(sql: str) -> str:
    """The shape of a statement: literals replaced, to spot one query repeated per row (N+1)."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    return re.sub(r"\b\d+(\.\d+)?\b", "?", sql)


def _explain(sql: str) -> list[str]:
    from django.db import connection

    if connection.vendor != "sqlite":
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return [str(row[-1]) for row in cursor.fetchall()]
    except Exception as exc:  # the logged SQL is not always re-runnable
        return [f"(could not explain: {type(exc).__name__}: {exc})"]


class PaginatorSpy:
    """Records the row count of every ``Paginator.get_page`` while active: how many rows a list
    page matched (the views paginate with ``django.core.paginator.Paginator``)."""

    def __init__(self) -> None:
        self.counts: list[int] = []

    def __enter__(self) -> PaginatorSpy:
        from django.core.paginator import Paginator

        self._original = Paginator.get_page
        spy = self

        def get_page(paginator: Paginator, number: object) -> object:
            page = spy._original(paginator, number)
            spy.counts.append(paginator.count)
            return page

        Paginator.get_page = get_page  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from django.core.paginator import Paginator

        Paginator.get_page = self._original  # type: ignore[method-assign]


class QueryTimer:
    """A Django ``execute_wrapper`` timing each statement with ``perf_counter`` (the query log
    of ``CaptureQueriesContext`` rounds to the millisecond)."""

    def __init__(self) -> None:
        self.ms: list[float] = []

    def __call__(self, execute: Callable, sql: str, params: object, many: bool, context: dict):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms.append((time.perf_counter() - t0) * 1000)


def _theme_sizes(submissions: object) -> list[tuple[int, int]]:
    """(theme pk, distinct submissions) for ``submissions``' themes, most first."""
    from django.db.models import Count

    from changebank.understand.models import CodeAssignment

    rows = (
        CodeAssignment.objects.filter(submission__in=submissions, code__theme__isnull=False)
        .values_list("code__theme")
        .annotate(n=Count("submission", distinct=True))
    )
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def make_target(programme: object) -> tuple[Target, dict]:
    """The URLs' target, and the themes it picked with their sizes."""
    from changebank.listen.search import filter_submissions
    from changebank.understand.models import Theme

    sizes = _theme_sizes(programme.submissions.all())  # type: ignore[attr-defined]
    if not sizes:
        raise RuntimeError("the analysis made no themes")
    found = filter_submissions(
        programme.submissions.filter(reading__stance=SEARCH_STANCE),  # type: ignore[attr-defined]
        {"q": SEARCH_WORD},
    )
    matched = _theme_sizes(found) or sizes
    target = Target(programme.slug, sizes[0][0], matched[0][0])  # type: ignore[attr-defined]
    labels = dict(
        Theme.objects.filter(pk__in=[sizes[0][0], matched[0][0]]).values_list("pk", "label")
    )
    info = {
        "largest_theme": {
            "pk": sizes[0][0],
            "label": labels[sizes[0][0]],
            "submissions": sizes[0][1],
        },
        "search_theme": {
            "pk": matched[0][0],
            "label": labels[matched[0][0]],
            "matches": matched[0][1],
            "why": f"the most with stance {SEARCH_STANCE!r} matching {SEARCH_WORD!r}",
        },
    }
    return target, info


def measure_page(client: object, url: str, repeat: int) -> dict:
    """Warm up, capture the queries of one request, then time ``repeat`` requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get(url: str) -> object:
        response = client.get(url)  # type: ignore[attr-defined]
        if response.status_code != 200:
            where = response.get("Location", "")
            body = response.content[:300].decode("utf-8", "replace")
            raise AssertionError(f"GET {url} answered {response.status_code} {where} {body!r}")
        return response

    for _ in range(WARMUP - 1):
        get(url)
    spy, timer = PaginatorSpy(), QueryTimer()
    with CaptureQueriesContext(connection) as captured, spy, connection.execute_wrapper(timer):
        t0 = time.perf_counter()
        response = get(url)
        captured_ms = (time.perf_counter() - t0) * 1000
    logged = captured.captured_queries
    if len(timer.ms) == len(logged):  # the same statements, in the same order
        queries = [{"sql": q["sql"], "ms": ms} for q, ms in zip(logged, timer.ms, strict=True)]
    else:  # Django's own times, rounded to the millisecond
        queries = [{"sql": q["sql"], "ms": float(q["time"]) * 1000} for q in logged]
    times, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        get(url)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    repeated = Counter(_normalise_sql(q["sql"]) for q in queries).most_common(1)
    slowest = sorted(queries, key=lambda q: -q["ms"])[:5]
    for q in slowest[:3]:
        if q["ms"] >= EXPLAIN_MS:
            q["plan"] = _explain(q["sql"])
    for q in slowest:
        q["sql"] = q["sql"][:3000]
    return {
        "ms": times,
        "median_ms": statistics.median(times),
        "p95_ms": statistics.quantiles(times, n=20, method="inclusive")[18]
        if len(times) > 1
        else times[0],
        "min_ms": min(times),
        "cpu_ms": cpu,
        "cpu_median_ms": statistics.median(cpu),
        "mean_ms": statistics.fmean(times),
        "queries": len(queries),
        "sql_ms": sum(q["ms"] for q in queries),
        "captured_request_ms": captured_ms,
        "most_repeated_query": {"count": repeated[0][1], "sql": repeated[0][0][:500]}
        if repeated
        else None,
        "slowest_queries": slowest,
        "rows_matched": spy.counts[0] if spy.counts else None,
        "bytes": len(response.content),  # type: ignore[attr-defined]
    }


def child_measure(repeat: int) -> dict:
    """Time every page of ``PAGES`` on the database in $CHANGEBANK_DATA_DIR."""
    migrated = _setup_django()
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.urls import NoReverseMatch, resolve

    from changebank.core.roles import ensure_roles
    from changebank.listen.models import Programme

    ensure_roles()
    user, _ = User.objects.get_or_create(username=ANALYST)
    user.groups.add(Group.objects.get(name="analyst"))
    programme = Programme.objects.get(slug=SLUG)
    target, chosen = make_target(programme)
    client = Client()
    client.force_login(user)
    pages, skipped = [], []
    for label, make_url in PAGES:
        try:
            url = make_url(target)
        except NoReverseMatch as exc:
            skipped.append({"label": label, "reason": str(exc)})
            continue
        match = resolve(urlsplit(url).path)
        page = {
            "label": label,
            "name": match.view_name,
            "url": url,
            "view": f"{match.func.__module__}.{match.func.__qualname__}",
        }
        try:
            page.update(measure_page(client, url, repeat))
        except Exception as exc:
            page["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        pages.append(page)
    return {
        "submissions": programme.submissions.count(),
        "themes": programme.themes.count(),
        "codes": programme.codes.count(),
        **chosen,
        "migrations_applied_now": migrated,
        "repeat": repeat,
        "warmup": WARMUP,
        "pages": pages,
        "skipped": skipped,
        "peak_rss_mb": common.peak_rss_mb(),
    }


# --- parent ---------------------------------------------------------------------------------------


def db_dir(cache_dir: Path, size: int) -> Path:
    return cache_dir / f"workspace-{size}-v{BUILD_VERSION}"


def cached_build(folder: Path, size: int) -> dict | None:
    """The build record of a complete cached database of ``size`` comments, or None."""
    try:
        meta = json.loads((folder / "build.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    ok = (
        meta.get("size") == size
        and meta.get("version") == BUILD_VERSION
        and (folder / "changebank.sqlite3").exists()
    )
    return meta if ok else None


def run_child(args: list[str], data_dir: Path, timeout: float) -> dict:
    """Run one child on ``data_dir`` in a fresh interpreter; return its JSON (or an error)."""
    env = dict(os.environ)
    for name in ("CHANGEBANK_DEBUG", "DATABASE_URL", "CHANGEBANK_SQLITE_PATH", "CHANGEBANK_HTTPS"):
        env.pop(name, None)  # production-like: DEBUG off, SQLite in the data folder, plain HTTP
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "changebank.settings",
            "CHANGEBANK_SECRET_KEY": "bench-workspace-not-secret-" + "x" * 40,
            "CHANGEBANK_DATA_DIR": str(data_dir),
            "CHANGEBANK_TASKS_IN_PROCESS": "0",
            "PYTHONHASHSEED": "0",
        }
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
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
    wall = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-3000:]}", "wall_s": wall}
    data = json.loads(lines[-1])
    data["wall_s"] = wall
    return data


def build(size: int, cache_dir: Path, comments: Path, timeout: float, rebuild: bool) -> dict:
    """The cached database of ``size`` comments, built first if missing."""
    folder = db_dir(cache_dir, size)
    meta = None if rebuild else cached_build(folder, size)
    if meta is not None:
        print(
            f"  {size:>8,}: cached database {folder.relative_to(ROOT)} "
            f"({meta['submissions']:,} submissions, built {meta['built_at']})",
            flush=True,
        )
        return {**meta, "cached": True, "folder": str(folder)}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"  {size:>8,}: building {folder.relative_to(ROOT)} (import + analysis) ...", flush=True)
    data = run_child(
        [
            "--child",
            "build",
            "--size",
            str(size),
            "--comments",
            str(comments),
            "--cache-dir",
            str(cache_dir),
        ],
        folder,
        timeout,
    )
    if "error" in data:
        print(f"  {size:>8,}: build FAILED: {data['error'][-1500:]}", flush=True)
        return {**data, "size": size, "folder": str(folder)}
    (folder / "build.json").write_text(json.dumps(data, indent=2) + "\n")
    a = data.get("analysis") or {}
    print(
        f"  {size:>8,}: built in {data['build_s']:.0f} s (import {data['import_s']:.0f} s, "
        f"analysis {data['analyse_s']:.0f} s): {data['submissions']:,} submissions, "
        f"{a.get('codes', '?')} codes, {a.get('themes', '?')} themes, DB {data['db_mb']:.0f} MB",
        flush=True,
    )
    return {**data, "cached": False, "folder": str(folder)}


def add_ratios(runs: list[dict]) -> None:
    """Median and p95 of each page against the same page at the smallest size of the run."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return
    base_run = min(ok, key=lambda r: r["size"])
    base = {p["label"]: p for p in base_run["pages"] if "error" not in p}
    for run in ok:
        for page in run["pages"]:
            b = base.get(page["label"])
            if "error" in page or b is None:
                continue
            page["baseline_size"] = base_run["size"]
            page["median_vs_baseline"] = page["median_ms"] / b["median_ms"]
            page["p95_vs_baseline"] = page["p95_ms"] / b["p95_ms"]


def print_table(runs: list[dict]) -> None:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return
    base = common.short_size(min(r["size"] for r in ok))
    head = (
        f"{'page':<24} {'submissions':>11} {'median ms':>9} {'p95 ms':>8} {'CPU ms':>7} "
        f"{'queries':>7} {'SQL ms':>7} {'rows':>7} {'med/' + base:>8} {'p95/' + base:>8}"
    )
    print()
    print(head)
    print("-" * len(head))
    labels = list(dict.fromkeys(p["label"] for r in ok for p in r["pages"]))
    for label in labels:
        for run in ok:
            page = next((p for p in run["pages"] if p["label"] == label), None)
            if page is None:
                continue
            if "error" in page:
                first = page["error"].splitlines()[0][:90]
                print(f"{label:<24} {run['submissions']:>11,} FAILED: {first}")
                continue
            rows = "" if page["rows_matched"] is None else f"{page['rows_matched']:,}"
            print(
                f"{label:<24} {run['submissions']:>11,} {page['median_ms']:>9.1f} "
                f"{page['p95_ms']:>8.1f} {page['cpu_median_ms']:>7.1f} {page['queries']:>7} "
                f"{page['sql_ms']:>7.1f} {rows:>7} {page.get('median_vs_baseline', 0):>7.1f}x "
                f"{page.get('p95_vs_baseline', 0):>7.1f}x"
            )
        print()
    print(
        "median, p95: server-side wall time per request (Django test Client, signed in as an "
        f"analyst, DEBUG off), {ok[0]['repeat']} requests after {WARMUP} warm-ups; CPU ms: median "
        "CPU time of the process per request (less sensitive to other work on the machine); "
        "queries, SQL ms: one request under CaptureQueriesContext, SQL ms being the time in "
        "cursor.execute (SQLite hands rows over lazily: fetching a large result after its first "
        "row counts as Python time); rows: rows the list matched "
        f"(Paginator.count); med/{base}, p95/{base}: against the same page at {ok[0]['size']:,}"
    )
    print(f"databases analysed with embedder={EMBEDDER!r} (the default MiniLM is slower to build)")
    for run in ok:
        t, q = run["largest_theme"], run["search_theme"]
        print(
            f"{run['submissions']:>9,} submissions: {run['codes']} codes, {run['themes']} themes; "
            f"largest theme #{t['pk']} '{t['label'][:40]}' ({t['submissions']:,} submissions); "
            f"* theme #{q['pk']} '{q['label'][:40]}' ({q['matches']:,} submissions, {q['why']})"
        )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for run in ok:
        load = max((run.get("loadavg_before") or [0])[0], (run.get("loadavg_after") or [0])[0])
        if cpus and load > 0.75 * cpus:
            print(
                f"note: load average {load} on {cpus} CPUs while measuring {run['size']:,}: "
                "other work on the machine inflates wall times; compare CPU ms"
            )
    skipped = {s["label"]: s["reason"] for r in ok for s in r["skipped"]}
    for label, reason in skipped.items():
        print(f"skipped {label}: {reason} (page not built yet)")


def print_slow(runs: list[dict]) -> None:
    """The slowest queries of pages over SLOW_MS, with query plans."""
    for run in runs:
        for page in run.get("pages", []):
            if "error" in page or page["median_ms"] < SLOW_MS:
                continue
            print()
            print(
                f"SLOW: {page['label']} at {run['submissions']:,} submissions: median "
                f"{page['median_ms']:.0f} ms, {page['queries']} queries, {page['sql_ms']:.0f} ms "
                f"in SQL; view {page['view']}"
            )
            rep = page.get("most_repeated_query")
            if rep and rep["count"] > 2:
                print(f"  most repeated statement ({rep['count']}x): {rep['sql'][:300]}")
            for q in page["slowest_queries"][:3]:
                print(f"  {q['ms']:8.1f} ms  {q['sql'][:400]}")
                for line in q.get("plan", []):
                    print(f"             plan: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=common.parse_sizes,
        default=None,
        help="submission counts, comma-separated (default 1000,100000)",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed requests per page (default 30)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 and 10,000 submissions, 10 requests a page"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help="where the databases and CSVs are kept (default var/bench)",
    )
    parser.add_argument(
        "--comments", type=Path, default=COMMENTS, help="CSV of real comments to build rows from"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the databases again")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds before one child is given up"
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no JSON")
    parser.add_argument("--child", choices=("build", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cache_dir = args.cache_dir.resolve()
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)

    if args.child == "build":
        print(json.dumps(child_build(args.size, args.comments, cache_dir)))
        return 0
    if args.child == "measure":
        print(json.dumps(child_measure(repeat)))
        return 0

    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if not args.comments.exists():
        parser.error(f"no comments file at {args.comments} (use --comments)")
    info = bench_import.machine_info()
    print(
        f"changebank workspace benchmark: {', '.join(f'{s:,}' for s in sizes)} submissions, "
        f"{repeat} requests a page; {info['cpus_usable']} CPUs, Python {info['python']}, "
        f"SQLite {info['sqlite']}; load {info['loadavg_at_start']}",
        flush=True,
    )
    started = time.perf_counter()
    builds = {s: build(s, cache_dir, args.comments, args.timeout, args.rebuild) for s in sizes}
    runs: list[dict] = []
    for size in sizes:
        if "error" in builds[size]:
            runs.append({"size": size, "error": "build failed: " + builds[size]["error"]})
            continue
        print(f"  {size:>8,}: measuring ...", end="", flush=True)
        load_before = common.loadavg()
        data = run_child(
            ["--child", "measure", "--repeat", str(repeat)],
            Path(builds[size]["folder"]),
            args.timeout,
        )
        data.update(
            {"size": size, "loadavg_before": load_before, "loadavg_after": common.loadavg()}
        )
        if "error" in data:
            print(f" FAILED: {data['error'][-1500:]}", flush=True)
        else:
            medians = ", ".join(
                f"{p['label']} {p['median_ms']:.0f} ms" for p in data["pages"] if "error" not in p
            )
            print(f" {data['wall_s']:.0f} s: {medians}", flush=True)
        runs.append(data)
    add_ratios(runs)
    print_table(runs)
    print_slow(runs)
    total = time.perf_counter() - started
    print(f"\nbenchmark took {total:.0f} s")
    problems = [f"{r['size']:,}: {r['error'].splitlines()[0]}" for r in runs if "error" in r]
    problems += [
        f"{r['size']:,} {p['label']}: {p['error'].splitlines()[0]}"
        for r in runs
        for p in r.get("pages", [])
        if "error" in p
    ]
    problems += [
        f"{r['size']:,}: database holds {r['submissions']:,} submissions, not {r['size']:,}"
        for r in runs
        if "error" not in r and r["submissions"] != r["size"]
    ]
    for p in problems:
        print(f"PROBLEM {p}")
    if not args.no_save:
        report = {
            "benchmark": "workspace",
            "command": " ".join([sys.executable, *sys.argv]),
            "machine": info,
            "sizes": sizes,
            "repeat": repeat,
            "warmup": WARMUP,
            "embedder": EMBEDDER,
            "build_version": BUILD_VERSION,
            "total_s": total,
            "problems": problems,
            "builds": builds,
            "runs": runs,
        }
        common.write_results("workspace", report)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
