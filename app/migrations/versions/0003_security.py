"""security: owners of uploaded documents and sources, quarantined documents, session keys that expire

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_sources_owner_user_id_users', 'users', ['owner_user_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('quarantine_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key('fk_documents_owner_user_id_users', 'users', ['owner_user_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index('ix_documents_owner_user_id', ['owner_user_id'])
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='api'))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    # sign-in keys made before this migration were named "web sign-in": they are session keys
    op.execute("UPDATE api_keys SET kind = 'session' WHERE name = 'web sign-in'")


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('kind')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_owner_user_id')
        batch_op.drop_constraint('fk_documents_owner_user_id_users', type_='foreignkey')
        batch_op.drop_column('quarantine_reason')
        batch_op.drop_column('owner_user_id')
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_constraint('fk_sources_owner_user_id_users', type_='foreignkey')
        batch_op.drop_column('owner_user_id')
