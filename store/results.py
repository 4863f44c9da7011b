"""Frozen results handed to screens and the CLI: never a live row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["BandChoice", "BandLookup", "OperationOutcome", "StationInfo", "VerifyReport"]


@dataclass(frozen=True, slots=True)
class BandLookup:
    """What a tap of one band tells: the band's state and whose it is."""

    uid: str
    state: str
    """"unbound" for a band tapdesk has never bound, else active, blocked, lost or returned."""
    attendee_id: int | None = None
    name: str | None = None
    code: str | None = None
    company: str | None = None
    colour: str | None = None
    balance: int | None = None
    state_reason: str = ""
    state_at: datetime | None = None
    credit_note: str = ""
    """Pay in four: "Paused: overdue instalment …" or what this tap collected; "" usually."""
    paused: bool = False
    """An overdue instalment: no prize and no new plan until it is paid."""


@dataclass(frozen=True, slots=True)
class BandChoice:
    """A bound band offered by the simulated reader's picker."""

    uid: str
    name: str
    code: str


@dataclass(frozen=True, slots=True)
class StationInfo:
    """A station as it last announced itself."""

    name: str
    role: str | None
    staff: str | None
    reader_state: str
    last_seen: datetime | None
    silent: bool


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of checking the ledger's invariants."""

    checked: tuple[str, ...]
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no invariant is violated."""
        return not self.violations


@dataclass(frozen=True, slots=True)
class OperationOutcome:
    """A committed operation, found by its id (to settle an outcome the station did not see)."""

    op_id: str
    kind: str
    station: str
    at: datetime
    result: str
    """The result as stored (JSON); ``store.codec.load`` turns it back into its dataclass."""
