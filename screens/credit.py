"""Pay in four at the counter: the schedule, every eligibility rule and the score, then confirm.

The counter opens :class:`PayInFourScreen` for an attendee and a prize the event marks
``pay_in_four``. It collects what is already due (so the rules see today's balance), shows the
plan it would be, each rule passed or failed with its reason, and the score part by part.
Ctrl+O takes the prize on the plan (one operation, with one operation id per opening of the
screen, so a retry after a time-out never opens two plans); Escape cancels. The screen returns
the :class:`~store.credit.PlanResult`, or None when cancelled.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from screens.station import describe_error
from store import credit
from store.context import Actor
from store.i18n import _
from tui.protocols import station_app

__all__ = ["PayInFourScreen"]


class PayInFourScreen(ModalScreen[credit.PlanResult | None]):
    """The plan, the rules and the score for one attendee and one prize; Ctrl+O confirms."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "confirm", _("Take it in four")),
        Binding("escape", "cancel", _("Cancel")),
    ]
    DEFAULT_CSS = """
    PayInFourScreen {
        align: center middle;
    }
    PayInFourScreen #pay-box {
        width: 96;
        height: auto;
        max-height: 36;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    PayInFourScreen #pay-body {
        height: auto;
        max-height: 28;
    }
    PayInFourScreen #pay-status {
        height: auto;
        margin-top: 1;
        padding: 0 1;
    }
    PayInFourScreen #pay-status.ok {
        border: heavy $success;
        background: $success 20%;
    }
    PayInFourScreen #pay-status.error {
        border: heavy $error;
        background: $error 15%;
    }
    """

    def __init__(self, attendee_id: int, prize_id: str) -> None:
        super().__init__()
        self.attendee_id = attendee_id
        self.prize_id = prize_id
        self.assessed: credit.Eligibility | None = None
        self._actor: Actor | None = None
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="pay-box"):
            yield Static(_("Pay in four"), classes="title", id="pay-title")
            with VerticalScroll(id="pay-body"):
                yield Static(_("Checking…"), id="pay-detail")
            yield Static("", id="pay-status")
        yield Footer()

    def on_mount(self) -> None:
        # One operation id per opening of the screen: pressing Ctrl+O again after a time-out
        # replays the first result instead of opening a second plan.
        self._actor = station_app(self).actor()
        self.load()

    # -- workers ---------------------------------------------------------------------------

    @work(thread=True, group="pay-load", exclusive=True, exit_on_error=False)
    def load(self) -> credit.Eligibility:
        """Collect what is due, then assess the rules (in a thread)."""
        app = station_app(self)
        credit.collect(app.store, app.actor(), self.attendee_id)
        return credit.eligibility(app.store, self.attendee_id, self.prize_id)

    @work(thread=True, group="pay-confirm", exclusive=True, exit_on_error=False)
    def take(self, actor: Actor) -> credit.PlanResult:
        """Open the plan and hand the prize over (in a thread)."""
        store = station_app(self).store
        return credit.redeem_in_four(store, actor, self.attendee_id, self.prize_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if group not in ("pay-load", "pay-confirm"):
            return
        if event.state == WorkerState.ERROR:
            self._busy = False
            self._status(describe_error(event.worker.error), "error")
            if group == "pay-confirm":
                station_app(self).flash(False)
                # The refusal may come from a change since the screen opened: show it again.
                self.load()
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = event.worker.result
        if group == "pay-load" and isinstance(result, credit.Eligibility):
            self.assessed = result
            self._show(result)
        elif group == "pay-confirm" and isinstance(result, credit.PlanResult):
            self._busy = False
            station_app(self).flash(True)
            self.dismiss(result)

    # -- rendering -------------------------------------------------------------------------

    def _show(self, found: credit.Eligibility) -> None:
        app = station_app(self)
        self.query_one("#pay-title", Static).update(
            Text(
                _("Pay in four: {prize} for {name}").format(
                    prize=found.prize_name, name=found.name
                ),
                style="bold",
            )
        )
        text = Text()
        text.append(
            _("Price {price} points · balance {balance} · owes {owed} on other plans").format(
                price=found.price, balance=found.balance, owed=found.owed
            )
            + "\n\n"
        )
        text.append(_("Schedule") + "\n", style="bold")
        for part in found.schedule:
            when = (
                _("now, at the counter")
                if part.number == 1
                else _("due {time}").format(time=app.local_time(part.due_at, "%H:%M"))
            )
            text.append(f"  {part.number}.  {part.amount:>6}  {when}\n")
        text.append("\n" + _("Rules") + "\n", style="bold")
        for rule in found.rules:
            mark, style = ("✓", "green") if rule.passed else ("✗", "bold red")
            text.append(f"  {mark} ", style=style)
            text.append(rule.reason + "\n", style="" if rule.passed else "bold")
        text.append(
            "\n"
            + _("Score {score:g} (threshold {threshold:g})").format(
                score=found.score, threshold=found.threshold
            )
            + "\n",
            style="bold",
        )
        for score_part in found.parts:
            text.append(
                f"  {score_part.label}: {score_part.value:g} × {score_part.weight:g}"
                f" = {score_part.points:g}\n"
            )
        if found.available <= 0:
            text.append("\n" + _("None left at the counter.") + "\n", style="bold red")
        self.query_one("#pay-detail", Static).update(text)
        failed = found.first_failure
        if failed is not None:
            self._status(_("Not possible: {reason}").format(reason=failed.reason), "error")
        else:
            self._status(
                _("Eligible. Hand over the prize with Ctrl+O; Esc cancels."),
                "ok",
            )

    def _status(self, message: str, style: str) -> None:
        status = self.query_one("#pay-status", Static)
        status.remove_class("ok", "error")
        status.add_class(style)
        status.update(message)

    # -- actions ---------------------------------------------------------------------------

    def action_confirm(self) -> None:
        """Take the prize on the plan, when every rule passes."""
        if self._busy or self._actor is None:
            return
        if self.assessed is None or not self.assessed.eligible:
            failed = self.assessed.first_failure if self.assessed else None
            message = (
                _("Not possible: {reason} Esc goes back to the counter.").format(
                    reason=failed.reason
                )
                if failed is not None
                else _("Wait for the check to finish.")
            )
            self._status(message, "error")
            self.app.bell()
            station_app(self).flash(False)
            return
        self._busy = True
        self._status(_("Saving…"), "ok")
        self.take(self._actor)

    def action_cancel(self) -> None:
        self.dismiss(None)
