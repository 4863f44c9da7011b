"""Schema migrations, applied under a lock so that two stations starting together agree.

``upgrade`` runs on first start and from ``tapdesk db upgrade``. A database stamped with a
revision this tapdesk does not know was made by a newer version: it is refused, never altered.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from store.engine import Database
from store.errors import DatabaseTooNew
from store.i18n import _

__all__ = ["current_revision", "head_revision", "upgrade"]

log = logging.getLogger("tapdesk.store")

#: Key of the PostgreSQL advisory lock held while migrating ("tapdesk" in ASCII, as an int).
ADVISORY_LOCK_KEY = 0x74617064657368


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return cfg


def head_revision() -> str:
    """The newest revision this tapdesk knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is stamped with, or None for an empty database."""
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _refuse_newer(conn: Connection) -> None:
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None:
        return
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if revision not in known:
        raise DatabaseTooNew(
            _(
                "This database was made by a newer tapdesk (schema {revision}). It was not "
                "changed: update tapdesk on this laptop."
            ).format(revision=revision)
        )


def upgrade(db: Database) -> bool:
    """Bring the schema to the newest revision. Returns True if anything was applied."""
    cfg = _config()
    with db.write() as conn:
        # SQLite: BEGIN IMMEDIATE already holds the database's write lock for this transaction,
        # so a second station waits here and then finds the schema up to date. PostgreSQL: an
        # advisory lock, released at the end of the transaction.
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        _refuse_newer(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        if before == head_revision():
            return False
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        log.info("schema upgraded", extra={"from_revision": before, "to_revision": head_revision()})
        return True
