"""Pilot tests of many stations: another process's change shows without input; the database away."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from textual.widgets import Static

from screens.bands import BandsScreen
from screens.desk import DeskScreen
from screens.hub import HubScreen, OutboxScreen
from store import desk, outbox
from store.context import Actor
from store.errors import DatabaseUnavailable
from store.outbox import Outbox
from store.service import Store
from tests.tui.conftest import ANNA_UID, DESK, AppFactory, settle, sign_in
from tests.tui.test_bands_screen import STAFF as BANDS_STAFF
from tests.tui.test_bands_screen import card_text, tap, tapped
from tests.tui.test_desk_screen import open_card
from tests.tui.test_hub_screen import choose, confirm_text, open_hub
from tui.messages import DataChanged

SIZE = (120, 40)
ANNA = "Anna Smith"
IVAN = "Иван Петров"


def _other_process(url: str, script: str) -> None:
    """Run ``script`` in another Python process on the same database (a second station)."""
    code = textwrap.dedent(
        f"""
        from store.context import Actor
        from store.service import Store
        store = Store.open({url!r}, migrate=False)
        actor = Actor(station="hub-far-away", staff="Someone else")
        """
    ) + textwrap.dedent(script)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def db_url(store: Store) -> str:
    return f"sqlite:///{make_url(store.db.engine.url).database}"


async def test_another_process_award_shows_on_the_open_band_without_a_key(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, BANDS_STAFF)
        await pilot.app.switch_screen(BandsScreen())
        await settle(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        assert "Balance: 0 points" in card_text(app)
        _other_process(
            db_url(people_store),
            f"from store.points import award\naward(store, actor, {ANNA_UID!r}, 25, 'activity')",
        )
        # No key, no tap: the poll sees the other process's commit and the card follows.
        await settle(pilot, lambda: "Balance: 25 points" in card_text(app))
        assert "Balance: 25 points" in card_text(app)
        assert "hub-far-away" in str(app.screen.query_one("#transfers").get_row_at(0)[3])


async def test_a_check_in_at_another_desk_shows_on_the_open_card(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, DESK)
        assert isinstance(app.screen, DeskScreen)
        await open_card(pilot, people_store, IVAN)
        card = app.screen.query_one("#card", Static)
        assert "Not checked in yet" in str(card.render())
        ivan = desk.attendee_card(people_store, app.screen.card_id()).attendee_id
        other = Store.open(db_url(people_store), migrate=False)  # another station's store
        desk.check_in(other, Actor(station="desk-9", staff="Павел Смирнов"), ivan)
        other.close()
        await settle(pilot, lambda: "ALREADY CHECKED IN" in str(card.render()))
        assert "desk-9" in str(card.render())


async def test_a_burst_of_changes_is_one_refresh_per_poll(
    make_app: AppFactory, people_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes are polled every half second: ten commits in a row refresh a screen once or
    twice, not ten times."""
    app = make_app()
    seen: list[int] = []
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, BANDS_STAFF)
        screen = BandsScreen()
        await pilot.app.switch_screen(screen)
        await settle(pilot)
        original = BandsScreen.on_data_changed

        def counted(self: BandsScreen, message: DataChanged) -> None:
            seen.append(message.change_seq)
            original(self, message)

        monkeypatch.setattr(BandsScreen, "on_data_changed", counted)
        await pilot.pause(0.6)
        from store.points import award

        for _ in range(10):
            award(people_store, Actor(station="hub-9"), ANNA_UID, 1, "activity")
        await settle(pilot, lambda: bool(seen) and seen[-1] == people_store.change_seq())
        await pilot.pause(0.6)
    assert 1 <= len(seen) <= 3
    assert seen[-1] == people_store.change_seq()


# -- the database away -------------------------------------------------------------------------


async def test_a_desk_write_is_retried_with_the_same_operation_id(
    make_app: AppFactory, people_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = desk.check_in
    op_ids: list[str] = []

    def flaky(store: Store, actor: Actor, attendee_id: int) -> Any:
        op_ids.append(actor.op_id)
        if len(op_ids) < 3:
            raise DatabaseUnavailable("Cannot reach the database: connection refused")
        return real(store, actor, attendee_id)

    monkeypatch.setattr(desk, "check_in", flaky)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, DESK)
        screen = app.screen
        assert isinstance(screen, DeskScreen)
        shown: list[str] = []
        original = screen._waiting

        def waiting(line: str) -> None:
            shown.append(line)
            original(line)

        screen._waiting = waiting  # type: ignore[method-assign]
        await open_card(pilot, people_store, IVAN)
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: screen.checked_in is not None)
    assert len(op_ids) == 3 and len(set(op_ids)) == 1  # one user action, one operation id
    assert shown and all("Database unreachable — retrying" in line for line in shown)
    with people_store.db.read() as conn:
        rows = conn.execute(text("SELECT count(*) FROM check_in")).scalar_one()
    assert rows == 1


async def test_a_hub_award_is_kept_while_the_database_is_away_then_sent_once(
    make_app: AppFactory, people_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    real = outbox.AWARD_KINDS["activity"]

    def away(*_args: Any) -> object:
        raise DatabaseUnavailable("Cannot reach the database: connection refused")

    monkeypatch.setitem(outbox.AWARD_KINDS, "activity", away)
    app = make_app(outbox=box)
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        screen = app.screen
        assert isinstance(screen, HubScreen)
        await choose(pilot, "qa bug")
        tap(app, ANNA_UID)
        await settle(pilot, lambda: "pending (1)" in confirm_text(app))
        assert "Kept" in confirm_text(app)
        assert "pending (1)" in str(app.screen.query_one("#hub-choice", Static).render())
        assert box.pending_count() == 1

        monkeypatch.setitem(outbox.AWARD_KINDS, "activity", real)  # the database is back
        await settle(pilot, lambda: box.pending_count() == 0 and screen.pending == 0)
        await settle(pilot, lambda: len(screen.awards) == 1)
        assert screen.awards[0].name == ANNA and screen.awards[0].points == 20
        assert "pending" not in str(app.screen.query_one("#hub-choice", Static).render())

        await pilot.press("ctrl+y")
        await settle(pilot, lambda: isinstance(app.screen, OutboxScreen))
        await pilot.press("escape")
    with people_store.db.read() as conn:
        transfers = conn.execute(
            text("SELECT count(*) FROM transfer WHERE code = 'activity'")
        ).scalar_one()
    assert transfers == 1
    box.close()


async def test_a_refusal_at_replay_is_listed_on_the_hub(
    make_app: AppFactory, people_store: Store, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    hubman = Actor(station="desk-2", staff="Ербол Өтебаев", staff_id="hub-backend")
    box.add(hubman, "activity", {"uid": ANNA_UID, "key": "qa-bug-hunt"}, "Bug hunt")
    box.add(hubman.next_action(), "activity", {"uid": ANNA_UID, "key": "qa-bug-hunt"}, "Bug hunt")
    app = make_app(outbox=box)
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        screen = app.screen
        assert isinstance(screen, HubScreen)
        await settle(pilot, lambda: screen.refused_offline == 1 and screen.pending == 0)
        assert "refused when sent: 1" in str(screen.query_one("#hub-choice", Static).render())
        await pilot.press("ctrl+y")
        await settle(pilot, lambda: isinstance(app.screen, OutboxScreen))
        table = app.screen.query_one("#outbox-table")
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[3] == "REFUSED" and "already did Bug hunt" in first[4]
    box.close()
