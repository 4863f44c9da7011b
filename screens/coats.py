"""The coat check: a tap hands out a hanger or finds the coat; one key confirms it went back.

A band tap with no coat in takes the next free hanger (its number shown huge); a tap with a coat
in shows that coat's hanger, and ctrl+o confirms it was handed back. The scan field also finds
coats by name, invitation, hanger ("A-17") or paper tag; a coat found without the band (a lost
band) is handed over only after an ID check confirmed by a key. ctrl+n switches to paper tags
when the reader, the laptop or the racks fail; ctrl+b marks a rack out of service (or back);
ctrl+y reconciles a file of paper tags. Occupancy per rack is always on screen and refreshes
whenever anything commits anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from screens.bands import ReasonScreen
from screens.station import describe_error
from store import coats
from store.coats import CoatPerson, CoatTicket, Occupancy, RackState, ReconcileReport
from store.i18n import _, ngettext
from tui.bigtext import BigText
from tui.messages import DataChanged, TapDetected
from tui.protocols import station_app
from tui.widgets import StationHeader

__all__ = ["CoatsScreen", "IdCheckScreen", "RackPickScreen", "ReconcileScreen"]

#: The scan field takes taps and searches; in this state it waits for a paper tag number.
SCAN = "scan"
PAPER_TAG = "paper-tag"


class IdCheckScreen(ModalScreen[bool]):
    """Confirm that the person's ID was checked before a coat goes out without its band."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o,enter", "confirm", _("ID checked: hand over")),
        Binding("escape", "cancel", _("Cancel")),
    ]
    DEFAULT_CSS = """
    IdCheckScreen {
        align: center middle;
    }
    IdCheckScreen #id-box {
        width: 72;
        height: auto;
        border: heavy $warning;
        background: $surface;
        padding: 1 2;
    }
    """

    def __init__(self, ticket: CoatTicket) -> None:
        super().__init__()
        self.ticket = ticket

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(_("No band: check the ID first") + "\n\n", style="bold")
        text.append(
            _("Ask for a photo ID and check that it says {name}.").format(name=self.ticket.name)
            + "\n"
        )
        text.append(
            _("Coat: {where} (invitation {code}).").format(
                where=self.ticket.label, code=self.ticket.code
            )
            + "\n\n"
        )
        text.append(
            _("ctrl+o or Enter: the ID matches, hand the coat over (recorded with your name).")
            + "\n"
        )
        text.append(_("Esc: cancel."))
        with Vertical(id="id-box"):
            yield Static(text)

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class RackPickScreen(ModalScreen[str | None]):
    """Choose the rack to mark out of service (or back in service)."""

    AUTO_FOCUS = "#racks-pick"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", _("Cancel"))]
    DEFAULT_CSS = """
    RackPickScreen {
        align: center middle;
    }
    RackPickScreen #rack-box {
        width: 80;
        height: auto;
        border: round $accent;
        background: $surface;
        padding: 0 1 1 1;
    }
    RackPickScreen #racks-pick {
        height: auto;
        max-height: 14;
    }
    """

    def __init__(self, state: Occupancy) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        options = []
        for rack in self.state.racks:
            if rack.out_of_service:
                what = _("OUT OF SERVICE — Enter puts it back in service")
            else:
                what = _("in service — Enter marks it out of service")
            options.append(
                Option(f"{rack.name}  {rack.held}/{rack.capacity}  ·  {what}", id=rack.rack_id)
            )
        with Vertical(id="rack-box"):
            yield Static(_("Which rack? (its coats stay findable by band, name or hanger)"))
            yield OptionList(*options, id="racks-pick")
            yield Static(_("Enter chooses; Esc cancels."), classes="hint")

    @on(OptionList.OptionSelected, "#racks-pick")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReconcileScreen(ModalScreen[str | None]):
    """Ask for the reconciliation CSV's path."""

    AUTO_FOCUS = "#reconcile-path"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", _("Cancel"))]
    DEFAULT_CSS = """
    ReconcileScreen {
        align: center middle;
    }
    ReconcileScreen #reconcile-box {
        width: 90;
        height: auto;
        border: round $accent;
        background: $surface;
        padding: 0 1 1 1;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="reconcile-box"):
            yield Static(
                _(
                    "Reconcile paper tags: a CSV with the columns paper tag, attendee code or "
                    "e-mail, hanger (e.g. “Rack A 17”) or “collected”."
                )
            )
            yield Input(placeholder=_("Path of the CSV file"), id="reconcile-path")
            yield Static(
                _("Enter applies it (a row done before is skipped); Esc cancels."),
                id="reconcile-hint",
                classes="hint",
            )

    @on(Input.Submitted, "#reconcile-path")
    def _submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        if not Path(path).expanduser().is_file():
            self.query_one("#reconcile-hint", Static).update(
                _("There is no file {path}: check the path.").format(path=path)
            )
            return
        self.dismiss(str(Path(path).expanduser()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class CoatsScreen(Screen[None]):
    """Hand coats in and out by band; find them by name, hanger or paper tag; paper mode."""

    AUTO_FOCUS = "#scan"
    accepts_taps = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o,f5", "hand_back", _("Coat handed back")),
        Binding("ctrl+n,f7", "paper_mode", _("Paper mode on/off")),
        Binding("ctrl+b,f6", "rack_service", _("Rack out / back in service")),
        Binding("ctrl+y,f8", "reconcile", _("Reconcile paper tags")),
        Binding("escape", "clear", _("Clear")),
        Binding("down", "to_results", _("To the list"), show=False),
    ]
    DEFAULT_CSS = """
    CoatsScreen #coats-body {
        padding: 0 1;
    }
    CoatsScreen #mode {
        margin: 1 1 0 1;
        height: auto;
        text-style: bold;
    }
    CoatsScreen #mode.paper {
        background: $warning;
        color: $background;
        padding: 0 1;
        text-style: bold;
    }
    CoatsScreen #scan {
        margin: 1 1 0 1;
    }
    CoatsScreen #coats-main {
        height: 1fr;
        margin: 1 1 0 1;
    }
    CoatsScreen #results {
        display: none;
        width: 50;
        height: 1fr;
        border: round $panel;
    }
    CoatsScreen #right {
        width: 1fr;
        height: 1fr;
    }
    CoatsScreen #card {
        height: auto;
        max-height: 14;
        padding: 0 2;
        border: round $panel;
    }
    CoatsScreen #card.ok {
        border: heavy $success;
        background: $success 20%;
    }
    CoatsScreen #card.held {
        border: heavy $accent;
        background: $accent 15%;
    }
    CoatsScreen #card.warn {
        border: round $warning;
        background: $warning 10%;
    }
    CoatsScreen #card.error {
        border: heavy $error;
        background: $error 15%;
    }
    CoatsScreen #big {
        display: none;
        width: auto;
        margin: 1 0 0 2;
    }
    CoatsScreen #racks {
        height: auto;
        max-height: 10;
        margin: 0 1;
        padding: 0 1;
        border: round $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.paper = False
        self.input_mode = SCAN
        self.ticket: CoatTicket | None = None
        #: How the shown coat's owner proved it is theirs: ("band", uid), ("paper", tag) or None.
        self.proof: tuple[str, str] | None = None
        #: The person a coat is being taken in for (found by name, or a band tap in paper mode).
        self.person: CoatPerson | None = None
        self.state: Occupancy | None = None
        self._options_tickets: list[CoatTicket] = []
        self._options_people: list[CoatPerson] = []

    def compose(self) -> ComposeResult:
        yield StationHeader()
        with Vertical(id="coats-body"):
            yield Static("", id="mode")
            yield Input(id="scan")
            with Horizontal(id="coats-main"):
                yield OptionList(id="results")
                with Vertical(id="right"):
                    yield Static(
                        _("Tap a band: a coat in gets a hanger, a coat out is found."), id="card"
                    )
                    yield BigText(id="big")
            yield Static("", id="racks")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show_mode()
        self.load_occupancy()

    # -- modes --------------------------------------------------------------------------------

    def _show_mode(self) -> None:
        line = self.query_one("#mode", Static)
        scan = self.query_one("#scan", Input)
        line.set_class(self.paper, "paper")
        if self.input_mode == PAPER_TAG and self.person is not None:
            line.update(
                _("PAPER MODE — type the paper tag number for {name} and press Enter.").format(
                    name=self.person.name
                )
            )
            scan.placeholder = _("Paper tag number (Esc cancels)")
        elif self.paper:
            line.update(
                _(
                    "PAPER MODE — tap a band or type a name / invitation, then the paper tag "
                    "number. Type a tag number to find a coat. ctrl+n: back to hangers."
                )
            )
            scan.placeholder = _("Tap a band — or type a name, invitation or paper tag number")
        else:
            line.update(
                _("Tap a band: no coat → a hanger; a coat → its hanger, ctrl+o when handed back.")
            )
            scan.placeholder = _(
                "Tap a band — or type a name, invitation, hanger (A-17) or paper tag"
            )
        self._focus_scan()

    def action_paper_mode(self) -> None:
        self.paper = not self.paper
        self.input_mode = SCAN
        self.person = None
        app = station_app(self)
        actor = app.actor()
        on_now = self.paper
        self.run_op(lambda: coats.record_paper_mode(app.store, actor, on_now))
        self.ticket = None
        self.proof = None
        self._show_big("")
        self._hide_results()
        self._card(Text(self._idle_text()), "")
        self.notify(
            _("Paper mode ON: write a paper tag for each coat.")
            if self.paper
            else _("Paper mode OFF: coats get hangers again. Reconcile the paper tags (ctrl+y).")
        )
        self._show_mode()

    def _idle_text(self) -> str:
        if self.paper:
            return _(
                "Paper mode: tap a band or find the person, write a paper tag, type its number."
            )
        return _("Tap a band: a coat in gets a hanger, a coat out is found.")

    def action_clear(self) -> None:
        self.input_mode = SCAN
        self.person = None
        self.ticket = None
        self.proof = None
        self._show_big("")
        self._hide_results()
        self._card(Text(self._idle_text()), "")
        self.query_one("#scan", Input).clear()
        self._show_mode()

    def action_to_results(self) -> None:
        results = self.query_one("#results", OptionList)
        if results.display and results.option_count:
            results.focus()
            if results.highlighted is None:
                results.highlighted = 0

    # -- taps and the scan field --------------------------------------------------------------

    def on_tap_detected(self, message: TapDetected) -> None:
        app = station_app(self)
        uid = message.uid
        self._hide_results()
        if self.paper:
            self.input_mode = SCAN
            self.person = None
            self.run_op(lambda: ("band", uid, coats.whose_band(app.store, uid)))
            return
        actor = app.actor(message.correlation_id)
        self.run_op(lambda: ("band", uid, coats.coat_tap(app.store, actor, uid)))

    @on(Input.Submitted, "#scan")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.clear()
        app = station_app(self)
        if self.input_mode == PAPER_TAG and self.person is not None:
            attendee = self.person.attendee_id
            actor = app.actor()
            self.run_op(lambda: ("paper", text, coats.paper_in(app.store, actor, attendee, text)))
            return
        if app.scan_band(text):
            return
        self.find(text)

    @work(thread=True, group="coats-find", exclusive=True, exit_on_error=False)
    def find(self, text: str) -> tuple[str, tuple[CoatTicket, ...], tuple[CoatPerson, ...]]:
        """Coats (and people without one) for what was typed."""
        store = station_app(self).store
        found = coats.find_coats(store, text)
        people: tuple[CoatPerson, ...] = ()
        if not any(t.state == "in" for t in found):
            people = coats.people_without_coat(store, text)
        return text, found, people

    @on(OptionList.OptionSelected, "#results")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        option = event.option.id or ""
        kind, _sep, value = option.partition(":")
        self._hide_results()
        if kind == "coat":
            self._show_ticket(self._options_tickets[int(value)], None)
        elif kind == "person":
            self._person_chosen(self._options_people[int(value)])
        self._focus_scan()

    def _person_chosen(self, person: CoatPerson) -> None:
        if person.coat is not None:
            self._show_ticket(person.coat, None)
            return
        if self.paper:
            self.person = person
            self.input_mode = PAPER_TAG
            self._card(
                Text(
                    _("{name}: write a paper tag, then type its number.").format(name=person.name)
                ),
                "warn",
            )
            self._show_big("")
            self._show_mode()
            return
        app = station_app(self)
        actor = app.actor()
        attendee = person.attendee_id
        self.run_op(lambda: ("", "", coats.coat_in_for(app.store, actor, attendee)))

    # -- hand back ----------------------------------------------------------------------------

    def action_hand_back(self) -> None:
        ticket = self.ticket
        if ticket is None or ticket.state != "in":
            self.notify(_("Tap the band (or find the coat) first."), severity="warning")
            return
        app = station_app(self)
        actor = app.actor()
        coat_id = ticket.coat_id
        if self.proof is not None and self.proof[0] == "band":
            uid = self.proof[1]
            self.run_op(
                lambda: ("band", uid, coats.coat_out(app.store, actor, coat_id, band_uid=uid))
            )
            return
        if self.proof is not None and self.proof[0] == "paper":
            tag = self.proof[1]
            self.run_op(
                lambda: ("paper", tag, coats.coat_out(app.store, actor, coat_id, paper_tag=tag))
            )
            return
        self.app.push_screen(IdCheckScreen(ticket), lambda ok: self._id_checked(ticket, ok))

    def _id_checked(self, ticket: CoatTicket, ok: bool | None) -> None:
        self._focus_scan()
        if not ok:
            self.notify(_("Not handed over."), severity="warning")
            return
        app = station_app(self)
        actor = app.actor()
        coat_id = ticket.coat_id
        self.run_op(lambda: ("", "", coats.coat_out(app.store, actor, coat_id, id_checked=True)))

    # -- racks and reconciliation --------------------------------------------------------------

    def action_rack_service(self) -> None:
        if self.state is None or not self.state.racks:
            self.notify(_("No racks in the event file."), severity="warning")
            return
        state = self.state
        self.app.push_screen(RackPickScreen(state), lambda rack: self._rack_picked(state, rack))

    def _rack_picked(self, state: Occupancy, rack_id: str | None) -> None:
        self._focus_scan()
        rack = next((r for r in state.racks if r.rack_id == rack_id), None)
        if rack is None:
            return
        if rack.out_of_service:
            title = _("Put {rack} back in service: why?").format(rack=rack.name)
        else:
            title = _("{rack} out of service: why? (e.g. it collapsed)").format(rack=rack.name)
        out = not rack.out_of_service
        self.app.push_screen(
            ReasonScreen(title), lambda reason: self._rack_reason(rack.rack_id, out, reason)
        )

    def _rack_reason(self, rack_id: str, out: bool, reason: str | None) -> None:
        self._focus_scan()
        if reason is None:
            return
        app = station_app(self)
        actor = app.actor()
        if out:
            self.run_op(lambda: coats.rack_out_of_service(app.store, actor, rack_id, reason))
        else:
            self.run_op(lambda: coats.rack_back_in_service(app.store, actor, rack_id, reason))

    def action_reconcile(self) -> None:
        self.app.push_screen(ReconcileScreen(), self._reconcile_file)

    def _reconcile_file(self, path: str | None) -> None:
        self._focus_scan()
        if path is None:
            return
        app = station_app(self)
        actor = app.actor()
        self.run_op(lambda: coats.reconcile_file(app.store, actor, Path(path)))

    # -- workers ------------------------------------------------------------------------------

    @work(thread=True, group="coats-op", exit_on_error=False)
    def run_op(self, call: Callable[[], object]) -> object:
        """Run one store operation in a thread; the result is rendered by its type."""
        return call()

    @work(thread=True, group="coats-occupancy", exclusive=True, exit_on_error=False)
    def load_occupancy(self) -> Occupancy:
        """How full every rack is (runs in a thread)."""
        return coats.occupancy(station_app(self).store)

    def on_data_changed(self, _message: DataChanged) -> None:
        self.load_occupancy()

    # -- rendering ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR:
            if worker.group == "coats-occupancy":
                self.query_one("#racks", Static).update(describe_error(worker.error))
                return
            self._show_big("")
            self._card(Text(describe_error(worker.error)), "error")
            station_app(self).flash(False)
            self._focus_scan()
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = worker.result
        if worker.group == "coats-occupancy" and isinstance(result, Occupancy):
            self._show_occupancy(result)
            return
        if worker.group == "coats-find" and isinstance(result, tuple):
            self._show_found(*result)
            return
        if worker.group != "coats-op":
            return
        self._focus_scan()
        if isinstance(result, tuple) and len(result) == 3:
            how, value, payload = result
            if isinstance(payload, CoatTicket):
                proof = (how, value) if how in ("band", "paper") else None
                self._show_ticket(payload, proof)
                station_app(self).flash(True)
            elif isinstance(payload, CoatPerson):
                self._band_person(value, payload)
        elif isinstance(result, RackState):
            if result.out_of_service:
                self.notify(
                    _(
                        "{rack} is out of service: new coats go to the next rack; its {n} coats "
                        "are still found by band, name or hanger."
                    ).format(rack=result.name, n=result.held),
                    severity="warning",
                    timeout=8,
                )
            else:
                self.notify(_("{rack} is back in service.").format(rack=result.name))
        elif isinstance(result, ReconcileReport):
            self._show_reconcile(result)
        self.load_occupancy()

    def _band_person(self, uid: str, person: CoatPerson) -> None:
        """Paper mode: a band tapped; show their coat, or ask for the paper tag."""
        if person.coat is not None:
            self._show_ticket(person.coat, ("band", uid))
            return
        self.person = person
        self.input_mode = PAPER_TAG
        self.ticket = None
        self._show_big("")
        self._card(
            Text(_("{name}: write a paper tag, then type its number.").format(name=person.name)),
            "warn",
        )
        self._show_mode()

    def _show_found(
        self, text: str, found: tuple[CoatTicket, ...], people: tuple[CoatPerson, ...]
    ) -> None:
        held = [t for t in found if t.state == "in"]
        if len(held) == 1 and not people:
            proof = ("paper", held[0].paper_tag) if held[0].paper_tag == text.upper() else None
            self._show_ticket(held[0], proof if proof and proof[1] else None)
            return
        if not found and not people:
            self._hide_results()
            self._card(
                Text(
                    _(
                        "Nothing found for “{text}”: try the name, the invitation code, the "
                        "hanger (A-17) or the paper tag number."
                    ).format(text=text)
                ),
                "error",
            )
            return
        results = self.query_one("#results", OptionList)
        results.clear_options()
        # A person listed to take a coat in is listed once, with when their last coat went.
        listed = {p.attendee_id for p in people}
        last = {t.attendee_id: t for t in found if t.state != "in"}
        found = tuple(t for t in found if t.attendee_id not in listed)
        self._options_tickets = list(found)
        self._options_people = list(people)
        for n, ticket in enumerate(found):
            if ticket.state == "in":
                where = ticket.label
            else:
                where = _("handed back {time}").format(time=ticket.out_local or "?")
            results.add_option(Option(f"{ticket.name}  ·  {where}", id=f"coat:{n}"))
        for n, person in enumerate(people):
            gone = last.get(person.attendee_id)
            if gone is not None:
                what = _("coat handed back {time} — Enter takes a new one").format(
                    time=gone.out_local or "?"
                )
                results.add_option(Option(f"{person.name}  ·  {what}", id=f"person:{n}"))
                continue
            what = _("no coat — Enter: paper tag") if self.paper else _("no coat — Enter takes one")
            results.add_option(Option(f"{person.name}  ·  {what}", id=f"person:{n}"))
        results.display = True
        results.highlighted = 0
        self._card(Text(_("Choose from the list (↓ then Enter).")), "")
        self._show_big("")

    def _show_ticket(self, ticket: CoatTicket, proof: tuple[str, str] | None) -> None:
        self.ticket = ticket
        self.proof = proof
        self.person = None
        self.input_mode = SCAN
        self._show_mode()
        text = Text()
        text.append(f"{ticket.name}", style="bold")
        text.append("  ·  " + _("invitation {code}").format(code=ticket.code) + "\n")
        style = "ok"
        if ticket.action == "in":
            text.append(_("HANG IT ON {where}").format(where=ticket.label) + "\n", style="bold")
        elif ticket.action == "paper_in":
            text.append(
                _("Paper tag {tag}: pin it on the coat, give the stub.").format(
                    tag=ticket.paper_tag
                )
                + "\n",
                style="bold",
            )
        elif ticket.action == "out":
            text.append(
                _("Handed back ✓  {where} is free.").format(where=ticket.label) + "\n", style="bold"
            )
            if ticket.out_id_checked:
                text.append(
                    _("ID checked by {staff}.").format(staff=ticket.out_staff or "?") + "\n"
                )
        elif ticket.state == "in":
            style = "held"
            text.append(
                _("COAT IN on {where} since {time}").format(
                    where=ticket.label, time=ticket.in_local
                )
                + "\n",
                style="bold",
            )
            if self.proof is None:
                text.append(
                    _("Found without their band: tap it, or ctrl+o hands over after an ID check.")
                    + "\n"
                )
            else:
                text.append(_("Bring the coat, then ctrl+o: handed back.") + "\n")
        else:
            style = "warn"
            text.append(
                _("Handed back at {time} ({station}).").format(
                    time=ticket.out_local or "?", station=ticket.out_station or "?"
                )
                + "\n",
                style="bold",
            )
        if ticket.rack_out_of_service and ticket.state == "in":
            text.append(_("This rack is out of service: the coat is still there.") + "\n")
        if ticket.note:
            text.append(ticket.note + "\n", style="bold")
        if ticket.credit_note:
            text.append(ticket.credit_note + "\n", style="bold")
            style = "warn" if style == "ok" else style
        self._card(text, style)
        self._show_big(ticket.big if ticket.state == "in" else "")

    def _show_reconcile(self, report: ReconcileReport) -> None:
        text = Text()
        text.append(report.summary() + "\n", style="bold")
        for line in report.lines[-10:]:
            text.append(line.message + "\n", style="bold red" if line.outcome == "error" else "")
        self._card(text, "error" if report.count("error") else "ok")
        self._show_big("")

    def _show_occupancy(self, state: Occupancy) -> None:
        self.state = state
        text = Text(no_wrap=True, overflow="ellipsis")
        if not state.racks:
            text.append(
                _("No coat racks in the event file: use paper tags (ctrl+n)."), style="bold"
            )
        for rack in state.racks:
            width = 20
            filled = min(width, rack.held * width // max(rack.capacity, 1))
            bar = "█" * filled + "░" * (width - filled)
            colour = (
                "red" if rack.full or rack.out_of_service else "yellow" if rack.warn else "green"
            )
            text.append(f"{rack.name:<12} ", style="bold")
            text.append(bar, style=colour)
            text.append(f" {rack.held:>4}/{rack.capacity:<4} {rack.percent:>3} %  ")
            if rack.out_of_service:
                text.append(
                    _("OUT OF SERVICE since {time}: {reason}").format(
                        time=rack.out_of_service_local or "?", reason=rack.out_of_service_reason
                    ),
                    style="bold red",
                )
            elif not rack.active:
                text.append(_("no longer in the event file"), style="yellow")
            elif rack.full:
                text.append(_("FULL"), style="bold red")
            elif rack.warn:
                text.append(_("almost full (90 %)"), style="bold yellow")
            if rack.rack_id == state.filling:
                text.append("  ← " + _("filling now"), style="bold")
            text.append("\n")
        if state.racks and state.filling is None:
            text.append(_("No rack has room: use paper tags (ctrl+n).") + "\n", style="bold red")
        if state.paper_held:
            text.append(
                ngettext(
                    "{n} coat on a paper tag only: reconcile it (ctrl+y).",
                    "{n} coats on paper tags only: reconcile them (ctrl+y).",
                    state.paper_held,
                ).format(n=state.paper_held),
                style="bold yellow",
            )
        text.rstrip()
        self.query_one("#racks", Static).update(text)

    def _hide_results(self) -> None:
        results = self.query_one("#results", OptionList)
        results.display = False
        results.clear_options()

    def _show_big(self, text: str) -> None:
        big = self.query_one("#big", BigText)
        big.text = text
        big.display = bool(text)

    def _focus_scan(self) -> None:
        if self.app.screen is self:
            self.query_one("#scan", Input).focus()

    def _card(self, text: Text, style: str) -> None:
        text.rstrip()
        card = self.query_one("#card", Static)
        card.remove_class("ok", "held", "warn", "error")
        if style:
            card.add_class(style)
        card.update(text)
