"""answers: stored extractive answers lose the notice line older versions put in front of their text

Older versions yielded "_Extractive answer (no generative model configured): …_" as the first piece of an
extractive answer, so it was stored in messages.content and clients stripped it by prefix. Which answerer produced an
answer is the message's `mode` (and `model_version`), a typed field: the text is the answer alone.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# the notice exactly as versions up to 0003 stored it (kept here: the answerer no longer has it)
OLD_NOTICE = "_Extractive answer (no generative model configured): the most relevant sentences from the sources._"


def upgrade() -> None:
    conn = op.get_bind()
    messages = sa.table('messages', sa.column('id', sa.Integer), sa.column('role', sa.String),
                        sa.column('content', sa.Text))
    rows = conn.execute(sa.select(messages.c.id, messages.c.content).where(
        messages.c.role == 'assistant', messages.c.content.startswith(OLD_NOTICE, autoescape=True))).all()
    for row_id, content in rows:
        conn.execute(messages.update().where(messages.c.id == row_id)
                     .values(content=content[len(OLD_NOTICE):].lstrip("\n")))


def downgrade() -> None:
    pass  # the notice is not put back: answers read the same without it
