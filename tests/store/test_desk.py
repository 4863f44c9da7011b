"""The registration desk: check-in, colours, binding bands with pre-event points, undo, walk-ins."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text

from store.bands import block_band
from store.context import Actor
from store.demo.build import DEMO_EVENT, build_demo
from store.desk import (
    AlreadyRegistered,
    attendee_card,
    bind_band,
    check_in,
    find_by_code,
    override_colour,
    register_walk_in,
    undo_last_check_in,
)
from store.errors import Conflict, NotFound, Refused
from store.eventfile import load_event
from store.models import CheckIn, PendingPoints
from store.points import spend, statement
from store.search import search_attendees
from store.service import Store
from tests.factories import add_attendee

UID = "04D1D2D3D4D5D6"
OTHER_UID = "04E1E2E3E4E5E6"
ALMATY = ZoneInfo("Asia/Almaty")


def desk(station: str = "desk-1", staff: str | None = "Vera") -> Actor:
    return Actor(station=station, staff=staff)


@pytest.fixture
def event(store: Store) -> Store:
    """The store with the demo event loaded (the colour rule, the time zone, the undo window)."""
    load_event(store, DEMO_EVENT, Actor(station="setup"))
    return store


def person(store: Store, name: str = "Иван Петров", field: str = "development") -> int:
    return add_attendee(store, name, field=field, colour=None)


def add_pending(store: Store, attendee_id: int, *points: int) -> None:
    with store.db.write() as conn:
        now = store.db.now(conn)
        for n, amount in enumerate(points):
            conn.execute(
                insert(PendingPoints.__table__),  # type: ignore[attr-defined]
                {
                    "attendee_id": attendee_id,
                    "external_id": f"site:{attendee_id}:{n}",
                    "reason": "questions for the hubs",
                    "points": amount,
                    "created_at": now,
                },
            )


def hhmm(moment: datetime) -> str:
    return moment.astimezone(ALMATY).strftime("%H:%M")


# -- check-in and colours ---------------------------------------------------------------------


def test_check_in_hands_the_colour_of_the_field(event: Store) -> None:
    tester = person(event, "Anna Smith", field="QA")
    result = check_in(event, desk(), tester)
    assert (result.colour_id, result.colour_name, result.colour_name_ru, result.colour_hex) == (
        "green",
        "Green",
        "Зелёный",
        "#27AE60",
    )
    assert result.colours == ("blue", "orange", "green", "purple")
    assert not result.overridden and result.rule_colour_id == "green"
    assert result.at_local == hhmm(result.at)
    card = attendee_card(event, tester)
    assert card.checked_in_at == result.at
    assert (card.checked_in_station, card.checked_in_staff, card.colour_id) == (
        "desk-1",
        "Vera",
        "green",
    )
    assert card.checked_in_local == hhmm(result.at)


def test_a_field_no_group_lists_gets_the_default_colour(event: Store) -> None:
    guest = person(event, "Guest Speaker", field="journalism")
    assert check_in(event, desk(), guest).colour_id == "blue"


def test_second_check_in_says_when_where_and_by_whom(event: Store) -> None:
    ivan = person(event)
    first = check_in(event, desk("desk-2", "Anna"), ivan)
    with pytest.raises(Refused) as caught:
        check_in(event, desk("desk-1"), ivan)
    assert caught.value.reason == "already_checked_in"
    assert f"already checked in at {hhmm(first.at)} at desk-2 by Anna" in caught.value.message


def test_a_retried_check_in_returns_the_first_result(event: Store) -> None:
    ivan = person(event)
    actor = desk()
    first = check_in(event, actor, ivan)
    assert check_in(event, actor, ivan) == first


def test_check_in_without_colours_loaded_says_so(store: Store) -> None:
    with pytest.raises(Refused, match="event load") as caught:
        check_in(store, desk(), person(store))
    assert caught.value.reason == "no_colours"


def test_colour_override_is_recorded(event: Store) -> None:
    ivan = person(event)
    check_in(event, desk(), ivan)
    actor = desk(staff="Oleg")
    changed = override_colour(event, actor, ivan, "purple")
    assert (changed.colour_id, changed.rule_colour_id, changed.overridden) == (
        "purple",
        "blue",
        True,
    )
    assert attendee_card(event, ivan).colour_name == "Purple"
    with event.db.read() as conn:
        row = conn.execute(select(CheckIn.__table__)).one()  # type: ignore[attr-defined]
    assert (row.colour, row.rule_colour, row.colour_changed_staff) == ("purple", "blue", "Oleg")
    audit = event.audit_trail(actor.correlation_id)
    assert [a["action"] for a in audit] == ["colour_override"]
    assert '"was": "blue"' in audit[0]["detail"]


def test_colour_override_refusals(event: Store) -> None:
    ivan = person(event)
    with pytest.raises(Refused) as caught:
        override_colour(event, desk(), ivan, "purple")
    assert caught.value.reason == "not_checked_in"
    check_in(event, desk(), ivan)
    with pytest.raises(Refused, match="blue, orange, green, purple") as caught:
        override_colour(event, desk(), ivan, "gold")
    assert caught.value.reason == "unknown_colour"


# -- binding the band -------------------------------------------------------------------------


def test_bind_posts_every_waiting_point_as_one_transfer_once(event: Store) -> None:
    ivan = person(event)
    add_pending(event, ivan, 10, 25)
    checked = check_in(event, desk(), ivan)
    assert checked.pending_points == 35
    actor = desk()
    bound = bind_band(event, actor, ivan, UID.lower())
    assert (bound.uid, bound.points_posted, bound.balance, bound.name) == (
        UID,
        35,
        35,
        "Иван Петров",
    )
    assert bind_band(event, actor, ivan, UID) == bound  # a retry returns the first result
    lines = statement(event, ivan)
    assert [(line.amount, line.code, line.station) for line in lines] == [
        (35, "pre-event", "desk-1")
    ]
    card = attendee_card(event, ivan)
    assert (card.band_uid, card.balance, card.pending_points) == (UID, 35, 0)
    assert event.verify().ok


def test_bind_without_waiting_points(event: Store) -> None:
    ivan = person(event)
    check_in(event, desk(), ivan)
    bound = bind_band(event, desk(), ivan, UID)
    assert (bound.points_posted, bound.transfer_id, bound.balance) == (0, None, 0)
    assert statement(event, ivan) == ()


def test_a_band_already_bound_names_its_holder(event: Store) -> None:
    anna, ivan = person(event, "Anna Smith"), person(event)
    check_in(event, desk(), anna)
    check_in(event, desk(), ivan)
    first = bind_band(event, desk("desk-1"), anna, UID)
    with pytest.raises(Refused) as caught:
        bind_band(event, desk("desk-2"), ivan, UID)
    assert caught.value.reason == "band_taken"
    assert caught.value.message == (
        f"This band is already Anna Smith's (bound {hhmm(first.at)} at desk-1)."
    )


def test_bind_refusals(event: Store) -> None:
    ivan = person(event)
    with pytest.raises(Refused) as caught:
        bind_band(event, desk(), ivan, UID)
    assert caught.value.reason == "not_checked_in"
    check_in(event, desk(), ivan)
    with pytest.raises(Refused) as caught:
        bind_band(event, desk(), ivan, "not a uid")
    assert caught.value.reason == "bad_uid"
    bind_band(event, desk(), ivan, UID)
    with pytest.raises(Refused, match="wristband table") as caught:
        bind_band(event, desk(), ivan, OTHER_UID)
    assert caught.value.reason == "has_band"
    with pytest.raises(Refused) as caught:
        bind_band(event, desk(), ivan, UID)
    assert caught.value.reason == "already_bound"
    with pytest.raises(NotFound):
        bind_band(event, desk(), 999_999, OTHER_UID)


@pytest.mark.parametrize("lost", [False, True])
def test_blocked_and_lost_bands_cannot_be_bound(event: Store, lost: bool) -> None:
    holder = add_attendee(event, "Old Holder", band_uid=UID)
    block_band(event, Actor(station="bands-1"), UID, "torn", lost=lost)
    ivan = person(event)
    check_in(event, desk(), ivan)
    with pytest.raises(Refused, match="take another band") as caught:
        bind_band(event, desk(), ivan, UID)
    assert caught.value.reason == ("band_lost" if lost else "band_blocked")
    assert holder


def test_a_returned_band_can_be_bound_again(event: Store) -> None:
    add_attendee(event, "Old Holder", band_uid=UID)
    with event.db.write() as conn:
        conn.execute(text("UPDATE band SET state = 'returned' WHERE uid = :u"), {"u": UID})
    ivan = person(event)
    check_in(event, desk(), ivan)
    assert bind_band(event, desk(), ivan, UID).attendee_id == ivan
    assert event.identify_band(desk(), UID).name == "Иван Петров"


# -- undo -------------------------------------------------------------------------------------


def test_undo_takes_back_the_check_in_and_the_points_wait_again(event: Store) -> None:
    ivan = person(event)
    add_pending(event, ivan, 10, 25)
    check_in(event, desk(), ivan)
    bind_band(event, desk(), ivan, UID)
    undone = undo_last_check_in(event, desk())
    assert (undone.attendee_id, undone.band_uid, undone.points_reversed) == (ivan, UID, 35)
    assert "Иван Петров" in undone.message
    card = attendee_card(event, ivan)
    assert card.checked_in_at is None and card.band_uid is None and card.colour_id is None
    assert (card.balance, card.pending_points) == (0, 35)
    assert event.identify_band(desk(), UID).state == "returned"
    # Checked in again later: the same (returned) band, and the points come back once.
    check_in(event, desk(), ivan)
    assert bind_band(event, desk(), ivan, UID).points_posted == 35
    assert [line.amount for line in statement(event, ivan)] == [35, -35, 35]
    assert event.verify().ok


def test_undo_works_back_through_this_desks_check_ins_only(event: Store) -> None:
    anna, ivan, oleg = person(event, "Anna Smith"), person(event), person(event, "Oleg Ivanov")
    check_in(event, desk("desk-1"), anna)
    check_in(event, desk("desk-1"), ivan)
    check_in(event, desk("desk-2"), oleg)
    assert undo_last_check_in(event, desk("desk-1")).attendee_id == ivan
    assert undo_last_check_in(event, desk("desk-1")).attendee_id == anna
    with pytest.raises(Refused) as caught:
        undo_last_check_in(event, desk("desk-1"))
    assert caught.value.reason == "nothing_to_undo"
    assert attendee_card(event, oleg).checked_in_at is not None


def test_undo_is_refused_after_the_window(event: Store) -> None:
    ivan = person(event)
    check_in(event, desk(), ivan)
    with event.db.write() as conn:
        earlier = event.db.now(conn).replace(microsecond=0)
        conn.execute(
            CheckIn.__table__.update().values(at=earlier - timedelta(minutes=17, seconds=5))  # type: ignore[attr-defined]
        )
    with pytest.raises(Refused) as caught:
        undo_last_check_in(event, desk())
    assert caught.value.reason == "undo_too_late"
    assert "was 17 minutes ago; undo is possible for 15" in caught.value.message


def test_undo_is_refused_when_the_points_were_spent(event: Store) -> None:
    ivan = person(event)
    add_pending(event, ivan, 40)
    check_in(event, desk(), ivan)
    bind_band(event, desk(), ivan, UID)
    spend(event, Actor(station="counter-1"), UID, 30, "prize")
    with pytest.raises(Refused, match="40 pre-event points were already spent"):
        undo_last_check_in(event, desk())
    card = attendee_card(event, ivan)
    assert card.checked_in_at is not None and card.band_uid == UID and card.balance == 10
    assert event.verify().ok


def test_the_demo_desk_can_undo_its_check_ins(store: Store) -> None:
    build_demo(store)
    undone = undo_last_check_in(store, desk("desk-1"))
    card = attendee_card(store, undone.attendee_id)
    assert card.checked_in_at is None and card.band_uid is None
    assert card.pending_points == undone.points_reversed
    assert store.verify().ok


# -- walk-ins and look-ups ----------------------------------------------------------------------


def test_register_a_walk_in(event: Store) -> None:
    card = register_walk_in(
        event, desk(), "  Жанар  Оспанова ", "Zhanar@Example.KZ", "Tulpar", "QA"
    )
    assert (card.name, card.email, card.company, card.field) == (
        "Жанар Оспанова",
        "zhanar@example.kz",
        "Tulpar",
        "qa",
    )
    assert card.registered_via == "walk-in" and len(card.code) == 10 and card.balance == 0
    assert [hit.attendee_id for hit in search_attendees(event, "zhanar osp")] == [card.attendee_id]
    assert check_in(event, desk(), card.attendee_id).colour_id == "green"


def test_walk_in_with_a_known_e_mail_offers_that_person(event: Store) -> None:
    first = register_walk_in(event, desk(), "Anna Smith", "anna@example.kz", "", "other")
    with pytest.raises(AlreadyRegistered) as caught:
        register_walk_in(event, desk(), "Anna Smyth", " ANNA@example.kz", "", "other")
    assert caught.value.attendee_id == first.attendee_id
    assert caught.value.card.name == "Anna Smith"
    assert caught.value.reason == "already_registered"
    assert first.code in caught.value.message


@pytest.mark.parametrize(
    ("name", "email", "field", "reason"),
    [
        ("  ", "x@example.kz", "other", "name_missing"),
        ("Anna", "anna@", "other", "bad_email"),
        ("Anna", "anna example.kz", "other", "bad_email"),
        ("Anna", "anna@example.kz", "astronaut", "unknown_field"),
    ],
)
def test_walk_in_refusals(event: Store, name: str, email: str, field: str, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        register_walk_in(event, desk(), name, email, "", field)
    assert caught.value.reason == reason


def test_find_by_code_and_card(event: Store) -> None:
    card = register_walk_in(event, desk(), "Anna Smith", "", "", "other")
    assert card.email is None
    assert find_by_code(event, card.code) == card
    assert find_by_code(event, f"td:{card.code.lower()}") == card
    assert find_by_code(event, "ZZZZZZZZZZ") is None
    assert find_by_code(event, "04A1B2C3D4E5F6") is None
    with pytest.raises(NotFound):
        attendee_card(event, 999_999)


# -- two desks at once ------------------------------------------------------------------------


def _check_in_from(args: tuple[str, int, str]) -> str:
    url, attendee_id, station = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        check_in(store, Actor(station=station, staff=station), attendee_id)
        return "won"
    except Refused as refusal:
        return refusal.reason
    except Conflict:
        return "conflict"
    finally:
        store.close()


def _bind_from(args: tuple[str, int, str, str]) -> str:
    url, attendee_id, uid, station = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        bind_band(store, Actor(station=station), attendee_id, uid)
        return "won"
    except Refused as refusal:
        return refusal.reason
    except Conflict:
        return "conflict"
    finally:
        store.close()


@pytest.mark.slow
def test_two_desks_check_in_the_same_person(event: Store, db_url: str) -> None:
    ivan = person(event)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_check_in_from, [(db_url, ivan, f"desk-{n}") for n in range(4)])
    assert sorted(outcomes) == ["already_checked_in"] * 3 + ["won"]
    with event.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM check_in")).scalar_one() == 1


@pytest.mark.slow
def test_two_desks_bind_the_same_band_to_two_people(event: Store, db_url: str) -> None:
    people = [person(event, f"Person {n}") for n in range(4)]
    for n, attendee in enumerate(people):
        add_pending(event, attendee, 10 + n)
        check_in(event, desk(), attendee)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(
            _bind_from, [(db_url, a, UID, f"desk-{n}") for n, a in enumerate(people)]
        )
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"band_taken", "conflict"}
    winner = people[outcomes.index("won")]
    assert attendee_card(event, winner).band_uid == UID
    assert event.verify().ok


@pytest.mark.slow
def test_two_desks_bind_two_bands_to_one_person_posts_once(event: Store, db_url: str) -> None:
    ivan = person(event)
    add_pending(event, ivan, 30)
    check_in(event, desk(), ivan)
    uids = [f"04F{n}F{n}F{n}F{n}F{n}F{n}0" for n in range(4)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(
            _bind_from, [(db_url, ivan, uid, f"desk-{n}") for n, uid in enumerate(uids)]
        )
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"has_band", "conflict"}
    assert [line.amount for line in statement(event, ivan)] == [30]
    assert event.verify().ok
