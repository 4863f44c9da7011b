"""The ledger: awards, spending, corrections, band states, idempotency, invariants."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime

import pytest

from store.bands import block_band, unblock_band
from store.context import Actor
from store.errors import NotFound, Refused
from store.points import award, correct, event_day, spend, statement
from store.service import Store
from tests.factories import add_attendee

UID = "04A1B2C3D4E580"


def hub(station: str = "hub-qa") -> Actor:
    return Actor(station=station, staff="Bob")


def test_award_spend_and_statement(store: Store) -> None:
    attendee = add_attendee(store, band_uid=UID)
    first = award(store, hub(), UID, 30, "activity", "hub:qa")
    assert (first.balance, first.amount, first.attendee_id) == (30, 30, attendee)
    spent = spend(store, Actor(station="counter-1"), UID, 20, "prize", "prize:charger")
    assert spent.balance == 10 and spent.amount == -20
    lines = statement(store, attendee)
    assert [(line.amount, line.code) for line in lines] == [(-20, "prize"), (30, "activity")]
    assert lines[1].station == "hub-qa" and lines[1].staff == "Bob"
    assert store.verify().ok


def test_spend_more_than_balance_is_refused_and_changes_nothing(store: Store) -> None:
    add_attendee(store, "Anna Smith", band_uid=UID)
    award(store, hub(), UID, 10, "cool")
    with pytest.raises(Refused, match="Anna Smith has 10 points; 11 are needed"):
        spend(store, Actor(station="counter-1"), UID, 11, "prize")
    assert spend(store, Actor(station="counter-1"), UID, 10, "prize").balance == 0
    assert store.verify().ok


def test_retry_returns_the_first_result(store: Store) -> None:
    add_attendee(store, band_uid=UID)
    actor = hub()
    first = award(store, actor, UID, 15, "quiz")
    assert award(store, actor, UID, 15, "quiz") == first
    award(store, actor.next_action(), UID, 15, "quiz")
    assert statement(store, first.attendee_id)[0].amount == 15
    assert len(statement(store, first.attendee_id)) == 2


def test_correction_reverses_once(store: Store) -> None:
    attendee = add_attendee(store, band_uid=UID)
    given = award(store, hub(), UID, 25, "activity")
    undone = correct(store, hub(), given.transfer_id, "wrong person")
    assert undone.corrects == given.transfer_id and undone.amount == 25
    assert statement(store, attendee)[0].amount == -25
    with pytest.raises(Refused, match="already undone"):
        correct(store, hub(), given.transfer_id, "again")
    with pytest.raises(Refused, match="cannot itself be corrected"):
        correct(store, hub(), undone.transfer_id, "undo the undo")
    with pytest.raises(NotFound):
        correct(store, hub(), 999_999, "nothing")
    assert store.verify().ok


def test_correction_of_spent_points_is_refused(store: Store) -> None:
    add_attendee(store, band_uid=UID)
    given = award(store, hub(), UID, 25, "activity")
    spend(store, Actor(station="counter-1"), UID, 20, "prize")
    with pytest.raises(Refused, match="already spent"):
        correct(store, hub(), given.transfer_id, "mistake")
    assert store.verify().ok


def test_blocked_and_lost_bands_are_refused_everywhere(store: Store) -> None:
    add_attendee(store, band_uid=UID)
    award(store, hub(), UID, 10, "activity")
    block_band(store, Actor(station="bands-1", staff="Vera"), UID, "reported lost", lost=True)
    for attempt in (
        lambda: award(store, hub(), UID, 5, "activity"),
        lambda: spend(store, Actor(station="counter-1"), UID, 5, "prize"),
    ):
        with pytest.raises(Refused, match="reported lost") as caught:
            attempt()
        assert "bands-1" in caught.value.message
        assert caught.value.reason == "band_lost"
    unblock_band(store, Actor(station="bands-1"), UID, "found it")
    assert award(store, hub(), UID, 5, "activity").balance == 15


def test_unbound_band_is_refused(store: Store) -> None:
    with pytest.raises(Refused, match="wristband table") as caught:
        award(store, hub(), "04FFFFFFFFFFFF", 5, "activity")
    assert caught.value.reason == "unbound_band"


def test_block_needs_a_reason_and_a_known_band(store: Store) -> None:
    add_attendee(store, band_uid=UID)
    with pytest.raises(Refused, match="why"):
        block_band(store, hub(), UID, "  ")
    with pytest.raises(NotFound):
        block_band(store, hub(), "04000000000000", "lost")
    block_band(store, hub(), UID, "fraud suspected")
    with pytest.raises(Refused, match="cannot become"):
        block_band(store, hub(), UID, "again")


def test_unblock_refused_when_holder_has_a_new_band(store: Store) -> None:
    attendee = add_attendee(store, band_uid=UID)
    block_band(store, hub(), UID, "lost", lost=True)
    with store.db.write() as conn:
        from sqlalchemy import text

        conn.execute(
            text(
                "INSERT INTO band (uid, attendee_id, state, state_reason) "
                "VALUES ('04B0B0B0B0B0B0', :a, 'active', '')"
            ),
            {"a": attendee},
        )
    with pytest.raises(Refused, match="now wears band 04B0B0B0B0B0B0"):
        unblock_band(store, hub(), UID, "found")


def test_event_day_uses_the_event_time_zone() -> None:
    late_utc = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)  # 01:30 next day in Almaty (UTC+5)
    assert event_day(late_utc, "Asia/Almaty") == date(2026, 11, 28)
    assert event_day(late_utc, "UTC") == date(2026, 11, 27)


# -- two processes at once -------------------------------------------------------------------


def _award_same_op(args: tuple[str, str, str]) -> int:
    url, op_id, correlation_id = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        actor = Actor(station="hub-race", staff="x", op_id=op_id, correlation_id=correlation_id)
        return award(store, actor, UID, 7, "activity").transfer_id
    finally:
        store.close()


def _spend_last_points(args: tuple[str, int]) -> str:
    url, n = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    try:
        spend(store, Actor(station=f"counter-{n}"), UID, 10, "prize")
        return "won"
    except Refused as refusal:
        return refusal.reason
    finally:
        store.close()


@pytest.mark.slow
def test_same_operation_from_two_processes_applies_once(store: Store, db_url: str) -> None:
    attendee = add_attendee(store, band_uid=UID)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        ids = pool.map(_award_same_op, [(db_url, "op-shared", "c1")] * 4)
    assert len(set(ids)) == 1
    assert [line.amount for line in statement(store, attendee)] == [7]
    assert store.verify().ok


@pytest.mark.slow
def test_two_counters_race_for_the_same_points(store: Store, db_url: str) -> None:
    add_attendee(store, band_uid=UID)
    award(store, hub(), UID, 10, "activity")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_spend_last_points, [(db_url, n) for n in range(4)])
    assert sorted(outcomes) == ["insufficient_points"] * 3 + ["won"]
    assert store.verify().ok


def test_wedge_reads_resolve_to_bound_bands_or_are_refused(store: Store) -> None:
    from store.bands import resolve_wedge_read

    add_attendee(store, "Anna Smith", band_uid="04A1B2C3D4E580")
    # A truncated read (first cascade level only) that fits exactly one bound band.
    assert resolve_wedge_read(store, (), "04A1B2") == "04A1B2C3D4E580"
    # Two bands share the prefix: refused rather than guessed.
    add_attendee(store, "Иван Петров", band_uid="04A1B2FFFFFF01", code="IVANCODE01")
    with pytest.raises(Refused, match="more than one band") as caught:
        resolve_wedge_read(store, (), "04A1B2")
    assert caught.value.reason == "truncated_ambiguous"
    with pytest.raises(Refused, match="no band matches"):
        resolve_wedge_read(store, (), "04EEEE")
    # Either byte order: the one that is a known band wins; else the first (a new band).
    assert resolve_wedge_read(store, ("80E5D4C3B2A104", "04A1B2C3D4E580"), None) == "04A1B2C3D4E580"
    assert resolve_wedge_read(store, ("1C78F2BF", "BFF2781C"), None) == "1C78F2BF"


def test_each_award_advances_the_change_sequence_once(store: Store) -> None:
    add_attendee(store, band_uid=UID)
    before = store.change_seq()
    actor = hub()
    award(store, actor, UID, 5, "activity")
    award(store, actor, UID, 5, "activity")  # a retry: no change
    award(store, actor.next_action(), UID, 5, "activity")
    assert store.change_seq() == before + 2
    assert store.verify().ok
