"""``tapdesk bench coats``: coat in and out at the coat check with 2,000 coats already in.

The coat check is filled to ``coats`` coats by band taps (as a station does), then ``ops`` rounds
each hand one coat back (by band) and take one new coat in (next free hanger), so the load stays
at ``coats``. Racks: eight of 300 hangers, so the first ones are full and a coat-in walks past
them as it does late in the morning.

- ``coat_in_p50_ms`` / ``coat_in_p99_ms``: :func:`store.coats.coat_tap` for a person with no coat;
- ``coat_out_p50_ms`` / ``coat_out_p99_ms``: :func:`store.coats.coat_out` after their band tap;
- ``violations``: what :meth:`Store.verify` finds afterwards (0 expected).

On SQLite always; on PostgreSQL too (``pg_`` figures) when ``--db`` names a PostgreSQL server.
Target: each p99 under 50 ms on SQLite.
"""

from __future__ import annotations

import random
import time
from typing import Any

from sqlalchemy import make_url

from store.bench.common import percentile, scratch_database, seed_people
from store.coats import coat_out, coat_tap
from store.context import Actor
from store.demo.build import DEMO_EVENT
from store.eventfile import RackSpec, load_event, parse_event_file
from store.service import Store

__all__ = ["run_coats_bench"]

SEED = 20261122
RACKS = 8
HANGERS = 300


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _run(url: str, coats: int, ops: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    store = Store.open(url, migrate=False)
    try:
        spec = parse_event_file(DEMO_EVENT)
        racks = [
            RackSpec(id=f"rack-{n}", name=f"Rack {chr(65 + n)}", capacity=HANGERS)
            for n in range(max(RACKS, (coats + ops) // HANGERS + 1))
        ]
        load_event(store, spec.model_copy(update={"racks": racks}), Actor(station="bench"))
        bands = seed_people(store, coats + ops)
        station = Actor(station="bench-coats-1", staff="bench")
        held: dict[str, int] = {}
        fill_started = time.perf_counter()
        for n, band in enumerate(bands[:coats]):
            if n % 200 == 0:
                store.db.checkpoint()
            held[band] = coat_tap(store, station.next_action(), band).coat_id
        fill_s = time.perf_counter() - fill_started
        waiting = list(bands[coats:])
        in_timings: list[float] = []
        out_timings: list[float] = []
        for n in range(ops):
            if n % 100 == 0:
                store.db.checkpoint()  # what the station's heartbeat does every few seconds
            band = rng.choice(list(held))
            coat_id = held.pop(band)
            out_timings.append(
                _timed(
                    lambda b=band, c=coat_id: coat_out(store, station.next_action(), c, band_uid=b)
                )
            )
            waiting.append(band)
            newcomer = waiting.pop(0)
            found: list[int] = []
            in_timings.append(
                _timed(
                    lambda b=newcomer, f=found: f.append(
                        coat_tap(store, station.next_action(), b).coat_id
                    )
                )
            )
            held[newcomer] = found[0]
        return {
            "coats_in": len(held),
            "fill_per_coat_ms": round(fill_s * 1000 / max(coats, 1), 3),
            "coat_in_p50_ms": round(percentile(in_timings, 50), 3),
            "coat_in_p99_ms": round(percentile(in_timings, 99), 3),
            "coat_out_p50_ms": round(percentile(out_timings, 50), 3),
            "coat_out_p99_ms": round(percentile(out_timings, 99), 3),
            "violations": len(store.verify().violations),
        }
    finally:
        store.close()


def run_coats_bench(
    base_url: str | None = None, *, coats: int = 2000, ops: int = 500
) -> dict[str, Any]:
    """Run the coat check benchmark on SQLite (and PostgreSQL when ``base_url`` is one)."""
    figures: dict[str, Any] = {"coats": coats, "ops": ops}
    with scratch_database(None, "coats") as url:
        figures.update(_run(url, coats, ops))
    if base_url and make_url(base_url).get_backend_name() == "postgresql":
        with scratch_database(base_url, "coats") as url:
            pg = _run(url, coats, ops)
        figures.update({f"pg_{key}": value for key, value in pg.items()})
        figures["violations"] = figures["violations"] + pg["violations"]
    return figures
