"""Backing up and restoring changebank's database (and, on request, its uploaded files).

``changebank backup FILE`` and ``changebank restore FILE [--force]`` call :func:`backup` and
:func:`restore`.

What a backup is
    * SQLite, without ``--media``: ``FILE`` is a SQLite database, a plain copy anyone can open with
      ``sqlite3 FILE``. It is made with SQLite's online backup API from a read snapshot, so the
      server keeps running: in WAL mode (the default) a reader never blocks a writer, so the copy
      is taken in one step from one consistent snapshot; in a rollback-journal database the copy
      goes 256 pages at a time, letting writers in between steps (a step that sees a write starts
      again; after 20 restarts the rest is copied in one step). The copy is switched to a
      self-contained rollback journal (no ``-wal`` beside it), checked with
      ``PRAGMA integrity_check`` and for changebank's tables, fsynced, and only then renamed to
      ``FILE``: a failed or interrupted backup never leaves a half-written ``FILE``.
    * PostgreSQL, without ``--media``: ``FILE`` is a ``pg_dump --format=custom`` archive. The
      connection comes from settings; the password goes to pg_dump through ``PGPASSWORD`` in its
      environment, never on its command line.
    * With ``--media``: ``FILE`` is a tar archive (gzip-compressed when the name ends in ``.gz`` or
      ``.tgz``) holding ``db.sqlite3`` (or ``db.pgdump``) and ``uploads/``, the files under
      MEDIA_ROOT (stored documents and recordings). A tar rather than a folder: one file to copy
      off the machine, and written under a temporary name then renamed like the plain copy.

What a restore does
    * SQLite: the file (or the database inside the tar) is copied to a temporary file in the
      database's own folder, and refused, with the current database untouched, unless it has the
      SQLite header, passes ``PRAGMA integrity_check``, holds changebank's tables, and was not made
      by a newer changebank (migrations this code does not know). The current database is then
      kept as ``<name>.before-restore-<timestamp>`` (its ``-wal`` is folded in first), and the
      checked copy is fsynced and renamed into place, so the database is at every moment either
      the old one or the new one. Stale ``-wal``/``-shm`` files are removed.
    * The database must not be in use: a restore under a running server would leave the server
      writing to the old file. Restore refuses when another connection has the database open
      (detected by asking SQLite to leave WAL mode, which it allows only to the sole connection).
      ``force=True`` restores anyway (and also accepts a backup from a newer changebank): then
      restart every changebank process at once; what they wrote since lands in the kept
      ``.before-restore`` file, not in the restored database.
    * PostgreSQL: ``pg_restore --clean --if-exists --single-transaction --exit-on-error``, so a
      failed restore changes nothing.
    * With a tar holding ``uploads/``: the current uploads folder is kept as
      ``uploads.before-restore-<timestamp>`` and the archive's files take its place. Members are
      extracted with tarfile's ``data`` filter (no absolute paths, ``..``, devices or links out).

A restored database older than this code is brought up to date by ``changebank init``;
:class:`RestoreResult` says how many migrations are pending.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import subprocess  # pg_dump and pg_restore only, no shell  # nosec B404
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SQLITE_HEADER = b"SQLite format 3\x00"
PGDUMP_HEADER = b"PGDMP"
#: Tables every changebank database has; a file without them is not a changebank backup.
REQUIRED_TABLES = frozenset(
    {"django_migrations", "core_task", "listen_programme", "listen_submission"}
)
#: Names inside a ``--media`` tar archive.
TAR_SQLITE = "db.sqlite3"
TAR_PGDUMP = "db.pgdump"
TAR_UPLOADS = "uploads"
STEP_PAGES = 256
MAX_RESTARTS = 20


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why, naming the file.
    Nothing was changed."""


class RestoreError(BackupError):
    """A restore refused or failed; the current database is untouched."""


def _counted(counts: dict[str, int]) -> str:
    """{"programmes": 1, "submissions": 18} -> "1 programme, 18 submissions"."""
    return ", ".join(f"{n:,} {name[:-1] if n == 1 else name}" for name, n in counts.items())


@dataclass
class BackupResult:
    path: Path
    engine: str  # "sqlite" or "postgresql"
    size: int
    seconds: float
    integrity: str = ""  # "ok" for SQLite
    counts: dict[str, int] = field(default_factory=dict)
    media_files: int = 0

    def summary(self) -> str:
        parts = [f"Backed up the {self.engine} database to {self.path} ({self.size:,} bytes"]
        if self.counts:
            parts.append(", " + _counted(self.counts))
        if self.media_files:
            parts.append(f", {self.media_files:,} uploaded files")
        parts.append(f") in {self.seconds:.1f} s")
        if self.integrity:
            parts.append(f"; integrity check: {self.integrity}")
        return "".join(parts)


@dataclass
class RestoreResult:
    source: Path
    target: str
    engine: str
    previous: Path | None = None  # where the database that was replaced is kept
    counts: dict[str, int] = field(default_factory=dict)
    media_files: int = 0
    previous_media: Path | None = None
    pending_migrations: int = 0
    forced: bool = False

    def lines(self) -> list[str]:
        out = [f"Restored {self.target} from {self.source}"]
        if self.counts:
            out.append("  " + _counted(self.counts))
        if self.previous:
            out.append(f"  the database it replaced is kept as {self.previous}")
        if self.media_files or self.previous_media:
            out.append(f"  {self.media_files:,} uploaded files restored")
        if self.previous_media:
            out.append(f"  the uploads it replaced are kept as {self.previous_media}")
        if self.pending_migrations:
            out.append(
                f"  the backup is older than this changebank: run 'changebank init' to apply "
                f"{self.pending_migrations} pending migration(s)"
            )
        if self.forced:
            out.append("  restored with --force: restart every changebank process now")
        return out


# --- settings -------------------------------------------------------------------------------------


def _database_settings() -> dict[str, Any]:
    from django.conf import settings

    return settings.DATABASES["default"]


def _engine(db: dict[str, Any]) -> str:
    engine = db.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        return "sqlite"
    if "postgresql" in engine:
        return "postgresql"
    raise BackupError(f"backups of the {engine} database engine are not supported")


def _media_root() -> Path:
    from django.conf import settings

    return Path(settings.MEDIA_ROOT)


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        _fsync(path)


def _temp_name(near: Path, label: str) -> Path:
    return near.with_name(f".{near.name}.{label}-{os.getpid()}-{time.monotonic_ns()}")


def _is_tar(path: Path, head: bytes) -> bool:
    if head.startswith((SQLITE_HEADER, PGDUMP_HEADER)):
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _head(path: Path, n: int = 16) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


# --- SQLite checks --------------------------------------------------------------------------------


def _known_migrations() -> set[tuple[str, str]] | None:
    """Every migration this code has, or None outside a configured Django."""
    try:
        from django.db.migrations.loader import MigrationLoader

        return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    except Exception:  # noqa: BLE001 - without Django the check is skipped
        return None


def _check_sqlite(path: Path, name: str) -> dict[str, Any]:
    """Make the copy at ``path`` a self-contained file and check it; raise RestoreError naming
    ``name`` when it is not a sound changebank database. Returns counts and migrations."""
    if _head(path) != SQLITE_HEADER:
        raise RestoreError(
            f"{name}: is not a SQLite database (it does not start with the SQLite header); "
            "give a file made by 'changebank backup'"
        )
    try:
        con = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise RestoreError(f"{name}: cannot be opened as a SQLite database ({exc})") from None
    try:
        con.execute("PRAGMA journal_mode=DELETE").fetchone()
        problems = [row[0] for row in con.execute("PRAGMA integrity_check(20)")]
        if problems != ["ok"]:
            raise RestoreError(
                f"{name}: is damaged; SQLite's integrity check found: " + "; ".join(problems[:5])
            )
        tables = {
            row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        missing = sorted(REQUIRED_TABLES - tables)
        if missing:
            raise RestoreError(
                f"{name}: is a SQLite database but not a changebank one (it has no "
                + ", ".join(missing)
                + " table"
                + ("s" if len(missing) > 1 else "")
                + ")"
            )
        migrations = {tuple(r) for r in con.execute("SELECT app, name FROM django_migrations")}
        counts = {
            "programmes": con.execute("SELECT count(*) FROM listen_programme").fetchone()[0],
            "submissions": con.execute("SELECT count(*) FROM listen_submission").fetchone()[0],
        }
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{name}: is damaged (SQLite: {exc})") from None
    finally:
        con.close()
    return {"counts": counts, "migrations": migrations}


# --- backup ---------------------------------------------------------------------------------------


def backup(
    destination: str | Path, *, media: bool = False, database: str | Path | None = None
) -> BackupResult:
    """Back up the database to ``destination`` (a tar archive with the uploads too when ``media``).

    ``database`` names a SQLite file to back up instead of the configured database (tests, tools).
    Raises :class:`BackupError` with a clear message; ``destination`` is then not created.
    """
    started = time.monotonic()
    destination = Path(destination).resolve()
    if not destination.parent.is_dir():
        raise BackupError(f"{destination.parent} does not exist")
    if destination.is_dir():
        raise BackupError(f"{destination} is a folder: give a file name for the backup")
    db = {"ENGINE": "sqlite3", "NAME": str(database)} if database else _database_settings()
    engine = _engine(db)
    result = BackupResult(destination, engine, 0, 0.0)
    db_copy = _temp_name(destination, "db")
    try:
        if engine == "sqlite":
            info = _backup_sqlite(Path(db["NAME"]), db_copy)
            result.integrity = "ok"
            result.counts = info["counts"]
        else:
            _pg_dump(db, db_copy)
        if media:
            tmp = _temp_name(destination, "tar")
            try:
                result.media_files = _write_tar(
                    tmp, destination, db_copy, TAR_SQLITE if engine == "sqlite" else TAR_PGDUMP
                )
                _fsync(tmp)
                os.replace(tmp, destination)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            os.replace(db_copy, destination)
        _fsync_dir(destination.parent)
    finally:
        db_copy.unlink(missing_ok=True)
    result.size = destination.stat().st_size
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _backup_sqlite(source: Path, target: Path) -> dict[str, Any]:
    if not source.is_file():
        raise BackupError(f"{source}: no such database; run 'changebank init' first")
    if _head(source) != SQLITE_HEADER:
        raise BackupError(f"{source}: is not a SQLite database")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        mode = src.execute("PRAGMA journal_mode").fetchone()[0].lower()
        if mode == "wal":
            # One step from one read snapshot: in WAL mode readers do not block writers.
            src.backup(dst, pages=-1)
        else:
            _stepped_backup(src, dst)
        dst.execute("PRAGMA journal_mode=DELETE").fetchone()
        problems = [row[0] for row in dst.execute("PRAGMA integrity_check(20)")]
        if problems != ["ok"]:
            raise BackupError(
                f"{source}: the copy failed SQLite's integrity check: " + "; ".join(problems[:5])
            )
        tables = {
            row[0] for row in dst.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables >= REQUIRED_TABLES:
            raise BackupError(
                f"{source}: is not a changebank database (run 'changebank init' to create one)"
            )
        counts = {
            "programmes": dst.execute("SELECT count(*) FROM listen_programme").fetchone()[0],
            "submissions": dst.execute("SELECT count(*) FROM listen_submission").fetchone()[0],
        }
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: the backup failed ({exc})") from None
    finally:
        dst.close()
        src.close()
    _fsync(target)
    return {"counts": counts}


def _stepped_backup(src: sqlite3.Connection, dst: sqlite3.Connection) -> None:
    """Copy a rollback-journal database a few pages at a time, letting writers in between."""
    restarts = 0
    last_remaining: int | None = None

    class _TooBusy(Exception):
        pass

    def progress(status: int, remaining: int, total: int) -> None:
        nonlocal restarts, last_remaining
        if last_remaining is not None and remaining > last_remaining:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise _TooBusy
        last_remaining = remaining

    try:
        src.backup(dst, pages=STEP_PAGES, progress=progress, sleep=0.005)
    except _TooBusy:
        src.backup(dst, pages=-1)


def _write_tar(tmp: Path, destination: Path, db_copy: Path, db_name: str) -> int:
    compress = destination.name.endswith((".gz", ".tgz"))
    media_root = _media_root()
    files = 0
    with tarfile.open(tmp, "w:gz" if compress else "w") as tar:
        tar.add(db_copy, arcname=db_name)
        if media_root.is_dir():
            for path in sorted(media_root.rglob("*")):
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue
                tar.add(
                    path,
                    arcname=f"{TAR_UPLOADS}/{path.relative_to(media_root).as_posix()}",
                    recursive=False,
                )
                files += path.is_file()
    return files


def _pg_env(db: dict[str, Any]) -> dict[str, str]:
    """The environment for pg_dump/pg_restore: the connection, the password as PGPASSWORD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if db.get(key):
            env[var] = str(db[key])
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return env


def _run_pg(args: list[str], db: dict[str, Any], what: str) -> None:
    if shutil.which(args[0]) is None:
        raise BackupError(f"{args[0]} is not installed: install the PostgreSQL client tools")
    done = subprocess.run(  # an argument list, no shell  # nosec B603
        args, env=_pg_env(db), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: " + (" / ".join(message[-5:]) or "no message"))


def _pg_dump(db: dict[str, Any], target: Path) -> None:
    _run_pg(
        [
            "pg_dump",
            "--format=custom",
            "--no-password",
            f"--file={target}",
            f"--dbname={db['NAME']}",
        ],
        db,
        "pg_dump",
    )
    if _head(target, 5) != PGDUMP_HEADER:
        raise BackupError("pg_dump did not write a custom-format archive")
    _fsync(target)


# --- restore --------------------------------------------------------------------------------------


def restore(
    source: str | Path, *, force: bool = False, database: str | Path | None = None
) -> RestoreResult:
    """Replace the database (and uploads, from a ``--media`` archive) with a backup.

    ``database`` names a SQLite file to restore over instead of the configured database.
    Raises :class:`RestoreError` with a clear message, and leaves the current database untouched,
    when the backup is not a sound changebank backup or the database is in use (unless ``force``).
    """
    source = Path(source).resolve()
    if not source.is_file():
        raise RestoreError(f"{source}: no such file")
    if source.stat().st_size == 0:
        raise RestoreError(f"{source.name}: the file is empty (0 bytes)")
    db = {"ENGINE": "sqlite3", "NAME": str(database)} if database else _database_settings()
    engine = _engine(db)
    if database is None:
        from django.db import connections

        connections.close_all()  # this process's own connection would count as "in use"
    with tempfile.TemporaryDirectory(prefix=".changebank-restore-", dir=_work_dir(db)) as work:
        work = Path(work)
        db_file, uploads = _unpack(source, work, engine)
        if engine == "sqlite":
            result = _restore_sqlite(source, db_file, Path(db["NAME"]).resolve(), force=force)
        else:
            if _head(db_file, 5) != PGDUMP_HEADER:
                raise RestoreError(
                    f"{source.name}: is not a pg_dump custom-format archive; give a file made by "
                    "'changebank backup'"
                )
            _run_pg(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--single-transaction",
                    "--exit-on-error",
                    "--no-owner",
                    "--no-password",
                    f"--dbname={db['NAME']}",
                    str(db_file),
                ],
                db,
                "pg_restore",
            )
            result = RestoreResult(source, str(db["NAME"]), "postgresql", forced=force)
        if uploads is not None:
            result.media_files, result.previous_media = _restore_uploads(uploads, _media_root())
    return result


def _work_dir(db: dict[str, Any]) -> Path:
    """A folder on the same file system as the database, so the final rename is atomic."""
    if _engine(db) == "sqlite":
        folder = Path(db["NAME"]).resolve().parent
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return Path(tempfile.gettempdir())


def _unpack(source: Path, work: Path, engine: str) -> tuple[Path, Path | None]:
    """The database file to restore (copied into ``work``) and the uploads folder, if any."""
    head = _head(source)
    if not _is_tar(source, head):
        copy = work / "db"
        shutil.copyfile(source, copy)
        return copy, None
    wanted = TAR_SQLITE if engine == "sqlite" else TAR_PGDUMP
    try:
        with tarfile.open(source) as tar:
            names = tar.getnames()
            if wanted not in names:
                raise RestoreError(
                    f"{source.name}: is a tar archive without {wanted}; give a file made by "
                    f"'changebank backup' on a {engine} installation"
                )
            members = [
                m for m in tar.getmembers() if m.name == wanted or m.name.startswith("uploads/")
            ]
            tar.extractall(work / "unpacked", members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RestoreError(f"{source.name}: the tar archive cannot be read ({exc})") from None
    uploads = work / "unpacked" / TAR_UPLOADS
    copy = work / "db"
    os.replace(work / "unpacked" / wanted, copy)
    return copy, uploads if uploads.is_dir() else None


def _restore_sqlite(source: Path, candidate: Path, target: Path, *, force: bool) -> RestoreResult:
    checked = _check_sqlite(candidate, source.name)
    known = _known_migrations()
    pending = 0
    if known is not None:
        unknown = sorted(checked["migrations"] - known)
        if unknown and not force:
            names = ", ".join(f"{app}.{name}" for app, name in unknown[:5])
            raise RestoreError(
                f"{source.name}: was made by a newer changebank (migrations this version does not "
                f"have: {names}); upgrade changebank first, or restore with --force"
            )
        pending = len(known - checked["migrations"])
    # The checked copy, in the database's folder, so the rename is atomic.
    staged = _temp_name(target, "restore")
    try:
        os.replace(candidate, staged)
        _fsync(staged)
        result = RestoreResult(source, str(target), "sqlite", counts=checked["counts"])
        result.pending_migrations = pending
        result.forced = force
        holder = _quiesce(target, force=force, name=source.name)
        try:
            if target.exists():
                previous = target.with_name(f"{target.name}.before-restore-{_stamp()}")
                os.replace(target, previous)
                for suffix in ("-wal", "-shm"):
                    side = Path(f"{target}{suffix}")
                    if suffix == "-wal" and side.exists():
                        # Only with --force (in use): keep what was not yet checkpointed beside
                        # the kept copy, where SQLite finds it when that copy is opened.
                        os.replace(side, Path(f"{previous}-wal"))
                    side.unlink(missing_ok=True)
                result.previous = previous
            os.replace(staged, target)
            _fsync_dir(target.parent)
        finally:
            if holder is not None:
                holder.close()
    finally:
        staged.unlink(missing_ok=True)
    return result


def _quiesce(target: Path, *, force: bool, name: str) -> sqlite3.Connection | None:
    """Check nobody else has the database open, fold its WAL into the file, and hold an exclusive
    lock until the rename. Returns the connection holding the lock (None if there is no database)."""
    if not target.exists():
        return None
    con = sqlite3.connect(target, timeout=0.5, isolation_level=None)
    try:
        # Leaving WAL mode checkpoints the WAL, and SQLite allows it only to the sole connection.
        mode = con.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        con.execute("BEGIN EXCLUSIVE")
        if mode.lower() == "wal":
            raise sqlite3.OperationalError("database is locked")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            con.close()
            if force:
                return None
            raise RestoreError(
                f"the current database {target} cannot be opened ({exc}); restore with --force "
                "to replace it"
            ) from None
        if not force:
            con.close()
            raise RestoreError(
                f"the database {target} is in use by another process (a running 'changebank "
                f"serve' or worker?): stop it and try again, or restore with --force. {name} "
                "was not restored."
            ) from None
        with contextlib.suppress(sqlite3.Error):
            con.execute("ROLLBACK")
    except sqlite3.DatabaseError:
        con.close()
        if force:
            return None  # a damaged current database is replaced (and kept) only when forced
        raise RestoreError(
            f"the current database {target} is damaged; restore with --force to replace it "
            "(it is kept beside the restored one)"
        ) from None
    return con


def _restore_uploads(uploads: Path, media_root: Path) -> tuple[int, Path | None]:
    files = sum(1 for p in uploads.rglob("*") if p.is_file())
    media_root.parent.mkdir(parents=True, exist_ok=True)
    staged = _temp_name(media_root, "restore")
    shutil.move(str(uploads), staged)  # same file system as the database in the usual layout
    previous = None
    if media_root.exists():
        previous = media_root.with_name(f"{media_root.name}.before-restore-{_stamp()}")
        os.replace(media_root, previous)
    os.replace(staged, media_root)
    return files, previous
