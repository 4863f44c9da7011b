"""event file: stages, hubs, activities, talks, quiz questions, prizes, colours, racks, staff

Every table is keyed by the event file's own stable ids and keeps inactive rows (never deleted).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:45:32.337235
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import sqlmodel
import store.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('colour_group',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name_ru', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('hex', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('fields', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_colour_group'))
    )
    op.create_table('hub',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('tags', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub'))
    )
    op.create_table('prize',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('supplied', sa.Integer(), nullable=False),
    sa.Column('per_person', sa.Integer(), nullable=False),
    sa.Column('pay_in_four', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('per_person >= 1', name=op.f('ck_prize_per_person_positive')),
    sa.CheckConstraint('price > 0', name=op.f('ck_prize_price_positive')),
    sa.CheckConstraint('supplied >= 0', name=op.f('ck_prize_supplied_not_negative')),
    sa.CheckConstraint('tier >= 1', name=op.f('ck_prize_tier_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prize'))
    )
    op.create_table('rack',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('capacity > 0', name=op.f('ck_rack_capacity_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rack'))
    )
    op.create_table('staff_member',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('roles', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('hubs', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('pin_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('band_uid', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('attendee_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('pin_hash IS NOT NULL OR band_uid IS NOT NULL', name=op.f('ck_staff_member_can_sign_in')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_member'))
    )
    with op.batch_alter_table('staff_member', schema=None) as batch_op:
        batch_op.create_index('uq_staff_member_active_band_uid', ['band_uid'], unique=True, sqlite_where=sa.text('active AND band_uid IS NOT NULL'), postgresql_where=sa.text('active AND band_uid IS NOT NULL'))

    op.create_table('stage',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage'))
    )
    op.create_table('activity',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hub_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('max_per_attendee', sa.Integer(), nullable=True),
    sa.Column('cooldown_minutes', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cooldown_minutes >= 0', name=op.f('ck_activity_cooldown_not_negative')),
    sa.CheckConstraint('max_per_attendee IS NULL OR max_per_attendee >= 1', name=op.f('ck_activity_max_per_attendee_positive')),
    sa.CheckConstraint('points > 0', name=op.f('ck_activity_points_positive')),
    sa.ForeignKeyConstraint(['hub_id'], ['hub.id'], name=op.f('fk_activity_hub_id_hub')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_hub_id'), ['hub_id'], unique=False)

    op.create_table('talk',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('stage_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('speaker', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('starts_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tags', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_talk_ends_after_start')),
    sa.ForeignKeyConstraint(['stage_id'], ['stage.id'], name=op.f('fk_talk_stage_id_stage')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_talk'))
    )
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_talk_stage_id'), ['stage_id'], unique=False)

    op.create_table('quiz_question',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('talk_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_quiz_question_points_positive')),
    sa.ForeignKeyConstraint(['talk_id'], ['talk.id'], name=op.f('fk_quiz_question_talk_id_talk')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_question'))
    )
    with op.batch_alter_table('quiz_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_question_talk_id'), ['talk_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('quiz_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_question_talk_id'))

    op.drop_table('quiz_question')
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_talk_stage_id'))

    op.drop_table('talk')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_hub_id'))

    op.drop_table('activity')
    op.drop_table('stage')
    with op.batch_alter_table('staff_member', schema=None) as batch_op:
        batch_op.drop_index('uq_staff_member_active_band_uid', sqlite_where=sa.text('active AND band_uid IS NOT NULL'), postgresql_where=sa.text('active AND band_uid IS NOT NULL'))

    op.drop_table('staff_member')
    op.drop_table('rack')
    op.drop_table('prize')
    op.drop_table('hub')
    op.drop_table('colour_group')
