"""coats counter credit

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 02:10:28.342388
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=False),
    sa.Column('rack_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('hanger', sa.Integer(), nullable=True),
    sa.Column('paper_tag', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('in_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('in_station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('in_staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('out_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('out_op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('out_station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('out_staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('out_id_checked', sa.Boolean(), nullable=False),
    sa.CheckConstraint("state IN ('in', 'collected')", name=op.f('ck_coat_state')),
    sa.CheckConstraint('(rack_id IS NULL AND hanger IS NULL) OR (rack_id IS NOT NULL AND hanger IS NOT NULL)', name=op.f('ck_coat_rack_with_hanger')),
    sa.CheckConstraint('hanger IS NOT NULL OR paper_tag IS NOT NULL', name=op.f('ck_coat_tagged')),
    sa.CheckConstraint('hanger IS NULL OR hanger >= 1', name=op.f('ck_coat_hanger_positive')),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_coat_attendee_id_attendee')),
    sa.ForeignKeyConstraint(['op_id'], ['operation.op_id'], name=op.f('fk_coat_op_id_operation')),
    sa.ForeignKeyConstraint(['rack_id'], ['rack.id'], name=op.f('fk_coat_rack_id_rack')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coat')),
    sa.UniqueConstraint('op_id', name=op.f('uq_coat_op_id'))
    )
    with op.batch_alter_table('coat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coat_attendee_id'), ['attendee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coat_rack_id'), ['rack_id'], unique=False)
        batch_op.create_index('uq_coat_held_attendee', ['attendee_id'], unique=True, sqlite_where=sa.text("state = 'in'"), postgresql_where=sa.text("state = 'in'"))
        batch_op.create_index('uq_coat_held_hanger', ['rack_id', 'hanger'], unique=True, sqlite_where=sa.text("state = 'in' AND hanger IS NOT NULL"), postgresql_where=sa.text("state = 'in' AND hanger IS NOT NULL"))
        batch_op.create_index('uq_coat_held_paper_tag', ['paper_tag'], unique=True, sqlite_where=sa.text("state = 'in' AND paper_tag IS NOT NULL"), postgresql_where=sa.text("state = 'in' AND paper_tag IS NOT NULL"))

    op.create_table('prize_drop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prize_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('taken', sa.Integer(), nullable=False),
    sa.Column('starts_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_prize_drop_ends_after_start')),
    sa.CheckConstraint('price > 0', name=op.f('ck_prize_drop_price_positive')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_prize_drop_quantity_positive')),
    sa.CheckConstraint('taken >= 0 AND taken <= quantity', name=op.f('ck_prize_drop_taken_within_quantity')),
    sa.ForeignKeyConstraint(['op_id'], ['operation.op_id'], name=op.f('fk_prize_drop_op_id_operation')),
    sa.ForeignKeyConstraint(['prize_id'], ['prize.id'], name=op.f('fk_prize_drop_prize_id_prize')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prize_drop')),
    sa.UniqueConstraint('op_id', name=op.f('uq_prize_drop_op_id'))
    )
    with op.batch_alter_table('prize_drop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prize_drop_prize_id'), ['prize_id'], unique=False)

    op.create_table('hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('drop_id', sa.Integer(), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('consumed_op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('released_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_hold_attendee_id_attendee')),
    sa.ForeignKeyConstraint(['drop_id'], ['prize_drop.id'], name=op.f('fk_hold_drop_id_prize_drop')),
    sa.ForeignKeyConstraint(['op_id'], ['operation.op_id'], name=op.f('fk_hold_op_id_operation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hold')),
    sa.UniqueConstraint('op_id', name=op.f('uq_hold_op_id'))
    )
    with op.batch_alter_table('hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hold_attendee_id'), ['attendee_id'], unique=False)
        batch_op.create_index('ix_hold_drop_id_expires_at', ['drop_id', 'expires_at'], unique=False)

    op.create_table('credit_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('attendee_id', sa.Integer(), nullable=False),
    sa.Column('redemption_id', sa.Integer(), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('instalments', sa.Integer(), nullable=False),
    sa.Column('interval_minutes', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('score_detail', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('closed_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_op_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.CheckConstraint("state IN ('open', 'paid', 'closed')", name=op.f('ck_credit_plan_state')),
    sa.CheckConstraint('instalments >= 1', name=op.f('ck_credit_plan_instalments_positive')),
    sa.CheckConstraint('interval_minutes > 0', name=op.f('ck_credit_plan_interval_positive')),
    sa.CheckConstraint('price > 0', name=op.f('ck_credit_plan_price_positive')),
    sa.ForeignKeyConstraint(['attendee_id'], ['attendee.id'], name=op.f('fk_credit_plan_attendee_id_attendee')),
    sa.ForeignKeyConstraint(['op_id'], ['operation.op_id'], name=op.f('fk_credit_plan_op_id_operation')),
    sa.ForeignKeyConstraint(['redemption_id'], ['redemption.id'], name=op.f('fk_credit_plan_redemption_id_redemption')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_plan')),
    sa.UniqueConstraint('op_id', name=op.f('uq_credit_plan_op_id')),
    sa.UniqueConstraint('redemption_id', name=op.f('uq_credit_plan_redemption_id'))
    )
    with op.batch_alter_table('credit_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_plan_attendee_id'), ['attendee_id'], unique=False)

    op.create_table('instalment',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('due_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('overdue_since', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('written_off_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_instalment_amount_positive')),
    sa.CheckConstraint('number >= 1', name=op.f('ck_instalment_number_positive')),
    sa.ForeignKeyConstraint(['plan_id'], ['credit_plan.id'], name=op.f('fk_instalment_plan_id_credit_plan')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfer.id'], name=op.f('fk_instalment_transfer_id_transfer')),
    sa.PrimaryKeyConstraint('plan_id', 'number', name=op.f('pk_instalment'))
    )
    with op.batch_alter_table('instalment', schema=None) as batch_op:
        batch_op.create_index('ix_instalment_due_at', ['due_at'], unique=False)

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_due_at', store.types.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('prize', schema=None) as batch_op:
        batch_op.add_column(sa.Column('taken', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('rack', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('out_of_service_at', store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('out_of_service_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=''))

    with op.batch_alter_table('redemption', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('drop_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
        batch_op.add_column(sa.Column('returned_at', store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_redemption_drop_id'), ['drop_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_redemption_drop_id_prize_drop'), 'prize_drop', ['drop_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('redemption', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_redemption_drop_id_prize_drop'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_redemption_drop_id'))
        batch_op.drop_column('returned_at')
        batch_op.drop_column('staff')
        batch_op.drop_column('station')
        batch_op.drop_column('drop_id')
        batch_op.drop_column('price')

    with op.batch_alter_table('rack', schema=None) as batch_op:
        batch_op.drop_column('out_of_service_reason')
        batch_op.drop_column('out_of_service_at')
        batch_op.drop_column('position')

    with op.batch_alter_table('prize', schema=None) as batch_op:
        batch_op.drop_column('taken')

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('next_due_at')

    with op.batch_alter_table('instalment', schema=None) as batch_op:
        batch_op.drop_index('ix_instalment_due_at')

    op.drop_table('instalment')
    with op.batch_alter_table('credit_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_plan_attendee_id'))

    op.drop_table('credit_plan')
    with op.batch_alter_table('hold', schema=None) as batch_op:
        batch_op.drop_index('ix_hold_drop_id_expires_at')
        batch_op.drop_index(batch_op.f('ix_hold_attendee_id'))

    op.drop_table('hold')
    with op.batch_alter_table('prize_drop', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prize_drop_prize_id'))

    op.drop_table('prize_drop')
    with op.batch_alter_table('coat', schema=None) as batch_op:
        batch_op.drop_index('uq_coat_held_paper_tag', sqlite_where=sa.text("state = 'in' AND paper_tag IS NOT NULL"), postgresql_where=sa.text("state = 'in' AND paper_tag IS NOT NULL"))
        batch_op.drop_index('uq_coat_held_hanger', sqlite_where=sa.text("state = 'in' AND hanger IS NOT NULL"), postgresql_where=sa.text("state = 'in' AND hanger IS NOT NULL"))
        batch_op.drop_index('uq_coat_held_attendee', sqlite_where=sa.text("state = 'in'"), postgresql_where=sa.text("state = 'in'"))
        batch_op.drop_index(batch_op.f('ix_coat_rack_id'))
        batch_op.drop_index(batch_op.f('ix_coat_attendee_id'))

    op.drop_table('coat')
