"""The prize counter: the catalogue for a tapped attendee, redemptions, returns, live drops, holds.

Every write is one :meth:`store.service.Store.run` operation. A redemption takes the unit by a
guarded UPDATE (:mod:`store.stock`), debits the attendee by the ledger's guarded UPDATE, checks
the per-person limit once the debit holds the attendee's account row, and records the
redemption, all in one transaction: a refusal anywhere rolls back the unit and the points
together, so two counters racing for the last unit end with exactly one sale and nothing charged
to the other.

Drops are batches of a prize on sale for a limited time with their own count. A hold reserves one
unit of a drop for a minute while the counter confirms; it is live while not consumed, not
released and not expired (database clock), so an expired hold frees its unit with nothing
running. Placing a hold first locks the drop's row by a guarded UPDATE, then counts the live
holds, so two counters cannot hold more units than there are.

On PostgreSQL a redemption, a hold and its confirmation first try a short path of two statements
(:meth:`store.service.Store.run_one_statement`): the first takes every lock and every guarded
write the step path takes, in the same order; the second counts what must be counted after those
locks (the per-person limit, the live holds) with a fresh snapshot, then writes the rest. A
count inside the first statement would use the snapshot taken before it waited for a lock, and
miss what another counter committed meanwhile. Anything unusual rolls back and takes the step
path, which words the refusal and records it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Table, bindparam, func, insert, select, text, update

from store import codec, credit
from store.bands import state_text
from store.context import Actor
from store.driver import DriverConnection, actor_params
from store.errors import NotFound, Refused
from store.i18n import _
from store.ledger import account_t, balance_of, post_transfer, system_account_id, transfer_t
from store.models import Attendee, Band, CreditPlan, Event, StaffMember
from store.points import require_active_band
from store.service import Fallback, Store
from store.stock import (
    drop_t,
    hold_t,
    per_person_taken,
    prize_t,
    put_back,
    record_redemption,
    redemption_t,
    sold_out,
    take_from_drop,
    take_regular_row,
)

__all__ = [
    "HOLD_SECONDS",
    "AttendeeAtCounter",
    "Catalogue",
    "DropLine",
    "HoldView",
    "PrizeLine",
    "Redeemed",
    "RedemptionLine",
    "Released",
    "Returned",
    "TierLine",
    "catalogue",
    "catalogue_for_band",
    "close_drop",
    "confirm_hold",
    "drop_state_text",
    "drops",
    "place_hold",
    "redeem",
    "redeem_from_drop",
    "release_hold",
    "return_prize",
    "start_drop",
    "stock_checks",
]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
plan_t: Table = CreditPlan.__table__  # type: ignore[attr-defined]
event_t: Table = Event.__table__  # type: ignore[attr-defined]
staff_t: Table = StaffMember.__table__  # type: ignore[attr-defined]

#: How long a hold reserves a unit of a drop.
HOLD_SECONDS = 60
#: Redemptions of the tapped attendee shown for a return.
RECENT = 8


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttendeeAtCounter:
    """Who tapped: the name and the balance the catalogue was computed for."""

    id: int
    name: str
    balance: int
    credit_note: str = ""
    """Pay in four: "Paused: overdue instalment …" when they get no prize now ("" usually)."""


@dataclass(frozen=True, slots=True)
class PrizeLine:
    """One prize of the catalogue, as it stands for the tapped attendee (if any)."""

    id: str
    name: str
    tier: int
    price: int
    supplied: int
    available: int
    """Units of the regular stock still at the counter (never below zero)."""
    per_person: int
    pay_in_four: bool
    affordable: bool
    """The attendee's balance covers the price (False with no attendee)."""
    missing: int
    """Points the attendee lacks (0 when affordable or with no attendee)."""
    mine: int
    """Units the attendee already has (not returned)."""
    mine_last_at: datetime | None
    """When the attendee took the last one."""

    @property
    def sold_out(self) -> bool:
        """Nothing left of the regular stock."""
        return self.available <= 0

    @property
    def limit_reached(self) -> bool:
        """The attendee has as many as one person may take."""
        return self.mine >= self.per_person

    @property
    def selectable(self) -> bool:
        """Shown as a choice: in stock and within the per-person limit."""
        return not self.sold_out and not self.limit_reached


@dataclass(frozen=True, slots=True)
class TierLine:
    """The prizes of one tier, cheapest first."""

    tier: int
    prizes: tuple[PrizeLine, ...]


@dataclass(frozen=True, slots=True)
class DropLine:
    """A drop and how it stands at ``now`` (database clock)."""

    id: int
    prize_id: str
    prize_name: str
    price: int
    regular_price: int
    quantity: int
    taken: int
    held: int
    """Units on live holds."""
    left: int
    """Units anyone can still hold or buy: quantity - taken - live holds (never below zero)."""
    starts_at: datetime
    ends_at: datetime
    closed_at: datetime | None
    now: datetime
    state: str
    """"running", "sold_out" (every unit sold), "ended" (time ran out) or "closed" (early)."""
    seconds_left: float
    """Seconds until the drop's time ends, from the database clock (0 once ended or closed)."""
    mine: int = 0
    """Units of this prize the tapped attendee already has."""
    per_person: int = 1
    affordable: bool = False
    missing: int = 0

    @property
    def running(self) -> bool:
        """On sale now."""
        return self.state == "running"


@dataclass(frozen=True, slots=True)
class HoldView:
    """A unit of a drop held for an attendee while the counter confirms."""

    hold_id: int
    drop_id: int
    attendee_id: int
    name: str
    prize_id: str
    prize_name: str
    price: int
    created_at: datetime
    expires_at: datetime
    now: datetime
    left: int
    """Units of the drop anyone else can still hold after this one."""

    @property
    def seconds_left(self) -> float:
        """Seconds until the hold expires, as of ``now`` (database clock)."""
        return max(0.0, (self.expires_at - self.now).total_seconds())


@dataclass(frozen=True, slots=True)
class RedemptionLine:
    """A prize the attendee took (for a return)."""

    id: int
    prize_id: str
    prize_name: str
    price: int
    at: datetime
    drop_id: int | None
    station: str
    paid_by_transfer: bool
    on_plan: bool = False
    """Taken on a pay-in-four plan: a return gives back the instalments paid, not the price."""


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What the counter shows: the tapped attendee (if any), the tiers, the running drops."""

    now: datetime
    timezone: str
    attendee: AttendeeAtCounter | None
    tiers: tuple[TierLine, ...]
    drops: tuple[DropLine, ...]
    holds: tuple[HoldView, ...]
    """The attendee's live holds."""
    recent: tuple[RedemptionLine, ...]
    """The attendee's redemptions not returned, newest first."""
    sold_out_drops: tuple[DropLine, ...] = ()
    """Drops whose units are all gone while their time still runs (shown as sold out)."""

    def prize(self, prize_id: str) -> PrizeLine | None:
        """The line of ``prize_id``, if it is offered."""
        for tier in self.tiers:
            for line in tier.prizes:
                if line.id == prize_id:
                    return line
        return None


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A prize handed over: the big "−points" confirmation."""

    redemption_id: int
    transfer_id: int
    attendee_id: int
    name: str
    prize_id: str
    prize_name: str
    price: int
    balance: int
    left: int
    """Units left in the stock it came from (the drop's, after live holds)."""
    drop_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Returned:
    """A prize taken back: the points refunded by a correcting transfer, the unit back in stock."""

    redemption_id: int
    transfer_id: int | None
    """The correction that refunded the points (None: a plan whose payments were undone)."""
    attendee_id: int
    name: str
    prize_id: str
    prize_name: str
    refunded: int
    """Points back to the attendee (for a pay-in-four prize: the instalments they paid)."""
    balance: int
    drop_id: int | None
    at: datetime
    cancelled: int = 0
    """Pay in four: the unpaid instalments, no longer owed."""


@dataclass(frozen=True, slots=True)
class Released:
    """A hold let go before it expired (or found already gone)."""

    hold_id: int
    released: bool
    """False when the hold was already confirmed, released or expired."""
    at: datetime


# -- small helpers -----------------------------------------------------------------------------


def _zone_name(conn: Connection) -> str:
    zone = conn.execute(select(event_t.c.timezone).order_by(event_t.c.id).limit(1)).scalar()
    return str(zone or "UTC")


def _local(conn: Connection, moment: datetime | None, fmt: str = "%H:%M") -> str:
    """A stored time as the event's clocks show it (for refusal messages)."""
    if moment is None:
        return "?"
    try:
        zone = ZoneInfo(_zone_name(conn))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime(fmt)


#: The attendee, their account and their active band (if any), in one indexed lookup.
_HOLDER = (
    select(
        attendee_t.c.name,
        account_t.c.id.label("account_id"),
        account_t.c.balance,
        account_t.c.next_due_at,
        band_t.c.uid,
    )
    .select_from(attendee_t)
    .join(account_t, account_t.c.attendee_id == attendee_t.c.id)
    .outerjoin(band_t, (band_t.c.attendee_id == attendee_t.c.id) & (band_t.c.state == "active"))
    .where(attendee_t.c.id == bindparam("p_attendee"))
)


@dataclass(frozen=True, slots=True)
class _Holder:
    name: str
    account_id: int
    balance: int
    next_due_at: datetime | None
    """Pay in four: when the earliest unpaid instalment falls due (None: no plan)."""


def _holder(conn: Connection, attendee_id: int) -> _Holder:
    """The attendee with an active band, or Refused saying why not (their band is blocked…)."""
    row = conn.execute(_HOLDER, {"p_attendee": attendee_id}).first()
    if row is None:
        raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
    if row.uid is None:
        band = conn.execute(
            select(band_t.c.uid, band_t.c.state, band_t.c.state_reason)
            .where(band_t.c.attendee_id == attendee_id)
            .order_by(band_t.c.state_at.desc())
            .limit(1)
        ).first()
        if band is None:
            message = _("{name} has no band: send them to the wristband table.").format(
                name=row.name
            )
        else:
            message = _(
                "{name}'s band {uid} is {state} ({reason}): nothing is handed out on it; "
                "send them to the wristband table."
            ).format(
                name=row.name,
                uid=band.uid,
                state=state_text(band.state),
                reason=band.state_reason or "—",
            )
        raise Refused(message, reason="no_active_band")
    return _Holder(row.name, int(row.account_id), int(row.balance), row.next_due_at)


def _not_paused(
    conn: Connection, actor: Actor | None, now: datetime, attendee_id: int, holder: _Holder
) -> None:
    """Refuse a person paused by an overdue pay-in-four instalment (nothing to do without a plan).

    With ``actor`` what is due is collected first (before any unit is taken, the order pay in
    four takes its locks in), so points earned since can repay it.
    """
    if holder.next_due_at is not None:
        credit.require_not_paused(conn, attendee_id, now, actor)


def _debit(
    conn: Connection,
    actor: Actor,
    now: datetime,
    holder: _Holder,
    *,
    price: int,
    prize_id: str,
    prize_name: str,
) -> Any:
    counter = system_account_id(conn, "counter", actor.station)
    try:
        return post_transfer(
            conn,
            actor,
            now,
            debit=holder.account_id,
            credit=counter,
            amount=price,
            code="prize",
            reference=f"prize:{prize_id}",
        )
    except Refused as short:
        have = balance_of(conn, holder.account_id)
        raise Refused(
            _("{name} has {have} points: {missing} more are needed for {prize}.").format(
                name=holder.name, have=have, missing=price - have, prize=prize_name
            ),
            reason="not_enough_points",
        ) from short


def _check_per_person(
    conn: Connection, holder: _Holder, attendee_id: int, prize_id: str, name: str, limit: int
) -> None:
    """Refuse when the attendee already has ``limit`` units (call after the debit)."""
    count, last_at = per_person_taken(conn, prize_id, attendee_id)
    if count < limit:
        return
    if limit == 1:
        message = _("One per person: {name} took {prize} at {time}.").format(
            name=holder.name, prize=name, time=_local(conn, last_at)
        )
    else:
        message = _("{limit} per person: {name} has taken {count}, the last at {time}.").format(
            limit=limit, name=holder.name, count=count, time=_local(conn, last_at)
        )
    raise Refused(message, reason="per_person")


# -- reading -----------------------------------------------------------------------------------


def catalogue(store: Store, attendee_id: int | None = None) -> Catalogue:
    """The counter's catalogue; with ``attendee_id``, as it stands for that attendee.

    Prizes come in tiers (cheapest first within a tier); each says what is available, whether
    the attendee can afford it or how many points are missing, and how many they already have.
    Drops running now come with the units left after live holds and the seconds left, both from
    the database clock.
    """
    with store.db.read() as conn:
        return _catalogue(conn, store.db.now(conn), attendee_id)


def catalogue_for_band(store: Store, uid: str, actor: Actor | None = None) -> Catalogue:
    """The catalogue for the holder of band ``uid``; Refused for an unbound, blocked, lost band.

    With ``actor`` (a tap at the counter) a pay-in-four instalment that fell due is collected
    first, as at every station's tap, so the catalogue shows the balance after it — and a person
    whose balance fell short is shown as paused.
    """
    with store.db.read() as conn:
        holder = require_active_band(conn, uid)
        now = store.db.now(conn)
        if actor is None or holder.next_due_at is None or holder.next_due_at > now:
            return _catalogue(conn, now, holder.attendee_id)
    credit.collect(store, actor, holder.attendee_id)
    with store.db.read() as conn:
        return _catalogue(conn, store.db.now(conn), holder.attendee_id)


def _catalogue(conn: Connection, now: datetime, attendee_id: int | None) -> Catalogue:
    zone = _zone_name(conn)
    attendee: AttendeeAtCounter | None = None
    mine: dict[str, tuple[int, datetime | None]] = {}
    recent: tuple[RedemptionLine, ...] = ()
    holds: tuple[HoldView, ...] = ()
    if attendee_id is not None:
        row = conn.execute(
            select(attendee_t.c.name, account_t.c.balance, account_t.c.next_due_at)
            .join(account_t, account_t.c.attendee_id == attendee_t.c.id)
            .where(attendee_t.c.id == attendee_id)
        ).first()
        if row is None:
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        note = ""
        if row.next_due_at is not None and row.next_due_at <= now:
            # Due or overdue: a prize would first collect it; say now whether they are paused
            # (an instalment already found short), so the queue does not wait for a refusal.
            overdue = credit.overdue_points(conn, attendee_id)
            note = credit.paused_text(overdue) if overdue else ""
        attendee = AttendeeAtCounter(attendee_id, row.name, int(row.balance), note)
        for prize_id, count, last_at in conn.execute(
            select(
                redemption_t.c.prize_id,
                func.count(),
                func.max(redemption_t.c.created_at),
            )
            .where(
                redemption_t.c.attendee_id == attendee_id,
                redemption_t.c.returned_op_id.is_(None),
            )
            .group_by(redemption_t.c.prize_id)
        ):
            mine[prize_id] = (int(count), last_at)
        recent = tuple(
            RedemptionLine(
                id=r.id,
                prize_id=r.prize_id,
                prize_name=r.name,
                price=r.price,
                at=r.created_at,
                drop_id=r.drop_id,
                station=r.station,
                paid_by_transfer=r.transfer_id is not None,
                on_plan=r.plan_id is not None,
            )
            for r in conn.execute(
                select(
                    redemption_t.c.id,
                    redemption_t.c.prize_id,
                    prize_t.c.name,
                    redemption_t.c.price,
                    redemption_t.c.created_at,
                    redemption_t.c.drop_id,
                    redemption_t.c.station,
                    redemption_t.c.transfer_id,
                    plan_t.c.id.label("plan_id"),
                )
                .join(prize_t, prize_t.c.id == redemption_t.c.prize_id)
                .outerjoin(plan_t, plan_t.c.redemption_id == redemption_t.c.id)
                .where(
                    redemption_t.c.attendee_id == attendee_id,
                    redemption_t.c.returned_op_id.is_(None),
                )
                .order_by(redemption_t.c.id.desc())
                .limit(RECENT)
            )
        )
    balance = attendee.balance if attendee else 0

    def afford(price: int) -> tuple[bool, int]:
        if attendee is None:
            return False, 0
        return balance >= price, max(0, price - balance)

    tiers: dict[int, list[PrizeLine]] = {}
    per_person: dict[str, int] = {}
    for p in conn.execute(
        select(prize_t)
        .where(prize_t.c.active.is_(True))
        .order_by(prize_t.c.tier, prize_t.c.price, prize_t.c.name)
    ):
        ok, missing = afford(p.price)
        count, last_at = mine.get(p.id, (0, None))
        per_person[p.id] = p.per_person
        tiers.setdefault(p.tier, []).append(
            PrizeLine(
                id=p.id,
                name=p.name,
                tier=p.tier,
                price=p.price,
                supplied=p.supplied,
                available=max(0, p.supplied - p.taken),
                per_person=p.per_person,
                pay_in_four=bool(p.pay_in_four),
                affordable=ok,
                missing=missing,
                mine=count,
                mine_last_at=last_at,
            )
        )
    current = _drop_lines(conn, now, running_only=True, with_sold_out=True)
    drop_lines = tuple(
        _with_attendee(line, mine, per_person, afford) for line in current if line.running
    )
    sold_out = tuple(line for line in current if line.state == "sold_out")
    if attendee_id is not None:
        holds = tuple(
            _hold_view(conn, r, now, attendee.name if attendee else "")
            for r in conn.execute(
                select(hold_t)
                .where(
                    hold_t.c.attendee_id == attendee_id,
                    hold_t.c.consumed_op_id.is_(None),
                    hold_t.c.released_at.is_(None),
                    hold_t.c.expires_at > now,
                )
                .order_by(hold_t.c.id)
            )
        )
    return Catalogue(
        now=now,
        timezone=zone,
        attendee=attendee,
        tiers=tuple(TierLine(tier, tuple(lines)) for tier, lines in sorted(tiers.items())),
        drops=drop_lines,
        holds=holds,
        recent=recent,
        sold_out_drops=sold_out,
    )


def _with_attendee(
    line: DropLine,
    mine: dict[str, tuple[int, datetime | None]],
    per_person: dict[str, int],
    afford: Any,
) -> DropLine:
    ok, missing = afford(line.price)
    return replace(
        line,
        mine=mine.get(line.prize_id, (0, None))[0],
        per_person=per_person.get(line.prize_id, 1),
        affordable=ok,
        missing=missing,
    )


def _drop_state(row: Any, now: datetime) -> str:
    if row.closed_at is not None:
        return "closed"
    if row.taken >= row.quantity:
        return "sold_out"
    if now >= row.ends_at:
        return "ended"
    return "running"


def _drop_lines(
    conn: Connection,
    now: datetime,
    *,
    running_only: bool,
    drop_id: int | None = None,
    with_sold_out: bool = False,
) -> list[DropLine]:
    query = (
        select(drop_t, prize_t.c.name.label("prize_name"), prize_t.c.price.label("regular"))
        .join(prize_t, prize_t.c.id == drop_t.c.prize_id)
        .order_by(drop_t.c.ends_at, drop_t.c.id)
    )
    if running_only:
        query = query.where(
            drop_t.c.closed_at.is_(None),
            drop_t.c.starts_at <= now,
            drop_t.c.ends_at > now,
        )
        if not with_sold_out:
            query = query.where(drop_t.c.taken < drop_t.c.quantity)
    if drop_id is not None:
        query = query.where(drop_t.c.id == drop_id)
    rows = conn.execute(query).all()
    if not rows:
        return []
    held: dict[int, int] = dict(
        conn.execute(
            select(hold_t.c.drop_id, func.count())
            .where(
                hold_t.c.drop_id.in_([r.id for r in rows]),
                hold_t.c.consumed_op_id.is_(None),
                hold_t.c.released_at.is_(None),
                hold_t.c.expires_at > now,
            )
            .group_by(hold_t.c.drop_id)
        ).all()
    )
    lines = []
    for r in rows:
        state = _drop_state(r, now)
        on_hold = int(held.get(r.id, 0)) if state == "running" else 0
        lines.append(
            DropLine(
                id=r.id,
                prize_id=r.prize_id,
                prize_name=r.prize_name,
                price=r.price,
                regular_price=r.regular,
                quantity=r.quantity,
                taken=r.taken,
                held=on_hold,
                left=max(0, r.quantity - r.taken - on_hold) if state == "running" else 0,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                closed_at=r.closed_at,
                now=now,
                state=state,
                seconds_left=max(0.0, (r.ends_at - now).total_seconds())
                if state in ("running", "sold_out")
                else 0.0,
            )
        )
    return lines


def drops(store: Store, *, running_only: bool = False) -> tuple[DropLine, ...]:
    """Every drop, the running ones first by end time (``running_only``: just those)."""
    with store.db.read() as conn:
        now = store.db.now(conn)
        lines = _drop_lines(conn, now, running_only=running_only)
    return tuple(sorted(lines, key=lambda d: (not d.running, d.ends_at, d.id)))


def _hold_view(conn: Connection, row: Any, now: datetime, name: str) -> HoldView:
    drop = _drop_lines(conn, now, running_only=False, drop_id=row.drop_id)[0]
    return HoldView(
        hold_id=row.id,
        drop_id=row.drop_id,
        attendee_id=row.attendee_id,
        name=name,
        prize_id=drop.prize_id,
        prize_name=drop.prize_name,
        price=drop.price,
        created_at=row.created_at,
        expires_at=row.expires_at,
        now=now,
        left=drop.left,
    )


# -- redeeming and returning -------------------------------------------------------------------


def redeem(store: Store, actor: Actor, attendee_id: int, prize_id: str) -> Redeemed:
    """Hand over one unit of ``prize_id``'s regular stock for points, in one operation.

    Refused (and nothing taken or charged) when the prize sold out — also when another counter
    took the last unit a moment earlier ("just sold out") —, when the attendee has too few points,
    when they reached the per-person limit, or when their band is not active.
    """
    if store.one_statement:
        fast = _redeem_in_two_statements(store, actor, attendee_id, prize_id)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> Redeemed:
        holder = _holder(conn, attendee_id)
        _not_paused(conn, actor, now, attendee_id, holder)
        prize = take_regular_row(conn, prize_id)
        posted = _debit(
            conn, actor, now, holder, price=prize.price, prize_id=prize.id, prize_name=prize.name
        )
        # The debit holds the attendee's account row: a second counter serving the same person
        # waits here, then sees this redemption.
        _check_per_person(conn, holder, attendee_id, prize.id, prize.name, prize.per_person)
        redemption_id = record_redemption(
            conn,
            actor,
            now,
            prize_id=prize.id,
            attendee_id=attendee_id,
            price=prize.price,
            transfer_id=posted.transfer_id,
        )
        return Redeemed(
            redemption_id=redemption_id,
            transfer_id=posted.transfer_id,
            attendee_id=attendee_id,
            name=holder.name,
            prize_id=prize.id,
            prize_name=prize.name,
            price=prize.price,
            balance=posted.debit_balance,
            left=prize.available,
            drop_id=None,
            at=now,
        )

    return store.run(actor, "redeem", work, Redeemed)


# -- a redemption in two statements (PostgreSQL) -------------------------------------------------


#: The first half of a redemption (PostgreSQL's data-modifying CTEs), for the hot path: the
#: holder of an active band with no pay-in-four plan (a plan, an instalment due, a pause: the step
#: path, which collects and refuses as pay in four says); the operation row claimed (ON CONFLICT DO
#: NOTHING); one unit taken by the stock's guarded UPDATE; both balances moved, the debit guarded
#: by the account's floor; the transfer written; an id for the redemption drawn. Each part needs
#: the one before, and the locks are taken in the step path's order (the prize row, then the
#: accounts). No row back — a refusal, a retried operation id, a plan — means: roll back and take
#: the step-by-step path, which explains the refusal and records it.
#:
#: The per-person limit is NOT checked here: a count in this statement would use the snapshot
#: taken before the debit waited for the attendee's account row, and miss a redemption another
#: counter committed meanwhile. :data:`_REDEEM_RECORD`, the next statement, counts with a fresh
#: snapshot while this transaction holds that row.
_REDEEM_TAKE = text(
    """
    WITH holder AS (
        SELECT a.id AS attendee_id, a.name, c.id AS account_id
        FROM attendee a
        JOIN account c ON c.attendee_id = a.id
        WHERE a.id = :attendee AND c.next_due_at IS NULL
          AND EXISTS (SELECT 1 FROM band b WHERE b.attendee_id = a.id AND b.state = 'active')
    ), op AS (
        INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
        SELECT :op_id, 'redeem', :station, :staff, :correlation_id, now(), '' FROM holder
        ON CONFLICT DO NOTHING
        RETURNING created_at
    ), taken AS (
        UPDATE prize SET taken = prize.taken + 1
        FROM op
        WHERE prize.id = :prize AND prize.active AND prize.taken < prize.supplied
        RETURNING prize.name, prize.price, greatest(0, prize.supplied - prize.taken) AS left_
    ), moved AS (
        UPDATE account
        SET balance = account.balance
            + CASE WHEN account.id = :counter THEN t.price ELSE -t.price END
        FROM taken t, holder h
        WHERE account.id IN (:counter, h.account_id)
          AND (account.id = :counter
               OR (account.next_due_at IS NULL
                   AND (account.floor IS NULL OR account.balance - t.price >= account.floor)))
        RETURNING account.id, account.balance
    ), posted AS (
        INSERT INTO transfer (op_id, seq, debit_account_id, credit_account_id, amount, code,
                              reference, station, staff, correlation_id, created_at)
        SELECT :op_id, 0, h.account_id, :counter, t.price, 'prize', :reference, :station,
               :staff, :correlation_id, op.created_at
        FROM holder h, taken t, op
        WHERE EXISTS (SELECT 1 FROM moved m WHERE m.id = h.account_id)
        RETURNING id
    )
    SELECT h.name, op.created_at, t.name AS prize_name, t.price, t.left_, m.balance,
           p.id AS transfer_id,
           nextval(pg_get_serial_sequence('redemption', 'id')) AS redemption_id, false AS sold_out
    FROM holder h, op, taken t, moved m, posted p
    WHERE m.id = h.account_id
    UNION ALL
    -- sold out as this statement's snapshot saw it, for a person the step path would serve
    -- (the operation id new, an active band, nothing due): the refusal, in the step path's words
    SELECT NULL, NULL, pr.name, NULL, NULL, NULL, NULL, NULL, true
    FROM op, prize pr
    WHERE pr.id = :prize AND pr.active AND pr.taken >= pr.supplied
      AND NOT EXISTS (SELECT 1 FROM taken)
    """
)

#: The second half: with a fresh snapshot, taken while the attendee's account row is held by the
#: first half's debit, count what the attendee has of the prize; under the limit, record the
#: redemption, save the operation's result and advance the station's change counter. No row
#: back: the limit is reached (the step-by-step path says since when and records the refusal).
_REDEEM_RECORD = text(
    """
    WITH mine AS (
        SELECT count(*) AS n FROM redemption
        WHERE attendee_id = :attendee AND prize_id = :prize AND returned_op_id IS NULL
    ), rec AS (
        INSERT INTO redemption (id, op_id, prize_id, attendee_id, transfer_id, created_at, price,
                                drop_id, station, staff)
        SELECT :redemption_id, :op_id, :prize, :attendee, :transfer_id, now(), :price, NULL,
               :station, :staff
        FROM mine, prize p WHERE p.id = :prize AND mine.n < p.per_person
        RETURNING id
    ), saved AS (
        UPDATE operation SET result = :result
        WHERE op_id = :op_id AND EXISTS (SELECT 1 FROM rec)
    ), advanced AS (
        UPDATE station SET change_seq = change_seq + 1
        WHERE name = :station AND EXISTS (SELECT 1 FROM rec)
    )
    SELECT (SELECT id FROM rec) AS redemption_id
    """
)


def _redeem_in_two_statements(
    store: Store, actor: Actor, attendee_id: int, prize_id: str
) -> Redeemed | None:
    """The common case of :func:`redeem` on PostgreSQL in two statements, or None to fall back."""
    counter_account = store.account_id("counter", actor.station)

    def attempt(conn: DriverConnection) -> Redeemed:
        ids = {"attendee": attendee_id, "prize": prize_id, **actor_params(actor)}
        row = conn.execute(
            _REDEEM_TAKE,
            {
                **ids,
                "counter": counter_account,
                "reference": f"prize:{prize_id}",
            },
        ).first()
        if row is None:
            raise Fallback  # nothing to hand over as is: the step path says why
        if row.sold_out:
            raise sold_out(row.prize_name)  # rolled back and recorded by run_one_statement
        result = Redeemed(
            redemption_id=int(row.redemption_id),
            transfer_id=int(row.transfer_id),
            attendee_id=attendee_id,
            name=str(row.name),
            prize_id=prize_id,
            prize_name=str(row.prize_name),
            price=int(row.price),
            balance=int(row.balance),
            left=int(row.left_),
            drop_id=None,
            at=row.created_at.astimezone(UTC),
        )
        recorded = conn.execute(
            _REDEEM_RECORD,
            {
                **ids,
                "redemption_id": result.redemption_id,
                "transfer_id": result.transfer_id,
                "price": result.price,
                "result": codec.dump(result),
            },
        ).first()
        if recorded is None or recorded.redemption_id is None:
            raise Fallback  # the per-person limit: the step path says since when
        return result

    return store.run_one_statement(actor, attempt, kind="redeem")


def _sell_from_drop(
    conn: Connection,
    actor: Actor,
    now: datetime,
    drop_id: int,
    attendee_id: int,
    hold_id: int | None,
) -> Redeemed:
    holder = _holder(conn, attendee_id)
    _not_paused(conn, actor, now, attendee_id, holder)
    left = take_from_drop(conn, drop_id, now, hold_id=hold_id)
    drop = conn.execute(
        select(drop_t.c.prize_id, drop_t.c.price, prize_t.c.name, prize_t.c.per_person)
        .join(prize_t, prize_t.c.id == drop_t.c.prize_id)
        .where(drop_t.c.id == drop_id)
    ).one()
    posted = _debit(
        conn, actor, now, holder, price=drop.price, prize_id=drop.prize_id, prize_name=drop.name
    )
    _check_per_person(conn, holder, attendee_id, drop.prize_id, drop.name, drop.per_person)
    redemption_id = record_redemption(
        conn,
        actor,
        now,
        prize_id=drop.prize_id,
        attendee_id=attendee_id,
        price=drop.price,
        transfer_id=posted.transfer_id,
        drop_id=drop_id,
    )
    return Redeemed(
        redemption_id=redemption_id,
        transfer_id=posted.transfer_id,
        attendee_id=attendee_id,
        name=holder.name,
        prize_id=drop.prize_id,
        prize_name=drop.name,
        price=drop.price,
        balance=posted.debit_balance,
        left=left,
        drop_id=drop_id,
        at=now,
    )


def redeem_from_drop(store: Store, actor: Actor, attendee_id: int, drop_id: int) -> Redeemed:
    """Sell one unit of a running drop straight away (no hold): same rules as :func:`redeem`.

    Units on other counters' live holds are not for sale: refused as sold out when only those
    are left.
    """

    def work(conn: Connection, now: datetime) -> Redeemed:
        return _sell_from_drop(conn, actor, now, drop_id, attendee_id, None)

    return store.run(actor, "redeem_drop", work, Redeemed)


def return_prize(store: Store, actor: Actor, redemption_id: int, reason: str = "") -> Returned:
    """Take a prize back: a correcting transfer refunds the points, the unit goes back in stock.

    The unit goes back to the stock it came from (the regular stock or its drop). A prize is
    returned once. A prize taken on a pay-in-four plan gives back the instalments paid and
    cancels the rest (:func:`store.credit.return_plan`); one whose plan was closed at the end of
    the event (written off) is refused.
    """

    def work(conn: Connection, now: datetime) -> Returned:
        row = conn.execute(
            update(redemption_t)
            .where(redemption_t.c.id == redemption_id, redemption_t.c.returned_op_id.is_(None))
            .values(returned_op_id=actor.op_id, returned_at=now)
            .returning(
                redemption_t.c.prize_id,
                redemption_t.c.drop_id,
                redemption_t.c.attendee_id,
                redemption_t.c.transfer_id,
                redemption_t.c.price,
            )
        ).first()
        if row is None:
            done = conn.execute(
                select(redemption_t.c.returned_at).where(redemption_t.c.id == redemption_id)
            ).first()
            if done is None:
                raise NotFound(_("There is no redemption {id}.").format(id=redemption_id))
            raise Refused(
                _("This prize was already returned at {time}.").format(
                    time=_local(conn, done.returned_at)
                ),
                reason="already_returned",
            )
        # The stock first, then the attendee's account: the order a redemption locks them in.
        put_back(conn, row.prize_id, row.drop_id)
        plan = credit.return_plan(conn, actor, now, redemption_id)
        cancelled = 0
        if plan is not None:
            transfer_id, refunded, balance = plan.transfer_id, plan.refunded, plan.balance
            cancelled = plan.cancelled
        elif row.transfer_id is None:
            raise Refused(
                _(
                    "This prize was handed over without a payment: there are no points to give "
                    "back."
                ),
                reason="no_payment",
            )
        else:
            original = conn.execute(
                select(transfer_t.c.debit_account_id, transfer_t.c.credit_account_id).where(
                    transfer_t.c.id == row.transfer_id
                )
            ).one()
            posted = post_transfer(
                conn,
                actor,
                now,
                debit=original.credit_account_id,
                credit=original.debit_account_id,
                amount=row.price,
                code="correction",
                reference=f"return:{redemption_id}",
                corrects=row.transfer_id,
            )
            transfer_id, refunded, balance = posted.transfer_id, row.price, posted.credit_balance
        names = conn.execute(
            select(attendee_t.c.name, prize_t.c.name.label("prize_name"))
            .select_from(attendee_t)
            .join(prize_t, prize_t.c.id == row.prize_id)
            .where(attendee_t.c.id == row.attendee_id)
        ).one()
        store.audit(
            conn,
            actor,
            now,
            "prize_return",
            str(redemption_id),
            prize=row.prize_id,
            points=refunded,
            cancelled=cancelled,
            reason=reason,
        )
        return Returned(
            redemption_id=redemption_id,
            transfer_id=transfer_id,
            attendee_id=row.attendee_id,
            name=names.name,
            prize_id=row.prize_id,
            prize_name=names.prize_name,
            refunded=refunded,
            balance=balance,
            drop_id=row.drop_id,
            at=now,
            cancelled=cancelled,
        )

    return store.run(actor, "prize_return", work, Returned)


# -- drops ---------------------------------------------------------------------------------------


def _require_organiser(conn: Connection, actor: Actor) -> None:
    """A signed-in staff member must hold the organiser role (the CLI acts with no staff id)."""
    if actor.staff_id is None:
        return
    roles = conn.execute(select(staff_t.c.roles).where(staff_t.c.id == actor.staff_id)).scalar()
    if roles is None or "organiser" not in roles.split(";"):
        raise Refused(
            _("Only an organiser can start or close a drop: ask one."), reason="not_organiser"
        )


def start_drop(
    store: Store,
    actor: Actor,
    prize_id: str,
    qty: int,
    minutes: float,
    price: int | None = None,
) -> DropLine:
    """Put ``qty`` units of ``prize_id`` on sale for ``minutes`` (at ``price``, else its own).

    The drop's units are a batch of their own (not taken from the regular stock). It starts now
    by the database clock and closes itself when the time or the units run out.
    """
    if qty <= 0:
        raise Refused(_("A drop needs at least one unit."), reason="bad_quantity")
    if minutes <= 0:
        raise Refused(_("A drop needs a running time above zero minutes."), reason="bad_minutes")
    if price is not None and price <= 0:
        raise Refused(_("A drop's price must be more than zero points."), reason="bad_price")

    def work(conn: Connection, now: datetime) -> DropLine:
        _require_organiser(conn, actor)
        prize = conn.execute(
            select(prize_t.c.name, prize_t.c.price, prize_t.c.active).where(
                prize_t.c.id == prize_id
            )
        ).first()
        if prize is None:
            raise NotFound(
                _("There is no prize {prize!r}: see the event file's prizes.").format(
                    prize=prize_id
                )
            )
        if not prize.active:
            raise Refused(
                _("{prize} is no longer offered.").format(prize=prize.name), reason="inactive"
            )
        drop_id = conn.execute(
            insert(drop_t)
            .values(
                op_id=actor.op_id,
                prize_id=prize_id,
                price=price or prize.price,
                quantity=qty,
                taken=0,
                starts_at=now,
                ends_at=now + timedelta(minutes=minutes),
                station=actor.station,
                staff=actor.staff,
            )
            .returning(drop_t.c.id)
        ).scalar_one()
        store.audit(
            conn,
            actor,
            now,
            "drop_start",
            str(drop_id),
            prize=prize_id,
            quantity=qty,
            minutes=minutes,
            price=price or prize.price,
        )
        return _drop_lines(conn, now, running_only=False, drop_id=drop_id)[0]

    return store.run(actor, "drop_start", work, DropLine)


def close_drop(store: Store, actor: Actor, drop_id: int) -> DropLine:
    """End a running drop now; live holds on it can no longer be confirmed."""

    def work(conn: Connection, now: datetime) -> DropLine:
        _require_organiser(conn, actor)
        closed = conn.execute(
            update(drop_t)
            .where(
                drop_t.c.id == drop_id,
                drop_t.c.closed_at.is_(None),
                drop_t.c.ends_at > now,
                drop_t.c.taken < drop_t.c.quantity,
            )
            .values(closed_at=now)
        ).rowcount
        lines = _drop_lines(conn, now, running_only=False, drop_id=drop_id)
        if not lines:
            raise NotFound(_("There is no drop {id}: see tapdesk drop list.").format(id=drop_id))
        if not closed:
            raise Refused(
                _("Drop {id} is already over ({state}).").format(
                    id=drop_id, state=drop_state_text(lines[0].state)
                ),
                reason="drop_over",
            )
        store.audit(conn, actor, now, "drop_close", str(drop_id))
        return lines[0]

    return store.run(actor, "drop_close", work, DropLine)


def drop_state_text(state: str) -> str:
    """A drop's state in the staff member's language."""
    return {
        "running": _("running"),
        "sold_out": _("sold out"),
        "ended": _("ended"),
        "closed": _("closed early"),
    }.get(state, state)


#: Locks the drop's row while it runs (a no-op update) so live holds are counted one at a time.
_LOCK_DROP = (
    update(drop_t)
    .where(
        drop_t.c.id == bindparam("p_drop"),
        drop_t.c.closed_at.is_(None),
        drop_t.c.starts_at <= bindparam("p_now"),
        drop_t.c.ends_at > bindparam("p_now"),
        drop_t.c.taken < drop_t.c.quantity,
    )
    .values(taken=drop_t.c.taken)
    .returning(
        drop_t.c.prize_id,
        drop_t.c.price,
        drop_t.c.quantity,
        drop_t.c.taken,
    )
)


def _drop_over(prize_name: str, state: str) -> Refused:
    """A hold refused because the drop is not running (``state`` as :func:`_drop_state`)."""
    return Refused(
        _("The {prize} drop is over ({state}).").format(
            prize=prize_name, state=drop_state_text(state)
        ),
        reason="sold_out" if state == "sold_out" else "drop_ended",
    )


def _all_held(prize_name: str) -> Refused:
    """A hold refused because every unit left is on another counter's hold."""
    return Refused(
        _(
            "Every unit of the {prize} drop is sold or on hold at another counter: "
            "try again within a minute (unconfirmed holds run out)."
        ).format(prize=prize_name),
        reason="sold_out",
    )


def place_hold(
    store: Store,
    actor: Actor,
    drop_id: int,
    attendee_id: int,
    *,
    seconds: float = HOLD_SECONDS,
) -> HoldView:
    """Reserve one unit of a running drop for the attendee for ``seconds`` (no points move).

    The drop's row is locked first, then the live holds are counted: two counters cannot hold
    more units than are left. An attendee holds at most one unit of a drop at a time (a second
    call returns the hold they have). Refused early when the attendee cannot pay or already has
    as many as one person may take (confirming checks both again, for good).
    """
    if store.one_statement:
        fast = _hold_in_two_statements(store, actor, drop_id, attendee_id, seconds)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> HoldView:
        locked = conn.execute(_LOCK_DROP, {"p_drop": drop_id, "p_now": now}).first()
        if locked is None:
            lines = _drop_lines(conn, now, running_only=False, drop_id=drop_id)
            if not lines:
                raise NotFound(_("There is no drop {id}.").format(id=drop_id))
            raise _drop_over(lines[0].prize_name, lines[0].state)
        holder = _holder(conn, attendee_id)
        # No collection here: the drop's row is locked already (confirming collects).
        _not_paused(conn, None, now, attendee_id, holder)
        own = conn.execute(
            select(hold_t).where(
                hold_t.c.drop_id == drop_id,
                hold_t.c.attendee_id == attendee_id,
                hold_t.c.consumed_op_id.is_(None),
                hold_t.c.released_at.is_(None),
                hold_t.c.expires_at > now,
            )
        ).first()
        if own is not None:
            return _hold_view(conn, own, now, holder.name)
        prize = conn.execute(
            select(prize_t.c.name, prize_t.c.per_person).where(prize_t.c.id == locked.prize_id)
        ).one()
        if holder.balance < locked.price:
            raise Refused(
                _("{name} has {have} points: {missing} more are needed for {prize}.").format(
                    name=holder.name,
                    have=holder.balance,
                    missing=locked.price - holder.balance,
                    prize=prize.name,
                ),
                reason="not_enough_points",
            )
        _check_per_person(conn, holder, attendee_id, locked.prize_id, prize.name, prize.per_person)
        held = conn.execute(
            select(func.count()).where(
                hold_t.c.drop_id == drop_id,
                hold_t.c.consumed_op_id.is_(None),
                hold_t.c.released_at.is_(None),
                hold_t.c.expires_at > now,
            )
        ).scalar_one()
        left = int(locked.quantity) - int(locked.taken) - int(held)
        if left <= 0:
            raise _all_held(prize.name)
        hold_id = conn.execute(
            insert(hold_t)
            .values(
                op_id=actor.op_id,
                drop_id=drop_id,
                attendee_id=attendee_id,
                station=actor.station,
                staff=actor.staff,
                created_at=now,
                expires_at=now + timedelta(seconds=seconds),
            )
            .returning(hold_t.c.id)
        ).scalar_one()
        return HoldView(
            hold_id=int(hold_id),
            drop_id=drop_id,
            attendee_id=attendee_id,
            name=holder.name,
            prize_id=locked.prize_id,
            prize_name=prize.name,
            price=int(locked.price),
            created_at=now,
            expires_at=now + timedelta(seconds=seconds),
            now=now,
            left=left - 1,
        )

    return store.run(actor, "hold", work, HoldView)


def confirm_hold(store: Store, actor: Actor, hold_id: int) -> Redeemed:
    """Sell the held unit: consume the live hold, take the unit, debit the points, record it.

    Refused when the hold expired (its unit may be gone: hold again), was released or was
    already confirmed; and, as any redemption, for too few points or the per-person limit.
    """
    if store.one_statement:
        fast = _confirm_in_two_statements(store, actor, hold_id)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> Redeemed:
        hold = conn.execute(
            update(hold_t)
            .where(
                hold_t.c.id == hold_id,
                hold_t.c.consumed_op_id.is_(None),
                hold_t.c.released_at.is_(None),
                hold_t.c.expires_at > now,
            )
            .values(consumed_op_id=actor.op_id)
            .returning(hold_t.c.drop_id, hold_t.c.attendee_id)
        ).first()
        if hold is None:
            row = conn.execute(select(hold_t).where(hold_t.c.id == hold_id)).first()
            if row is None:
                raise NotFound(_("There is no hold {id}.").format(id=hold_id))
            if row.consumed_op_id is not None:
                raise Refused(_("This hold was already confirmed."), reason="hold_consumed")
            if row.released_at is not None:
                raise Refused(
                    _("This hold was released: hold the drop again."), reason="hold_released"
                )
            raise Refused(
                _("The hold ran out at {time}: hold the drop again if units are left.").format(
                    time=_local(conn, row.expires_at, "%H:%M:%S")
                ),
                reason="hold_expired",
            )
        return _sell_from_drop(conn, actor, now, hold.drop_id, hold.attendee_id, hold_id)

    return store.run(actor, "hold_confirm", work, Redeemed)


def release_hold(store: Store, actor: Actor, hold_id: int) -> Released:
    """Let a hold go before it runs out (the unit is free for others at once)."""

    def work(conn: Connection, now: datetime) -> Released:
        released = conn.execute(
            update(hold_t)
            .where(
                hold_t.c.id == hold_id,
                hold_t.c.consumed_op_id.is_(None),
                hold_t.c.released_at.is_(None),
            )
            .values(released_at=now)
        ).rowcount
        return Released(hold_id=hold_id, released=bool(released), at=now)

    return store.run(actor, "hold_release", work, Released)


# -- holds in two statements (PostgreSQL) --------------------------------------------------------

#: A live hold (not consumed, not released, not expired by the database clock) in the SQL below.
_LIVE = "h.consumed_op_id IS NULL AND h.released_at IS NULL AND h.expires_at > now()"

#: The first half of :func:`place_hold` (the common case): the operation row claimed, the drop's
#: row locked while it runs (the step path's no-op guarded UPDATE), the holder of an active band
#: with no pay-in-four plan, the prize's name and an id for the hold. The units on hold are NOT
#: counted here: this statement's snapshot was taken before it waited for the drop's row, so it
#: could miss a hold another counter committed meanwhile. :data:`_HOLD_PLACE` counts them.
_HOLD_LOCK = text(
    """
    WITH op AS (
        INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
        VALUES (:op_id, 'hold', :station, :staff, :correlation_id, now(), '')
        ON CONFLICT DO NOTHING
        RETURNING created_at
    ), locked AS (
        UPDATE prize_drop d SET taken = d.taken
        FROM op
        WHERE d.id = :drop AND d.closed_at IS NULL AND d.starts_at <= now()
          AND d.ends_at > now() AND d.taken < d.quantity
        RETURNING d.prize_id, d.price, d.quantity - d.taken AS unsold
    )
    SELECT op.created_at, l.prize_id, l.price, l.unsold, p.name AS prize_name, a.name,
           c.balance, nextval(pg_get_serial_sequence('hold', 'id')) AS hold_id,
           NULL::timestamptz AS closed_at, NULL::integer AS taken, NULL::integer AS quantity,
           NULL::timestamptz AS ends_at
    FROM op, locked l, prize p, attendee a, account c
    WHERE p.id = l.prize_id AND a.id = :attendee AND c.attendee_id = a.id
      AND c.next_due_at IS NULL
      AND EXISTS (SELECT 1 FROM band b WHERE b.attendee_id = a.id AND b.state = 'active')
    UNION ALL
    -- the drop not running (the step path's first refusal, before it looks at the person):
    -- its row as this statement's snapshot saw it, to say why
    SELECT op.created_at, d.prize_id, NULL, NULL, p.name, NULL, NULL, NULL,
           d.closed_at, d.taken, d.quantity, d.ends_at
    FROM op, prize_drop d, prize p
    WHERE d.id = :drop AND p.id = d.prize_id AND NOT EXISTS (SELECT 1 FROM locked)
    """
)

#: The second half, with a fresh snapshot while the drop's row is locked: no live hold of the
#: attendee on this drop already (the step path returns that one), under the per-person limit,
#: a unit left after the live holds; then the hold, the result and the station's counter.
_HOLD_PLACE = text(
    f"""
    WITH ok AS (
        SELECT CAST(:unsold AS integer) - 1
               - (SELECT count(*) FROM hold h WHERE h.drop_id = :drop AND {_LIVE}) AS left_
        FROM prize p
        WHERE p.id = :prize
          AND NOT EXISTS (
              SELECT 1 FROM hold h WHERE h.drop_id = :drop AND h.attendee_id = :attendee
                AND {_LIVE})
          AND (SELECT count(*) FROM redemption r
               WHERE r.attendee_id = :attendee AND r.prize_id = :prize
                 AND r.returned_op_id IS NULL) < p.per_person
    ), placed AS (
        INSERT INTO hold (id, op_id, drop_id, attendee_id, station, staff, created_at, expires_at)
        SELECT :hold_id, :op_id, :drop, :attendee, :station, :staff, now(), :expires_at
        FROM ok WHERE ok.left_ >= 0
        RETURNING id
    ), saved AS (
        UPDATE operation SET result = :pre || (SELECT left_ FROM ok)::text || :post
        WHERE op_id = :op_id AND EXISTS (SELECT 1 FROM placed)
    ), advanced AS (
        UPDATE station SET change_seq = change_seq + 1
        WHERE name = :station AND EXISTS (SELECT 1 FROM placed)
    )
    SELECT ok.left_, EXISTS (SELECT 1 FROM placed) AS placed FROM ok
    """
)


def _around_left(result: HoldView | Redeemed) -> tuple[str, str]:
    """``codec.dump(result)`` split where its ``left`` goes, for a statement that counts it.

    ``left`` is the one field only the second statement knows (it counts the live holds with a
    fresh snapshot), so that statement saves ``pre || left || post``: exactly what
    ``codec.dump`` gives for the finished result. The key cannot occur inside a JSON string
    (a quote there is escaped), so the split is unambiguous.
    """
    pre, key, post = codec.dump(replace(result, left=-1)).partition('"left": -1')
    assert key, "the result has a left field"
    return pre + '"left": ', post


def _hold_in_two_statements(
    store: Store, actor: Actor, drop_id: int, attendee_id: int, seconds: float
) -> HoldView | None:
    """The common case of :func:`place_hold` on PostgreSQL, or None to fall back."""

    def attempt(conn: DriverConnection) -> HoldView:
        row = conn.execute(
            _HOLD_LOCK,
            {
                "drop": drop_id,
                "attendee": attendee_id,
                **actor_params(actor),
            },
        ).first()
        if row is None:
            raise Fallback  # the step path says why (or returns a retried hold)
        now = row.created_at.astimezone(UTC)
        if row.hold_id is None:
            state = _drop_state(row, now)
            if state == "running":
                raise Fallback  # it ran out a moment ago: the step path looks again
            raise _drop_over(str(row.prize_name), state)
        if row.balance < row.price:
            raise Fallback  # the step path says how many points are missing
        view = HoldView(
            hold_id=int(row.hold_id),
            drop_id=drop_id,
            attendee_id=attendee_id,
            name=str(row.name),
            prize_id=str(row.prize_id),
            prize_name=str(row.prize_name),
            price=int(row.price),
            created_at=now,
            expires_at=now + timedelta(seconds=seconds),
            now=now,
            left=0,
        )
        pre, post = _around_left(view)
        placed = conn.execute(
            _HOLD_PLACE,
            {
                "drop": drop_id,
                "attendee": attendee_id,
                "prize": view.prize_id,
                "unsold": int(row.unsold),
                "hold_id": view.hold_id,
                "op_id": actor.op_id,
                "station": actor.station,
                "staff": actor.staff,
                "expires_at": view.expires_at,
                "pre": pre,
                "post": post,
            },
        ).first()
        if placed is None:
            raise Fallback  # a hold already, or the limit: the step path says
        if not placed.placed:
            raise _all_held(view.prize_name)  # every unit sold or on hold (left_ < 0)
        return replace(view, left=int(placed.left_))

    return store.run_one_statement(actor, attempt, kind="hold")


#: The first half of :func:`confirm_hold` (the common case), in the step path's lock order: the
#: operation row claimed; the live hold consumed by its guarded UPDATE; its holder (an active
#: band, no pay-in-four plan); the unit taken from the running drop by its guarded UPDATE; both
#: balances moved, the debit guarded by the floor; the transfer; an id for the redemption. The
#: live holds and the per-person limit are counted by the next statement, with a fresh snapshot
#: taken while this transaction holds the drop's and the attendee's account rows.
_CONFIRM_TAKE = text(
    """
    WITH op AS (
        INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
        VALUES (:op_id, 'hold_confirm', :station, :staff, :correlation_id, now(), '')
        ON CONFLICT DO NOTHING
        RETURNING created_at
    ), consumed AS (
        UPDATE hold SET consumed_op_id = :op_id
        FROM op
        WHERE hold.id = :hold AND hold.consumed_op_id IS NULL AND hold.released_at IS NULL
          AND hold.expires_at > now()
        RETURNING hold.drop_id, hold.attendee_id
    ), holder AS (
        SELECT k.drop_id, a.id AS attendee_id, a.name, c.id AS account_id
        FROM consumed k
        JOIN attendee a ON a.id = k.attendee_id
        JOIN account c ON c.attendee_id = a.id
        WHERE c.next_due_at IS NULL
          AND EXISTS (SELECT 1 FROM band b WHERE b.attendee_id = a.id AND b.state = 'active')
    ), taken AS (
        UPDATE prize_drop d SET taken = d.taken + 1
        FROM holder h
        WHERE d.id = h.drop_id AND d.starts_at <= now() AND d.ends_at > now()
          AND d.closed_at IS NULL AND d.taken < d.quantity
        RETURNING d.prize_id, d.price, d.quantity - d.taken AS unsold
    ), moved AS (
        UPDATE account
        SET balance = account.balance
            + CASE WHEN account.id = :counter THEN t.price ELSE -t.price END
        FROM taken t, holder h
        WHERE account.id IN (:counter, h.account_id)
          AND (account.id = :counter
               OR (account.next_due_at IS NULL
                   AND (account.floor IS NULL OR account.balance - t.price >= account.floor)))
        RETURNING account.id, account.balance
    ), posted AS (
        INSERT INTO transfer (op_id, seq, debit_account_id, credit_account_id, amount, code,
                              reference, station, staff, correlation_id, created_at)
        SELECT :op_id, 0, h.account_id, :counter, t.price, 'prize', 'prize:' || t.prize_id,
               :station, :staff, :correlation_id, op.created_at
        FROM holder h, taken t, op
        WHERE EXISTS (SELECT 1 FROM moved m WHERE m.id = h.account_id)
        RETURNING id
    )
    SELECT op.created_at, h.drop_id, h.attendee_id, h.name, t.prize_id, p.name AS prize_name,
           t.price, t.unsold, m.balance, x.id AS transfer_id,
           nextval(pg_get_serial_sequence('redemption', 'id')) AS redemption_id
    FROM op, holder h, taken t, moved m, posted x, prize p
    WHERE m.id = h.account_id AND p.id = t.prize_id
    """
)

#: The second half: the other counters' live holds leave a unit for this one (the step path's
#: ``take_from_drop``) and the attendee is under the per-person limit; then the redemption, the
#: result and the station's counter.
_CONFIRM_RECORD = text(
    f"""
    WITH ok AS (
        SELECT CAST(:unsold AS integer)
               - (SELECT count(*) FROM hold h
                  WHERE h.drop_id = :drop AND h.id <> :hold AND {_LIVE}) AS left_
        FROM prize p
        WHERE p.id = :prize
          AND (SELECT count(*) FROM redemption r
               WHERE r.attendee_id = :attendee AND r.prize_id = :prize
                 AND r.returned_op_id IS NULL) < p.per_person
    ), rec AS (
        INSERT INTO redemption (id, op_id, prize_id, attendee_id, transfer_id, created_at, price,
                                drop_id, station, staff)
        SELECT :redemption_id, :op_id, :prize, :attendee, :transfer_id, now(), :price, :drop,
               :station, :staff
        FROM ok WHERE ok.left_ >= 0
        RETURNING id
    ), saved AS (
        UPDATE operation SET result = :pre || (SELECT left_ FROM ok)::text || :post
        WHERE op_id = :op_id AND EXISTS (SELECT 1 FROM rec)
    ), advanced AS (
        UPDATE station SET change_seq = change_seq + 1
        WHERE name = :station AND EXISTS (SELECT 1 FROM rec)
    )
    SELECT ok.left_ FROM ok, rec
    """
)


def _confirm_in_two_statements(store: Store, actor: Actor, hold_id: int) -> Redeemed | None:
    """The common case of :func:`confirm_hold` on PostgreSQL, or None to fall back."""
    counter_account = store.account_id("counter", actor.station)

    def attempt(conn: DriverConnection) -> Redeemed:
        row = conn.execute(
            _CONFIRM_TAKE,
            {
                "hold": hold_id,
                "counter": counter_account,
                **actor_params(actor),
            },
        ).first()
        if row is None:
            raise Fallback  # the step path says why (or returns a retried confirmation)
        result = Redeemed(
            redemption_id=int(row.redemption_id),
            transfer_id=int(row.transfer_id),
            attendee_id=int(row.attendee_id),
            name=str(row.name),
            prize_id=str(row.prize_id),
            prize_name=str(row.prize_name),
            price=int(row.price),
            balance=int(row.balance),
            left=0,
            drop_id=int(row.drop_id),
            at=row.created_at.astimezone(UTC),
        )
        pre, post = _around_left(result)
        recorded = conn.execute(
            _CONFIRM_RECORD,
            {
                "drop": result.drop_id,
                "hold": hold_id,
                "attendee": result.attendee_id,
                "prize": result.prize_id,
                "unsold": int(row.unsold),
                "redemption_id": result.redemption_id,
                "transfer_id": result.transfer_id,
                "price": result.price,
                "op_id": actor.op_id,
                "station": actor.station,
                "staff": actor.staff,
                "pre": pre,
                "post": post,
            },
        ).first()
        if recorded is None:
            raise Fallback  # held by others, or the per-person limit: the step path says
        return replace(result, left=int(recorded.left_))

    return store.run_one_statement(actor, attempt)


# -- invariants ----------------------------------------------------------------------------------


def stock_checks(conn: Connection) -> tuple[list[str], list[str]]:
    """Stock invariants for :meth:`Store.verify`: (what was checked, violations).

    - each prize's ``taken`` equals its regular-stock redemptions not returned, within supplied;
    - each drop's ``taken`` equals its redemptions not returned, within its quantity;
    - nobody holds more units of a prize than one person may take.
    """
    checked = [
        _("prize stock matches the redemptions"),
        _("drop stock matches the redemptions"),
        _("no attendee above a per-person limit"),
    ]
    violations: list[str] = []
    regular = (
        select(redemption_t.c.prize_id, func.count().label("n"))
        .where(redemption_t.c.returned_op_id.is_(None), redemption_t.c.drop_id.is_(None))
        .group_by(redemption_t.c.prize_id)
        .subquery()
    )
    out = func.coalesce(regular.c.n, 0)
    for row in conn.execute(
        select(prize_t.c.id, prize_t.c.supplied, prize_t.c.taken, out.label("n"))
        .outerjoin(regular, regular.c.prize_id == prize_t.c.id)
        .where((prize_t.c.taken != out) | (out > prize_t.c.supplied))
    ):
        violations.append(
            _(
                "Prize {id}: {taken} counted out, {n} handed out (not returned), {supplied} "
                "supplied."
            ).format(id=row.id, taken=row.taken, n=row.n, supplied=row.supplied)
        )
    per_drop = (
        select(redemption_t.c.drop_id, func.count().label("n"))
        .where(redemption_t.c.returned_op_id.is_(None), redemption_t.c.drop_id.is_not(None))
        .group_by(redemption_t.c.drop_id)
        .subquery()
    )
    sold = func.coalesce(per_drop.c.n, 0)
    for row in conn.execute(
        select(drop_t.c.id, drop_t.c.quantity, drop_t.c.taken, sold.label("n"))
        .outerjoin(per_drop, per_drop.c.drop_id == drop_t.c.id)
        .where((drop_t.c.taken != sold) | (sold > drop_t.c.quantity))
    ):
        violations.append(
            _(
                "Drop {id}: {taken} counted out, {n} handed out (not returned), {quantity} in it."
            ).format(id=row.id, taken=row.taken, n=row.n, quantity=row.quantity)
        )
    mine = (
        select(
            redemption_t.c.prize_id,
            redemption_t.c.attendee_id,
            func.count().label("n"),
        )
        .where(redemption_t.c.returned_op_id.is_(None))
        .group_by(redemption_t.c.prize_id, redemption_t.c.attendee_id)
        .subquery()
    )
    for row in conn.execute(
        select(mine.c.prize_id, mine.c.attendee_id, mine.c.n, prize_t.c.per_person)
        .join(prize_t, prize_t.c.id == mine.c.prize_id)
        .where(mine.c.n > prize_t.c.per_person)
    ):
        violations.append(
            _("Attendee {attendee} has {n} of prize {prize}; one person may take {limit}.").format(
                attendee=row.attendee_id, n=row.n, prize=row.prize_id, limit=row.per_person
            )
        )
    return checked, violations
