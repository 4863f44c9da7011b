"""The wristband table: tap a band to see everything about it, replace lost bands, block, return.

A tap (or a UID typed by a wedge reader) shows the band: its state, whose it is, the balance and
the last transfers. ctrl+o replaces a lost band: find the person, then tap the new band; the old
one is blocked in the same operation. ctrl+b blocks or unblocks the band shown, with a reason;
ctrl+y (twice) takes it back at the end. Every store call runs in a thread worker and the scan
field keeps focus after every result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from screens.station import describe_error
from store import credit, desk, search, wristbands
from store.bands import BandState, block_band, state_text, unblock_band
from store.i18n import _, ngettext
from store.invites import parse_scan
from store.search import AttendeeHit
from tui.bigtext import BigText
from tui.messages import DataChanged, TapDetected
from tui.protocols import station_app
from tui.retrying import run_write
from tui.widgets import StationHeader

__all__ = ["BandsScreen", "ReasonScreen"]

#: Seconds within which a second ctrl+y confirms a return.
RETURN_CONFIRM_SECONDS = 4.0

INSPECT = "inspect"
FIND_PERSON = "find"
TAP_NEW = "tap-new"


class ReasonScreen(ModalScreen[str | None]):
    """Ask why a band is blocked or unblocked; Enter confirms, Esc cancels."""

    AUTO_FOCUS = "#reason"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", _("Cancel"))]
    DEFAULT_CSS = """
    ReasonScreen {
        align: center middle;
    }
    ReasonScreen #reason-box {
        width: 70;
        height: auto;
        border: round $accent;
        background: $surface;
        padding: 0 1 1 1;
    }
    ReasonScreen #reason-hint {
        color: $text-muted;
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-box"):
            yield Static(self.title_text, classes="title")
            yield Input(placeholder=_("Reason"), id="reason")
            yield Static(_("Enter confirms; Esc cancels."), id="reason-hint")

    @on(Input.Submitted, "#reason")
    def _confirmed(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.query_one("#reason-hint", Static).update(_("Say why, then press Enter."))
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)


class BandsScreen(Screen[None]):
    """Inspect bands; replace lost ones; block, unblock and take bands back."""

    AUTO_FOCUS = "#scan"
    accepts_taps = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o,f5", "replace", _("Replace lost band")),
        Binding("ctrl+b,f6", "block", _("Block / unblock")),
        Binding("ctrl+y,f8", "return_band", _("Return band")),
        Binding("escape", "inspect_mode", _("Inspect")),
        Binding("down", "to_results", _("To the list"), show=False),
    ]
    DEFAULT_CSS = """
    BandsScreen #bands-body {
        padding: 0 1;
    }
    BandsScreen #mode {
        margin: 1 1 0 1;
        height: auto;
        text-style: bold;
    }
    BandsScreen #scan {
        margin: 1 1 0 1;
    }
    BandsScreen #bands-main {
        height: 1fr;
        margin: 1 1 0 1;
    }
    BandsScreen #results {
        display: none;
        width: 46;
        height: 1fr;
        border: round $panel;
    }
    BandsScreen #right {
        width: 1fr;
        height: 1fr;
    }
    BandsScreen #card {
        height: auto;
        max-height: 16;
        padding: 0 2;
        border: round $panel;
    }
    BandsScreen #card.ok {
        border: heavy $success;
        background: $success 20%;
    }
    BandsScreen #card.warn {
        border: round $warning;
        background: $warning 10%;
    }
    BandsScreen #card.error {
        border: heavy $error;
        background: $error 15%;
    }
    BandsScreen #card.stop {
        border: heavy $error;
        background: $error 30%;
        color: $text;
    }
    BandsScreen #big {
        display: none;
        width: auto;
        margin: 1 0 0 2;
    }
    BandsScreen #transfers {
        height: 1fr;
        border: round $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.mode = INSPECT
        self.inspection: wristbands.BandInspection | None = None
        self.person: desk.AttendeeCard | None = None
        self._return_armed = 0.0

    def compose(self) -> ComposeResult:
        yield StationHeader()
        with Vertical(id="bands-body"):
            yield Static("", id="mode")
            yield Input(id="scan")
            with Horizontal(id="bands-main"):
                yield OptionList(id="results")
                with Vertical(id="right"):
                    yield Static(_("Tap a band to see whose it is."), id="card")
                    yield BigText(id="big")
                    table: DataTable[Text] = DataTable(
                        id="transfers", cursor_type="row", zebra_stripes=True
                    )
                    yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#transfers", DataTable)
        table.add_columns(_("Time"), _("Points"), _("For"), _("Station"))
        table.display = False
        self._set_mode(INSPECT)

    # -- modes --------------------------------------------------------------------------------

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        scan = self.query_one("#scan", Input)
        scan.clear()
        results = self.query_one("#results", OptionList)
        results.display = mode == FIND_PERSON
        if mode != FIND_PERSON:
            results.clear_options()
        line = self.query_one("#mode", Static)
        if mode == INSPECT:
            line.update(_("Inspect: tap a band.  ctrl+o replaces a lost band."))
            scan.placeholder = _("Tap a band — or type its UID and press Enter")
        elif mode == FIND_PERSON:
            line.update(_("Replace a lost band: find the person (Esc cancels)."))
            scan.placeholder = _("Type a name, e-mail, company or code")
        else:
            name = self.person.name if self.person else "?"
            line.update(
                _("Replace the band of {name}: tap the NEW band now (Esc cancels).").format(
                    name=name
                )
            )
            scan.placeholder = _("Tap the new band — or type its UID and press Enter")
        self._focus_scan()

    def action_inspect_mode(self) -> None:
        self.person = None
        self._set_mode(INSPECT)

    def action_replace(self) -> None:
        self.person = None
        self.inspection = None
        self._show_big("")
        self.query_one("#transfers", DataTable).display = False
        self._card(Text(_("Type the name of the person who lost their band.")), "")
        self._set_mode(FIND_PERSON)

    def action_to_results(self) -> None:
        results = self.query_one("#results", OptionList)
        if self.mode == FIND_PERSON and results.option_count:
            results.focus()
            if results.highlighted is None:
                results.highlighted = 0

    # -- the scan field -----------------------------------------------------------------------

    @on(Input.Changed, "#scan")
    def _typed(self, event: Input.Changed) -> None:
        if self.mode != FIND_PERSON:
            return
        text = event.value.strip()
        if text and parse_scan(text) is None:
            self.search(text)

    @work(thread=True, group="bands-search", exclusive=True, exit_on_error=False)
    def search(self, text: str) -> tuple[AttendeeHit, ...]:
        """Narrow the list of people (a newer key press replaces it)."""
        return search.search_attendees(station_app(self).store, text, limit=20)

    @on(Input.Submitted, "#scan")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.mode == FIND_PERSON:
            # As at the desk: the first match for exactly what was typed, never a list that may
            # still show an earlier key's results.
            self.open_first(text)
            return
        event.input.clear()
        if not station_app(self).scan_band(text):
            self._card(Text(_("“{text}” is not a band UID.").format(text=text)), "error")

    @on(OptionList.OptionSelected, "#results")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self._open_option(event.option.id)
        self._focus_scan()

    def _open_option(self, option_id: str | None) -> None:
        if option_id:
            self.open_attendee(int(option_id))

    @work(thread=True, group="bands-person", exclusive=True, exit_on_error=False)
    def open_first(self, text: str) -> desk.AttendeeCard:
        """The first person the search finds for ``text``."""
        found = desk.first_match(station_app(self).store, text)
        if found is None:
            raise LookupError(text)
        return found

    @work(thread=True, group="bands-person", exclusive=True, exit_on_error=False)
    def open_attendee(self, attendee_id: int) -> desk.AttendeeCard:
        """The person whose band is replaced."""
        return desk.attendee_card(station_app(self).store, attendee_id)

    # -- taps ---------------------------------------------------------------------------------

    def on_tap_detected(self, message: TapDetected) -> None:
        app = station_app(self)
        actor = app.actor(message.correlation_id)
        uid = message.uid
        if self.mode == TAP_NEW and self.person is not None:
            attendee = self.person.attendee_id
            self.run_op(
                actor.op_id, lambda: wristbands.replace_band(app.store, actor, attendee, uid)
            )
            return
        if self.mode == FIND_PERSON:
            self.action_inspect_mode()
        self.inspect(uid, message.correlation_id)

    @work(thread=True, group="bands-inspect", exclusive=True, exit_on_error=False)
    def inspect(
        self, uid: str, correlation_id: str = "", *, tapped: bool = True
    ) -> wristbands.BandInspection:
        """Everything about band ``uid``; a blocked or lost band tapped here is recorded
        (``tapped=False``: a refresh after this table changed the band, not a tap)."""
        app = station_app(self)
        found = wristbands.inspect_band(app.store, uid)
        if tapped and found.holder is not None and found.next_due_at is not None:
            # Pay in four: a tap here is the first operation after a due time too.
            collected = credit.collect(app.store, app.actor(), found.holder.attendee_id)
            if collected.paid or collected.overdue:
                found = wristbands.inspect_band(app.store, uid)
        if tapped and found.state in ("blocked", "lost"):
            wristbands.record_lost_band_attempt(app.store, app.actor(correlation_id or None), uid)
        return found

    @work(thread=True, group="bands-op", exit_on_error=False)
    def run_op(self, op_id: str, call: Callable[[], object]) -> object:
        """Run one store operation in a thread; the result is rendered by its type.

        While the database is away the same operation (same ``op_id``) is retried and the card
        says so; it lands once or ends in "not done" (see store.retry).
        """
        return run_write(self, op_id, call, self._waiting)

    def _waiting(self, text: str) -> None:
        """The database is away: say so on the card."""
        self._card(Text(text), "warn")

    # -- live -----------------------------------------------------------------------------------

    def on_data_changed(self, _message: DataChanged) -> None:
        """Something was committed somewhere: refresh the band on show (balance, state)."""
        if self.mode == INSPECT and self.inspection is not None:
            self.reinspect(self.inspection.uid)

    @work(thread=True, group="bands-live", exclusive=True, exit_on_error=False)
    def reinspect(self, uid: str) -> wristbands.BandInspection:
        """The band on show again, as the database has it now (no tap recorded, no flash)."""
        return wristbands.inspect_band(station_app(self).store, uid)

    # -- block, unblock, return -----------------------------------------------------------------

    def _inspected(self) -> wristbands.BandInspection | None:
        found = self.inspection
        if self.mode != INSPECT or found is None or found.state == "unbound":
            self.notify(_("Tap the band first."), severity="warning")
            return None
        return found

    def action_block(self) -> None:
        found = self._inspected()
        if found is None:
            return
        if found.state == "returned":
            self.notify(_("A returned band cannot be blocked."), severity="warning")
            return
        if found.state == "active":
            title = _("Block band {uid}: why?").format(uid=found.uid)
        else:
            title = _("Unblock band {uid}: why?").format(uid=found.uid)
        self.app.push_screen(ReasonScreen(title), lambda reason: self._blocked(found, reason))

    def _blocked(self, found: wristbands.BandInspection, reason: str | None) -> None:
        self._focus_scan()
        if reason is None:
            return
        app = station_app(self)
        actor = app.actor()
        uid = found.uid
        if found.state == "active":
            self.run_op(actor.op_id, lambda: block_band(app.store, actor, uid, reason))
        else:
            self.run_op(actor.op_id, lambda: unblock_band(app.store, actor, uid, reason))

    def action_return_band(self) -> None:
        found = self._inspected()
        if found is None:
            return
        # Twice within a few seconds: a returned band no longer works anywhere.
        now = time.monotonic()
        if now - self._return_armed > RETURN_CONFIRM_SECONDS:
            self._return_armed = now
            self.notify(
                _("Press ctrl+y again to take band {uid} back.").format(uid=found.uid),
                severity="warning",
            )
            return
        self._return_armed = 0.0
        app = station_app(self)
        actor = app.actor()
        uid = found.uid
        self.run_op(actor.op_id, lambda: wristbands.return_band(app.store, actor, uid))

    # -- rendering ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "bands-live":
            found = worker.result
            if (
                event.state == WorkerState.SUCCESS
                and isinstance(found, wristbands.BandInspection)
                and self.mode == INSPECT
                and self.inspection is not None
                and found.uid == self.inspection.uid
                and found != self.inspection
            ):
                self.show_inspection(found)
            return
        if event.state == WorkerState.ERROR:
            if worker.group == "bands-search":
                return
            self._focus_scan()
            if isinstance(worker.error, LookupError) and worker.group == "bands-person":
                what = worker.error.args[0] if worker.error.args else ""
                self._card(
                    Text(
                        _(
                            "Nobody found for “{text}”: check it, or search by name or e-mail."
                        ).format(text=what)
                    ),
                    "error",
                )
                return
            message = describe_error(worker.error)
            if self.mode == TAP_NEW:
                message += "\n" + _("Tap another band, or Esc to cancel.")
            self._show_big("")
            self._card(Text(message), "error")
            station_app(self).flash(False)
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = worker.result
        if worker.group != "bands-search":
            self._focus_scan()
        if worker.group == "bands-search" and isinstance(result, tuple):
            self._show_hits(result)
        elif isinstance(result, desk.AttendeeCard):
            self._person_found(result)
        elif isinstance(result, wristbands.BandInspection):
            self.show_inspection(result)
            station_app(self).flash(result.usable)
        elif isinstance(result, wristbands.ReplaceResult):
            self._replaced(result)
            station_app(self).flash(True)
        elif isinstance(result, BandState):
            self.notify(
                _("Band {uid} is now {state}.").format(
                    uid=result.uid, state=state_text(result.state)
                )
            )
            self.inspect(result.uid, tapped=False)
        elif isinstance(result, wristbands.ReturnResult):
            self.notify(_("Band {uid} returned.").format(uid=result.uid))
            self.inspect(result.uid, tapped=False)

    def _show_hits(self, hits: tuple[AttendeeHit, ...]) -> None:
        results = self.query_one("#results", OptionList)
        results.clear_options()
        for hit in hits:
            mark = "✓ " if hit.checked_in else "  "
            results.add_option(
                Option(f"{mark}{hit.name}  ·  {hit.company}", id=str(hit.attendee_id))
            )
        if hits:
            results.highlighted = 0

    def _person_found(self, card: desk.AttendeeCard) -> None:
        if self.mode != FIND_PERSON:
            return
        text = Text()
        text.append(f"{card.name}\n", style="bold")
        text.append(f"{card.company}  ·  {card.code}\n")
        if card.checked_in_at is None:
            text.append(_("Not checked in yet: send them to the registration desk."), style="bold")
            self._card(text, "warn")
            return
        if card.band_uid:
            text.append(
                _("Band {uid} · balance {balance}").format(uid=card.band_uid, balance=card.balance)
                + "\n"
            )
            text.append(
                _("Tap the NEW band: band {uid} will be blocked as lost.").format(
                    uid=card.band_uid
                ),
                style="bold",
            )
        else:
            text.append(_("No active band · balance {balance}").format(balance=card.balance) + "\n")
            text.append(_("Tap the NEW band."), style="bold")
        self.person = card
        self._card(text, "warn")
        self._set_mode(TAP_NEW)

    def show_inspection(self, found: wristbands.BandInspection) -> None:
        """Render everything about one band; a band no station takes is shown as a stop."""
        self.inspection = found
        self._return_armed = 0.0
        self._show_big("")
        text = Text()
        text.append(_("Band {uid}").format(uid=found.uid) + "   ", style="bold")
        text.append(state_text(found.state).upper() + "\n", style="bold")
        if found.state in ("blocked", "lost", "returned"):
            text.append(
                _("{reason} (at {time}, {station}, {staff})").format(
                    reason=found.state_reason or "—",
                    time=found.state_at_local or "?",
                    station=found.state_station or "?",
                    staff=found.state_staff or "?",
                )
                + "\n",
                style="bold",
            )
        if found.holder is None:
            text.append(_("Nobody has this band: it is bound at the registration desk."))
        else:
            text.append(f"{found.holder.name}", style="bold")
            text.append("  ·  " + _("invitation {code}").format(code=found.holder.code) + "\n")
            points = found.balance or 0
            text.append(
                ngettext("Balance: {points} point", "Balance: {points} points", points).format(
                    points=points
                )
                + "\n",
                style="bold",
            )
            if found.credit_note:
                text.append(found.credit_note + "\n", style="bold")
            if found.plans_note:
                text.append(found.plans_note + "\n")
            if found.coat is not None:
                text.append(
                    _("Coat check: {where} since {time}").format(
                        where=found.coat.label, time=found.coat.in_local
                    )
                    + "\n"
                )
            if found.other_bands:
                text.append(
                    _("Other bands: {bands}").format(
                        bands=", ".join(
                            f"{b.uid} ({state_text(b.state)})" for b in found.other_bands
                        )
                    )
                    + "\n"
                )
        style = (
            "stop"
            if found.state in ("blocked", "lost")
            else "warn"
            if not found.usable or found.credit_note
            else "ok"
        )
        self._card(text, style)
        table = self.query_one("#transfers", DataTable)
        table.clear()
        app = station_app(self)
        for line in found.transfers:
            table.add_row(
                Text(app.local_time(line.at, "%d.%m %H:%M")),
                Text(f"{line.amount:+d}", justify="right"),
                Text((line.label or line.code)[:50]),
                Text(line.station),
            )
        table.display = found.holder is not None

    def _replaced(self, result: wristbands.ReplaceResult) -> None:
        self.person = None
        self._set_mode(INSPECT)
        self.inspection = None
        self.query_one("#transfers", DataTable).display = False
        text = Text()
        text.append(_("Done ✓  {name}").format(name=result.name) + "\n", style="bold")
        text.append(
            _("New band {uid} · balance {balance}").format(
                uid=result.new_uid, balance=result.balance
            )
            + "\n",
            style="bold",
        )
        if result.old_was_blocked:
            text.append(_("Old band {uid} was already blocked.").format(uid=result.old_uid))
        else:
            text.append(
                _("Old band {uid} is blocked: {reason}").format(
                    uid=result.old_uid, reason=result.reason
                )
            )
        self._card(text, "ok")
        self._show_big("OK " + result.new_uid[-4:])

    def _show_big(self, text: str) -> None:
        big = self.query_one("#big", BigText)
        big.text = text
        big.display = bool(text)

    def _focus_scan(self) -> None:
        """The scan field takes the next scan or key, whatever was focused before."""
        if self.app.screen is self:
            self.query_one("#scan", Input).focus()

    def _card(self, text: Text, style: str) -> None:
        card = self.query_one("#card", Static)
        card.remove_class("ok", "warn", "error", "stop")
        if style:
            card.add_class(style)
        card.update(text)
