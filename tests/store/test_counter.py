"""The prize counter: catalogue, redeem, return, drops and holds (both engines, two processes)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from store import counter
from store.bands import block_band
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.errors import NotFound, Refused
from store.eventfile import load_event
from store.models import Drop, Hold, Prize
from store.points import award, statement
from store.service import Store
from tests.factories import add_attendee

UID = "04A1B2C3D4E580"
OTHER = "04B2C3D4E5F601"
ZONE = ZoneInfo("Asia/Almaty")  # the demo event's time zone

prize_t = Prize.__table__  # type: ignore[attr-defined]
drop_t = Drop.__table__  # type: ignore[attr-defined]
hold_t = Hold.__table__  # type: ignore[attr-defined]


@pytest.fixture
def event_store(store: Store) -> Store:
    load_event(store, DEMO_EVENT_FILE, Actor(station="setup"))
    return store


def person(store: Store, name: str, uid: str, points: int) -> int:
    attendee = add_attendee(store, name, band_uid=uid)
    if points:
        award(store, Actor(station="hub-qa", staff="hub"), uid, points, "activity")
    return attendee


def desk(station: str = "counter-1") -> Actor:
    return Actor(station=station, staff="Сауле Жаксылыкова", staff_id="counter-saule")


def organiser() -> Actor:
    return Actor(station="counter-1", staff="Динара Мусина", staff_id="organiser-dinara")


def set_supply(store: Store, prize_id: str, supplied: int) -> None:
    with store.db.write() as conn:
        conn.execute(update(prize_t).where(prize_t.c.id == prize_id).values(supplied=supplied))


def balance(store: Store, attendee_id: int) -> int:
    return counter.catalogue(store, attendee_id).attendee.balance  # type: ignore[union-attr]


def available(store: Store, prize_id: str) -> int:
    line = counter.catalogue(store).prize(prize_id)
    assert line is not None
    return line.available


# -- the catalogue -------------------------------------------------------------------------------


def test_catalogue_in_tiers_with_what_is_missing(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 300)
    set_supply(event_store, "thermo-mug", 0)
    shown = counter.catalogue_for_band(event_store, UID)
    assert shown.attendee is not None and shown.attendee.balance == 300
    assert [t.tier for t in shown.tiers] == [1, 2, 3, 4]
    assert [p.id for p in shown.tiers[0].prizes] == ["stickers", "enamel-pin", "socks"]
    tshirt, mug, charger = shown.tiers[1].prizes
    assert (tshirt.affordable, tshirt.missing) == (True, 0)
    assert (charger.affordable, charger.missing) == (False, 50)
    assert mug.sold_out and not mug.selectable
    assert shown.prize("headphones").pay_in_four  # type: ignore[union-attr]
    counter.redeem(event_store, desk(), anna, "socks")
    socks = counter.catalogue(event_store, anna).prize("socks")
    assert socks is not None and socks.limit_reached and not socks.selectable
    assert socks.mine == 1 and socks.mine_last_at is not None
    anonymous = counter.catalogue(event_store)
    assert anonymous.attendee is None
    assert not any(p.affordable for t in anonymous.tiers for p in t.prizes)


def test_catalogue_refuses_a_blocked_band(event_store: Store) -> None:
    person(event_store, "Anna Smith", UID, 100)
    block_band(event_store, desk(), UID, "reported stolen")
    with pytest.raises(Refused, match="reported stolen"):
        counter.catalogue_for_band(event_store, UID)


# -- redeem --------------------------------------------------------------------------------------


def test_redeem_debits_records_and_derives_stock(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 500)
    before = available(event_store, "charger")
    done = counter.redeem(event_store, desk(), anna, "charger")
    assert (done.name, done.prize_name, done.price, done.balance) == (
        "Anna Smith",
        "Wireless charger",
        350,
        150,
    )
    assert done.left == before - 1 == available(event_store, "charger")
    assert statement(event_store, anna)[0].amount == -350
    assert statement(event_store, anna)[0].code == "prize"
    assert counter.catalogue(event_store, anna).recent[0].prize_id == "charger"
    assert event_store.verify().ok


def test_retry_of_a_redemption_applies_once(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 500)
    actor = desk()
    first = counter.redeem(event_store, actor, anna, "stickers")
    assert counter.redeem(event_store, actor, anna, "stickers") == first
    assert balance(event_store, anna) == 480
    assert available(event_store, "stickers") == 599


def test_not_enough_points_changes_nothing(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 300)
    with pytest.raises(Refused, match="Anna Smith has 300 points: 50 more are needed") as caught:
        counter.redeem(event_store, desk(), anna, "charger")
    assert caught.value.reason == "not_enough_points"
    assert available(event_store, "charger") == 40
    assert balance(event_store, anna) == 300
    assert event_store.verify().ok


def test_one_per_person_says_when(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 1000)
    first = counter.redeem(event_store, desk(), anna, "t-shirt")
    local = first.at.astimezone(ZONE).strftime("%H:%M")
    with pytest.raises(Refused, match=f"One per person: Anna Smith took T-shirt at {local}") as c:
        counter.redeem(event_store, desk("counter-2"), anna, "t-shirt")
    assert c.value.reason == "per_person"
    assert balance(event_store, anna) == 800
    # Stickers: three per person.
    for _ in range(3):
        counter.redeem(event_store, desk(), anna, "stickers")
    with pytest.raises(Refused, match="3 per person: Anna Smith has taken 3"):
        counter.redeem(event_store, desk(), anna, "stickers")
    assert event_store.verify().ok


def test_sold_out_and_blocked_band_charge_nothing(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 1000)
    ivan = person(event_store, "Иван Петров", OTHER, 1000)
    set_supply(event_store, "charger", 1)
    counter.redeem(event_store, desk(), anna, "charger")
    with pytest.raises(Refused, match="Wireless charger just sold out: nothing was charged") as c:
        counter.redeem(event_store, desk(), ivan, "charger")
    assert c.value.reason == "sold_out"
    assert balance(event_store, ivan) == 1000
    block_band(event_store, desk(), OTHER, "reported lost")
    with pytest.raises(Refused, match="band 04B2C3D4E5F601 is blocked") as c:
        counter.redeem(event_store, desk(), ivan, "stickers")
    assert c.value.reason == "no_active_band"
    assert available(event_store, "stickers") == 600
    with pytest.raises(NotFound):
        counter.redeem(event_store, desk(), anna, "no-such-prize")
    assert event_store.verify().ok


# -- return --------------------------------------------------------------------------------------


def test_return_refunds_and_puts_the_unit_back_once(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 400)
    sold = counter.redeem(event_store, desk(), anna, "charger")
    back = counter.return_prize(event_store, desk("counter-2"), sold.redemption_id, "wrong colour")
    assert (back.refunded, back.balance, back.prize_name) == (350, 400, "Wireless charger")
    assert available(event_store, "charger") == 40
    assert statement(event_store, anna)[0].code == "correction"
    assert counter.catalogue(event_store, anna).recent == ()
    with pytest.raises(Refused, match="already returned") as c:
        counter.return_prize(event_store, desk(), sold.redemption_id)
    assert c.value.reason == "already_returned"
    with pytest.raises(NotFound):
        counter.return_prize(event_store, desk(), 999)
    # The per-person limit counts what the attendee still has: they may take it again.
    counter.redeem(event_store, desk(), anna, "charger")
    assert event_store.verify().ok


# -- drops and holds -----------------------------------------------------------------------------


def test_only_an_organiser_starts_a_drop(event_store: Store) -> None:
    with pytest.raises(Refused, match="Only an organiser") as c:
        counter.start_drop(event_store, desk(), "headphones", 5, 10)
    assert c.value.reason == "not_organiser"
    with pytest.raises(NotFound):
        counter.start_drop(event_store, organiser(), "nothing", 5, 10)
    with pytest.raises(Refused, match="at least one unit"):
        counter.start_drop(event_store, organiser(), "headphones", 0, 10)
    cli = Actor(station="laptop", staff="Dinara")  # the command line: no staff id
    drop = counter.start_drop(event_store, cli, "headphones", 5, 10, price=700)
    assert (drop.price, drop.regular_price, drop.left, drop.state) == (700, 900, 5, "running")
    assert 599 <= drop.seconds_left <= 600
    assert [d.id for d in counter.catalogue(event_store).drops] == [drop.id]


def test_drop_sale_hold_confirm_and_release(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 2000)
    ivan = person(event_store, "Иван Петров", OTHER, 2000)
    drop = counter.start_drop(event_store, organiser(), "blanket", 2, 10, price=300)
    hold = counter.place_hold(event_store, desk(), drop.id, anna)
    assert (hold.prize_name, hold.price, hold.left) == ("Blanket", 300, 1)
    assert 59 <= hold.seconds_left <= 60
    # The same attendee again: the hold they have.
    assert counter.place_hold(event_store, desk(), drop.id, anna).hold_id == hold.hold_id
    shown = counter.catalogue(event_store, anna)
    assert shown.drops[0].left == 1 and shown.drops[0].held == 1
    assert [h.hold_id for h in shown.holds] == [hold.hold_id]
    sold = counter.confirm_hold(event_store, desk(), hold.hold_id)
    assert (sold.drop_id, sold.price, sold.balance, sold.left) == (drop.id, 300, 1700, 1)
    with pytest.raises(Refused, match="already confirmed"):
        counter.confirm_hold(event_store, desk(), hold.hold_id)
    # The regular stock is untouched by a drop.
    assert available(event_store, "blanket") == 50
    # One per person counts the drop's blanket too.
    with pytest.raises(Refused, match="One per person"):
        counter.place_hold(event_store, desk(), drop.id, anna)
    second = counter.place_hold(event_store, desk(), drop.id, ivan)
    released = counter.release_hold(event_store, desk(), second.hold_id)
    assert released.released
    assert not counter.release_hold(event_store, desk(), second.hold_id).released
    with pytest.raises(Refused, match="was released") as c:
        counter.confirm_hold(event_store, desk(), second.hold_id)
    assert c.value.reason == "hold_released"
    last = counter.redeem_from_drop(event_store, desk(), ivan, drop.id)
    assert last.left == 0
    shown = counter.catalogue(event_store)
    assert shown.drops == ()  # sold out: closed by itself
    assert [d.id for d in shown.sold_out_drops] == [drop.id]  # "SOLD OUT" while its time runs
    assert counter.drops(event_store)[0].state == "sold_out"
    assert event_store.verify().ok


def test_retries_of_drop_operations_return_the_first_result(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 2000)
    actor = organiser()
    drop = counter.start_drop(event_store, actor, "blanket", 3, 10)
    assert counter.start_drop(event_store, actor, "blanket", 3, 10) == drop
    holding = desk()
    hold = counter.place_hold(event_store, holding, drop.id, anna)
    assert counter.place_hold(event_store, holding, drop.id, anna) == hold
    confirming = desk()
    sold = counter.confirm_hold(event_store, confirming, hold.hold_id)
    assert counter.confirm_hold(event_store, confirming, hold.hold_id) == sold
    assert len(counter.drops(event_store)) == 1
    assert balance(event_store, anna) == 1550


def test_a_held_unit_is_not_for_sale_and_an_expired_hold_frees_it(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 2000)
    ivan = person(event_store, "Иван Петров", OTHER, 2000)
    drop = counter.start_drop(event_store, organiser(), "power-bank", 1, 10)
    hold = counter.place_hold(event_store, desk(), drop.id, anna)
    with pytest.raises(Refused, match="sold or on hold") as c:
        counter.place_hold(event_store, desk("counter-2"), drop.id, ivan)
    assert c.value.reason == "sold_out"
    with pytest.raises(Refused, match="on hold at other counters"):
        counter.redeem_from_drop(event_store, desk("counter-2"), ivan, drop.id)
    assert balance(event_store, ivan) == 2000
    # The hold runs out (moved into the past): nothing runs, the unit is free on read.
    with event_store.db.write() as conn:
        conn.execute(
            update(hold_t)
            .where(hold_t.c.id == hold.hold_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert counter.catalogue(event_store).drops[0].left == 1
    with pytest.raises(Refused, match="The hold ran out at") as c:
        counter.confirm_hold(event_store, desk(), hold.hold_id)
    assert c.value.reason == "hold_expired"
    taken = counter.place_hold(event_store, desk("counter-2"), drop.id, ivan)
    assert counter.confirm_hold(event_store, desk("counter-2"), taken.hold_id).name == "Иван Петров"
    assert balance(event_store, anna) == 2000
    assert event_store.verify().ok


def test_a_short_hold_expires_by_the_database_clock(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 2000)
    drop = counter.start_drop(event_store, organiser(), "power-bank", 3, 10)
    hold = counter.place_hold(event_store, desk(), drop.id, anna, seconds=1.5)
    assert counter.catalogue(event_store).drops[0].held == 1
    import time

    time.sleep(2.0)
    assert counter.catalogue(event_store).drops[0].held == 0
    with pytest.raises(Refused, match="ran out"):
        counter.confirm_hold(event_store, desk(), hold.hold_id)


def test_a_drop_ends_by_time_or_by_the_organiser(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 2000)
    drop = counter.start_drop(event_store, organiser(), "backpack", 5, 10)
    hold = counter.place_hold(event_store, desk(), drop.id, anna)
    with pytest.raises(Refused, match="Only an organiser"):
        counter.close_drop(event_store, desk(), drop.id)
    closed = counter.close_drop(event_store, organiser(), drop.id)
    assert closed.state == "closed"
    with pytest.raises(Refused, match="has ended") as c:
        counter.confirm_hold(event_store, desk(), hold.hold_id)
    assert c.value.reason == "drop_ended"
    with pytest.raises(Refused, match="already over"):
        counter.close_drop(event_store, organiser(), drop.id)
    timed = counter.start_drop(event_store, organiser(), "backpack", 5, 10)
    with event_store.db.write() as conn:
        conn.execute(
            update(drop_t)
            .where(drop_t.c.id == timed.id)
            .values(
                starts_at=datetime.now(UTC) - timedelta(minutes=11),
                ends_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    assert counter.catalogue(event_store).drops == ()
    with pytest.raises(Refused, match="is over") as c:
        counter.place_hold(event_store, desk(), timed.id, anna)
    assert c.value.reason == "drop_ended"
    assert balance(event_store, anna) == 2000


def test_a_drop_return_goes_back_to_the_drop(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 2000)
    drop = counter.start_drop(event_store, organiser(), "headphones", 1, 10, price=500)
    sold = counter.redeem_from_drop(event_store, desk(), anna, drop.id)
    assert counter.catalogue(event_store).drops == ()
    counter.return_prize(event_store, desk(), sold.redemption_id)
    assert counter.catalogue(event_store).drops[0].left == 1
    assert balance(event_store, anna) == 2000
    assert event_store.verify().ok


def test_verify_finds_stock_that_does_not_match(event_store: Store) -> None:
    anna = person(event_store, "Anna Smith", UID, 500)
    counter.redeem(event_store, desk(), anna, "stickers")
    with event_store.db.write() as conn:
        conn.execute(update(prize_t).where(prize_t.c.id == "stickers").values(taken=0))
    report = event_store.verify()
    assert any("Prize stickers: 0 counted out, 1 handed out" in v for v in report.violations)


# -- properties ---------------------------------------------------------------------------------

_steps = st.lists(
    st.tuples(
        st.sampled_from(["redeem", "return", "hold", "confirm", "release"]), st.integers(0, 3)
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=_steps)
def test_any_sequence_keeps_stock_and_ledger_consistent(
    sqlite_store: Store, steps: list[tuple[str, int]]
) -> None:
    store = sqlite_store
    if store.event_name() is None:
        load_event(store, DEMO_EVENT_FILE, Actor(station="setup"))
        set_supply(store, "charger", 2)
        for n in range(4):
            person(store, f"Person {n}", f"04C0FFEE0000{n:02X}", 800)
        counter.start_drop(store, organiser(), "blanket", 2, 60, price=200)
    people = [r.id for r in _people(store)]
    drop_id = counter.drops(store)[0].id
    holds: list[int] = []
    for action, n in steps:
        who = people[n % len(people)]
        try:
            if action == "redeem":
                counter.redeem(store, desk(), who, "charger")
            elif action == "return":
                recent = counter.catalogue(store, who).recent
                if recent:
                    counter.return_prize(store, desk(), recent[0].id)
            elif action == "hold":
                holds.append(counter.place_hold(store, desk(), drop_id, who).hold_id)
            elif action == "confirm" and holds:
                counter.confirm_hold(store, desk(), holds[n % len(holds)])
            elif action == "release" and holds:
                counter.release_hold(store, desk(), holds[n % len(holds)])
        except Refused:
            pass
        shown = counter.catalogue(store)
        assert 0 <= shown.prize("charger").available <= 2  # type: ignore[union-attr]
        assert all(0 <= d.left <= d.quantity for d in counter.drops(store))
    assert store.verify().ok, store.verify().violations


def _people(store: Store) -> list[object]:
    from store.models import Attendee

    attendee_t = Attendee.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return list(conn.execute(select(attendee_t.c.id).order_by(attendee_t.c.id)).all())


# -- two processes at once -----------------------------------------------------------------------


def _redeem_last(args: tuple[str, int, int]) -> str:
    url, n, attendee_id = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        counter.redeem(store, Actor(station=f"counter-{n}"), attendee_id, "charger")
        return "won"
    except Refused as refusal:
        return refusal.reason
    finally:
        store.close()


@pytest.mark.slow
def test_two_counters_race_for_the_last_unit(event_store: Store, db_url: str) -> None:
    buyers = [person(event_store, f"Buyer {n}", f"04D0D0D0D0D0{n:02X}", 500) for n in range(4)]
    set_supply(event_store, "charger", 1)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_redeem_last, [(db_url, n, buyers[n]) for n in range(4)])
    assert sorted(outcomes) == ["sold_out"] * 3 + ["won"]
    assert sorted(balance(event_store, b) for b in buyers) == [150, 500, 500, 500]
    assert available(event_store, "charger") == 0
    assert event_store.verify().ok


def _buy_from_drop(args: tuple[str, int, int, int]) -> str:
    url, n, attendee_id, drop_id = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    actor = Actor(station=f"counter-{n}")
    try:
        hold = counter.place_hold(store, actor, drop_id, attendee_id)
        counter.confirm_hold(store, actor.next_action(), hold.hold_id)
        return "won"
    except Refused as refusal:
        return refusal.reason
    finally:
        store.close()


@pytest.mark.slow
def test_a_drop_with_more_buyers_than_units(event_store: Store, db_url: str) -> None:
    buyers = [person(event_store, f"Buyer {n}", f"04D0D0D0D0D0{n:02X}", 1000) for n in range(6)]
    drop = counter.start_drop(event_store, organiser(), "headphones", 2, 10, price=400)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        outcomes = pool.map(_buy_from_drop, [(db_url, n, buyers[n], drop.id) for n in range(6)])
    assert sorted(outcomes) == ["sold_out"] * 4 + ["won"] * 2
    assert sorted(balance(event_store, b) for b in buyers) == [600, 600] + [1000] * 4
    assert counter.drops(event_store)[0].state == "sold_out"
    assert event_store.verify().ok


def _hold_one(args: tuple[str, int, int, int]) -> str:
    url, n, attendee_id, drop_id = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        counter.place_hold(store, Actor(station=f"counter-{n}"), drop_id, attendee_id)
        return "held"
    except Refused as refusal:
        return refusal.reason
    finally:
        store.close()


@pytest.mark.slow
def test_holds_race_then_expire(event_store: Store, db_url: str) -> None:
    buyers = [person(event_store, f"Buyer {n}", f"04D0D0D0D0D0{n:02X}", 2000) for n in range(5)]
    drop = counter.start_drop(event_store, organiser(), "backpack", 2, 10)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        outcomes = pool.map(_hold_one, [(db_url, n, buyers[n], drop.id) for n in range(4)])
    assert sorted(outcomes) == ["held"] * 2 + ["sold_out"] * 2
    assert counter.drops(event_store)[0].left == 0
    # Nobody confirms: the holds run out (moved into the past; the wall-clock expiry has its own
    # test) and both units are free again with nothing running.
    with event_store.db.write() as conn:
        conn.execute(update(hold_t).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert counter.drops(event_store)[0].left == 2
    late = counter.place_hold(event_store, desk(), drop.id, buyers[4])
    assert counter.confirm_hold(event_store, desk(), late.hold_id).left == 1
    assert event_store.verify().ok


def test_statement_says_why_points_moved_in_words(event_store: Store) -> None:
    from store import hub
    from store.points import statement

    attendee = person(event_store, "Anna Smith", UID, 300)
    activity = hub.hub_catalogue(event_store).activities[0]
    hubman = Actor(station="hub-1", staff="Hubman", staff_id="hub-test")
    hub.award_activity(event_store, hubman, UID, activity.id)
    sold = counter.redeem(event_store, desk(), attendee, "stickers")
    counter.return_prize(event_store, desk(), sold.redemption_id)
    labels = [line.label for line in statement(event_store, attendee)]
    assert labels[:3] == ["Prize returned", "Prize: Sticker pack", f"Activity: {activity.name}"]
