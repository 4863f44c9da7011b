"""fallback function for one-statement operations (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 06:10:00

A one-statement operation runs without BEGIN and COMMIT (one round trip instead of three): it
must then be all-or-nothing by itself. When it finds, after writing something, that it cannot
finish (another station won a race a moment ago), it calls ``tapdesk_fallback()``, whose error
undoes the whole statement; the station then does the operation step by step.
"""
from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tapdesk_fallback() RETURNS text
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION USING
                ERRCODE = 'TD001',
                MESSAGE = 'tapdesk: another station changed the same rows a moment ago; '
                          'the operation is redone step by step';
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS tapdesk_fallback()")
