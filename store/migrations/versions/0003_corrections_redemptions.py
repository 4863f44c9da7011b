"""corrections and redemptions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:12:57.143219
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

    op.create_table('redemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prize_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('returned_op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_redemption_attendee_id_attendee')),
    sa.ForeignKeyConstraint(['op_id'], ['operation.op_id'], name=op.f('fk_redemption_op_id_operation')),
    sa.ForeignKeyConstraint(['prize_id'], ['prize.id'], name=op.f('fk_redemption_prize_id_prize')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfer.id'], name=op.f('fk_redemption_transfer_id_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption')),
    sa.UniqueConstraint('op_id', name=op.f('uq_redemption_op_id'))
    )
    with op.batch_alter_table('redemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redemption_attendee_id'), ['attendee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemption_prize_id'), ['prize_id'], unique=False)

    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrects_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_transfer_corrects_id'), ['corrects_id'])
        batch_op.create_foreign_key(batch_op.f('fk_transfer_corrects_id_transfer'), 'transfer', ['corrects_id'], ['id'])




def downgrade() -> None:

    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_transfer_corrects_id_transfer'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_transfer_corrects_id'), type_='unique')
        batch_op.drop_column('corrects_id')

    with op.batch_alter_table('redemption', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemption_prize_id'))
        batch_op.drop_index(batch_op.f('ix_redemption_attendee_id'))

    op.drop_table('redemption')

