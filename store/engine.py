"""Engines and transactions for SQLite and PostgreSQL.

SQLite: WAL, foreign keys, ``synchronous=FULL`` (a laptop battery can die), a busy timeout, and
``BEGIN IMMEDIATE`` for every write transaction: a deferred transaction that later upgrades to a
write gets SQLITE_BUSY without waiting, which a station would show as an error.

PostgreSQL: psycopg 3 at READ COMMITTED. Guarded UPDATEs need no retry loop there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)

from store.errors import DatabaseUnavailable
from store.i18n import _

__all__ = ["Database", "describe_url", "make_database"]

log = logging.getLogger("tapdesk.store")

#: How long a SQLite writer waits for another station's write to finish.
SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE = "tapdesk_write"
#: WAL pages before SQLite checkpoints inside a commit (about 40 MB); see Database.checkpoint.
SQLITE_AUTOCHECKPOINT_PAGES = 10_000


def describe_url(url: str | URL) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level, so that SQLAlchemy's "begin" event below decides how
        # each transaction starts (the documented recipe for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = FULL")
        # Checkpoints copy the WAL into the database with fsyncs: the automatic one runs inside
        # whichever commit crosses the threshold, which puts a spike on a tap. A larger threshold
        # plus Database.checkpoint() from the station's heartbeat keeps that off the tap path.
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _plan_keeping_connection_class() -> type[Any]:
    """A psycopg connection whose rollback keeps the session's prepared statements.

    psycopg prepares a statement on the server after its fifth use, so that PostgreSQL plans it
    once instead of on every tap; planning is about half the server's work for a hub award.
    But psycopg's ``rollback()`` also deallocates every prepared statement of the session, in
    case the transaction created a table one of them refers to. Every refusal and every lost
    race rolls back, so under load most statements were planned again and again (``plans``
    close to ``calls`` in pg_stat_statements).

    PostgreSQL keeps prepared statements across a rollback (they belong to the session, not the
    transaction). tapdesk changes its schema only in migrations, and a statement whose table
    changed is analysed again by the server itself (or fails with a plain error, as a
    statement without a prepared plan would), so this rollback keeps them. It is psycopg's own
    rollback without that step; if psycopg's internals change, the normal rollback is used.
    """
    import psycopg
    from psycopg import pq

    class PlanKeepingConnection(psycopg.Connection):  # type: ignore[type-arg]
        def rollback(self) -> None:
            command = getattr(self, "_exec_command", None)
            if (
                command is None
                or getattr(self, "_num_transactions", True)  # inside transaction(): psycopg's own
                or getattr(self, "_tpc", None)
                or getattr(self, "_pipeline", None)
            ):
                super().rollback()
                return
            with self.lock:
                if self.pgconn.transaction_status == pq.TransactionStatus.IDLE:
                    return
                self.wait(command(b"ROLLBACK"))

    return PlanKeepingConnection


def _postgres_engine(url: URL) -> Engine:
    # No pool_pre_ping: it costs a round trip on every operation. A connection that died with
    # the server fails its next statement instead, which the caller reports as "unreachable".
    engine = create_engine(
        url,
        pool_size=4,
        max_overflow=4,
        connect_args={"connect_timeout": 5, "application_name": "tapdesk"},
    )
    connection_class = _plan_keeping_connection_class()

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return connection_class.connect(*cargs, **cparams)

    @event.listens_for(engine, "connect")
    def _utc(dbapi_connection: Any, _record: Any) -> None:
        # Times read straight through the driver (store/driver.py) come back in the session's
        # time zone: make it UTC whatever the server's default, as every stored time is.
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    return engine


class Database:
    """An engine plus the two ways to use it: a read and a write transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL without password."""
        return describe_url(self.engine.url)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit."""
        with self._connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction."""
        with self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except DBAPIError as exc:
            raise unavailable(self.url, exc) from exc
        try:
            with conn:
                yield conn
        except DBAPIError as exc:
            # A lost connection (server restarted, Wi-Fi gone) becomes one plain message; the
            # pool drops the dead connection, so the next call reconnects. Constraint errors
            # are left to the operation, which knows what they mean.
            if exc.connection_invalidated or (
                isinstance(exc, (OperationalError, InterfaceError))
                and not isinstance(exc, IntegrityError)
            ):
                raise unavailable(self.url, exc) from exc
            raise

    def now(self, conn: Connection) -> datetime:
        """The database's clock, as an aware UTC datetime.

        Stations' clocks differ; every stored time and every expiry comes from here.
        """
        if self.dialect == "sqlite":
            raw = conn.exec_driver_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").scalar_one()
            return datetime.fromisoformat(raw).replace(tzinfo=UTC)
        value = conn.execute(text("SELECT now()")).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    def check(self) -> None:
        """Open one connection and run a trivial query, or raise :class:`DatabaseUnavailable`."""
        try:
            with self.read() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            raise unavailable(self.url, exc) from exc

    def checkpoint(self) -> None:
        """Fold the SQLite WAL into the database without blocking writers (no-op on PostgreSQL)."""
        if self.dialect != "sqlite":
            return
        with self._connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def analyze(self) -> None:
        """Refresh the planner's statistics after a bulk load (an import, the demo, a bench).

        PostgreSQL plans a lookup from its statistics, and a station keeps a prepared plan for
        the life of its connection: planned against an empty ``band`` table, a tap would scan
        every band instead of reading one by its key. Autovacuum catches up eventually; after a
        bulk load it should not have to. SQLite: its ``ANALYZE`` serves the same purpose.
        """
        with self._connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    """A plain message for a database that cannot be reached."""
    reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0] if str(exc) else ""
    return DatabaseUnavailable(
        _("Cannot reach the database {url}: {reason}. Check --db and that the server runs.").format(
            url=url, reason=reason
        )
    )


def make_database(url: str) -> Database:
    """Build a :class:`Database` for a SQLite or PostgreSQL URL.

    Raises :class:`DatabaseUnavailable` with a plain message for a URL that cannot work.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(
            _(
                "The database URL {url!r} is not valid: use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST:PORT/NAME."
            ).format(url=url)
        ) from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            engine = _sqlite_engine(parsed)
        elif backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = _postgres_engine(parsed)
        else:
            raise DatabaseUnavailable(
                _("tapdesk works with SQLite or PostgreSQL, not {backend!r}.").format(
                    backend=backend
                )
            )
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseUnavailable(
            _("The database driver for {url} is not installed.").format(url=describe_url(parsed))
        ) from exc
    return Database(engine)
