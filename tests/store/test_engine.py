"""The engine factory, migrations and their refusals."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from store.context import Actor
from store.engine import make_database
from store.errors import DatabaseTooNew, DatabaseUnavailable
from store.migrate import current_revision, head_revision, upgrade
from store.service import Fallback, Store


def test_sqlite_pragmas(sqlite_url: str) -> None:
    db = make_database(sqlite_url)
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    db.dispose()


def test_sqlite_writers_wait_instead_of_failing(sqlite_url: str) -> None:
    """BEGIN IMMEDIATE: a second writer waits for the first rather than getting SQLITE_BUSY."""
    db = make_database(sqlite_url)
    order: list[str] = []
    first_holds = threading.Event()

    def first() -> None:
        with db.write() as conn:
            conn.execute(
                text("INSERT INTO station (name, reader_state, change_seq) VALUES ('a', '', 0)")
            )
            first_holds.set()
            time.sleep(0.3)
            order.append("first")

    def second() -> None:
        first_holds.wait()
        with db.write() as conn:
            order.append("second")
            conn.execute(text("UPDATE station SET change_seq = 1 WHERE name = 'a'"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order == ["first", "second"]
    db.dispose()


def test_unreachable_postgres_is_one_plain_message() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/none")
    assert "Cannot reach the database" in caught.value.message
    assert "Traceback" not in caught.value.message


@pytest.mark.parametrize("url", ["not a url", "mysql://x@y/z", "oracle://a"])
def test_wrong_urls_are_refused_with_a_message(url: str) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        Store.open(url)
    assert caught.value.message


def test_migrations_apply_once(sqlite_url: str) -> None:
    db = make_database(sqlite_url)
    assert current_revision(db) == head_revision()
    assert upgrade(db) is False
    db.dispose()


def test_new_database_is_migrated_on_first_open(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'new.sqlite'}")
    assert current_revision(store.db) == head_revision()
    store.close()


def test_database_from_a_newer_tapdesk_is_refused_and_untouched(sqlite_url: str) -> None:
    db = make_database(sqlite_url)
    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(DatabaseTooNew) as caught:
        Store.open(sqlite_url)
    assert "newer tapdesk" in caught.value.message
    assert current_revision(db) == "9999_future"
    db.dispose()


def _open_and_migrate(url: str) -> str:
    store = Store.open(url)
    revision = current_revision(store.db) or ""
    store.close()
    return revision


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_two_stations_starting_together_migrate_once(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.sqlite'}"
    else:
        base = request.getfixturevalue("pg_schema_url")
        schema = f"race_{tmp_path.name[-8:].replace('-', '_')}".lower()
        admin = make_database(base)
        with admin.write() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = base.rsplit("options=", 1)[0] + f"options=-csearch_path%3D{schema}"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        revisions = pool.map(_open_and_migrate, [url] * 3)
    assert revisions == [head_revision()] * 3
    if engine == "postgresql":
        with admin.write() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migrations_match_the_models(sqlite_url: str) -> None:
    """Every table and column in store/models.py is created by a migration, and nothing else."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store.models import metadata

    db = make_database(sqlite_url)
    with db.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    db.dispose()
    assert diff == []


@pytest.mark.postgres
def test_a_dropped_connection_is_one_plain_message_then_recovers(pg_url: str) -> None:
    """The server drops the station's connection (a restart, Wi-Fi): say so, then reconnect."""
    store = Store.open(pg_url, migrate=False)
    try:
        with store.db.read() as conn:  # the station's one pooled connection
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = make_database(pg_url)
        with admin.write() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
            store.change_seq()
        assert store.change_seq() == 0  # the pool reconnected
    finally:
        store.close()


#: A statement the tests below can find again in pg_prepared_statements.
_PROBE = "SELECT CAST(:n AS integer) + 1 AS tapdesk_prepared_probe"


def _probe_prepared(conn: Any) -> int:
    """How many of this session's prepared statements are the probe."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM pg_prepared_statements "
                "WHERE statement LIKE '%tapdesk_prepared_probe%' AND name <> ''"
            )
        ).scalar()
    )


@pytest.mark.postgres
def test_a_rollback_keeps_the_sessions_prepared_statements(pg_url: str) -> None:
    """A refusal rolls back; the statements the station prepared must stay planned.

    psycopg's own rollback deallocates them all, and under load most statements were then
    planned again on every tap.
    """
    db = make_database(pg_url)
    try:
        with db.engine.connect() as conn:
            for n in range(8):  # psycopg prepares a statement on its fifth use
                conn.execute(text(_PROBE), {"n": n})
            assert _probe_prepared(conn) == 1
            conn.rollback()
            assert _probe_prepared(conn) == 1
            conn.rollback()
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_one_statement_path_that_falls_back_keeps_the_prepared_statements(pg_url: str) -> None:
    """A one-statement attempt that gives way to the step path rolls back without forgetting
    what the session prepared."""
    store = Store.open(pg_url, migrate=False)
    actor = Actor(station="desk-1", staff="Ana")
    probe = text(_PROBE)
    try:

        def warm(conn: Any) -> int:
            for n in range(8):
                conn.execute(probe, {"n": n})
            return _probe_prepared(conn)

        def give_way(conn: Any) -> None:
            conn.execute(probe, {"n": 1})
            raise Fallback

        assert store.run_one_statement(actor.next_action(), warm) == 1
        assert store.run_one_statement(actor.next_action(), give_way) is None
        assert store.run_one_statement(actor.next_action(), _probe_prepared) == 1
    finally:
        store.close()
