"""The gallery at 100,000 edits: its order (team, newest first, then the id) as an index
alone and after each filter's equality (member, status, model), the usage page's order,
and a trigram index of the prompts for the search (`EditQuerySet.search`): a GIN index
through pg_trgm on PostgreSQL, an FTS5 table with the trigram tokenizer kept in step by
triggers on SQLite. Indexes only: reversible, no data changes.

Note for later migrations: on SQLite, an AlterField of `Edit` rebuilds its table, which
drops the triggers below; tests/test_prompt_search.py fails then, and the migration must
create them again (the SQL is here)."""

from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

SQLITE_SEARCH = [
    # External content: the index keeps only the trigrams, the prompts stay in edits_edit.
    "CREATE VIRTUAL TABLE edits_edit_prompt_search USING fts5("
    "prompt, content='edits_edit', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER edits_edit_prompt_search_insert AFTER INSERT ON edits_edit BEGIN "
    "INSERT INTO edits_edit_prompt_search(rowid, prompt) VALUES (new.id, new.prompt); END",
    "CREATE TRIGGER edits_edit_prompt_search_delete AFTER DELETE ON edits_edit BEGIN "
    "INSERT INTO edits_edit_prompt_search(edits_edit_prompt_search, rowid, prompt) "
    "VALUES ('delete', old.id, old.prompt); END",
    "CREATE TRIGGER edits_edit_prompt_search_update AFTER UPDATE OF prompt ON edits_edit BEGIN "
    "INSERT INTO edits_edit_prompt_search(edits_edit_prompt_search, rowid, prompt) "
    "VALUES ('delete', old.id, old.prompt); "
    "INSERT INTO edits_edit_prompt_search(rowid, prompt) VALUES (new.id, new.prompt); END",
    # The edits made before this migration.
    "INSERT INTO edits_edit_prompt_search(edits_edit_prompt_search) VALUES ('rebuild')",
]
SQLITE_SEARCH_REVERSE = [
    "DROP TRIGGER IF EXISTS edits_edit_prompt_search_update",
    "DROP TRIGGER IF EXISTS edits_edit_prompt_search_delete",
    "DROP TRIGGER IF EXISTS edits_edit_prompt_search_insert",
    "DROP TABLE IF EXISTS edits_edit_prompt_search",
]
# UPPER(prompt): the expression `icontains` compares on PostgreSQL, so its LIKE uses it.
POSTGRES_SEARCH = (
    "CREATE INDEX edit_prompt_trigrams ON edits_edit USING gin (UPPER(prompt) gin_trgm_ops)"
)
POSTGRES_SEARCH_REVERSE = "DROP INDEX IF EXISTS edit_prompt_trigrams"


class RunSQLOn(migrations.RunSQL):
    """RunSQL on one database vendor, nothing on the others; the models' state is the
    same on every database (neither index is a model index)."""

    def __init__(self, vendor: str, sql, reverse_sql) -> None:
        self.vendor = vendor
        super().__init__(sql, reverse_sql, elidable=False)

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return f"Raw SQL on {self.vendor}"


class Migration(migrations.Migration):
    dependencies = [
        ("edits", "0011_held_results"),
        ("teams", "0006_profile_language"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="edit", name="edit_team_recent"),
        migrations.AddIndex(
            model_name="edit",
            index=models.Index(fields=["team", "-created_at", "-id"], name="edit_team_created"),
        ),
        migrations.AddIndex(
            model_name="edit",
            index=models.Index(
                fields=["team", "created_by", "-created_at", "-id"], name="edit_team_member"
            ),
        ),
        migrations.AddIndex(
            model_name="edit",
            index=models.Index(
                fields=["team", "status", "-created_at", "-id"], name="edit_team_status"
            ),
        ),
        migrations.AddIndex(
            model_name="edit",
            index=models.Index(
                fields=["team", "model", "-created_at", "-id"], name="edit_team_model"
            ),
        ),
        migrations.AddIndex(
            model_name="edit",
            index=models.Index(fields=["team", "-finished_at", "-id"], name="edit_team_finished"),
        ),
        # PostgreSQL only (it does nothing elsewhere); a trusted extension since
        # PostgreSQL 13, so the database's owner may create it.
        TrigramExtension(),
        RunSQLOn("postgresql", POSTGRES_SEARCH, POSTGRES_SEARCH_REVERSE),
        RunSQLOn("sqlite", SQLITE_SEARCH, SQLITE_SEARCH_REVERSE),
    ]
