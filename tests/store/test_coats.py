"""The coat check: hangers by band, full racks, failed racks, paper mode, lost bands."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import select

from store.bands import block_band
from store.coats import (
    ReconcileRow,
    coat_in_for,
    coat_out,
    coat_tap,
    find_coats,
    held_coat,
    occupancy,
    paper_in,
    rack_back_in_service,
    rack_out_of_service,
    reconcile,
    reconcile_file,
)
from store.context import Actor
from store.demo.build import DEMO_EVENT
from store.desk import bind_band, check_in
from store.errors import Refused
from store.eventfile import EventSpec, RackSpec, load_event, parse_event_file
from store.models import Audit, Coat, Rack
from store.service import Store
from store.wristbands import inspect_band, replace_band
from tests.factories import add_attendee

audit_t = Audit.__table__  # type: ignore[attr-defined]
coat_t = Coat.__table__  # type: ignore[attr-defined]
rack_t = Rack.__table__  # type: ignore[attr-defined]


def coats(station: str = "coats-1", staff: str | None = "Aigerim") -> Actor:
    return Actor(station=station, staff=staff)


def event_with_racks(*racks: tuple[str, str, int]) -> EventSpec:
    spec = parse_event_file(DEMO_EVENT)
    return spec.model_copy(
        update={"racks": [RackSpec(id=i, name=n, capacity=c) for i, n, c in racks]}
    )


SMALL = event_with_racks(("rack-a", "Rack A", 3), ("rack-b", "Rack B", 2))


@pytest.fixture
def event(store: Store) -> Store:
    """The demo event with two small racks: A (3 hangers) then B (2)."""
    load_event(store, SMALL, Actor(station="setup"))
    return store


def person(store: Store, n: int, name: str | None = None) -> tuple[int, str]:
    """A checked-in person wearing a band; returns (attendee id, band uid)."""
    uid = f"04AB{n:010X}"
    attendee = add_attendee(store, name or f"Coat Person {n}", colour=None, code=f"COAT{n:06d}")
    check_in(store, Actor(station="desk-1"), attendee)
    bind_band(store, Actor(station="desk-1"), attendee, uid)
    return attendee, uid


def audit_rows(store: Store, action: str) -> list[tuple[str, str | None, dict[str, object]]]:
    with store.db.read() as conn:
        return [
            (r.subject, r.staff, json.loads(r.detail or "{}"))
            for r in conn.execute(
                select(audit_t.c.subject, audit_t.c.staff, audit_t.c.detail)
                .where(audit_t.c.action == action)
                .order_by(audit_t.c.id)
            )
        ]


# -- in and out ---------------------------------------------------------------------------------


def test_tap_hands_the_lowest_free_hanger_and_a_second_tap_shows_it(event: Store) -> None:
    _a, band_a = person(event, 1)
    _b, band_b = person(event, 2)
    first = coat_tap(event, coats(), band_a)
    second = coat_tap(event, coats(), band_b)
    assert (first.action, first.rack_id, first.hanger) == ("in", "rack-a", 1)
    assert (second.rack_id, second.hanger) == ("rack-a", 2)
    assert (first.label, first.big) == ("Rack A · 1", "A-1")
    again = coat_tap(event, coats(), band_a)
    assert (again.action, again.coat_id, again.hanger) == ("held", first.coat_id, 1)


def test_hand_back_frees_the_hanger_once(event: Store) -> None:
    _a, band_a = person(event, 1)
    _b, band_b = person(event, 2)
    _c, band_c = person(event, 3)
    ticket = coat_tap(event, coats(), band_a)
    coat_tap(event, coats(), band_b)
    out = coat_out(event, coats(), ticket.coat_id, band_uid=band_a)
    assert (out.action, out.state, out.out_id_checked) == ("out", "collected", False)
    with pytest.raises(Refused) as refused:
        coat_out(event, coats(), ticket.coat_id, band_uid=band_a)
    assert refused.value.reason == "already_collected"
    assert "already handed back" in refused.value.message
    # Hanger 1 is free again: the next coat takes it.
    assert coat_tap(event, coats(), band_c).hanger == 1
    assert event.verify().ok


def test_a_retried_tap_applies_once(event: Store) -> None:
    _a, band = person(event, 1)
    actor = coats()
    first = coat_tap(event, actor, band)
    assert coat_tap(event, actor, band) == first
    with event.db.read() as conn:
        assert conn.execute(select(coat_t.c.id)).all() == [(first.coat_id,)]


def test_another_persons_band_cannot_take_a_coat(event: Store) -> None:
    _a, band_a = person(event, 1)
    _b, band_b = person(event, 2)
    ticket = coat_tap(event, coats(), band_a)
    with pytest.raises(Refused) as refused:
        coat_out(event, coats(), ticket.coat_id, band_uid=band_b)
    assert refused.value.reason == "wrong_band"
    assert held_coat(event, ticket.attendee_id) is not None


def test_a_full_rack_hands_over_to_the_next_and_then_paper(event: Store) -> None:
    bands = [person(event, n)[1] for n in range(6)]
    tickets = [coat_tap(event, coats(), band) for band in bands[:5]]
    assert [(t.rack_id, t.hanger) for t in tickets] == [
        ("rack-a", 1),
        ("rack-a", 2),
        ("rack-a", 3),
        ("rack-b", 1),
        ("rack-b", 2),
    ]
    assert "Rack A full" in tickets[3].note
    with pytest.raises(Refused) as refused:
        coat_tap(event, coats(), bands[5])
    assert refused.value.reason == "racks_full"
    assert "paper" in refused.value.message


def test_occupancy_warns_at_ninety_percent(store: Store) -> None:
    load_event(store, event_with_racks(("big", "Big", 10), ("spare", "Spare", 5)), coats())
    bands = [person(store, n)[1] for n in range(9)]
    for band in bands[:8]:
        coat_tap(store, coats(), band)
    big = occupancy(store).racks[0]
    assert (big.held, big.capacity, big.percent, big.warn) == (8, 10, 80, False)
    coat_tap(store, coats(), bands[8])
    now = occupancy(store)
    assert (now.racks[0].percent, now.racks[0].warn, now.racks[0].full) == (90, True, False)
    assert now.filling == "big"
    assert now.racks[1].warn is False


# -- bands --------------------------------------------------------------------------------------


def test_blocked_band_is_refused_with_its_state(event: Store) -> None:
    _a, band = person(event, 1)
    block_band(event, Actor(station="bands-1", staff="Olzhas"), band, "found on the floor")
    with pytest.raises(Refused) as refused:
        coat_tap(event, coats(), band)
    assert refused.value.reason == "band_blocked"
    assert "found on the floor" in refused.value.message


def test_a_replaced_band_still_finds_the_coat(event: Store) -> None:
    attendee, band = person(event, 1)
    ticket = coat_tap(event, coats(), band)
    replace_band(event, Actor(station="bands-1"), attendee, "04FFEEDDCCBB01")
    with pytest.raises(Refused):
        coat_tap(event, coats(), band)  # the old band is blocked as lost
    found = coat_tap(event, coats(), "04FFEEDDCCBB01")
    assert (found.action, found.coat_id) == ("held", ticket.coat_id)
    shown = inspect_band(event, "04FFEEDDCCBB01").coat
    assert shown is not None and shown.hanger == ticket.hanger


def test_lost_band_coat_needs_an_id_check_recorded_with_who(event: Store) -> None:
    attendee, band = person(event, 1, name="Дана Нурланова")
    ticket = coat_tap(event, coats(), band)
    block_band(event, Actor(station="bands-1"), band, "lost")
    found = find_coats(event, "Дана")
    assert [t.coat_id for t in found] == [ticket.coat_id]
    assert find_coats(event, "COAT000001")[0].coat_id == ticket.coat_id
    with pytest.raises(Refused) as refused:
        coat_out(event, coats(), ticket.coat_id)
    assert refused.value.reason == "id_check_needed"
    out = coat_out(event, coats(staff="Aigerim"), ticket.coat_id, id_checked=True)
    assert out.out_id_checked and out.state == "collected"
    [(subject, staff, detail)] = audit_rows(event, "coat_out_id_checked")
    assert (subject, staff) == ("Rack A · 1", "Aigerim")
    assert detail["checked_by"] == "Aigerim" and detail["attendee_id"] == attendee


# -- racks --------------------------------------------------------------------------------------


def test_failed_rack_keeps_its_coats_findable_and_new_coats_go_elsewhere(event: Store) -> None:
    attendee, band = person(event, 1, name="Ерлан Сейткали")
    _b, band_b = person(event, 2)
    ticket = coat_tap(event, coats(), band)
    state = rack_out_of_service(event, coats(), "A", "collapsed under the coats")
    assert (state.rack_id, state.out_of_service, state.held) == ("rack-a", True, 1)
    assert coat_tap(event, coats(), band_b).rack_id == "rack-b"
    for query in ("A-1", "Rack A 1", "rack-a:1", "Ерлан", band):
        found = find_coats(event, query)
        assert [t.coat_id for t in found] == [ticket.coat_id], query
        assert found[0].rack_out_of_service
    assert coat_tap(event, coats(), band).action == "held"
    with pytest.raises(Refused) as refused:
        rack_out_of_service(event, coats(), "rack-a", "again")
    assert refused.value.reason == "already_out"
    [(subject, _staff, detail)] = audit_rows(event, "rack_out_of_service")
    assert subject == "rack-a" and detail["reason"] == "collapsed under the coats"
    # A reload of the event file keeps the rack out of service.
    load_event(event, event_with_racks(("rack-a", "Rack A", 4), ("rack-b", "Rack B", 2)), coats())
    rack = occupancy(event).racks[0]
    assert (rack.rack_id, rack.out_of_service, rack.capacity) == ("rack-a", True, 4)
    back = rack_back_in_service(event, coats(), "Rack A", "fixed")
    assert back.out_of_service is False
    assert occupancy(event).filling == "rack-a"
    assert held_coat(event, attendee) is not None


def test_racks_fill_in_file_order(store: Store) -> None:
    load_event(store, event_with_racks(("z", "Zed", 2), ("a", "Ay", 2)), coats())
    assert [r.rack_id for r in occupancy(store).racks] == ["z", "a"]
    _p, band = person(store, 1)
    assert coat_tap(store, coats(), band).rack_id == "z"
    with store.db.read() as conn:
        positions = dict(conn.execute(select(rack_t.c.id, rack_t.c.position)).all())
    assert positions == {"z": 0, "a": 1}


def test_no_rack_in_service_says_to_use_paper(event: Store) -> None:
    rack_out_of_service(event, coats(), "rack-a", "collapsed")
    rack_out_of_service(event, coats(), "rack-b", "collapsed too")
    _p, band = person(event, 1)
    with pytest.raises(Refused) as refused:
        coat_tap(event, coats(), band)
    assert refused.value.reason == "no_rack"


# -- paper mode and reconciliation ----------------------------------------------------------------


def test_paper_mode_takes_coats_by_tag_and_hands_them_back(event: Store) -> None:
    a, _band_a = person(event, 1)
    b, _band_b = person(event, 2)
    ticket = paper_in(event, coats(), a, "17")
    assert (ticket.action, ticket.paper_tag, ticket.hanger, ticket.big) == (
        "paper_in",
        "17",
        None,
        "P-17",
    )
    with pytest.raises(Refused) as refused:
        paper_in(event, coats(), b, "17")
    assert refused.value.reason == "paper_tag_taken"
    assert paper_in(event, coats(), a, "18").action == "held"  # one coat per person
    assert [t.coat_id for t in find_coats(event, "17")] == [ticket.coat_id]
    assert occupancy(event).paper_held == 1
    with pytest.raises(Refused):
        coat_out(event, coats(), ticket.coat_id, paper_tag="18")
    out = coat_out(event, coats(), ticket.coat_id, paper_tag="17")
    assert out.state == "collected"
    # The tag is free again once the coat is back.
    assert paper_in(event, coats(), b, "17").paper_tag == "17"
    # Tags with letters are kept upper-case and found however they are typed.
    c, _band_c = person(event, 3)
    lettered = paper_in(event, coats(), c, "b7")
    assert lettered.paper_tag == "B7"
    assert [t.coat_id for t in find_coats(event, "b7")] == [lettered.coat_id]


def test_person_without_band_gets_a_hanger(event: Store) -> None:
    attendee = add_attendee(event, "No Band Yet", colour=None, code="NOBAND0001")
    ticket = coat_in_for(event, coats(), attendee)
    assert (ticket.action, ticket.hanger) == ("in", 1)


def test_reconcile_moves_closes_enters_and_never_applies_twice(
    event: Store, tmp_path: Path
) -> None:
    a, _ = person(event, 1)
    b, _ = person(event, 2)
    c, _ = person(event, 3)
    paper_in(event, coats(), a, "1")
    paper_in(event, coats(), b, "2")
    source = tmp_path / "paper.csv"
    source.write_text(
        "paper tag,attendee,hanger\n"
        "1,COAT000001,Rack B 2\n"
        "2,coat000002@example.test,collected\n"
        "3,COAT000003,A-1\n"  # never entered: the laptop was down
        "4,NOBODY,A-2\n"
        "5,COAT000002\n"
        "6,COAT000001,Rack C 1\n",
        encoding="utf-8",
    )
    report = reconcile_file(event, coats(), source)
    outcomes = [(line.line, line.outcome) for line in report.lines]
    assert outcomes == [
        (2, "moved"),
        (3, "collected"),
        (4, "moved"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
    ]
    assert report.lines[3].message.startswith("line 5:")
    assert "line 6" in report.lines[4].message
    on_a = held_coat(event, a)
    assert on_a is not None and (on_a.rack_id, on_a.hanger, on_a.paper_tag) == ("rack-b", 2, "1")
    assert held_coat(event, b) is None
    on_c = held_coat(event, c)
    assert on_c is not None and (on_c.rack_id, on_c.hanger) == ("rack-a", 1)
    with event.db.read() as conn:
        count = len(conn.execute(select(coat_t.c.id)).all())
    again = reconcile_file(event, coats(), source)
    assert [line.outcome for line in again.lines] == [
        "already",
        "already",
        "already",
        "error",
        "error",
        "error",
    ]
    with event.db.read() as conn:
        assert len(conn.execute(select(coat_t.c.id)).all()) == count
    assert event.verify().ok


def test_reconcile_refuses_a_taken_hanger(event: Store) -> None:
    _a, band_a = person(event, 1)
    b, _ = person(event, 2)
    coat_tap(event, coats(), band_a)  # Rack A 1
    paper_in(event, coats(), b, "9")
    report = reconcile(event, coats(), [ReconcileRow(2, "9", "COAT000002", "A-1")])
    assert report.lines[0].outcome == "error"
    assert "already holds" in report.lines[0].message
    ticket = held_coat(event, b)
    assert ticket is not None and ticket.hanger is None


# -- two stations -------------------------------------------------------------------------------


def _tap_many(args: tuple[str, list[str], str]) -> list[tuple[str, int]]:
    url, bands, station = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        taken = []
        for band in bands:
            ticket = coat_tap(store, Actor(station=station), band)
            assert ticket.rack_id is not None and ticket.hanger is not None
            taken.append((ticket.rack_id, ticket.hanger))
        return taken
    finally:
        store.close()


@pytest.mark.slow
def test_two_stations_never_hand_out_the_same_hanger(store: Store, db_url: str) -> None:
    load_event(store, event_with_racks(("rack-a", "Rack A", 30), ("rack-b", "Rack B", 30)), coats())
    bands = [person(store, n)[1] for n in range(40)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(
            _tap_many, [(db_url, bands[0::2], "coats-1"), (db_url, bands[1::2], "coats-2")]
        )
    hangers = [h for taken in results for h in taken]
    assert len(hangers) == 40 == len(set(hangers))
    # Every coat got a hanger and none was skipped: A 1-30 then B 1-10.
    assert sorted(hangers) == [("rack-a", n) for n in range(1, 31)] + [
        ("rack-b", n) for n in range(1, 11)
    ]
    assert store.verify().ok


def test_verify_flags_a_coat_beyond_its_rack_unless_the_file_shrank_it(event: Store) -> None:
    _a, band = person(event, 1)
    ticket = coat_tap(event, coats(), band)
    assert event.verify().ok
    with event.db.write() as conn:
        conn.execute(coat_t.update().where(coat_t.c.id == ticket.coat_id).values(hanger=9))
    report = event.verify()
    assert "no held coat beyond its rack" in report.checked
    assert [v for v in report.violations if "hanger 9" in v] == [
        f"Coat {ticket.coat_id} is on hanger 9 of rack rack-a, which has 3."
    ]
    # The event file shrinking a rack after the coat came in is not a fault of the coat check.
    with event.db.write() as conn:
        conn.execute(coat_t.update().where(coat_t.c.id == ticket.coat_id).values(hanger=3))
    load_event(event, event_with_racks(("rack-a", "Rack A", 2), ("rack-b", "Rack B", 2)), coats())
    assert event.verify().ok
