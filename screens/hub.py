"""The hub station: pick what to award, tap, see the big confirmation or why not.

Hubmen walk around with laptops; most awards happen here. The choice of hub and award is kept per
station, the last awards can be undone for a couple of minutes, and the hub keeper's numbers are
on screen.
"""

from __future__ import annotations

from dataclasses import dataclass
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

from screens.lookup import LookupScreen
from screens.station import describe_error
from store import hub, stations
from store.errors import DatabaseUnavailable
from store.i18n import _
from store.outbox import OutboxEntry, send_award
from tui.bigtext import BigText
from tui.messages import DataChanged, OutboxChanged, TapDetected
from tui.protocols import station_app
from tui.widgets import StationHeader

__all__ = ["AwardChoice", "AwardPicker", "HubScreen", "Kept", "OutboxScreen"]


@dataclass(frozen=True, slots=True)
class AwardChoice:
    """What the next tap awards."""

    kind: str
    """"activity", "quiz", "social" or "cool"."""
    key: str
    """The activity or question id ("" for social and cool)."""
    hub_id: str
    label: str
    points: int


@dataclass(frozen=True, slots=True)
class Kept:
    """An award kept in this station's outbox: the database did not answer."""

    name: str
    label: str
    pending: int


class OutboxScreen(ModalScreen[None]):
    """The awards this station kept while the database was away: pending, sent, refused."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", _("Close"))]
    DEFAULT_CSS = """
    OutboxScreen {
        align: center middle;
    }
    OutboxScreen #outbox-box {
        width: 100;
        height: 80%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    OutboxScreen #outbox-table {
        height: 1fr;
    }
    """

    def __init__(self, entries: tuple[OutboxEntry, ...]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="outbox-box"):
            yield Static(_("Awards kept while the database was away (Esc closes)"), classes="title")
            table: DataTable[Text] = DataTable(id="outbox-table", cursor_type="row")
            yield table

    def on_mount(self) -> None:
        table = self.query_one("#outbox-table", DataTable)
        table.add_columns(_("Kept at"), _("Band"), _("Award"), _("State"), _("Why"))
        states = {"pending": _("pending"), "sent": _("sent"), "refused": _("REFUSED")}
        app = station_app(self)
        refused_first = sorted(self.entries, key=lambda e: (e.state != "refused", e.created_at))
        for entry in refused_first:
            table.add_row(
                Text(app.local_time(entry.created_at)),
                Text(str(entry.request.get("uid", ""))),
                Text(entry.label[:34]),
                Text(states.get(entry.state, entry.state)),
                Text(entry.message),
            )
        if not self.entries:
            table.add_row(Text("—"), Text(""), Text(_("nothing kept")), Text(""), Text(""))

    def action_close(self) -> None:
        self.dismiss(None)


class AwardPicker(ModalScreen[AwardChoice | None]):
    """Choose the activity, quiz question, social post or "cool" award; type to narrow."""

    AUTO_FOCUS = "#pick-filter"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel")),
        Binding("down", "to_list", _("To the list"), show=False),
    ]

    def __init__(self, catalogue: hub.HubCatalogue, hub_id: str) -> None:
        super().__init__()
        self.catalogue = catalogue
        self.hub_id = hub_id
        self.choices: dict[str, AwardChoice] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box"):
            yield Static(_("What does the next tap award?"), classes="title")
            yield Input(placeholder=_("type to narrow: hub, activity, talk…"), id="pick-filter")
            yield OptionList(id="pick-list")
            yield Input(placeholder=_("points for being cool"), id="pick-cool", type="integer")

    def on_mount(self) -> None:
        hubs = dict(self.catalogue.hubs)
        for activity in self.catalogue.activities:
            limit = (
                _("once")
                if activity.max_per_attendee == 1
                else _("up to {n}").format(n=activity.max_per_attendee)
                if activity.max_per_attendee
                else _("no limit")
            )
            where = hubs.get(activity.hub_id, activity.hub_id)
            label = f"{where} · {activity.name}  +{activity.points}  ({limit})"
            self.choices[f"a:{activity.id}"] = AwardChoice(
                "activity", activity.id, activity.hub_id, label, activity.points
            )
        if self.catalogue.social_points:
            self.choices["social"] = AwardChoice(
                "social",
                "",
                self.hub_id,
                _("Social post") + f"  +{self.catalogue.social_points}",
                self.catalogue.social_points,
            )
        self.choices["cool"] = AwardChoice(
            "cool", "", self.hub_id, _("For being cool (you choose the points)"), 0
        )
        for question in self.catalogue.questions:
            self.choices[f"q:{question.id}"] = AwardChoice(
                "quiz",
                question.id,
                self.hub_id,
                _("Quiz") + f" · {question.talk_title} · {question.text}  +{question.points}",
                question.points,
            )
        self.query_one("#pick-cool", Input).display = False
        self._fill("")

    @on(Input.Changed, "#pick-filter")
    def _narrow(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def _fill(self, text: str) -> None:
        words = text.casefold().split()
        options = self.query_one("#pick-list", OptionList)
        options.clear_options()
        for key, choice in self.choices.items():
            haystack = f"{choice.label} {choice.hub_id} {choice.key}".casefold()
            if all(word in haystack for word in words):
                options.add_option(Option(choice.label, id=key))
        if options.option_count:
            options.highlighted = 0

    @on(Input.Submitted, "#pick-filter")
    def _first(self) -> None:
        options = self.query_one("#pick-list", OptionList)
        if options.highlighted is not None:
            self._chosen(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected, "#pick-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._chosen(event.option.id)

    def _chosen(self, key: str | None) -> None:
        if key is None:
            return
        if key == "cool":
            cool = self.query_one("#pick-cool", Input)
            cool.display = True
            cool.focus()
            return
        self.dismiss(self.choices[key])

    @on(Input.Submitted, "#pick-cool")
    def _cool_amount(self, event: Input.Submitted) -> None:
        try:
            points = int(event.value)
        except ValueError:
            return
        if points > 0:
            self.dismiss(
                AwardChoice(
                    "cool",
                    "",
                    self.hub_id,
                    _("For being cool") + f"  +{points}",
                    points,
                )
            )

    def action_to_list(self) -> None:
        self.query_one("#pick-list", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


def refusal_text(reason: str) -> str:
    """A refusal reason in the staff member's language (for the hub keeper's numbers)."""
    return {
        "activity_limit": _("limit reached"),
        "cooldown": _("cool-down"),
        "already_answered": _("answered before"),
        "social_limit": _("social points given before"),
        "cool_budget": _("cool budget used up"),
        "cool_rate": _("too many cool awards a minute"),
        "self_award": _("own band"),
        "unbound_band": _("unbound band"),
        "band_blocked": _("blocked band"),
        "band_lost": _("lost band"),
        "band_returned": _("returned band"),
    }.get(reason, reason)


class HubScreen(Screen[None]):
    """Tap to award what is chosen; the last awards and the hub's numbers below."""

    AUTO_FOCUS = "#scan"
    accepts_taps = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o,f5", "choose", _("Choose award")),
        Binding("ctrl+z,f8", "undo", _("Undo selected award")),
        Binding("ctrl+f,f6", "lookup", _("Look up attendee")),
        Binding("ctrl+y,f9", "outbox", _("Kept offline"), show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.catalogue: hub.HubCatalogue | None = None
        self.choice: AwardChoice | None = None
        self.awards: list[hub.HubAward] = []
        self.budget: int | None = None
        self.pending = 0
        """Awards kept in the outbox, waiting for the database."""
        self.refused_offline = 0
        """Kept awards the database refused when they were sent."""

    def compose(self) -> ComposeResult:
        yield StationHeader()
        with Vertical(id="hub-body"):
            yield Static(_("Loading the hub…"), id="hub-choice")
            yield Input(placeholder=_("Tap a band — or type its UID and press Enter"), id="scan")
            with Horizontal(id="confirm"):
                yield BigText(id="confirm-points")
                yield Static(_("Choose what to award (ctrl+o), then tap bands."), id="confirm-text")
            with Horizontal(id="hub-lower"):
                table: DataTable[str] = DataTable(
                    id="awards", cursor_type="row", zebra_stripes=True
                )
                yield table
                yield Static("", id="stats")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#awards", DataTable)
        table.add_columns(_("Time"), _("Who"), _("For"), _("Points"), _("Balance"))
        self.load()

    @work(thread=True, group="hub-load", exit_on_error=False)
    def load(self) -> tuple[hub.HubCatalogue, dict[str, str], int | None]:
        """The catalogue, this station's remembered choice and the cool budget (in a thread)."""
        app = station_app(self)
        catalogue = hub.hub_catalogue(app.store)
        remembered = stations.preferences(app.store, app.station)
        staff = getattr(app, "staff", None)
        budget = hub.cool_budget_left(app.store, staff.id) if staff else None
        if app.outbox is not None:
            self.pending = app.outbox.pending_count()
            self.refused_offline = len(app.outbox.entries("refused"))
        return catalogue, remembered, budget

    def _restore(self, remembered: dict[str, str]) -> None:
        assert self.catalogue is not None
        kind, key = remembered.get("award_kind", ""), remembered.get("award_key", "")
        hub_id = remembered.get("hub", "")
        if kind == "activity":
            for a in self.catalogue.activities:
                if a.id == key:
                    self.choice = AwardChoice("activity", a.id, a.hub_id, a.name, a.points)
        elif kind == "quiz":
            for q in self.catalogue.questions:
                if q.id == key:
                    self.choice = AwardChoice("quiz", q.id, hub_id, q.text, q.points)
        elif kind == "cool" and remembered.get("points", "").isdigit():
            points = int(remembered["points"])
            self.choice = AwardChoice(
                "cool", "", hub_id, _("For being cool") + f"  +{points}", points
            )
        elif kind == "social" and self.catalogue.social_points:
            self.choice = AwardChoice(
                "social", "", hub_id, _("Social post"), self.catalogue.social_points
            )
        self._show_choice()

    def _show_choice(self, budget: int | None = None) -> None:
        if budget is not None:
            self.budget = budget
        budget = self.budget
        text = Text()
        hub_names = dict(self.catalogue.hubs) if self.catalogue else {}
        here = self.choice.hub_id if self.choice else ""
        if not here:
            staff = getattr(station_app(self), "staff", None)
            here = staff.hubs[0] if staff and staff.hubs else ""
        if here:
            text.append(_("Hub: {hub}").format(hub=hub_names.get(here, here)) + "   ", style="bold")
        if self.choice is None:
            text.append(_("Nothing chosen: press ctrl+o to choose what to award."), style="bold")
        else:
            text.append(_("Each tap awards: "))
            text.append(f"{self.choice.label}", style="bold")
        if budget is not None:
            text.append("   " + _("cool budget: {points}").format(points=budget))
        if self.pending:
            text.append(
                "   " + _("pending ({n}): kept until the database answers").format(n=self.pending),
                style="bold reverse",
            )
        if self.refused_offline:
            text.append(
                "   " + _("refused when sent: {n} (ctrl+y)").format(n=self.refused_offline),
                style="bold",
            )
        self.query_one("#hub-choice", Static).update(text)

    def action_choose(self) -> None:
        if self.catalogue is None:
            return
        staff = getattr(station_app(self), "staff", None)
        own = staff.hubs[0] if staff and staff.hubs else ""
        hub_id = (
            self.choice.hub_id
            if self.choice
            else own or (self.catalogue.hubs[0][0] if self.catalogue.hubs else "")
        )
        self.app.push_screen(AwardPicker(self.catalogue, hub_id), self._chosen)

    def _chosen(self, choice: AwardChoice | None) -> None:
        if choice is None:
            return
        if choice.kind == "cool" and self.budget is not None and choice.points > self.budget:
            self._confirm(
                Text(
                    _(
                        "Your cool budget has {left} points left today: choose {points} or less."
                    ).format(left=self.budget, points=self.budget)
                ),
                "error",
            )
            return
        self.choice = choice
        self._show_choice()
        self._confirm(Text(_("Ready: each tap awards {what}.").format(what=choice.label)), "")
        self.refresh_stats(choice.hub_id)
        self.remember(choice)
        self.query_one("#scan", Input).focus()

    @work(thread=True, group="hub-remember", exit_on_error=False)
    def remember(self, choice: AwardChoice) -> None:
        """Keep the choice for this station (it survives a restart)."""
        app = station_app(self)
        stations.save_preferences(
            app.store,
            app.station,
            {
                "award_kind": choice.kind,
                "award_key": choice.key,
                "hub": choice.hub_id,
                "points": str(choice.points),
            },
        )

    # -- taps -------------------------------------------------------------------------------

    @on(Input.Submitted, "#scan")
    def _typed(self, event: Input.Submitted) -> None:
        event.input.clear()
        text = event.value.strip()
        if text and not station_app(self).scan_band(text):
            self._confirm(Text(_("“{text}” is not a band UID.").format(text=text)), "error")

    def on_tap_detected(self, message: TapDetected) -> None:
        if self.choice is None:
            self._confirm(Text(_("Choose what to award first (ctrl+o).")), "error")
            return
        self.award(self.choice, message.uid, message.correlation_id)

    @work(thread=True, group="hub-award", exit_on_error=False)
    def award(self, choice: AwardChoice, uid: str, correlation_id: str) -> hub.HubAward | Kept:
        """Award ``choice`` to the band (runs in a thread).

        When the database does not answer (or the connection broke while saving), the award is
        kept in this station's outbox with its operation id and sent — once — when it answers.
        """
        app = station_app(self)
        actor = app.actor(correlation_id)
        request: dict[str, object] = {"uid": uid, "key": choice.key}
        if choice.kind == "cool":
            request = {"uid": uid, "points": choice.points, "hub_id": choice.hub_id}
        try:
            result = send_award(app.store, actor, choice.kind, request)
        except DatabaseUnavailable:
            box = app.outbox
            if box is None:
                raise
            box.add(actor, choice.kind, request, choice.label)
            app.outbox_added()
            return Kept(name=uid, label=choice.label, pending=box.pending_count())
        assert isinstance(result, hub.HubAward)
        return result

    def action_undo(self) -> None:
        table = self.query_one("#awards", DataTable)
        if not self.awards:
            return
        row = table.cursor_row if table.cursor_row is not None else 0
        row = min(max(row, 0), len(self.awards) - 1)
        award = self.awards[row]
        self.undo(award.transfer_id)

    @work(thread=True, group="hub-undo", exit_on_error=False)
    def undo(self, transfer_id: int) -> hub.HubUndo:
        """Take an award back (runs in a thread)."""
        app = station_app(self)
        return hub.undo_hub_award(app.store, app.actor(), transfer_id)

    def action_lookup(self) -> None:
        self.app.push_screen(LookupScreen())

    def action_outbox(self) -> None:
        box = station_app(self).outbox
        self.app.push_screen(OutboxScreen(box.entries() if box is not None else ()))

    # -- live -----------------------------------------------------------------------------------

    def on_data_changed(self, _message: DataChanged) -> None:
        """Something was committed somewhere: today's numbers and the budget again."""
        if self.choice is not None:
            self.refresh_stats(self.choice.hub_id)

    def on_outbox_changed(self, message: OutboxChanged) -> None:
        """Kept awards were added or sent: the pending count, and what the replay settled."""
        self.pending, self.refused_offline = message.pending, message.refused
        self._show_choice()
        for entry, result, refusal in message.settled:
            if isinstance(result, hub.HubAward):
                self.awards.insert(0, result)
                del self.awards[20:]
            elif refusal:
                self.notify(
                    _("An award kept offline was refused when sent ({what}): {why}").format(
                        what=entry.label, why=refusal
                    ),
                    severity="error",
                    timeout=15,
                )
        if message.settled:
            self._redraw_awards()

    @work(thread=True, group="hub-stats", exclusive=True, exit_on_error=False)
    def refresh_stats(self, hub_id: str) -> tuple[hub.HubStats, int | None]:
        """Today's numbers for the hub (runs in a thread)."""
        app = station_app(self)
        staff = getattr(app, "staff", None)
        budget = hub.cool_budget_left(app.store, staff.id) if staff else None
        return hub.hub_stats(app.store, hub_id), budget

    # -- rendering ----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if (
            event.state in (WorkerState.SUCCESS, WorkerState.ERROR)
            and worker.group in ("hub-award", "hub-undo")
            and self.app.screen is self
        ):
            # After an award or an undo the scan field takes the next band a wedge reader types,
            # whatever had focus (the awards table after choosing a row to undo). A background
            # refresh never moves the focus: someone may be choosing a row.
            self.query_one("#scan", Input).focus()
        if event.state == WorkerState.ERROR:
            self._confirm(Text(describe_error(worker.error)), "error")
            if worker.group == "hub-award":
                station_app(self).flash(False)
                if self.choice:
                    self.refresh_stats(self.choice.hub_id)  # the refusal counts in the numbers
            return
        if event.state != WorkerState.SUCCESS:
            return
        result = worker.result
        if worker.group == "hub-load" and isinstance(result, tuple):
            self.catalogue, remembered, budget = result
            self._restore(remembered)
            self._show_choice(budget)
            if self.choice:
                self.refresh_stats(self.choice.hub_id)
        elif isinstance(result, hub.HubAward):
            self._awarded(result)
            station_app(self).flash(True)
        elif isinstance(result, Kept):
            self.pending = result.pending
            self._show_choice()
            self._confirm(
                Text(
                    _(
                        "Kept: {what} for band {uid} is pending ({n}) — the database is "
                        "unreachable; it is sent once, automatically, when it answers."
                    ).format(what=result.label, uid=result.name, n=result.pending)
                ),
                "warn",
                big="…",
            )
        elif isinstance(result, hub.HubUndo):
            self._confirm(
                Text(
                    _("Undone: {points} points taken back from {name}.").format(
                        points=result.points, name=result.name
                    )
                ),
                "warn",
            )
            self.awards = [a for a in self.awards if a.transfer_id != result.transfer_id]
            self._redraw_awards()
            if self.choice:
                self.refresh_stats(self.choice.hub_id)
        elif worker.group == "hub-stats" and isinstance(result, tuple):
            stats, budget = result
            self._show_stats(stats)
            self._show_choice(budget)

    def _awarded(self, award: hub.HubAward) -> None:
        text = Text()
        text.append(f"{award.name}\n\n", style="bold")
        text.append(_("balance {balance}").format(balance=award.balance) + "\n", style="bold")
        text.append(award.what, style="italic")
        if award.credit_note:  # pay in four: collected, or paused by an overdue instalment
            text.append("\n" + award.credit_note, style="bold")
        self._confirm(text, "ok", big=f"+{award.points}")
        self.awards.insert(0, award)
        del self.awards[20:]
        self._redraw_awards()
        if self.choice:
            self.refresh_stats(self.choice.hub_id)

    def _redraw_awards(self) -> None:
        table = self.query_one("#awards", DataTable)
        table.clear()
        for award in self.awards:
            table.add_row(
                station_app(self).local_time(award.at),
                Text(award.name),
                Text(award.what[:40]),
                f"+{award.points}",
                str(award.balance),
            )

    def _show_stats(self, stats: hub.HubStats) -> None:
        text = Text()
        text.append(_("Today at this hub") + "\n", style="bold")
        text.append(_("Visitors: {n}").format(n=stats.visitors) + "\n")
        for name, count, points in stats.points_by_activity[:5]:
            text.append(f"  {name[:22]}  {count}× +{points}\n")
        if stats.top_attendees:
            text.append(_("Top here:") + "\n", style="bold")
            for name, points in stats.top_attendees:
                text.append(f"  {name[:24]}  {points}\n")
        if stats.refusals:
            text.append(_("Refusals:") + "\n", style="bold")
            for reason, count in stats.refusals:
                text.append(f"  {refusal_text(reason)}: {count}\n")
        self.query_one("#stats", Static).update(text)

    def _confirm(self, text: Text, style: str, big: str = "") -> None:
        confirm = self.query_one("#confirm", Horizontal)
        confirm.remove_class("ok", "warn", "error")
        if style:
            confirm.add_class(style)
        points = self.query_one("#confirm-points", BigText)
        points.text = big
        points.display = bool(big)
        self.query_one("#confirm-text", Static).update(text)
