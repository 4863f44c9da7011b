"""``tapdesk bench load``: N station processes running the event's mix at once, then verify.

Each process is one station of the demo event (store/demo/event.toml) on a throw-away database
(a temporary SQLite file, or a schema of its own in the PostgreSQL ``--db``). It draws its next
operation from :data:`MIX` with its own seeded random generator, runs it through the same store
functions the screens call — every write through :func:`store.retry.run_with_retry` with one
operation id, as a station does — and times it.

Reported: throughput (operations answered per second, a business refusal included), p50/p95/p99
per operation kind, refusals and errors by kind, and ``tapdesk verify`` at the end.

- ``user_errors``: failures a staff member would see (database unreachable after the retries, a
  conflict, an unexpected exception). A business refusal ("already did Bug hunt", a cool-down) is
  not one: it is counted under ``refusals``.

The mix: :data:`MIX` is the one table that maps an operation kind to its weight and function. A
new kind (the prize counter's redemptions, the coat check) is one function and one entry.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, make_url, select

from store import coats, counter, driver, hub, wristbands
from store.bench.common import percentile, scratch_database, seed_people
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.desk import bind_band, check_in
from store.errors import Refused
from store.eventfile import load_event
from store.ledger import account_t, forget_cached_accounts, post_transfer, system_account_id
from store.models import Attendee, Band, Prize
from store.retry import RetryPolicy, run_with_retry
from store.service import Store

__all__ = ["MIX", "MixEntry", "Station", "run_load"]

SEED = 20261127
#: Retry like a station, but give up sooner: a bench must end.
BENCH_RETRY = RetryPolicy(first_delay_s=0.1, max_delay_s=1.0, give_up_s=10.0, unknown_give_up_s=30)
#: People with active bands (hub awards, lookups) and people waiting at the desk, per station.
BAND_PEOPLE = 3000
DESK_PEOPLE_PER_STATION_SECOND = 40

attendee_t = Attendee.__table__  # type: ignore[attr-defined]
band_t = Band.__table__  # type: ignore[attr-defined]
prize_t = Prize.__table__  # type: ignore[attr-defined]
#: Points every seeded person starts with (one transfer each), so that the counter has buyers.
START_POINTS = 400
#: The counter's regular prizes the load redeems (cheap ones; each has a per-person limit).
COUNTER_PRIZES = ("stickers", "enamel-pin", "socks", "t-shirt")
#: A prize with a handful of units that every counter goes for: the last-unit races.
LAST_UNIT_PRIZE = "bench-last-unit"
LAST_UNITS = 5
#: People who use the coat check in the load (a tap hands a coat in, the next one takes it out).
COAT_PEOPLE = 150


# -- one station ---------------------------------------------------------------------------------


@dataclass
class Station:
    """What one bench process knows and records."""

    store: Store
    name: str
    index: int
    rng: random.Random
    uids: list[str]
    attendee_ids: list[int]
    """The attendee of each band in ``uids`` (same order)."""
    desk_queue: list[int]
    """Attendees this desk checks in (nobody else's)."""
    hubman: Actor
    activities: list[str]
    questions: list[str]
    hub_id: str
    next_band: int
    drop_id: int | None = None
    timings: dict[str, list[float]] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    statements: dict[str, int] = field(default_factory=dict)
    """SQL statements sent per kind (round trips, BEGIN and COMMIT not counted)."""
    sent: list[int] = field(default_factory=lambda: [0])

    def actor(self) -> Actor:
        """A fresh action (new operation id) of this station's staff member."""
        return self.hubman.next_action()

    def timed(self, kind: str, call: Callable[[], Any], *, op_id: str | None = None) -> Any:
        """Run one operation (retried like a station when the database is away) and time it."""
        started = time.perf_counter()
        before = self.sent[0]
        try:
            result = run_with_retry(
                call,
                # A read has no operation id: retrying it is always safe.
                check=(lambda: self.store.operation_outcome(op_id)) if op_id else None,
                policy=BENCH_RETRY,
            )
        except Refused:
            self.refusals[kind] = self.refusals.get(kind, 0) + 1
            result = None
        except Exception as exc:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if len(self.error_samples) < 5:
                self.error_samples.append(
                    f"{kind}: {type(exc).__name__}: {exc}"[:300]
                    + "\n"
                    + "".join(traceback.format_exception(exc)[-3:])[:600]
                )
            result = None
        self.timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        self.statements[kind] = self.statements.get(kind, 0) + self.sent[0] - before
        return result


# -- the operations ------------------------------------------------------------------------------


def op_checkin_bind(st: Station) -> None:
    """The desk: check the next person in, then bind a fresh band (two operations)."""
    if not st.desk_queue:
        op_lookup(st)
        return
    attendee = st.desk_queue.pop()
    actor = st.actor()
    done = st.timed("checkin", lambda: check_in(st.store, actor, attendee), op_id=actor.op_id)
    if done is None:
        return
    st.next_band += 1
    uid = f"05{st.index:04X}{st.next_band:08X}"
    bind = st.actor()
    st.timed("bind", lambda: bind_band(st.store, bind, attendee, uid), op_id=bind.op_id)


def op_hub_activity(st: Station) -> None:
    """A hub award for one of this hub's activities (limits and cool-downs apply)."""
    actor = st.actor()
    uid, activity = st.rng.choice(st.uids), st.rng.choice(st.activities)
    st.timed(
        "hub_activity",
        lambda: hub.award_activity(st.store, actor, uid, activity),
        op_id=actor.op_id,
    )


def op_hub_quiz(st: Station) -> None:
    """A right answer to a talk's question (once per attendee per question)."""
    actor = st.actor()
    uid, question = st.rng.choice(st.uids), st.rng.choice(st.questions)
    st.timed("hub_quiz", lambda: hub.award_quiz(st.store, actor, uid, question), op_id=actor.op_id)


def op_hub_cool(st: Station) -> None:
    """Points "for being cool" (the hubman's daily budget and per-minute rate apply)."""
    actor = st.actor()
    uid, points = st.rng.choice(st.uids), st.rng.choice((5, 10, 15))
    st.timed(
        "hub_cool",
        lambda: hub.award_cool(st.store, actor, uid, points, st.hub_id),
        op_id=actor.op_id,
    )


def op_lookup(st: Station) -> None:
    """A band tapped at the wristband table or a counter: holder, balance, last transfers."""
    uid = st.rng.choice(st.uids)
    st.timed("lookup", lambda: wristbands.inspect_band(st.store, uid))


def op_redeem(st: Station) -> None:
    """The prize counter: a regular prize (80 %), the last units everyone races for (10 %), or
    the running drop with a hold and its confirmation (10 %)."""
    n = st.rng.randrange(len(st.uids))
    attendee = st.attendee_ids[n]
    draw = st.rng.random()
    if draw < 0.1:
        actor = st.actor()
        st.timed(
            "redeem_last_unit",
            lambda: counter.redeem(st.store, actor, attendee, LAST_UNIT_PRIZE),
            op_id=actor.op_id,
        )
    elif draw < 0.2 and st.drop_id is not None:
        drop_id = st.drop_id
        actor = st.actor()
        held = st.timed(
            "drop_hold",
            lambda: counter.place_hold(st.store, actor, drop_id, attendee),
            op_id=actor.op_id,
        )
        if held is not None:
            confirm = st.actor()
            st.timed(
                "drop_confirm",
                lambda: counter.confirm_hold(st.store, confirm, held.hold_id),
                op_id=confirm.op_id,
            )
    else:
        actor, prize = st.actor(), st.rng.choice(COUNTER_PRIZES)
        st.timed(
            "redeem", lambda: counter.redeem(st.store, actor, attendee, prize), op_id=actor.op_id
        )


def op_coat(st: Station) -> None:
    """The coat check: a tap hands a coat in; when the person has one in, it is handed back.

    Drawn from the first :data:`COAT_PEOPLE` people, so that coats come back out during a short
    run and the racks neither fill up nor stay empty.
    """
    uid = st.uids[st.rng.randrange(min(COAT_PEOPLE, len(st.uids)))]
    actor = st.actor()
    ticket = st.timed("coat_in", lambda: coats.coat_tap(st.store, actor, uid), op_id=actor.op_id)
    if ticket is not None and ticket.action == "held":
        out = st.actor()
        st.timed(
            "coat_out",
            lambda: coats.coat_out(st.store, out, ticket.coat_id, band_uid=uid),
            op_id=out.op_id,
        )


@dataclass(frozen=True, slots=True)
class MixEntry:
    """One kind of operation in the mix."""

    name: str
    weight: float
    run: Callable[[Station], None]


#: The stated mix (weights in percent of drawn actions).
MIX: tuple[MixEntry, ...] = (
    MixEntry("desk check-in + bind", 20, op_checkin_bind),
    MixEntry("hub activity", 25, op_hub_activity),
    MixEntry("hub quiz", 20, op_hub_quiz),
    MixEntry("hub cool", 10, op_hub_cool),
    MixEntry("prize counter (last-unit races, a drop)", 15, op_redeem),
    MixEntry("coat in/out", 5, op_coat),
    MixEntry("lookup", 5, op_lookup),
)


# -- the processes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StationPlan:
    """What one process is told to do."""

    url: str
    index: int
    seconds: float
    start_at: float
    uids: list[str]
    attendee_ids: list[int]
    desk_queue: list[int]
    staff_id: str
    staff_name: str
    hub_id: str
    activities: list[str]
    questions: list[str]
    mix: tuple[MixEntry, ...]
    cut_at_s: float | None = None
    drop_id: int | None = None


def _cut_later(store: Store, url: str, after_s: float, cuts: list[int]) -> threading.Thread:
    """Terminate this station's own PostgreSQL backends ``after_s`` seconds from now.

    The station is busy in operations most of the time, so the cut lands in the middle of one,
    as a server restart or a Wi-Fi drop would. Only this process's backends are touched.
    """
    import psycopg
    from sqlalchemy import event

    pids: set[int] = set()

    @event.listens_for(store.db.engine, "checkout")
    def _remember(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        pids.add(int(dbapi_connection.info.backend_pid))

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def cut() -> None:
        time.sleep(after_s)
        with psycopg.connect(dsn, autocommit=True) as admin:
            for pid in sorted(pids):
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                cuts.append(pid)

    thread = threading.Thread(target=cut, daemon=True)
    return thread


def _station_process(plan: StationPlan) -> dict[str, Any]:
    # The store logs every lost connection with its traceback; a bench prints figures only.
    quiet = logging.getLogger("tapdesk")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    forget_cached_accounts()
    store = Store.open(plan.url, migrate=False)
    cuts: list[int] = []
    cutter = None
    if plan.cut_at_s is not None and store.db.dialect == "postgresql":
        cutter = _cut_later(store, plan.url, plan.cut_at_s, cuts)
    name = f"load-{plan.index + 1}"
    st = Station(
        store=store,
        name=name,
        index=plan.index,
        rng=random.Random(SEED + plan.index),
        uids=plan.uids,
        attendee_ids=plan.attendee_ids,
        desk_queue=list(plan.desk_queue),
        hubman=Actor(station=name, staff=plan.staff_name, staff_id=plan.staff_id),
        activities=plan.activities,
        questions=plan.questions,
        hub_id=plan.hub_id,
        next_band=0,
        drop_id=plan.drop_id,
    )
    store.announce(name, "hub", plan.staff_name, "bench")
    from sqlalchemy import event

    @event.listens_for(store.db.engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        st.sent[0] += 1

    driver.before_execute.append(lambda _raw, _sql: _count())  # the one-statement paths

    weights = [entry.weight for entry in plan.mix]
    while time.time() < plan.start_at:  # every station starts at the same moment
        time.sleep(0.005)
    started = time.perf_counter()
    cpu_started = time.process_time()
    if cutter is not None:
        cutter.start()
    deadline = started + plan.seconds
    while time.perf_counter() < deadline:
        entry = st.rng.choices(plan.mix, weights)[0]
        entry.run(st)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if cutter is not None:
        cutter.join(timeout=10)
    store.close()
    return {
        "elapsed": elapsed,
        "cpu_s": cpu,
        "cuts": len(cuts),
        "timings": st.timings,
        "refusals": st.refusals,
        "errors": st.errors,
        "error_samples": st.error_samples,
        "statements": st.statements,
    }


# -- set-up and report -----------------------------------------------------------------------------


def _seed_desk_people(store: Store, count: int) -> list[int]:
    """``count`` registered people with accounts, not checked in, without bands."""
    now = datetime.now(UTC)
    with store.db.write() as conn:
        first = conn.execute(select(attendee_t.c.id).order_by(attendee_t.c.id.desc())).scalar()
        conn.execute(
            insert(attendee_t),
            [
                {
                    "code": f"Q{n:09d}",
                    "name": f"Queue Person {n}",
                    "email": None,
                    "company": "",
                    "field": "development",
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
            int(row[0])
            for row in conn.execute(
                select(attendee_t.c.id).where(attendee_t.c.id > (first or 0)).order_by("id")
            )
        ]
        conn.execute(
            insert(account_t),
            [{"kind": "attendee", "attendee_id": i, "balance": 0, "floor": 0} for i in ids],
        )
    return ids


def _seed_counter(store: Store, uids: list[str], seconds: float) -> tuple[list[int], int]:
    """Starting points for everyone (one transfer each), the last-unit prize and a drop.

    Returns the attendee of every band (same order) and the drop's id.
    """
    setup = Actor(station="bench-setup")
    seed = setup.next_action()
    with store.db.read() as conn:
        owner: dict[str, int] = {
            row.uid: int(row.attendee_id)
            for row in conn.execute(
                select(band_t.c.uid, band_t.c.attendee_id).where(band_t.c.uid.in_(uids))
            )
        }
        accounts: dict[int, int] = {
            int(row.attendee_id): int(row.id)
            for row in conn.execute(
                select(account_t.c.attendee_id, account_t.c.id).where(
                    account_t.c.attendee_id.in_(owner.values())
                )
            )
        }
    attendee_ids = [int(owner[uid]) for uid in uids]

    def work(conn: Any, now: datetime) -> int:
        issuer = system_account_id(conn, "issuer", setup.station)
        for seq, attendee in enumerate(attendee_ids):
            post_transfer(
                conn,
                seed,
                now,
                debit=issuer,
                credit=accounts[attendee],
                amount=START_POINTS,
                code="bonus",
                reference="load rehearsal: starting points",
                seq=seq,
            )
        conn.execute(
            insert(prize_t).values(
                id=LAST_UNIT_PRIZE,
                name="Last units (bench)",
                tier=3,
                price=50,
                supplied=LAST_UNITS,
                per_person=1,
                pay_in_four=False,
                active=True,
                updated_at=now,
                taken=0,
            )
        )
        return len(attendee_ids)

    store.run(seed, "bench_seed_points", work, int)
    drop = counter.start_drop(
        store, setup.next_action(), "enamel-pin", 40, max(1.0, seconds / 60 + 1), price=10
    )
    return attendee_ids, drop.id


def _ms(values: list[float], pct: float) -> float:
    return round(percentile(values, pct), 2)


def run_load(
    db_url: str | None,
    *,
    stations: int = 8,
    seconds: float = 10.0,
    mix: tuple[MixEntry, ...] = MIX,
    cut_at_s: float | None = None,
    with_reference: bool = True,
) -> dict[str, Any]:
    """Run the load on a throw-away database and return the figures.

    ``cut_at_s`` (PostgreSQL): that many seconds into the run, every station's connections are
    terminated (``pg_terminate_backend``), as a server restart looks to the stations.
    ``with_reference`` (PostgreSQL): afterwards, the same number of plain-psycopg processes
    making one-statement awards, for a ratio measured on the same machine at the same time.
    """
    with scratch_database(db_url, "load") as url:
        store = Store.open(url, migrate=False)
        load_event(store, DEMO_EVENT_FILE, Actor(station="bench-setup"))
        uids = seed_people(store, BAND_PEOPLE)
        per_station = max(50, int(seconds * DESK_PEOPLE_PER_STATION_SECOND))
        desk_people = _seed_desk_people(store, per_station * stations)
        attendee_ids, drop_id = _seed_counter(store, uids, seconds)
        store.db.analyze()  # the stations plan their lookups against the seeded tables
        catalogue = hub.hub_catalogue(store)
        store.close()
        hubs = [hub_id for hub_id, _name in catalogue.hubs]
        questions = [q.id for q in catalogue.questions]
        start_at = time.time() + 3.0  # spawning and importing takes a moment on 2 cores
        plans = []
        for n in range(stations):
            hub_id = hubs[n % len(hubs)]
            staff_id = f"hub-{hub_id}"  # the demo event's hubman of that hub
            activities = [a.id for a in catalogue.activities if a.hub_id == hub_id]
            plans.append(
                StationPlan(
                    url=url,
                    index=n,
                    seconds=seconds,
                    start_at=start_at + 0.5 * stations,
                    uids=uids,
                    attendee_ids=attendee_ids,
                    desk_queue=desk_people[n * per_station : (n + 1) * per_station],
                    staff_id=staff_id,
                    staff_name=staff_id,
                    hub_id=hub_id,
                    activities=activities or [catalogue.activities[0].id],
                    questions=questions,
                    mix=mix,
                    cut_at_s=cut_at_s,
                    drop_id=drop_id,
                )
            )
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(stations) as pool:
            results = pool.map(_station_process, plans)
        reference = None
        if url.startswith("postgresql") and with_reference:
            # The same machine's plain-psycopg capacity in the same run (shared machines move
            # absolute figures up to 2x): the award as one statement, same process count.
            from store.bench.ledger import _run_raw

            reference = _run_raw(url, uids, stations, min(seconds, 5.0))
        store = Store.open(url, migrate=False)
        report = store.verify()
        store.close()
    figures = _figures(results, stations, seconds, url, report.violations, mix)
    if reference is not None:
        figures["raw_psycopg_award_tx_per_s"] = round(reference)
        figures["ratio_to_raw"] = round(figures["ops_per_s"] / max(reference, 1), 2)
    return figures


def _figures(
    results: list[dict[str, Any]],
    stations: int,
    seconds: float,
    url: str,
    violations: tuple[str, ...],
    mix: tuple[MixEntry, ...],
) -> dict[str, Any]:
    timings: dict[str, list[float]] = {}
    refusals: dict[str, int] = {}
    errors: dict[str, int] = {}
    statements: dict[str, int] = {}
    samples: list[str] = []
    for r in results:
        for kind, n in r["statements"].items():
            statements[kind] = statements.get(kind, 0) + n
        for kind, values in r["timings"].items():
            timings.setdefault(kind, []).extend(values)
        for kind, n in r["refusals"].items():
            refusals[kind] = refusals.get(kind, 0) + n
        for kind, n in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
        samples.extend(r["error_samples"])
    elapsed = max(r["elapsed"] for r in results)
    every = [v for values in timings.values() for v in values]
    total = len(every)
    figures: dict[str, Any] = {
        "engine": "postgresql" if url.startswith("postgresql") else "sqlite",
        "stations": stations,
        "seconds": round(elapsed, 1),
        "mix": ", ".join(f"{e.weight:g} {e.name}" for e in mix),
        "operations": total,
        "ops_per_s": round(total / elapsed),
        "p50_ms": _ms(every, 50),
        "p95_ms": _ms(every, 95),
        "p99_ms": _ms(every, 99),
        "user_errors": sum(errors.values()),
        "refusals": sum(refusals.values()),
        "violations": len(violations),
        # CPU the stations' own processes spent per operation (Python, SQLAlchemy, the driver):
        # on a 2-core machine shared with the database server, this bounds the throughput.
        "station_cpu_ms_per_op": round(sum(r["cpu_s"] for r in results) * 1000 / max(total, 1), 2),
    }
    cuts = sum(r["cuts"] for r in results)
    if cuts:
        figures["connections_cut"] = cuts
    for kind in sorted(timings):
        values = timings[kind]
        figures[f"{kind}"] = (
            f"n={len(values)} p50={_ms(values, 50)} p95={_ms(values, 95)} "
            f"p99={_ms(values, 99)} ms; {statements.get(kind, 0) / len(values):.1f} statements; "
            f"refused {refusals.get(kind, 0)}, errors {errors.get(kind, 0)}"
        )
    figures["per_kind"] = {
        kind: {
            "n": len(values),
            "p50_ms": _ms(values, 50),
            "p95_ms": _ms(values, 95),
            "p99_ms": _ms(values, 99),
            "refusals": refusals.get(kind, 0),
            "user_errors": errors.get(kind, 0),
            "statements_per_op": round(statements.get(kind, 0) / len(values), 1),
        }
        for kind, values in sorted(timings.items())
    }
    if samples:
        figures["error_samples"] = samples[:5]
    if violations:
        figures["violation_lines"] = list(violations[:10])
    return figures
