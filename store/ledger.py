"""The points ledger: accounts, immutable transfers and the guarded balance update.

Points are money-like. A transfer is an immutable row; the balances move in the same
transaction through guarded UPDATEs checked by their row count; a mistake is undone by a
correcting transfer. No code path updates or deletes a transfer.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Table, bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store.context import Actor
from store.errors import Refused
from store.i18n import _
from store.models import Account, Transfer

__all__ = [
    "SYSTEM_KINDS",
    "Posted",
    "attendee_account_id",
    "balance_of",
    "insert_ignore",
    "post_transfer",
    "system_account_id",
]

account_t: Table = Account.__table__  # type: ignore[attr-defined]
transfer_t: Table = Transfer.__table__  # type: ignore[attr-defined]

#: System accounts, each split into one sub-account per station so that no single row is
#: written by every operation of every station.
SYSTEM_KINDS = ("issuer", "counter", "credit")


def insert_ignore(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that does nothing on a unique conflict, on either engine."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


_system_cache: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], int]] = (
    weakref.WeakKeyDictionary()
)


def system_account_id(conn: Connection, kind: str, station: str) -> int:
    """The id of ``station``'s sub-account of the system account ``kind`` (made on first use)."""
    # Kept per engine object (weakly): rendering the URL for a key costs more than the lookup.
    per_engine = _system_cache.setdefault(conn.engine, {})
    key = (kind, station)
    cached = per_engine.get(key)
    if cached is not None:
        return cached
    query = select(account_t.c.id).where(account_t.c.kind == kind, account_t.c.station == station)
    found = conn.execute(query).scalar()
    if found is not None:
        per_engine[key] = int(found)
        return int(found)
    # Made inside the caller's transaction, which may still roll back: not cached until a later
    # call finds it committed.
    conn.execute(
        insert_ignore(conn, account_t).values(kind=kind, station=station, balance=0, floor=None)
    )
    return int(conn.execute(query).scalar_one())


def forget_cached_accounts() -> None:
    """Drop cached system-account ids (tests that recreate a database call this)."""
    _system_cache.clear()


def attendee_account_id(conn: Connection, attendee_id: int) -> int:
    """The account of an attendee (every attendee has exactly one)."""
    return int(
        conn.execute(
            select(account_t.c.id).where(account_t.c.attendee_id == attendee_id)
        ).scalar_one()
    )


def balance_of(conn: Connection, account_id: int) -> int:
    """The balance kept on the account row."""
    return int(
        conn.execute(select(account_t.c.balance).where(account_t.c.id == account_id)).scalar_one()
    )


#: Both balances in one statement. The guard applies to the debited row only: when it fails,
#: the statement returns just the credited row and the caller's transaction is rolled back.
_MOVE = (
    update(account_t)
    .where(
        account_t.c.id.in_([bindparam("p_debit"), bindparam("p_credit")]),
        (account_t.c.id == bindparam("p_credit"))
        | account_t.c.floor.is_(None)
        | (account_t.c.balance - bindparam("p_amount") >= account_t.c.floor),
    )
    .values(
        balance=account_t.c.balance
        + case(
            (account_t.c.id == bindparam("p_credit"), bindparam("p_amount")),
            else_=-bindparam("p_amount"),
        )
    )
    .returning(account_t.c.id, account_t.c.balance)
)
_INSERT_TRANSFER = insert(transfer_t).returning(transfer_t.c.id)


@dataclass(frozen=True, slots=True)
class Posted:
    """A transfer just written, with both accounts' new balances."""

    transfer_id: int
    debit_balance: int
    credit_balance: int


def post_transfer(
    conn: Connection,
    actor: Actor,
    now: datetime,
    *,
    debit: int,
    credit: int,
    amount: int,
    code: str,
    reference: str = "",
    seq: int = 0,
    corrects: int | None = None,
) -> Posted:
    """Move ``amount`` points from ``debit`` to ``credit`` inside the caller's transaction.

    The debit is a guarded UPDATE: it only matches while the balance stays at or above the
    account's floor, so two stations spending the same points cannot both succeed. Raises
    :class:`Refused` ("not enough points") when the guard does not match.
    """
    if amount <= 0:
        raise ValueError("a transfer moves a positive amount")
    # One UPDATE moves both balances; the database locks the two rows in index order, so two
    # opposite transfers cannot deadlock.
    moved = conn.execute(_MOVE, {"p_debit": debit, "p_credit": credit, "p_amount": amount})
    balances = {int(row[0]): int(row[1]) for row in moved}
    if debit not in balances:
        raise Refused(_("Not enough points."), reason="insufficient_points")
    if credit not in balances:
        raise LookupError(f"account {credit} does not exist")
    transfer_id = conn.execute(
        _INSERT_TRANSFER,
        {
            "op_id": actor.op_id,
            "seq": seq,
            "debit_account_id": debit,
            "credit_account_id": credit,
            "amount": amount,
            "code": code,
            "reference": reference,
            "station": actor.station,
            "staff": actor.staff,
            "correlation_id": actor.correlation_id,
            "created_at": now,
            "corrects_id": corrects,
        },
    ).scalar_one()
    return Posted(int(transfer_id), balances[debit], balances[credit])
