"""Benchmarks (``tapdesk bench …``): each builds its own throw-away database and prints numbers."""
