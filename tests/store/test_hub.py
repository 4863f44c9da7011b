"""Hub awards and their limits, enforced by the database (both engines, and two processes)."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from store import hub
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.errors import Refused
from store.eventfile import load_event
from store.ledger import forget_cached_accounts
from store.models import metadata
from store.service import Store
from tests.factories import add_attendee
from tests.statements import sent as sent_by

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


# -- the cool award in one statement (PostgreSQL) --------------------------------------------------


SELF = "04C0C0C0C0C0C0"
_T = datetime(2026, 1, 1, tzinfo=UTC)


def fresh_pg_store(url: str, *, one_statement: bool) -> Store:
    """A new store on an emptied PostgreSQL test database: the demo event and three people
    (the third is the hubman of "hub-qa")."""
    with Store.open(url, migrate=False).db.write() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    forget_cached_accounts()
    opened = Store.open(url, migrate=False)  # a new engine: its stations are set up anew
    opened.one_statement = one_statement
    load_event(opened, DEMO_EVENT_FILE, Actor(station="setup"))
    add_attendee(opened, "Anna Smith", band_uid=UID)
    add_attendee(opened, "Иван Петров", band_uid=OTHER)
    add_attendee(opened, "Ербол Өтебаев", band_uid=SELF, code="BSW8X6G7ES")
    return opened


def same_minute(store: Store, seconds: int = 8) -> None:
    """Wait until the next ``seconds`` surely fall inside one minute of the database clock."""
    with store.db.read() as conn:
        second = store.db.now(conn).second
    if second > 59 - seconds:
        time.sleep(60.5 - second)


def _wait_masked(message: str) -> str:
    return re.sub(r"wait \d+ s", "wait N s", message)


#: What a scenario leaves behind, compared between the two paths (ids and times aside).
_LEFT_BEHIND = {
    "budget": "SELECT staff_id, day, spent FROM staff_budget",
    "rate": "SELECT staff_id, count FROM staff_rate",
    "balances": "SELECT attendee_id, balance FROM account WHERE attendee_id IS NOT NULL "
    "ORDER BY attendee_id",
    "transfers": "SELECT amount, code, reference, station, staff FROM transfer ORDER BY id",
    "operations": "SELECT kind, station, staff, result <> '' FROM operation "
    "WHERE kind = 'award_cool' ORDER BY created_at",
    "change_seq": "SELECT name, change_seq FROM station ORDER BY name",
    "refused": "SELECT station, staff, action, subject, detail FROM audit "
    "WHERE action = 'refused' ORDER BY id",
}


def cool_scenario(store: Store) -> dict[str, Any]:
    """Cool awards and refusals of every kind; what they returned and what they left behind."""
    actor = hubman()
    outcomes: list[tuple[Any, ...]] = []
    sent: list[int] = []

    def cool(uid: str, points: int, hub_id: str = "qa", who: Actor | None = None) -> Actor:
        action = (who or actor).next_action()
        with sent_by(store) as statements:
            try:
                given = hub.award_cool(store, action, uid, points, hub_id)
                later = given.undo_until - given.at
                timeless = dataclasses.replace(given, transfer_id=0, at=_T, undo_until=_T + later)
                outcomes.append(("given", timeless))
            except Refused as no:
                outcomes.append(("refused", _wait_masked(no.message), no.reason, no.scope))
        sent.append(len(statements))
        return action

    same_minute(store, 15)
    first = cool(UID, 150)
    cool(UID, 60)  # 50 left: refused (budget)
    cool(OTHER, 10, "")
    cool(OTHER, 10)
    cool(OTHER, 10)  # the fourth this minute: refused (rate)
    cool(UID, 250)  # more than the whole budget
    cool("04FFFFFFFFFFFF", 10)  # unbound band
    cool(SELF, 10, who=Actor(station="hub-qa", staff="Ербол", staff_id="hub-qa"))  # their own
    again = hub.award_cool(store, first, UID, 150, "qa")  # a retry: the first result again
    outcomes.append(("again", again.points, again.balance, again.name))
    with store.db.read() as conn:
        state = {
            key: [tuple(_wait_masked(v) if isinstance(v, str) else v for v in row) for row in rows]
            for key, rows in (
                (key, conn.execute(text(sql)).all()) for key, sql in _LEFT_BEHIND.items()
            )
        }
    assert store.verify().ok
    return {"outcomes": outcomes, "state": state, "sent": sent}


def _prime(store: Store, actor: Actor) -> None:
    """Set the station up for one-statement operations (its row and issuer account, cached)."""
    store.issuer_id(actor.station)


def _both_paths(
    pg_url: str, scenario: Callable[[Store], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``scenario`` on the step-by-step path, then (on an emptied database) on the one-statement
    paths; both return and leave the same. Returns (step, one statement)."""
    seen = {}
    for fast in (False, True):
        store = fresh_pg_store(pg_url, one_statement=fast)
        try:
            _prime(store, hubman())
            seen[fast] = scenario(store)
        finally:
            store.close()
    step, one = seen[False], seen[True]
    assert one["outcomes"] == step["outcomes"]
    assert one["state"] == step["state"]
    return step, one


@pytest.mark.postgres
def test_cool_in_one_statement_matches_the_step_path(pg_url: str) -> None:
    step, one = _both_paths(pg_url, cool_scenario)
    assert [o[0] for o in one["outcomes"]] == [
        "given",
        "refused",
        "given",
        "given",
        "refused",
        "refused",
        "refused",
        "refused",
        "again",
    ]
    assert [o[2] for o in one["outcomes"] if o[0] == "refused"] == [
        "cool_budget",
        "cool_rate",
        "cool_budget",
        "unbound_band",
        "self_award",
    ]
    # Awards and the two common refusals: one statement each. The rest fell back.
    assert one["sent"][:5] == [1, 1, 1, 1, 1]
    assert all(n > 1 for n in one["sent"][5:])
    assert all(n > 1 for n in step["sent"])


@pytest.mark.postgres
def test_a_cool_refusal_in_one_statement_is_recorded_as_the_step_path_records_it(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    details = {}
    for fast in (False, True):
        store = fresh_pg_store(pg_url, one_statement=fast)
        try:
            actor = hubman()
            _prime(store, actor)
            hub.award_cool(store, actor.next_action(), UID, 195, "qa")
            refused = actor.next_action()
            caplog.clear()
            with (
                caplog.at_level(logging.INFO, logger="tapdesk.store"),
                sent_by(store) as sent,
                pytest.raises(Refused) as caught,
            ):
                hub.award_cool(store, refused, OTHER, 10, "qa")
            # The log says what happened: refused, not applied.
            said = [r.getMessage() for r in caplog.records if r.name == "tapdesk.store"]
            assert "operation refused" in said and "operation applied" not in said, said
            assert (caught.value.reason, caught.value.scope) == ("cool_budget", "hub:qa")
            assert caught.value.message == "Your cool budget for today has 5 points left."
            assert len(sent) == (1 if fast else 8)
            with store.db.read() as conn:
                row = conn.execute(text("SELECT * FROM audit WHERE action = 'refused'")).one()
            assert (row.station, row.staff, row.correlation_id, row.subject) == (
                "hub-qa",
                refused.staff,
                refused.correlation_id,
                "hub:qa",
            )
            details[fast] = row.detail
            # Nothing else was written: no operation row, the budget as it was.
            assert store.operation_outcome(refused.op_id) is None
            assert hub.cool_budget_left(store, "hub-backend") == 5
        finally:
            store.close()
    assert (
        details[True]
        == details[False]
        == json.dumps(
            {
                "kind": "award_cool",
                "reason": "cool_budget",
                "message": "Your cool budget for today has 5 points left.",
            },
            ensure_ascii=False,
        )
    )


def _waiting_for(store: Store, pid: int) -> bool:
    """Whether some session waits for a lock that the session ``pid`` holds."""
    with store.db.read() as conn:
        blocked = text(
            "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
        )
        return bool(conn.execute(blocked, {"pid": pid}).scalar())


def _while_another_station_writes(store: Store, sql: str, call: Any) -> tuple[Any, int]:
    """Run ``call`` while another transaction holds ``sql`` uncommitted; commit it once ``call``
    waits for its lock. Returns what ``call`` returned or raised, and the statements it sent."""
    box: dict[str, Any] = {}
    other = store.db.engine.connect()
    other.begin()
    other.execute(text(sql))
    pid = other.execute(text("SELECT pg_backend_pid()")).scalar_one()

    def run() -> None:
        with sent_by(store, other_threads_only=True) as sent:
            try:
                box["result"] = call()
            except Refused as refusal:
                box["result"] = refusal
        box["sent"] = len(sent)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not _waiting_for(store, pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _waiting_for(store, pid), "the award never waited for the other station"
    other.commit()
    other.close()
    thread.join(10)
    return box["result"], box["sent"]


@pytest.mark.postgres
def test_a_budget_spent_at_another_station_meanwhile_is_refused_with_the_newest_numbers(
    pg_url: str,
) -> None:
    """SNAPSHOT TRAP: the statement waits for the budget row, then sees a version newer than its
    snapshot: it falls back, and the refusal says what is left now."""
    store = fresh_pg_store(pg_url, one_statement=True)
    try:
        actor = hubman()
        _prime(store, actor)
        same_minute(store, 15)
        hub.award_cool(store, actor.next_action(), UID, 10, "qa")
        outcome, sent = _while_another_station_writes(
            store,
            "UPDATE staff_budget SET spent = 195",
            lambda: hub.award_cool(store, actor.next_action(), OTHER, 10, "qa"),
        )
        assert isinstance(outcome, Refused)
        assert outcome.message == "Your cool budget for today has 5 points left."
        assert sent > 1  # fell back to the step path
        with store.db.read() as conn:
            assert (
                conn.execute(text("SELECT count(*) FROM audit WHERE action = 'refused'")).scalar()
                == 1
            )
            assert conn.execute(text("SELECT count FROM staff_rate")).scalar() == 1
        assert store.verify().ok
    finally:
        store.close()


@pytest.mark.postgres
def test_a_rate_row_another_station_inserts_meanwhile_rolls_the_budget_back(pg_url: str) -> None:
    """The budget upsert passes, the rate upsert then meets a row this statement could not lock
    first and its guard fails: the whole statement is rolled back, the step path refuses."""
    store = fresh_pg_store(pg_url, one_statement=True)
    try:
        actor = hubman()
        _prime(store, actor)
        same_minute(store, 15)
        with store.db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO staff_budget (staff_id, day, spent) "
                    "SELECT 'hub-backend', to_char(now() AT TIME ZONE e.timezone, 'YYYY-MM-DD'), "
                    "20 FROM event e"
                )
            )
        outcome, sent = _while_another_station_writes(
            store,
            "INSERT INTO staff_rate (staff_id, minute, count) "
            "VALUES ('hub-backend', floor(extract(epoch FROM now()) / 60)::int, 3)",
            lambda: hub.award_cool(store, actor.next_action(), OTHER, 10, "qa"),
        )
        assert isinstance(outcome, Refused) and outcome.reason == "cool_rate"
        assert sent > 1
        assert hub.cool_budget_left(store, "hub-backend") == 180  # the budget upsert undone
        with store.db.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM transfer")).scalar() == 0
        assert store.verify().ok
    finally:
        store.close()


@pytest.mark.postgres
def test_the_same_operation_applied_meanwhile_elsewhere_is_replayed_not_refused(
    pg_url: str,
) -> None:
    """A retry of an operation another process is applying: the statement waits for the budget
    row, the other commits (the budget used up by this very operation). The step path would
    replay the first result; so must the one statement, rather than record a refusal."""
    from store import codec

    store = fresh_pg_store(pg_url, one_statement=True)
    try:
        actor = hubman()
        _prime(store, actor)
        hub.award_cool(store, actor.next_action(), UID, 10, "qa")
        retry = actor.next_action()
        first = hub.HubAward(7, 2, "Иван Петров", 190, 190, "for being cool", _T, _T)
        outcome, _sent = _while_another_station_writes(
            store,
            "INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, "
            f"result) VALUES ('{retry.op_id}', 'award_cool', 'hub-qa', 'x', 'c', now(), "
            f"'{codec.dump(first)}'); UPDATE staff_budget SET spent = 200",
            lambda: hub.award_cool(store, retry, OTHER, 190, "qa"),
        )
        assert outcome == first
        with store.db.read() as conn:
            refused = text("SELECT count(*) FROM audit WHERE action = 'refused'")
            assert conn.execute(refused).scalar() == 0
    finally:
        store.close()


@pytest.mark.postgres
def test_a_cool_down_started_meanwhile_undoes_the_whole_award_statement(pg_url: str) -> None:
    """The activity statement runs without BEGIN/COMMIT, so it must undo itself. Its snapshot
    sees no cool-down; its "at most N" row is written; then the hub's visit row, updated by
    another station a moment ago, refuses: ``tapdesk_fallback()`` undoes the statement (the
    activity's row included) and the step path words the cool-down."""
    store = fresh_pg_store(pg_url, one_statement=True)
    try:
        actor = hubman()
        _prime(store, actor)
        hub.award_activity(store, actor.next_action(), UID, "qa-bug-hunt")  # visit: now
        with store.db.write() as conn:
            conn.execute(text("UPDATE earn_limit SET last_at = now() - interval '1 hour'"))
        outcome, sent = _while_another_station_writes(
            store,
            "UPDATE earn_limit SET last_at = now() WHERE rule = 'hub:qa'",
            lambda: hub.award_activity(store, actor.next_action(), UID, "qa-test-design"),
        )
        assert isinstance(outcome, Refused) and outcome.reason == "cooldown"
        assert sent > 1  # the one statement undid itself; the step path refused
        with store.db.read() as conn:
            rules = conn.execute(text("SELECT rule FROM earn_limit ORDER BY rule")).scalars()
            assert list(rules) == ["activity:qa-bug-hunt", "hub:qa"]
            assert conn.execute(text("SELECT count(*) FROM transfer")).scalar() == 1
        assert store.verify().ok
    finally:
        store.close()


# -- activity and quiz awards in one statement, refusals included (PostgreSQL) -------------------

_AWARD_LEFT_BEHIND = {
    "limits": "SELECT rule, attendee_id, count FROM earn_limit ORDER BY rule, attendee_id",
    "balances": _LEFT_BEHIND["balances"],
    "transfers": _LEFT_BEHIND["transfers"],
    "operations": "SELECT kind, station, staff, result <> '' FROM operation "
    "WHERE kind LIKE 'award_%' ORDER BY created_at",
    "change_seq": _LEFT_BEHIND["change_seq"],
    "refused": _LEFT_BEHIND["refused"],
}


def award_scenario(store: Store) -> dict[str, Any]:
    """Activity and quiz awards and every refusal of theirs; what they returned and left."""
    actor = hubman()
    outcomes: list[tuple[Any, ...]] = []
    sent: list[int] = []

    def award(kind: str, uid: str, key: str, who: Actor | None = None) -> None:
        action = (who or actor).next_action()
        call = hub.award_activity if kind == "activity" else hub.award_quiz
        with sent_by(store) as statements:
            try:
                given = call(store, action, uid, key)
                later = given.undo_until - given.at
                timeless = dataclasses.replace(given, transfer_id=0, at=_T, undo_until=_T + later)
                outcomes.append(("given", timeless))
            except Refused as no:
                # The two runs happen at different moments: clock times and the seconds of a
                # cool-down may differ between them, the words may not.
                words = re.sub(r"\d+:\d\d", "T", no.message)
                outcomes.append(("refused", words, no.reason, no.scope))
        sent.append(len(statements))

    def push_back() -> None:
        """Move every earning back past any cool-down (what ten minutes would do)."""
        with store.db.write() as conn:
            conn.execute(text("UPDATE earn_limit SET last_at = last_at - interval '1 day'"))

    award("activity", UID, "qa-bug-hunt")
    award("activity", UID, "qa-bug-hunt")  # once per attendee
    push_back()
    award("activity", UID, "qa-test-design")  # a cool-down at this hub starts
    award("activity", UID, "qa-test-design")  # cool-down
    award("activity", UID, "qa-flaky-test")  # no cool-down of its own: given
    award("quiz", UID, "t01-q1")
    award("quiz", UID, "t01-q1")  # answered already
    award("quiz", OTHER, "t01-q1")
    push_back()
    award("activity", UID, "qa-test-design")
    push_back()
    award("activity", UID, "qa-test-design")  # the third
    push_back()
    award("activity", UID, "qa-test-design")  # at most three
    award("activity", "04FFFFFFFFFFFF", "qa-bug-hunt")  # unbound band
    award("activity", SELF, "qa-bug-hunt", Actor(station="hub-qa", staff="Е", staff_id="hub-qa"))
    with store.db.read() as conn:
        state = {
            key: [
                tuple(re.sub(r"\d+:\d\d", "T", v) if isinstance(v, str) else v for v in row)
                for row in conn.execute(text(sql))
            ]
            for key, sql in _AWARD_LEFT_BEHIND.items()
        }
    assert store.verify().ok
    return {"outcomes": outcomes, "state": state, "sent": sent}


@pytest.mark.postgres
def test_activity_and_quiz_in_one_statement_match_the_step_path(pg_url: str) -> None:
    step, one = _both_paths(pg_url, award_scenario)
    reasons = [o[2] if o[0] == "refused" else "given" for o in one["outcomes"]]
    assert reasons == [
        "given",
        "activity_limit",
        "given",
        "cooldown",
        "given",
        "given",
        "already_answered",
        "given",
        "given",
        "given",
        "activity_limit",
        "unbound_band",
        "self_award",
    ]
    # An award: one statement. A limit or a cool-down: that statement and the refusal's record.
    # The rest fell back to the step path.
    expected = {"given": 1, "activity_limit": 2, "cooldown": 2, "already_answered": 2}
    assert one["sent"][:-2] == [expected[r] for r in reasons[:-2]]
    assert all(n > 2 for n in one["sent"][-2:])
    assert all(n > 2 for n in step["sent"])
