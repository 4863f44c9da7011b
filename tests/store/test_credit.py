"""Pay in four: the schedule, every eligibility rule, collection, overdue, pause, close, races."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from store import credit, hub
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.errors import Refused
from store.eventfile import EventFileError, load_event, parse_event_file
from store.ledger import account_t, transfer_t
from store.models import CreditPlan, Event, Instalment
from store.points import award, spend
from store.service import Store
from tests.factories import add_attendee

UID = "04A1B2C3D4E580"
OTHER = "04B2C3D4E5F601"
plan_t = CreditPlan.__table__  # type: ignore[attr-defined]
inst_t = Instalment.__table__  # type: ignore[attr-defined]
event_t = Event.__table__  # type: ignore[attr-defined]

COUNTER = Actor(station="counter-1", staff="Counter")


def counter() -> Actor:
    return COUNTER.next_action()


def hubman() -> Actor:
    return Actor(station="hub-1", staff="Hubman", staff_id="hub-backend")


@pytest.fixture
def event_store(store: Store) -> Store:
    load_event(store, DEMO_EVENT_FILE, Actor(station="setup"))
    return store


def set_credit(store: Store, **values: Any) -> None:
    """Change the loaded event's [credit] settings (as an edited event file would)."""
    with store.db.write() as conn:
        raw = conn.execute(select(event_t.c.settings)).scalar_one()
        settings = json.loads(raw)
        weights = values.pop("weights", None)
        settings["credit"].update(values)
        if weights:
            settings["credit"]["weights"].update(weights)
        conn.execute(update(event_t).values(settings=json.dumps(settings)))


def person(store: Store, name: str, uid: str, points: int) -> int:
    attendee = add_attendee(store, name, band_uid=uid)
    if points:
        award(store, hubman().next_action(), uid, points, "bonus")
    return attendee


def shift_back(store: Store, minutes: int) -> None:
    """Move every unpaid instalment (and the accounts' next due times) ``minutes`` earlier."""
    delta = timedelta(minutes=minutes)
    with store.db.write() as conn:
        for row in conn.execute(
            select(inst_t.c.plan_id, inst_t.c.number, inst_t.c.due_at).where(
                inst_t.c.paid_at.is_(None)
            )
        ).all():
            conn.execute(
                update(inst_t)
                .where(inst_t.c.plan_id == row.plan_id, inst_t.c.number == row.number)
                .values(due_at=row.due_at - delta)
            )
        for row in conn.execute(
            select(account_t.c.id, account_t.c.next_due_at).where(
                account_t.c.next_due_at.is_not(None)
            )
        ).all():
            conn.execute(
                update(account_t)
                .where(account_t.c.id == row.id)
                .values(next_due_at=row.next_due_at - delta)
            )


def instalment_transfers(store: Store) -> int:
    with store.db.read() as conn:
        return int(
            conn.execute(select(func.count()).where(transfer_t.c.code == "instalment")).scalar_one()
        )


def balance(store: Store, attendee_id: int) -> int:
    with store.db.read() as conn:
        return int(
            conn.execute(
                select(account_t.c.balance).where(account_t.c.attendee_id == attendee_id)
            ).scalar_one()
        )


# -- the schedule -------------------------------------------------------------------------------

T0 = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


@given(price=st.integers(1, 100_000), n=st.integers(1, 12), minutes=st.integers(1, 600))
def test_schedule_sums_to_the_price_with_the_remainder_first(
    price: int, n: int, minutes: int
) -> None:
    parts = credit.schedule(price, n, T0, timedelta(minutes=minutes))
    amounts = [amount for _n, amount, _due in parts]
    assert sum(amounts) == price
    assert all(amount > 0 for amount in amounts)
    assert len(parts) == min(n, price)
    assert all(amounts[0] >= a for a in amounts[1:])
    assert len(set(amounts[1:])) <= 1
    if len(amounts) > 1:  # the remainder of the split is less than one share per instalment
        assert amounts[0] - amounts[1] < len(amounts)
    assert [number for number, _a, _d in parts] == list(range(1, len(parts) + 1))
    assert [due for _n, _a, due in parts] == [
        T0 + i * timedelta(minutes=minutes) for i in range(len(parts))
    ]


def test_schedule_of_the_demo_headphones() -> None:
    assert [a for _n, a, _d in credit.schedule(901, 4, T0, timedelta(minutes=90))] == [
        226,
        225,
        225,
        225,
    ]


# -- the event file -----------------------------------------------------------------------------


def test_event_file_credit_table_is_validated(tmp_path: Path) -> None:
    text = DEMO_EVENT_FILE.read_text(encoding="utf-8")
    bad = text.replace("interval_minutes = 90", "interval_minutes = 0").replace(
        "hubs_visited = 10 ", 'hubs_visited = "ten" '
    )
    path = tmp_path / "event.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(EventFileError) as caught:
        parse_event_file(path)
    message = caught.value.message
    assert "credit.interval_minutes" in message
    assert "credit.weights.hubs_visited" in message
    spec = parse_event_file(DEMO_EVENT_FILE)
    assert (spec.credit.instalments, spec.credit.interval_minutes) == (4, 90)


def test_rules_come_from_the_event_file(event_store: Store) -> None:
    with event_store.db.read() as conn:
        rules = credit.credit_rules(conn)
    assert (rules.instalments, rules.interval_minutes, rules.limit) == (4, 90, 1200)
    assert rules.timezone == "Asia/Almaty"


# -- eligibility, rule by rule ------------------------------------------------------------------


def rule(found: credit.Eligibility, key: str) -> credit.Rule:
    return next(r for r in found.rules if r.key == key)


def test_first_instalment_must_be_covered(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    poor = person(event_store, "Poor Pete", UID, 224)
    rich = person(event_store, "Rich Rita", OTHER, 225)
    failed = credit.eligibility(event_store, poor, "headphones")
    assert not rule(failed, "first_instalment").passed
    assert "has 224 points; the first instalment is 225" in rule(failed, "first_instalment").reason
    assert failed.first_failure is not None and failed.first_failure.key == "first_instalment"
    with pytest.raises(Refused, match="the first instalment is 225") as caught:
        credit.redeem_in_four(event_store, counter(), poor, "headphones")
    assert caught.value.reason == "credit_first_instalment"
    passed = credit.eligibility(event_store, rich, "headphones")
    assert rule(passed, "first_instalment").passed and passed.eligible


def test_limit_on_what_is_owed(event_store: Store) -> None:
    set_credit(event_store, threshold=0, limit=675)
    attendee = person(event_store, "Anna Smith", UID, 1000)
    assert rule(credit.eligibility(event_store, attendee, "headphones"), "limit").passed
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")
    found = credit.eligibility(event_store, attendee, "backpack")
    assert found.owed == 675
    assert not rule(found, "limit").passed
    assert "would be 1500 points, over the limit of 675" in rule(found, "limit").reason
    with pytest.raises(Refused) as caught:
        credit.redeem_in_four(event_store, counter(), attendee, "backpack")
    assert caught.value.reason == "credit_limit"


def test_score_part_by_part_against_the_threshold(event_store: Store) -> None:
    set_credit(
        event_store,
        threshold=30,
        weights={"points_per_hour": 0.1, "hubs_visited": 10, "paid_on_time": 15},
    )
    attendee = add_attendee(event_store, "Anna Smith", band_uid=UID)
    award(event_store, hubman(), UID, 300, "bonus")
    found = credit.eligibility(event_store, attendee, "headphones")
    parts = {p.key: p for p in found.parts}
    assert parts["points_per_hour"].value == 300  # not checked in: at least one hour
    assert parts["points_per_hour"].points == 30
    assert parts["hubs_visited"].value == 0
    assert found.score == 30 and rule(found, "score").passed
    set_credit(event_store, threshold=40)
    found = credit.eligibility(event_store, attendee, "headphones")
    assert not rule(found, "score").passed
    assert "Score 30 is below the threshold of 40" in rule(found, "score").reason
    with pytest.raises(Refused) as caught:
        credit.redeem_in_four(event_store, counter(), attendee, "headphones")
    assert caught.value.reason == "credit_score"
    # An activity at a hub counts as a visit (and its points as earned).
    hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    found = credit.eligibility(event_store, attendee, "headphones")
    parts = {p.key: p for p in found.parts}
    assert parts["hubs_visited"].value == 1
    assert found.score == 42 and found.eligible


def test_prize_not_marked_is_refused(event_store: Store) -> None:
    attendee = person(event_store, "Anna Smith", UID, 1000)
    with pytest.raises(Refused, match="cannot be paid in four") as caught:
        credit.eligibility(event_store, attendee, "socks")
    assert caught.value.reason == "not_pay_in_four"


# -- a plan, collection, overdue and pause ------------------------------------------------------


def test_plan_moves_the_full_price_to_the_counter(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 300)
    plan = credit.redeem_in_four(event_store, counter(), attendee, "headphones")
    assert [i.amount for i in plan.instalments] == [225, 225, 225, 225]
    assert plan.instalments[0].paid_at is not None
    assert all(i.paid_at is None for i in plan.instalments[1:])
    assert plan.instalments[1].due_at - plan.at == timedelta(minutes=90)
    assert (plan.balance, plan.owed) == (75, 675)
    with event_store.db.read() as conn:
        kinds = dict(
            conn.execute(
                select(account_t.c.kind, func.sum(account_t.c.balance)).group_by(account_t.c.kind)
            ).all()
        )
        due = conn.execute(
            select(account_t.c.next_due_at).where(account_t.c.attendee_id == attendee)
        ).scalar_one()
    assert kinds["counter"] == 900 and kinds["credit"] == -675
    assert due == plan.instalments[1].due_at
    status = credit.credit_status(event_store, attendee)
    assert (status.owed, status.overdue, status.paused) == (675, 0, False)
    assert event_store.verify().ok


def test_a_retried_plan_is_applied_once(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 300)
    actor = counter()
    first = credit.redeem_in_four(event_store, actor, attendee, "headphones")
    again = credit.redeem_in_four(event_store, actor, attendee, "headphones")
    assert again == first
    assert len(credit.credit_status(event_store, attendee).plans) == 1
    assert balance(event_store, attendee) == 75


def test_due_instalment_collected_by_the_next_operation(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 500)
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")  # 275 left
    award(event_store, hubman(), UID, 5, "bonus")
    assert instalment_transfers(event_store) == 0  # not due yet: nothing collected
    shift_back(event_store, 91)
    result = award(event_store, hubman(), UID, 5, "bonus")
    assert instalment_transfers(event_store) == 1
    assert result.balance == 60  # 275 + 5 + 5 - 225
    assert "225 points collected" in result.credit_note
    # A tap (a lookup) after the next due time collects too.
    shift_back(event_store, 91)
    found = event_store.identify_band(counter(), UID)
    assert found.balance == 60 == balance(event_store, attendee)
    assert instalment_transfers(event_store) == 1  # 60 points cannot pay 225: overdue
    assert found.paused and "Paused: overdue instalment of 225 points" in found.credit_note
    assert event_store.verify().ok


def test_overdue_pauses_then_later_points_repay_first(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 225)
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")  # balance 0
    shift_back(event_store, 91)
    found = event_store.identify_band(counter(), UID)
    assert found.paused
    status = credit.credit_status(event_store, attendee)
    assert status.paused and status.overdue == 225
    # Paused: no new plan, no prize.
    award(event_store, hubman(), UID, 100, "bonus")  # 100 < 225: still overdue
    found_rules = credit.eligibility(event_store, attendee, "backpack")
    assert not rule(found_rules, "overdue").passed
    assert "overdue instalment of 225 points" in rule(found_rules, "overdue").reason
    with pytest.raises(Refused) as caught:
        credit.redeem_in_four(event_store, counter(), attendee, "backpack")
    assert caught.value.reason == "credit_overdue"
    with pytest.raises(Refused, match="Paused") as caught:
        spend(event_store, counter(), UID, 10, "prize")
    assert caught.value.reason == "credit_paused"
    with event_store.db.write() as conn, pytest.raises(Refused) as paused:
        credit.require_not_paused(conn, attendee, event_store.db.now(conn))
    assert paused.value.reason == "credit_paused"
    # Points earned later repay the overdue instalment first.
    result = award(event_store, hubman(), UID, 200, "bonus")
    assert result.balance == 75
    assert "225 points collected" in result.credit_note
    status = credit.credit_status(event_store, attendee)
    assert (status.paused, status.owed) == (False, 450)
    with event_store.db.write() as conn:
        credit.require_not_paused(conn, attendee, event_store.db.now(conn))
    # The repaid instalment was overdue: it does not count as paid on time.
    parts = {p.key: p for p in credit.eligibility(event_store, attendee, "backpack").parts}
    assert parts["paid_on_time"].value == 0
    assert event_store.verify().ok


def test_wristband_inspection_shows_the_pause(event_store: Store) -> None:
    from store.wristbands import inspect_band

    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 225)
    before = inspect_band(event_store, UID)
    assert inspect_band(event_store, UID).plans_note == ""
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")
    found = inspect_band(event_store, UID)
    assert found.credit_note == ""
    assert found.plans_note.startswith("Pay in four: 1 open plan, 675 points owed")
    assert "next instalment 225 due" in found.plans_note
    assert before.plans_note == ""
    shift_back(event_store, 91)
    credit.collect(event_store, counter(), attendee)
    found = inspect_band(event_store, UID)
    assert found.credit_note.startswith("Paused: overdue instalment of 225 points")


def test_paid_on_time_counts_in_the_score_and_a_paid_plan_closes(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 1000)
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")
    for _ in range(3):
        shift_back(event_store, 91)
        award(event_store, hubman(), UID, 1, "bonus")
    status = credit.credit_status(event_store, attendee)
    assert status.owed == 0 and status.next_due_at is None
    assert status.plans[0].state == "paid"
    parts = {p.key: p for p in credit.eligibility(event_store, attendee, "backpack").parts}
    assert parts["paid_on_time"].value == 3
    assert event_store.verify().ok


def test_hub_award_collects(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 225)
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")
    shift_back(event_store, 91)
    given_award = hub.award_cool(event_store, hubman(), UID, 200)
    assert given_award.balance == 200 and given_award.credit_note.startswith("Paused")
    given_award = hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")  # 20 points
    assert given_award.balance == 220 and given_award.credit_note.startswith("Paused")
    assert instalment_transfers(event_store) == 0  # 220 < 225
    award(event_store, hubman(), UID, 5, "bonus")
    assert instalment_transfers(event_store) == 1
    assert balance(event_store, attendee) == 0
    assert event_store.verify().ok


def test_collect_is_idle_when_nothing_is_due(event_store: Store) -> None:
    attendee = person(event_store, "Anna Smith", UID, 10)
    assert credit.collect(event_store, counter(), attendee) == credit.Collected()


# -- report and close ---------------------------------------------------------------------------


def open_two_plans(store: Store) -> tuple[int, int]:
    set_credit(store, threshold=0)
    anna = person(store, "Anna Smith", UID, 500)
    ivan = person(store, "Иван Петров", OTHER, 225)
    credit.redeem_in_four(store, counter(), anna, "headphones")  # 275 left, owes 675
    credit.redeem_in_four(store, counter(), ivan, "headphones")  # 0 left, owes 675
    return anna, ivan


def test_report_lists_open_plans_overdue_first(event_store: Store) -> None:
    anna, ivan = open_two_plans(event_store)
    shift_back(event_store, 91)
    event_store.identify_band(counter(), OTHER)  # Ivan cannot pay: overdue
    event_store.identify_band(counter(), UID)  # Anna pays the second
    found = credit.report(event_store)
    assert [line.attendee_id for line in found.lines] == [ivan, anna]
    assert found.lines[0].overdue == 225
    assert (found.owed, found.overdue, found.credit_balance) == (450 + 675, 225, -(450 + 675))


def test_close_collects_what_it_can_then_writes_off(event_store: Store) -> None:
    anna, ivan = open_two_plans(event_store)
    done = credit.close_all(event_store, counter(), "collect")
    # Anna's 275 points pay one more instalment; Ivan has none: the rest is written off.
    assert (done.plans, done.collected, done.written_off) == (2, 225, 1125)
    assert balance(event_store, anna) == 50 and balance(event_store, ivan) == 0
    assert credit.report(event_store).lines == ()
    assert credit.report(event_store).credit_balance == 0
    assert event_store.verify().ok
    again = credit.close_all(event_store, counter(), "collect")
    assert again == credit.CloseResult(plans=0, collected=0, written_off=0)


def test_close_collect_takes_the_balance_first(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    anna = person(event_store, "Anna Smith", UID, 700)
    credit.redeem_in_four(event_store, counter(), anna, "headphones")  # 475 left, owes 675
    done = credit.close_all(event_store, counter(), "collect")
    assert (done.plans, done.collected, done.written_off) == (1, 450, 225)
    assert balance(event_store, anna) == 25
    status = credit.credit_status(event_store, anna)
    assert status.plans[0].state == "closed" and status.owed == 0
    assert event_store.verify().ok


def test_close_write_off(event_store: Store) -> None:
    open_two_plans(event_store)
    done = credit.close_all(event_store, counter(), "write-off")
    assert (done.plans, done.collected, done.written_off) == (2, 0, 1350)
    with event_store.db.read() as conn:
        write_offs = conn.execute(
            select(func.count()).where(transfer_t.c.code == "write-off")
        ).scalar_one()
    assert write_offs == 2
    assert credit.report(event_store).credit_balance == 0
    assert event_store.verify().ok


def test_verify_catches_a_wrong_next_due_time(event_store: Store) -> None:
    set_credit(event_store, threshold=0)
    anna = person(event_store, "Anna Smith", UID, 300)
    credit.redeem_in_four(event_store, counter(), anna, "headphones")
    with event_store.db.write() as conn:
        conn.execute(
            update(account_t).where(account_t.c.attendee_id == anna).values(next_due_at=None)
        )
    report = event_store.verify()
    assert any("next due time" in line for line in report.violations)


# -- races --------------------------------------------------------------------------------------


def _award_after_due(args: tuple[str, int]) -> int:
    url, n = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    opened = Store.open(url, migrate=False)
    try:
        return award(opened, Actor(station=f"hub-{n}"), UID, 1, "bonus").balance
    finally:
        opened.close()


def _tap_after_due(args: tuple[str, int]) -> int:
    url, n = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    opened = Store.open(url, migrate=False)
    try:
        return opened.identify_band(Actor(station=f"desk-{n}"), UID).balance or 0
    finally:
        opened.close()


@pytest.mark.slow
@pytest.mark.parametrize("racer", [_award_after_due, _tap_after_due])
def test_two_stations_collect_an_instalment_once(
    event_store: Store, db_url: str, racer: Any
) -> None:
    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 500)
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")
    shift_back(event_store, 91)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.map(racer, [(db_url, n) for n in range(4)])
    assert instalment_transfers(event_store) == 1
    with event_store.db.read() as conn:
        paid = conn.execute(select(func.count()).where(inst_t.c.paid_at.is_not(None))).scalar_one()
    assert paid == 2
    assert event_store.verify().ok


# -- the demo -----------------------------------------------------------------------------------


def test_demo_has_people_for_a_walkthrough(store: Store) -> None:
    from store.demo.build import build_demo
    from store.demo.credit_seed import CREDIT_DEMO_PEOPLE
    from store.models import Attendee

    build_demo(store)
    attendee_t = Attendee.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        ids = dict(
            conn.execute(
                select(attendee_t.c.code, attendee_t.c.id).where(
                    attendee_t.c.code.in_(CREDIT_DEMO_PEOPLE)
                )
            ).all()
        )
    failed = {}
    for code, (role, _points) in CREDIT_DEMO_PEOPLE.items():
        found = credit.eligibility(store, ids[code], "backpack")
        failed[role] = found.first_failure.key if found.first_failure else None
    assert failed == {
        "eligible": None,
        "low score": "score",
        "paused": "overdue",
        "over the limit": "limit",
    }
    assert store.verify().ok


def _take_plan(args: tuple[str, int, int, str]) -> str:
    url, n, attendee_id, prize = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    opened = Store.open(url, migrate=False)
    try:
        credit.redeem_in_four(opened, Actor(station=f"counter-{n}"), attendee_id, prize)
        return "won"
    except Refused as refusal:
        return refusal.reason
    finally:
        opened.close()


@pytest.mark.slow
def test_two_counters_cannot_both_open_plans_over_the_limit(
    event_store: Store, db_url: str
) -> None:
    set_credit(event_store, threshold=0, limit=700)
    attendee = person(event_store, "Anna Smith", UID, 1000)
    ctx = multiprocessing.get_context("spawn")
    prizes = ["headphones", "backpack", "headphones", "backpack"]
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_take_plan, [(db_url, n, attendee, p) for n, p in enumerate(prizes)])
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"credit_limit", "per_person"}
    assert len(credit.credit_status(event_store, attendee).plans) == 1
    assert event_store.verify().ok


def test_the_counter_refuses_a_paused_attendee_until_repaid(event_store: Store) -> None:
    from store import counter as prize_counter

    set_credit(event_store, threshold=0)
    attendee = person(event_store, "Anna Smith", UID, 225)
    credit.redeem_in_four(event_store, counter(), attendee, "headphones")  # balance 0
    shift_back(event_store, 91)
    award(event_store, hubman(), UID, 100, "bonus")  # collects nothing: 100 < 225, overdue
    drop = prize_counter.start_drop(event_store, counter(), "stickers", 5, 10, price=10)
    with pytest.raises(Refused) as regular:
        prize_counter.redeem(event_store, counter(), attendee, "stickers")
    with pytest.raises(Refused) as from_drop:
        prize_counter.redeem_from_drop(event_store, counter(), attendee, drop.id)
    with pytest.raises(Refused) as hold:
        prize_counter.place_hold(event_store, counter(), drop.id, attendee)
    assert {regular.value.reason, from_drop.value.reason, hold.value.reason} == {"credit_paused"}
    assert "Paused" in regular.value.message
    assert balance(event_store, attendee) == 100  # nothing charged, nothing taken
    # Points earned later repay the overdue instalment; then the counter serves them again.
    award(event_store, hubman(), UID, 200, "bonus")  # 300 - 225 = 75
    sold = prize_counter.redeem(event_store, counter(), attendee, "stickers")
    assert sold.balance == 75 - sold.price
    assert event_store.verify().ok


# -- returning a prize taken on a plan ----------------------------------------------------------


def account_sums(store: Store) -> dict[str, int]:
    with store.db.read() as conn:
        return {
            str(kind): int(total)
            for kind, total in conn.execute(
                select(account_t.c.kind, func.sum(account_t.c.balance)).group_by(account_t.c.kind)
            ).all()
        }


def headphones_left(store: Store) -> int:
    from store.stock import prize_row

    with store.db.read() as conn:
        return prize_row(conn, "headphones").available


def take_headphones(store: Store, points: int) -> tuple[int, int]:
    """A person with ``points`` takes the headphones (900: 4 x 225); (attendee, redemption)."""
    set_credit(store, threshold=0)
    attendee = person(store, "Anna Smith", UID, points)
    plan = credit.redeem_in_four(store, counter(), attendee, "headphones")
    with store.db.read() as conn:
        redemption = conn.execute(
            select(plan_t.c.redemption_id).where(plan_t.c.id == plan.plan_id)
        ).scalar_one()
    return attendee, int(redemption)


def test_return_right_after_taking_gives_back_the_first_instalment(event_store: Store) -> None:
    from store import counter as prize_counter

    stock = headphones_left(event_store)
    attendee, redemption = take_headphones(event_store, 300)  # balance 75, owes 675
    assert headphones_left(event_store) == stock - 1
    back = prize_counter.return_prize(event_store, counter(), redemption, "wrong colour")
    assert (back.refunded, back.cancelled, back.balance) == (225, 675, 300)
    assert back.attendee_id == attendee and back.prize_id == "headphones"
    assert balance(event_store, attendee) == 300
    assert headphones_left(event_store) == stock
    status = credit.credit_status(event_store, attendee)
    assert (status.owed, status.overdue, status.next_due_at) == (0, 0, None)
    assert status.plans[0].state == "closed"
    assert [i.written_off for i in status.plans[0].instalments] == [False, True, True, True]
    sums = account_sums(event_store)
    assert sums["credit"] == 0 and sums["counter"] == 0
    with event_store.db.read() as conn:
        corrections = conn.execute(
            select(transfer_t.c.amount, transfer_t.c.corrects_id.is_not(None)).where(
                transfer_t.c.code == "correction"
            )
        ).all()
    assert sorted(corrections) == [(225, True), (675, True)]
    assert credit.report(event_store).lines == ()
    assert event_store.verify().ok


def test_return_after_a_collected_instalment_gives_back_both(event_store: Store) -> None:
    from store import counter as prize_counter

    attendee, redemption = take_headphones(event_store, 500)  # 275 left
    shift_back(event_store, 91)
    award(event_store, hubman(), UID, 5, "bonus")  # collects the second: 55 left
    assert instalment_transfers(event_store) == 1 and balance(event_store, attendee) == 55
    back = prize_counter.return_prize(event_store, counter(), redemption)
    assert (back.refunded, back.cancelled, back.balance) == (450, 450, 505)
    assert balance(event_store, attendee) == 505
    assert credit.credit_status(event_store, attendee).owed == 0
    sums = account_sums(event_store)
    assert sums["credit"] == 0 and sums["counter"] == 0
    shift_back(event_store, 500)  # nothing is collected any more
    award(event_store, hubman(), UID, 1, "bonus")
    assert instalment_transfers(event_store) == 1 and balance(event_store, attendee) == 506
    assert event_store.verify().ok


def test_return_of_a_fully_paid_plan_gives_back_the_price(event_store: Store) -> None:
    from store import counter as prize_counter

    attendee, redemption = take_headphones(event_store, 1000)
    for _ in range(3):
        shift_back(event_store, 91)
        award(event_store, hubman(), UID, 1, "bonus")
    assert credit.credit_status(event_store, attendee).plans[0].state == "paid"
    back = prize_counter.return_prize(event_store, counter(), redemption)
    assert (back.refunded, back.cancelled, back.balance) == (900, 0, 1003)
    assert credit.credit_status(event_store, attendee).plans[0].state == "closed"
    # The instalments were given back: they no longer count as paid on time.
    parts = {p.key: p for p in credit.eligibility(event_store, attendee, "backpack").parts}
    assert parts["paid_on_time"].value == 0
    assert account_sums(event_store)["counter"] == 0
    assert event_store.verify().ok


def test_return_while_overdue_lifts_the_pause(event_store: Store) -> None:
    from store import counter as prize_counter

    attendee, redemption = take_headphones(event_store, 225)  # balance 0
    shift_back(event_store, 91)
    assert event_store.identify_band(counter(), UID).paused
    back = prize_counter.return_prize(event_store, counter(), redemption)
    assert (back.refunded, back.cancelled, back.balance) == (225, 675, 225)
    status = credit.credit_status(event_store, attendee)
    assert (status.paused, status.owed, status.next_due_at) == (False, 0, None)
    with event_store.db.read() as conn:
        due = conn.execute(
            select(account_t.c.next_due_at).where(account_t.c.attendee_id == attendee)
        ).scalar_one()
    assert due is None
    found = event_store.identify_band(counter(), UID)
    assert not found.paused and found.balance == 225
    sold = prize_counter.redeem(event_store, counter(), attendee, "stickers")  # served again
    assert sold.balance == 225 - sold.price
    assert event_store.verify().ok


def test_a_retried_plan_return_applies_once_and_a_second_is_refused(event_store: Store) -> None:
    from store import counter as prize_counter

    stock = headphones_left(event_store)
    attendee, redemption = take_headphones(event_store, 300)
    actor = counter()
    first = prize_counter.return_prize(event_store, actor, redemption)
    again = prize_counter.return_prize(event_store, actor, redemption)
    assert again == first
    assert balance(event_store, attendee) == 300
    assert headphones_left(event_store) == stock
    with pytest.raises(Refused) as caught:
        prize_counter.return_prize(event_store, counter(), redemption)
    assert caught.value.reason == "already_returned"
    assert balance(event_store, attendee) == 300
    assert headphones_left(event_store) == stock
    assert account_sums(event_store)["credit"] == 0
    assert event_store.verify().ok


def test_a_plan_written_off_at_close_cannot_be_returned(event_store: Store) -> None:
    from store import counter as prize_counter

    stock = headphones_left(event_store)
    attendee, redemption = take_headphones(event_store, 300)
    credit.close_all(event_store, counter(), "write-off")
    with pytest.raises(Refused, match="written off") as caught:
        prize_counter.return_prize(event_store, counter(), redemption)
    assert caught.value.reason == "plan_closed"
    # Nothing moved: the unit stays out, the redemption is not marked returned.
    assert balance(event_store, attendee) == 75
    assert headphones_left(event_store) == stock - 1
    catalogue_line = [
        line
        for line in prize_counter.catalogue(event_store, attendee).recent
        if line.id == redemption
    ]
    assert len(catalogue_line) == 1
    assert event_store.verify().ok


def test_return_skips_an_instalment_staff_already_undid(event_store: Store) -> None:
    from store import counter as prize_counter
    from store.points import correct

    attendee, redemption = take_headphones(event_store, 300)
    with event_store.db.read() as conn:
        first = conn.execute(
            select(inst_t.c.transfer_id)
            .join(plan_t, plan_t.c.id == inst_t.c.plan_id)
            .where(plan_t.c.redemption_id == redemption, inst_t.c.number == 1)
        ).scalar_one()
    correct(event_store, counter(), int(first), "charged by mistake")  # 225 back already
    back = prize_counter.return_prize(event_store, counter(), redemption)
    assert (back.refunded, back.cancelled, back.transfer_id) == (0, 675, None)
    assert balance(event_store, attendee) == 300  # not twice
    sums = account_sums(event_store)
    assert sums["credit"] == 0 and sums["counter"] == 0
    assert event_store.verify().ok


def _close_or_return(args: tuple[str, int, int]) -> str:
    url, n, redemption = args
    from store import counter as prize_counter
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    opened = Store.open(url, migrate=False)
    try:
        if n == 0:
            credit.close_all(opened, Actor(station="organiser"), "collect")
            return "closed"
        prize_counter.return_prize(opened, Actor(station=f"counter-{n}"), redemption)
        return "returned"
    except Refused as refusal:
        return refusal.reason
    finally:
        opened.close()


@pytest.mark.slow
def test_credit_close_while_a_plan_prize_is_returned_stays_consistent(
    event_store: Store, db_url: str
) -> None:
    from store.models import Redemption

    redemption_t = Redemption.__table__  # type: ignore[attr-defined]
    set_credit(event_store, threshold=0)
    anna = person(event_store, "Anna Smith", UID, 600)
    ivan = person(event_store, "Иван Петров", OTHER, 300)
    credit.redeem_in_four(event_store, counter(), anna, "headphones")
    credit.redeem_in_four(event_store, counter(), ivan, "headphones")
    shift_back(event_store, 91)  # an instalment is due: the close collects it
    with event_store.db.read() as conn:
        redemptions = list(conn.execute(select(redemption_t.c.id)).scalars())
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        outcomes = pool.map(
            _close_or_return,
            [(db_url, 0, 0), (db_url, 1, redemptions[0]), (db_url, 2, redemptions[1])],
        )
    assert outcomes[0] == "closed"
    # Each return either went first (refund, plan closed) or found the plan already closed.
    assert set(outcomes[1:]) <= {"returned", "plan_closed"}
    status = [credit.credit_status(event_store, a) for a in (anna, ivan)]
    assert all(s.owed == 0 and s.next_due_at is None for s in status)
    assert event_store.verify().ok
