"""Points: awarding, spending and correcting, and what an account holds.

Every function here is one operation (:meth:`store.service.Store.run`): idempotent by the
actor's operation id, stamped with the database clock, audited, and refused with a reason a
person can act on. A correction is a new transfer the other way; nothing updates or deletes a
transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, bindparam, select, text

from store import codec
from store.bands import state_text
from store.context import Actor
from store.credit import collect_due, require_not_paused
from store.driver import SAVE_RESULT, DriverConnection, actor_params
from store.errors import NotFound, Refused
from store.i18n import _
from store.ledger import (
    account_t,
    balance_of,
    post_transfer,
    system_account_id,
    transfer_t,
)
from store.models import Activity, Attendee, Band, Prize, QuizQuestion, Station
from store.service import Fallback, Store

__all__ = [
    "AwardResult",
    "BandHolder",
    "CorrectionResult",
    "TransferView",
    "award",
    "correct",
    "event_day",
    "require_active_band",
    "spend",
    "statement",
]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
station_t: Table = Station.__table__  # type: ignore[attr-defined]

#: Transfer codes a staff member may use when awarding or spending.
AWARD_CODES = frozenset({"quiz", "activity", "social", "cool", "pre-event", "quest", "bonus"})
SPEND_CODES = frozenset({"prize", "instalment"})


@dataclass(frozen=True, slots=True)
class BandHolder:
    """The attendee behind an active band."""

    attendee_id: int
    account_id: int
    name: str
    next_due_at: datetime | None = None
    """The account's next pay-in-four due time (read with the band: no extra query)."""


@dataclass(frozen=True, slots=True)
class AwardResult:
    """Points moved onto (or off) an attendee's account."""

    transfer_id: int
    attendee_id: int
    name: str
    amount: int
    balance: int
    at: datetime
    credit_note: str = ""
    """Pay in four: what this operation collected, or "Paused: …" ("" usually)."""


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    """A transfer undone by a correcting transfer."""

    transfer_id: int
    corrects: int
    amount: int
    at: datetime


@dataclass(frozen=True, slots=True)
class TransferView:
    """One line of an account's statement."""

    transfer_id: int
    at: datetime
    amount: int
    """Positive for points received, negative for points spent."""
    code: str
    reference: str
    station: str
    staff: str | None
    label: str = ""
    """Why the points moved, in words for staff (names instead of the reference's ids)."""


#: The band's state and holder, in one indexed lookup (prebuilt: this is on every tap).
_HOLDER = (
    select(
        band_t.c.state,
        band_t.c.state_reason,
        band_t.c.state_at,
        band_t.c.state_station,
        attendee_t.c.id,
        attendee_t.c.name,
        account_t.c.id.label("account_id"),
        account_t.c.next_due_at,
    )
    .select_from(band_t)
    .outerjoin(attendee_t, attendee_t.c.id == band_t.c.attendee_id)
    .outerjoin(account_t, account_t.c.attendee_id == attendee_t.c.id)
    .where(band_t.c.uid == bindparam("p_uid"))
)


def _fmt_time(moment: datetime | None) -> str:
    return moment.strftime("%H:%M") if moment else "?"


def require_active_band(conn: Connection, uid: str) -> BandHolder:
    """The holder of band ``uid``, or :class:`Refused` saying why the band cannot be used."""
    row = conn.execute(_HOLDER, {"p_uid": uid}).first()
    if row is None or (row.id is None and row.state == "active"):
        raise Refused(
            _("Unbound band {uid}: send them to the wristband table.").format(uid=uid),
            reason="unbound_band",
        )
    if row.state != "active":
        raise Refused(
            _("Band {uid} is {state}: {reason} (at {time}, {station}).").format(
                uid=uid,
                state=state_text(row.state),
                reason=row.state_reason or "—",
                time=_fmt_time(row.state_at),
                station=row.state_station or "?",
            ),
            reason=f"band_{row.state}",
        )
    if row.id is None:
        raise Refused(
            _("Band {uid} is not bound to anyone: send them to the wristband table.").format(
                uid=uid
            ),
            reason="unbound_band",
        )
    return BandHolder(
        attendee_id=row.id, account_id=row.account_id, name=row.name, next_due_at=row.next_due_at
    )


def event_day(moment: datetime, timezone: str) -> date:
    """The event day ``moment`` falls on, in the event's time zone (for daily budgets)."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def award(
    store: Store,
    actor: Actor,
    uid: str,
    amount: int,
    code: str,
    reference: str = "",
) -> AwardResult:
    """Give ``amount`` points to the holder of band ``uid`` from this station's issuer account."""
    if amount <= 0:
        raise Refused(_("Points to award must be more than zero."), reason="bad_amount")
    if code not in AWARD_CODES:
        raise ValueError(f"unknown award code {code!r}")
    if store.one_statement:
        fast = _award_in_one_statement(store, actor, uid, amount, code, reference)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> AwardResult:
        holder = require_active_band(conn, uid)
        issuer = system_account_id(conn, "issuer", actor.station)
        # The operation and transfer rows are the record (station, staff, correlation id): no
        # separate audit row on this hot path.
        posted = post_transfer(
            conn,
            actor,
            now,
            debit=issuer,
            credit=holder.account_id,
            amount=amount,
            code=code,
            reference=reference,
        )
        # Points earned repay due (and overdue) instalments first.
        collected = collect_due(
            conn, actor, now, holder.attendee_id, next_due_at=holder.next_due_at
        )
        return AwardResult(
            posted.transfer_id,
            holder.attendee_id,
            holder.name,
            amount,
            posted.credit_balance if collected.balance is None else collected.balance,
            now,
            collected.note(),
        )

    return store.run(actor, "award", work, AwardResult)


#: The whole award as one statement (PostgreSQL's data-modifying CTEs): claim the operation id,
#: move both balances, write the transfer and advance the station's counter in one round trip.
#: Every part depends on the band's active holder and on the claim, so when either is missing
#: nothing at all is written and the caller falls back to the step-by-step path, which explains
#: the refusal or returns a retried operation's first result.
_AWARD_CTE = text(
    """
    WITH holder AS (
        SELECT a.id AS attendee_id, a.name, c.id AS account_id, c.next_due_at
        FROM band b
        JOIN attendee a ON a.id = b.attendee_id
        JOIN account c ON c.attendee_id = a.id
        WHERE b.uid = :uid AND b.state = 'active'
    ), op AS (
        INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
        SELECT :op_id, 'award', :station, :staff, :correlation_id, now(), '' FROM holder
        ON CONFLICT DO NOTHING
        RETURNING created_at
    ), moved AS (
        UPDATE account
        SET balance = account.balance
            + CASE WHEN account.id = h.account_id THEN :amount ELSE -:amount END
        FROM holder h, op
        WHERE account.id IN (:issuer, h.account_id)
        RETURNING account.id, account.balance
    ), posted AS (
        INSERT INTO transfer (op_id, seq, debit_account_id, credit_account_id, amount, code,
                              reference, station, staff, correlation_id, created_at)
        SELECT :op_id, 0, :issuer, h.account_id, :amount, :code, :reference, :station, :staff,
               :correlation_id, op.created_at
        FROM holder h, op
        RETURNING id
    ), advanced AS (
        UPDATE station SET change_seq = change_seq + 1
        WHERE name = :station AND EXISTS (SELECT 1 FROM op)
    )
    SELECT h.attendee_id, h.name, h.next_due_at,
           (SELECT id FROM posted) AS transfer_id,
           (SELECT balance FROM moved WHERE moved.id = h.account_id) AS balance,
           (SELECT created_at FROM op) AS created_at
    FROM holder h
    """
)


def _award_in_one_statement(
    store: Store, actor: Actor, uid: str, amount: int, code: str, reference: str
) -> AwardResult | None:
    """The common case of :func:`award` on PostgreSQL in one round trip, or None to fall back."""

    issuer = store.issuer_id(actor.station)

    def attempt(conn: DriverConnection) -> AwardResult:
        row = conn.execute(
            _AWARD_CTE,
            {
                "uid": uid,
                **actor_params(actor),
                "amount": amount,
                "issuer": issuer,
                "code": code,
                "reference": reference,
            },
        ).first()
        if row is None or row.transfer_id is None:
            raise Fallback  # nothing was written: no active holder, or a retried op id
        now = row.created_at.astimezone(UTC)
        if row.next_due_at is not None and row.next_due_at <= now:
            # An instalment is due (the rare case): the step path awards and collects it.
            raise Fallback
        result = AwardResult(
            int(row.transfer_id), int(row.attendee_id), str(row.name), amount, int(row.balance), now
        )
        conn.execute(SAVE_RESULT, {"op_id": actor.op_id, "result": codec.dump(result)})
        return result

    return store.run_one_statement(actor, attempt)


def spend(
    store: Store,
    actor: Actor,
    uid: str,
    amount: int,
    code: str,
    reference: str = "",
) -> AwardResult:
    """Take ``amount`` points from the holder of band ``uid`` into this station's counter account.

    Refused with "not enough points" when the balance would fall below the account's floor; the
    guard is in the UPDATE, so two counters spending the same points cannot both succeed.
    """
    if amount <= 0:
        raise Refused(_("Points to spend must be more than zero."), reason="bad_amount")
    if code not in SPEND_CODES:
        raise ValueError(f"unknown spend code {code!r}")

    def work(conn: Connection, now: datetime) -> AwardResult:
        holder = require_active_band(conn, uid)
        # Due instalments are paid before anything is spent; an overdue one pauses prizes.
        collected = collect_due(
            conn, actor, now, holder.attendee_id, next_due_at=holder.next_due_at
        )
        if code == "prize" and collected.paused:
            require_not_paused(conn, holder.attendee_id, now)
        counter = system_account_id(conn, "counter", actor.station)
        try:
            posted = post_transfer(
                conn,
                actor,
                now,
                debit=holder.account_id,
                credit=counter,
                amount=amount,
                code=code,
                reference=reference,
            )
        except Refused as short:
            have = balance_of(conn, holder.account_id)
            raise Refused(
                _("{name} has {have} points; {amount} are needed.").format(
                    name=holder.name, have=have, amount=amount
                ),
                reason=short.reason,
            ) from short
        return AwardResult(
            posted.transfer_id,
            holder.attendee_id,
            holder.name,
            -amount,
            posted.debit_balance,
            now,
            collected.note(),
        )

    return store.run(actor, "spend", work, AwardResult)


def correct(store: Store, actor: Actor, transfer_id: int, reason: str) -> CorrectionResult:
    """Undo transfer ``transfer_id`` with a correcting transfer the other way.

    A transfer is corrected at most once (a unique constraint on ``corrects_id``); a correction
    is itself not corrected. Refused when the points were already spent.
    """

    def work(conn: Connection, now: datetime) -> CorrectionResult:
        original = conn.execute(select(transfer_t).where(transfer_t.c.id == transfer_id)).first()
        if original is None:
            raise NotFound(_("There is no transfer {id}.").format(id=transfer_id))
        if original.code == "correction":
            raise Refused(
                _("A correction cannot itself be corrected."), reason="correct_correction"
            )
        already = conn.execute(
            select(transfer_t.c.id, transfer_t.c.created_at).where(
                transfer_t.c.corrects_id == transfer_id
            )
        ).first()
        if already is not None:
            raise Refused(
                _("This was already undone at {time}.").format(time=_fmt_time(already.created_at)),
                reason="already_corrected",
            )
        try:
            posted = post_transfer(
                conn,
                actor,
                now,
                debit=original.credit_account_id,
                credit=original.debit_account_id,
                amount=original.amount,
                code="correction",
                reference=reason[:200],
                corrects=transfer_id,
            )
        except Refused as short:
            raise Refused(
                _("Cannot undo: the {amount} points were already spent.").format(
                    amount=original.amount
                ),
                reason=short.reason,
            ) from short
        store.audit(
            conn, actor, now, "correction", str(transfer_id), reason=reason, amount=original.amount
        )
        return CorrectionResult(posted.transfer_id, transfer_id, original.amount, now)

    return store.run(actor, "correction", work, CorrectionResult)


def statement(store: Store, attendee_id: int, limit: int = 20) -> tuple[TransferView, ...]:
    """The newest ``limit`` transfers of an attendee's account."""
    with store.db.read() as conn:
        account = conn.execute(
            select(account_t.c.id).where(account_t.c.attendee_id == attendee_id)
        ).scalar()
        if account is None:
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        rows = conn.execute(
            select(transfer_t)
            .where(
                (transfer_t.c.debit_account_id == account)
                | (transfer_t.c.credit_account_id == account)
            )
            .order_by(transfer_t.c.id.desc())
            .limit(limit)
        ).all()
        names = _reference_names(conn, [r.reference for r in rows])
    return tuple(
        TransferView(
            transfer_id=r.id,
            at=r.created_at,
            amount=r.amount if r.credit_account_id == account else -r.amount,
            code=r.code,
            reference=r.reference,
            station=r.station,
            staff=r.staff,
            label=describe_transfer(r.code, r.reference, names),
        )
        for r in rows
    )


_NAMED: dict[str, tuple[Table, Any]] = {
    "activity": (Activity.__table__, Activity.__table__.c.name),  # type: ignore[attr-defined]
    "quiz": (QuizQuestion.__table__, QuizQuestion.__table__.c.text),  # type: ignore[attr-defined]
    "prize": (Prize.__table__, Prize.__table__.c.name),  # type: ignore[attr-defined]
}


def _reference_ids(reference: str) -> tuple[str, str] | None:
    """("activity" | "quiz" | "prize", id) named by a transfer reference, if any."""
    text = reference.removeprefix("undo:")
    kind, _sep, rest = text.partition(":")
    if kind in ("activity", "quiz", "prize") and rest:
        return kind, rest
    if kind == "pay-in-four" and rest:
        return "prize", rest.split(":")[0]
    return None


def _reference_names(conn: Connection, references: list[str]) -> dict[tuple[str, str], str]:
    """The names of the activities, questions and prizes the references point at."""
    wanted: dict[str, set[str]] = {}
    for reference in references:
        found = _reference_ids(reference)
        if found is not None:
            wanted.setdefault(found[0], set()).add(found[1])
    names: dict[tuple[str, str], str] = {}
    for kind, ids in wanted.items():
        table, column = _NAMED[kind]
        for row in conn.execute(select(table.c.id, column).where(table.c.id.in_(ids))):
            names[(kind, row[0])] = str(row[1])
    return names


def describe_transfer(code: str, reference: str, names: dict[tuple[str, str], str]) -> str:
    """Why points moved, for staff: "Activity: Bug hunt", "Prize: Headphones (pay in four)"."""
    words = {
        "activity": _("Activity"),
        "quiz": _("Quiz"),
        "social": _("Social post"),
        "cool": _("For being cool"),
        "pre-event": _("Pre-event points"),
        "prize": _("Prize"),
        "instalment": _("Instalment"),
        "correction": _("Correction"),
        "bonus": _("Bonus"),
        "write-off": _("Written off"),
    }
    found = _reference_ids(reference)
    name = names.get(found, found[1]) if found is not None else ""
    if len(name) > 40:
        name = name[:39] + "…"
    if code == "correction":
        if reference.startswith("return:"):
            return _("Prize returned")
        if reference.startswith("undo:") and found is not None:
            return _("Undone: {what}").format(what=f"{words.get(found[0], found[0])}: {name}")
        return words["correction"]
    label = words.get(code, code)
    if code == "prize" and reference.startswith("pay-in-four:"):
        return _("Prize: {name} (pay in four)").format(name=name)
    if found is not None and code in ("activity", "quiz", "prize"):
        return f"{label}: {name}"
    return label
