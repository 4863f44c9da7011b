"""The tapdesk theme: design tokens shared by every screen."""

from __future__ import annotations

from textual.theme import Theme

__all__ = ["TAPDESK_THEME"]

TAPDESK_THEME = Theme(
    name="tapdesk",
    primary="#4C9BE8",
    secondary="#F2A541",
    accent="#B48EF0",
    warning="#F2C94C",
    error="#EB5757",
    success="#27AE60",
    foreground="#E8E8E8",
    background="#15171C",
    surface="#1E2128",
    panel="#2A2F3A",
    dark=True,
)
