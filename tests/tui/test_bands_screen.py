"""Pilot tests of the wristband table: inspect a tap, replace a lost band, block, return."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from screens.bands import BandsScreen, ReasonScreen
from store import desk
from store.context import Actor, new_id
from store.models import Attendee, Audit, Band
from store.points import award
from store.service import Store
from tests.tui.conftest import ANNA_UID, AppFactory, settle, sign_in
from tui.bigtext import BigText
from tui.messages import TapDetected

SIZE = (120, 40)
IVAN = "Иван Петров"
IVAN_OLD = "04C0FFEE123456"
IVAN_NEW = "04C0FFEE654321"
STAFF = "bands-olzhas"


def attendee_id(store: Store, name: str) -> int:
    attendee_t = Attendee.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return int(
            conn.execute(select(attendee_t.c.id).where(attendee_t.c.name == name)).scalar_one()
        )


def band_row(store: Store, uid: str) -> Any:
    band_t = Band.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return conn.execute(select(band_t).where(band_t.c.uid == uid)).first()


def audit_rows(store: Store, action: str) -> list[tuple[str, dict[str, Any]]]:
    audit_t = Audit.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return [
            (r.subject, json.loads(r.detail or "{}"))
            for r in conn.execute(
                select(audit_t.c.subject, audit_t.c.detail).where(audit_t.c.action == action)
            )
        ]


def card_text(app: Any) -> str:
    return str(app.screen.query_one("#card", Static).render())


def card_classes(app: Any) -> set[str]:
    return set(app.screen.query_one("#card", Static).classes)


def tap(app: Any, uid: str) -> None:
    app.post_message(
        TapDetected(uid=uid, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
    )


async def open_bands(pilot: Pilot[None]) -> BandsScreen:
    await sign_in(pilot, STAFF)
    screen = BandsScreen()
    await pilot.app.switch_screen(screen)
    await settle(pilot)
    assert pilot.app.screen is screen
    return screen


async def tapped(pilot: Pilot[None], uid: str, until: str) -> None:
    tap(pilot.app, uid)
    await settle(pilot, lambda: until in card_text(pilot.app))


def ivan_with_a_band(store: Store, points: int = 0) -> int:
    ivan = attendee_id(store, IVAN)
    desk.check_in(store, Actor(station="desk-1"), ivan)
    desk.bind_band(store, Actor(station="desk-1"), ivan, IVAN_OLD)
    if points:
        award(store, Actor(station="hub-1"), IVAN_OLD, points, "activity", "robot arm")
    return ivan


# -- inspect ----------------------------------------------------------------------------------


async def test_a_tap_shows_state_holder_balance_and_transfers(
    make_app: AppFactory, people_store: Store
) -> None:
    ivan_with_a_band(people_store, points=25)
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_bands(pilot)
        await tapped(pilot, IVAN_OLD, IVAN)
        text = card_text(app)
        assert "ACTIVE" in text
        assert "Balance: 25 points" in text
        assert "ok" in card_classes(app)
        table = screen.query_one("#transfers", DataTable)
        assert table.display and table.row_count == 1
        assert "+25" in str(table.get_row_at(0)[1])
        assert app.focused is screen.query_one("#scan", Input)

        # A band nobody holds.
        await tapped(pilot, "04AB00000000CD", "Nobody has this band")
        assert "warn" in card_classes(app)
        assert not table.display


async def test_a_blocked_band_stops_and_is_recorded(
    make_app: AppFactory, people_store: Store
) -> None:
    from store.bands import block_band

    block_band(people_store, Actor(station="desk-1"), ANNA_UID, "found on the floor", lost=True)
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_bands(pilot)
        await tapped(pilot, ANNA_UID, "Anna Smith")
        assert "stop" in card_classes(app)
        assert "REPORTED LOST" in card_text(app)
        assert "found on the floor" in card_text(app)
    assert [s for s, _ in audit_rows(people_store, "lost_band_tapped")] == [ANNA_UID]


async def test_a_typed_uid_is_a_tap(make_app: AppFactory, people_store: Store) -> None:
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_bands(pilot)
        screen.query_one("#scan", Input).value = ANNA_UID.lower()
        await pilot.press("enter")
        await settle(pilot, lambda: "Anna Smith" in card_text(app))
        assert "Anna Smith" in card_text(app)
        assert screen.query_one("#scan", Input).value == ""


# -- replace ----------------------------------------------------------------------------------


async def test_replace_a_lost_band_through_the_screen(
    make_app: AppFactory, people_store: Store
) -> None:
    ivan = ivan_with_a_band(people_store, points=25)
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_bands(pilot)
        await pilot.press("ctrl+o")
        assert screen.mode == "find"
        await pilot.press(*"bdfy")  # "иван" typed with the Latin layout on
        await settle(pilot, lambda: screen.query_one("#results").option_count > 0)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot, lambda: screen.mode == "tap-new")
        assert IVAN in card_text(app)
        assert IVAN_OLD in card_text(app)

        # A band someone else wears is refused, saying whose; the screen waits for another.
        await tapped(pilot, ANNA_UID, "Anna Smith")
        assert "error" in card_classes(app)
        assert screen.mode == "tap-new"

        await tapped(pilot, IVAN_NEW, "Done")
        assert "ok" in card_classes(app)
        assert IVAN_NEW in card_text(app)
        assert "reported lost" in card_text(app)
        big = screen.query_one("#big", BigText)
        assert big.display and big.text == "OK 4321"
        assert screen.mode == "inspect"
        assert app.focused is screen.query_one("#scan", Input)

    card = desk.attendee_card(people_store, ivan)
    assert (card.band_uid, card.balance) == (IVAN_NEW, 25)
    assert band_row(people_store, IVAN_OLD).state == "lost"


async def test_escape_cancels_a_replacement(make_app: AppFactory, people_store: Store) -> None:
    ivan_with_a_band(people_store)
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_bands(pilot)
        await pilot.press("ctrl+o")
        await pilot.press(*"bdfy")
        await settle(pilot, lambda: screen.query_one("#results").option_count > 0)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot, lambda: screen.mode == "tap-new")
        await pilot.press("escape")
        assert screen.mode == "inspect"
        await tapped(pilot, IVAN_NEW, "Nobody has this band")
    assert band_row(people_store, IVAN_OLD).state == "active"


# -- block and return -------------------------------------------------------------------------


async def test_block_with_a_reason_then_unblock(make_app: AppFactory, people_store: Store) -> None:
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_bands(pilot)
        await tapped(pilot, ANNA_UID, "Anna Smith")
        await pilot.press("ctrl+b")
        await settle(pilot, lambda: isinstance(app.screen, ReasonScreen))
        await pilot.press("escape")  # cancelled: nothing changes
        await settle(pilot, lambda: app.screen is screen)
        assert band_row(people_store, ANNA_UID).state == "active"

        await pilot.press("ctrl+b")
        await settle(pilot, lambda: isinstance(app.screen, ReasonScreen))
        app.screen.query_one("#reason", Input).value = "broken clasp"
        await pilot.press("enter")
        await settle(pilot, lambda: "BLOCKED" in card_text(app))
        assert "stop" in card_classes(app)
        assert "broken clasp" in card_text(app)
        row = band_row(people_store, ANNA_UID)
        assert (row.state, row.state_reason, row.state_station) == (
            "blocked",
            "broken clasp",
            "desk-2",
        )
        assert app.focused is screen.query_one("#scan", Input)
        assert audit_rows(people_store, "lost_band_tapped") == []  # a refresh, not a tap

        await pilot.press("ctrl+b")
        await settle(pilot, lambda: isinstance(app.screen, ReasonScreen))
        app.screen.query_one("#reason", Input).value = "clasp fixed"
        await pilot.press("enter")
        await settle(pilot, lambda: "ACTIVE" in card_text(app))
        assert band_row(people_store, ANNA_UID).state == "active"


async def test_return_needs_a_second_press(make_app: AppFactory, people_store: Store) -> None:
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_bands(pilot)
        await tapped(pilot, ANNA_UID, "Anna Smith")
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert band_row(people_store, ANNA_UID).state == "active"
        await pilot.press("ctrl+y")
        await settle(pilot, lambda: "RETURNED" in card_text(app))
        assert "warn" in card_classes(app)
    row = band_row(people_store, ANNA_UID)
    assert row.state == "returned"
    assert row.attendee_id == attendee_id(people_store, "Anna Smith")


async def test_keys_without_a_band_only_warn(make_app: AppFactory, people_store: Store) -> None:
    app = make_app(role=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_bands(pilot)
        await pilot.press("ctrl+b", "ctrl+y", "ctrl+y")
        await settle(pilot)
        assert app.screen is screen
        assert band_row(people_store, ANNA_UID).state == "active"
