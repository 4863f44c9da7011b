"""Seeing other stations' changes: a cheap, robust poll of the ledger's change sequence.

Every committed operation advances its station's ``change_seq`` (:meth:`Store.advance`); the sum
over all stations grows whenever anything that a screen shows was committed anywhere.

- PostgreSQL: the poll reads that sum (one indexed aggregate over a handful of rows). NOTIFY is
  not used: it is lost while the connection is down, and a poll every half second after a
  reconnect catches up by itself.
- SQLite: several processes may share the file. A dedicated connection asks
  ``PRAGMA data_version``, which changes whenever *another* connection (another process, or this
  station's own pool) committed — a read of the WAL index, no query. Only then is the sum read,
  so an idle station costs nothing and a heartbeat (which commits but does not advance the
  sequence) does not refresh screens.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

from sqlalchemy import make_url

from store.service import Store

__all__ = ["ChangeWatcher"]

log = logging.getLogger("tapdesk.store")


class ChangeWatcher:
    """Tells whether anything was committed since the last :meth:`poll`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seq: int | None = None
        self._version: int | None = None
        self._raw: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._sqlite_path: str | None = None
        if store.db.dialect == "sqlite":
            path = make_url(store.db.engine.url).database
            if path and path != ":memory:":
                self._sqlite_path = path

    def _data_version(self) -> int | None:
        if self._sqlite_path is None:
            return None
        try:
            if self._raw is None:
                self._raw = sqlite3.connect(
                    self._sqlite_path, timeout=1.0, isolation_level=None, check_same_thread=False
                )
            return int(self._raw.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            log.debug("data_version failed", exc_info=True)
            self._close_raw()
            return None

    def poll(self) -> int | None:
        """The new change sequence when it moved since the last poll, else None.

        The first poll only records where things stand. Raises
        :class:`~store.errors.DatabaseUnavailable` while the database does not answer; the next
        successful poll then reports whatever changed meanwhile.
        """
        with self._lock:
            version = self._data_version()
            if version is not None and version == self._version and self._seq is not None:
                return None  # nobody committed anything since the last look
            seq = self.store.change_seq()
            self._version = version
            previous, self._seq = self._seq, seq
            if previous is None or seq == previous:
                return None
            return seq

    def _close_raw(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(sqlite3.Error):
                self._raw.close()
            self._raw = None

    def close(self) -> None:
        """Close the dedicated connection."""
        with self._lock:
            self._close_raw()
