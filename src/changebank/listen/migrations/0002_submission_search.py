"""Full-text search over submissions.

On SQLite, an FTS5 table kept in step with ``listen_submission`` by triggers (external content, so the
text is stored once). PostgreSQL gets its own index in a later migration.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE listen_submission_fts USING fts5(
        text, content='listen_submission', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER listen_submission_fts_ai AFTER INSERT ON listen_submission BEGIN
        INSERT INTO listen_submission_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER listen_submission_fts_ad AFTER DELETE ON listen_submission BEGIN
        INSERT INTO listen_submission_fts(listen_submission_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER listen_submission_fts_au AFTER UPDATE OF text ON listen_submission BEGIN
        INSERT INTO listen_submission_fts(listen_submission_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO listen_submission_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO listen_submission_fts(listen_submission_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS listen_submission_fts_au",
    "DROP TRIGGER IF EXISTS listen_submission_fts_ad",
    "DROP TRIGGER IF EXISTS listen_submission_fts_ai",
    "DROP TABLE IF EXISTS listen_submission_fts",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_FORWARD:
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("listen", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
