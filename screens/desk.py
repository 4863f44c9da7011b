"""The registration desk: scan the invitation, check in, hand the colour, bind the band.

The morning queue is one person every 15 seconds per desk, so nothing here makes the staff
member wait: every store call runs in a thread worker, the scan field keeps focus, and after a
band is bound the field is ready for the next person without a key press.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from hardware.uid import normalise_uid
from screens.station import describe_error
from screens.walk_in import WalkInScreen, field_text
from store import desk, search
from store.i18n import _, current_language, ngettext
from store.invites import parse_scan
from store.results import BandLookup
from store.search import AttendeeHit
from tui.bigtext import BigText
from tui.messages import DataChanged, TapDetected
from tui.protocols import station_app
from tui.retrying import run_write
from tui.widgets import StationHeader

__all__ = ["DeskScreen"]

log = logging.getLogger("tapdesk.ui")

#: Seconds within which a second ctrl+z confirms an undo.
UNDO_CONFIRM_SECONDS = 4.0


class DeskScreen(Screen[None]):
    """Find the person, check them in, show the colour, bind the band."""

    AUTO_FOCUS = "#scan"
    accepts_taps = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o,f5", "check_in", _("Check in")),
        Binding("ctrl+b,f6", "next_colour", _("Other colour")),
        Binding("ctrl+z,f8", "undo", _("Undo last check-in")),
        Binding("ctrl+n,f7", "walk_in", _("Walk-in")),
        Binding("escape", "next_person", _("Next person")),
        Binding("down", "to_results", _("To the list"), show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.card: desk.AttendeeCard | None = None
        self.checked_in: desk.CheckInResult | None = None
        self.colour_ids: tuple[str, ...] = ()
        self._undo_armed = 0.0

    def compose(self) -> ComposeResult:
        yield StationHeader()
        with Vertical(id="desk-body"):
            yield Input(
                placeholder=_("Scan the invitation, or type a name, e-mail, company or code"),
                id="scan",
            )
            with Horizontal(id="desk-main"):
                yield OptionList(id="results")
                yield Static(_("Scan an invitation or search for the person."), id="card")
            with Vertical(id="colour"):
                yield BigText(id="colour-name")
                yield Static("", id="colour-hint")
        yield Footer(compact=True)

    # -- finding the person -----------------------------------------------------------------

    @on(Input.Changed, "#scan")
    def _typed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        if not text or parse_scan(text) is not None or normalise_uid(text) is not None:
            return
        self.search(text)

    @work(thread=True, group="desk-search", exclusive=True, exit_on_error=False)
    def search(self, text: str) -> tuple[AttendeeHit, ...]:
        """Narrow the list (runs in a thread; a newer key press replaces it)."""
        return search.search_attendees(station_app(self).store, text, limit=20)

    @on(Input.Submitted, "#scan")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        code = parse_scan(text)
        if code is not None:
            event.input.clear()
            self.open_code(code)
            return
        if normalise_uid(text) is not None or (text[:1].isdigit() and len(text) == 10):
            # A band typed by a wedge reader (hex, or 10 decimal digits).
            event.input.clear()
            station_app(self).scan_band(text)
            return
        # Open the first person for exactly this text: the list on screen may still show the
        # results of an earlier key (a scanner or a fast typist is quicker than the search).
        self.open_first(text)

    @on(OptionList.OptionSelected, "#results")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self._open_option(event.option.id)
        self.query_one("#scan", Input).focus()

    def _open_option(self, option_id: str | None) -> None:
        if option_id:
            self.open_attendee(int(option_id))

    @work(thread=True, group="desk-card", exclusive=True, exit_on_error=False)
    def open_code(self, code: str) -> desk.AttendeeCard | None:
        """The attendee with invitation ``code`` (a scanned QR)."""
        found = desk.find_by_code(station_app(self).store, code)
        if found is None:
            raise LookupError(code)
        return found

    @work(thread=True, group="desk-card", exclusive=True, exit_on_error=False)
    def open_first(self, text: str) -> desk.AttendeeCard:
        """The first person the search finds for ``text`` (runs in a thread)."""
        found = desk.first_match(station_app(self).store, text)
        if found is None:
            raise LookupError(text)
        return found

    @work(thread=True, group="desk-card", exclusive=True, exit_on_error=False)
    def open_attendee(self, attendee_id: int) -> desk.AttendeeCard:
        """The attendee's card."""
        return desk.attendee_card(station_app(self).store, attendee_id)

    # -- actions ------------------------------------------------------------------------------

    def action_to_results(self) -> None:
        results = self.query_one("#results", OptionList)
        if results.option_count:
            results.focus()
            if results.highlighted is None:
                results.highlighted = 0

    def action_check_in(self) -> None:
        if self.card is None:
            self.notify(_("Find the person first."), severity="warning")
            return
        app = station_app(self)
        attendee = self.card_id()  # now, not when the thread runs: the card may change
        actor = app.actor()  # one operation id for this action, kept across retries
        self.run_op(actor.op_id, lambda: desk.check_in(app.store, actor, attendee))

    def action_next_colour(self) -> None:
        if self.checked_in is None or self.card is None:
            self.notify(_("Check the person in first."), severity="warning")
            return
        ids = self.checked_in.colours
        current = ids.index(self.checked_in.colour_id) if self.checked_in.colour_id in ids else -1
        colour = ids[(current + 1) % len(ids)]
        app = station_app(self)
        attendee = self.card_id()
        actor = app.actor()
        self.run_op(actor.op_id, lambda: desk.override_colour(app.store, actor, attendee, colour))

    def action_undo(self) -> None:
        # Twice within a few seconds: an undo takes back a check-in, a band and points.
        now = time.monotonic()
        if now - self._undo_armed > UNDO_CONFIRM_SECONDS:
            self._undo_armed = now
            self.notify(
                _("Press ctrl+z again to undo this desk's last check-in."), severity="warning"
            )
            return
        self._undo_armed = 0.0
        app = station_app(self)
        actor = app.actor()
        self.run_op(actor.op_id, lambda: desk.undo_last_check_in(app.store, actor))

    def action_walk_in(self) -> None:
        self.app.push_screen(WalkInScreen(), self._walked_in)

    def _walked_in(self, attendee_id: int | None) -> None:
        if attendee_id is not None:
            self.open_attendee(attendee_id)

    def action_next_person(self) -> None:
        self.card = None
        self.checked_in = None
        self._show_colour(False)
        scan = self.query_one("#scan", Input)
        scan.clear()
        scan.focus()
        self.query_one("#results", OptionList).clear_options()
        self._card(Text(_("Scan an invitation or search for the person.")), "")

    def card_id(self) -> int:
        assert self.card is not None
        return self.card.attendee_id

    def on_tap_detected(self, message: TapDetected) -> None:
        app = station_app(self)
        if self.checked_in is not None and self.card is not None:
            uid, attendee = message.uid, self.card_id()
            actor = app.actor(message.correlation_id)
            self.run_op(actor.op_id, lambda: desk.bind_band(app.store, actor, attendee, uid))
        else:
            actor = app.actor(message.correlation_id)
            self.run_op(actor.op_id, lambda: app.store.identify_band(actor, message.uid))

    @work(thread=True, group="desk-op", exit_on_error=False)
    def run_op(self, op_id: str, call: Callable[[], object]) -> object:
        """Run one store operation in a thread; the result is rendered by its type.

        While the database is away the same operation (same ``op_id``) is retried and the
        card says so; it lands once or ends in "not done" (see store.retry).
        """
        return run_write(self, op_id, call, self._waiting)

    def _waiting(self, text: str) -> None:
        """The database is away: say so where the result will appear."""
        if self.checked_in is not None:
            self.query_one("#colour-hint", Static).update(text)
            return
        card = self.query_one("#card", Static)
        card.remove_class("ok", "error", "stop")
        card.add_class("warn")
        card.update(text)

    # -- live -----------------------------------------------------------------------------------

    def on_data_changed(self, _message: DataChanged) -> None:
        """Another station (or this one) committed something: refresh the open card.

        Only a card on its own (not while the colour shows, or a band is being bound): it may
        have been checked in at another desk meanwhile.
        """
        if self.card is not None and self.checked_in is None:
            self.reload_card(self.card.attendee_id)

    @work(thread=True, group="desk-live", exclusive=True, exit_on_error=False)
    def reload_card(self, attendee_id: int) -> desk.AttendeeCard:
        """The open card again, as the database has it now."""
        return desk.attendee_card(station_app(self).store, attendee_id)

    # -- rendering ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "desk-live":
            result = worker.result
            if (
                event.state == WorkerState.SUCCESS
                and isinstance(result, desk.AttendeeCard)
                and self.card is not None
                and self.checked_in is None
                and result.attendee_id == self.card.attendee_id
                and result != self.card
            ):
                self.show_card(result)
            return
        if event.state == WorkerState.ERROR:
            if worker.group == "desk-search":
                return
            if isinstance(worker.error, LookupError) and worker.group == "desk-card":
                what = worker.error.args[0] if worker.error.args else ""
                self._card(
                    Text(
                        _(
                            "Nobody found for “{text}”: check it, or search by name or e-mail."
                        ).format(text=what)
                    ),
                    "error",
                )
                self._focus_scan()
                return
            if self.checked_in is not None and worker.group == "desk-op":
                # A refused band while the colour shows: keep the colour, say why, and wait for
                # another band.
                self.query_one("#colour-hint", Static).update(
                    describe_error(worker.error)
                    + "\n"
                    + _("Tap another band, or Esc for the next person.")
                )
                station_app(self).flash(False)
                self._focus_scan()
                return
            self._card(Text(describe_error(worker.error)), "error")
            station_app(self).flash(False)
            self._focus_scan()
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = worker.result
        if worker.group != "desk-search":
            self._focus_scan()
        if worker.group == "desk-search" and isinstance(result, tuple):
            self._show_hits(result)
        elif worker.group == "desk-card":
            if isinstance(result, desk.AttendeeCard):
                self.show_card(result)
        elif isinstance(result, desk.CheckInResult):
            self.checked_in = result
            self._show_checked_in(result)
        elif isinstance(result, desk.BindResult):
            self._bound(result)
            station_app(self).flash(True)
        elif isinstance(result, desk.UndoResult):
            self.action_next_person()
            self._card(Text(result.message), "warn")
        elif isinstance(result, BandLookup):
            warn = result.state != "active" or result.paused
            self._card(Text(_band_line(result)), "warn" if warn else "")

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

    def show_card(self, card: desk.AttendeeCard) -> None:
        """Show the person: who, where from, points waiting, and the check-in state."""
        self.card = card
        self.checked_in = None
        self._show_colour(False)
        text = Text()
        text.append(f"{card.name}\n", style="bold")
        text.append(f"{card.company}  ·  {field_text(card.field)}\n")
        if card.tags:
            text.append(_("Interests: {tags}").format(tags=", ".join(card.tags)) + "\n")
        text.append(_("Registered via: {via}").format(via=card.registered_via or "—") + "\n")
        text.append(
            _("Invitation {code} · {email}").format(code=card.code, email=card.email or "—") + "\n"
        )
        text.append(
            ngettext(
                "Pre-event points waiting: {points}",
                "Pre-event points waiting: {points}",
                card.pending_points,
            ).format(points=card.pending_points)
            + "\n"
        )
        style = ""
        if card.checked_in_at is not None:
            style = "stop"
            text.append(
                "\n"
                + _("ALREADY CHECKED IN at {time} at {station} by {staff}").format(
                    time=card.checked_in_local or "?",
                    station=card.checked_in_station or "?",
                    staff=card.checked_in_staff or "?",
                ),
                style="bold",
            )
            if card.band_uid:
                text.append(
                    "\n"
                    + _("Band {uid} · balance {balance}").format(
                        uid=card.band_uid, balance=card.balance
                    )
                )
        else:
            text.append("\n" + _("Not checked in yet — ctrl+o checks in."), style="bold")
        self._card(text, style)

    def _show_checked_in(self, result: desk.CheckInResult) -> None:
        # The field is for the band now (a wedge reader types into it).
        self.query_one("#scan", Input).clear()
        self._show_colour(True, result)

    def _show_colour(self, visible: bool, result: desk.CheckInResult | None = None) -> None:
        panel = self.query_one("#colour", Vertical)
        main = self.query_one("#desk-main", Horizontal)
        panel.display = visible
        main.display = not visible
        if visible and result is not None:
            panel.styles.background = result.colour_hex
            colour = result.colour_name
            if current_language() == "ru" and result.colour_name_ru:
                colour = result.colour_name_ru
            self.query_one("#colour-name", BigText).text = colour
            self.query_one("#colour-hint", Static).update(
                _("{name}: colour {colour} — hand out a band and tap it now.").format(
                    name=result.name, colour=colour
                )
                + "  "
                + _("ctrl+b: other colour")
            )

    def _bound(self, result: desk.BindResult) -> None:
        self._show_colour(False)
        self.checked_in = None
        self.card = None
        text = Text()
        text.append(_("Done ✓  {name}").format(name=result.name) + "\n", style="bold")
        text.append(
            _("Band {uid} · balance {balance}").format(uid=result.uid, balance=result.balance)
        )
        if result.points_posted:
            text.append(
                "\n" + _("Pre-event points added: {points}").format(points=result.points_posted)
            )
        self._card(text, "ok")
        scan = self.query_one("#scan", Input)
        scan.clear()
        scan.focus()
        self.query_one("#results", OptionList).clear_options()

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
        main = self.query_one("#desk-main", Horizontal)
        if not main.display and style in ("error", "ok", "warn"):
            # An error while the colour shows (a refused bind): put the card back in view.
            self._show_colour(False)


def _band_line(found: BandLookup) -> str:
    if found.state == "unbound":
        return _("Band {uid} is not bound. Find the person first, check them in, then tap.").format(
            uid=found.uid
        )
    line = _("Band {uid} belongs to {name}.").format(uid=found.uid, name=found.name or "?")
    return f"{line} {found.credit_note}" if found.credit_note else line
