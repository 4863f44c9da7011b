"""A station's durable outbox: hub awards made while the database was unreachable.

A hub keeps working when the conference Wi-Fi drops: an award that cannot reach the database is
kept in a small SQLite file of this station's own (``synchronous=FULL``), with its operation id
and the whole request, and shown as "pending". When the database answers again,
:func:`replay` sends each one with the SAME operation id — so an award that had in fact landed
(the connection broke after COMMIT) is not applied again — through the same limits as any award,
judged then. A refusal at replay (the limit was reached meanwhile, the band was blocked) is kept
with its reason and listed on that station.

Only hub awards are kept. Anything that spends or assigns (a redemption, a hold, a hanger, a
bind, a check-in) is never queued: it says plainly that it was not done.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store import hub
from store.context import Actor
from store.errors import DatabaseUnavailable, DomainError, Refused
from store.service import Store

__all__ = ["AWARD_KINDS", "Outbox", "OutboxEntry", "ReplayReport", "replay", "send_award"]

log = logging.getLogger("tapdesk.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    op_id TEXT PRIMARY KEY,
    correlation_id TEXT NOT NULL,
    station TEXT NOT NULL,
    staff TEXT,
    staff_id TEXT,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    settled_at TEXT
)
"""


def _activity(store: Store, actor: Actor, request: dict[str, Any]) -> object:
    return hub.award_activity(store, actor, request["uid"], request["key"])


def _quiz(store: Store, actor: Actor, request: dict[str, Any]) -> object:
    return hub.award_quiz(store, actor, request["uid"], request["key"])


def _social(store: Store, actor: Actor, request: dict[str, Any]) -> object:
    return hub.award_social(store, actor, request["uid"])


def _cool(store: Store, actor: Actor, request: dict[str, Any]) -> object:
    return hub.award_cool(
        store, actor, request["uid"], int(request["points"]), request.get("hub_id", "")
    )


#: The award kinds an outbox may hold, and how each is sent. Nothing that spends or assigns.
AWARD_KINDS: dict[str, Callable[[Store, Actor, dict[str, Any]], object]] = {
    "activity": _activity,
    "quiz": _quiz,
    "social": _social,
    "cool": _cool,
}


def send_award(store: Store, actor: Actor, kind: str, request: dict[str, Any]) -> object:
    """Make one hub award of ``kind`` (the same call the hub screen and the replay use)."""
    return AWARD_KINDS[kind](store, actor, request)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One kept award."""

    op_id: str
    kind: str
    request: dict[str, Any]
    label: str
    created_at: datetime
    state: str
    """"pending", "sent" or "refused"."""
    reason: str
    message: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What one replay did."""

    sent: int
    refused: int
    pending: int
    """Still waiting (the database went away again)."""


class Outbox:
    """The outbox file of one station. Safe to use from several threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    def add(self, actor: Actor, kind: str, request: dict[str, Any], label: str = "") -> None:
        """Keep one award (its operation id decides: adding the same one twice keeps one)."""
        if kind not in AWARD_KINDS:
            raise ValueError(f"only hub awards are kept in the outbox, not {kind!r}")
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO outbox (op_id, correlation_id, station, staff, staff_id, "
                "kind, request, label, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    actor.op_id,
                    actor.correlation_id,
                    actor.station,
                    actor.staff,
                    actor.staff_id,
                    kind,
                    json.dumps(request, ensure_ascii=False),
                    label,
                    datetime.now(UTC).isoformat(),
                ),
            )

    def entries(self, state: str | None = None) -> tuple[OutboxEntry, ...]:
        """Kept awards, oldest first (all, or those in ``state``)."""
        query = "SELECT * FROM outbox"
        args: tuple[str, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            args = (state,)
        with self._lock:
            cursor = self._conn.execute(query + " ORDER BY created_at, rowid", args)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return tuple(
            OutboxEntry(
                op_id=r["op_id"],
                kind=r["kind"],
                request=json.loads(r["request"]),
                label=r["label"],
                created_at=datetime.fromisoformat(r["created_at"]),
                state=r["state"],
                reason=r["reason"],
                message=r["message"],
                actor=Actor(
                    station=r["station"],
                    staff=r["staff"],
                    correlation_id=r["correlation_id"],
                    op_id=r["op_id"],
                    staff_id=r["staff_id"],
                ),
            )
            for r in rows
        )

    def pending_count(self) -> int:
        """How many awards wait to be sent."""
        with self._lock:
            row = self._conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'")
            return int(row.fetchone()[0])

    def settle(self, op_id: str, state: str, reason: str = "", message: str = "") -> None:
        """Mark one award sent or refused (only while it is still pending)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, reason = ?, message = ?, settled_at = ? "
                "WHERE op_id = ? AND state = 'pending'",
                (state, reason, message, datetime.now(UTC).isoformat(), op_id),
            )


def replay(
    store: Store,
    outbox: Outbox,
    on_result: Callable[[OutboxEntry, object | None, DomainError | None], None] | None = None,
) -> ReplayReport:
    """Send every pending award, oldest first, each with its own operation id.

    Stops at the first one the database does not answer for (the rest wait for the next
    replay). A landed award — even one whose first attempt did land before the connection
    broke — is marked sent; a refusal is kept with its reason and message.
    """
    sent = refused = 0
    for entry in outbox.entries("pending"):
        try:
            result = send_award(store, entry.actor, entry.kind, entry.request)
        except DatabaseUnavailable:
            log.info("outbox replay paused: database unreachable")
            break
        except Refused as refusal:
            outbox.settle(entry.op_id, "refused", refusal.reason, refusal.message)
            refused += 1
            if on_result:
                on_result(entry, None, refusal)
            continue
        except DomainError as error:
            outbox.settle(entry.op_id, "refused", type(error).__name__, error.message)
            refused += 1
            if on_result:
                on_result(entry, None, error)
            continue
        outbox.settle(entry.op_id, "sent")
        sent += 1
        log.info("outbox award sent", extra={"op_id": entry.op_id, "kind": entry.kind})
        if on_result:
            on_result(entry, result, None)
    return ReplayReport(sent=sent, refused=refused, pending=outbox.pending_count())
