"""What every reader shares: the :class:`Tap` it yields and the state it reports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Reader", "ReaderState", "Tap"]


@dataclass(frozen=True, slots=True)
class Tap:
    """One placement of a band on a reader."""

    uid: str
    """Normalised UID: upper-case hex in anticollision order, no separators."""
    reader: str
    """Which reader saw it (its spec, e.g. "sim" or "nfc:usb")."""
    at: datetime
    """When the reader saw it (the laptop's clock: for display and latency only)."""


@dataclass(frozen=True, slots=True)
class ReaderState:
    """The reader's health, for the header.

    ``code`` is stable ("ready", "no_device", "busy", ...) so the user interface can explain it in
    the staff member's language; ``detail`` is the technical text for the log.
    """

    code: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the reader can read bands."""
        return self.code == "ready"


class Reader(Protocol):
    """A source of taps, run in one thread owned by the App."""

    spec: str

    def events(self, stop: threading.Event) -> Iterator[Tap | ReaderState]:
        """Yield taps and state changes until ``stop`` is set; return soon after it is."""
        ...
