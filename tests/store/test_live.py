"""Many stations: the change poll, retries that land once, the outbox, the operation outcome."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from store import driver, hub
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.engine import make_database
from store.errors import DatabaseUnavailable, OutcomeUnknown, Refused
from store.eventfile import load_event
from store.live import ChangeWatcher
from store.outbox import Outbox, replay
from store.points import award
from store.retry import NotDone, RetryPolicy, RetryState, StillUnknown, run_with_retry
from store.service import Store
from tests.factories import add_attendee

UID = "04A1B2C3D4E580"
OTHER = "04B2C3D4E5F601"
FAST = RetryPolicy(first_delay_s=0.01, max_delay_s=0.02, give_up_s=0.5, unknown_give_up_s=0.5)


@pytest.fixture
def event_store(store: Store) -> Store:
    load_event(store, DEMO_EVENT_FILE, Actor(station="setup"))
    add_attendee(store, "Anna Smith", band_uid=UID)
    add_attendee(store, "Иван Петров", band_uid=OTHER)
    return store


def hubman(station: str = "hub-qa") -> Actor:
    return Actor(station=station, staff="Илья Соколов", staff_id="hub-backend")


def transfers_of(store: Store, op_id: str) -> int:
    with store.db.read() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM transfer WHERE op_id = :op"), {"op": op_id}
            ).scalar_one()
        )


# -- the change poll ---------------------------------------------------------------------------


def test_watcher_sees_another_stores_commit_on_the_same_file(sqlite_url: str) -> None:
    """Two processes on one SQLite file are two engines: the poll sees the other's commits."""
    here, there = Store.open(sqlite_url, migrate=False), Store.open(sqlite_url, migrate=False)
    try:
        load_event(there, DEMO_EVENT_FILE, Actor(station="setup"))
        add_attendee(there, "Anna Smith", band_uid=UID)
        watcher = ChangeWatcher(here)
        assert watcher.poll() is None  # the first look only records where things stand
        assert watcher.poll() is None
        there.announce("hub-2", "hub", "x", "ok")  # a heartbeat commits but changes nothing shown
        assert watcher.poll() is None
        award(there, Actor(station="hub-2"), UID, 5, "activity")
        seq = watcher.poll()
        assert seq is not None and seq == here.change_seq()
        assert watcher.poll() is None
        watcher.close()
    finally:
        here.close()
        there.close()


def test_watcher_on_both_engines(event_store: Store) -> None:
    watcher = ChangeWatcher(event_store)
    watcher.poll()
    hub.award_activity(event_store, hubman(), UID, "qa-bug-hunt")
    assert watcher.poll() == event_store.change_seq()
    assert watcher.poll() is None


# -- the operation outcome ---------------------------------------------------------------------


def test_operation_outcome_finds_a_landed_operation_only(event_store: Store) -> None:
    actor = hubman()
    assert event_store.operation_outcome(actor.op_id) is None
    given = hub.award_activity(event_store, actor, UID, "qa-bug-hunt")
    found = event_store.operation_outcome(actor.op_id)
    assert found is not None and found.kind == "award_activity" and found.station == "hub-qa"
    assert str(given.transfer_id) in found.result


# -- the retry policy (no database) ------------------------------------------------------------


def _script(*steps: object) -> Callable[[], object]:
    queue = list(steps)

    def call() -> object:
        step = queue.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    return call


def test_retry_keeps_trying_the_same_call_then_returns() -> None:
    states: list[RetryState] = []
    call = _script(DatabaseUnavailable("down"), DatabaseUnavailable("down"), "done")
    result = run_with_retry(call, lambda s, _t: states.append(s), policy=FAST, sleep=lambda _: None)
    assert result == "done"
    assert states == [RetryState.UNREACHABLE, RetryState.UNREACHABLE]


def test_retry_gives_up_with_not_done_and_never_on_a_refusal() -> None:
    with pytest.raises(NotDone, match="Not done: the database is unreachable"):
        run_with_retry(lambda: (_ for _ in ()).throw(DatabaseUnavailable("down")), policy=FAST)
    calls = []

    def refused() -> None:
        calls.append(1)
        raise Refused("sold out", reason="sold_out")

    with pytest.raises(Refused):
        run_with_retry(refused, policy=FAST)
    assert calls == [1]


def test_an_unknown_outcome_is_checked_before_the_call_is_repeated() -> None:
    events: list[str] = []
    answers = [DatabaseUnavailable("down"), DatabaseUnavailable("down"), None]

    def check() -> None:
        events.append("check")
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    def call_steps() -> Callable[[], object]:
        inner = _script(OutcomeUnknown("lost", "op1"), "first result")

        def call() -> object:
            events.append("call")
            return inner()

        return call

    states: list[RetryState] = []
    result = run_with_retry(
        call_steps(), lambda s, _t: states.append(s), check=check, policy=FAST, sleep=lambda _: None
    )
    assert result == "first result"
    assert events == ["call", "check", "check", "check", "call"]
    assert states == [RetryState.UNKNOWN, RetryState.RECOVERED]


def test_an_unknown_outcome_is_never_reported_as_not_saved() -> None:
    def check() -> None:
        raise DatabaseUnavailable("down")

    with pytest.raises(StillUnknown, match="Outcome still unknown"):
        run_with_retry(
            _script(OutcomeUnknown("lost", "op1")), check=check, policy=FAST, sleep=lambda _: None
        )


# -- a real connection cut (PostgreSQL) --------------------------------------------------------


def _kill(url: str, pid: int) -> None:
    admin = make_database(url)
    with admin.write() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


@pytest.fixture
def pg_event_store(pg_url: str) -> Any:
    opened = Store.open(pg_url, migrate=False)
    load_event(opened, DEMO_EVENT_FILE, Actor(station="setup"))
    add_attendee(opened, "Anna Smith", band_uid=UID)
    try:
        yield opened
    finally:
        opened.close()


#: The two ways a write reaches PostgreSQL: its one-statement path straight through the driver
#: (the common case), and the step-by-step path through SQLAlchemy (refusals, retries, SQLite).
PATHS = ["one statement", "step by step"]


def _cut_before(store: Store, path: str, kill: Callable[[int], None], needle: str) -> list[bool]:
    """Kill this station's backend just before the first statement containing ``needle``."""
    cut = [False]
    if path == "one statement":

        def on_driver(raw: Any, sql: str) -> None:
            if not cut[0] and needle in sql:
                cut[0] = True
                kill(raw.info.backend_pid)

        driver.before_execute.append(on_driver)
        return cut

    store.one_statement = False

    @event.listens_for(store.db.engine, "before_cursor_execute")
    def on_sqlalchemy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not cut[0] and needle in statement:
            cut[0] = True
            kill(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

    return cut


@pytest.fixture
def no_driver_hooks() -> Any:
    yield
    driver.before_execute.clear()


@pytest.mark.postgres
@pytest.mark.parametrize("path", PATHS)
def test_a_connection_cut_mid_operation_is_retried_and_lands_once(
    pg_event_store: Store, pg_url: str, path: str, no_driver_hooks: None
) -> None:
    store = pg_event_store
    actor = hubman()
    # The first time the award moves the balance, the server drops this station.
    cut = _cut_before(store, path, lambda pid: _kill(pg_url, pid), "UPDATE account")
    states: list[RetryState] = []
    given = run_with_retry(
        lambda: hub.award_activity(store, actor, UID, "qa-bug-hunt"),
        lambda s, _t: states.append(s),
        check=lambda: store.operation_outcome(actor.op_id),
        policy=FAST,
    )
    # Step by step, the cut comes before COMMIT: "unreachable". The one statement commits on its
    # own (no BEGIN/COMMIT), so a connection lost while it runs is "outcome unknown", settled
    # by the operation id: not applied, so it is sent again.
    first = RetryState.UNREACHABLE if path == "step by step" else RetryState.UNKNOWN
    assert cut[0] and states[0] is first
    assert given.points == 20 and given.balance == 20
    assert transfers_of(store, actor.op_id) == 1
    assert store.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("path", PATHS)
def test_a_cut_during_commit_is_unknown_then_settled_by_the_operation_id(
    pg_event_store: Store, pg_url: str, path: str, no_driver_hooks: None
) -> None:
    """The backend is killed as COMMIT is sent: "outcome unknown", then settled; lands once."""
    store = pg_event_store
    actor = hubman()
    cut = [False]
    if path == "one statement":
        # It has no COMMIT of its own: the backend dies as the statement is sent.
        cut = _cut_before(store, path, lambda pid: _kill(pg_url, pid), "UPDATE account")
    else:
        store.one_statement = False

        @event.listens_for(store.db.engine, "commit")
        def cut_at_commit(conn: Any) -> None:
            if not cut[0] and conn.info.get("award"):
                cut[0] = True
                _kill(pg_url, conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

        @event.listens_for(store.db.engine, "before_cursor_execute")
        def mark(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "INSERT INTO transfer" in statement:
                conn.info["award"] = True

    with pytest.raises(OutcomeUnknown):
        hub.award_activity(store, actor, UID, "qa-bug-hunt")
    assert cut[0]
    states: list[RetryState] = []
    given = run_with_retry(
        lambda: hub.award_activity(store, actor, UID, "qa-bug-hunt"),
        lambda s, _t: states.append(s),
        check=lambda: store.operation_outcome(actor.op_id),
        policy=FAST,
    )
    assert given.points == 20
    assert transfers_of(store, actor.op_id) == 1
    assert store.verify().ok


@pytest.mark.parametrize("path", PATHS)
def test_a_commit_whose_answer_was_lost_is_not_applied_twice(
    event_store: Store, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """COMMIT reached the database but the answer did not: the retry returns the first result."""
    store = event_store
    if path == "one statement" and not store.one_statement:
        pytest.skip("SQLite has no one-statement path")
    store.one_statement = path == "one statement"
    actor = hubman()
    hub.award_quiz(store, hubman(), OTHER, "t01-q1")  # the station's first write is behind us
    lost = [False]
    if path == "one statement":
        import psycopg

        real_first = driver.DriverResult.first

        def first_then_lose(self: driver.DriverResult) -> Any:
            row = real_first(self)  # the statement ran, and committed on its own
            if not lost[0]:
                lost[0] = True
                self._cursor.connection.close()
                raise psycopg.OperationalError("server closed the connection")
            return row

        monkeypatch.setattr(driver.DriverResult, "first", first_then_lose)
    else:
        dialect = store.db.engine.dialect
        real_commit = dialect.do_commit

        def commit_then_lose(dbapi_connection: Any) -> None:
            real_commit(dbapi_connection)
            if not lost[0]:
                lost[0] = True
                raise dialect.loaded_dbapi.OperationalError("server closed the connection")

        monkeypatch.setattr(dialect, "do_commit", commit_then_lose)
    states: list[RetryState] = []
    given = run_with_retry(
        lambda: hub.award_activity(store, actor, UID, "qa-bug-hunt"),
        lambda s, _t: states.append(s),
        check=lambda: store.operation_outcome(actor.op_id),
        policy=FAST,
    )
    assert lost[0] and states == [RetryState.UNKNOWN, RetryState.RECOVERED]
    assert given.points == 20 and given.balance == 20
    assert transfers_of(store, actor.op_id) == 1
    assert store.verify().ok


# -- the outbox --------------------------------------------------------------------------------


def test_the_outbox_survives_a_restart_and_replays_exactly_once(
    event_store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "outbox" / "hub-qa.sqlite"
    box = Outbox(path)
    first, second = hubman(), hubman()
    box.add(first, "activity", {"uid": UID, "key": "qa-bug-hunt"}, "Bug hunt")
    box.add(first, "activity", {"uid": UID, "key": "qa-bug-hunt"}, "Bug hunt")  # same op: one
    box.add(second, "cool", {"uid": OTHER, "points": 15, "hub_id": "qa"}, "cool")
    box.close()

    box = Outbox(path)  # the station restarted
    assert box.pending_count() == 2
    report = replay(event_store, box)
    assert (report.sent, report.refused, report.pending) == (2, 0, 0)
    assert transfers_of(event_store, first.op_id) == 1
    assert transfers_of(event_store, second.op_id) == 1
    again = replay(event_store, box)
    assert (again.sent, again.refused) == (0, 0)
    assert {e.state for e in box.entries()} == {"sent"}
    box.close()
    assert event_store.verify().ok


def test_an_award_that_landed_before_the_cut_is_not_given_again_by_the_replay(
    event_store: Store, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    actor = hubman()
    hub.award_activity(event_store, actor, UID, "qa-bug-hunt")  # it did land
    box.add(actor, "activity", {"uid": UID, "key": "qa-bug-hunt"}, "Bug hunt")
    report = replay(event_store, box)
    assert report.sent == 1 and report.refused == 0
    assert transfers_of(event_store, actor.op_id) == 1
    box.close()


def test_a_refusal_at_replay_is_kept_with_its_reason(event_store: Store, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    # Meanwhile another hub gave Anna the once-only activity.
    hub.award_activity(event_store, hubman("hub-qa-2"), UID, "qa-bug-hunt")
    box.add(hubman(), "activity", {"uid": UID, "key": "qa-bug-hunt"}, "Bug hunt")
    box.add(hubman(), "activity", {"uid": OTHER, "key": "qa-bug-hunt"}, "Bug hunt")
    report = replay(event_store, box)
    assert (report.sent, report.refused) == (1, 1)
    (refused,) = box.entries("refused")
    assert refused.reason == "activity_limit" and "already did Bug hunt" in refused.message
    box.close()


def test_the_replay_stops_while_the_database_is_away(event_store: Store, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.add(hubman(), "activity", {"uid": UID, "key": "qa-bug-hunt"}, "Bug hunt")
    down = Store(make_database(f"sqlite:///{tmp_path}/missing/dir/x.sqlite"))
    with pytest.raises(DatabaseUnavailable):
        down.change_seq()
    report = replay(down, box)
    assert (report.sent, report.refused, report.pending) == (0, 0, 1)
    assert replay(event_store, box).sent == 1
    box.close()


def test_only_awards_go_into_the_outbox(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    with pytest.raises(ValueError, match="only hub awards"):
        box.add(hubman(), "redeem", {"uid": UID}, "")
    box.close()


# -- tapdesk stations ---------------------------------------------------------------------------


def test_stations_lists_live_and_silent_ones(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main

    store = Store.open(sqlite_url, migrate=False)
    store.announce("desk-1", "desk", "Айгерим Сапарова", "ready")
    store.announce("hub-qa", "hub", "Ербол Өтебаев", "no reader")
    with store.db.write() as conn:  # hub-qa last spoke a minute ago
        conn.execute(
            text("UPDATE station SET last_seen = :t WHERE name = 'hub-qa'"),
            {"t": "2020-01-01 10:00:00.000000"},
        )
    store.close()
    code = main(["stations", "--db", sqlite_url, "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    desk_line = next(line for line in out.splitlines() if line.startswith("desk-1"))
    hub_line = next(line for line in out.splitlines() if line.startswith("hub-qa"))
    assert "desk" in desk_line and "Айгерим Сапарова" in desk_line and "live" in desk_line
    assert "no reader" in hub_line and "SILENT" in hub_line
    assert "2 stations, 1 silent" in out
