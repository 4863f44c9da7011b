"""Shared fixtures: a migrated database per test, on SQLite and (when configured) PostgreSQL.

Store operations commit themselves, so tests cannot isolate by rollback: each SQLite test gets a
copy of a database migrated once per session; PostgreSQL tests share one schema per test
session (per xdist worker) and truncate every table between tests.
"""

from __future__ import annotations

import os

# Textual reads this once at import: set it before anything imports textual.
os.environ["TEXTUAL_ANIMATIONS"] = "none"
os.environ.setdefault("TAPDESK_LANG", "en")

import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from store.engine import make_database
from store.ledger import forget_cached_accounts
from store.migrate import upgrade
from store.models import metadata
from store.service import Store

PG_URL = os.environ.get("TAPDESK_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test session."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    db = make_database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    # Fold the WAL into the main file so that a plain file copy holds the whole schema.
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database for one test."""
    path = tmp_path / "tapdesk.sqlite"
    shutil.copyfile(sqlite_template, path)
    forget_cached_accounts()
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL schema of its own for this test session, migrated once."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TAPDESK_TEST_DATABASE_URL (CI sets it)")
    schema = f"tapdesk_test_{uuid.uuid4().hex[:10]}"
    admin = make_database(PG_URL)
    with admin.write() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    db = make_database(url)
    upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        with admin.write() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_schema_url: str) -> str:
    """The session's PostgreSQL schema, emptied for this test."""
    db = make_database(pg_schema_url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with db.write() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.dispose()
    forget_cached_accounts()
    return pg_schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite and on PostgreSQL (skipped without a server)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store on a fresh database (both engines)."""
    opened = Store.open(db_url, migrate=False)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """An open store on a fresh SQLite database."""
    opened = Store.open(sqlite_url, migrate=False)
    try:
        yield opened
    finally:
        opened.close()
