"""The simulated reader: taps come from the user interface (a picker) instead of a radio.

It runs in the same reader thread and yields through the same :meth:`events` as a real reader,
so a simulated tap takes exactly the path a real one will.
"""

from __future__ import annotations

import queue
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from hardware.base import ReaderState, Tap

__all__ = ["SimulatedReader", "random_uid"]


def random_uid() -> str:
    """A new NTAG-like 7-byte UID (NXP's manufacturer byte 04 first)."""
    return "04" + secrets.token_hex(6).upper()


class SimulatedReader:
    """A reader whose bands are placed by :meth:`place`."""

    spec = "sim"

    def __init__(self) -> None:
        self._placed: queue.Queue[str] = queue.Queue()

    def place(self, uid: str) -> None:
        """Put band ``uid`` on the reader (one tap)."""
        self._placed.put(uid)

    def events(self, stop: threading.Event) -> Iterator[Tap | ReaderState]:
        """Yield "ready", then one :class:`Tap` per placed band, until ``stop`` is set."""
        yield ReaderState("ready")
        while not stop.is_set():
            try:
                uid = self._placed.get(timeout=0.1)
            except queue.Empty:
                continue
            yield Tap(uid=uid, reader=self.spec, at=datetime.now(UTC))
