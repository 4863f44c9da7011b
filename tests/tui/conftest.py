"""Fixtures for App tests: a store with a few known people and an App factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hardware.sim import SimulatedReader
from store.service import Store
from tests.factories import add_attendee
from tui.app import TapdeskApp

ANNA_UID = "04A1B2C3D4E580"
ASEL_UID = "04B2C3D4E5F601"


@pytest.fixture
def people_store(sqlite_store: Store) -> Iterator[Store]:
    """A SQLite store holding two people with bands and one without."""
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
            **kwargs,  # type: ignore[arg-type]
        )

    return build
