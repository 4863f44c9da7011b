"""The look of the role picker and of a station screen after a tap (pytest-textual-snapshot).

Plain (non-async) tests; a fixed terminal size, no animations, no heartbeat, a fixed station and
event name, so nothing changes between runs.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from tests.tui.conftest import ANNA_UID, AppFactory

SIZE = (120, 40)


class TestRolePicker:
    def test_picker(self, snap_compare: Any, make_app: AppFactory) -> None:
        assert snap_compare(make_app(), terminal_size=SIZE)


class TestStationScreen:
    def test_after_a_tap(self, snap_compare: Any, make_app: AppFactory) -> None:
        async def tap(pilot: Pilot[None]) -> None:
            pilot.app.simulate_tap(ANNA_UID)  # type: ignore[attr-defined]
            for _ in range(100):
                await pilot.pause(0.02)
                if "Anna" in str(pilot.app.screen.query_one("#card").render()):
                    break
            await pilot.pause()

        assert snap_compare(make_app(role="desk"), terminal_size=SIZE, run_before=tap)

    def test_unbound_band(self, snap_compare: Any, make_app: AppFactory) -> None:
        async def tap(pilot: Pilot[None]) -> None:
            pilot.app.simulate_tap("04FFFFFFFFFF01")  # type: ignore[attr-defined]
            for _ in range(100):
                await pilot.pause(0.02)
                if "Unbound" in str(pilot.app.screen.query_one("#card").render()):
                    break
            await pilot.pause()

        assert snap_compare(make_app(role="hub"), terminal_size=SIZE, run_before=tap)
