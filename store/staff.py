"""Staff sign-in: by tapping a staff band or by choosing your name and typing your PIN.

A station starts signed out. Signing in and out is recorded in the audit log; a wrong PIN is
recorded too, and after :data:`MAX_FAILURES` wrong PINs in a row for one staff member at one
station the PIN is refused for a minute (a PIN is short; guessing must not be cheap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select

from store.context import Actor
from store.errors import NotFound, Refused
from store.i18n import _
from store.models import Audit, StaffMember
from store.security import verify_pin
from store.service import Store

__all__ = [
    "StaffInfo",
    "sign_in_with_band",
    "sign_in_with_pin",
    "sign_out",
    "staff_list",
]

staff_t: Table = StaffMember.__table__  # type: ignore[attr-defined]
audit_t: Table = Audit.__table__  # type: ignore[attr-defined]

#: Wrong PINs in a row (per staff member and station) before the PIN is refused for a while.
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StaffInfo:
    """A staff member as the sign-in screen and the station see them."""

    id: str
    name: str
    roles: tuple[str, ...]
    hubs: tuple[str, ...]
    has_pin: bool
    has_band: bool
    attendee_code: str | None


def _info(row: Any) -> StaffInfo:
    """A staff_member row as the frozen result screens get."""
    return StaffInfo(
        id=row.id,
        name=row.name,
        roles=tuple(x for x in row.roles.split(";") if x),
        hubs=tuple(x for x in (row.hubs or "").split(";") if x),
        has_pin=row.pin_hash is not None,
        has_band=row.band_uid is not None,
        attendee_code=row.attendee_code,
    )


def staff_list(store: Store) -> tuple[StaffInfo, ...]:
    """Every active staff member, by name."""
    with store.db.read() as conn:
        rows = conn.execute(
            select(staff_t).where(staff_t.c.active.is_(True)).order_by(staff_t.c.name)
        ).all()
    return tuple(_info(r) for r in rows)


def _recent_failures(store: Store, station: str, staff_id: str) -> tuple[int, datetime | None]:
    with store.db.read() as conn:
        now = store.db.now(conn)
        rows = conn.execute(
            select(audit_t.c.action, audit_t.c.at)
            .where(audit_t.c.station == station, audit_t.c.subject == staff_id)
            .where(audit_t.c.action.in_(("sign_in", "sign_in_refused")))
            .order_by(audit_t.c.id.desc())
            .limit(MAX_FAILURES)
        ).all()
    failures = 0
    for row in rows:
        if row.action != "sign_in_refused" or now - row.at > LOCKOUT:
            break
        failures += 1
    return failures, (rows[0].at if rows else None)


def _record(store: Store, actor: Actor, action: str, subject: str, **detail: object) -> None:
    with store.db.write() as conn:
        store.audit(conn, actor, store.db.now(conn), action, subject, **detail)


def sign_in_with_pin(store: Store, actor: Actor, staff_id: str, pin: str) -> StaffInfo:
    """Sign ``staff_id`` in at ``actor.station`` if ``pin`` is theirs."""
    with store.db.read() as conn:
        row = conn.execute(
            select(staff_t).where(staff_t.c.id == staff_id, staff_t.c.active.is_(True))
        ).first()
    if row is None:
        raise NotFound(_("There is no staff member {id}.").format(id=staff_id))
    if row.pin_hash is None:
        raise Refused(
            _("{name} signs in with their staff band, not a PIN.").format(name=row.name),
            reason="no_pin",
        )
    failures, _last = _recent_failures(store, actor.station, staff_id)
    if failures >= MAX_FAILURES:
        raise Refused(
            _("Too many wrong PINs: wait a minute, or tap your staff band."), reason="pin_locked"
        )
    if not verify_pin(pin, row.pin_hash):
        _record(store, actor, "sign_in_refused", staff_id, reason="wrong_pin")
        raise Refused(_("Wrong PIN. Try again."), reason="wrong_pin")
    info = _info(row)
    _record(store, actor, "sign_in", staff_id, name=info.name, method="pin")
    return info


def sign_in_with_band(store: Store, actor: Actor, uid: str) -> StaffInfo:
    """Sign in the staff member whose staff band is ``uid``."""
    with store.db.read() as conn:
        row = conn.execute(
            select(staff_t).where(staff_t.c.band_uid == uid, staff_t.c.active.is_(True))
        ).first()
    if row is None:
        _record(store, actor, "sign_in_refused", uid, reason="not_a_staff_band")
        raise Refused(
            _("Band {uid} is not a staff band. Choose your name and type your PIN.").format(
                uid=uid
            ),
            reason="not_a_staff_band",
        )
    info = _info(row)
    _record(store, actor, "sign_in", info.id, name=info.name, method="band")
    return info


def sign_out(store: Store, actor: Actor, staff_id: str) -> None:
    """Record that ``staff_id`` signed out at ``actor.station``."""
    _record(store, actor, "sign_out", staff_id)


def count_staff(store: Store) -> int:
    """How many active staff members the event has."""
    with store.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(staff_t).where(staff_t.c.active.is_(True))
            ).scalar_one()
        )
