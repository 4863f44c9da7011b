"""Prize stock: taking a unit out and putting it back, inside the caller's transaction.

Shared by the counter (a plain redemption, a drop, a hold) and pay in four (a redemption paid
by a plan). Every function runs inside :meth:`store.service.Store.run`'s transaction and moves
one counter by a guarded UPDATE, so two counters racing for the last unit cannot both win:
the loser's UPDATE matches no row and it is refused with "just sold out" before any points
move (the caller's transaction rolls back).

What is available is derived: ``supplied - taken`` for the regular stock,
``quantity - taken - live holds`` for a drop. ``verify`` checks both counters against the
redemptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, select, update

from store.context import Actor
from store.errors import NotFound, Refused
from store.i18n import _
from store.models import Drop, Hold, Prize, Redemption

__all__ = [
    "PrizeRow",
    "count_held",
    "per_person_taken",
    "prize_row",
    "put_back",
    "record_redemption",
    "sold_out",
    "take_from_drop",
    "take_regular",
    "take_regular_row",
]

prize_t: Table = Prize.__table__  # type: ignore[attr-defined]
drop_t: Table = Drop.__table__  # type: ignore[attr-defined]
hold_t: Table = Hold.__table__  # type: ignore[attr-defined]
redemption_t: Table = Redemption.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PrizeRow:
    """A prize as the counter needs it."""

    id: str
    name: str
    tier: int
    price: int
    supplied: int
    taken: int
    per_person: int
    pay_in_four: bool
    active: bool

    @property
    def available(self) -> int:
        """Units of the regular stock still at the counter (never below zero)."""
        return max(0, self.supplied - self.taken)


_PRIZE_COLUMNS = (
    prize_t.c.id,
    prize_t.c.name,
    prize_t.c.tier,
    prize_t.c.price,
    prize_t.c.supplied,
    prize_t.c.taken,
    prize_t.c.per_person,
    prize_t.c.pay_in_four,
    prize_t.c.active,
)


def prize_row(conn: Connection, prize_id: str) -> PrizeRow:
    """The prize ``prize_id``, or :class:`NotFound`."""
    row = conn.execute(select(*_PRIZE_COLUMNS).where(prize_t.c.id == prize_id)).first()
    if row is None:
        raise NotFound(_("There is no prize {prize!r}.").format(prize=prize_id))
    return PrizeRow(*row)


#: Prebuilt once: this is on every redemption.
_TAKE_REGULAR = (
    update(prize_t)
    .where(
        prize_t.c.id == bindparam("p_prize"),
        prize_t.c.active,
        prize_t.c.taken < prize_t.c.supplied,
    )
    .values(taken=prize_t.c.taken + 1)
    .returning(*_PRIZE_COLUMNS)
)


def take_regular_row(conn: Connection, prize_id: str) -> PrizeRow:
    """Take one unit of ``prize_id``'s regular stock; returns the prize as it is now.

    The same guarded UPDATE as :func:`take_regular`, returning the whole row (price, name,
    per-person limit), so a redemption needs no second read of the prize.
    """
    row = conn.execute(_TAKE_REGULAR, {"p_prize": prize_id}).first()
    if row is None:
        prize = prize_row(conn, prize_id)  # NotFound for an unknown prize
        if not prize.active:
            raise Refused(
                _("{prize} is no longer offered.").format(prize=prize.name), reason="inactive"
            )
        raise sold_out(prize.name)
    return PrizeRow(*row)


def sold_out(prize_name: str) -> Refused:
    """The refusal of a unit of a prize whose regular stock is gone."""
    return Refused(
        _("{prize} just sold out: nothing was charged.").format(prize=prize_name),
        reason="sold_out",
    )


def take_regular(conn: Connection, prize_id: str) -> int:
    """Take one unit of ``prize_id``'s regular stock; returns the units left.

    Raises :class:`Refused` (reason ``sold_out``) when none is left, which includes losing a
    race for the last unit to another counter.
    """
    return take_regular_row(conn, prize_id).available


def count_held(
    conn: Connection, drop_id: int, now: datetime, *, except_hold: int | None = None
) -> int:
    """Units of a drop on live holds (not consumed, not released, not expired at ``now``)."""
    query = select(func.count()).where(
        hold_t.c.drop_id == drop_id,
        hold_t.c.consumed_op_id.is_(None),
        hold_t.c.released_at.is_(None),
        hold_t.c.expires_at > now,
    )
    if except_hold is not None:
        query = query.where(hold_t.c.id != except_hold)
    return int(conn.execute(query).scalar_one())


def take_from_drop(
    conn: Connection, drop_id: int, now: datetime, *, hold_id: int | None = None
) -> int:
    """Take one unit of a running drop; returns the units left (after live holds).

    ``hold_id`` is the caller's own live hold, which already reserves the unit: it is not
    counted against the sale. The guarded UPDATE locks the drop's row first, so the count of
    holds that follows sees every other counter's committed hold (PostgreSQL re-reads per
    statement; SQLite writes one at a time).

    Refused with reason ``sold_out`` when every unit is sold (or the rest is on other counters'
    live holds), ``drop_ended`` when its time ran out or it was closed; NotFound for an unknown
    drop.
    """
    locked = conn.execute(
        update(drop_t)
        .where(
            drop_t.c.id == drop_id,
            drop_t.c.starts_at <= now,
            drop_t.c.ends_at > now,
            drop_t.c.closed_at.is_(None),
            drop_t.c.taken < drop_t.c.quantity,
        )
        .values(taken=drop_t.c.taken + 1)
        .returning(drop_t.c.taken, drop_t.c.quantity)
    ).first()
    if locked is None:
        row = conn.execute(
            select(drop_t.c.taken, drop_t.c.quantity).where(drop_t.c.id == drop_id)
        ).first()
        if row is None:
            raise NotFound(_("There is no drop {id}.").format(id=drop_id))
        if row.taken >= row.quantity:
            raise Refused(_("The drop just sold out: nothing was charged."), reason="sold_out")
        raise Refused(_("The drop has ended: nothing was charged."), reason="drop_ended")
    held = count_held(conn, drop_id, now, except_hold=hold_id)
    left = int(locked.quantity) - int(locked.taken) - held
    if left < 0:
        raise Refused(
            _("The last units of the drop are on hold at other counters: nothing was charged."),
            reason="sold_out",
        )
    return left


def put_back(conn: Connection, prize_id: str, drop_id: int | None) -> None:
    """Return one unit to the stock it came from (a returned prize)."""
    if drop_id is None:
        conn.execute(
            update(prize_t)
            .where(prize_t.c.id == prize_id, prize_t.c.taken > 0)
            .values(taken=prize_t.c.taken - 1)
        )
    else:
        conn.execute(
            update(drop_t)
            .where(drop_t.c.id == drop_id, drop_t.c.taken > 0)
            .values(taken=drop_t.c.taken - 1)
        )


#: Prebuilt once (statement construction costs more than running it on SQLite).
_PER_PERSON = select(func.count(), func.max(redemption_t.c.created_at)).where(
    and_(
        redemption_t.c.attendee_id == bindparam("p_attendee"),
        redemption_t.c.prize_id == bindparam("p_prize"),
        redemption_t.c.returned_op_id.is_(None),
    )
)
_RECORD = insert(redemption_t).returning(redemption_t.c.id)


def per_person_taken(
    conn: Connection, prize_id: str, attendee_id: int
) -> tuple[int, datetime | None]:
    """How many units of ``prize_id`` the attendee holds now, and when they took the last one.

    Call it after the attendee's account row was locked by the debit (or by any UPDATE of it)
    in the same transaction, so a second counter serving the same person waits and then sees
    the first counter's redemption.
    """
    row = conn.execute(_PER_PERSON, {"p_attendee": attendee_id, "p_prize": prize_id}).one()
    return int(row[0]), row[1]


def record_redemption(
    conn: Connection,
    actor: Actor,
    now: datetime,
    *,
    prize_id: str,
    attendee_id: int,
    price: int,
    transfer_id: int | None,
    drop_id: int | None = None,
) -> int:
    """Insert the redemption row of the actor's operation; returns its id."""
    return int(
        conn.execute(
            _RECORD,
            {
                "op_id": actor.op_id,
                "prize_id": prize_id,
                "attendee_id": attendee_id,
                "transfer_id": transfer_id,
                "created_at": now,
                "price": price,
                "drop_id": drop_id,
                "station": actor.station,
                "staff": actor.staff,
            },
        ).scalar_one()
    )
