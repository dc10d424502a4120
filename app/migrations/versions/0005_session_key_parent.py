"""api_keys.parent_key_id: a sign-in key names the API key it was exchanged for by id, not in its name

A web sign-in key made from an API key (POST /v1/auth/session) was linked to that key only by its name
("web sign-in via key #<id>"); revoking the key revoked the sign-in keys found by that name. The link is now a
column with a foreign key (a deleted parent takes its sign-in keys with it), backfilled from the names. A sign-in
key that is still live although its parent was revoked already (made while the revocation ran) is revoked too.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# how versions up to 0004 named a sign-in key made from an API key (kept here: the name is no longer parsed)
OLD_NAME_PREFIX = "web sign-in via key #"


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_key_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_api_keys_parent_key_id_api_keys', 'api_keys', ['parent_key_id'], ['id'],
                                    ondelete='CASCADE')
        batch_op.create_index('ix_api_keys_parent_key_id', ['parent_key_id'])
    conn = op.get_bind()
    keys = sa.table('api_keys', sa.column('id', sa.Integer), sa.column('user_id', sa.Integer),
                    sa.column('name', sa.String), sa.column('kind', sa.String),
                    sa.column('revoked_at', sa.DateTime(timezone=True)), sa.column('parent_key_id', sa.Integer))
    parents = {row.id: row for row in conn.execute(sa.select(keys.c.id, keys.c.user_id, keys.c.revoked_at))}
    children = conn.execute(sa.select(keys.c.id, keys.c.user_id, keys.c.name, keys.c.revoked_at).where(
        keys.c.kind == 'session', keys.c.name.startswith(OLD_NAME_PREFIX, autoescape=True))).all()
    for child in children:
        suffix = child.name[len(OLD_NAME_PREFIX):]
        parent = parents.get(int(suffix)) if suffix.isdigit() else None
        if parent is None or parent.user_id != child.user_id:  # the old lookup matched the same user only
            continue
        values = {"parent_key_id": parent.id}
        if parent.revoked_at is not None and child.revoked_at is None:
            values["revoked_at"] = parent.revoked_at
        conn.execute(keys.update().where(keys.c.id == child.id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_api_keys_parent_key_id')
        batch_op.drop_constraint('fk_api_keys_parent_key_id_api_keys', type_='foreignkey')
        batch_op.drop_column('parent_key_id')
