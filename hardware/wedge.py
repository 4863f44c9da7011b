"""Keyboard-wedge readers: they type the UID into the focused scan field, then Enter.

Nothing runs in the reader thread for them; the scan field parses what was typed
(:func:`hardware.uid.normalise_uid`). The reader object only reports that it is ready.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from hardware.base import ReaderState, Tap

__all__ = ["WedgeReader"]


class WedgeReader:
    """A reader that types: always ready, taps arrive through the scan field."""

    spec = "wedge"

    def events(self, stop: threading.Event) -> Iterator[Tap | ReaderState]:
        """Report "ready" and wait until stopped."""
        yield ReaderState("ready")
        stop.wait()
