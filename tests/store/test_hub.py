"""Hub awards and their limits, enforced by the database (both engines, and two processes)."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest
from sqlalchemy import text

from store import hub
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.errors import Refused
from store.eventfile import load_event
from store.service import Store
from tests.factories import add_attendee

UID = "04A1B2C3D4E580"
OTHER = "04B2C3D4E5F601"


@pytest.fixture
def event_store(store: Store) -> Store:
    load_event(store, DEMO_EVENT_FILE, Actor(station="setup"))
    add_attendee(store, "Anna Smith", band_uid=UID)
    add_attendee(store, "Иван Петров", band_uid=OTHER)
    return store


def hubman(station: str = "hub-qa", staff_id: str = "hub-backend") -> Actor:
    return Actor(station=station, staff="Илья Соколов", staff_id=staff_id)


def test_activity_once_per_attendee(event_store: Store) -> None:
    given = hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    assert (given.points, given.balance, given.name) == (20, 20, "Anna Smith")
    with pytest.raises(Refused, match="already did Bug hunt") as caught:
        hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    assert caught.value.reason == "activity_limit"
    assert hub.award_activity(event_store, hubman(), OTHER, "qa-bug-hunt").points == 20


def test_activity_at_most_n_and_cool_down(event_store: Store) -> None:
    hub.award_activity(event_store, hubman(), UID, "qa-test-design")
    with pytest.raises(Refused, match="Cool-down: 9:5") as caught:
        hub.award_activity(event_store, hubman(), UID, "qa-test-design")
    assert caught.value.reason == "cooldown"
    for _ in range(2):  # move the last award back past the cool-down, twice
        with event_store.db.write() as conn:
            conn.execute(text("UPDATE earn_limit SET last_at = :t"), {"t": "2020-01-01 00:00:00"})
        hub.award_activity(event_store, hubman(), UID, "qa-test-design")
    with event_store.db.write() as conn:
        conn.execute(text("UPDATE earn_limit SET last_at = :t"), {"t": "2020-01-01 00:00:00"})
    with pytest.raises(Refused, match="3 times already: the limit is 3"):
        hub.award_activity(event_store, hubman(), UID, "qa-test-design")


def test_quiz_once_per_question(event_store: Store) -> None:
    hub.award_quiz(event_store, hubman(), UID, "t01-q1")
    with pytest.raises(Refused, match="already answered this question at") as caught:
        hub.award_quiz(event_store, hubman(), UID, "t01-q1")
    assert caught.value.reason == "already_answered"
    assert hub.award_quiz(event_store, hubman(), UID, "t01-q2").points == 15
    # A room full of right answers is not fraud: many quiz awards in a minute are fine.
    assert hub.award_quiz(event_store, hubman(), OTHER, "t01-q1").points == 10


def test_social_once(event_store: Store) -> None:
    assert hub.award_social(event_store, hubman(), UID).points == 15
    with pytest.raises(Refused, match="already got social points"):
        hub.award_social(event_store, hubman(), UID)


def test_cool_budget_and_rate(event_store: Store) -> None:
    actor = hubman()
    assert hub.cool_budget_left(event_store, "hub-backend") == 200
    hub.award_cool(event_store, actor.next_action(), UID, 150)
    assert hub.cool_budget_left(event_store, "hub-backend") == 50
    with pytest.raises(Refused, match="50 points left") as caught:
        hub.award_cool(event_store, actor.next_action(), UID, 60)
    assert caught.value.reason == "cool_budget"
    hub.award_cool(event_store, actor.next_action(), OTHER, 10)
    hub.award_cool(event_store, actor.next_action(), OTHER, 10)
    with pytest.raises(Refused, match="At most 3 cool awards a minute") as caught:
        hub.award_cool(event_store, actor.next_action(), OTHER, 10)
    assert hub.cool_budget_left(event_store, "hub-backend") == 30  # the refused one cost nothing


def test_nobody_awards_themselves(event_store: Store) -> None:
    add_attendee(event_store, "Ербол Өтебаев", band_uid="04C0C0C0C0C0C0", code="BSW8X6G7ES")
    himself = Actor(station="hub-qa", staff="Ербол Өтебаев", staff_id="hub-qa")
    for attempt in (
        lambda: hub.award_activity(event_store, himself, "04C0C0C0C0C0C0", "qa-bug-hunt"),
        lambda: hub.award_cool(event_store, himself, "04C0C0C0C0C0C0", 10, "qa"),
    ):
        with pytest.raises(Refused, match="yourself") as caught:
            attempt()
        assert caught.value.reason == "self_award"
    assert hub.award_activity(event_store, hubman(), "04C0C0C0C0C0C0", "qa-bug-hunt").points == 20


def test_undo_releases_the_limit_and_the_budget(event_store: Store) -> None:
    given = hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    undone = hub.undo_hub_award(event_store, hubman(), given.transfer_id)
    assert (undone.points, undone.name) == (20, "Anna Smith")
    again = hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    assert again.balance == 20
    cool = hub.award_cool(event_store, hubman(), UID, 50)
    hub.undo_hub_award(event_store, hubman(), cool.transfer_id)
    assert hub.cool_budget_left(event_store, "hub-backend") == 200
    with pytest.raises(Refused, match="already undone"):
        hub.undo_hub_award(event_store, hubman(), cool.transfer_id)
    with pytest.raises(Refused, match="Only the station"):
        hub.undo_hub_award(event_store, hubman(station="hub-other"), again.transfer_id)
    with event_store.db.write() as conn:
        conn.execute(
            text("UPDATE transfer SET created_at = :t WHERE id = :i"),
            {"t": (again.at - timedelta(minutes=3)).replace(tzinfo=None), "i": again.transfer_id},
        )
    with pytest.raises(Refused, match="Too late"):
        hub.undo_hub_award(event_store, hubman(), again.transfer_id)
    assert event_store.verify().ok


def test_refusals_counted_in_the_hub_stats(event_store: Store) -> None:
    hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    hub.award_activity(event_store, hubman(), OTHER, "qa-flaky-test")
    with pytest.raises(Refused):
        hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    with pytest.raises(Refused):
        hub.award_activity(event_store, hubman(), "04FFFFFFFFFFFF", "qa-bug-hunt")
    stats = hub.hub_stats(event_store, "qa")
    assert stats.visitors == 2
    assert {name for name, _n, _p in stats.points_by_activity} == {
        "Bug hunt: find the five planted bugs",
        "Fix a flaky test",
    }
    assert dict(stats.refusals) == {"activity_limit": 1, "unbound_band": 1}
    assert stats.top_attendees[0] == ("Иван Петров", 25)


# -- two hubs at the same moment ---------------------------------------------------------------


def _race(args: tuple[str, str, str, int]) -> str:
    url, kind, station, n = args
    from store.ledger import forget_cached_accounts

    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    actor = Actor(station=f"{station}-{n}", staff="x", staff_id="hub-backend")
    try:
        if kind == "activity":
            hub.award_activity(store, actor, UID, "qa-bug-hunt")
        elif kind == "quiz":
            hub.award_quiz(store, actor, UID, "t01-q1")
        elif kind == "cool":
            hub.award_cool(store, actor, UID if n % 2 else OTHER, 60)
        elif kind == "rate":
            hub.award_cool(store, actor, UID if n % 2 else OTHER, 10)
        elif kind == "social":
            hub.award_social(store, actor, UID)
        elif kind == "cooldown":
            hub.award_activity(store, actor, UID, "qa-test-design")
        elif kind == "twice":
            hub.award_activity(store, actor, UID, "qa-twice")
        return "won"
    except Refused as refusal:
        return refusal.reason
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["activity", "quiz", "social", "cooldown"])
def test_two_hubs_cannot_both_pass_a_once_limit(event_store: Store, db_url: str, kind: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_race, [(db_url, kind, "hub", n) for n in range(4)])
    assert outcomes.count("won") == 1
    assert event_store.verify().ok


@pytest.mark.slow
def test_at_most_n_holds_across_processes(event_store: Store, db_url: str) -> None:
    with event_store.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO activity (id, hub_id, name, points, max_per_attendee, "
                "cooldown_minutes, active, updated_at) "
                "VALUES ('qa-twice', 'qa', 'Twice', 5, 2, 0, :yes, :t)"
            ),
            {"yes": True, "t": "2026-11-27 10:00:00"},
        )
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_race, [(db_url, "twice", "hub", n) for n in range(5)])
    assert outcomes.count("won") == 2
    assert outcomes.count("activity_limit") == 3


@pytest.mark.slow
def test_cool_rate_limit_holds_across_processes(event_store: Store, db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_race, [(db_url, "rate", "hub", n) for n in range(5)])
    with event_store.db.read() as conn:
        buckets = [row[0] for row in conn.execute(text("SELECT count FROM staff_rate"))]
    assert all(count <= 3 for count in buckets)
    assert outcomes.count("won") == sum(buckets)
    if len(buckets) == 1:  # all five inside one minute: exactly three pass
        assert outcomes.count("won") == 3 and outcomes.count("cool_rate") == 2


@pytest.mark.slow
def test_cool_budget_holds_across_processes(event_store: Store, db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_race, [(db_url, "cool", "hub", n) for n in range(4)])
    # 200 points a day, 60 each: three fit, the fourth does not.
    assert outcomes.count("won") == 3
    assert outcomes.count("cool_budget") == 1
    assert hub.cool_budget_left(event_store, "hub-backend") == 20
