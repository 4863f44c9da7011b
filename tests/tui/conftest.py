"""Fixtures for App tests: a store with the demo event (its staff) and a few known people."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from hardware.sim import SimulatedReader
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE, demo_pins
from store.eventfile import load_event
from store.service import Store
from tests.factories import add_attendee
from tui.app import TapdeskApp

# No cursor blink in tests: whether a snapshot catches the cursor on or off must not depend on
# timing (the cursor stays visible).
Input._toggle_cursor = lambda self: None  # type: ignore[method-assign]

ANNA_UID = "04A1B2C3D4E580"
ASEL_UID = "04B2C3D4E5F601"
PINS = demo_pins()
ORGANISER = "organiser-dinara"  # holds every role
DESK = "desk-aigerim"
ORGANISER_BAND = "04DE5C0000A005"


@pytest.fixture
def people_store(sqlite_store: Store) -> Iterator[Store]:
    """A SQLite store with the demo event, two people with bands and one without."""
    load_event(sqlite_store, DEMO_EVENT_FILE, Actor(station="setup"))
    add_attendee(sqlite_store, "Anna Smith", band_uid=ANNA_UID, colour="blue")
    add_attendee(sqlite_store, "Әсел Нұрланова", band_uid=ASEL_UID, colour="green", field="qa")
    add_attendee(sqlite_store, "Иван Петров")
    yield sqlite_store


AppFactory = Callable[..., TapdeskApp]


@pytest.fixture
def make_app(people_store: Store) -> AppFactory:
    """Build an App on ``people_store`` with a simulated reader and no heartbeat timer."""

    def build(role: str | None = None, **kwargs: object) -> TapdeskApp:
        return TapdeskApp(
            store=people_store,
            reader=SimulatedReader(),
            station="desk-2",
            role=role,
            event_name="Make IT Real 2026",
            heartbeat=False,
            # No flash unless a test asks for it: a snapshot must never catch one mid-way.
            **({"flash_seconds": 0.0} | kwargs),  # type: ignore[arg-type]
        )

    return build


async def settle(pilot: Pilot[None], until: Callable[[], bool] | None = None) -> None:
    """Let workers (all but the endless reader) finish and the screen refresh; optionally poll."""
    for _ in range(150):
        await pilot.pause(0.02)
        busy = [w for w in pilot.app.workers if w.group != "reader" and w.is_running]
        if not busy and (until is None or until()):
            return


async def sign_in(pilot: Pilot[None], staff_id: str = ORGANISER) -> None:
    """Choose ``staff_id`` on the sign-in screen and type their PIN, as a person would."""
    from textual.widgets import OptionList

    from screens.sign_in import SignInScreen

    app = pilot.app
    await settle(pilot, lambda: isinstance(app.screen, SignInScreen))
    options = app.screen.query_one("#staff", OptionList)
    await settle(pilot, lambda: options.option_count > 0)
    options.highlighted = options.get_option_index(staff_id)
    await pilot.press("enter")
    await pilot.press(*PINS[staff_id], "enter")
    await settle(pilot, lambda: not isinstance(app.screen, SignInScreen))
