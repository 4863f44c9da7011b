"""Per-station preferences kept in the database (they follow the station, not the laptop user)."""

from __future__ import annotations

import json

from sqlalchemy import Table, select, update

from store.ledger import insert_ignore
from store.models import Station
from store.service import Store

__all__ = ["preferences", "save_preferences"]

station_t: Table = Station.__table__  # type: ignore[attr-defined]


def preferences(store: Store, station: str) -> dict[str, str]:
    """What this station remembered (its hub, its chosen award…); empty when nothing yet."""
    with store.db.read() as conn:
        raw = conn.execute(
            select(station_t.c.preferences).where(station_t.c.name == station)
        ).scalar()
    try:
        loaded = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def save_preferences(store: Store, station: str, values: dict[str, str]) -> None:
    """Merge ``values`` into this station's preferences."""
    with store.db.write() as conn:
        conn.execute(
            insert_ignore(conn, station_t).values(name=station, reader_state="", change_seq=0)
        )
        raw = conn.execute(
            select(station_t.c.preferences).where(station_t.c.name == station)
        ).scalar()
        current = json.loads(raw) if raw else {}
        current.update(values)
        conn.execute(
            update(station_t)
            .where(station_t.c.name == station)
            .values(preferences=json.dumps(current, ensure_ascii=False))
        )
