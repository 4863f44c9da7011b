"""The wristband table: inspect a band, replace a lost one, block, return, record lost taps."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from store.bands import block_band, unblock_band
from store.context import Actor
from store.demo.build import DEMO_EVENT
from store.desk import attendee_card, bind_band, check_in
from store.errors import Conflict, NotFound, Refused
from store.eventfile import load_event
from store.models import Audit, Band
from store.points import award
from store.service import Store
from store.wristbands import (
    BandInspection,
    OtherBand,
    inspect_band,
    record_lost_band_attempt,
    replace_band,
    return_band,
)
from tests.factories import add_attendee
from tests.statements import on_statement

OLD = "04D1D2D3D4D5D6"
NEW = "04E1E2E3E4E5E6"
THIRD = "04F1F2F3F4F5F6"
ALMATY = ZoneInfo("Asia/Almaty")
audit_t = Audit.__table__  # type: ignore[attr-defined]
band_t = Band.__table__  # type: ignore[attr-defined]


def table(station: str = "bands-1", staff: str | None = "Olzhas") -> Actor:
    return Actor(station=station, staff=staff)


def hub() -> Actor:
    return Actor(station="hub-1", staff="Hubman")


def hhmm(moment: datetime) -> str:
    return moment.astimezone(ALMATY).strftime("%H:%M")


@pytest.fixture
def event(store: Store) -> Store:
    """The store with the demo event loaded (its time zone is Asia/Almaty)."""
    load_event(store, DEMO_EVENT, Actor(station="setup"))
    return store


def banded(store: Store, name: str = "Иван Петров", uid: str = OLD, points: int = 0) -> int:
    """A checked-in person wearing band ``uid`` with ``points`` on their account."""
    attendee = add_attendee(store, name, colour=None)
    check_in(store, Actor(station="desk-1"), attendee)
    bind_band(store, Actor(station="desk-1"), attendee, uid)
    if points:
        award(store, hub(), uid, points, "activity", "robot arm")
    return attendee


def audit_rows(store: Store, action: str) -> list[tuple[str, dict[str, object]]]:
    with store.db.read() as conn:
        return [
            (r.subject, json.loads(r.detail or "{}"))
            for r in conn.execute(
                select(audit_t.c.subject, audit_t.c.detail)
                .where(audit_t.c.action == action)
                .order_by(audit_t.c.id)
            )
        ]


# -- replacement ------------------------------------------------------------------------------


def test_replacement_moves_the_binding_and_nothing_else(event: Store) -> None:
    ivan = banded(event, points=25)
    result = replace_band(event, table(), ivan, NEW.lower())

    assert (result.old_uid, result.new_uid, result.balance) == (OLD, NEW, 25)
    assert not result.old_was_blocked
    assert result.at_local == hhmm(result.at)
    assert result.reason == f"reported lost at {hhmm(result.at)} at bands-1, replaced by {NEW}"
    card = attendee_card(event, ivan)
    assert (card.band_uid, card.balance) == (NEW, 25)

    # The new band works; the old one is refused everywhere, saying why.
    assert award(event, hub(), NEW, 5, "activity").balance == 30
    with pytest.raises(Refused, match="reported lost") as refused:
        award(event, hub(), OLD, 5, "activity")
    assert refused.value.reason == "band_lost"
    assert "replaced by " + NEW in refused.value.message
    assert attendee_card(event, ivan).balance == 30

    old = inspect_band(event, OLD)
    assert (old.state, old.state_station, old.state_staff) == ("lost", "bands-1", "Olzhas")
    assert old.holder is not None and old.holder.attendee_id == ivan
    assert not old.usable
    # The old band cannot come back while the new one is worn.
    with pytest.raises(Refused) as back:
        unblock_band(event, table(), OLD, "found it")
    assert back.value.reason == "other_active_band"
    assert [s for s, _ in audit_rows(event, "band_replaced")] == [NEW]
    assert [s for s, _ in audit_rows(event, "band_lost")] == [OLD]
    assert event.verify().ok


def test_replacement_is_idempotent_by_operation_id(event: Store) -> None:
    ivan = banded(event)
    actor = table()
    first = replace_band(event, actor, ivan, NEW)
    assert replace_band(event, actor, ivan, NEW) == first
    assert len(audit_rows(event, "band_replaced")) == 1


def test_a_band_blocked_before_is_replaced_without_blocking_again(event: Store) -> None:
    ivan = banded(event)
    block_band(event, table(), OLD, "lost it at the bar", lost=True)
    result = replace_band(event, table(), ivan, NEW)
    assert (result.old_uid, result.old_was_blocked) == (OLD, True)
    assert inspect_band(event, OLD).state_reason == "lost it at the bar"
    assert attendee_card(event, ivan).band_uid == NEW


def test_a_returned_band_can_be_the_replacement(event: Store) -> None:
    asel = banded(event, "Әсел", uid=THIRD)
    return_band(event, table(), THIRD)
    ivan = banded(event)
    assert replace_band(event, table(), ivan, THIRD).new_uid == THIRD
    assert inspect_band(event, THIRD).holder.attendee_id == ivan  # type: ignore[union-attr]
    assert attendee_card(event, asel).band_uid is None


def test_replacement_refusals(event: Store) -> None:
    ivan = banded(event)
    anna = banded(event, "Anna Smith", uid=THIRD)

    def refused(attendee: int, uid: str) -> Refused:
        with pytest.raises(Refused) as caught:
            replace_band(event, table(), attendee, uid)
        return caught.value

    taken = refused(ivan, THIRD)
    assert taken.reason == "band_taken"
    assert "Anna Smith" in taken.message

    lost_one = banded(event, "Lost Person", uid="04AAAAAAAAAAAA")
    block_band(event, table(), "04AAAAAAAAAAAA", "found broken")
    blocked = refused(ivan, "04AAAAAAAAAAAA")
    assert blocked.reason == "band_blocked"
    assert "found broken" in blocked.message
    assert attendee_card(event, lost_one).band_uid is None

    assert refused(ivan, OLD).reason == "already_bound"
    assert refused(ivan, "not a uid").reason == "bad_uid"

    walker = add_attendee(event, "Not Checked In", colour=None)
    late = refused(walker, NEW)
    assert late.reason == "not_checked_in"
    assert "Not Checked In" in late.message

    bare = add_attendee(event, "No Band Yet", colour=None)
    check_in(event, Actor(station="desk-1"), bare)
    none = refused(bare, NEW)
    assert none.reason == "no_band"
    assert "registration desk" in none.message

    with pytest.raises(NotFound):
        replace_band(event, table(), 999_999, NEW)

    # Nothing changed by any refusal: both still wear their bands.
    assert attendee_card(event, ivan).band_uid == OLD
    assert attendee_card(event, anna).band_uid == THIRD
    assert inspect_band(event, NEW).state == "unbound"


# -- return -----------------------------------------------------------------------------------


def test_return_unbinds_and_keeps_the_account(event: Store) -> None:
    ivan = banded(event, points=40)
    result = return_band(event, table(), OLD)
    assert (result.uid, result.attendee_id, result.balance) == (OLD, ivan, 40)
    assert result.name == "Иван Петров"
    card = attendee_card(event, ivan)
    assert (card.band_uid, card.balance) == (None, 40)
    with pytest.raises(Refused) as refused:
        award(event, hub(), OLD, 5, "activity")
    assert refused.value.reason == "band_returned"
    with pytest.raises(Refused) as again:
        return_band(event, table(), OLD)
    assert again.value.reason == "already_returned"
    with pytest.raises(NotFound):
        return_band(event, table(), NEW)
    assert event.verify().ok


# -- inspection -------------------------------------------------------------------------------


def test_inspection_shows_state_holder_balance_transfers_and_other_bands(event: Store) -> None:
    ivan = banded(event, points=25)
    award(event, hub(), OLD, 7, "activity", "quiz night")
    replace_band(event, table(), ivan, NEW)

    found = inspect_band(event, NEW.lower())
    assert (found.uid, found.state, found.balance) == (NEW, "active", 32)
    assert found.usable
    assert found.holder is not None
    assert (found.holder.attendee_id, found.holder.name) == (ivan, "Иван Петров")
    assert found.holder.code == attendee_card(event, ivan).code
    assert [t.amount for t in found.transfers] == [7, 25]
    assert found.other_bands == (OtherBand(OLD, "lost"),)

    old = inspect_band(event, OLD)
    assert old.state == "lost"
    assert old.state_at is not None and old.state_at_local == hhmm(old.state_at)
    assert "replaced by " + NEW in old.state_reason
    assert old.other_bands == (OtherBand(NEW, "active"),)
    assert [t.amount for t in old.transfers] == [7, 25]

    nobody = inspect_band(event, THIRD)
    assert (nobody.state, nobody.holder, nobody.balance, nobody.transfers) == (
        "unbound",
        None,
        None,
        (),
    )
    assert not nobody.usable


def test_inspection_shows_at_most_twenty_transfers(event: Store) -> None:
    banded(event)
    for n in range(23):
        award(event, hub(), OLD, n + 1, "activity")
    assert [t.amount for t in inspect_band(event, OLD).transfers] == list(range(23, 3, -1))


def test_a_lost_band_shown_at_the_table_is_recorded(event: Store) -> None:
    ivan = banded(event)
    replace_band(event, table(), ivan, NEW)
    record_lost_band_attempt(event, table(), OLD)
    assert audit_rows(event, "lost_band_tapped") == [(OLD, {"state": "lost", "attendee_id": ivan})]


# -- two stations at once -----------------------------------------------------------------------


def _replace_from(args: tuple[str, int, str, str]) -> str:
    url, attendee_id, uid, station = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        replace_band(store, Actor(station=station), attendee_id, uid)
        return "won"
    except Refused as refusal:
        return refusal.reason
    except Conflict:
        return "conflict"
    finally:
        store.close()


@pytest.mark.slow
def test_two_stations_replace_with_the_same_new_band(event: Store, db_url: str) -> None:
    uids = [f"04C{n}C{n}C{n}C{n}C{n}C{n}0" for n in range(2)]
    people = [banded(event, f"Person {n}", uid=uid) for n, uid in enumerate(uids)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        outcomes = pool.map(
            _replace_from, [(db_url, a, NEW, f"bands-{n}") for n, a in enumerate(people)]
        )
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"band_taken", "conflict"}
    won = outcomes.index("won")
    assert attendee_card(event, people[won]).band_uid == NEW
    # The loser's transaction was rolled back whole: their old band is still active.
    assert attendee_card(event, people[1 - won]).band_uid == uids[1 - won]
    with event.db.read() as conn:
        states: dict[str, str] = dict(conn.execute(select(band_t.c.uid, band_t.c.state)).all())
    assert sorted(states.values()) == ["active", "active", "lost"]
    assert event.verify().ok


def test_desk_undo_after_a_replacement_returns_the_band_worn_now(store: Store) -> None:
    """The desk undoes a check-in whose band was replaced since: the new band comes back."""
    from store.context import Actor as _Actor
    from store.demo.pins import DEMO_EVENT_FILE
    from store.desk import bind_band, check_in, undo_last_check_in
    from store.eventfile import load_event
    from store.wristbands import replace_band

    load_event(store, DEMO_EVENT_FILE, _Actor(station="setup"))
    person = add_attendee(store, "Undo Replace", code="UNDOREPL01")
    desk_actor = _Actor(station="desk-9", staff="Desk")
    check_in(store, desk_actor.next_action(), person)
    bind_band(store, desk_actor.next_action(), person, "04AAAAAAAAAA01")
    replace_band(store, _Actor(station="bands-1", staff="Bands"), person, "04AAAAAAAAAA02")
    undone = undo_last_check_in(store, desk_actor.next_action())
    assert undone.band_uid == "04AAAAAAAAAA02"
    with store.db.read() as conn:
        states = dict(
            conn.execute(
                text("SELECT uid, state FROM band WHERE attendee_id = :a"), {"a": person}
            ).all()
        )
    assert states == {"04AAAAAAAAAA01": "lost", "04AAAAAAAAAA02": "returned"}


# -- the inspection in one statement ------------------------------------------------------------


def step_by_step_inspection(store: Store, uid: str) -> BandInspection:
    """The inspection as it was read before it became one statement (six reads, three
    transactions): the reference the one statement must match field for field."""
    from store import credit
    from store.coats import held_coat
    from store.desk import _timezone, local_time
    from store.points import statement
    from store.wristbands import _INSPECT, TRANSFERS_SHOWN, Holder

    band_uid = uid.strip().upper()
    with store.db.read() as conn:
        timezone = _timezone(conn)
        row = conn.execute(_INSPECT.where(band_t.c.uid == band_uid)).first()
        if row is None:
            return BandInspection(
                band_uid, "unbound", "", None, None, None, None, None, None, (), ()
            )
        others: tuple[OtherBand, ...] = ()
        credit_note = plans_note = ""
        if row.attendee_id is not None and row.next_due_at is not None:
            overdue = credit.overdue_points(conn, int(row.attendee_id))
            credit_note = credit.paused_text(overdue) if overdue else ""
            plans_note = credit.plans_text(conn, int(row.attendee_id), timezone)
        if row.attendee_id is not None:
            others = tuple(
                OtherBand(r.uid, r.state)
                for r in conn.execute(
                    select(band_t.c.uid, band_t.c.state)
                    .where(band_t.c.attendee_id == row.attendee_id, band_t.c.uid != band_uid)
                    .order_by(band_t.c.bound_at.desc(), band_t.c.uid)
                )
            )
    holder = (
        Holder(int(row.attendee_id), row.name, row.code) if row.attendee_id is not None else None
    )
    transfers = statement(store, holder.attendee_id, TRANSFERS_SHOWN) if holder is not None else ()
    coat = held_coat(store, holder.attendee_id) if holder is not None else None
    return BandInspection(
        uid=band_uid,
        state=row.state,
        state_reason=row.state_reason or "",
        state_at=row.state_at,
        state_at_local=local_time(row.state_at, timezone) if row.state_at else None,
        state_station=row.state_station,
        state_staff=row.state_staff,
        holder=holder,
        balance=int(row.balance) if holder is not None and row.balance is not None else None,
        transfers=transfers,
        other_bands=others,
        next_due_at=row.next_due_at if holder is not None else None,
        credit_note=credit_note,
        plans_note=plans_note,
        coat=coat,
    )


@contextmanager
def statements_sent(store: Store) -> Iterator[list[str]]:
    """The SQL statements the store sends inside the block (BEGIN is not a statement)."""
    sent: list[str] = []

    def count(_raw: object, statement: str) -> None:
        if statement.strip() != "BEGIN":
            sent.append(statement)

    with on_statement(store, count):
        yield sent


#: References whose names the inspection looks up, and look-alikes it must not.
REFERENCES = (
    "activity:qa-bug-hunt",
    "undo:activity:qa-bug-hunt",
    "undo:undo:activity:qa-bug-hunt",
    "Activity:qa-bug-hunt",
    "activity:",
    "activity:no-such-activity",
    "quiz:t01-q1",
    "undo:quiz:t01-q1",
    "prize:stickers",
    "undo:prize:stickers",
    "pay-in-four:headphones",
    "pay-in-four:headphones:1",
    "undo:pay-in-four:headphones:credit",
    "pay-in-four:head",
    "pay-in-four:",
    "prize:",
    "robot arm",
)


def test_inspection_in_one_statement_matches_the_step_by_step_reads(event: Store) -> None:
    from store import coats
    from store import hub as hubs

    ivan = banded(event, points=25)
    hubman = Actor(station="hub-qa", staff="Hubman", staff_id="hub-backend")
    given = hubs.award_activity(event, hubman.next_action(), OLD, "qa-bug-hunt")
    hubs.undo_hub_award(event, hubman.next_action(), given.transfer_id)
    hubs.award_quiz(event, hubman.next_action(), OLD, "t01-q1")
    hubs.award_cool(event, hubman.next_action(), OLD, 10)
    for n, reference in enumerate(REFERENCES):  # the names show with these codes only
        award(event, hub(), OLD, 1, ("activity", "quiz")[n % 2], reference)
    coats.coat_tap(event, Actor(station="coats-1", staff="Coats"), OLD)
    replace_band(event, table(), ivan, NEW)
    banded(event, "Anna Smith", uid=THIRD)
    return_band(event, table(), THIRD)

    for uid in (NEW, OLD.lower(), THIRD, "04999999999999"):
        with statements_sent(event) as sent:
            found = inspect_band(event, uid)
        assert len(sent) == 1, sent
        assert found == step_by_step_inspection(event, uid)
    found = inspect_band(event, NEW)
    assert found.coat is not None and found.other_bands == (OtherBand(OLD, "lost"),)
    labels: dict[str, str] = {}
    for moved in found.transfers:  # newest first: the crafted references, not the hub's undo
        labels.setdefault(moved.reference, moved.label)
    assert labels["undo:activity:qa-bug-hunt"] == "Quiz: Bug hunt: find the five planted bugs"
    assert labels["undo:pay-in-four:headphones:credit"] == "Activity: Headphones"
    assert labels["pay-in-four:head"] == "Quiz: head"
    assert labels["Activity:qa-bug-hunt"] == "Quiz"  # no such kind: no name
    assert len(found.transfers) == 20


def test_inspection_of_a_paused_holder_matches_the_step_by_step_reads(event: Store) -> None:
    from store import credit

    banded(event, points=225)
    with event.db.write() as conn:
        raw = conn.execute(text("SELECT settings FROM event")).scalar_one()
        settings = json.loads(raw)
        settings["credit"]["threshold"] = 0
        conn.execute(text("UPDATE event SET settings = :s"), {"s": json.dumps(settings)})
    ivan = inspect_band(event, OLD).holder
    assert ivan is not None
    credit.redeem_in_four(event, Actor(station="counter-1"), ivan.attendee_id, "headphones")
    found = inspect_band(event, OLD)
    assert found.plans_note.startswith("Pay in four: 1 open plan")
    assert found == step_by_step_inspection(event, OLD)
    assert {t.label for t in found.transfers} >= {"Prize: Headphones (pay in four)"}
