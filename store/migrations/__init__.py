"""Alembic migrations of the tapdesk schema (applied by ``tapdesk db upgrade``)."""
