"""desk

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:19:39.917730
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_key',
    sa.Column('key', sa.String(length=100).with_variant(sa.String(length=100, collation='C'), 'postgresql'), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_search_key_attendee_id_attendee')),
    sa.PrimaryKeyConstraint('key', 'attendee_id', name=op.f('pk_search_key')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('search_key', schema=None) as batch_op:
        batch_op.create_index('ix_search_key_attendee_id_key', ['attendee_id', 'key'], unique=False)

    op.create_table('check_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=False),
    sa.Column('at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('rule_colour', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('colour', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('colour_changed_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('colour_changed_station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('colour_changed_staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('band_uid', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('bind_op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('pre_event_transfer_id', sa.Integer(), nullable=True),
    sa.Column('pre_event_points', sa.Integer(), nullable=False),
    sa.Column('undone_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('undone_op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('undone_station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('undone_staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.CheckConstraint('pre_event_points >= 0', name=op.f('ck_check_in_pre_event_points_not_negative')),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_check_in_attendee_id_attendee')),
    sa.ForeignKeyConstraint(['op_id'], ['operation.op_id'], name=op.f('fk_check_in_op_id_operation')),
    sa.ForeignKeyConstraint(['pre_event_transfer_id'], ['transfer.id'], name=op.f('fk_check_in_pre_event_transfer_id_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_in'))
    )
    with op.batch_alter_table('check_in', schema=None) as batch_op:
        batch_op.create_index('ix_check_in_station_at', ['station', 'at'], unique=False)
        batch_op.create_index('uq_check_in_current_attendee', ['attendee_id'], unique=True, sqlite_where=sa.text('undone_at IS NULL'), postgresql_where=sa.text('undone_at IS NULL'))



def downgrade() -> None:
    with op.batch_alter_table('check_in', schema=None) as batch_op:
        batch_op.drop_index('uq_check_in_current_attendee', sqlite_where=sa.text('undone_at IS NULL'), postgresql_where=sa.text('undone_at IS NULL'))
        batch_op.drop_index('ix_check_in_station_at')

    op.drop_table('check_in')
    with op.batch_alter_table('search_key', schema=None) as batch_op:
        batch_op.drop_index('ix_search_key_attendee_id_key')

    op.drop_table('search_key')
