"""The registration desk: check-in, colours, binding bands with pre-event points, undo, walk-ins."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text

from store import codec
from store.bands import block_band
from store.context import Actor
from store.demo.build import DEMO_EVENT, build_demo
from store.desk import (
    _BIND_CTE,
    _CHECK_IN_CTE,
    AlreadyRegistered,
    BindResult,
    CheckInResult,
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
from store.ledger import system_account_id
from store.models import CheckIn, PendingPoints
from store.points import spend, statement
from store.search import search_attendees
from store.service import Store
from tests.factories import add_attendee
from tests.statements import sent

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


# -- the one-statement path (PostgreSQL) -------------------------------------------------------

#: What tells the desk's two statements from the step path's statements.
FAST_CHECK_IN = "WITH person AS (SELECT a.id, a.name, a.field"
FAST_BIND = "WITH person AS (SELECT a.id, a.name, c.id AS account_id"
#: The step path's first statement: claiming the operation id.
STEP_CLAIM = "INSERT INTO operation (op_id, kind"
EPOCH = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
#: Invitation codes for namesakes.
_CODES = itertools.count(1)


def took_fast_path(seen: list[str], marker: str) -> bool:
    """One statement, the desk's own: no step path after it."""
    return len(seen) == 1 and seen[0].startswith(marker)


def fell_back(seen: list[str], marker: str) -> bool:
    return seen[0].startswith(marker) and any(s.startswith(STEP_CLAIM) for s in seen[1:])


@pytest.fixture
def pg_event(pg_url: str) -> Iterator[Store]:
    """A PostgreSQL store with the demo event loaded, its desks' stations ready."""
    opened = Store.open(pg_url, migrate=False)
    try:
        assert opened.one_statement
        load_event(opened, DEMO_EVENT, Actor(station="setup"))
        for station in ("desk-1", "desk-2"):  # the station row and issuer, made once
            opened.run_one_statement(desk(station), lambda _conn: None)
            with opened.db.read() as conn:
                system_account_id(conn, "issuer", station)  # and known from now on
        yield opened
    finally:
        opened.close()


def stored(store: Store, actor: Actor) -> tuple[str, list[tuple[Any, ...]]]:
    """The operation's saved result and its audit rows (action, subject, detail, who)."""
    with store.db.read() as conn:
        result = conn.execute(
            text("SELECT result FROM operation WHERE op_id = :op"), {"op": actor.op_id}
        ).scalar_one()
        audit = conn.execute(
            text(
                "SELECT action, subject, detail, station, staff FROM audit "
                "WHERE correlation_id = :c ORDER BY id"
            ),
            {"c": actor.correlation_id},
        ).all()
    return result, [tuple(row) for row in audit]


def check_in_row(store: Store, attendee_id: int) -> tuple[Any, ...]:
    with store.db.read() as conn:
        row = conn.execute(
            text(
                "SELECT c.at, c.station, c.staff, c.rule_colour, c.colour, c.band_uid, "
                "c.bind_op_id, c.pre_event_transfer_id, c.pre_event_points, c.op_id, "
                "a.checked_in_at, a.checked_in_station, a.checked_in_staff, a.colour "
                "FROM check_in c JOIN attendee a ON a.id = c.attendee_id "
                "WHERE c.attendee_id = :a AND c.undone_at IS NULL"
            ),
            {"a": attendee_id},
        ).one()
    return tuple(row)


def check_in_both_ways(
    store: Store, field: str, pending: tuple[int, ...] = (), staff: str | None = "Vera"
) -> tuple[CheckInResult, CheckInResult, list[str]]:
    """The same person checked in on the one-statement path and on the step path.

    Returns both results and what the one-statement attempt sent; checks that each stored
    exactly ``codec.dump`` of its result and wrote the same rows.
    """
    results = []
    fast_sent: list[str] = []
    for fast in (True, False):
        store.one_statement = fast
        attendee = add_attendee(
            store,
            'Анна "Ё" Smith',
            field=field,
            colour=None,
            code=f"C{next(_CODES):09d}",
        )
        if pending:
            add_pending(store, attendee, *pending)
        actor = desk(staff=staff)
        with sent(store) as seen:
            result = check_in(store, actor, attendee)
        if fast:
            fast_sent = list(seen)
        else:
            assert seen[0].startswith(STEP_CLAIM)
        saved, audit = stored(store, actor)
        assert saved == codec.dump(result)
        assert audit == [
            ("check_in", str(attendee), f'{{"colour": "{result.colour_id}"}}', "desk-1", staff)
        ]
        row = check_in_row(store, attendee)
        assert row == (
            result.at,
            "desk-1",
            staff,
            result.colour_id,
            result.colour_id,
            None,
            None,
            None,
            0,
            actor.op_id,
            result.at,
            "desk-1",
            staff,
            result.colour_id,
        )
        assert result.at_local == hhmm(result.at)
        results.append(result)
    store.one_statement = True
    fast_result, step_result = results
    blank = {"attendee_id": 0, "at": EPOCH, "at_local": ""}
    assert replace(fast_result, **blank) == replace(step_result, **blank)
    return fast_result, step_result, fast_sent


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("field", "colour"),
    [
        ("development", "blue"),  # spelled as the event file spells it
        ("QA", "green"),  # another case: ASCII folds exactly in SQL
        ("journalism", "blue"),  # listed nowhere: the default colour
        ("design", "purple"),
    ],
)
def test_one_statement_check_in_equals_the_step_path(
    pg_event: Store, field: str, colour: str
) -> None:
    fast, _step, seen = check_in_both_ways(pg_event, field, pending=(10, 25))
    assert took_fast_path(seen, FAST_CHECK_IN)
    assert (fast.colour_id, fast.pending_points) == (colour, 35)
    assert fast.colours == ("blue", "orange", "green", "purple")


def _variant(store: Store, tmp_path: Path, old: str, new: str) -> None:
    source = DEMO_EVENT.read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / "event.toml"
    path.write_text(source.replace(old, new), encoding="utf-8")
    load_event(store, path, Actor(station="setup"))


@pytest.mark.postgres
def test_one_statement_check_in_takes_the_events_default_colour(
    pg_event: Store, tmp_path: Path
) -> None:
    _variant(pg_event, tmp_path, 'default = "blue"', 'default = "purple"')
    fast, _step, seen = check_in_both_ways(pg_event, "journalism")
    assert took_fast_path(seen, FAST_CHECK_IN) and fast.colour_id == "purple"
    fast, _step, seen = check_in_both_ways(pg_event, "Development")
    assert took_fast_path(seen, FAST_CHECK_IN) and fast.colour_id == "blue"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("field", "colour", "one_statement"),
    [
        ("Тестирование", "green", True),  # spelled as in the event file
        ("development", "blue", True),
        ("тестирование", "green", False),  # case folding beyond ASCII: the step path
        ("Development", "blue", False),
        ("journalism", "blue", False),  # the default needs case folding to be sure
    ],
)
def test_one_statement_check_in_with_fields_beyond_ascii(
    pg_event: Store, tmp_path: Path, field: str, colour: str, one_statement: bool
) -> None:
    _variant(pg_event, tmp_path, 'fields = ["qa"]', 'fields = ["qa", "Тестирование"]')
    fast, _step, seen = check_in_both_ways(pg_event, field)
    assert fast.colour_id == colour
    if one_statement:
        assert took_fast_path(seen, FAST_CHECK_IN)
    else:
        assert fell_back(seen, FAST_CHECK_IN)


@pytest.mark.postgres
def test_one_statement_check_in_falls_back_for_refusals(pg_event: Store) -> None:
    ivan = person(pg_event)
    first = check_in(pg_event, desk("desk-2", "Anna"), ivan)
    with sent(pg_event) as seen, pytest.raises(Refused) as caught:
        check_in(pg_event, desk(), ivan)
    assert fell_back(seen, FAST_CHECK_IN)
    assert f"already checked in at {hhmm(first.at)} at desk-2 by Anna" in caught.value.message
    gone = person(pg_event, "Cancelled Person")
    with pg_event.db.write() as conn:
        conn.execute(text("UPDATE attendee SET active = false WHERE id = :a"), {"a": gone})
    with sent(pg_event) as seen, pytest.raises(Refused) as caught:
        check_in(pg_event, desk(), gone)
    assert fell_back(seen, FAST_CHECK_IN) and caught.value.reason == "attendee_inactive"
    with pytest.raises(NotFound):
        check_in(pg_event, desk(), 999_999)


@pytest.mark.postgres
def test_one_statement_check_in_resaves_a_result_the_database_wrote_otherwise(
    pg_event: Store,
) -> None:
    # A zone PostgreSQL reads (POSIX: three hours WEST of UTC) and Python does not (UTC): the
    # statement's local time differs, so the result is saved again as the step path has it.
    with pg_event.db.write() as conn:
        conn.execute(text("UPDATE event SET timezone = 'UTC+3'"))
    ivan, actor = person(pg_event), desk()
    with sent(pg_event) as seen:
        result = check_in(pg_event, actor, ivan)
    assert seen[0].startswith(FAST_CHECK_IN) and len(seen) == 2
    assert seen[1].startswith("UPDATE operation SET result")
    assert result.at_local == result.at.strftime("%H:%M")
    assert stored(pg_event, actor)[0] == codec.dump(result)
    assert check_in(pg_event, actor, ivan) == result  # a retry returns it


@pytest.mark.postgres
def test_one_statement_check_in_falls_back_on_a_zone_the_database_does_not_know(
    pg_event: Store,
) -> None:
    with pg_event.db.write() as conn:
        conn.execute(text("UPDATE event SET timezone = 'Mars/Olympus_Mons'"))
    ivan = person(pg_event)
    with sent(pg_event) as seen:
        result = check_in(pg_event, desk(), ivan)
    assert fell_back(seen, FAST_CHECK_IN)
    assert result.at_local == result.at.strftime("%H:%M") and result.colour_id == "blue"


def bind_both_ways(
    store: Store, pending: tuple[int, ...], staff: str | None = "Vera"
) -> tuple[BindResult, BindResult, list[str]]:
    """The same bind on the one-statement path and on the step path; compares what they wrote."""
    results = []
    fast_sent: list[str] = []
    rows = []
    for n, fast in enumerate((True, False)):
        attendee = add_attendee(store, "Иван Петров", colour=None, code=f"BIND{n}")
        add_pending(store, attendee, *pending)
        check_in(store, desk(), attendee)
        store.one_statement = fast
        actor, uid = desk(staff=staff), (UID, OTHER_UID)[n]
        with sent(store) as seen:
            result = bind_band(store, actor, attendee, uid.lower())
        if fast:
            fast_sent = list(seen)
        saved, audit = stored(store, actor)
        assert saved == codec.dump(result)
        assert audit == [
            (
                "bind_band",
                uid,
                f'{{"attendee_id": {attendee}, "points": {sum(pending)}}}',
                "desk-1",
                staff,
            )
        ]
        row = check_in_row(store, attendee)
        assert row[5:9] == (uid, actor.op_id, result.transfer_id, sum(pending))
        with store.db.read() as conn:
            band = conn.execute(
                text(
                    "SELECT attendee_id, state, state_reason, state_at, state_station, "
                    "state_staff, bound_at FROM band WHERE uid = :u"
                ),
                {"u": uid},
            ).one()
            assert tuple(band) == (attendee, "active", "", result.at, "desk-1", staff, result.at)
            posted = conn.execute(
                text("SELECT points FROM pending_points WHERE posted_op_id = :op ORDER BY id"),
                {"op": actor.op_id},
            ).scalars()
            assert tuple(posted) == pending
            transfers = conn.execute(
                text(
                    "SELECT t.id, t.seq, d.kind, d.station, c.attendee_id, t.amount, t.code, "
                    "t.reference, t.station, t.staff, t.correlation_id, t.created_at, "
                    "t.corrects_id FROM transfer t JOIN account d ON d.id = t.debit_account_id "
                    "JOIN account c ON c.id = t.credit_account_id WHERE t.op_id = :op"
                ),
                {"op": actor.op_id},
            ).all()
        assert all(t.correlation_id == actor.correlation_id for t in transfers)
        rows.append([(*t[1:4], *t[5:10], *t[12:]) for t in transfers])
        if pending:
            assert [(t.id, t.attendee_id, t.created_at) for t in transfers] == [
                (result.transfer_id, attendee, result.at)
            ]
        else:
            assert transfers == [] and result.transfer_id is None
        assert attendee_card(store, attendee).balance == result.balance == sum(pending)
        results.append(result)
    store.one_statement = True
    assert rows[0] == rows[1]
    blank = {"attendee_id": 0, "at": EPOCH, "transfer_id": None, "uid": ""}
    assert replace(results[0], **blank) == replace(results[1], **blank)
    assert store.verify().ok
    return results[0], results[1], fast_sent


@pytest.mark.postgres
@pytest.mark.parametrize("pending", [(), (10, 25), (7,)])
def test_one_statement_bind_equals_the_step_path(pg_event: Store, pending: tuple[int, ...]) -> None:
    fast, _step, seen = bind_both_ways(pg_event, pending)
    assert took_fast_path(seen, FAST_BIND)
    assert fast.points_posted == sum(pending)


@pytest.mark.postgres
def test_one_statement_path_without_a_staff_name(pg_event: Store) -> None:
    fast, step, seen = check_in_both_ways(pg_event, "qa", staff=None)
    assert took_fast_path(seen, FAST_CHECK_IN) and fast.staff is None is step.staff
    bound, _step, seen = bind_both_ways(pg_event, (5,), staff=None)
    assert took_fast_path(seen, FAST_BIND) and bound.points_posted == 5


@pytest.mark.postgres
def test_one_statement_bind_falls_back_for_anything_unusual(pg_event: Store) -> None:
    ivan = person(pg_event)
    with sent(pg_event) as seen, pytest.raises(Refused) as caught:
        bind_band(pg_event, desk(), ivan, UID)
    assert fell_back(seen, FAST_BIND) and caught.value.reason == "not_checked_in"
    check_in(pg_event, desk(), ivan)
    bound = bind_band(pg_event, desk(), ivan, UID)
    for uid, reason in ((OTHER_UID, "has_band"), (UID, "already_bound")):
        with sent(pg_event) as seen, pytest.raises(Refused) as caught:
            bind_band(pg_event, desk(), ivan, uid)
        assert fell_back(seen, FAST_BIND) and caught.value.reason == reason
    # A retried bind: the statement finds the band bound; the step path replays the result.
    anna, actor = person(pg_event, "Anna Smith"), desk()
    check_in(pg_event, desk(), anna)
    first = bind_band(pg_event, actor, anna, OTHER_UID)
    with sent(pg_event) as seen:
        assert bind_band(pg_event, actor, anna, OTHER_UID) == first
    assert fell_back(seen, FAST_BIND)
    # A returned band is bound again by the step path (the band row exists).
    undo_last_check_in(pg_event, desk())
    check_in(pg_event, desk(), anna)
    with sent(pg_event) as seen:
        again = bind_band(pg_event, desk(), anna, OTHER_UID)
    assert fell_back(seen, FAST_BIND) and again.attendee_id == anna
    # Someone else's band.
    oleg = person(pg_event, "Oleg Ivanov")
    check_in(pg_event, desk(), oleg)
    with sent(pg_event) as seen, pytest.raises(Refused) as caught:
        bind_band(pg_event, desk(), oleg, UID)
    assert fell_back(seen, FAST_BIND) and caught.value.reason == "band_taken"
    assert bound.uid == UID and pg_event.verify().ok


@pytest.mark.postgres
def test_one_statement_check_in_and_bind_undo_like_the_step_path(pg_event: Store) -> None:
    ivan = person(pg_event)
    add_pending(pg_event, ivan, 10, 25)
    with sent(pg_event) as seen:
        check_in(pg_event, desk(), ivan)
        bind_band(pg_event, desk(), ivan, UID)
    assert [s[:40] for s in seen] == [FAST_CHECK_IN[:40], FAST_BIND[:40]]
    undone = undo_last_check_in(pg_event, desk())
    assert (undone.attendee_id, undone.band_uid, undone.points_reversed) == (ivan, UID, 35)
    card = attendee_card(pg_event, ivan)
    assert (card.balance, card.pending_points, card.band_uid) == (0, 35, None)
    with sent(pg_event) as seen:
        check_in(pg_event, desk(), ivan)
    assert took_fast_path(seen, FAST_CHECK_IN)
    assert bind_band(pg_event, desk(), ivan, OTHER_UID).points_posted == 35
    assert [line.amount for line in statement(pg_event, ivan)] == [35, -35, 35]
    assert pg_event.verify().ok


def _fast_race(args: tuple[str, str, int, str, str]) -> tuple[str, int, int]:
    """One desk process: the outcome, and how many one-statement and step attempts it sent."""
    url, kind, attendee_id, uid, station = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    actor = Actor(station=station, staff=station)
    store.run_one_statement(actor, lambda _conn: None)  # the station's row, before the race
    try:
        with sent(store) as seen:
            try:
                if kind == "check_in":
                    check_in(store, actor, attendee_id)
                else:
                    bind_band(store, actor, attendee_id, uid)
                outcome = "won"
            except Refused as refusal:
                outcome = refusal.reason
            except Conflict:
                outcome = "conflict"
        marker = FAST_CHECK_IN if kind == "check_in" else FAST_BIND
        fast = sum(s.startswith(marker) for s in seen)
        return outcome, fast, sum(s.startswith(STEP_CLAIM) for s in seen)
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_desks_racing_on_the_one_statement_path(pg_event: Store, pg_url: str) -> None:
    ivan = person(pg_event)
    people = [person(pg_event, f"Person {n}") for n in range(4)]
    for n, attendee in enumerate(people):
        add_pending(pg_event, attendee, 10 + n)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        checked = pool.map(
            _fast_race, [(pg_url, "check_in", ivan, "", f"desk-{n}") for n in range(4)]
        )
        for attendee in people:
            check_in(pg_event, desk(), attendee)
        same_band = pool.map(
            _fast_race, [(pg_url, "bind", a, UID, f"desk-{n}") for n, a in enumerate(people)]
        )
        add_pending(pg_event, ivan, 30)  # checked in by the race's winner
        one_person = pool.map(
            _fast_race,
            [(pg_url, "bind", ivan, f"04F{n}F{n}F{n}F{n}F{n}F{n}0", f"desk-{n}") for n in range(4)],
        )
    # Every desk tried the statement once; the winner needed nothing else, the others fell back
    # to the step path, which said why.
    assert sorted(checked) == [("already_checked_in", 1, 1)] * 3 + [("won", 1, 0)]
    assert sorted(same_band) == [("band_taken", 1, 1)] * 3 + [("won", 1, 0)]
    assert sorted(one_person) == [("has_band", 1, 1)] * 3 + [("won", 1, 0)]
    winner = people[[o for o, _f, _s in same_band].index("won")]
    assert attendee_card(pg_event, winner).band_uid == UID
    assert [line.amount for line in statement(pg_event, ivan)] == [30]
    with pg_event.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM check_in")).scalar_one() == 5
    assert pg_event.verify().ok


def _wait_on_open_statement(
    store: Store, first: Actor, sql: Any, params: dict[str, Any], second: Any
) -> tuple[Any, list[str]]:
    """Desk 1 runs the one statement and has not committed yet; desk 2's statement waits on
    its locks. Returns what desk 2 got (a result or the refusal) once desk 1 commits, and what
    desk 2 sent."""
    outcome: list[Any] = []

    def desk_2() -> None:
        try:
            outcome.append(second())
        except Refused as refusal:
            outcome.append(refusal)

    with sent(store, other_threads_only=True) as seen:
        with store.db.write() as conn:
            row = conn.execute(
                sql,
                {
                    **params,
                    "op_id": first.op_id,
                    "station": first.station,
                    "staff": first.staff,
                    "correlation_id": first.correlation_id,
                },
            ).one()
            assert row.result is not None
            waiting = threading.Thread(target=desk_2)
            waiting.start()
            time.sleep(0.5)
            assert waiting.is_alive()  # blocked on desk 1's row or index entry
        waiting.join(10)
    return outcome[0], seen


@pytest.mark.slow
@pytest.mark.postgres
def test_a_desk_waiting_on_another_desks_check_in_falls_back(pg_event: Store) -> None:
    """The snapshot trap: desk 2's statement read "not checked in" before desk 1 committed;
    its guarded UPDATE re-checks the row it waited for and matches nothing."""
    ivan = person(pg_event)
    got, seen = _wait_on_open_statement(
        pg_event,
        desk("desk-1", "Anna"),
        _CHECK_IN_CTE,
        {"attendee_id": ivan},
        lambda: check_in(pg_event, desk("desk-2"), ivan),
    )
    assert isinstance(got, Refused) and got.reason == "already_checked_in"
    assert "at desk-1 by Anna" in got.message
    assert fell_back(seen, FAST_CHECK_IN)
    with pg_event.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM check_in")).scalar_one() == 1


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("same", ["band", "person"])
def test_a_desk_waiting_on_another_desks_bind_falls_back(pg_event: Store, same: str) -> None:
    """Desk 2 binds the same band to another person, or another band to the same person,
    while desk 1's bind is not committed: the unique indexes decide; points post once."""
    anna, ivan = person(pg_event, "Anna Smith"), person(pg_event)
    for attendee in (anna, ivan):
        add_pending(pg_event, attendee, 30)
        check_in(pg_event, desk(), attendee)
    first = desk("desk-1")
    with pg_event.db.read() as conn:
        issuer = system_account_id(conn, "issuer", first.station)
    second_person, second_uid = (ivan, UID) if same == "band" else (anna, OTHER_UID)
    got, seen = _wait_on_open_statement(
        pg_event,
        first,
        _BIND_CTE,
        {"attendee_id": anna, "uid": UID, "code": "pre-event", "issuer": issuer},
        lambda: bind_band(pg_event, desk("desk-2"), second_person, second_uid),
    )
    assert isinstance(got, Refused)
    assert got.reason == ("band_taken" if same == "band" else "has_band")
    assert fell_back(seen, FAST_BIND)
    assert attendee_card(pg_event, anna).band_uid == UID
    assert [line.amount for line in statement(pg_event, anna)] == [30]
    assert statement(pg_event, ivan) == ()
    assert pg_event.verify().ok
