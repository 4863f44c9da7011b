"""Register a walk-in on the spot: name, e-mail, company, field."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static
from textual.worker import Worker, WorkerState

from screens.station import describe_error
from store import desk
from store.i18n import _
from tui.protocols import station_app

__all__ = ["WalkInScreen", "field_text"]

FIELDS = ("development", "management", "qa", "design", "other")


def field_text(field: str) -> str:
    """An attendee's field in the staff member's language."""
    return {
        "development": _("development"),
        "management": _("management"),
        "qa": _("QA"),
        "design": _("design"),
        "other": _("other"),
    }.get(field, field)


class WalkInScreen(ModalScreen[int | None]):
    """Returns the new (or the existing) attendee's id, or None when cancelled."""

    AUTO_FOCUS = "#walk-name"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel")),
        Binding("ctrl+o,f5", "register", _("Register")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.existing: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="walk-box"):
            yield Static(_("Walk-in registration"), classes="title")
            yield Input(placeholder=_("Name"), id="walk-name")
            yield Input(placeholder=_("E-mail"), id="walk-email")
            yield Input(placeholder=_("Company"), id="walk-company")
            yield Static(_("Field (it chooses the band's colour):"))
            yield Select(
                [(field_text(f), f) for f in FIELDS],
                value="other",
                allow_blank=False,
                id="walk-field",
            )
            yield Static(_("Enter moves on; ctrl+o registers; Esc cancels."), id="walk-hint")

    @on(Input.Changed)
    def _edited(self) -> None:
        # A corrected e-mail is a new registration, not the person the old one belonged to.
        if self.existing is not None:
            self.existing = None
            self.query_one("#walk-hint", Static).update(
                _("Enter moves on; ctrl+o registers; Esc cancels.")
            )

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        # Enter moves on, as the hint says; ctrl+o registers (from any field).
        self.focus_next()

    def action_register(self) -> None:
        if self.existing is not None:
            self.dismiss(self.existing)
            return
        value = self.query_one("#walk-field", Select).value
        self.register(
            self.query_one("#walk-name", Input).value,
            self.query_one("#walk-email", Input).value,
            self.query_one("#walk-company", Input).value,
            str(value),
        )

    @work(thread=True, group="walk-in", exclusive=True, exit_on_error=False)
    def register(self, name: str, email: str, company: str, field: str) -> desk.AttendeeCard:
        """Create the attendee (runs in a thread)."""
        app = station_app(self)
        return desk.register_walk_in(app.store, app.actor(), name, email, company, field)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "walk-in":
            return
        hint = self.query_one("#walk-hint", Static)
        if event.state == WorkerState.SUCCESS and isinstance(
            event.worker.result, desk.AttendeeCard
        ):
            self.dismiss(event.worker.result.attendee_id)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, desk.AlreadyRegistered):
                self.existing = error.attendee_id
                hint.update(
                    _("{message} ctrl+o opens that person; Esc cancels.").format(
                        message=error.message
                    )
                )
            else:
                hint.update(describe_error(error))

    def action_cancel(self) -> None:
        self.dismiss(None)
