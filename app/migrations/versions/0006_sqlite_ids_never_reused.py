"""SQLite: ids of the tables a client acts on by id are never handed out twice (AUTOINCREMENT)

Without AUTOINCREMENT SQLite gives a new row max(id) + 1, so the id of the newest row, once deleted, went to the
next new row: a repeated `DELETE /v1/documents/42` (a retry, a second tab) deleted the NEW document that had just
got id 42; the same for keys, conversations, messages (ratings), jobs, model versions, users, sources and feedback.
The tables are re-created with AUTOINCREMENT (batch mode copies every row; SQLite then never goes below the
highest id it has seen). PostgreSQL sequences never go back: nothing to do there.

Revision ID: 0006
Revises: 0005
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# parents before children does not matter (foreign keys are off while migrating, see env.py); kept in one place
TABLES = ("users", "api_keys", "sources", "documents", "jobs", "model_versions", "conversations", "messages",
          "feedback")


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
