"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 23:40:52.393024
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('attendee',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('company', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tags', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('registered_via', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('colour', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('checked_in_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_in_station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('checked_in_staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendee')),
    sa.UniqueConstraint('code', name=op.f('uq_attendee_code')),
    sa.UniqueConstraint('email', name=op.f('uq_attendee_email'))
    )
    op.create_table('audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('correlation_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit'))
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_correlation_id'), ['correlation_id'], unique=False)

    op.create_table('event',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('settings', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('loaded_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event'))
    )
    op.create_table('operation',
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('correlation_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('result', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('op_id', name=op.f('pk_operation'))
    )
    with op.batch_alter_table('operation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operation_correlation_id'), ['correlation_id'], unique=False)

    op.create_table('station',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('reader_state', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('last_seen', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('change_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_station'))
    )
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=True),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('balance', sa.Integer(), nullable=False),
    sa.Column('floor', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('attendee', 'issuer', 'counter', 'credit')", name=op.f('ck_account_kind')),
    sa.CheckConstraint('floor IS NULL OR balance >= floor', name=op.f('ck_account_balance_floor')),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_account_attendee_id_attendee')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('attendee_id', name=op.f('uq_account_attendee_id')),
    sa.UniqueConstraint('kind', 'station', name='uq_account_kind_station')
    )
    op.create_table('band',
    sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('state_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('state_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state_station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('state_staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('bound_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('active', 'blocked', 'lost', 'returned')", name=op.f('ck_band_state')),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_band_attendee_id_attendee')),
    sa.PrimaryKeyConstraint('uid', name=op.f('pk_band'))
    )
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_band_attendee_id'), ['attendee_id'], unique=False)
        batch_op.create_index('uq_band_active_attendee', ['attendee_id'], unique=True, sqlite_where=sa.text("state = 'active'"), postgresql_where=sa.text("state = 'active'"))

    op.create_table('pending_points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('posted_op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_pending_points_points_positive')),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_pending_points_attendee_id_attendee')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_points')),
    sa.UniqueConstraint('external_id', name=op.f('uq_pending_points_external_id'))
    )
    with op.batch_alter_table('pending_points', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_points_attendee_id'), ['attendee_id'], unique=False)

    op.create_table('transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('debit_account_id', sa.Integer(), nullable=False),
    sa.Column('credit_account_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('correlation_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_transfer_amount_positive')),
    sa.CheckConstraint('debit_account_id <> credit_account_id', name=op.f('ck_transfer_distinct_accounts')),
    sa.ForeignKeyConstraint(['credit_account_id'], ['account.id'], name=op.f('fk_transfer_credit_account_id_account')),
    sa.ForeignKeyConstraint(['debit_account_id'], ['account.id'], name=op.f('fk_transfer_debit_account_id_account')),
    sa.ForeignKeyConstraint(['op_id'], ['operation.op_id'], name=op.f('fk_transfer_op_id_operation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer')),
    sa.UniqueConstraint('op_id', 'seq', name='uq_transfer_op_seq')
    )
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.create_index('ix_transfer_credit_amount', ['credit_account_id', 'amount'], unique=False)
        batch_op.create_index('ix_transfer_debit_amount', ['debit_account_id', 'amount'], unique=False)




def downgrade() -> None:
    
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_index('ix_transfer_debit_amount')
        batch_op.drop_index('ix_transfer_credit_amount')

    op.drop_table('transfer')
    with op.batch_alter_table('pending_points', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_points_attendee_id'))

    op.drop_table('pending_points')
    with op.batch_alter_table('band', schema=None) as batch_op:
        batch_op.drop_index('uq_band_active_attendee', sqlite_where=sa.text("state = 'active'"), postgresql_where=sa.text("state = 'active'"))
        batch_op.drop_index(batch_op.f('ix_band_attendee_id'))

    op.drop_table('band')
    op.drop_table('account')
    op.drop_table('station')
    with op.batch_alter_table('operation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operation_correlation_id'))

    op.drop_table('operation')
    op.drop_table('event')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_correlation_id'))

    op.drop_table('audit')
    op.drop_table('attendee')

