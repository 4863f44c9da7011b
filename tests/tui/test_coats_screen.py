"""Pilot tests of the coat check: in and out, a failed rack, paper mode, a lost band."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import Input, Static

from screens.bands import BandsScreen, ReasonScreen
from screens.coats import CoatsScreen, IdCheckScreen, RackPickScreen, ReconcileScreen
from store.bands import block_band
from store.coats import coat_tap, held_coat, paper_in
from store.context import Actor, new_id
from store.models import Attendee, Audit, Coat
from store.service import Store
from tests.tui.conftest import ANNA_UID, ASEL_UID, AppFactory, settle, sign_in
from tui.bigtext import BigText
from tui.messages import DataChanged, TapDetected

SIZE = (120, 40)
STAFF = "coats-bolat"


def attendee_id(store: Store, name: str) -> int:
    attendee_t = Attendee.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return int(
            conn.execute(select(attendee_t.c.id).where(attendee_t.c.name == name)).scalar_one()
        )


def audit_rows(store: Store, action: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    audit_t = Audit.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return [
            (r.subject, r.staff, json.loads(r.detail or "{}"))
            for r in conn.execute(
                select(audit_t.c.subject, audit_t.c.staff, audit_t.c.detail).where(
                    audit_t.c.action == action
                )
            )
        ]


def coat_states(store: Store) -> list[str]:
    coat_t = Coat.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return list(conn.execute(select(coat_t.c.state).order_by(coat_t.c.id)).scalars())


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def card_text(app: Any) -> str:
    return text_of(app, "#card")


def big_text(app: Any) -> str:
    big = app.screen.query_one("#big", BigText)
    return big.text if big.display else ""


def tap(app: Any, uid: str) -> None:
    app.post_message(
        TapDetected(uid=uid, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
    )


async def open_coats(pilot: Pilot[None]) -> CoatsScreen:
    await sign_in(pilot, STAFF)
    await settle(pilot, lambda: isinstance(pilot.app.screen, CoatsScreen))
    screen = pilot.app.screen
    assert isinstance(screen, CoatsScreen)
    await settle(pilot, lambda: "Rack A" in text_of(pilot.app, "#racks"))
    return screen


async def tapped(pilot: Pilot[None], uid: str, until: str) -> None:
    tap(pilot.app, uid)
    await settle(pilot, lambda: until in card_text(pilot.app))


async def typed(pilot: Pilot[None], text: str, until: str) -> None:
    pilot.app.screen.query_one("#scan", Input).value = text
    await pilot.press("enter")
    await settle(pilot, lambda: until in card_text(pilot.app))


async def test_coat_in_and_out_by_band(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_coats(pilot)
        await tapped(pilot, ANNA_UID, "HANG IT ON")
        assert "Anna Smith" in card_text(app) and "Rack A · 1" in card_text(app)
        assert big_text(app) == "A-1"
        await settle(pilot, lambda: "1/300" in text_of(app, "#racks"))
        await tapped(pilot, ASEL_UID, "Rack A · 2")
        # Anna comes back: her coat is shown, one key hands it back.
        await tapped(pilot, ANNA_UID, "COAT IN on Rack A · 1")
        assert big_text(app) == "A-1"
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "Handed back" in card_text(app))
        assert big_text(app) == ""
        assert coat_states(people_store) == ["collected", "in"]
        await settle(pilot, lambda: "1/300" in text_of(app, "#racks"))
        assert app.screen.query_one("#scan", Input).has_focus


async def test_failed_rack_sends_new_coats_elsewhere(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_coats(pilot)
        await tapped(pilot, ANNA_UID, "HANG IT ON Rack A · 1")
        await pilot.press("ctrl+b")
        await settle(pilot, lambda: isinstance(app.screen, RackPickScreen))
        await pilot.press("enter")  # Rack A is first
        await settle(pilot, lambda: isinstance(app.screen, ReasonScreen))
        await pilot.press(*"collapsed", "enter")
        await settle(pilot, lambda: "OUT OF SERVICE" in text_of(app, "#racks"))
        assert "collapsed" in text_of(app, "#racks")
        [(subject, staff, detail)] = audit_rows(people_store, "rack_out_of_service")
        assert (subject, detail["reason"]) == ("rack-a", "collapsed")
        assert staff is not None
        await tapped(pilot, ASEL_UID, "HANG IT ON Rack B · 1")
        assert big_text(app) == "B-1"
        # Anna's coat is still found on the failed rack, by hanger and by band.
        await typed(pilot, "A-1", "Anna Smith")
        assert "out of service" in card_text(app)
        await tapped(pilot, ANNA_UID, "COAT IN on Rack A · 1")


async def test_paper_mode_takes_and_returns_coats_by_tag(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_coats(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: "PAPER MODE" in text_of(app, "#mode"))
        assert app.screen.query_one("#mode").has_class("paper")
        await tapped(pilot, ANNA_UID, "write a paper tag")
        await typed(pilot, "17", "Paper tag 17")
        assert big_text(app) == "P-17"
        # Ivan has no band: found by name, then given a tag.
        app.screen.query_one("#scan", Input).value = "Иван"
        await pilot.press("enter")
        await settle(pilot, lambda: "Choose from the list" in card_text(app))
        await pilot.press("down", "enter")
        await settle(pilot, lambda: "write a paper tag" in card_text(app))
        await typed(pilot, "18", "Paper tag 18")
        assert held_coat(people_store, attendee_id(people_store, "Иван Петров")) is not None
        # The tag is the proof: typing it finds the coat and ctrl+o hands it back.
        await typed(pilot, "17", "COAT IN on paper tag 17")
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "Handed back" in card_text(app))
        assert coat_states(people_store) == ["collected", "in"]
        await settle(pilot, lambda: "1 coat on a paper tag only" in text_of(app, "#racks"))
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: "PAPER MODE" not in text_of(app, "#mode"))
        assert [d["on"] for _s, _st, d in audit_rows(people_store, "coats_paper_mode")] == [
            True,
            False,
        ]


async def test_reconcile_action_moves_paper_coats(
    make_app: AppFactory, people_store: Store, tmp_path: Path
) -> None:
    anna = attendee_id(people_store, "Anna Smith")
    paper_in(people_store, Actor(station="coats-2"), anna, "5")
    code = held_coat(people_store, anna)
    assert code is not None
    source = tmp_path / "tags.csv"
    source.write_text(f"5,{code.code},Rack A 7\n9,NOBODY,A-1\n", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_coats(pilot)
        await pilot.press("ctrl+y")
        await settle(pilot, lambda: isinstance(app.screen, ReconcileScreen))
        app.screen.query_one("#reconcile-path", Input).value = str(source)
        await pilot.press("enter")
        await settle(pilot, lambda: "moved onto hangers" in card_text(app))
        assert "1 moved onto hangers" in card_text(app)
        assert "line 2" in card_text(app)
    moved = held_coat(people_store, anna)
    assert moved is not None and (moved.rack_id, moved.hanger) == ("rack-a", 7)


async def test_lost_band_needs_an_id_check(make_app: AppFactory, people_store: Store) -> None:
    coat_tap(people_store, Actor(station="coats-2"), ANNA_UID)
    block_band(people_store, Actor(station="bands-1"), ANNA_UID, "reported lost")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_coats(pilot)
        await tapped(pilot, ANNA_UID, "blocked")
        await typed(pilot, "Anna", "COAT IN on Rack A · 1")
        assert "ID check" in card_text(app)
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: isinstance(app.screen, IdCheckScreen))
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, CoatsScreen))
        assert coat_states(people_store) == ["in"]
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: isinstance(app.screen, IdCheckScreen))
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "ID checked by" in card_text(app))
    assert coat_states(people_store) == ["collected"]
    [(subject, staff, detail)] = audit_rows(people_store, "coat_out_id_checked")
    assert subject == "Rack A · 1" and staff == detail["checked_by"] and staff


async def test_occupancy_follows_other_stations(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_coats(pilot)
        assert "0/300" in text_of(app, "#racks")
        coat_tap(people_store, Actor(station="coats-2"), ASEL_UID)
        app.screen.post_message(DataChanged(99))
        await settle(pilot, lambda: "1/300" in text_of(app, "#racks"))


async def test_wristband_inspect_shows_the_coat(make_app: AppFactory, people_store: Store) -> None:
    coat_tap(people_store, Actor(station="coats-2"), ANNA_UID)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "bands-olzhas")
        screen = BandsScreen()
        await app.switch_screen(screen)
        await settle(pilot)
        await tapped(pilot, ANNA_UID, "Anna Smith")
        assert "Coat check: Rack A · 1" in card_text(app)


def test_snapshot_hanger_number(snap_compare: Any, make_app: AppFactory) -> None:
    async def coat_in(pilot: Pilot[None]) -> None:
        await open_coats(pilot)
        await tapped(pilot, ANNA_UID, "HANG IT ON")
        await settle(pilot, lambda: "1/300" in text_of(pilot.app, "#racks"))

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=coat_in)
