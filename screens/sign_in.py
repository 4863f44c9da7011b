"""Sign in: tap your staff band, or choose your name and type your PIN."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from screens.station import describe_error
from store import staff
from store.i18n import _
from tui.messages import TapDetected
from tui.protocols import station_app
from tui.widgets import StationHeader, role_title

__all__ = ["SignInScreen"]


class SignInScreen(Screen[None]):
    """The first screen of a station, and the one ctrl+l returns to."""

    AUTO_FOCUS = "#staff"
    accepts_taps = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back_to_list", _("Back to the names"), show=False),
    ]

    def __init__(self, demo_pins: dict[str, str] | None = None) -> None:
        super().__init__()
        self.demo_pins = demo_pins or {}
        self.chosen: str | None = None

    def compose(self) -> ComposeResult:
        yield StationHeader()
        yield Static(_("Sign in"), classes="title")
        yield Static(
            _("Tap your staff band — or choose your name (↑ ↓ Enter) and type your PIN."),
            classes="hint",
        )
        if self.demo_pins:
            yield Static(
                _("Demo: every staff member's PIN is shown next to their name."), classes="hint"
            )
        yield OptionList(id="staff")
        yield Input(placeholder=_("PIN"), password=True, id="pin", disabled=True)
        yield Static("", id="sign-in-message")
        yield Footer()

    def on_mount(self) -> None:
        self.load_staff()

    @work(thread=True, group="staff-list", exit_on_error=False)
    def load_staff(self) -> tuple[staff.StaffInfo, ...]:
        """The event's staff (runs in a thread)."""
        return staff.staff_list(station_app(self).store)

    @on(OptionList.OptionSelected, "#staff")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.chosen = event.option.id
        pin = self.query_one("#pin", Input)
        pin.disabled = False
        pin.clear()
        pin.focus()
        name = str(event.option.prompt).split("  —  ")[0]
        self._say(_("{name}: type your PIN and press Enter.").format(name=name))

    @on(Input.Submitted, "#pin")
    def _pin_typed(self, event: Input.Submitted) -> None:
        if self.chosen is None:
            return
        pin = event.value
        event.input.clear()
        self.check_pin(self.chosen, pin)

    @work(thread=True, group="sign-in", exclusive=True, exit_on_error=False)
    def check_pin(self, staff_id: str, pin: str) -> staff.StaffInfo:
        """Verify the PIN (runs in a thread: the hash is deliberately slow)."""
        app = station_app(self)
        return staff.sign_in_with_pin(app.store, app.actor(), staff_id, pin)

    def on_tap_detected(self, message: TapDetected) -> None:
        self.check_band(message.uid, message.correlation_id)

    @work(thread=True, group="sign-in", exclusive=True, exit_on_error=False)
    def check_band(self, uid: str, correlation_id: str) -> staff.StaffInfo:
        """Sign in by staff band (runs in a thread)."""
        app = station_app(self)
        return staff.sign_in_with_band(app.store, app.actor(correlation_id), uid)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "staff-list" and event.state == WorkerState.SUCCESS:
            self._fill(worker.result or ())
        elif worker.group == "sign-in":
            if event.state == WorkerState.SUCCESS and isinstance(worker.result, staff.StaffInfo):
                station_app(self).signed_in(worker.result)
            elif event.state == WorkerState.ERROR:
                self._say(describe_error(worker.error), error=True)
        elif worker.group == "staff-list" and event.state == WorkerState.ERROR:
            self._say(describe_error(worker.error), error=True)

    def _fill(self, members: tuple[staff.StaffInfo, ...]) -> None:
        options = self.query_one("#staff", OptionList)
        options.clear_options()
        if not members:
            self._say(
                _("This event has no staff yet: load the event file (tapdesk event load FILE)."),
                error=True,
            )
            return
        for member in members:
            roles = ", ".join(role_title(r) for r in member.roles)
            label = f"{member.name}  —  {roles}"
            if member.id in self.demo_pins:
                label += "  ·  " + _("PIN {pin}").format(pin=self.demo_pins[member.id])
            options.add_option(Option(label, id=member.id, disabled=not member.has_pin))
        options.highlighted = 0

    def action_back_to_list(self) -> None:
        self.chosen = None
        pin = self.query_one("#pin", Input)
        pin.clear()
        pin.disabled = True
        self.query_one("#staff", OptionList).focus()
        self._say("")

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#sign-in-message", Static)
        message.set_class(error, "error")
        message.update(text)
