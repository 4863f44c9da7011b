"""``tapdesk bench counter``: what one action at the prize counter costs.

On a throw-away SQLite database with the demo event, ``people`` attendees with bands and points,
``transfers`` earlier transfers in the ledger (the hubs' day) and a few thousand redemptions
already made:

- ``redeem_p50_ms`` / ``redeem_p99_ms``: :func:`store.counter.redeem` (take the unit, debit the
  points, per-person check, record) as one counter runs it. Target p99 < 5 ms.
- ``award_reference_p99_ms``: a plain hub award timed in the same run (the ledger's own cost;
  on a busy machine compare the two rather than the absolute figures).
- ``catalogue_p99_ms``: the tap (:func:`store.counter.catalogue_for_band`).
- ``hold_confirm_p99_ms``: a drop unit held and then confirmed (two operations).
- ``return_p99_ms``: a return (correcting transfer, unit back).
- ``violations``: what :meth:`Store.verify` finds afterwards (0 expected).

With a PostgreSQL ``--db`` the same figures follow with a ``pg_`` prefix (a schema of its own,
dropped afterwards; no earlier transfers).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, make_url, select, update

from store import counter
from store.bench.common import percentile, scratch_database, seed_people
from store.bench.ledger import _fill_ledger
from store.context import Actor
from store.demo.build import DEMO_EVENT
from store.errors import Refused
from store.eventfile import load_event
from store.ledger import account_t, system_account_id, transfer_t
from store.models import Operation, Prize
from store.points import award
from store.service import Store

__all__ = ["run_counter_bench"]

SEED = 20261127
GRANT = 100_000
"""Points each bench attendee gets, so that price never refuses a timed redemption."""


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _grant(store: Store, points: int) -> None:
    """Give every attendee ``points`` from an issuer account, as consistent transfers."""
    operation_t = Operation.__table__  # type: ignore[attr-defined]
    with store.db.write() as conn:
        now = store.db.now(conn)
        conn.execute(
            insert(operation_t).values(
                op_id="bench-grant",
                kind="seed",
                station="bench-seed",
                staff=None,
                correlation_id="bench-grant",
                created_at=now,
                result="",
            )
        )
        issuer = system_account_id(conn, "issuer", "bench-grant")
        accounts = [
            row[0]
            for row in conn.execute(select(account_t.c.id).where(account_t.c.kind == "attendee"))
        ]
        conn.execute(
            insert(transfer_t),
            [
                {
                    "op_id": "bench-grant",
                    "seq": n,
                    "debit_account_id": issuer,
                    "credit_account_id": account,
                    "amount": points,
                    "code": "bonus",
                    "reference": "",
                    "station": "bench-seed",
                    "staff": None,
                    "correlation_id": "bench-grant",
                    "created_at": now,
                }
                for n, account in enumerate(accounts)
            ],
        )
        conn.execute(
            update(account_t)
            .where(account_t.c.kind == "attendee")
            .values(balance=account_t.c.balance + points)
        )
        conn.execute(
            update(account_t)
            .where(account_t.c.id == issuer)
            .values(balance=account_t.c.balance - points * len(accounts))
        )


def _figures(
    store: Store, uids: list[str], redemptions: int, rng: random.Random, prefix: str
) -> dict[str, Any]:
    prize_t = Prize.__table__  # type: ignore[attr-defined]
    with store.db.write() as conn:
        # Plenty of stock and no per-person limit: every timed redemption is a sale.
        conn.execute(update(prize_t).values(supplied=10_000_000, per_person=1_000_000))
    shown = counter.catalogue(store)
    prizes = [p.id for tier in shown.tiers for p in tier.prizes]
    weights = [8 if p.tier == 1 else 4 if p.tier == 2 else 1 for t in shown.tiers for p in t.prizes]
    attendee_ids = [counter.catalogue_for_band(store, uid).attendee.id for uid in uids[:400]]  # type: ignore[union-attr]
    station = Actor(station="bench-counter-1", staff="bench")

    def one_redeem() -> Any:
        return counter.redeem(
            store, station.next_action(), rng.choice(attendee_ids), rng.choices(prizes, weights)[0]
        )

    for _ in range(min(2000, redemptions)):  # the day so far
        one_redeem()
    store.db.checkpoint()
    timings: list[float] = []
    sold: list[int] = []
    for n in range(redemptions):
        if n % 100 == 0:
            store.db.checkpoint()  # what the station's heartbeat does every few seconds
        started = time.perf_counter()
        sold.append(one_redeem().redemption_id)
        timings.append((time.perf_counter() - started) * 1000)
    # The same station's plain award in the same run: on a shared machine the ratio is what counts.
    awards = [
        _timed(lambda: award(store, station.next_action(), rng.choice(uids), 1, "bonus"))
        for _ in range(min(500, redemptions))
    ]
    taps = [_timed(lambda: counter.catalogue_for_band(store, rng.choice(uids))) for _ in range(300)]
    organiser = Actor(station="bench-cli", staff="bench")
    drop_line = counter.start_drop(store, organiser, prizes[-1], 1_000_000, 60, price=1)
    holds: list[float] = []
    for _ in range(300):
        who = rng.choice(attendee_ids)

        def hold_and_confirm(who: int = who) -> None:
            try:
                hold = counter.place_hold(store, station.next_action(), drop_line.id, who)
                counter.confirm_hold(store, station.next_action(), hold.hold_id)
            except Refused:
                pass

        holds.append(_timed(hold_and_confirm))
    returns = [
        _timed(lambda r=r: counter.return_prize(store, station.next_action(), r))
        for r in rng.sample(sold, min(300, len(sold)))
    ]
    return {
        f"{prefix}redeem_p50_ms": round(percentile(timings, 50), 3),
        f"{prefix}redeem_p99_ms": round(percentile(timings, 99), 3),
        f"{prefix}award_reference_p50_ms": round(percentile(awards, 50), 3),
        f"{prefix}award_reference_p99_ms": round(percentile(awards, 99), 3),
        f"{prefix}catalogue_p99_ms": round(percentile(taps, 99), 3),
        f"{prefix}hold_confirm_p99_ms": round(percentile(holds, 99), 3),
        f"{prefix}return_p99_ms": round(percentile(returns, 99), 3),
    }


def run_counter_bench(
    pg_url: str | None = None,
    *,
    redemptions: int = 2000,
    people: int = 2000,
    transfers: int = 300_000,
) -> dict[str, Any]:
    """Run the counter benchmark (SQLite, and PostgreSQL when ``pg_url`` is given)."""
    rng = random.Random(SEED)
    figures: dict[str, Any] = {"people": people, "transfers": transfers}
    violations = 0
    with scratch_database(None, "counter") as url:
        store = Store.open(url, migrate=False)
        try:
            load_event(store, DEMO_EVENT, Actor(station="bench-setup", staff="bench"))
            uids = seed_people(store, people)
        finally:
            store.close()
        # The hubs' day: the fill sets balances from its own transfers, so the grant comes after.
        _fill_ledger(Path(make_url(url).database or ""), transfers, people)
        store = Store.open(url, migrate=False)
        try:
            _grant(store, GRANT)
            figures.update(_figures(store, uids, redemptions, rng, ""))
            violations += len(store.verify().violations)
        finally:
            store.close()
    if pg_url and make_url(pg_url).get_backend_name() == "postgresql":
        with scratch_database(pg_url, "counter") as url:
            store = Store.open(url, migrate=False)
            try:
                load_event(store, DEMO_EVENT, Actor(station="bench-setup", staff="bench"))
                uids = seed_people(store, people)
                _grant(store, GRANT)
                figures.update(_figures(store, uids, redemptions, rng, "pg_"))
                violations += len(store.verify().violations)
            finally:
                store.close()
    figures["violations"] = violations
    return figures
