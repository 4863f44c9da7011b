"""Pilot tests: the role picker, the header, a simulated tap, help and quitting."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList, Static

from screens import HelpScreen, RolePickerScreen, SimulatedTapScreen
from screens.counter import CounterScreen
from store.context import new_id
from store.logs import setup_logging
from tests.tui.conftest import ANNA_UID, AppFactory, settle, sign_in
from tui.messages import TapDetected
from tui.widgets import StationHeader

SIZE = (120, 40)


def card_text(app: object) -> str:
    return str(app.screen.query_one("#card", Static).render())  # type: ignore[attr-defined]


async def test_role_picker_opens_the_chosen_role(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        assert isinstance(app.screen, RolePickerScreen)
        await pilot.press("down", "down", "down", "enter")  # desk, bands, hub, counter
        assert isinstance(app.screen, CounterScreen)
        assert app.role == "counter"
        assert app.screen.focused is app.screen.query_one("#scan", Input)
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, RolePickerScreen)


async def test_header_shows_event_station_staff_reader_and_database(make_app: AppFactory) -> None:
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.pause()
        header = str(app.screen.query_one(StationHeader).render())
        for part in ("Make IT Real 2026", "desk-2", "Динара Мусина", "reader: ready", "db: ok"):
            assert part in header, part
        app.db_state = "unreachable"
        await pilot.pause()
        assert "unreachable" in str(app.screen.query_one(StationHeader).render())


async def test_simulated_tap_shows_whose_band_it_is(make_app: AppFactory) -> None:
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("ctrl+t")
        assert isinstance(app.screen, SimulatedTapScreen)
        await settle(pilot)
        await pilot.press(*"anna")
        await settle(pilot)
        options = app.screen.query_one("#sim-bands", OptionList)
        assert options.option_count == 2  # the new band, and Anna
        await pilot.press("enter")
        assert isinstance(app.screen, CounterScreen)
        await settle(pilot, lambda: "Anna Smith" in card_text(app))
        assert "Anna Smith" in card_text(app)
        assert "0 points" in card_text(app)


async def test_keys_typed_ahead_in_the_simulated_tap_picker_count(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """↓ ↓ Enter pressed before the list has arrived taps the first person, not a new band."""
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        store = app.store  # type: ignore[attr-defined]
        quick = store.band_choices
        answered = threading.Event()

        def slow(query: str = "", limit: int = 50) -> Any:
            answered.wait(1.0)  # a busy database: the keys arrive first
            return quick(query, limit)

        monkeypatch.setattr(store, "band_choices", slow)
        await pilot.press("ctrl+t", "down", "down")
        options = app.screen.query_one("#sim-bands", OptionList)
        answered.set()
        await settle(pilot, lambda: options.option_count > 1)
        first = quick("", 30)[0]
        assert options.get_option_at_index(options.highlighted or 0).id == first.uid
        await pilot.press("enter")
        await settle(pilot, lambda: first.name in card_text(app))
        assert first.name in card_text(app)


async def test_simulated_new_band_is_unbound(make_app: AppFactory) -> None:
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        await pilot.press("enter")  # nothing typed: Enter taps a new, unbound band
        await settle(pilot, lambda: "Unbound band" in card_text(app))
        assert "Unbound band" in card_text(app)
        assert "wristband table" in card_text(app)


async def test_posted_tap_message_reaches_the_screen(make_app: AppFactory) -> None:
    """The same message a reader thread posts, injected directly."""
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.post_message(
            TapDetected(uid=ANNA_UID, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
        )
        await pilot.pause()
        await settle(pilot)
        assert "Anna Smith" in card_text(app)


async def test_typed_uid_in_scan_field_is_a_tap(make_app: AppFactory) -> None:
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        # A wedge reader under a Russian layout: "04a1b2c3d4e580" arrives with Cyrillic letters.
        app.screen.query_one("#scan", Input).value = "04ф1и2с3в4у580"
        await pilot.press("enter")
        await pilot.pause()
        await settle(pilot)
        assert "Anna Smith" in card_text(app)
        app.screen.query_one("#scan", Input).value = "hello"
        await pilot.press("enter")
        await pilot.pause()
        assert "not a band UID" in str(app.screen.query_one("#confirm-text", Static).render())


async def test_help_lists_the_keys_of_the_screen(make_app: AppFactory) -> None:
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, HelpScreen)
        rows = [
            app.screen.query_one("DataTable").get_row_at(i)
            for i in range(app.screen.query_one("DataTable").row_count)
        ]  # type: ignore[attr-defined]
        described = {description for _key, description in rows}
        assert {"Quit", "Simulated tap", "Change role", "Keys"} <= described
        await pilot.press("escape")
        assert isinstance(app.screen, CounterScreen)


async def test_ctrl_q_quits_at_once_with_the_reader_running(make_app: AppFactory) -> None:
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.pause()
        started = datetime.now(UTC)
        await pilot.press("ctrl+q")
    assert (datetime.now(UTC) - started).total_seconds() < 1.0
    assert app.return_code == 0


async def test_one_tap_has_one_correlation_id_in_log_and_audit(
    make_app: AppFactory, tmp_path: Path
) -> None:
    log_path = setup_logging(tmp_path / "logs", "desk-2")
    app = make_app(role="desk")
    correlation_id = new_id()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.post_message(
            TapDetected(
                uid=ANNA_UID, reader="sim", at=datetime.now(UTC), correlation_id=correlation_id
            )
        )
        await pilot.pause()
        await settle(pilot)
    for handler in logging.getLogger("tapdesk").handlers:
        handler.flush()
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    tagged = [line for line in lines if line.get("correlation_id") == correlation_id]
    assert {line["msg"] for line in tagged} >= {"tap", "band tapped"}
    audit = app.store.audit_trail(correlation_id)
    assert [row["action"] for row in audit] == ["tap"]


async def test_truncated_wedge_read_is_resolved_or_refused(make_app: AppFactory) -> None:
    """A reader that types only "88" + the first 3 bytes of a 7-byte UID."""
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.screen.query_one("#scan", Input).value = "8804A1B2"  # cascade tag + Anna's 04 A1 B2
        await pilot.press("enter")
        await settle(pilot, lambda: "Anna Smith" in card_text(app))
        assert "Anna Smith" in card_text(app)


async def test_emulated_tap_reaches_the_active_screen(
    people_store: object, tmp_path: object
) -> None:
    """The real nfcpy reader code over UDP, with the NTAG213 emulator, inside the App."""
    import socket

    from hardware.factory import make_reader
    from hardware.spec import parse_reader_spec
    from tui.app import TapdeskApp

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reader = make_reader(parse_reader_spec(f"emulated:{port}"))
    app = TapdeskApp(
        store=people_store,  # type: ignore[arg-type]
        reader=reader,
        station="bands-1",
        role="counter",
        heartbeat=False,
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.reader_state == "ready")
        await sign_in(pilot)
        app.simulate_tap(ANNA_UID)  # places the band on the emulated tag
        await settle(pilot, lambda: "Anna Smith" in card_text(app))
        assert "Anna Smith" in card_text(app)
        assert app.reader_state == "ready"


async def test_a_tap_flashes_the_screen(make_app: AppFactory) -> None:
    app = make_app(role="counter", flash_seconds=0.7)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.post_message(
            TapDetected(uid=ANNA_UID, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
        )
        await settle(pilot, lambda: "-flash-ok" in app.screen.classes)
        assert "-flash-ok" in app.screen.classes
        await pilot.pause(0.8)
        assert "-flash-ok" not in app.screen.classes
        app.post_message(
            TapDetected(
                uid="04FFFFFFFFFF99", reader="sim", at=datetime.now(UTC), correlation_id=new_id()
            )
        )
        await settle(pilot, lambda: "-flash-fail" in app.screen.classes)
        assert "-flash-fail" in app.screen.classes
