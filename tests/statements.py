"""Every SQL statement a store sends, through SQLAlchemy and straight through the driver."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from store import driver
from store.service import Store


@contextmanager
def on_statement(store: Store, callback: Callable[[Any, str], None]) -> Iterator[None]:
    """Call ``callback(dbapi connection, SQL)`` before each statement ``store`` sends inside the
    block, through SQLAlchemy or straight through the driver (the one-statement paths)."""

    def by_sqlalchemy(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        callback(cursor.connection, statement)

    event.listen(store.db.engine, "before_cursor_execute", by_sqlalchemy)
    driver.before_execute.append(callback)
    try:
        yield
    finally:
        event.remove(store.db.engine, "before_cursor_execute", by_sqlalchemy)
        driver.before_execute.remove(callback)


@contextmanager
def sent(store: Store, *, other_threads_only: bool = False) -> Iterator[list[str]]:
    """The statements ``store`` sends inside the block (the one-statement paths included).

    ``other_threads_only``: only those sent by threads other than the main one (a race test
    whose main thread holds a transaction open while another station waits).
    """
    seen: list[str] = []

    def keep(_raw: Any, statement: str) -> None:
        if not other_threads_only or threading.current_thread() is not threading.main_thread():
            seen.append(statement.lstrip())

    with on_statement(store, keep):
        yield seen
