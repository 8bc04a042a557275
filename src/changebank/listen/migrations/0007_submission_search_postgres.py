"""Full-text search over submissions on PostgreSQL: a GIN index on the text's tsvector.

The index is on the expression ``to_tsvector('english', text)``, so it is always in step with the
text without a column or triggers, and queries that use the same expression (``listen.search``)
are answered from it. SQLite has its FTS5 table (migration 0002); this one does nothing there, so
one set of migrations serves both databases.
"""

from django.db import migrations

INDEX = "listen_submission_text_tsv"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON listen_submission "
            "USING GIN (to_tsvector('english'::regconfig, text))"
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("listen", "0006_privacy_retention")]
    operations = [migrations.RunPython(forward, backward)]
