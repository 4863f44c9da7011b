"""App-wide messages. Screens may import this module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from textual.message import Message

__all__ = ["DataChanged", "OutboxChanged", "TapDetected"]


@dataclass
class TapDetected(Message, bubble=False):
    """A band was placed on the reader.

    The reader thread posts it to the App, which forwards a copy to the screen that takes taps.
    ``bubble=False``: a forwarded copy must not bubble back up to the App and loop.
    """

    uid: str
    reader: str
    at: datetime
    correlation_id: str


@dataclass
class DataChanged(Message, bubble=False):
    """Something was committed somewhere (this station or another): refresh what is shown.

    The App polls the database's change counter and posts this to every screen on the stack
    when it moves; a screen that shows live figures (balances, stock, occupancy) handles
    ``on_data_changed`` by reloading them in a worker.
    """

    change_seq: int


@dataclass
class OutboxChanged(Message, bubble=False):
    """The station's outbox changed: an award was kept offline, or kept awards were sent.

    ``settled`` holds, for each award the replay just settled, (the outbox entry, the award
    result or None, the refusal message or "").
    """

    pending: int
    refused: int
    settled: tuple[tuple[Any, object | None, str], ...] = ()
