"""The wristband table: look a band up, replace a lost one, take bands back at the end.

Each writing function is one operation (:meth:`store.service.Store.run`). What two stations
could race on is decided by the database:

- a replacement blocks the old band by a guarded ``UPDATE ... WHERE state = 'active'`` BEFORE it
  claims the new one (the partial unique index allows one active band per attendee), and claims
  the new band as the desk does (``INSERT ... ON CONFLICT DO NOTHING`` or a guarded UPDATE of a
  returned band), so of two stations replacing with the same new band exactly one wins and the
  other's whole transaction, the block of its old band included, is rolled back;
- a return is a guarded UPDATE of an active band.

Blocking and unblocking are :func:`store.bands.block_band` and :func:`store.bands.unblock_band`.
Points are never moved: accounts are per attendee, so the balance follows the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    String,
    Table,
    and_,
    column,
    select,
    text,
    update,
)

from store import credit
from store.coats import CoatTicket, _ticket
from store.context import Actor
from store.desk import _UID, _band_refusal, _claim_band, _timezone, local_time
from store.driver import compact
from store.errors import NotFound, Refused
from store.i18n import _
from store.ledger import account_t
from store.models import Attendee, Band
from store.points import TransferView, _reference_ids, describe_transfer
from store.service import Store
from store.types import UTCDateTime

__all__ = [
    "BandInspection",
    "Holder",
    "OtherBand",
    "ReplaceResult",
    "ReturnResult",
    "inspect_band",
    "record_lost_band_attempt",
    "replace_band",
    "return_band",
]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]

#: How many transfers the inspection shows.
TRANSFERS_SHOWN = 20


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holder:
    """Whose band it is."""

    attendee_id: int
    name: str
    code: str


@dataclass(frozen=True, slots=True)
class OtherBand:
    """Another band of the same person (an earlier lost one, a returned one)."""

    uid: str
    state: str


@dataclass(frozen=True, slots=True)
class BandInspection:
    """Everything the wristband table shows about one band.

    It includes the coat the holder has in at the coat check, and one line when the holder is
    paused by an overdue pay-in-four instalment.
    """

    uid: str
    state: str
    """"unbound" for a band tapdesk has never seen, else active, blocked, lost or returned."""
    state_reason: str
    state_at: datetime | None
    state_at_local: str | None
    """The state change's time as HH:MM in the event's time zone."""
    state_station: str | None
    state_staff: str | None
    holder: Holder | None
    balance: int | None
    transfers: tuple[TransferView, ...]
    """The holder's newest transfers, newest first (at most :data:`TRANSFERS_SHOWN`)."""
    other_bands: tuple[OtherBand, ...]
    """The holder's other bands, newest first."""
    next_due_at: datetime | None = None
    """When the holder's next pay-in-four instalment falls due (None: nothing to collect)."""
    credit_note: str = ""
    plans_note: str = ""
    """Pay in four: the holder's open plans, what is owed and the next instalment ("" if none)."""
    """Pay in four: "Paused: overdue instalment …" ("" usually)."""
    coat: CoatTicket | None = None
    """The coat the holder has in at the coat check now (keyed by the person, not the band)."""

    @property
    def usable(self) -> bool:
        """Whether a station would take this band (active and bound to someone)."""
        return self.state == "active" and self.holder is not None


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    """A lost band blocked and a new one bound to the same person."""

    attendee_id: int
    name: str
    old_uid: str
    new_uid: str
    old_was_blocked: bool
    """True when the old band had been blocked before (it was left as it was)."""
    reason: str
    """What the old band's state now says."""
    balance: int
    at: datetime
    at_local: str


@dataclass(frozen=True, slots=True)
class ReturnResult:
    """A band given back at the end: it is unbound, the account stays."""

    uid: str
    attendee_id: int | None
    name: str | None
    balance: int | None
    at: datetime
    at_local: str


# -- inspection -------------------------------------------------------------------------------

_INSPECT = select(
    band_t.c.uid,
    band_t.c.state,
    band_t.c.state_reason,
    band_t.c.state_at,
    band_t.c.state_station,
    band_t.c.state_staff,
    band_t.c.attendee_id,
    attendee_t.c.name,
    attendee_t.c.code,
    account_t.c.balance,
    account_t.c.next_due_at,
).select_from(
    band_t.outerjoin(attendee_t, attendee_t.c.id == band_t.c.attendee_id).outerjoin(
        account_t, account_t.c.attendee_id == band_t.c.attendee_id
    )
)

#: The whole inspection as ONE prebuilt statement (both engines), three parts in order:
#: 0. the band, its holder, their account, the event's time zone and the coat the holder has in
#:    (at most one: a unique index);
#: 1. the holder's other bands, newest first;
#: 2. the account's newest transfers, newest first, each with the name of the activity, question
#:    or prize its reference points at, as ``store.points._reference_names`` looks it up
#:    ("activity:<id>", "quiz:<id>", "prize:<id>", "pay-in-four:<prize id>[:...]", each also
#:    after "undo:").
_INSPECT_ALL = text(
    compact(
        f"""
    SELECT 0 AS part, 1 AS pos,
           b.uid, b.state, b.state_reason, b.state_at, b.state_station, b.state_staff,
           b.attendee_id, a.name, a.code, c.id AS account_id, c.balance, c.next_due_at,
           (SELECT e.timezone FROM event e ORDER BY e.id LIMIT 1) AS timezone,
           k.id AS coat_id, k.attendee_id AS coat_attendee_id, k.state AS coat_state,
           k.rack_id, k.hanger, k.paper_tag, k.in_at, k.in_station, k.out_at, k.out_station,
           k.out_staff, k.out_id_checked, r.name AS rack_name, r.out_of_service_at,
           -- typed: PostgreSQL matches a UNION's column types branch by branch
           CAST(NULL AS INTEGER) AS id, CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS created_at,
           CAST(NULL AS INTEGER) AS amount, CAST(NULL AS INTEGER) AS credit_account_id,
           NULL AS transfer_code, NULL AS reference, NULL AS station, NULL AS staff,
           NULL AS ref_name
    FROM band b
    LEFT JOIN attendee a ON a.id = b.attendee_id
    LEFT JOIN account c ON c.attendee_id = b.attendee_id
    LEFT JOIN coat k ON k.attendee_id = a.id AND k.state = 'in'
    LEFT JOIN rack r ON r.id = k.rack_id
    WHERE b.uid = :p_uid
    UNION ALL
    SELECT 1, ROW_NUMBER() OVER (ORDER BY o.bound_at DESC, o.uid),
           o.uid, o.state, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM band o
    WHERE o.attendee_id = (SELECT s.attendee_id FROM band s WHERE s.uid = :p_uid)
      AND o.uid <> :p_uid
    UNION ALL
    SELECT 2, ROW_NUMBER() OVER (ORDER BY t.id DESC),
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           t.id, t.created_at, t.amount, t.credit_account_id, t.code, t.reference, t.station,
           t.staff,
           CASE
               WHEN substr(t.ref, 1, 9) = 'activity:' THEN
                   (SELECT n.name FROM activity n WHERE n.id = substr(t.ref, 10))
               WHEN substr(t.ref, 1, 5) = 'quiz:' THEN
                   (SELECT n.text FROM quiz_question n WHERE n.id = substr(t.ref, 6))
               WHEN substr(t.ref, 1, 6) = 'prize:' THEN
                   (SELECT n.name FROM prize n WHERE n.id = substr(t.ref, 7))
               WHEN substr(t.ref, 1, 12) = 'pay-in-four:' THEN
                   -- the prize id is what comes before the next ':'
                   (SELECT n.name FROM prize n
                    WHERE n.id NOT LIKE '%:%'
                      AND (substr(t.ref, 13) = n.id
                           OR substr(t.ref, 13, length(n.id) + 1) = n.id || ':'))
           END
    FROM (
        SELECT u.*,
               CASE WHEN substr(u.reference, 1, 5) = 'undo:' THEN substr(u.reference, 6)
                    ELSE u.reference END AS ref
        FROM (
            -- the account's rows through each account index (a transfer never has the same
            -- account on both sides); not "debit OR credit", which PostgreSQL reads as a scan
            -- of the whole ledger while it is small, a plan a station then keeps
            SELECT x.id, x.created_at, x.amount, x.credit_account_id, x.code, x.reference,
                   x.station, x.staff
            FROM transfer x
            WHERE x.debit_account_id = (SELECT m.id FROM band s JOIN account m
                                        ON m.attendee_id = s.attendee_id WHERE s.uid = :p_uid)
            UNION ALL
            SELECT x.id, x.created_at, x.amount, x.credit_account_id, x.code, x.reference,
                   x.station, x.staff
            FROM transfer x
            WHERE x.credit_account_id = (SELECT m.id FROM band s JOIN account m
                                         ON m.attendee_id = s.attendee_id WHERE s.uid = :p_uid)
        ) u
        -- "+ 0": not a backward walk of the whole ledger (the primary key) filtering for this
        -- account, which the planner picks for a value it cannot see: the account's own rows,
        -- then the newest of them. The count is written in, not a parameter, so that the plan
        -- PostgreSQL keeps for the prepared statement costs what a fresh one would.
        ORDER BY u.id + 0 DESC
        LIMIT {TRANSFERS_SHOWN}
    ) t
    ORDER BY part, pos
    """
    )
).columns(
    # in the order of the SELECT list: SQLAlchemy then matches them by position, once
    column("part", Integer),
    column("pos", Integer),
    column("uid", String),
    column("state", String),
    column("state_reason", String),
    column("state_at", UTCDateTime),
    column("state_station", String),
    column("state_staff", String),
    column("attendee_id", Integer),
    column("name", String),
    column("code", String),
    column("account_id", Integer),
    column("balance", Integer),
    column("next_due_at", UTCDateTime),
    column("timezone", String),
    column("coat_id", Integer),
    column("coat_attendee_id", Integer),
    column("coat_state", String),
    column("rack_id", String),
    column("hanger", Integer),
    column("paper_tag", String),
    column("in_at", UTCDateTime),
    column("in_station", String),
    column("out_at", UTCDateTime),
    column("out_station", String),
    column("out_staff", String),
    column("out_id_checked", Boolean),
    column("rack_name", String),
    column("out_of_service_at", UTCDateTime),
    column("id", Integer),
    column("created_at", UTCDateTime),
    column("amount", Integer),
    column("credit_account_id", Integer),
    column("transfer_code", String),
    column("reference", String),
    column("station", String),
    column("staff", String),
    column("ref_name", String),
)


def inspect_band(store: Store, uid: str) -> BandInspection:
    """What the wristband table shows for band ``uid``: state, holder, balance, transfers.

    A band tapdesk never bound is "unbound" with no holder. The coat the holder has in at the
    coat check is included; a holder paused by an overdue pay-in-four instalment gets a line.

    One prebuilt statement (:data:`_INSPECT_ALL`); the pay-in-four lines read more only for a
    holder with an instalment scheduled.
    """
    band_uid = uid.strip().upper()
    with store.db.read() as conn:
        rows = conn.execute(_INSPECT_ALL, {"p_uid": band_uid}).all()
        if not rows or rows[0].part != 0:
            return BandInspection(
                uid=band_uid,
                state="unbound",
                state_reason="",
                state_at=None,
                state_at_local=None,
                state_station=None,
                state_staff=None,
                holder=None,
                balance=None,
                transfers=(),
                other_bands=(),
            )
        row = rows[0]
        timezone = row.timezone if row.timezone is not None else "UTC"
        others: tuple[OtherBand, ...] = ()
        transfers: tuple[TransferView, ...] = ()
        credit_note = plans_note = ""
        holder: Holder | None = None
        coat: CoatTicket | None = None
        if row.attendee_id is not None:
            attendee_id = int(row.attendee_id)
            holder = Holder(attendee_id, row.name, row.code)
            if row.next_due_at is not None:
                overdue = credit.overdue_points(conn, attendee_id)
                credit_note = credit.paused_text(overdue) if overdue else ""
                plans_note = credit.plans_text(conn, attendee_id, timezone)
            if row.account_id is None:  # as store.points.statement says for a person without one
                raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
            others, transfers = _lists(rows, int(row.account_id))
            if row.coat_id is not None:
                coat = _coat(row, timezone)
    return BandInspection(
        uid=band_uid,
        state=row.state,
        state_reason=row.state_reason or "",
        state_at=row.state_at,
        state_at_local=local_time(row.state_at, timezone) if row.state_at else None,
        state_station=row.state_station,
        state_staff=row.state_staff,
        holder=holder,
        balance=int(row.balance) if holder is not None and row.balance is not None else None,
        transfers=transfers,
        other_bands=others,
        next_due_at=row.next_due_at if holder is not None else None,
        credit_note=credit_note,
        plans_note=plans_note,
        coat=coat,
    )


def _lists(
    rows: Sequence[Any], account: int
) -> tuple[tuple[OtherBand, ...], tuple[TransferView, ...]]:
    """The other bands (part 1) and the transfers (part 2, as ``statement`` gives them)."""
    others: list[OtherBand] = []
    moves: list[Any] = []
    names: dict[tuple[str, str], str] = {}
    for r in rows:
        if r.part == 1:
            others.append(OtherBand(r.uid, r.state))
        elif r.part == 2:
            moves.append(r)
            if r.ref_name is not None:
                found = _reference_ids(r.reference)
                if found is not None:
                    names[found] = str(r.ref_name)
    transfers = tuple(
        TransferView(
            transfer_id=r.id,
            at=r.created_at,
            amount=r.amount if r.credit_account_id == account else -r.amount,
            code=r.transfer_code,
            reference=r.reference,
            station=r.station,
            staff=r.staff,
            label=describe_transfer(r.transfer_code, r.reference, names),
        )
        for r in moves
    )
    return tuple(others), transfers


def _coat(row: Any, timezone: str) -> CoatTicket:
    """The held coat from the inspection's first row, as the coat check builds it (its own
    columns carry a ``coat_`` prefix where the band's have the same name)."""
    own = {"id": row.coat_id, "attendee_id": row.coat_attendee_id, "state": row.coat_state}
    return _ticket(SimpleNamespace(**{**row._mapping, **own}), timezone)


def record_lost_band_attempt(store: Store, actor: Actor, uid: str) -> None:
    """Write a ``lost_band_tapped`` audit row: someone showed a blocked or lost band."""
    band_uid = uid.strip().upper()
    with store.db.write() as conn:
        row = conn.execute(
            select(band_t.c.state, band_t.c.attendee_id).where(band_t.c.uid == band_uid)
        ).first()
        store.audit(
            conn,
            actor,
            store.db.now(conn),
            "lost_band_tapped",
            band_uid,
            state=row.state if row is not None else "unbound",
            attendee_id=row.attendee_id if row is not None else None,
        )


# -- replacement ------------------------------------------------------------------------------

_PERSON = select(
    attendee_t.c.name,
    attendee_t.c.checked_in_at,
    account_t.c.balance,
).select_from(attendee_t.outerjoin(account_t, account_t.c.attendee_id == attendee_t.c.id))


def replace_band(store: Store, actor: Actor, attendee_id: int, new_uid: str) -> ReplaceResult:
    """Block the attendee's band as lost and bind ``new_uid`` to them, in ONE operation.

    The old band gets state "lost" with the reason "reported lost at HH:MM at <station>,
    replaced by <new uid>" (if it was already blocked or lost, it is left as it was). The
    balance is the person's and stays. Refused when the new band is someone else's (saying
    whose) or blocked/lost, when the attendee is not checked in, or when they never got a band
    (that is the registration desk's job).
    """
    band_uid = new_uid.strip().upper()

    def work(conn: Connection, now: datetime) -> ReplaceResult:
        if not _UID.match(band_uid):
            raise Refused(
                _("{uid} is not a band UID: tap the band on the reader.").format(uid=new_uid),
                reason="bad_uid",
            )
        timezone = _timezone(conn)
        person = conn.execute(_PERSON.where(attendee_t.c.id == attendee_id)).first()
        if person is None:
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        if person.checked_in_at is None:
            raise Refused(
                _("{name} is not checked in yet: check them in at the desk first.").format(
                    name=person.name
                ),
                reason="not_checked_in",
            )
        bands = conn.execute(
            select(band_t.c.uid, band_t.c.state)
            .where(band_t.c.attendee_id == attendee_id)
            .order_by(band_t.c.state_at.desc(), band_t.c.uid)
        ).all()
        active = next((b.uid for b in bands if b.state == "active"), None)
        blocked = next((b.uid for b in bands if b.state in ("blocked", "lost")), None)
        if active == band_uid:
            raise Refused(
                _("Band {uid} is already {name}'s.").format(uid=band_uid, name=person.name),
                reason="already_bound",
            )
        old_uid = active or blocked
        if old_uid is None:
            raise Refused(
                _(
                    "{name} has no band to replace: their first band is bound at the "
                    "registration desk."
                ).format(name=person.name),
                reason="no_band",
            )
        # Refuse early, with whose band it is, before anything is changed.
        new_band = conn.execute(
            select(
                band_t.c.state,
                band_t.c.attendee_id,
                band_t.c.state_reason,
                band_t.c.state_at,
                band_t.c.state_station,
                band_t.c.bound_at,
                attendee_t.c.name,
            )
            .select_from(band_t.outerjoin(attendee_t, attendee_t.c.id == band_t.c.attendee_id))
            .where(band_t.c.uid == band_uid)
        ).first()
        if new_band is not None and not (
            new_band.state == "returned"
            or (new_band.state == "active" and new_band.attendee_id is None)
        ):
            raise _band_refusal(band_uid, new_band, timezone)
        at_local = local_time(now, timezone)
        reason = _("reported lost at {time} at {station}, replaced by {uid}").format(
            time=at_local, station=actor.station, uid=band_uid
        )[:200]
        if active is not None:
            # Block the old band first: the one-active-band-per-attendee index must not see two.
            blocked_now = conn.execute(
                update(band_t)
                .where(
                    band_t.c.uid == active,
                    band_t.c.attendee_id == attendee_id,
                    band_t.c.state == "active",
                )
                .values(
                    state="lost",
                    state_reason=reason,
                    state_at=now,
                    state_station=actor.station,
                    state_staff=actor.staff,
                )
            ).rowcount
            if blocked_now != 1:
                raise Refused(
                    _(
                        "{name}'s band was changed at another station a moment ago: try again."
                    ).format(name=person.name),
                    reason="band_state",
                )
            store.audit(conn, actor, now, "band_lost", active, reason=reason, was="active")
        _claim_band(conn, actor, now, band_uid, attendee_id, timezone)
        store.audit(
            conn,
            actor,
            now,
            "band_replaced",
            band_uid,
            attendee_id=attendee_id,
            old=old_uid,
        )
        return ReplaceResult(
            attendee_id=attendee_id,
            name=person.name,
            old_uid=old_uid,
            new_uid=band_uid,
            old_was_blocked=active is None,
            reason=reason if active is not None else "",
            balance=int(person.balance or 0),
            at=now,
            at_local=at_local,
        )

    return store.run(actor, "replace_band", work, ReplaceResult)


# -- return -----------------------------------------------------------------------------------


def return_band(store: Store, actor: Actor, uid: str) -> ReturnResult:
    """Take band ``uid`` back at the end: it becomes "returned" (no station takes it any more;
    it can be bound again). The attendee's account and balance stay."""
    band_uid = uid.strip().upper()

    def work(conn: Connection, now: datetime) -> ReturnResult:
        row = conn.execute(_INSPECT.where(band_t.c.uid == band_uid)).first()
        if row is None:
            raise NotFound(
                _("Band {uid} was never bound: there is nothing to return.").format(uid=band_uid)
            )
        if row.state == "returned":
            raise Refused(
                _("Band {uid} was already returned.").format(uid=band_uid),
                reason="already_returned",
            )
        changed = conn.execute(
            update(band_t)
            .where(
                and_(band_t.c.uid == band_uid, band_t.c.state.in_(("active", "blocked", "lost")))
            )
            .values(
                state="returned",
                state_reason=_("returned at the end"),
                state_at=now,
                state_station=actor.station,
                state_staff=actor.staff,
            )
        ).rowcount
        if changed != 1:
            raise Refused(
                _("Band {uid} was changed at another station a moment ago: try again.").format(
                    uid=band_uid
                ),
                reason="band_state",
            )
        store.audit(
            conn, actor, now, "band_returned", band_uid, attendee_id=row.attendee_id, was=row.state
        )
        return ReturnResult(
            uid=band_uid,
            attendee_id=row.attendee_id,
            name=row.name,
            balance=int(row.balance) if row.balance is not None else None,
            at=now,
            at_local=local_time(now, _timezone(conn)),
        )

    return store.run(actor, "return_band", work, ReturnResult)
