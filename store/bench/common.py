"""What every benchmark shares: throw-away databases, seeding and percentiles."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, make_url, select, text

from store.engine import make_database
from store.ledger import account_t, forget_cached_accounts
from store.models import Attendee, Band
from store.service import Store

__all__ = ["percentile", "scratch_database", "seed_people"]


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``; 0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@contextlib.contextmanager
def scratch_database(base_url: str | None, tag: str) -> Iterator[str]:
    """A migrated, empty database for one benchmark, removed afterwards.

    SQLite (``base_url`` None or sqlite): a file in a temporary directory. PostgreSQL: a schema of
    its own in that database, created and dropped here, so the event's data is never touched.
    """
    forget_cached_accounts()
    if base_url is None or make_url(base_url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"tapdesk-bench-{tag}-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
            Store.open(url).close()
            yield url
        return
    schema = f"tapdesk_bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin = make_database(base_url)
    with admin.write() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    try:
        Store.open(url).close()
        yield url
    finally:
        with admin.write() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed_people(store: Store, count: int) -> list[str]:
    """``count`` attendees with accounts and active bands; returns their band UIDs."""
    now = datetime.now(UTC)
    uids = [f"04{n:012X}" for n in range(1, count + 1)]
    with store.db.write() as conn:
        conn.execute(
            insert(Attendee.__table__),  # type: ignore[attr-defined]
            [
                {
                    "code": f"B{n:09d}",
                    "name": f"Bench Person {n}",
                    "email": None,
                    "company": "",
                    "field": "other",
                    "tags": "",
                    "registered_via": "bench",
                    "colour": None,
                    "active": True,
                    "created_at": now,
                }
                for n in range(1, count + 1)
            ],
        )
        ids = [
            row[0]
            for row in conn.execute(
                select(Attendee.__table__.c.id).order_by(Attendee.__table__.c.id)  # type: ignore[attr-defined]
            )
        ]
        conn.execute(
            insert(account_t),
            [{"kind": "attendee", "attendee_id": i, "balance": 0, "floor": 0} for i in ids],
        )
        conn.execute(
            insert(Band.__table__),  # type: ignore[attr-defined]
            [
                {
                    "uid": uid,
                    "attendee_id": i,
                    "state": "active",
                    "state_reason": "",
                    "state_at": now,
                    "bound_at": now,
                }
                for uid, i in zip(uids, ids, strict=True)
            ],
        )
    return uids


def cpu_count() -> int:
    """Processors available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
