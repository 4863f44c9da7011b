"""Domain errors: each message tells a person what happened and what to do."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "Conflict",
    "DatabaseTooNew",
    "DatabaseUnavailable",
    "DomainError",
    "NotFound",
    "OutcomeUnknown",
    "Refused",
]


class DomainError(Exception):
    """Base of every error whose message is shown to staff as it is."""

    @property
    def message(self) -> str:
        """The text to show."""
        return str(self.args[0]) if self.args else self.__class__.__name__


class Refused(DomainError):
    """A business rule said no (a blocked band, a limit reached, sold out)."""

    def __init__(self, message: str, *, reason: str = "refused", scope: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.scope = scope
        """Where the refusal belongs (e.g. "hub:qa"), for statistics."""


class Conflict(DomainError):
    """A constraint stopped a concurrent change; nothing was applied and a retry may succeed."""


class NotFound(DomainError):
    """The thing asked for does not exist."""


class DatabaseUnavailable(DomainError):
    """The database cannot be reached or opened."""


class OutcomeUnknown(DatabaseUnavailable):
    """The connection broke while the commit was on its way: the operation may or may not have
    been saved. Never report it as "not saved" (that invites a second charge under a new id):
    settle it by its operation id (:meth:`store.service.Store.operation_outcome`, or run the same
    operation again with the same id, which returns the first result if it landed)."""

    def __init__(self, message: str, op_id: str = "") -> None:
        super().__init__(message)
        self.op_id = op_id


class DatabaseTooNew(DomainError):
    """The database was made by a newer tapdesk: it is left untouched."""


class ConfigurationError(DomainError):
    """A settings or event file is wrong."""
