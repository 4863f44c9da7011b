"""The tapdesk user interface: the App, the command line, settings, shared widgets and theme.

Screens may import the toolkit modules here (messages, widgets, protocols); never ``tui.app`` or
``tui.cli``, which wire everything together.
"""
