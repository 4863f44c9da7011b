"""App-wide messages. Screens may import this module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.message import Message

__all__ = ["TapDetected"]


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
