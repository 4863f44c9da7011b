"""Test data written straight into the tables (the store's own import arrives with the desk)."""

from __future__ import annotations

import hashlib

from sqlalchemy import insert, select

from store.models import Account, Attendee, Band
from store.search import index_attendees
from store.service import Store


def add_attendee(
    store: Store,
    name: str = "Иван Петров",
    *,
    band_uid: str | None = None,
    balance: int = 0,
    field: str = "development",
    colour: str | None = "blue",
    code: str | None = None,
) -> int:
    """An attendee with an account (and a bound active band if ``band_uid``); returns the id."""
    # Derived from the name so that snapshots are stable; pass ``code`` for namesakes.
    code = code or hashlib.sha1(name.encode()).hexdigest()[:10].upper()
    with store.db.write() as conn:
        now = store.db.now(conn)
        attendee_id = conn.execute(
            insert(Attendee.__table__).values(  # type: ignore[attr-defined]
                code=code,
                name=name,
                email=f"{code.lower()}@example.test",
                company="Test Co",
                field=field,
                tags="",
                registered_via="site",
                colour=colour,
                active=True,
                created_at=now,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(Account.__table__).values(  # type: ignore[attr-defined]
                kind="attendee", attendee_id=attendee_id, balance=0, floor=0
            )
        )
        # Search keys too, so that tests find people by name as the desk does.
        index_attendees(
            conn, [(int(attendee_id), name, f"{code.lower()}@example.test", "Test Co", code)]
        )
        if band_uid:
            conn.execute(
                insert(Band.__table__).values(  # type: ignore[attr-defined]
                    uid=band_uid,
                    attendee_id=attendee_id,
                    state="active",
                    state_reason="",
                    state_at=now,
                    bound_at=now,
                )
            )
    return int(attendee_id)


def account_of(store: Store, attendee_id: int) -> int:
    """The attendee's account id."""
    with store.db.read() as conn:
        return int(
            conn.execute(
                select(Account.__table__.c.id).where(  # type: ignore[attr-defined]
                    Account.__table__.c.attendee_id == attendee_id  # type: ignore[attr-defined]
                )
            ).scalar_one()
        )


def attendee_id_by_name(store: Store, name: str) -> int:
    """The id of the (only) attendee called ``name``."""
    table = Attendee.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return int(conn.execute(select(table.c.id).where(table.c.name == name)).scalar_one())
