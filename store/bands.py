"""Band states: active, blocked, lost, returned. A band that is not active is refused everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, select, update

from store.context import Actor
from store.errors import NotFound, Refused
from store.i18n import _
from store.models import Band
from store.service import Store

__all__ = ["BandState", "block_band", "resolve_wedge_read", "state_text", "unblock_band"]

band_t: Table = Band.__table__  # type: ignore[attr-defined]


def state_text(state: str) -> str:
    """A band state in the staff member's language."""
    return {
        "active": _("active"),
        "unbound": _("unbound"),
        "blocked": _("blocked"),
        "lost": _("blocked — reported lost"),
        "returned": _("returned"),
    }.get(state, state)


@dataclass(frozen=True, slots=True)
class BandState:
    """A band's state after a change."""

    uid: str
    state: str
    reason: str
    at: datetime


def _change_state(
    store: Store, actor: Actor, uid: str, *, to: str, reason: str, allowed_from: tuple[str, ...]
) -> BandState:
    def work(conn: Connection, now: datetime) -> BandState:
        found = conn.execute(
            select(band_t.c.state, band_t.c.attendee_id).where(band_t.c.uid == uid)
        ).first()
        if found is None:
            raise NotFound(
                _("Band {uid} was never bound: there is nothing to change.").format(uid=uid)
            )
        current = found.state
        if to == "active" and found.attendee_id is not None:
            other = conn.execute(
                select(band_t.c.uid).where(
                    band_t.c.attendee_id == found.attendee_id,
                    band_t.c.state == "active",
                    band_t.c.uid != uid,
                )
            ).scalar()
            if other is not None:
                raise Refused(
                    _("Band {uid} cannot be unblocked: its holder now wears band {other}.").format(
                        uid=uid, other=other
                    ),
                    reason="other_active_band",
                )
        # Guarded on the state read above: a concurrent change makes this match no row.
        changed = conn.execute(
            update(band_t)
            .where(band_t.c.uid == uid, band_t.c.state.in_(allowed_from))
            .values(
                state=to,
                state_reason=reason[:200],
                state_at=now,
                state_station=actor.station,
                state_staff=actor.staff,
            )
        ).rowcount
        if changed != 1:
            raise Refused(
                _("Band {uid} is {state}; it cannot become {to}.").format(
                    uid=uid, state=current, to=to
                ),
                reason="band_state",
            )
        store.audit(conn, actor, now, f"band_{to}", uid, reason=reason, was=current)
        return BandState(uid, to, reason, now)

    return store.run(actor, f"band_{to}", work, BandState)


def block_band(
    store: Store, actor: Actor, uid: str, reason: str, *, lost: bool = False
) -> BandState:
    """Block band ``uid`` (``lost=True``: it was reported lost). Every station then refuses it."""
    if not reason.strip():
        raise Refused(_("Say why the band is blocked."), reason="reason_missing")
    return _change_state(
        store, actor, uid, to="lost" if lost else "blocked", reason=reason, allowed_from=("active",)
    )


def unblock_band(store: Store, actor: Actor, uid: str, reason: str) -> BandState:
    """Make a blocked or lost band active again (refused if its holder has a new band meanwhile;
    the partial unique index on active bands backs that up against a race)."""
    return _change_state(
        store, actor, uid, to="active", reason=reason, allowed_from=("blocked", "lost")
    )


def resolve_wedge_read(store: Store, candidates: tuple[str, ...], prefix: str | None) -> str:
    """The band a keyboard-wedge read means, or :class:`Refused` when it cannot be told.

    ``candidates``: full UIDs to try in order (as typed, then the other byte order); the first
    that is a known band wins, else the first (a band never seen before). ``prefix``: only the
    first three bytes of a 7-byte UID were typed (a reader that stops after the first cascade
    level); exactly one bound band must start with them, or the read is refused rather than
    guessed.
    """
    with store.db.read() as conn:
        if prefix:
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            matches = (
                conn.execute(
                    select(band_t.c.uid)
                    .where(band_t.c.uid >= prefix, band_t.c.uid < upper)
                    .where(band_t.c.state == "active", band_t.c.attendee_id.is_not(None))
                    .limit(2)
                )
                .scalars()
                .all()
            )
            if len(matches) == 1:
                return str(matches[0])
            if not matches:
                raise Refused(
                    _(
                        "The reader typed only the start of a band's UID ({prefix}…) and no band "
                        "matches it: tap again, or use a reader that types the whole UID."
                    ).format(prefix=prefix),
                    reason="truncated_unknown",
                )
            raise Refused(
                _(
                    "The reader typed only the start of the UID ({prefix}…), which fits more than "
                    "one band: nothing was done. Find the person by name, or use a reader that "
                    "types the whole UID."
                ).format(prefix=prefix),
                reason="truncated_ambiguous",
            )
        for uid in candidates:
            if conn.execute(select(band_t.c.uid).where(band_t.c.uid == uid)).first():
                return uid
    return candidates[0]
