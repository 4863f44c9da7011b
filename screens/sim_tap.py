"""The simulated reader's picker: tap as a chosen attendee's band, or as a new unbound band."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from hardware.sim import random_uid
from store.i18n import _
from store.results import BandChoice
from tui.protocols import station_app

__all__ = ["SimulatedTapScreen"]

NEW_BAND = "__new__"


class _BandList(OptionList):
    """The picker's list. Moves made before its lines arrive (keys typed ahead while the
    search runs) are kept and made once the lines are there."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.moves_ahead = 0

    def action_cursor_down(self) -> None:
        if self.option_count == 0:
            self.moves_ahead += 1
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.option_count == 0:
            self.moves_ahead -= 1
        else:
            super().action_cursor_up()


class SimulatedTapScreen(ModalScreen[str | None]):
    """Returns the UID to place on the simulated reader, or None when cancelled."""

    AUTO_FOCUS = "#sim-search"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel")),
        Binding("down", "focus_list", _("To the list"), show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="sim-box"):
            yield Static(_("Simulated tap"), classes="title")
            yield Static(
                _(
                    "Enter taps the highlighted band. Type to narrow; ↓ moves into the list. "
                    "Esc cancels."
                ),
                classes="hint",
            )
            yield Input(placeholder=_("name or invitation code"), id="sim-search")
            yield _BandList(id="sim-bands")

    def on_mount(self) -> None:
        self.load_choices("")

    @on(Input.Changed, "#sim-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.load_choices(event.value)

    @on(Input.Submitted, "#sim-search")
    def _search_submitted(self) -> None:
        options = self.query_one("#sim-bands", OptionList)
        if options.option_count and options.highlighted is not None:
            self._choose(options.get_option_at_index(options.highlighted).id)

    @work(thread=True, group="sim-choices", exclusive=True, exit_on_error=False)
    def load_choices(self, query: str) -> tuple[BandChoice, ...]:
        """Bound bands matching ``query`` (runs in a thread)."""
        return station_app(self).store.band_choices(query, limit=30)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "sim-choices" or event.state != WorkerState.SUCCESS:
            return
        choices: tuple[BandChoice, ...] = event.worker.result or ()
        options = self.query_one("#sim-bands", _BandList)
        # Someone moving through the list keeps their line when the search answers again.
        kept = None
        if options.has_focus and options.highlighted is not None and options.option_count:
            kept = options.get_option_at_index(options.highlighted).id
        options.clear_options()
        options.add_option(Option(_("A new, unbound band"), id=NEW_BAND))
        for choice in choices:
            options.add_option(
                Option(f"{choice.name}  ·  {choice.code}  ·  {choice.uid}", id=choice.uid)
            )
        # Enter taps the highlighted line: the new band until something is typed, then the
        # first person who matches.
        typed = bool(self.query_one("#sim-search", Input).value.strip())
        line = 1 if typed and choices else 0
        if kept is not None and kept in {c.uid for c in choices} | {NEW_BAND}:
            line = options.get_option_index(kept)
        line += options.moves_ahead
        options.moves_ahead = 0
        options.highlighted = max(0, min(line, options.option_count - 1))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id)

    def _choose(self, option_id: str | None) -> None:
        if option_id is None:
            return
        self.dismiss(random_uid() if option_id == NEW_BAND else option_id)

    def action_focus_list(self) -> None:
        options = self.query_one("#sim-bands", OptionList)
        options.focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
