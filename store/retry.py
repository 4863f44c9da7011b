"""Retrying one user action while the database is away, without ever applying it twice.

A screen runs its write through :func:`run_with_retry` in a worker thread, with an Actor (and so
an operation id) made ONCE for the user action::

    actor = app.actor()
    result = run_with_retry(
        lambda: desk.check_in(store, actor, attendee_id),
        on_state,                                  # shows "database unreachable — retrying"
        check=lambda: store.operation_outcome(actor.op_id),
    )

- :class:`DatabaseUnavailable` before COMMIT: nothing was saved. The same call (same operation
  id) is retried with backoff; after ``give_up_s`` it fails with a plain "not done: the database
  is unreachable" (nothing saved, safe to try again later).
- :class:`OutcomeUnknown` (the connection broke while COMMIT was on its way): the station says
  "outcome unknown — checking" and asks ``check`` (the operation id's outcome) until the
  database answers. Then it runs the same call again: a landed operation returns its first
  result unchanged, one that never landed is applied now — either way exactly once. It never
  says "not saved" for an unknown outcome.

Business refusals and other domain errors pass straight through. Spends and assignments are
never queued for later: when the database stays away they end in "not done".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from store.errors import DatabaseUnavailable, OutcomeUnknown
from store.i18n import _

__all__ = [
    "DEFAULT_POLICY",
    "NotDone",
    "RetryPolicy",
    "RetryState",
    "StillUnknown",
    "run_with_retry",
    "state_text",
]

log = logging.getLogger("tapdesk.store")

R = TypeVar("R")


class RetryState(StrEnum):
    """What the station shows while one action waits for the database."""

    UNREACHABLE = "unreachable"
    """The database did not answer; nothing was saved; retrying the same operation."""
    UNKNOWN = "unknown"
    """The connection broke during COMMIT; checking whether the operation landed."""
    RECOVERED = "recovered"
    """The database answers again; the operation is being sent (or settled) now."""


class NotDone(DatabaseUnavailable):
    """Given up while the database stayed away: the action was NOT done (nothing saved)."""


class StillUnknown(OutcomeUnknown):
    """Given up checking: the outcome is still unknown (never reported as "not saved")."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long and how often to retry."""

    first_delay_s: float = 0.25
    max_delay_s: float = 2.0
    give_up_s: float = 20.0
    """Stop retrying an action that certainly did not land after this long: "not done"."""
    unknown_give_up_s: float = 300.0
    """Keep checking an unknown outcome this long (it must be settled, not guessed)."""


DEFAULT_POLICY = RetryPolicy()


def state_text(state: RetryState, attempt: int = 0) -> str:
    """The line a station shows for ``state``."""
    if state is RetryState.UNREACHABLE:
        return _("Database unreachable — retrying (attempt {n})…").format(n=attempt + 1)
    if state is RetryState.UNKNOWN:
        return _("Outcome unknown — checking whether it was saved…")
    return _("Database back — finishing the operation…")


def run_with_retry(
    call: Callable[[], R],
    on_state: Callable[[RetryState, str], Any] | None = None,
    *,
    check: Callable[[], object] | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    cancelled: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> R:
    """Run ``call`` (one operation with a fixed operation id) until it lands or is refused.

    ``on_state(state, text)`` is called (from this thread) whenever the station should say
    something; ``check()`` looks the operation id up and raises :class:`DatabaseUnavailable`
    while the database does not answer (e.g. ``lambda: store.operation_outcome(op_id)``).
    Raises :class:`NotDone` or :class:`StillUnknown` when giving up, or whatever domain error
    ``call`` raises (a refusal, a conflict).
    """
    started = clock()
    delay = policy.first_delay_s
    attempt = 0
    unknown: OutcomeUnknown | None = None
    last: DatabaseUnavailable | None = None

    def say(state: RetryState) -> None:
        if on_state is not None:
            on_state(state, state_text(state, attempt))

    while True:
        if unknown is not None and check is not None:
            try:
                check()
            except DatabaseUnavailable as exc:
                last = exc
            else:
                unknown = None  # settled: the database answers; the same call now says which
                say(RetryState.RECOVERED)
        if unknown is None or check is None:
            try:
                result = call()
            except OutcomeUnknown as exc:
                unknown, last = exc, exc
                say(RetryState.UNKNOWN)
            except DatabaseUnavailable as exc:
                last = exc
                if unknown is None:
                    say(RetryState.UNREACHABLE)
            else:
                if attempt:
                    log.info("operation landed after retrying", extra={"attempts": attempt + 1})
                return result
        elapsed = clock() - started
        limit = policy.unknown_give_up_s if unknown is not None else policy.give_up_s
        if elapsed >= limit or cancelled():
            if unknown is not None:
                raise StillUnknown(
                    _(
                        "Outcome still unknown: the database did not answer. Operation {op_id} "
                        "may have been saved: check the attendee before doing it again."
                    ).format(op_id=unknown.op_id[:8]),
                    unknown.op_id,
                ) from last
            raise NotDone(
                _(
                    "Not done: the database is unreachable. Nothing was saved; try again when "
                    "it answers."
                )
            ) from last
        attempt += 1
        sleep(delay)
        delay = min(delay * 2, policy.max_delay_s)
