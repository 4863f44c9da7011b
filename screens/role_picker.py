"""The role picker: which station is this laptop?"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from store.i18n import _
from tui.protocols import station_app
from tui.widgets import StationHeader, role_title

__all__ = ["RolePickerScreen"]

ROLES = ("desk", "bands", "hub", "counter", "coats")


def _role_help(role: str) -> str:
    return {
        "desk": _("check people in, hand the colour, bind the band"),
        "bands": _("inspect, replace, block and return bands"),
        "hub": _("award points for activities, quizzes and being cool"),
        "counter": _("exchange points for prizes"),
        "coats": _("hang and return coats by band"),
    }[role]


class RolePickerScreen(Screen[None]):
    """Pick the station's role with the arrow keys and Enter."""

    AUTO_FOCUS = "#roles"

    def __init__(self, roles: tuple[str, ...] = ROLES) -> None:
        super().__init__()
        self.roles = roles

    def compose(self) -> ComposeResult:
        yield StationHeader()
        yield Static(_("Which station is this laptop?"), classes="title")
        yield Static(_("Choose with ↑ ↓ and press Enter."), classes="hint")
        yield OptionList(
            *(Option(f"{role_title(role)}  —  {_role_help(role)}", id=role) for role in self.roles),
            id="roles",
        )
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            station_app(self).open_role(event.option.id)
