"""The look of the station screens (pytest-textual-snapshot).

Plain (non-async) tests; a fixed terminal size, no animations, no heartbeat, a fixed station and
event name, so nothing changes between runs.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from tests.tui.conftest import ANNA_UID, DESK, PINS, AppFactory, settle, sign_in

SIZE = (120, 40)


class TestSignIn:
    def test_demo_sign_in(self, snap_compare: Any, make_app: AppFactory) -> None:
        async def loaded(pilot: Pilot[None]) -> None:
            await settle(pilot)

        assert snap_compare(make_app(demo_pins=PINS), terminal_size=SIZE, run_before=loaded)


class TestRolePicker:
    def test_picker(self, snap_compare: Any, make_app: AppFactory) -> None:
        async def signed_in(pilot: Pilot[None]) -> None:
            await sign_in(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=signed_in)


class TestStationScreen:
    def test_after_a_tap(self, snap_compare: Any, make_app: AppFactory) -> None:
        async def tap(pilot: Pilot[None]) -> None:
            await sign_in(pilot)
            pilot.app.simulate_tap(ANNA_UID)  # type: ignore[attr-defined]
            await settle(pilot, lambda: "Anna" in str(pilot.app.screen.query_one("#card").render()))

        assert snap_compare(make_app(role="counter"), terminal_size=SIZE, run_before=tap)

    def test_unbound_band(self, snap_compare: Any, make_app: AppFactory) -> None:
        async def tap(pilot: Pilot[None]) -> None:
            await sign_in(pilot)
            pilot.app.simulate_tap("04FFFFFFFFFF01")  # type: ignore[attr-defined]
            await settle(
                pilot, lambda: "Unbound" in str(pilot.app.screen.query_one("#card").render())
            )

        assert snap_compare(make_app(role="counter"), terminal_size=SIZE, run_before=tap)


class TestDesk:
    def test_desk_ready(self, snap_compare: Any, make_app: AppFactory) -> None:
        async def ready(pilot: Pilot[None]) -> None:
            await sign_in(pilot, DESK)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=ready)
