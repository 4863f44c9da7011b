"""The coat check's one-statement paths (PostgreSQL): the same tickets, rows and stored results as
the step-by-step path, taken for the common tap and hand-back, left for everything unusual, and
safe when two stations race."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from store import codec, credit
from store.bands import block_band
from store.coats import (
    CoatTicket,
    coat_out,
    coat_tap,
    paper_in,
    rack_out_of_service,
)
from store.context import Actor
from store.desk import bind_band, check_in
from store.engine import make_database
from store.errors import DomainError, Refused
from store.eventfile import load_event
from store.ledger import account_t, forget_cached_accounts
from store.models import Audit, Coat, Event, Operation, Station, metadata
from store.points import award
from store.service import Store
from tests.factories import add_attendee
from tests.statements import sent
from tests.store.test_coats import SMALL, event_with_racks

pytestmark = pytest.mark.postgres

audit_t = Audit.__table__  # type: ignore[attr-defined]
coat_t = Coat.__table__  # type: ignore[attr-defined]
event_t = Event.__table__  # type: ignore[attr-defined]
operation_t = Operation.__table__  # type: ignore[attr-defined]
station_t = Station.__table__  # type: ignore[attr-defined]

#: The fast path's statement starts like this (store/coats.py ``_TAP_CTE`` and ``_OUT_CTE``).
FAST_MARK = "WITH holder AS"
PAUSED_UID = "04C0A7FFFF0009"


def empty(url: str) -> None:
    """Every table emptied and the ids restarted (as the ``pg_url`` fixture does)."""
    db = make_database(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with db.write() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.dispose()
    forget_cached_accounts()


class Statements:
    """Every SQL statement ``store`` sends, per operation."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def during(self, call: Callable[[], Any]) -> tuple[Any, list[str]]:
        with sent(self.store) as seen:
            result = call()
        return result, list(seen)


def took_fast_path(sent: list[str]) -> bool:
    """The operation ended with the one statement and the save of its result (no fallback)."""
    return len(sent) >= 2 and sent[-2].startswith(FAST_MARK) and "SAVEPOINT" not in "".join(sent)


def person(store: Store, n: int) -> tuple[int, str]:
    uid = f"04AB{n:010X}"
    attendee = add_attendee(store, f"Coat Person {n}", colour=None, code=f"COAT{n:06d}")
    check_in(store, Actor(station="desk-1"), attendee)
    bind_band(store, Actor(station="desk-1"), attendee, uid)
    return attendee, uid


def paused_person(store: Store) -> int:
    """Someone who took headphones in four and missed the second instalment (paused)."""
    with store.db.write() as conn:
        settings = json.loads(conn.execute(select(event_t.c.settings)).scalar_one())
        settings["credit"]["threshold"] = 0
        conn.execute(update(event_t).values(settings=json.dumps(settings)))
    attendee = add_attendee(store, "Paused Person", band_uid=PAUSED_UID, code="PAUSED0001")
    award(store, Actor(station="hub-1", staff="Hubman"), PAUSED_UID, 225, "bonus")
    counter = Actor(station="counter-1", staff="Counter")
    credit.redeem_in_four(store, counter, attendee, "headphones")
    with store.db.write() as conn:  # 91 minutes later: the second instalment is overdue
        conn.execute(
            text(
                "UPDATE instalment SET due_at = due_at - interval '91 minutes' "
                "WHERE paid_at IS NULL"
            )
        )
        conn.execute(
            update(account_t)
            .where(account_t.c.next_due_at.is_not(None))
            .values(next_due_at=account_t.c.next_due_at - text("interval '91 minutes'"))
        )
    return attendee


_TIMES = ("at", "in_at", "out_at", "in_local", "out_local", "created_at", "undo_until")


def plain(value: Any) -> Any:
    """A result or row without its times (they differ between two runs)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = json.loads(codec.dump(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k not in _TIMES}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def snapshot(store: Store) -> dict[str, Any]:
    """What the coat check left in the database, times aside (the audit rows of the scenario's
    coat operations: the setup's correlation ids are random)."""
    with store.db.read() as conn:
        coats = [
            plain(dict(r)) for r in conn.execute(select(coat_t).order_by(coat_t.c.id)).mappings()
        ]
        audit = [
            plain({k: v for k, v in r.items() if k != "id"})
            for r in conn.execute(
                select(audit_t).where(audit_t.c.correlation_id.like("c-%")).order_by(audit_t.c.id)
            ).mappings()
        ]
        operations = [
            (r.op_id, r.kind, r.station, r.staff, r.correlation_id, plain(json.loads(r.result)))
            for r in conn.execute(
                select(operation_t).where(operation_t.c.kind.like("coat%")).order_by("op_id")
            )
        ]
        stations = dict(conn.execute(select(station_t.c.name, station_t.c.change_seq)).all())
        balances = dict(
            conn.execute(
                select(account_t.c.attendee_id, account_t.c.balance).where(
                    account_t.c.attendee_id.is_not(None)
                )
            ).all()
        )
    return {
        "coats": coats,
        "audit": audit,
        "operations": operations,
        "stations": stations,
        "balances": balances,
    }


def scenario(store: Store, one_statement: bool) -> tuple[list[Any], list[bool], dict[str, Any]]:
    """Taps and hand-backs covering the fast path and every way off it; returns each
    operation's outcome, whether it took the fast path, and the database afterwards."""
    load_event(store, SMALL, Actor(station="setup"))  # Rack A: 3 hangers, Rack B: 2
    people = {n: person(store, n) for n in range(1, 9)}
    paused = paused_person(store)
    statements = Statements(store)
    store.one_statement = one_statement
    outcomes: list[Any] = []
    fast: list[bool] = []
    tickets: dict[int, CoatTicket] = {}
    count = 0

    def actor(station: str = "coats-1", staff: str | None = "Aigerim") -> Actor:
        nonlocal count
        count += 1
        return Actor(station=station, staff=staff, correlation_id=f"c-{count}", op_id=f"op-{count}")

    def do(call: Callable[[], CoatTicket]) -> CoatTicket | None:
        try:
            ticket, sent = statements.during(call)
        except DomainError as error:
            outcomes.append(("refused", getattr(error, "reason", ""), error.message))
            fast.append(False)
            return None
        outcomes.append(plain(ticket))
        fast.append(took_fast_path(sent))
        return ticket  # type: ignore[no-any-return]

    def tap(n: int, who: Actor | None = None) -> CoatTicket | None:
        ticket = do(lambda: coat_tap(store, who or actor(), people[n][1]))
        if ticket is not None:
            tickets[n] = ticket
        return ticket

    def out(n: int, band_of: int | None = None, **proof: Any) -> CoatTicket | None:
        band = people[band_of or n][1] if "id_checked" not in proof else None
        return do(lambda: coat_out(store, actor(), tickets[n].coat_id, band_uid=band, **proof))

    tap(1)  # in: Rack A 1
    second = actor("coats-2", None)
    tap(2, second)  # in: Rack A 2, at another station, no staff name
    tap(1)  # held
    tap(2, second)  # a retry of the same operation: its first result
    out(1)  # out by band
    out(1)  # already handed back: refused
    tap(3)  # in: Rack A 1 again
    out(2, band_of=3)  # another person's band: refused
    tap(4)  # in: Rack A 3
    tap(5)  # in: Rack B 1, "Rack A full"
    block_band(store, Actor(station="bands-1", staff="Olzhas"), people[6][1], "found")
    tap(6)  # a blocked band: refused
    paper_in(store, actor(), people[7][0], "17")
    tap(7)  # held on paper tag 17
    out(7)  # out by band: the audit names the paper tag
    do(lambda: coat_tap(store, actor(), PAUSED_UID))  # an overdue instalment: the step path
    tap(8)  # every rack full: refused
    rack_out_of_service(store, actor(), "rack-a", "broken")
    out(3)  # out by band from a rack out of service
    out(5)  # frees Rack B 1
    tap(8)  # in: Rack B 1 (Rack A is out of service)
    out(4, id_checked=True)  # a lost band: the ID check (step path)
    do(lambda: coat_tap(store, actor(), "04FFFFFFFFFFFF"))  # an unbound band: refused
    store.one_statement = True
    assert paused and store.verify().ok
    return outcomes, fast, snapshot(store)


#: Which of the scenario's operations take the fast path on PostgreSQL.
EXPECTED_FAST = [
    True,  # tap 1: in
    True,  # tap 2: in
    True,  # tap 1: held
    False,  # tap 2 retried
    True,  # out 1
    False,  # out 1 again: refused
    True,  # tap 3: in
    False,  # wrong band: refused
    True,  # tap 4: in
    True,  # tap 5: in, Rack A full
    False,  # blocked band
    True,  # tap 7: held on paper
    True,  # out 7
    False,  # paused: an instalment due
    False,  # racks full
    True,  # out 3
    True,  # out 5
    True,  # tap 8: in
    False,  # ID check
    False,  # unbound band
]


def test_fast_and_step_paths_give_the_same_tickets_rows_and_results(pg_url: str) -> None:
    runs = {}
    for one_statement in (True, False):
        empty(pg_url)
        store = Store.open(pg_url, migrate=False)
        try:
            runs[one_statement] = scenario(store, one_statement)
        finally:
            store.close()
    fast_outcomes, fast_taken, fast_rows = runs[True]
    step_outcomes, step_taken, step_rows = runs[False]
    assert fast_taken == EXPECTED_FAST
    assert not any(step_taken)
    assert fast_outcomes == step_outcomes
    assert fast_rows == step_rows
    # The scenario says what it claims to.
    assert [o["action"] for o in fast_outcomes[:3]] == ["in", "in", "held"]
    assert fast_outcomes[9]["note"] == "Rack A full: this coat goes on Rack B."
    assert fast_outcomes[13]["credit_note"].startswith("Paused: overdue instalment")
    assert [o[1] for o in fast_outcomes if isinstance(o, tuple)] == [
        "already_collected",
        "wrong_band",
        "band_blocked",
        "racks_full",
        "unbound_band",
    ]
    assert fast_outcomes[15]["rack_out_of_service"] is True
    subjects = [a["subject"] for a in fast_rows["audit"] if a["action"] == "coat_out"]
    assert subjects == ["Rack A · 1", "paper tag 17", "Rack A · 1", "Rack B · 1"]


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    opened = Store.open(pg_url, migrate=False)
    try:
        load_event(opened, SMALL, Actor(station="setup"))
        yield opened
    finally:
        opened.close()


def stored_result(store: Store, op_id: str) -> str:
    with store.db.read() as conn:
        return str(
            conn.execute(
                select(operation_t.c.result).where(operation_t.c.op_id == op_id)
            ).scalar_one()
        )


def test_a_tap_and_a_hand_back_are_two_statements_and_store_their_result(pg_store: Store) -> None:
    _a, band_a = person(pg_store, 1)
    _b, band_b = person(pg_store, 2)
    station = Actor(station="coats-1", staff="Aigerim")
    coat_tap(pg_store, station.next_action(), band_a)  # the station's first operation
    statements = Statements(pg_store)
    for call in (
        lambda a: coat_tap(pg_store, a, band_b),  # in
        lambda a: coat_tap(pg_store, a, band_b),  # held
    ):
        who = station.next_action()
        ticket, sent = statements.during(lambda c=call, w=who: c(w))  # type: ignore[misc]
        assert len(sent) == 2 and sent[0].startswith(FAST_MARK), sent
        assert stored_result(pg_store, who.op_id) == codec.dump(ticket)
    who = station.next_action()
    out, sent = statements.during(lambda: coat_out(pg_store, who, ticket.coat_id, band_uid=band_b))
    assert len(sent) == 2 and sent[0].startswith(FAST_MARK), sent
    assert (out.action, out.state, out.hanger) == ("out", "collected", 2)
    assert stored_result(pg_store, who.op_id) == codec.dump(out)
    # A retry returns the stored result through the step path, unchanged.
    assert coat_out(pg_store, who, ticket.coat_id, band_uid=band_b) == out
    assert pg_store.verify().ok


def test_losing_a_hanger_race_takes_the_next_free_hanger(pg_store: Store) -> None:
    """Another station's coat goes on Rack A 1 while this tap's statement waits on the index:
    the statement fails on the unique index, and its next attempt (still one statement, not the
    step-by-step path) takes Rack A 2."""
    _a, band_a = person(pg_store, 1)
    b, _band_b = person(pg_store, 2)
    station = Actor(station="coats-1")
    other = pg_store.db.engine.connect()
    other_tx = other.begin()
    other.execute(
        text(
            "INSERT INTO operation (op_id, kind, station, correlation_id, created_at, result) "
            "VALUES ('other-op', 'coat_tap', 'coats-2', 'c', now(), '')"
        )
    )
    other.execute(
        text(
            "INSERT INTO coat (op_id, attendee_id, rack_id, hanger, state, in_at, in_station, "
            "out_id_checked) VALUES ('other-op', :b, 'rack-a', 1, 'in', now(), 'coats-2', false)"
        ),
        {"b": b},
    )
    found: list[CoatTicket] = []
    with sent(pg_store, other_threads_only=True) as seen:
        tapping = threading.Thread(
            target=lambda: found.append(coat_tap(pg_store, station.next_action(), band_a))
        )
        tapping.start()
        time.sleep(0.5)  # the tap waits on the other station's uncommitted hanger
        assert tapping.is_alive()
        other_tx.commit()
        other.close()
        tapping.join(10)
    [ticket] = found
    assert (ticket.action, ticket.rack_id, ticket.hanger) == ("in", "rack-a", 2)
    # The lost attempt, then the one statement and the save of its result: no SAVEPOINT loop.
    # (before them, the station's first operation sets up its row and issuer account)
    assert [s.startswith(FAST_MARK) for s in seen[-3:]] == [True, True, False]
    assert sum(s.startswith(FAST_MARK) for s in seen) == 2
    assert not any("SAVEPOINT" in s for s in seen)
    assert pg_store.verify().ok


def test_losing_a_hand_back_race_is_refused_as_already_handed_back(pg_store: Store) -> None:
    _a, band = person(pg_store, 1)
    ticket = coat_tap(pg_store, Actor(station="coats-1"), band)
    other = pg_store.db.engine.connect()
    other_tx = other.begin()
    other.execute(
        update(coat_t)
        .where(coat_t.c.id == ticket.coat_id)
        .values(state="collected", out_at=func.now(), out_station="coats-2")
    )
    errors: list[Exception] = []

    def hand_back() -> None:
        try:
            coat_out(pg_store, Actor(station="coats-1"), ticket.coat_id, band_uid=band)
        except Refused as refused:
            errors.append(refused)

    handing = threading.Thread(target=hand_back)
    handing.start()
    time.sleep(0.5)  # the guarded UPDATE waits on the other station's row lock
    assert handing.is_alive()
    other_tx.commit()
    other.close()
    handing.join(10)
    [refused] = errors
    assert isinstance(refused, Refused) and refused.reason == "already_collected"
    with pg_store.db.read() as conn:
        actions = conn.execute(select(audit_t.c.action).order_by(audit_t.c.id)).scalars().all()
    assert "coat_out" not in actions and actions[-1] == "refused"


def _tap_many(args: tuple[str, list[str], str, float]) -> tuple[list[tuple[str, int]], int]:
    """One station tapping ``bands`` as fast as it can from ``start_at`` on: the hangers, and how
    many taps took the one-statement path."""
    url, bands, station, start_at = args
    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    statements = Statements(store)
    try:
        time.sleep(max(0.0, start_at - time.time()))  # both stations at once: they race
        taken, fast = [], 0
        for band in bands:
            ticket, sent = statements.during(
                lambda b=band: coat_tap(store, Actor(station=station), b)
            )
            assert ticket.action == "in" and ticket.hanger is not None
            taken.append((ticket.rack_id, ticket.hanger))
            fast += took_fast_path(sent)
        return taken, fast
    finally:
        store.close()


@pytest.mark.slow
def test_two_stations_on_the_fast_path_never_share_a_hanger(pg_url: str) -> None:
    store = Store.open(pg_url, migrate=False)
    try:
        racks = event_with_racks(("rack-a", "Rack A", 30), ("rack-b", "Rack B", 30))
        load_event(store, racks, Actor(station="setup"))
        bands = [person(store, n)[1] for n in range(50)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(2) as pool:
            start_at = time.time() + 3
            results = pool.map(
                _tap_many,
                [
                    (pg_url, bands[0::2], "coats-1", start_at),
                    (pg_url, bands[1::2], "coats-2", start_at),
                ],
            )
        hangers = [h for taken, _fast in results for h in taken]
        assert len(hangers) == 50 == len(set(hangers))
        assert sorted(hangers) == [("rack-a", n) for n in range(1, 31)] + [
            ("rack-b", n) for n in range(1, 21)
        ]
        fast = sum(f for _taken, f in results)
        print(f"{fast} of 50 taps took the one-statement path")
        assert fast >= 10, f"only {fast} of 50 taps took the one-statement path"
        assert store.verify().ok
    finally:
        store.close()
