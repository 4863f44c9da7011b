"""The prize counter: tap, see the balance and what it buys, hand the prize over.

A tap shows the attendee, their balance and the catalogue in tiers: what they can afford stands
out, the rest says how many points are missing, sold-out prizes and prizes the attendee already
has as many of as one person may take are shown but cannot be chosen. The arrows (or a number
typed in the scan field and Enter, or the digit keys in the list) choose a prize; ctrl+o hands it
over in one operation. A live drop's unit is first held for a minute (ctrl+o), then confirmed
(ctrl+o again); Esc lets the hold go. ctrl+z (twice) takes back the prize chosen in the
attendee's recent prizes. Stock follows the other counters by itself (the App's change poll);
the drop panel counts down every second from the last database time read.

Organisers also start a drop (ctrl+n) and close the chosen one (ctrl+y, twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from screens.credit import PayInFourScreen
from screens.lookup import LookupScreen
from screens.station import describe_error
from store import counter, credit
from store.errors import Refused
from store.i18n import _, ngettext
from store.wristbands import record_lost_band_attempt
from tui.bigtext import BigText
from tui.messages import DataChanged, TapDetected
from tui.protocols import station_app
from tui.widgets import StationHeader

__all__ = ["CounterScreen", "DropRequest", "DropStartScreen", "PrizeList", "clock_text"]

#: Seconds within which a second ctrl+z (return) or ctrl+y (close a drop) confirms.
CONFIRM_SECONDS = 4.0
#: The attendee shown is forgotten after this long without a tap or an action (the next person
#: in the queue must tap before anything is handed over on the previous one's points).
IDLE_SECONDS = 90.0
#: The pay-in-four marker after a prize's name.
PAY_IN_FOUR_MARK = "4×"


def clock_text(seconds: float) -> str:
    """Seconds as m:ss (never negative)."""
    whole = max(0, int(seconds + 0.999))
    return f"{whole // 60}:{whole % 60:02d}"


class PrizeList(OptionList):
    """The catalogue; a digit key chooses that numbered prize."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.numbers: dict[int, str] = {}
        """Number shown → option id."""

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            option_id = self.numbers.get(int(event.character))
            if option_id is not None:
                self.highlighted = self.get_option_index(option_id)
                event.stop()
                event.prevent_default()


class DropRequest:
    """What the organiser asked for in :class:`DropStartScreen`."""

    def __init__(self, prize_id: str, qty: int, minutes: float, price: int | None) -> None:
        self.prize_id = prize_id
        self.qty = qty
        self.minutes = minutes
        self.price = price


class DropStartScreen(ModalScreen[DropRequest | None]):
    """Start a drop: the prize, how many, for how long, at what price. Enter confirms."""

    AUTO_FOCUS = "#drop-prize"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", _("Cancel"))]
    DEFAULT_CSS = """
    DropStartScreen {
        align: center middle;
    }
    DropStartScreen #drop-box {
        width: 80;
        height: 30;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    DropStartScreen #drop-prize {
        height: 1fr;
    }
    DropStartScreen Horizontal {
        height: auto;
    }
    DropStartScreen Horizontal Vertical {
        height: auto;
        width: 1fr;
    }
    DropStartScreen #drop-hint {
        color: $text-muted;
    }
    """

    def __init__(self, prizes: tuple[counter.PrizeLine, ...]) -> None:
        super().__init__()
        self.prizes = prizes

    def compose(self) -> ComposeResult:
        with Vertical(id="drop-box"):
            yield Static(_("Start a live drop"), classes="title")
            yield OptionList(
                *[
                    Option(f"{p.name}  ·  {p.price}  ·  " + _("tier {n}").format(n=p.tier), id=p.id)
                    for p in self.prizes
                ],
                id="drop-prize",
            )
            with Horizontal():
                with Vertical():
                    yield Static(_("Units on sale"))
                    yield Input(value="20", placeholder=_("units"), id="drop-qty", type="integer")
                with Vertical():
                    yield Static(_("Minutes it runs"))
                    yield Input(
                        value="10", placeholder=_("minutes"), id="drop-minutes", type="number"
                    )
                with Vertical():
                    yield Static(_("Price (empty: its own)"))
                    yield Input(placeholder=_("points"), id="drop-price", type="integer")
            yield Static(
                _("Choose the prize (Enter), fill in the fields: Enter starts it, Esc cancels."),
                id="drop-hint",
            )

    def on_mount(self) -> None:
        options = self.query_one("#drop-prize", OptionList)
        if options.option_count:
            options.highlighted = 0

    @on(OptionList.OptionSelected, "#drop-prize")
    def _prize_chosen(self) -> None:
        self.query_one("#drop-qty", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        options = self.query_one("#drop-prize", OptionList)
        hint = self.query_one("#drop-hint", Static)
        if options.highlighted is None:
            hint.update(_("Choose the prize first."))
            return
        prize_id = options.get_option_at_index(options.highlighted).id or ""
        try:
            qty = int(self.query_one("#drop-qty", Input).value)
            minutes = float(self.query_one("#drop-minutes", Input).value)
            price_text = self.query_one("#drop-price", Input).value.strip()
            price = int(price_text) if price_text else None
        except ValueError:
            hint.update(_("Units and minutes are numbers; the price is a number or empty."))
            return
        if qty <= 0 or minutes <= 0 or (price is not None and price <= 0):
            hint.update(_("Units, minutes and price must be more than zero."))
            return
        self.dismiss(DropRequest(prize_id, qty, minutes, price))

    def action_cancel(self) -> None:
        self.dismiss(None)


class CounterScreen(Screen[None]):
    """Tap, choose, hand over; drops with holds; returns."""

    AUTO_FOCUS = "#scan"
    accepts_taps = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o,f5", "hand_over", _("Hand over")),
        Binding("ctrl+b,f4", "pay_in_four", _("Pay in four")),
        Binding("ctrl+z,f8", "return_prize", _("Return")),
        Binding("escape", "cancel", _("Next person")),
        Binding("ctrl+f,f6", "lookup", _("Look up")),
        Binding("ctrl+n,f7", "start_drop", _("Start a drop")),
        Binding("ctrl+y,f9", "close_drop", _("Close drop")),
        Binding("up", "move(-1)", _("Previous prize"), show=False),
        Binding("down", "move(1)", _("Next prize"), show=False),
        Binding("pageup", "move(-5)", show=False),
        Binding("pagedown", "move(5)", show=False),
    ]
    DEFAULT_CSS = """
    CounterScreen #counter-body {
        padding: 0 1;
    }
    CounterScreen #scan {
        margin: 1 1 0 1;
    }
    CounterScreen #counter-main {
        height: 1fr;
        margin: 1 1 0 1;
    }
    CounterScreen #left {
        width: 3fr;
        height: 1fr;
    }
    CounterScreen #right {
        width: 2fr;
        height: 1fr;
        margin-left: 1;
    }
    CounterScreen #card {
        height: auto;
        min-height: 4;
        padding: 0 1;
        border: round $panel;
    }
    CounterScreen #card.ok {
        border: round $success;
    }
    CounterScreen #card.error {
        border: heavy $error;
        background: $error 15%;
    }
    CounterScreen #card.warn {
        border: heavy $warning;
        background: $warning 10%;
    }
    CounterScreen #prizes {
        height: 1fr;
        border: round $panel;
    }
    CounterScreen #drops {
        height: auto;
        padding: 0 1;
        border: round $panel;
    }
    CounterScreen #drops.live {
        border: heavy $warning;
        background: $warning 10%;
    }
    CounterScreen #confirm {
        height: 9;
        padding: 1 1;
        border: round $panel;
    }
    CounterScreen #confirm-points {
        width: auto;
        margin-right: 2;
        display: none;
    }
    CounterScreen #confirm-text {
        width: 1fr;
    }
    CounterScreen #confirm.ok {
        border: heavy $success;
        background: $success 20%;
    }
    CounterScreen #confirm.warn {
        border: heavy $warning;
        background: $warning 15%;
    }
    CounterScreen #confirm.error {
        border: heavy $error;
        background: $error 20%;
    }
    CounterScreen #recent {
        height: 1fr;
        border: round $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.catalogue: counter.Catalogue | None = None
        self.attendee_id: int | None = None
        self.hold: counter.HoldView | None = None
        self._read_at = time.monotonic()
        self._hold_read_at = time.monotonic()
        self._last_action = time.monotonic()
        self._armed: tuple[str, float, int] | None = None
        self._selected: str | None = None
        self._card_error: str | None = None
        self._busy = False

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StationHeader()
        with Vertical(id="counter-body"):
            yield Input(placeholder=_("Tap a band — or type its UID and press Enter"), id="scan")
            with Horizontal(id="counter-main"):
                with Vertical(id="left"):
                    yield Static(_("Tap the attendee's band."), id="card")
                    yield PrizeList(id="prizes")
                with Vertical(id="right"):
                    yield Static("", id="drops")
                    with Horizontal(id="confirm"):
                        yield BigText(id="confirm-points")
                        yield Static(
                            _("Tap, choose a prize with the arrows, ctrl+o hands it over."),
                            id="confirm-text",
                        )
                    table: DataTable[Text] = DataTable(
                        id="recent", cursor_type="row", zebra_stripes=True
                    )
                    yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#recent", DataTable)
        table.add_columns(_("Time"), _("Prize"), _("Points"), _("Station"))
        table.border_title = _("Their prizes (ctrl+z returns)")
        prizes = self.query_one("#prizes", PrizeList)
        prizes.border_title = _("Prizes")
        prizes.border_subtitle = _("↑ ↓ or number + Enter: choose · ctrl+o: hand over")
        self.query_one("#drops", Static).display = False
        self.set_interval(1.0, self.tick)
        self.reload()

    # -- reading ----------------------------------------------------------------------------

    @work(thread=True, group="counter-read", exclusive=True, exit_on_error=False)
    def reload(self) -> counter.Catalogue:
        """The catalogue for the attendee shown (or none), read again (a newer read wins)."""
        return counter.catalogue(station_app(self).store, self.attendee_id)

    @work(thread=True, group="counter-tap", exclusive=True, exit_on_error=False)
    def open_band(self, uid: str, correlation_id: str) -> counter.Catalogue:
        """Whose band it is and what they can have (a blocked or lost band is recorded)."""
        app = station_app(self)
        try:
            return counter.catalogue_for_band(app.store, uid, app.actor(correlation_id))
        except Refused as refusal:
            if refusal.reason in ("band_blocked", "band_lost"):
                record_lost_band_attempt(app.store, app.actor(correlation_id), uid)
            raise

    def on_data_changed(self, _message: DataChanged) -> None:
        self.reload()

    def on_tap_detected(self, message: TapDetected) -> None:
        self._touch()
        self._confirm(Text(_("Reading band {uid}…").format(uid=message.uid)), "")
        self.open_band(message.uid, message.correlation_id)

    @on(Input.Submitted, "#scan")
    def _typed(self, event: Input.Submitted) -> None:
        event.input.clear()
        text = event.value.strip()
        if not text:
            return
        prizes = self.query_one("#prizes", PrizeList)
        if text.isdigit() and len(text) <= 2:
            option_id = prizes.numbers.get(int(text))
            if option_id is None:
                self._confirm(
                    Text(_("Prize number {n} cannot be chosen now.").format(n=text)), "error"
                )
            else:
                prizes.highlighted = prizes.get_option_index(option_id)
                self._touch()
            return
        if not station_app(self).scan_band(text):
            self._confirm(Text(_("“{text}” is not a band UID.").format(text=text)), "error")

    # -- choosing ---------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        prizes = self.query_one("#prizes", PrizeList)
        if not prizes.option_count:
            return
        index = prizes.highlighted if prizes.highlighted is not None else -1
        target = index + step
        direction = 1 if step > 0 else -1
        target = max(0, min(prizes.option_count - 1, target))
        while 0 <= target < prizes.option_count and prizes.get_option_at_index(target).disabled:
            target += direction
        if 0 <= target < prizes.option_count:
            prizes.highlighted = target
        self._touch()

    @on(OptionList.OptionHighlighted, "#prizes")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._selected = event.option.id

    @on(OptionList.OptionSelected, "#prizes")
    def _chosen(self) -> None:
        self.action_hand_over()

    def _chosen_key(self) -> str | None:
        prizes = self.query_one("#prizes", PrizeList)
        if prizes.highlighted is None:
            return None
        option = prizes.get_option_at_index(prizes.highlighted)
        return None if option.disabled else option.id

    # -- operations -------------------------------------------------------------------------

    def action_hand_over(self) -> None:
        """Redeem the chosen prize; for a drop, hold a unit first, then confirm it."""
        self._touch()
        if self._busy:
            return  # a second press while the first is on its way is not a second sale
        if self.attendee_id is None or self.catalogue is None:
            self._confirm(Text(_("Tap the attendee's band first.")), "error")
            return
        key = self._chosen_key()
        if key is None:
            self._confirm(
                Text(_("Choose a prize first: the arrows, or its number and Enter.")), "error"
            )
            return
        app = station_app(self)
        actor = app.actor()
        attendee = self.attendee_id
        kind, _sep, ident = key.partition(":")
        if kind == "p":
            self.run_op(lambda: counter.redeem(app.store, actor, attendee, ident))
        elif self.hold is not None and self.hold.drop_id == int(ident):
            hold_id = self.hold.hold_id
            self.run_op(lambda: counter.confirm_hold(app.store, actor, hold_id))
        else:
            if self.hold is not None:
                self.release(self.hold.hold_id)
                self.hold = None
            drop_id = int(ident)
            self.run_op(lambda: counter.place_hold(app.store, actor, drop_id, attendee))

    def action_pay_in_four(self) -> None:
        """Take the chosen prize now and pay in four instalments (if the event allows it)."""
        self._touch()
        if self._busy:
            return
        if self.attendee_id is None or self.catalogue is None:
            self._confirm(Text(_("Tap the attendee's band first.")), "error")
            return
        key = self._chosen_key()
        kind, _sep, prize_id = (key or "").partition(":")
        line = self.catalogue.prize(prize_id) if kind == "p" else None
        if line is None or not line.pay_in_four:
            self._confirm(
                Text(_("Choose a prize marked 4× first: only those can be paid in four.")),
                "error",
            )
            return
        self.app.push_screen(PayInFourScreen(self.attendee_id, prize_id), self._plan_taken)

    def _plan_taken(self, plan: credit.PlanResult | None) -> None:
        self._focus_scan()
        if plan is None:
            return
        first = plan.instalments[0].amount if plan.instalments else plan.price
        text = Text()
        text.append(f"{plan.name}\n", style="bold")
        text.append(_("Hand over: {prize}").format(prize=plan.prize_name) + "\n", style="bold")
        text.append(
            _("Pay in four: {first} paid now, {owed} owed; balance {balance}").format(
                first=first, owed=plan.owed, balance=plan.balance
            )
        )
        self._confirm(text, "ok", big=f"-{first}")
        station_app(self).flash(True)
        self.reload()

    def run_op(self, call: Callable[[], object]) -> None:
        """One store operation in a thread (one at a time); the result is rendered by its type."""
        self._busy = True
        self._run_op(call)

    @work(thread=True, group="counter-op", exit_on_error=False)
    def _run_op(self, call: Callable[[], object]) -> object:
        return call()

    @work(thread=True, group="counter-release", exit_on_error=False)
    def release(self, hold_id: int) -> counter.Released:
        """Let a hold go (the unit is free for the other counters at once)."""
        app = station_app(self)
        return counter.release_hold(app.store, app.actor(), hold_id)

    def action_cancel(self) -> None:
        if self.hold is not None:
            self.release(self.hold.hold_id)
            self.hold = None
            self._confirm(Text(_("Hold released: the unit is free again.")), "warn")
            self._render_drops()
            return
        self._forget(_("Ready for the next person: tap their band."))

    def _forget(self, message: str) -> None:
        if self.hold is not None:
            self.release(self.hold.hold_id)  # nobody is confirming it any more
        self.attendee_id = None
        self._card_error = None
        self.hold = None
        self._armed = None
        self._confirm(Text(message), "")
        self.reload()

    def _arm(self, what: str, ident: int) -> bool:
        """True on the second press within a few seconds (for the same thing)."""
        now = time.monotonic()
        armed = self._armed
        if armed and armed[0] == what and armed[2] == ident and now - armed[1] <= CONFIRM_SECONDS:
            self._armed = None
            return True
        self._armed = (what, now, ident)
        return False

    def action_return_prize(self) -> None:
        self._touch()
        recent = self.catalogue.recent if self.catalogue and self.attendee_id else ()
        if not recent:
            self._confirm(Text(_("Tap the band of the person bringing a prize back.")), "error")
            return
        table = self.query_one("#recent", DataTable)
        row = min(max(table.cursor_row or 0, 0), len(recent) - 1)
        line = recent[row]
        if not self._arm("return", line.id):
            name = self.catalogue.attendee.name if self.catalogue.attendee else ""  # type: ignore[union-attr]
            if line.on_plan:
                prompt = _(
                    "Return {prize} of {name} (paid in four): the instalments paid come back, the "
                    "rest is cancelled. Press ctrl+z again to confirm (or choose another row)."
                ).format(prize=line.prize_name, name=name)
            else:
                prompt = _(
                    "Return {prize} of {name}: {points} points back. Press ctrl+z again "
                    "to confirm (or choose another row)."
                ).format(prize=line.prize_name, name=name, points=line.price)
            self._confirm(Text(prompt), "warn")
            return
        app = station_app(self)
        actor = app.actor()
        self.run_op(
            lambda: counter.return_prize(app.store, actor, line.id, "returned at the counter")
        )

    def action_lookup(self) -> None:
        self.app.push_screen(LookupScreen())

    def _is_organiser(self) -> bool:
        staff = getattr(station_app(self), "staff", None)
        return staff is not None and "organiser" in staff.roles

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("start_drop", "close_drop"):
            return self._is_organiser()
        return True

    def action_start_drop(self) -> None:
        if not self._is_organiser() or self.catalogue is None:
            return
        prizes = tuple(p for tier in self.catalogue.tiers for p in tier.prizes)
        self.app.push_screen(DropStartScreen(prizes), self._drop_requested)

    def _drop_requested(self, request: DropRequest | None) -> None:
        self._focus_scan()
        if request is None:
            return
        app = station_app(self)
        actor = app.actor()
        self.run_op(
            lambda: counter.start_drop(
                app.store, actor, request.prize_id, request.qty, request.minutes, request.price
            )
        )

    def action_close_drop(self) -> None:
        if not self._is_organiser():
            return
        prizes = self.query_one("#prizes", PrizeList)
        key = (
            prizes.get_option_at_index(prizes.highlighted).id
            if prizes.highlighted is not None
            else None
        )
        running = self.catalogue.drops if self.catalogue else ()
        if (key is None or not key.startswith("d:")) and len(running) == 1:
            key = f"d:{running[0].id}"  # the only one running
        if key is None or not key.startswith("d:"):
            self._confirm(Text(_("Choose the drop to close in the list first.")), "error")
            return
        drop_id = int(key[2:])
        if not self._arm("close", drop_id):
            self._confirm(
                Text(_("Press ctrl+y again to close drop #{id} now.").format(id=drop_id)), "warn"
            )
            return
        app = station_app(self)
        actor = app.actor()
        self.run_op(lambda: counter.close_drop(app.store, actor, drop_id))

    # -- results ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group not in ("counter-read", "counter-tap", "counter-op", "counter-release"):
            return
        if worker.group == "counter-op" and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            self._busy = False
        if event.state == WorkerState.ERROR:
            if worker.group == "counter-release":
                return
            message = describe_error(worker.error)
            if worker.group == "counter-tap":
                self.attendee_id = None
                self._card_error = message
                self.reload()
            self._confirm(Text(message), "error")
            if worker.group in ("counter-tap", "counter-op"):
                station_app(self).flash(False)
                self._focus_scan()
                self.reload()  # the refusal may mean the stock moved: show it as it is
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = worker.result
        if worker.group in ("counter-tap", "counter-op"):
            self._focus_scan()
        if isinstance(result, counter.Catalogue):
            if worker.group == "counter-tap" and result.attendee is not None:
                if self.hold is not None and self.hold.attendee_id != result.attendee.id:
                    self.release(self.hold.hold_id)  # the next person: let the last one's go
                    self.hold = None
                self.attendee_id = result.attendee.id
                self._card_error = None
                self._confirm(
                    Text(_("Choose a prize: the arrows, or its number and Enter; then ctrl+o.")),
                    "",
                )
                station_app(self).flash(True)
                self._selected = None
            elif result.attendee is not None and result.attendee.id != self.attendee_id:
                return  # a read for the previous person finished late
            self._show(result)
        elif isinstance(result, counter.Redeemed):
            self.hold = None
            self._redeemed(result)
            station_app(self).flash(True)
            self.reload()
        elif isinstance(result, counter.HoldView):
            self.hold = result
            self._hold_read_at = time.monotonic()
            self._held(result)
            self.reload()
        elif isinstance(result, counter.Returned):
            text = Text()
            text.append(f"{result.name}\n", style="bold")
            text.append(
                _("{prize} returned: {points} points back, balance {balance}.").format(
                    prize=result.prize_name, points=result.refunded, balance=result.balance
                )
            )
            self._confirm(text, "warn", big=f"+{result.refunded}")
            self.reload()
        elif isinstance(result, counter.DropLine):
            self._confirm(
                Text(
                    _("Drop #{id}: {prize}, {left} units, {state}.").format(
                        id=result.id,
                        prize=result.prize_name,
                        left=result.left,
                        state=counter.drop_state_text(result.state),
                    )
                ),
                "ok" if result.running else "warn",
            )
            self.reload()

    def _redeemed(self, done: counter.Redeemed) -> None:
        text = Text()
        text.append(f"{done.name}\n", style="bold")
        text.append(_("Hand over: {prize}").format(prize=done.prize_name) + "\n", style="bold")
        text.append(_("balance {balance}").format(balance=done.balance) + "\n")
        text.append(_("{n} left").format(n=done.left), style="italic")
        self._confirm(text, "ok", big=f"-{done.price}")

    def _held(self, hold: counter.HoldView) -> None:
        text = Text()
        text.append(
            _("{prize} held for {name}").format(prize=hold.prize_name, name=hold.name) + "\n",
            style="bold",
        )
        text.append(
            _("{price} points on ctrl+o (again) · Esc lets it go").format(price=hold.price) + "\n"
        )
        text.append(
            _("The hold runs out in {time}.").format(time=clock_text(hold.seconds_left)),
            style="bold",
        )
        self._confirm(text, "warn")

    # -- rendering --------------------------------------------------------------------------

    def _show(self, shown: counter.Catalogue) -> None:
        self.catalogue = shown
        self._read_at = time.monotonic()
        if self.hold is not None:
            # The same hold as of this read (its seconds left count from this read's clock);
            # gone when it was confirmed, released or ran out meanwhile.
            self.hold = next((h for h in shown.holds if h.hold_id == self.hold.hold_id), None)
            self._hold_read_at = self._read_at
        self._render_card(shown)
        self._render_prizes(shown)
        self._render_recent(shown)
        self._render_drops()

    def _render_card(self, shown: counter.Catalogue) -> None:
        who = shown.attendee
        if who is None:
            if self._card_error:
                self._card(Text(self._card_error), "error")
            else:
                self._card(Text(_("Tap the attendee's band.")), "")
            return
        text = Text()
        text.append(who.name, style="bold")
        text.append("   ")
        text.append(
            ngettext("{points} point", "{points} points", who.balance).format(points=who.balance),
            style="bold reverse",
        )
        affordable = sum(p.affordable and p.selectable for t in shown.tiers for p in t.prizes)
        text.append(
            "\n"
            + ngettext("{n} prize within reach", "{n} prizes within reach", affordable).format(
                n=affordable
            )
        )
        if who.credit_note:
            text.append("\n" + who.credit_note, style="bold")
        self._card(text, "warn" if who.credit_note else "ok")

    def _render_prizes(self, shown: counter.Catalogue) -> None:
        prizes = self.query_one("#prizes", PrizeList)
        keep = self._selected
        options: list[Option | None] = []
        numbers: dict[int, str] = {}
        # Numbers stay put while stock and limits change: every regular prize keeps its place in
        # the catalogue (1, 2, …), and drops come after them; only choosable ones answer.
        number = sum(len(tier.prizes) for tier in shown.tiers)
        who = shown.attendee
        if shown.drops:
            options.append(Option(Text(_("LIVE DROPS"), style="bold"), disabled=True))
            for drop in shown.drops:
                key = f"d:{drop.id}"
                limit = drop.mine >= drop.per_person
                selectable = (drop.left > 0 and not limit) or (
                    self.hold is not None and self.hold.drop_id == drop.id
                )
                number += 1
                if selectable:
                    numbers[number] = key
                line = Text(no_wrap=True, overflow="ellipsis")
                line.append(f"{number:>2}  ")
                line.append(f"{'⚡ ' + drop.prize_name:<21}", style="bold")
                line.append(f"{drop.price:>5}  ")
                if drop.price != drop.regular_price:
                    line.append(_("(was {price})").format(price=drop.regular_price) + " ")
                if limit:
                    line.append(_("one per person: has one"))
                    line.stylize("dim")
                elif who is not None and not drop.affordable:
                    line.append(_("{n} missing").format(n=drop.missing))
                    line.append(" · " + _("{n} left").format(n=drop.left), style="dim")
                else:
                    line.append(_("{n} left").format(n=drop.left))
                if who is not None and drop.affordable and selectable:
                    line.stylize("bold green")
                options.append(Option(line, id=key, disabled=not selectable))
        number = 0
        for tier in shown.tiers:
            options.append(
                Option(Text(_("TIER {n}").format(n=tier.tier), style="bold"), disabled=True)
            )
            for prize in tier.prizes:
                key = f"p:{prize.id}"
                number += 1
                if prize.selectable:
                    numbers[number] = key
                options.append(
                    Option(
                        self._prize_line(prize, number, who is not None),
                        id=key,
                        disabled=not prize.selectable,
                    )
                )
        prizes.clear_options()
        prizes.add_options(options)
        prizes.numbers = numbers
        keys = [o.id if isinstance(o, Option) else None for o in options]
        if keep is not None and keep in numbers.values():
            prizes.highlighted = prizes.get_option_index(keep)
        elif keep is not None and keep in keys and numbers:
            # What was chosen cannot be chosen any more (just handed over, sold out): the
            # nearest prize that can, the next one first.
            at = keys.index(keep)
            choosable = set(numbers.values())
            order = sorted(
                (i for i, k in enumerate(keys) if k in choosable), key=lambda i: (abs(i - at), -i)
            )
            prizes.highlighted = order[0]
        else:
            # Nothing chosen after a tap: ctrl+o never hands over something nobody picked.
            prizes.highlighted = None

    def _prize_line(self, prize: counter.PrizeLine, number: int, tapped: bool) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{number:>2}  ")
        name = prize.name + (f" {PAY_IN_FOUR_MARK}" if prize.pay_in_four else "")
        line.append(f"{name:<21}")
        line.append(f"{prize.price:>5}  ")
        if prize.sold_out:
            line.append(_("sold out"), style="bold")
            line.stylize("dim")
            return line
        if prize.limit_reached:
            when = (
                station_app(self).local_time(prize.mine_last_at, "%H:%M")
                if prize.mine_last_at
                else "?"
            )
            if prize.per_person == 1:
                line.append(_("one per person: taken at {time}").format(time=when))
            else:
                line.append(
                    _("{n} per person: all taken, the last at {time}").format(
                        n=prize.per_person, time=when
                    )
                )
            line.stylize("dim")
            return line
        if tapped and prize.affordable:
            line.append("✓ ", style="bold")
            line.append(_("{n} left").format(n=prize.available))
            line.stylize("bold green")
        elif tapped:
            line.append(_("{n} missing").format(n=prize.missing))
            line.append(" · " + _("{n} left").format(n=prize.available), style="dim")
        else:
            line.append(_("{n} left").format(n=prize.available))
        return line

    def _render_recent(self, shown: counter.Catalogue) -> None:
        table = self.query_one("#recent", DataTable)
        cursor = table.cursor_row
        table.clear()
        app = station_app(self)
        for line in shown.recent:
            table.add_row(
                Text(app.local_time(line.at, "%H:%M")),
                Text(("⚡ " if line.drop_id else "") + line.prize_name),
                # A plan prize: its price, paid in four instalments.
                Text(f"4× {line.price}" if line.on_plan else f"-{line.price}", justify="right"),
                Text(line.station),
            )
        if shown.recent and cursor is not None:
            table.move_cursor(row=min(cursor, len(shown.recent) - 1))

    def remaining(self, seconds: float) -> float:
        """Seconds left now, from a figure the database gave at the last catalogue read."""
        return seconds - (time.monotonic() - self._read_at)

    def hold_remaining(self) -> float:
        """Seconds the current hold has left, from the database time it was last read at."""
        if self.hold is None:
            return 0.0
        return self.hold.seconds_left - (time.monotonic() - self._hold_read_at)

    def _render_drops(self) -> None:
        panel = self.query_one("#drops", Static)
        shown = self.catalogue
        if shown is None or not (shown.drops or shown.sold_out_drops):
            panel.display = False
            panel.remove_class("live")
            return
        panel.display = True
        panel.set_class(bool(shown.drops), "live")
        text = Text()
        for n, gone in enumerate(shown.sold_out_drops):
            if n:
                text.append("\n")
            text.append("⚡ " + gone.prize_name + "  ", style="bold")
            text.append(
                _("SOLD OUT: all {quantity} gone").format(quantity=gone.quantity), style="bold"
            )
        if shown.sold_out_drops and shown.drops:
            text.append("\n")
        for n, drop in enumerate(shown.drops):
            if n:
                text.append("\n")
            text.append("⚡ " + _("LIVE DROP") + "  ", style="bold")
            text.append(drop.prize_name, style="bold")
            text.append(
                "\n"
                + _("{left} of {quantity} left · {price} points · ends in {time}").format(
                    left=drop.left,
                    quantity=drop.quantity,
                    price=drop.price,
                    time=clock_text(self.remaining(drop.seconds_left)),
                )
            )
            if drop.held:
                text.append(
                    "\n" + _("{n} on hold at the counters").format(n=drop.held), style="dim"
                )
        if self.hold is not None:
            text.append(
                "\n"
                + _("Held for {name}: {time} to confirm (ctrl+o)").format(
                    name=self.hold.name,
                    time=clock_text(self.hold_remaining()),
                ),
                style="bold",
            )
        panel.update(text)

    def tick(self) -> None:
        """Every second: the countdowns move; an ended drop or hold is read again; idle clears."""
        if self.attendee_id is not None and time.monotonic() - self._last_action > IDLE_SECONDS:
            self._forget(_("Nobody tapped for a while: tap the next band."))
            return
        shown = self.catalogue
        if shown is None:
            return
        over = any(self.remaining(d.seconds_left) <= 0 for d in shown.drops + shown.sold_out_drops)
        if self.hold is not None and self.hold_remaining() <= 0:
            self.hold = None
            self._confirm(
                Text(_("The hold ran out: the unit is free again. ctrl+o holds it anew.")), "warn"
            )
            over = True
        self._render_drops()
        if over:
            self.reload()

    def _touch(self) -> None:
        self._last_action = time.monotonic()

    def _card(self, text: Text, style: str) -> None:
        card = self.query_one("#card", Static)
        card.remove_class("ok", "error", "warn")
        if style:
            card.add_class(style)
        card.update(text)

    def _confirm(self, text: Text, style: str, big: str = "") -> None:
        confirm = self.query_one("#confirm", Horizontal)
        confirm.remove_class("ok", "warn", "error")
        if style:
            confirm.add_class(style)
        points = self.query_one("#confirm-points", BigText)
        points.text = big
        points.display = bool(big)
        self.query_one("#confirm-text", Static).update(text)

    def _focus_scan(self) -> None:
        if self.app.screen is self:
            self.query_one("#scan", Input).focus()
