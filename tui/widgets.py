"""Widgets shared by the station screens."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from store.i18n import _
from tui.protocols import station_app

__all__ = ["StationHeader", "reader_state_text", "role_title"]


def reader_state_text(code: str) -> str:
    """The reader state in the staff member's language."""
    texts = {
        "starting": _("starting"),
        "ready": _("ready"),
        "no_device": _("no reader found — plug it in"),
        "libusb_missing": _("libusb missing — run tapdesk reader check"),
        "busy": _("reader busy (pcscd or a kernel driver) — run tapdesk reader check"),
        "permission": _("no permission (udev rule needed) — run tapdesk reader check"),
        "error": _("error"),
        "stopped": _("stopped"),
    }
    return texts.get(code, code)


class StationHeader(Static):
    """One line on every screen: event, station, staff, reader state and database state."""

    DEFAULT_CSS = """
    StationHeader {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        for name in ("event_name", "staff_name", "reader_state", "db_state", "role"):
            self.watch(self.app, name, self._changed, init=False)
        self._changed()

    def _changed(self, *_args: Any) -> None:
        app: Any = station_app(self)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" tapdesk ", style="bold reverse")
        if getattr(app, "demo", False):
            text.append(" " + _("DEMO") + " ", style="bold black on yellow")
        text.append("  ")
        text.append(app.event_name or _("no event loaded"), style="bold")
        text.append("  │  ")
        text.append(app.station, style="bold")
        text.append("  │  ")
        if app.staff_name:
            text.append(app.staff_name, style="bold")
        else:
            text.append(_("not signed in"), style="italic")
        text.append("  │  " + _("reader") + ": ")
        text.append(
            reader_state_text(app.reader_state),
            style="green" if app.reader_state == "ready" else "bold red",
        )
        text.append("  │  " + _("db") + ": ")
        text.append(
            _("ok") if app.db_state == "ok" else _("unreachable — retrying"),
            style="green" if app.db_state == "ok" else "bold red",
        )
        self.update(text)


def role_title(role: str) -> str:
    """A role's name in the staff member's language."""
    titles = {
        "desk": _("Registration desk"),
        "bands": _("Wristband table"),
        "hub": _("Hub"),
        "counter": _("Prize counter"),
        "coats": _("Coat check"),
        "organiser": _("Organiser"),
    }
    return titles.get(role, role)
