"""The help screen: the keys of the screen it was opened from."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from store.i18n import _

__all__ = ["HelpScreen"]


class HelpScreen(ModalScreen[None]):
    """A list of (key, what it does); Escape closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,ctrl+k,f1", "dismiss", _("Close"))]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(_("Keys — {screen}").format(screen=self._title), classes="title")
            table: DataTable[str] = DataTable(cursor_type="none", zebra_stripes=True)
            table.add_columns(_("Key"), _("What it does"))
            for key, description in self._keys:
                table.add_row(key, description)
            yield table
            yield Static(_("Esc closes this list."), classes="hint")
