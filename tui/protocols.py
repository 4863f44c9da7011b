"""What a screen may ask of the App, without importing it (no import cycle)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, cast

from textual.dom import DOMNode

from store.context import Actor
from store.outbox import Outbox
from store.service import Store
from store.staff import StaffInfo

__all__ = ["StationApp", "station_app"]


class StationApp(Protocol):
    """The App as screens see it."""

    store: Store
    station: str
    reader_spec: str
    outbox: Outbox | None
    """This station's outbox of hub awards kept while the database is away (None: no outbox)."""

    @property
    def staff_name(self) -> str | None:
        """The signed-in staff member, if any."""
        ...

    def actor(self, correlation_id: str | None = None) -> Actor:
        """A new :class:`Actor` (fresh operation id) for one user action at this station."""
        ...

    def scan_band(self, text: str) -> bool:
        """Treat text a wedge reader typed as a tap; False when it is not a band UID."""
        ...

    def local_time(self, moment: datetime, fmt: str = "%H:%M:%S") -> str:
        """A stored time in the event's time zone."""
        ...

    def flash(self, ok: bool) -> None:
        """Flash the screen green (success) or red (refusal)."""
        ...

    def simulate_tap(self, uid: str) -> None:
        """Place ``uid`` on the simulated reader (only with ``--reader sim``)."""
        ...

    def open_role(self, role: str) -> None:
        """Show the screen of ``role``."""
        ...

    def outbox_added(self) -> None:
        """An award was kept in the outbox: send it when the database answers."""
        ...

    def signed_in(self, info: StaffInfo) -> None:
        """A staff member has signed in."""
        ...


def station_app(node: DOMNode) -> StationApp:
    """The running tapdesk App, typed as :class:`StationApp`."""
    return cast(StationApp, node.app)
