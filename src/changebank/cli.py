"""The ``changebank`` command: one entry point for setting up, importing, serving and exporting.

Run ``changebank --help`` for the commands and ``changebank COMMAND --help`` for each one's options.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _setup_django(data_dir: str | None = None) -> None:
    if data_dir:
        os.environ["CHANGEBANK_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changebank.settings")
    import django

    django.setup()


def _fail(message: str, code: int = 2) -> int:
    print(f"changebank: {message}", file=sys.stderr)
    return code


def _write_secret_key(data_dir: Path) -> None:
    """Create ``data_dir`` and, unless CHANGEBANK_SECRET_KEY is set, its ``secret_key`` file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "secret_key"
    if not key_file.exists() and not os.environ.get("CHANGEBANK_SECRET_KEY"):
        import secrets

        # Created readable by its owner only from the first byte (no window before a chmod).
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
        key_file.chmod(0o600)


# --- commands -------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    """Create the data folder and secret key, and bring the database schema up to date."""
    from django.conf import settings
    from django.core.management import call_command

    _write_secret_key(Path(settings.DATA_DIR))
    call_command("migrate", interactive=False, verbosity=1 if args.verbose else 0)
    print(f"Database ready: {settings.DATABASES['default']['NAME']}")
    return 0


def cmd_programme(args: argparse.Namespace) -> int:
    """Create or list programmes."""
    from django.utils.text import slugify

    from changebank.core.audit import acting_as
    from changebank.listen.models import Programme

    if args.action == "list":
        for p in Programme.objects.order_by("slug"):
            print(f"{p.slug}\t{p.visibility}\t{p.submissions.count()} submissions\t{p.title}")
        return 0
    slug = args.slug or slugify(args.title)[:80]
    with acting_as(label="command line"):
        programme, created = Programme.objects.get_or_create(
            slug=slug,
            defaults={
                "title": args.title,
                "description": args.description or "",
                "visibility": args.visibility,
            },
        )
    print(("Created" if created else "Already exists:") + f" programme '{programme.slug}'")
    return 0


def _programme(slug: str) -> Any:
    from changebank.listen.models import Programme

    programme = Programme.objects.filter(slug=slug).first()
    if programme is None:
        slugs = ", ".join(Programme.objects.values_list("slug", flat=True)[:20]) or "none yet"
        raise SystemExit(
            _fail(
                f"no programme '{slug}' (programmes: {slugs}); create one with "
                "'changebank programme create --title ...'"
            )
        )
    return programme


def cmd_import(args: argparse.Namespace) -> int:
    """Import a survey export, spreadsheet, JSON file, document, transcript or recording, or a
    REFI-QDA codebook (.qdc) or project (.qdpx) from NVivo, ATLAS.ti, MAXQDA or QualCoder."""
    from changebank.core.audit import acting_as
    from changebank.listen.importers import ImportFileError, open_source, propose_mapping
    from changebank.listen.importers.loader import ImportRejected, import_file
    from changebank.listen.ingest import is_document

    programme = _programme(args.programme)
    path = Path(args.file)
    if path.suffix.lower() in (".qdc", ".qdpx"):
        return _import_refi(programme, path)
    if is_document(path.name):
        return _import_document(args, programme, path)
    try:
        if args.preview:
            source = open_source(path)
            mapping = propose_mapping(source)
            print(f"{source.filename}: {source.description}")
            for col in source.columns:
                sample = col.samples[0][:50] if col.samples else ""
                print(f"  {mapping.roles[col.header]:<13} {col.label[:60]:<60} e.g. {sample!r}")
            return 0
        with acting_as(label="command line"):
            result = import_file(path, programme, mapping=args.mapping, on_error=args.on_error)
    except ImportFileError as exc:
        return _fail(str(exc))
    except ImportRejected as exc:
        print(f"changebank: {exc}", file=sys.stderr)
        for problem in exc.result.errors[:50]:
            print("  " + problem.describe(exc.result.filename), file=sys.stderr)
        if exc.result.error_count > 50:
            print(f"  … {exc.result.error_count - 50:,} more", file=sys.stderr)
        print("Fix these rows, or import the good rows with --on-error skip.", file=sys.stderr)
        return 1
    print(result.summary())
    for problem in result.errors[:50]:
        print("  skipped: " + problem.describe(result.filename))
    if result.warning_count:
        print(f"  {result.warning_count:,} warnings; see the import's page for the full list")
    return 0


def _import_refi(programme: Any, path: Path) -> int:
    """A REFI-QDA codebook (.qdc) or project (.qdpx) from NVivo, ATLAS.ti, MAXQDA or QualCoder."""
    from changebank.core.audit import acting_as
    from changebank.listen.importers import ImportFileError
    from changebank.share.refi import import_refi

    try:
        with acting_as(label="command line"):
            report = import_refi(path, programme, filename=path.name)
    except ImportFileError as exc:
        return _fail(str(exc))
    print("\n".join(report.lines()))
    return 0


def _import_document(args: argparse.Namespace, programme: Any, path: Path) -> int:
    from changebank.core.audit import acting_as
    from changebank.listen.documents import DocumentError
    from changebank.listen.ingest import add_document

    try:
        with acting_as(label="command line"):
            document, created = add_document(programme, path, speech=args.speech)
    except DocumentError as exc:
        return _fail(str(exc))
    verb = "Added" if created else "Already imported:"
    print(f"{verb} {document.filename} ({document.kind}): {document.passages.count()} passages")
    return 0


def cmd_createuser(args: argparse.Namespace) -> int:
    """Create a user with a role, or give an existing user the role."""
    from django.contrib.auth.models import Group, User

    from changebank.core.roles import ROLES, ensure_roles

    ensure_roles()
    if args.role not in ROLES:
        return _fail(f"unknown role '{args.role}'; roles are: {', '.join(ROLES)}")
    password = args.password or os.environ.get("CHANGEBANK_PASSWORD")
    user, created = User.objects.get_or_create(username=args.username)
    if created or password:
        if not password:
            if not sys.stdin.isatty():
                return _fail("give a password with --password or CHANGEBANK_PASSWORD")
            password = getpass.getpass(f"Password for {args.username}: ")
        user.set_password(password)
    user.is_staff = args.role == "admin"
    user.is_superuser = args.role == "admin"
    user.save()
    user.groups.add(Group.objects.get(name=args.role))
    print(f"{'Created' if created else 'Updated'} {args.username} ({args.role})")
    return 0


#: What ``changebank export --format`` writes, and which part of Share writes it.
EXPORT_FORMATS = {
    "csv": "open data: the tables as CSV (a .zip path gets one archive)",
    "xlsx": "open data: one workbook, a sheet per table",
    "json": "open data: one JSON document",
    "qdc": "REFI-QDA codebook (NVivo, ATLAS.ti, MAXQDA, QualCoder)",
    "qdpx": "REFI-QDA project: sources, codes, codings, cases",
    "html": "the themed report as a web page",
    "pdf": "the themed report as PDF",
    "docx": "the themed report as a Word document",
}


def cmd_export(args: argparse.Namespace) -> int:
    """Export a programme: open data, a REFI-QDA codebook or project, or the themed report."""
    from changebank.core.audit import acting_as

    programme = _programme(args.programme)
    if args.what == "submissions":  # every submission, for staff
        from changebank.share.exporters.csv import write_submissions_csv

        if (args.output or "-") == "-":
            write_submissions_csv(programme, sys.stdout, as_written=args.as_written)
        else:
            with open(args.output, "w", encoding="utf-8-sig", newline="") as fh:
                count = write_submissions_csv(programme, fh, as_written=args.as_written)
            print(f"Wrote {count:,} submissions to {args.output}")
        return 0
    if not args.format:
        return _fail("say what to export: --format " + "|".join(EXPORT_FORMATS))
    if not args.output or args.output == "-":
        return _fail(f"--output FILE is needed for --format {args.format}")
    output = Path(args.output)
    if not output.parent.exists():
        return _fail(f"{output.parent} does not exist")
    with acting_as(label="command line"):
        if args.format in ("csv", "xlsx", "json"):
            from changebank.share.opendata import write_open_data

            summary = write_open_data(programme, output, args.format)
            print(summary.describe())
        elif args.format in ("qdc", "qdpx"):
            from changebank.share.refi import export_qdc, export_qdpx

            if args.format == "qdc":
                summary = export_qdc(programme, output)
            else:
                summary = export_qdpx(programme, output, redacted=args.redacted)
            print(f"Wrote {output}")
            print("\n".join(summary.lines()))
        else:
            from changebank.share.report import write_report

            write_report(programme, output, args.format, published_only=args.published_only)
            print(f"Wrote the {args.format.upper()} report of '{programme.slug}' to {output}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase everything held under a contributor's reference number (their right to erasure).
    The audit trail records the reference, the counts, who and when; never what was erased."""
    from changebank.core.audit import acting_as
    from changebank.listen.models import Submission
    from changebank.listen.rights import erase

    reference = args.reference.strip().upper()
    held = Submission.objects.filter(reference=reference).count()
    if not held:
        print(f"Nothing is held under {reference}.")
        return 1
    if not args.yes:
        answer = input(f"Erase {held:,} submission(s) held under {reference}? Type 'erase': ")
        if answer.strip().lower() != "erase":
            return _fail("nothing was erased")
    with acting_as(label="command line"):
        report = erase(reference)
    print(report.summary())
    return 0


def cmd_subject_access(args: argparse.Namespace) -> int:
    """Write everything held about a reference number as JSON (a subject-access request)."""
    import json

    from changebank.listen.rights import subject_access

    data = json.dumps(subject_access(args.reference), ensure_ascii=False, indent=2)
    if args.output:
        Path(args.output).write_text(data + "\n", encoding="utf-8")
        print(f"Wrote {args.output}")
    else:
        print(data)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete submissions received longer ago than their programme's retention period (run it
    daily, from cron or a timer). Programmes without a retention period are kept."""
    from changebank.core.audit import acting_as
    from changebank.listen.rights import purge

    programme = _programme(args.programme) if args.programme else None
    if programme is not None and not programme.retention_days:
        return _fail(f"programme '{programme.slug}' has no retention period; nothing to purge")
    with acting_as(label="changebank purge"):
        result = purge(programme, dry_run=args.dry_run)
    if not result:
        print("No programme has a retention period; nothing was deleted.")
    for slug, counts in result.items():
        n = counts.get("submissions", 0)
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{slug}: {verb} {n:,} submissions received before {counts['cutoff'][:10]}")
    return 0


def cmd_redact_existing(args: argparse.Namespace) -> int:
    """Redact personal data in submissions stored before redaction at ingest (in batches). The
    text as written is kept apart, for people allowed to see it."""
    from changebank.core.audit import acting_as
    from changebank.listen.models import Programme
    from changebank.listen.privacy_ingest import redact_existing

    programmes = (
        [_programme(args.programme)] if args.programme else list(Programme.objects.order_by("slug"))
    )
    with acting_as(label="changebank redact-existing"):
        for programme in programmes:
            counts = redact_existing(programme)
            print(
                f"{programme.slug}: {counts['changed']:,} of {counts['checked']:,} submissions redacted"
            )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web application with waitress."""
    from waitress import serve

    from changebank.wsgi import application

    proxy: dict[str, object] = {}
    if os.environ.get("CHANGEBANK_PROXY_HEADERS", "") == "1":
        # Behind nginx: waitress passes on the scheme, host and client address that the proxy
        # sets (and drops those headers otherwise), so Django sees HTTPS and the rate limits see
        # each visitor rather than the proxy. CHANGEBANK_TRUSTED_PROXY narrows which address may
        # set them (default: any, for a server only the proxy can reach).
        proxy = {
            "trusted_proxy": os.environ.get("CHANGEBANK_TRUSTED_PROXY", "*"),
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-proto", "x-forwarded-host", "x-forwarded-for"},
            "clear_untrusted_proxy_headers": True,
        }
    print(f"changebank is serving on http://{args.host}:{args.port}/  (Ctrl+C to stop)", flush=True)
    serve(
        application,
        host=args.host,
        port=args.port,
        threads=args.threads,
        connection_limit=args.connection_limit,
        ident="changebank",
        **proxy,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Set up the bundled demo programmes and users, then serve (unless --no-serve)."""
    from changebank.demo import load_demo

    cmd_init(args)
    for line in load_demo():
        print(line)
    if args.no_serve:
        return 0
    return cmd_serve(args)


def cmd_analyse(args: argparse.Namespace) -> int:
    """Analyse a programme's submissions: codes, themes, distinct changes, sentiment and stance.

    Runs in this process and prints progress; decisions analysts have made are kept.

    With --engine dask, analyse Parquet or CSV files instead, on a Dask cluster, for inputs larger
    than one machine's memory: codes and themes are found in a sample here, then the workers code
    every row, read its sentiment and stance, and write OUTPUT/results/part-NNNNN.parquet (one file
    per partition) and OUTPUT/codebook.json. --scheduler ADDRESS uses a running cluster (inputs and
    OUTPUT must be on storage its workers reach at the same paths); without it a LocalCluster of
    --workers processes starts on this machine. See docs/scaling.md.
    """
    if args.engine == "dask":
        from changebank.analysis.distributed import InputError, analyse_files

        if args.programme:
            return _fail(
                "--engine dask analyses files, not programmes yet: export the submissions "
                "('changebank export submissions --programme SLUG -o FILE.csv') and pass --input"
            )
        if not args.input or not args.output or not args.text_column:
            return _fail("--engine dask needs --input, --text-column and --output")
        try:
            codebook = analyse_files(
                args.input,
                args.output,
                scheduler=args.scheduler,
                workers=args.workers,
                overwrite=args.overwrite,
                text_column=args.text_column,
                id_column=args.id_column,
                question_column=args.question_column,
                embedder=args.embedder,
                sample_size=args.sample_size,
                n_codes=args.codes,
                sentiment=None if args.no_sentiment else "pretrained",
            )
        except InputError as exc:
            return _fail(str(exc))
        print(
            f"Analysed {codebook['rows']:,} rows of {codebook['input']}: "
            f"{len(codebook['codes']):,} codes in {len(codebook['themes']):,} themes, "
            f"{sum(c['needs_review'] for c in codebook['codes']):,} codings to review; "
            f"results in {Path(args.output) / 'results'}, codebook in "
            f"{Path(args.output) / 'codebook.json'}."
        )
        return 0
    if args.input or args.output or args.scheduler:
        return _fail("--input, --output and --scheduler go with --engine dask")
    if not args.programme:
        return _fail("analyse needs --programme SLUG (or --engine dask with --input FILES)")
    from changebank.core.audit import acting_as
    from changebank.understand.analyse import analyse_now

    programme = _programme(args.programme)
    options = {"n_codes": args.codes} if args.codes else {}
    print(f"Analysing '{programme.slug}'...", flush=True)
    with acting_as(label="changebank analyse"):
        row = analyse_now(programme, **options)
    if row.status != row.Status.DONE:
        return _fail(f"analysis failed: {row.error}", 1)
    summary = row.result
    print(
        f"Analysed {summary['submissions']:,} submissions of '{programme.slug}': "
        f"{summary['codes']:,} codes in {summary['themes']:,} themes, "
        f"{summary['distinct_changes']:,} distinct changes, "
        f"{summary['flagged_for_review']:,} codings to review ({summary['seconds']} s)."
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run background tasks (analyses) as they are queued; for production set-ups.

    With the embedded default (CHANGEBANK_TASKS_IN_PROCESS=1) the web process runs tasks itself
    and no worker is needed. Ctrl+C or SIGTERM lets the current task finish, then stops; a second
    one stops at once and the task is queued again. See docs/workers.md.
    """
    from changebank.core import tasks

    poll = getattr(args, "poll_seconds", 2.0)
    if getattr(args, "processes", 1) > 1:
        return tasks.run_worker_processes(args.processes, once=args.once, poll_seconds=poll)
    tasks.load_task_modules()
    with tasks.Shutdown(getattr(args, "parent_pid", None)) as stop:
        try:
            if args.once:
                recovered = tasks.recover_interrupted()
                if recovered:
                    print(f"Queued again {recovered} task(s) left running by a stopped worker.")
                print(f"Ran {tasks.run_pending(stop=stop)} task(s).", flush=True)
                return 0
            print("changebank worker is waiting for tasks (Ctrl+C to stop)", flush=True)
            tasks.work_forever(poll, stop=stop)
        except KeyboardInterrupt:
            print("changebank worker stopped; its task was queued again", flush=True)
            return 130
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the database to FILE while changebank keeps running: SQLite's online backup API
    (checked with PRAGMA integrity_check), or pg_dump for PostgreSQL.

    With --media, FILE is a tar archive (.tar, or .tar.gz) holding the database and the uploaded
    files (documents and recordings).
    """
    from changebank.core.backup import BackupError, backup

    try:
        result = backup(Path(args.file), media=args.media)
    except BackupError as exc:
        return _fail(str(exc), 1)
    print(result.summary())
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the database (and, from a --media archive, the uploaded files) with a backup.

    The backup is checked first (a changebank database that passes SQLite's integrity check);
    the database it replaces is kept beside it as <name>.before-restore-<time>. Stop the server
    and workers first: restore refuses while another process has the database open, unless
    --force. Run 'changebank init' afterwards if the backup is older than this changebank.
    """
    from changebank.core.backup import BackupError, restore

    try:
        result = restore(Path(args.file), force=args.force)
    except BackupError as exc:
        return _fail(str(exc), 1)
    print("\n".join(result.lines()))
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    """Run a Django management command (for example: changebank manage check --deploy)."""
    from django.core.management import execute_from_command_line

    execute_from_command_line(["changebank manage", *args.rest])
    return 0


# --- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="changebank",
        description="changebank: from what people say about a service to the changes worth keeping.",
    )
    parser.add_argument("--data-dir", help="data folder (default: $CHANGEBANK_DATA_DIR or ./var)")
    parser.add_argument("--verbose", "-v", action="store_true", help="say more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_text: str, epilog: str = ""
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=func.__doc__,
            epilog=epilog or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    add("init", cmd_init, "create the data folder and database")

    p = add("programme", cmd_programme, "create or list programmes")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--title", help="title (for create)")
    p.add_argument("--slug", help="short name used in addresses and commands")
    p.add_argument("--description")
    p.add_argument("--visibility", choices=["public", "unlisted", "private"], default="private")

    p = add("import", cmd_import, "import a file into a programme")
    p.add_argument(
        "file",
        help="CSV, TSV, XLSX, JSON, JSONL, a Consult/ThemeFinder folder, or a "
        "document (PDF, DOCX, TXT, Markdown, HTML), transcript (VTT, SRT) or recording "
        "(WAV, MP3, M4A)",
    )
    p.add_argument("--programme", required=True, help="the programme's slug")
    p.add_argument("--mapping", help="JSON file saying what each column is; see docs/importing.md")
    p.add_argument(
        "--on-error",
        choices=["reject", "skip"],
        default="reject",
        help="reject the whole file if any row is bad (default), or skip bad rows",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="show the detected format and column roles, and import nothing",
    )
    p.add_argument(
        "--speech",
        default="pocketsphinx",
        help="speech-to-text for recordings: pocketsphinx (default) or whisper:/path/to/model",
    )

    p = add("createuser", cmd_createuser, "create a user with a role")
    p.add_argument("username")
    p.add_argument(
        "--role", required=True, help="admin, analyst, 'panel member' or 'evaluation lead'"
    )
    p.add_argument(
        "--password", help="(or set CHANGEBANK_PASSWORD; asked for when neither is given)"
    )

    p = add(
        "export",
        cmd_export,
        "export open data, a REFI-QDA codebook or project, or the themed report",
        epilog="formats:\n"
        + "\n".join(f"  {k:<6} {v}" for k, v in EXPORT_FORMATS.items())
        + "\n\n`changebank export submissions --programme P [--as-written]` writes every "
        "submission, for staff: redacted, or as written with --as-written.",
    )
    p.add_argument("what", nargs="?", choices=["submissions"], help=argparse.SUPPRESS)
    p.add_argument("--programme", required=True)
    p.add_argument("--format", "-f", choices=list(EXPORT_FORMATS), metavar="FORMAT")
    p.add_argument("--output", "-o", help="the file to write")
    p.add_argument(
        "--redacted", action="store_true", help="qdpx: redact personal data in the sources"
    )
    p.add_argument(
        "--as-written",
        action="store_true",
        help="submissions: the text as contributors wrote it, before redaction",
    )
    p.add_argument(
        "--published-only",
        action="store_true",
        help="report: only the themes published in the catalogue",
    )

    for name, func, text in [
        ("serve", cmd_serve, "serve the web application"),
        ("demo", cmd_demo, "load the demo data and serve it"),
    ]:
        p = add(name, func, text)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--threads", type=int, default=8)
        p.add_argument(
            "--connection-limit",
            type=int,
            default=500,
            help="most open connections (default 500; waitress's own default of 100 makes a "
            "crowd of voters with keep-alive connections wait)",
        )
        if name == "demo":
            p.add_argument("--no-serve", action="store_true", help="load the demo, do not serve")

    p = add(
        "analyse",
        cmd_analyse,
        "find codes, themes, distinct changes, sentiment and stance in a programme, or in "
        "Parquet/CSV files on Dask (--engine dask)",
    )
    p.add_argument("--programme", help="the programme's slug (engine local)")
    p.add_argument(
        "--codes", type=int, help="how many codes to find (default: chosen by the analysis)"
    )
    p.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: a programme, in this process (default); dask: files, on a Dask cluster",
    )
    p.add_argument(
        "--input",
        help="dask: Parquet (.parquet) or UTF-8 CSV (.csv, .tsv) files: a file, a folder or a "
        "quoted glob such as 'data/*.parquet'",
    )
    p.add_argument("--text-column", help="dask: the column holding the text")
    p.add_argument("--id-column", help="dask: a column of ids (default: rows numbered from 0)")
    p.add_argument("--question-column", help="dask: the question each text answers (optional)")
    p.add_argument("--output", help="dask: the folder for results/*.parquet and codebook.json")
    p.add_argument(
        "--scheduler",
        help="dask: a running scheduler, such as tcp://10.0.0.5:8786 (default: start a "
        "LocalCluster here)",
    )
    p.add_argument(
        "--workers", type=int, help="dask: LocalCluster worker processes (default: one per CPU)"
    )
    p.add_argument(
        "--sample-size",
        type=int,
        default=20_000,
        help="dask: texts the codes are found in (default 20,000)",
    )
    p.add_argument(
        "--embedder",
        choices=("wordllama", "minilm"),
        default="wordllama",
        help="dask: texts to vectors (default wordllama, the fast one)",
    )
    p.add_argument(
        "--no-sentiment", action="store_true", help="dask: leave out sentiment and stance"
    )
    p.add_argument("--overwrite", action="store_true", help="dask: replace results in --output")

    p = add("worker", cmd_worker, "run queued background tasks (production)")
    p.add_argument("--once", action="store_true", help="run what is ready now, then stop")
    p.add_argument(
        "--processes", type=int, default=1, help="how many worker processes to run (default 1)"
    )
    p.add_argument(
        "--poll-seconds", type=float, default=2.0, help="how often an idle worker looks for tasks"
    )
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)

    p = add("erase", cmd_erase, "erase a contributor's data by reference number")
    p.add_argument("--reference", required=True, help="for example CB-7K3M-Q9XD")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add("subject-access", cmd_subject_access, "export everything held about a reference number")
    p.add_argument("--reference", required=True)
    p.add_argument("--output", "-o", help="the JSON file to write (default: standard output)")

    p = add("purge", cmd_purge, "delete submissions past their programme's retention period")
    p.add_argument("--programme", help="only this programme (default: every programme)")
    p.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    p = add(
        "redact-existing",
        cmd_redact_existing,
        "redact submissions stored before redaction at ingest",
    )
    p.add_argument("--programme", help="only this programme (default: every programme)")

    p = add("backup", cmd_backup, "back up the database (and uploads) to a file")
    p.add_argument("file", help="the file to write (with --media: a .tar or .tar.gz archive)")
    p.add_argument("--media", action="store_true", help="also the uploaded files, in a tar archive")

    p = add("restore", cmd_restore, "replace the database (and uploads) with a backup")
    p.add_argument("file", help="a file written by 'changebank backup'")
    p.add_argument(
        "--force",
        action="store_true",
        help="restore even though the database is in use or the backup is from a newer changebank",
    )

    p = add("manage", cmd_manage, "run a Django management command")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.func in (cmd_init, cmd_demo):
        # Without DEBUG the settings refuse to load with no secret key: write it before they load.
        _write_secret_key(Path(args.data_dir or os.environ.get("CHANGEBANK_DATA_DIR", "var")))
    if args.func is cmd_analyse and getattr(args, "engine", "") == "dask":
        return args.func(args)  # files in, files out: no database, no Django settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        _setup_django(args.data_dir)
    except ImproperlyConfigured as exc:
        return _fail(str(exc))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
