"""corrections

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:06:16.276009
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrects_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_transfer_corrects_id'), ['corrects_id'])
        batch_op.create_foreign_key(batch_op.f('fk_transfer_corrects_id_transfer'), 'transfer', ['corrects_id'], ['id'])




def downgrade() -> None:

    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_transfer_corrects_id_transfer'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_transfer_corrects_id'), type_='unique')
        batch_op.drop_column('corrects_id')


