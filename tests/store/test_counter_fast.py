"""The prize counter's short path on PostgreSQL: the same results and rows as the step path.

:func:`store.counter.redeem` sends two statements on PostgreSQL (take the unit and debit; then,
with a fresh snapshot while the attendee's account row is held, the per-person count and the
redemption) and falls back to the step-by-step path for anything unusual. These tests run one
scenario both ways and compare everything it wrote, check that the short path really is taken,
and race two counters on the per-person limit.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from store import codec, counter, credit
from store.bands import block_band
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.engine import make_database
from store.errors import DomainError, Refused
from store.eventfile import load_event
from store.ledger import account_t, forget_cached_accounts, transfer_t
from store.models import (
    Audit,
    Drop,
    Event,
    Hold,
    Operation,
    Prize,
    Redemption,
    Station,
    metadata,
)
from store.points import award, spend
from store.service import Store
from tests.factories import add_attendee
from tests.statements import on_statement

pytestmark = pytest.mark.postgres

ANNA, BORIS, CARL, DANA = "04A1B2C3D4E580", "04B2C3D4E5F601", "04C3D4E5F60702", "04D4E5F6070803"

audit_t = Audit.__table__  # type: ignore[attr-defined]
drop_t = Drop.__table__  # type: ignore[attr-defined]
hold_t = Hold.__table__  # type: ignore[attr-defined]
event_t = Event.__table__  # type: ignore[attr-defined]
operation_t = Operation.__table__  # type: ignore[attr-defined]
prize_t = Prize.__table__  # type: ignore[attr-defined]
redemption_t = Redemption.__table__  # type: ignore[attr-defined]
station_t = Station.__table__  # type: ignore[attr-defined]


def _empty(url: str) -> None:
    """Empty every table and restart the ids (as the pg_url fixture does)."""
    db = make_database(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with db.write() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.dispose()
    forget_cached_accounts()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    opened = Store.open(pg_url, migrate=False)
    load_event(opened, DEMO_EVENT_FILE, Actor(station="setup"))
    try:
        yield opened
    finally:
        opened.close()


def person(store: Store, name: str, uid: str, points: int) -> int:
    attendee = add_attendee(store, name, band_uid=uid)
    if points:
        award(store, Actor(station="hub-qa", staff="hub"), uid, points, "activity")
    return attendee


def at_counter(n: int, station: str = "counter-1") -> Actor:
    """A counter action with fixed ids, so that two runs write comparable rows."""
    return Actor(station=station, staff="Counter", correlation_id=f"corr-{n}", op_id=f"op-{n}")


def _set_credit_threshold(store: Store, threshold: int) -> None:
    with store.db.write() as conn:
        settings = json.loads(conn.execute(select(event_t.c.settings)).scalar_one())
        settings["credit"]["threshold"] = threshold
        conn.execute(update(event_t).values(settings=json.dumps(settings)))


def _due_now(store: Store, attendee_id: int) -> None:
    """The attendee's next pay-in-four instalment falls due (moved into the past)."""
    from store.models import CreditPlan, Instalment

    plan_t = CreditPlan.__table__  # type: ignore[attr-defined]
    inst_t = Instalment.__table__  # type: ignore[attr-defined]
    with store.db.write() as conn:
        past = store.db.now(conn).replace(microsecond=0)
        plans = select(plan_t.c.id).where(plan_t.c.attendee_id == attendee_id)
        first = conn.execute(
            select(func.min(inst_t.c.number)).where(
                inst_t.c.plan_id.in_(plans), inst_t.c.paid_at.is_(None)
            )
        ).scalar_one()
        conn.execute(
            update(inst_t)
            .where(inst_t.c.plan_id.in_(plans), inst_t.c.number == first)
            .values(due_at=past)
        )
        conn.execute(
            update(account_t).where(account_t.c.attendee_id == attendee_id).values(next_due_at=past)
        )


#: Only the short path's first statement has this (the step path: "SET taken=(prize.taken + …").
SHORT = "UPDATE prize SET taken = prize.taken + 1"
#: The short path's second statement.
SECOND = "WITH mine AS"

_TIME = re.compile(r"\d\d:\d\d(:\d\d)?")


def _outcome(call: Callable[[], Any]) -> Any:
    """A result without its ids and times, or the refusal's kind, reason and words."""
    try:
        done = call()
    except DomainError as refusal:
        return (
            type(refusal).__name__,
            getattr(refusal, "reason", ""),
            _TIME.sub("T", str(refusal)),
        )
    plain = json.loads(codec.dump(done))
    for key in ("redemption_id", "transfer_id", "hold_id", "at", "created_at", "expires_at", "now"):
        plain.pop(key, None)
    return plain


def _scenario(store: Store) -> tuple[list[Any], list[counter.Redeemed]]:
    """Every kind of redemption, refusal and fallback; returns the outcomes and the results."""
    _set_credit_threshold(store, 0)
    anna = person(store, "Anna Smith", ANNA, 1000)
    boris = person(store, "Иван Петров", BORIS, 100)
    carl = person(store, "Carl Plan", CARL, 1000)
    dana = person(store, "Dana Blocked", DANA, 500)
    credit.redeem_in_four(store, Actor(station="counter-9", staff="Counter"), carl, "headphones")
    block_band(store, Actor(station="desk-1"), DANA, "reported lost")
    with store.db.write() as conn:
        conn.execute(update(prize_t).where(prize_t.c.id == "charger").values(supplied=1))
        conn.execute(update(prize_t).where(prize_t.c.id == "thermo-mug").values(active=False))
    results: list[counter.Redeemed] = []

    def redeem(n: int, who: int, prize: str, station: str = "counter-1") -> Any:
        def call() -> counter.Redeemed:
            done = counter.redeem(store, at_counter(n, station), who, prize)
            results.append(done)
            return done

        return _outcome(call)

    outcomes = [
        redeem(1, anna, "stickers"),
        redeem(1, anna, "stickers"),  # a retry: the first result, nothing twice
        redeem(2, anna, "t-shirt"),
        redeem(3, anna, "t-shirt", "counter-2"),  # one per person
        redeem(4, boris, "charger"),  # too few points
        redeem(5, anna, "charger"),  # the last one
        redeem(6, boris, "stickers"),
        redeem(7, boris, "charger"),  # sold out
        redeem(8, carl, "stickers"),  # on a plan, nothing due
        redeem(9, dana, "stickers"),  # a blocked band
        redeem(10, anna, "no-such-prize"),
        redeem(11, anna, "thermo-mug"),  # no longer offered
        redeem(12, anna, "stickers", "counter-2"),
        redeem(13, anna, "stickers", "counter-2"),
        redeem(14, anna, "stickers", "counter-2"),  # three per person
    ]
    _due_now(store, carl)
    outcomes.append(redeem(15, carl, "socks"))  # an instalment due: collected first
    spend(store, at_counter(16), BORIS, 5, "prize")
    outcomes.append(redeem(16, anna, "socks"))  # that operation id was a spend
    return outcomes, results


_ISO = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+\+00:00")
_IDS = re.compile(r'"(redemption_id|transfer_id|plan_id|hold_id)": \d+')


def _mine(value: str | None) -> str:
    """A fixed operation or correlation id (the scenario's own), else "" (random ones)."""
    return value if value and value.startswith(("op-", "corr-")) else ""


def _rows(store: Store) -> dict[str, Any]:
    """What the scenario wrote, ids and times aside (accounts named by who owns them)."""
    with store.db.read() as conn:
        owner = {
            r.id: (r.kind, r.station, r.attendee_id)
            for r in conn.execute(
                select(
                    account_t.c.id, account_t.c.kind, account_t.c.station, account_t.c.attendee_id
                )
            )
        }

        def plain(raw: str) -> str:
            return _IDS.sub(r"\1", _TIME.sub("T", _ISO.sub("T", raw or "")))

        return {
            "operations": sorted(
                (
                    _mine(r.op_id),
                    r.kind,
                    r.station,
                    r.staff,
                    _mine(r.correlation_id),
                    plain(r.result),
                )
                for r in conn.execute(select(operation_t))
            ),
            "transfers": sorted(
                (
                    _mine(r.op_id),
                    r.seq,
                    owner[r.debit_account_id],
                    owner[r.credit_account_id],
                    r.amount,
                    r.code,
                    r.reference,
                    r.station,
                    r.staff or "",
                    _mine(r.correlation_id),
                    r.corrects_id is not None,
                )
                for r in conn.execute(select(transfer_t))
            ),
            "redemptions": sorted(
                (
                    _mine(r.op_id),
                    r.prize_id,
                    r.attendee_id,
                    r.price,
                    r.drop_id or 0,
                    r.station,
                    r.staff or "",
                    r.returned_op_id or "",
                    r.transfer_id is not None,
                )
                for r in conn.execute(select(redemption_t))
            ),
            "audit": sorted(
                (
                    r.action,
                    r.subject,
                    r.station,
                    r.staff or "",
                    _mine(r.correlation_id),
                    plain(r.detail),
                )
                for r in conn.execute(select(audit_t))
            ),
            "balances": sorted(
                (owner[r.id], r.balance)
                for r in conn.execute(select(account_t.c.id, account_t.c.balance))
                if r.balance  # the short path makes the station's issuer account (at 0) early
            ),
            "holds": sorted(
                (
                    _mine(r.op_id),
                    r.drop_id,
                    r.attendee_id,
                    r.station,
                    r.staff or "",
                    _mine(r.consumed_op_id),
                    r.released_at is not None,
                    (r.expires_at - r.created_at).total_seconds(),
                )
                for r in conn.execute(select(hold_t))
            ),
            "drops": sorted(
                tuple(r)
                for r in conn.execute(select(drop_t.c.id, drop_t.c.taken, drop_t.c.quantity))
            ),
            "stock": sorted(tuple(r) for r in conn.execute(select(prize_t.c.id, prize_t.c.taken))),
            "stations": sorted(
                tuple(r)
                for r in conn.execute(select(station_t.c.name, station_t.c.change_seq))
                if r.change_seq  # the short path makes the station's row (at 0) early
            ),
        }


def _consistent(store: Store, results: list[Any]) -> None:
    """Each result names its own rows, written at its time, and was stored as codec.dump."""
    with store.db.read() as conn:
        for done in results:
            if isinstance(done, counter.HoldView):
                hold = conn.execute(select(hold_t).where(hold_t.c.id == done.hold_id)).one()
                assert (hold.drop_id, hold.attendee_id) == (done.drop_id, done.attendee_id)
                assert (hold.created_at, hold.expires_at) == (done.created_at, done.expires_at)
                # Stored by its own operation (a second hold of the same drop returns the first).
                stored = select(func.count()).where(operation_t.c.result == codec.dump(done))
                assert conn.execute(stored).scalar_one() == 1
                continue
            row = conn.execute(
                select(redemption_t, transfer_t.c.amount, transfer_t.c.op_id.label("paid_by"))
                .join(transfer_t, transfer_t.c.id == redemption_t.c.transfer_id)
                .where(redemption_t.c.id == done.redemption_id)
            ).one()
            assert (row.transfer_id, row.attendee_id, row.prize_id, row.drop_id) == (
                done.transfer_id,
                done.attendee_id,
                done.prize_id,
                done.drop_id,
            )
            assert row.amount == row.price == done.price and row.paid_by == row.op_id
            assert row.created_at == done.at
            stored = conn.execute(
                select(operation_t.c.result, operation_t.c.created_at).where(
                    operation_t.c.op_id == row.op_id
                )
            ).one()
            assert stored.result == codec.dump(done) and stored.created_at == done.at


Scenario = Callable[[Store], tuple[list[Any], list[Any]]]


def _both_ways(
    pg_store: Store, pg_url: str, scenario: Scenario
) -> tuple[list[Any], list[Any], list[str]]:
    """Run ``scenario`` with the short path, then (on an emptied database) with the step path
    only; both write the same rows. Returns the short run's outcomes, results and statements."""
    with _sent(pg_store) as sent:
        fast_outcomes, fast_results = scenario(pg_store)
    fast_rows = _rows(pg_store)
    _consistent(pg_store, fast_results)
    assert pg_store.verify().ok, pg_store.verify().violations
    pg_store.close()

    _empty(pg_url)
    step = Store.open(pg_url, migrate=False)
    try:
        load_event(step, DEMO_EVENT_FILE, Actor(station="setup"))
        step.one_statement = False
        with _sent(step) as step_sent:
            step_outcomes, step_results = scenario(step)
        step_rows = _rows(step)
        _consistent(step, step_results)
        assert step.verify().ok, step.verify().violations
    finally:
        step.close()
    assert not any(s.startswith(("WITH holder AS ( SELECT a.id", "WITH op AS")) for s in step_sent)
    assert fast_outcomes == step_outcomes
    for key in fast_rows:
        assert fast_rows[key] == step_rows[key], key
    return fast_outcomes, fast_results, sent


def test_short_path_writes_what_the_step_path_writes(pg_store: Store, pg_url: str) -> None:
    outcomes, results, sent = _both_ways(pg_store, pg_url, _scenario)
    # Every redemption tried the short path; eight got as far as the per-person count, six of
    # them were done by it (two were over the limit and taken over by the step path).
    assert sum(SHORT in s for s in sent) == 17
    assert sum(s.startswith(SECOND) for s in sent) == 8
    assert [o[1] for o in outcomes if isinstance(o, tuple)] == [
        "per_person",
        "not_enough_points",
        "sold_out",
        "no_active_band",
        "",  # NotFound
        "inactive",
        "per_person",
        "",  # another kind's operation id
    ]
    assert results[0] == results[1]  # the retry


def _hold_scenario(store: Store) -> tuple[list[Any], list[Any]]:
    """Holds and their confirmations: every refusal, retries, a plan, expiry, a closed drop."""
    _set_credit_threshold(store, 0)
    anna = person(store, "Anna Smith", ANNA, 1000)
    boris = person(store, "Иван Петров", BORIS, 100)
    carl = person(store, "Carl Plan", CARL, 1000)
    eve = person(store, "Eve Early", "04E5F607080904", 1000)
    fay = person(store, "Fay Late", "04F60708090A05", 2000)
    gus = person(store, "Gus Closed", "04F70809000B06", 500)
    credit.redeem_in_four(store, Actor(station="counter-9", staff="Counter"), carl, "headphones")
    boss = Actor(station="counter-9", staff="Organiser")
    first = counter.start_drop(store, boss, "blanket", 2, 10, price=200)
    second = counter.start_drop(store, boss.next_action(), "blanket", 3, 10, price=150)
    results: list[Any] = []

    def call(make: Callable[[], Any]) -> Any:
        def run() -> Any:
            done = make()
            results.append(done)
            return done

        return _outcome(run)

    def hold(n: int, drop: int, who: int, seconds: float = counter.HOLD_SECONDS) -> Any:
        return call(lambda: counter.place_hold(store, at_counter(n), drop, who, seconds=seconds))

    def confirm(n: int, hold_id: int, station: str = "counter-1") -> Any:
        return call(lambda: counter.confirm_hold(store, at_counter(n, station), hold_id))

    outcomes = [hold(1, first.id, anna)]
    anna_hold = results[-1].hold_id
    outcomes += [
        hold(1, first.id, anna),  # a retry
        hold(2, first.id, anna),  # a second hold of the same drop: the one she has
        hold(3, first.id, boris),  # too few points
        hold(4, first.id, carl),  # on a plan (nothing overdue): the step path holds
    ]
    carl_hold = results[-1].hold_id
    outcomes += [
        hold(5, first.id, eve),  # both units on hold
        confirm(6, anna_hold),
        confirm(6, anna_hold),  # a retry
        confirm(7, anna_hold, "counter-2"),  # confirmed already
        confirm(8, 999_999),  # no such hold
    ]
    counter.release_hold(store, at_counter(9), carl_hold)
    outcomes += [confirm(10, carl_hold), hold(11, first.id, eve)]
    eve_hold = results[-1].hold_id
    outcomes += [
        confirm(12, eve_hold),  # the last unit
        hold(13, first.id, fay),  # sold out
        hold(14, second.id, anna),  # one per person: she has a blanket
        hold(15, second.id, fay, seconds=0.001),
    ]
    gone = results[-1].hold_id
    time.sleep(0.05)
    outcomes += [confirm(16, gone), hold(17, second.id, fay)]  # expired; a new one
    fay_hold = results[-1].hold_id
    counter.redeem(store, at_counter(18), fay, "blanket")  # from the regular stock
    outcomes.append(confirm(19, fay_hold))  # one per person now
    outcomes.append(hold(20, second.id, eve))  # ... but Eve already has one from the first
    outcomes.append(hold(21, second.id, gus))
    gus_hold = results[-1].hold_id
    counter.close_drop(store, boss.next_action(), second.id)
    outcomes += [hold(22, second.id, carl), confirm(23, gus_hold)]  # closed
    return outcomes, results


def test_holds_take_the_short_path_and_write_what_the_step_path_writes(
    pg_store: Store, pg_url: str
) -> None:
    outcomes, results, sent = _both_ways(pg_store, pg_url, _hold_scenario)
    reasons = [o[1] or o[0] for o in outcomes if isinstance(o, tuple)]
    assert reasons == [
        "not_enough_points",
        "sold_out",
        "hold_consumed",
        "NotFound",
        "hold_released",
        "sold_out",
        "per_person",
        "hold_expired",
        "per_person",
        "per_person",
        "drop_ended",
        "drop_ended",
    ], outcomes
    assert results[0] == results[1]  # a retry
    assert results[2].hold_id == results[0].hold_id  # a second hold: the one she has
    # The short path's second statement ran for nine holds (five placed: Anna's, Eve's, Fay's
    # two, Gus's) and three confirmations (two sold: Anna's, Eve's); the rest fell back at once.
    assert sum(s.startswith("WITH ok AS") and "INSERT INTO hold" in s for s in sent) == 9
    assert sum(s.startswith("WITH ok AS") and "INSERT INTO redemption" in s for s in sent) == 3


@contextmanager
def _statements(store: Store) -> Iterator[list[tuple[int, str]]]:
    """(thread, statement) for every statement sent in the block: ``store``'s through SQLAlchemy
    and every one straight through the driver (whitespace folded)."""
    seen: list[tuple[int, str]] = []
    with on_statement(
        store, lambda _raw, sql: seen.append((threading.get_ident(), " ".join(sql.split())))
    ):
        yield seen


@contextmanager
def _sent(store: Store) -> Iterator[list[str]]:
    """The statements ``store`` sends in the block (the driver's too), whitespace folded."""
    mine: list[str] = []
    with _statements(store) as seen:
        yield mine
        mine.extend(statement for _thread, statement in seen)


def test_a_plain_redemption_takes_two_statements(pg_store: Store) -> None:
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    # The station's first two: its rows and accounts are made, then found and remembered.
    counter.redeem(pg_store, at_counter(1), anna, "stickers")
    counter.redeem(pg_store, at_counter(0), anna, "stickers")
    with _sent(pg_store) as sent:
        done = counter.redeem(pg_store, at_counter(2), anna, "t-shirt")
    assert len(sent) == 2, sent
    assert SHORT in sent[0] and sent[1].startswith(SECOND)
    assert (done.name, done.prize_name, done.price, done.balance) == (
        "Anna Smith",
        "T-shirt",
        done.price,
        1000 - 40 - done.price,
    )
    # A refusal is worded by the step path: the short attempt, then the steps.
    with _sent(pg_store) as sent, pytest.raises(Refused) as refused:
        counter.redeem(pg_store, at_counter(3), anna, "t-shirt")
    assert refused.value.reason == "per_person"
    assert SHORT in sent[0] and sent[1].startswith(SECOND) and len(sent) > 2
    # Forced onto the step path: no short attempt at all.
    pg_store.one_statement = False
    with _sent(pg_store) as sent:
        counter.redeem(pg_store, at_counter(4), anna, "socks")
    assert not any(SHORT in s for s in sent) and len(sent) > 2
    assert pg_store.verify().ok


def test_a_sold_out_prize_is_refused_by_the_short_statement(pg_store: Store) -> None:
    """The commonest refusal late in the day costs the short statement and its record only."""
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    boris = person(pg_store, "Иван Петров", BORIS, 1000)
    with pg_store.db.write() as conn:
        conn.execute(update(prize_t).where(prize_t.c.id == "charger").values(supplied=1))
    counter.redeem(pg_store, at_counter(1), anna, "charger")  # the last one
    before = counter.catalogue(pg_store, boris).attendee.balance  # type: ignore[union-attr]
    with _sent(pg_store) as sent, pytest.raises(Refused) as refused:
        counter.redeem(pg_store, at_counter(2), boris, "charger")
    assert refused.value.reason == "sold_out"
    assert str(refused.value) == "Wireless charger just sold out: nothing was charged."
    assert len(sent) == 2, sent
    assert SHORT in sent[0] and sent[1].startswith("INSERT INTO audit")
    with pg_store.db.read() as conn:
        assert (
            conn.execute(select(operation_t).where(operation_t.c.op_id == "op-2")).first() is None
        )
        stock = select(prize_t.c.taken).where(prize_t.c.id == "charger")
        assert conn.execute(stock).scalar_one() == 1
        refusal = conn.execute(select(audit_t).where(audit_t.c.correlation_id == "corr-2")).one()
    assert (refusal.action, refusal.subject, refusal.station, refusal.staff) == (
        "refused",
        "redeem",
        "counter-1",
        "Counter",
    )
    assert json.loads(refusal.detail) == {
        "kind": "redeem",
        "reason": "sold_out",
        "message": "Wireless charger just sold out: nothing was charged.",
    }
    assert counter.catalogue(pg_store, boris).attendee.balance == before  # type: ignore[union-attr]
    assert pg_store.verify().ok


def test_a_hold_on_a_drop_that_is_gone_is_refused_by_the_short_statements(pg_store: Store) -> None:
    """Every unit on hold elsewhere, then the drop sold out: refused without the step path."""
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    boris = person(pg_store, "Иван Петров", BORIS, 1000)
    boss = Actor(station="counter-9", staff="Organiser")
    drop = counter.start_drop(pg_store, boss, "blanket", 1, 10, price=200)
    held = counter.place_hold(pg_store, at_counter(1), drop.id, anna)
    with _sent(pg_store) as sent, pytest.raises(Refused) as refused:
        counter.place_hold(pg_store, at_counter(2), drop.id, boris)
    assert refused.value.reason == "sold_out"
    assert "on hold at another counter" in str(refused.value)
    assert len(sent) == 3, sent  # both halves, then the refusal's record
    assert sent[0].startswith("WITH op AS") and sent[1].startswith("WITH ok AS")
    assert sent[2].startswith("INSERT INTO audit")
    counter.confirm_hold(pg_store, at_counter(3), held.hold_id)
    with _sent(pg_store) as sent, pytest.raises(Refused) as refused:
        counter.place_hold(pg_store, at_counter(4), drop.id, boris)
    assert (refused.value.reason, str(refused.value)) == (
        "sold_out",
        "The Blanket drop is over (sold out).",
    )
    assert len(sent) == 2 and sent[1].startswith("INSERT INTO audit"), sent
    with pg_store.db.read() as conn:
        details = [
            json.loads(d)
            for d in conn.execute(
                select(audit_t.c.detail).where(audit_t.c.action == "refused").order_by(audit_t.c.id)
            ).scalars()
        ]
        holds = conn.execute(select(func.count()).select_from(hold_t)).scalar_one()
    assert [(d["kind"], d["reason"]) for d in details] == [("hold", "sold_out")] * 2
    assert holds == 1
    assert pg_store.verify().ok


# -- the per-person limit, raced ----------------------------------------------------------------


def _redeem_for(args: tuple[str, int, int, str]) -> str:
    url, n, attendee_id, prize = args
    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        counter.redeem(store, Actor(station=f"counter-{n}"), attendee_id, prize)
        return "won"
    except Refused as refusal:
        return refusal.reason
    finally:
        store.close()


@pytest.mark.slow
def test_four_counters_hand_one_per_person_prize_once(pg_store: Store, pg_url: str) -> None:
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    for prize in ("socks", "t-shirt", "charger"):  # a few rounds: every start differs a bit
        price = counter.catalogue(pg_store).prize(prize).price  # type: ignore[union-attr]
        before = counter.catalogue(pg_store, anna).attendee.balance  # type: ignore[union-attr]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(4) as pool:
            outcomes = pool.map(_redeem_for, [(pg_url, n, anna, prize) for n in range(4)])
        assert sorted(outcomes) == ["per_person"] * 3 + ["won"], outcomes
        after = counter.catalogue(pg_store, anna).attendee.balance  # type: ignore[union-attr]
        assert after == before - price
    assert pg_store.verify().ok, pg_store.verify().violations


@contextmanager
def _pause_before(
    store: Store, marker: str
) -> Iterator[tuple[threading.Event, threading.Event, list[int]]]:
    """Stop before the first statement containing ``marker`` (transaction open, the locks of the
    statements before it held) until ``go`` is set; ``holding`` is set once stopped, with the
    server process id of the stopped connection."""
    holding, go = threading.Event(), threading.Event()
    pid: list[int] = []

    def maybe(raw: Any, statement: str) -> None:
        if not holding.is_set() and marker in " ".join(statement.split()):
            pid.append(raw.info.backend_pid)
            holding.set()
            go.wait(30)

    with on_statement(store, maybe):
        try:
            yield holding, go, pid
        finally:
            go.set()


def _race(
    url: str,
    first: Callable[[Store], Any],
    marker: str,
    second: Callable[[Store], Any],
) -> tuple[Any, Any, list[str]]:
    """``first`` stops before its ``marker`` statement; ``second`` runs until it waits for a
    lock ``first`` holds; then ``first`` goes on. Returns both outcomes and ``second``'s
    statements."""
    one, two = Store.open(url, migrate=False), Store.open(url, migrate=False)
    outcomes: dict[str, Any] = {}
    threads: dict[str, int] = {}

    def run(name: str, store: Store, call: Callable[[Store], Any]) -> None:
        threads[name] = threading.get_ident()
        try:
            outcomes[name] = call(store)
        except Refused as refusal:
            outcomes[name] = refusal.reason

    try:
        with _pause_before(one, marker) as (holding, go, pid), _statements(two) as seen:
            a = threading.Thread(target=run, args=("first", one, first))
            a.start()
            assert holding.wait(30)
            b = threading.Thread(target=run, args=("second", two, second))
            b.start()
            admin = make_database(url)
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with admin.read() as conn:
                        blocked = conn.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity"
                                " WHERE :pid = ANY(pg_blocking_pids(pid))"
                            ),
                            {"pid": pid[0]},
                        ).scalar_one()
                    if blocked:
                        break
                    time.sleep(0.02)
                else:
                    pytest.fail("the second counter never waited for the first")
            finally:
                admin.dispose()
                go.set()
            a.join(30)
            b.join(30)
    finally:
        one.close()
        two.close()
    sent = [statement for thread, statement in seen if thread == threads["second"]]
    return outcomes["first"], outcomes["second"], sent


def test_a_drop_sale_holding_the_account_stops_the_short_path(pg_store: Store, pg_url: str) -> None:
    """The snapshot trap: a drop sale (which does not lock the prize's row) has debited the
    person and not committed yet; the short path's debit waits for it, and its per-person count,
    a statement later, sees that sale: refused, charged nothing."""
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    drop = counter.start_drop(
        pg_store, Actor(station="counter-1", staff="Organiser"), "t-shirt", 5, 10, price=50
    )
    sold, refused, sent = _race(
        pg_url,
        lambda s: counter.redeem_from_drop(s, Actor(station="counter-1"), anna, drop.id),
        "max(redemption.created_at)",  # debited; its per-person count next
        lambda s: counter.redeem(s, Actor(station="counter-2"), anna, "t-shirt"),
    )
    assert isinstance(sold, counter.Redeemed) and sold.drop_id == drop.id
    assert refused == "per_person"
    assert any(SHORT in s for s in sent)  # the short path was tried
    assert counter.catalogue(pg_store, anna).attendee.balance == 950  # type: ignore[union-attr]
    assert pg_store.verify().ok, pg_store.verify().violations


def test_the_short_path_holds_the_account_between_its_statements(
    pg_store: Store, pg_url: str
) -> None:
    """The short path stopped between its two statements (the unit taken, the person debited):
    a drop sale for the same person waits, then sees the redemption: refused."""
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    drop = counter.start_drop(
        pg_store, Actor(station="counter-1", staff="Organiser"), "t-shirt", 5, 10, price=50
    )
    sold, refused, _sent = _race(
        pg_url,
        lambda s: counter.redeem(s, Actor(station="counter-2"), anna, "t-shirt"),
        SECOND,
        lambda s: counter.redeem_from_drop(s, Actor(station="counter-1"), anna, drop.id),
    )
    assert isinstance(sold, counter.Redeemed) and sold.drop_id is None
    assert refused == "per_person"
    assert counter.catalogue(pg_store, anna).attendee.balance == 1000 - sold.price  # type: ignore[union-attr]
    assert pg_store.verify().ok, pg_store.verify().violations


def test_two_short_paths_for_the_same_person_and_prize(pg_store: Store, pg_url: str) -> None:
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    sold, refused, sent = _race(
        pg_url,
        lambda s: counter.redeem(s, Actor(station="counter-1"), anna, "t-shirt"),
        SECOND,
        lambda s: counter.redeem(s, Actor(station="counter-2"), anna, "t-shirt"),
    )
    assert isinstance(sold, counter.Redeemed)
    assert refused == "per_person"
    assert any(SHORT in s for s in sent)
    assert counter.catalogue(pg_store, anna).attendee.balance == 1000 - sold.price  # type: ignore[union-attr]
    assert pg_store.verify().ok, pg_store.verify().violations


def test_two_counters_hold_the_last_unit_of_a_drop(pg_store: Store, pg_url: str) -> None:
    """The first hold has locked the drop's row; the second waits for it, and counts the holds
    with a snapshot taken after the first committed its hold: every unit is on hold."""
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    boris = person(pg_store, "Иван Петров", BORIS, 1000)
    drop = counter.start_drop(
        pg_store, Actor(station="counter-1", staff="Organiser"), "blanket", 1, 10, price=100
    )
    held, refused, sent = _race(
        pg_url,
        lambda s: counter.place_hold(s, Actor(station="counter-1"), drop.id, anna),
        "INSERT INTO hold (id",  # the drop's row locked; the count and the hold next
        lambda s: counter.place_hold(s, Actor(station="counter-2"), drop.id, boris),
    )
    assert isinstance(held, counter.HoldView) and held.left == 0
    assert refused == "sold_out"
    assert any("UPDATE prize_drop d SET taken = d.taken FROM op" in s for s in sent)
    assert counter.drops(pg_store)[0].left == 0
    assert pg_store.verify().ok, pg_store.verify().violations


def test_two_counters_confirm_the_same_hold(pg_store: Store, pg_url: str) -> None:
    anna = person(pg_store, "Anna Smith", ANNA, 1000)
    drop = counter.start_drop(
        pg_store, Actor(station="counter-1", staff="Organiser"), "blanket", 2, 10, price=100
    )
    hold = counter.place_hold(pg_store, Actor(station="counter-1"), drop.id, anna)
    sold, refused, _sent = _race(
        pg_url,
        lambda s: counter.confirm_hold(s, Actor(station="counter-1"), hold.hold_id),
        "INSERT INTO redemption (id",  # the hold consumed, the unit taken; the rest next
        lambda s: counter.confirm_hold(s, Actor(station="counter-2"), hold.hold_id),
    )
    assert isinstance(sold, counter.Redeemed) and (sold.left, sold.balance) == (1, 900)
    assert refused == "hold_consumed"
    assert counter.catalogue(pg_store, anna).attendee.balance == 900  # type: ignore[union-attr]
    assert pg_store.verify().ok, pg_store.verify().violations
