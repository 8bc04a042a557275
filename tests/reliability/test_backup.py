"""`changebank backup` / `restore` (core/backup.py) on real changebank databases.

The tests of SQLite files are ``sqlite_only``; those of the PostgreSQL commands here run without a
server, and test_backup_postgres.py runs them against the PostgreSQL run's server."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from changebank.core.backup import BackupError, RestoreError, backup, restore

from .conftest import db_path, query

SUBMISSIONS = "SELECT id, text, dedupe_key FROM listen_submission ORDER BY id"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Files a refused or finished operation must not leave behind."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") or "before-restore" in p.name
    )


@pytest.mark.sqlite_only
def test_backup_change_restore_gives_the_data_as_at_backup(data_dir, tmp_path):
    db = db_path(data_dir)
    before = query(db, SUBMISSIONS)
    assert len(before) == 18
    dest = tmp_path / "backup.sqlite3"
    made = backup(dest, database=db)
    assert made.integrity == "ok" and made.counts == {"programmes": 1, "submissions": 18}
    assert dest.read_bytes()[:16] == b"SQLite format 3\x00"
    assert not Path(f"{dest}-wal").exists()  # a self-contained file
    assert "integrity check: ok" in made.summary()

    con = sqlite3.connect(db)
    con.execute(
        "DELETE FROM listen_submission WHERE id IN (SELECT id FROM listen_submission LIMIT 5)"
    )
    con.execute("UPDATE listen_submission SET text = 'changed'")
    con.commit()
    con.close()
    assert query(db, SUBMISSIONS) != before

    done = restore(dest, database=db)
    assert query(db, SUBMISSIONS) == before
    assert done.counts == {"programmes": 1, "submissions": 18}
    assert done.previous is not None and done.previous.name.startswith(
        "changebank.sqlite3.before-restore-"
    )
    assert len(query(done.previous, SUBMISSIONS)) == 13  # the replaced database is kept
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    assert [n for n in leftovers(data_dir) if n.startswith(".")] == []
    assert any("kept as" in line for line in done.lines())


@pytest.mark.sqlite_only
def test_restored_database_works_with_the_command_line(data_dir, tmp_path):
    from .conftest import run_cli

    db = db_path(data_dir)
    backup(tmp_path / "b.sqlite3", database=db)
    db.unlink()
    restore(tmp_path / "b.sqlite3", database=db)
    out = run_cli(data_dir, "programme", "list").stdout
    assert "survey" in out and "18 submissions" in out


def _writer(path: Path, stop: threading.Event, errors: list, written: list) -> None:
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    n = 0
    try:
        while not stop.is_set():
            n += 1
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO load (n, pad) VALUES (?, ?)", (n, "x" * 2000))
            con.execute("UPDATE load_total SET total = ?", (n,))
            con.execute("COMMIT")
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(repr(exc))
    finally:
        written.append(n)
        con.close()


@pytest.mark.sqlite_only
def test_backup_while_another_connection_writes(data_dir, tmp_path):
    db = db_path(data_dir)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE load (n INTEGER PRIMARY KEY, pad TEXT)")
    con.execute("CREATE TABLE load_total (total INTEGER)")
    con.execute("INSERT INTO load_total VALUES (0)")
    con.commit()
    con.close()
    stop, errors, written = threading.Event(), [], []
    thread = threading.Thread(target=_writer, args=(db, stop, errors, written))
    thread.start()
    copies = []
    try:
        time.sleep(0.2)
        for i in range(5):
            dest = tmp_path / f"during-{i}.sqlite3"
            backup(dest, database=db)
            copies.append(dest)
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    assert written[0] > 0
    seen = []
    for dest in copies:
        assert query(dest, "PRAGMA integrity_check") == [("ok",)]
        rows, top, total = query(
            dest, "SELECT count(*), max(n), (SELECT total FROM load_total) FROM load"
        )[0]
        # One snapshot: every committed insert, its total, and nothing half-written.
        assert rows == (top or 0) == total
        seen.append(rows)
    assert seen == sorted(seen) and seen[-1] > 0


@pytest.mark.sqlite_only
def test_backup_of_a_rollback_journal_database_in_steps(data_dir, tmp_path):
    db = db_path(data_dir)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    made = backup(tmp_path / "b.sqlite3", database=db)
    assert made.integrity == "ok" and made.counts["submissions"] == 18


@pytest.mark.sqlite_only
def test_restore_refuses_bad_files_and_leaves_the_database_untouched(data_dir, tmp_path):
    db = db_path(data_dir)
    good = tmp_path / "good.sqlite3"
    backup(good, database=db)
    original = sha(db)

    text = tmp_path / "notes.sqlite3"
    text.write_text("id,text\n1,hello\n")
    other = tmp_path / "other.sqlite3"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE things (x)")
    con.commit()
    con.close()
    corrupt = tmp_path / "corrupt.sqlite3"
    data = bytearray(good.read_bytes())
    for page in range(2, len(data) // 4096, 3):  # scribble over every third page after the first
        data[page * 4096 + 100 : page * 4096 + 400] = b"\xa5" * 300
    corrupt.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.sqlite3"
    truncated.write_bytes(good.read_bytes()[: len(data) // 3])
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")

    cases = {
        text: "is not a SQLite database",
        other: "not a changebank one (it has no core_task, django_migrations, listen_programme, listen_submission tables)",
        corrupt: "damaged",
        truncated: "",
        empty: "empty",
    }
    for path, expected in cases.items():
        with pytest.raises(RestoreError) as info:
            restore(path, database=db)
        message = str(info.value)
        assert path.name in message and expected in message, message
        assert sha(db) == original
        assert leftovers(data_dir) == []
    with pytest.raises(RestoreError, match="no such file"):
        restore(tmp_path / "missing.sqlite3", database=db)


@pytest.mark.sqlite_only
def test_restore_refuses_a_backup_from_a_newer_changebank(data_dir, tmp_path):
    newer = tmp_path / "newer.sqlite3"
    backup(newer, database=db_path(data_dir))
    con = sqlite3.connect(newer)
    con.execute(
        "INSERT INTO django_migrations (app, name, applied) VALUES ('listen', '9999_future', '2030-01-01')"
    )
    con.commit()
    con.close()
    with pytest.raises(RestoreError, match="newer changebank.*listen.9999_future"):
        restore(newer, database=db_path(data_dir))
    assert restore(newer, database=db_path(data_dir), force=True).forced


@pytest.mark.sqlite_only
def test_older_backup_says_migrations_are_pending(data_dir, tmp_path):
    older = tmp_path / "older.sqlite3"
    backup(older, database=db_path(data_dir))
    con = sqlite3.connect(older)
    con.execute("DELETE FROM django_migrations WHERE id = (SELECT max(id) FROM django_migrations)")
    con.commit()
    con.close()
    done = restore(older, database=db_path(data_dir))
    assert done.pending_migrations == 1
    assert any("changebank init" in line for line in done.lines())


@pytest.mark.sqlite_only
def test_restore_refuses_while_the_database_is_in_use(data_dir, tmp_path):
    db = db_path(data_dir)
    snapshot = tmp_path / "b.sqlite3"
    backup(snapshot, database=db)
    # Another process with the database open, idle after a read (as a web server is).
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(db)!r})\n"
            "c.execute('PRAGMA journal_mode=WAL').fetchall()\n"
            "c.execute('SELECT count(*) FROM listen_submission').fetchall()\n"
            "print('open', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        original = sha(db)
        with pytest.raises(RestoreError, match="in use by another process.*--force"):
            restore(snapshot, database=db)
        assert sha(db) == original and leftovers(data_dir) == []
        forced = restore(snapshot, database=db, force=True)
        assert forced.forced and forced.previous.exists()
        assert any("restart every changebank process" in line for line in forced.lines())
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert len(query(db, SUBMISSIONS)) == 18


@pytest.mark.sqlite_only
def test_restore_into_a_folder_without_a_database(data_dir, tmp_path):
    snapshot = tmp_path / "b.sqlite3"
    backup(snapshot, database=db_path(data_dir))
    fresh = tmp_path / "fresh" / "changebank.sqlite3"
    done = restore(snapshot, database=fresh)
    assert done.previous is None and len(query(fresh, SUBMISSIONS)) == 18


@pytest.mark.sqlite_only
def test_backup_with_media_round_trip(data_dir, tmp_path, settings):
    media = data_dir / "uploads"
    (media / "documents" / "ab").mkdir(parents=True)
    (media / "documents" / "ab" / "abc.pdf").write_bytes(b"%PDF-1.4 first")
    settings.MEDIA_ROOT = media
    archive = tmp_path / "full.tar.gz"
    made = backup(archive, media=True, database=db_path(data_dir))
    assert made.media_files == 1
    with tarfile.open(archive) as tar:
        assert {"db.sqlite3", "uploads/documents/ab/abc.pdf"} <= set(tar.getnames())

    (media / "documents" / "ab" / "abc.pdf").write_bytes(b"changed")
    (media / "new.txt").write_text("after the backup")
    done = restore(archive, database=db_path(data_dir))
    assert done.media_files == 1 and done.previous_media.exists()
    assert (media / "documents" / "ab" / "abc.pdf").read_bytes() == b"%PDF-1.4 first"
    assert not (media / "new.txt").exists()
    assert (done.previous_media / "new.txt").exists()
    assert len(query(db_path(data_dir), SUBMISSIONS)) == 18


@pytest.mark.sqlite_only
def test_restore_refuses_a_tar_without_a_database(data_dir, tmp_path):
    archive = tmp_path / "other.tar"
    note = tmp_path / "note.txt"
    note.write_text("hello")
    with tarfile.open(archive, "w") as tar:
        tar.add(note, arcname="note.txt")
    original = sha(db_path(data_dir))
    with pytest.raises(RestoreError, match="other.tar: is a tar archive without db.sqlite3"):
        restore(archive, database=db_path(data_dir))
    assert sha(db_path(data_dir)) == original


@pytest.mark.sqlite_only
def test_backup_refuses_what_is_not_a_changebank_database(tmp_path):
    with pytest.raises(BackupError, match="no such database"):
        backup(tmp_path / "b.sqlite3", database=tmp_path / "missing.sqlite3")
    plain = tmp_path / "plain.sqlite3"
    sqlite3.connect(plain).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(BackupError, match="not a changebank database"):
        backup(tmp_path / "b.sqlite3", database=plain)
    assert not (tmp_path / "b.sqlite3").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(BackupError, match="does not exist"):
        backup(tmp_path / "nowhere" / "b.sqlite3", database=plain)


# --- PostgreSQL: the commands, without a server ------------------------------------------------

PG = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "changebank",
    "USER": "cb",
    "PASSWORD": "s3cret-pass",
    "HOST": "db.example",
    "PORT": "5433",
}


@pytest.fixture
def fake_pg(monkeypatch):
    monkeypatch.setattr("changebank.core.backup._database_settings", lambda: PG)
    calls = []

    def fake_run(args, env=None, **kwargs):
        calls.append((list(args), dict(env)))
        for arg in args:
            if arg.startswith("--file="):
                Path(arg[len("--file=") :]).write_bytes(b"PGDMP fake archive")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr("changebank.core.backup.shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("changebank.core.backup.subprocess.run", fake_run)
    return calls


def test_postgresql_backup_and_restore_commands(fake_pg, tmp_path):
    dest = tmp_path / "db.pgdump"
    made = backup(dest)
    assert made.engine == "postgresql" and dest.read_bytes().startswith(b"PGDMP")
    args, env = fake_pg[-1]
    assert args[0] == "pg_dump" and "--format=custom" in args and "--dbname=changebank" in args
    assert env["PGPASSWORD"] == "s3cret-pass" and env["PGHOST"] == "db.example"
    assert env["PGPORT"] == "5433" and env["PGUSER"] == "cb"
    assert not any("s3cret" in a for a in args)

    done = restore(dest)
    args, env = fake_pg[-1]
    assert args[0] == "pg_restore"
    assert {"--clean", "--if-exists", "--single-transaction", "--exit-on-error"} <= set(args)
    assert env["PGPASSWORD"] == "s3cret-pass" and not any("s3cret" in a for a in args)
    assert done.engine == "postgresql"

    not_a_dump = tmp_path / "x.pgdump"
    not_a_dump.write_bytes(b"SQLite format 3\x00....")
    with pytest.raises(RestoreError, match="not a pg_dump custom-format archive"):
        restore(not_a_dump)


def test_postgresql_failure_is_reported(fake_pg, monkeypatch, tmp_path):
    def failing(args, env=None, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "pg_dump: error: connection refused\n")

    monkeypatch.setattr("changebank.core.backup.subprocess.run", failing)
    with pytest.raises(BackupError, match="pg_dump failed: pg_dump: error: connection refused"):
        backup(tmp_path / "db.pgdump")
    assert not (tmp_path / "db.pgdump").exists()


def _cli_has(command: str) -> bool:
    from changebank.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return command in sub.choices


@pytest.mark.skipif(
    not (_cli_has("backup") and _cli_has("restore")),
    reason="`changebank backup` / `changebank restore` are not in cli.py yet",
)
@pytest.mark.sqlite_only
def test_command_line_backup_and_restore(data_dir, tmp_path):
    from .conftest import run_cli

    db = db_path(data_dir)
    made = run_cli(data_dir, "backup", str(tmp_path / "b.sqlite3"))
    assert "integrity check: ok" in made.stdout and "18 submissions" in made.stdout
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database")
    original = sha(db)
    refused = run_cli(data_dir, "restore", str(junk), check=False)
    assert refused.returncode == 1 and "junk.sqlite3: is not a SQLite database" in refused.stderr
    assert sha(db) == original
    done = run_cli(data_dir, "restore", str(tmp_path / "b.sqlite3"))
    assert "Restored" in done.stdout and "kept as" in done.stdout
