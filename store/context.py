"""Who acts, where, and under which correlation id.

Every user action gets one :class:`Actor` context with a fresh correlation id (and one
operation id, generated once, so a retry can never apply twice). The correlation id is also put
in a context variable while the store works, so each log line it writes carries it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

__all__ = ["Actor", "correlation", "current_correlation_id", "new_id"]

_correlation: ContextVar[str | None] = ContextVar("tapdesk_correlation", default=None)


def new_id() -> str:
    """A fresh random id (a UUID4 in hex)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Actor:
    """The station and staff member behind one user action."""

    station: str
    staff: str | None = None
    """The staff member's name, as records show it."""
    correlation_id: str = field(default_factory=new_id)
    op_id: str = field(default_factory=new_id)
    staff_id: str | None = None
    """The signed-in staff member's id from the event file (budgets, anti-fraud)."""

    def next_action(self) -> Actor:
        """The same station and staff with new correlation and operation ids."""
        return replace(self, correlation_id=new_id(), op_id=new_id())


def current_correlation_id() -> str | None:
    """The correlation id of the action being worked on in this thread, if any."""
    return _correlation.get()


@contextmanager
def correlation(correlation_id: str) -> Iterator[None]:
    """Tag every log line written inside the block with ``correlation_id``."""
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)
