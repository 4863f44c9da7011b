"""Look an attendee up (tap or search): their transfers — when, where, who, why."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from screens.station import describe_error
from store import credit, points, search
from store.i18n import _
from store.results import BandLookup
from store.search import AttendeeHit
from tui.messages import TapDetected
from tui.protocols import station_app

__all__ = ["LookupScreen"]


class LookupScreen(ModalScreen[None]):
    """Search by name (or tap the band); Enter shows the person's statement. Esc closes."""

    AUTO_FOCUS = "#lookup-search"
    accepts_taps = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", _("Close")),
        Binding("down", "to_list", _("To the list"), show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="lookup-box"):
            yield Static(_("Look up an attendee: type a name or tap their band."), classes="title")
            yield Input(placeholder=_("name, e-mail or code"), id="lookup-search")
            yield OptionList(id="lookup-hits")
            yield Static("", id="lookup-who")
            table: DataTable[str | Text] = DataTable(id="lookup-transfers", cursor_type="row")
            yield table

    def on_mount(self) -> None:
        self.query_one("#lookup-transfers", DataTable).add_columns(
            _("When"), _("Points"), _("Why"), _("Where"), _("Who")
        )

    @on(Input.Changed, "#lookup-search")
    def _typed(self, event: Input.Changed) -> None:
        if event.value.strip():
            self.search(event.value.strip())

    @work(thread=True, group="lookup-search", exclusive=True, exit_on_error=False)
    def search(self, text: str) -> tuple[AttendeeHit, ...]:
        """Matching attendees (in a thread)."""
        return search.search_attendees(station_app(self).store, text, limit=10)

    @on(Input.Submitted, "#lookup-search")
    def _first(self) -> None:
        hits = self.query_one("#lookup-hits", OptionList)
        if hits.highlighted is not None:
            self._open(hits.get_option_at_index(hits.highlighted).id)

    @on(OptionList.OptionSelected, "#lookup-hits")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self._open(event.option.id)

    def _open(self, option_id: str | None) -> None:
        if option_id:
            hit = next((h for h in self._hits if str(h.attendee_id) == option_id), None)
            self.statement(int(option_id), hit.name if hit else "")

    _hits: tuple[AttendeeHit, ...] = ()

    def on_tap_detected(self, message: TapDetected) -> None:
        self.by_band(message.uid, message.correlation_id)

    @work(thread=True, group="lookup-band", exit_on_error=False)
    def by_band(self, uid: str, correlation_id: str) -> BandLookup:
        """Whose band it is (in a thread)."""
        app = station_app(self)
        return app.store.identify_band(app.actor(correlation_id), uid)

    @work(thread=True, group="lookup-statement", exclusive=True, exit_on_error=False)
    def statement(self, attendee_id: int, name: str) -> tuple[str, tuple[points.TransferView, ...]]:
        """The attendee's last transfers (in a thread), after collecting a due instalment."""
        app = station_app(self)
        # Pay in four: a lookup is the first operation after a due time too (one read when
        # nothing is due); a paused attendee is said so next to the name.
        collected = credit.collect(app.store, app.actor(), attendee_id)
        if collected.next_due_at is not None:
            note = credit.credit_status(app.store, attendee_id).note()
            if note:
                name = f"{name} — {note}"
        return name, points.statement(app.store, attendee_id, limit=50)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR:
            self.query_one("#lookup-who", Static).update(describe_error(worker.error))
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = worker.result
        if worker.group == "lookup-search" and isinstance(result, tuple):
            self._hits = result
            hits = self.query_one("#lookup-hits", OptionList)
            hits.clear_options()
            for hit in result:
                hits.add_option(
                    Option(f"{hit.name} · {hit.company} · {hit.code}", id=str(hit.attendee_id))
                )
            if result:
                hits.highlighted = 0
        elif worker.group == "lookup-band" and isinstance(result, BandLookup):
            if result.attendee_id is None:
                self.query_one("#lookup-who", Static).update(
                    _("Band {uid} is not bound to anyone.").format(uid=result.uid)
                )
            else:
                self.statement(result.attendee_id, result.name or "")
        elif worker.group == "lookup-statement" and isinstance(result, tuple):
            name, lines = result
            self.query_one("#lookup-who", Static).update(name)
            table: DataTable[str | Text] = self.query_one("#lookup-transfers", DataTable)
            table.clear()
            for line in lines:
                table.add_row(
                    station_app(self).local_time(line.at, "%d.%m %H:%M"),
                    f"{line.amount:+d}",
                    Text((line.label or line.code)[:48]),
                    Text(line.station),
                    Text(line.staff or "—"),
                )

    def action_to_list(self) -> None:
        self.query_one("#lookup-hits", OptionList).focus()
