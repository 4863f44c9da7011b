"""The tapdesk store: tables, engine, migrations and domain operations.

The store is headless: it never imports Textual or a reader. Screens, CLI commands and tests all
call the same operations and get the same rules.
"""
