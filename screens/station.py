"""A station screen: the scan field, and what the last tap showed.

Until each role gets its own screen, every role uses this one: a tap shows whose band it is.
"""

from __future__ import annotations

import logging

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from store.bands import state_text
from store.errors import DomainError
from store.i18n import _, ngettext
from store.results import BandLookup
from tui.messages import TapDetected
from tui.protocols import station_app
from tui.widgets import StationHeader, role_title

__all__ = ["StationScreen", "describe_error"]

log = logging.getLogger("tapdesk.ui")


def describe_error(error: BaseException | None, correlation_id: str = "") -> str:
    """A message for staff: a domain error as it is, anything else as a short apology."""
    if isinstance(error, DomainError):
        return error.message
    log.error("unexpected error", exc_info=error, extra={"correlation_id": correlation_id})
    return _("Something went wrong ({error}). It was logged; try again.").format(
        error=type(error).__name__ if error else "?"
    )


class StationScreen(Screen[None]):
    """Shows whose band was tapped. Taps come from the reader or from the scan field."""

    AUTO_FOCUS = "#scan"
    #: The App forwards taps to the top screen that has this set.
    accepts_taps = True

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def compose(self) -> ComposeResult:
        yield StationHeader()
        with Vertical(id="station-body"):
            yield Static(role_title(self.role), classes="title")
            yield Input(placeholder=_("Tap a band — or type its UID and press Enter"), id="scan")
            yield Static(
                _("This station's own screen is not built yet: a tap shows whose band it is."),
                classes="hint",
            )
            yield Static(_("Waiting for a tap…"), id="card")
        yield Footer(compact=True)

    def on_tap_detected(self, message: TapDetected) -> None:
        self.query_one("#card", Static).update(_("Reading band {uid}…").format(uid=message.uid))
        self.identify(message.uid, message.correlation_id)

    @on(Input.Submitted, "#scan")
    def _scanned(self, event: Input.Submitted) -> None:
        event.input.clear()
        text = event.value.strip()
        if text and not station_app(self).scan_band(text):
            self._show_error(_("“{text}” is not a band UID.").format(text=text))

    @work(thread=True, group="tap", exit_on_error=False)
    def identify(self, uid: str, correlation_id: str) -> BandLookup:
        """Look the band up in the store (runs in a thread)."""
        app = station_app(self)
        return app.store.identify_band(app.actor(correlation_id), uid)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "tap":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, BandLookup):
            self.show_lookup(event.worker.result)
            station_app(self).flash(event.worker.result.state == "active")
        elif event.state == WorkerState.ERROR:
            self._show_error(describe_error(event.worker.error))
            station_app(self).flash(False)

    def show_lookup(self, found: BandLookup) -> None:
        """Render whose band it is (or why it is not usable)."""
        card = self.query_one("#card", Static)
        card.remove_class("error", "ok", "warn")
        text = Text()
        if found.state == "unbound":
            card.add_class("warn")
            text.append(_("Unbound band {uid}").format(uid=found.uid) + "\n", style="bold")
            if self.role == "bands":
                text.append(_("Nobody has this band yet: it is bound at the registration desk."))
            else:
                text.append(_("Nobody has this band: send them to the wristband table."))
        elif found.attendee_id is None:
            card.add_class("warn")
            text.append(
                _("Band {uid} is not bound to anyone ({state}).").format(
                    uid=found.uid, state=state_text(found.state)
                )
            )
        else:
            card.add_class("ok" if found.state == "active" else "error")
            text.append(f"{found.name}\n", style="bold")
            text.append(f"{found.company or ''}\n")
            text.append(
                _("Invitation {code} · band {uid}").format(code=found.code, uid=found.uid) + "\n"
            )
            if found.colour:
                text.append(_("Colour: {colour}").format(colour=found.colour) + "\n")
            points = found.balance or 0
            text.append(
                ngettext("Balance: {points} point", "Balance: {points} points", points).format(
                    points=points
                )
                + "\n",
                style="bold",
            )
            if found.state != "active":
                text.append(
                    _("This band is {state}: {reason}").format(
                        state=state_text(found.state), reason=found.state_reason or "—"
                    ),
                    style="bold",
                )
            if found.credit_note:
                if found.paused:
                    card.remove_class("ok")
                    card.add_class("warn")
                text.append(found.credit_note, style="bold")
        card.update(text)

    def _show_error(self, message: str) -> None:
        card = self.query_one("#card", Static)
        card.remove_class("ok", "warn")
        card.add_class("error")
        card.update(message)
