"""The keyword index over chunks, in each database's own full-text engine.

SQLite: an FTS5 table (rowid = chunk id) with a trigger that drops a chunk's entry when the
chunk row is deleted. PostgreSQL: a tsvector column on research_chunk with a GIN index.
Both are filled by research.search.chunk_index_document, not by the ORM.
"""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS research_chunk_fts USING fts5("
    "text, tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS research_chunk_fts_delete AFTER DELETE ON research_chunk "
    "BEGIN DELETE FROM research_chunk_fts WHERE rowid = old.id; END",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS research_chunk_fts_delete",
    "DROP TABLE IF EXISTS research_chunk_fts",
]
POSTGRES_FORWARD = [
    "ALTER TABLE research_chunk ADD COLUMN IF NOT EXISTS search_vector tsvector",
    "CREATE INDEX IF NOT EXISTS research_chunk_search_vector ON research_chunk "
    "USING gin (search_vector)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS research_chunk_search_vector",
    "ALTER TABLE research_chunk DROP COLUMN IF EXISTS search_vector",
]


def _run(schema_editor, statements_by_vendor):
    for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement)


def forward(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD})


def backward(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD})


class Migration(migrations.Migration):
    dependencies = [("research", "0002_ingestion_pipeline")]

    operations = [migrations.RunPython(forward, backward)]
