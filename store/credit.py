"""Pay in four: a prize taken now and paid in instalments of points (buy now, pay later).

A prize the event marks ``pay_in_four`` can be taken at the counter and paid in equal
instalments (the remainder of an uneven split on the first). The first is paid at once; the
others fall due every ``interval_minutes`` and are collected, as transfers from the attendee to
the credit account, by the first operation on the attendee's account after the due time (an
award, a tap, a lookup). No background job runs: ``account.next_due_at`` holds the earliest
unpaid due time, so the common case (nothing due) costs one column read on a row the
operation reads anyway.

The ledger: taking a plan posts the first instalment attendee -> counter and the rest
credit -> counter, so the counter receives the full price and the credit account goes negative
by what is owed. Each collected instalment moves attendee -> credit; a write-off moves
issuer -> credit. So the credit accounts always hold minus what is still owed (a verify check).

Exactly once: every instalment is paid by a guarded ``UPDATE instalment ... WHERE paid_at IS
NULL`` after the attendee's account row is locked, so two stations touching the same attendee
at the same moment cannot both collect it.

This module never imports :mod:`store.service` or :mod:`store.points` at run time (the service's
band lookup and the points operations call into it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from store.context import Actor, new_id
from store.errors import NotFound, Refused
from store.i18n import _, ngettext
from store.ledger import account_t, post_transfer, system_account_id, transfer_t
from store.models import (
    Activity,
    Attendee,
    CreditPlan,
    Event,
    Instalment,
    Operation,
    Prize,
    Redemption,
)
from store.stock import per_person_taken, prize_row, record_redemption, take_regular

if TYPE_CHECKING:
    from store.service import Store

__all__ = [
    "CloseResult",
    "Collected",
    "CreditReport",
    "CreditRules",
    "CreditStatus",
    "Eligibility",
    "InstalmentView",
    "PlanResult",
    "PlanReturned",
    "PlanView",
    "ReportLine",
    "Rule",
    "ScorePart",
    "close_all",
    "collect",
    "collect_due",
    "credit_rules",
    "credit_status",
    "eligibility",
    "redeem_in_four",
    "report",
    "require_not_paused",
    "return_plan",
    "schedule",
    "verify_credit",
]

log = logging.getLogger("tapdesk.store")

plan_t: Table = CreditPlan.__table__  # type: ignore[attr-defined]
inst_t: Table = Instalment.__table__  # type: ignore[attr-defined]
attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
activity_t: Table = Activity.__table__  # type: ignore[attr-defined]
event_t: Table = Event.__table__  # type: ignore[attr-defined]
prize_t: Table = Prize.__table__  # type: ignore[attr-defined]
operation_t: Table = Operation.__table__  # type: ignore[attr-defined]
_redemption_t: Table = Redemption.__table__  # type: ignore[attr-defined]

#: Transfer codes that count as points the attendee earned (store.points.AWARD_CODES; kept here
#: because store.points imports this module).
EARNED_CODES = ("quiz", "activity", "social", "cool", "pre-event", "quest", "bonus")

#: Collection transfers are numbered from here within one operation, clear of the operation's
#: own transfers (an award is seq 0; a plan's own transfers are 0 and 1).
COLLECT_SEQ = 100


# -- the event's rules --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditRules:
    """The ``[credit]`` table of the event file (defaults when no event is loaded)."""

    instalments: int = 4
    interval_minutes: int = 90
    limit: int = 1200
    threshold: float = 50.0
    min_hours: float = 1.0
    weight_points_per_hour: float = 0.1
    weight_hubs_visited: float = 10.0
    weight_paid_on_time: float = 15.0
    timezone: str = "UTC"


def credit_rules(conn: Connection) -> CreditRules:
    """The event's pay-in-four rules, read from the event's settings."""
    row = conn.execute(select(event_t.c.timezone, event_t.c.settings).limit(1)).first()
    settings: dict[str, Any] = {}
    if row is not None and row.settings:
        try:
            settings = json.loads(row.settings)
        except ValueError:
            settings = {}
    credit = settings.get("credit") or {}
    weights = credit.get("weights") or {}
    base = CreditRules()
    return CreditRules(
        instalments=int(credit.get("instalments", base.instalments)),
        interval_minutes=int(credit.get("interval_minutes", base.interval_minutes)),
        limit=int(credit.get("limit", base.limit)),
        threshold=float(credit.get("threshold", base.threshold)),
        min_hours=float(credit.get("min_hours", base.min_hours)),
        weight_points_per_hour=float(weights.get("points_per_hour", base.weight_points_per_hour)),
        weight_hubs_visited=float(weights.get("hubs_visited", base.weight_hubs_visited)),
        weight_paid_on_time=float(weights.get("paid_on_time", base.weight_paid_on_time)),
        timezone=str(row.timezone) if row is not None else "UTC",
    )


def _local(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return "?"
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("%H:%M")


# -- the schedule -------------------------------------------------------------------------------


def schedule(
    price: int, n: int, first_due: datetime, interval: timedelta
) -> list[tuple[int, int, datetime]]:
    """The instalments of a plan: ``(number, amount, due_at)``, numbered from 1.

    Equal parts with the remainder of an uneven split on the first; the first is due at
    ``first_due`` (paid at once), each next one ``interval`` later. A price below ``n`` points
    is split into ``price`` instalments of one point (an instalment is never zero).
    """
    if price <= 0:
        raise ValueError("a plan has a positive price")
    if n < 1:
        raise ValueError("a plan has at least one instalment")
    n = min(n, price)
    base, remainder = divmod(price, n)
    return [
        (number, base + (remainder if number == 1 else 0), first_due + (number - 1) * interval)
        for number in range(1, n + 1)
    ]


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalmentView:
    """One instalment as staff see it."""

    number: int
    amount: int
    due_at: datetime
    paid_at: datetime | None = None
    overdue: bool = False
    """A collection after the due time found the balance short (and it is not paid yet)."""
    written_off: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One eligibility rule: did it pass, and why (a sentence for staff)."""

    key: str
    """"overdue", "first_instalment", "limit" or "score"."""
    passed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ScorePart:
    """One part of the score: the attendee's value times the event's weight."""

    key: str
    """"points_per_hour", "hubs_visited" or "paid_on_time"."""
    label: str
    value: float
    weight: float

    @property
    def points(self) -> float:
        """What this part adds to the score."""
        return round(self.value * self.weight, 2)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether an attendee may take a prize in instalments, rule by rule."""

    attendee_id: int
    name: str
    prize_id: str
    prize_name: str
    price: int
    balance: int
    available: int
    rules: tuple[Rule, ...]
    parts: tuple[ScorePart, ...]
    score: float
    threshold: float
    owed: int
    """Points the attendee owes on their plans now."""
    limit: int
    schedule: tuple[InstalmentView, ...]
    """The plan it would be (due times from now)."""

    @property
    def eligible(self) -> bool:
        """True when every rule passes."""
        return all(rule.passed for rule in self.rules)

    @property
    def first_failure(self) -> Rule | None:
        """The first rule that failed, or None."""
        return next((rule for rule in self.rules if not rule.passed), None)


@dataclass(frozen=True, slots=True)
class Collected:
    """What one collection did on an attendee's account."""

    paid: int = 0
    """Instalments collected."""
    points: int = 0
    """Points they took."""
    overdue: int = 0
    """Points due that the balance could not cover (now overdue)."""
    balance: int | None = None
    """The attendee's balance afterwards (None when nothing was due)."""
    next_due_at: datetime | None = None

    @property
    def paused(self) -> bool:
        """An overdue instalment pauses the attendee: no new plan, no prize."""
        return self.overdue > 0

    def note(self) -> str:
        """One line for the screen that made the collection ("" when nothing happened)."""
        parts = []
        if self.paid:
            parts.append(
                _("Pay in four: {points} points collected for an instalment.").format(
                    points=self.points
                )
            )
        if self.overdue:
            parts.append(paused_text(self.overdue))
        return " ".join(parts)


def paused_text(overdue_points: int) -> str:
    """The one line every station shows for a paused attendee."""
    return _(
        "Paused: overdue instalment of {points} points — no prize and no new plan until it is paid."
    ).format(points=overdue_points)


@dataclass(frozen=True, slots=True)
class PlanResult:
    """A plan just taken: the prize handed over and the schedule."""

    plan_id: int
    attendee_id: int
    name: str
    prize_id: str
    prize_name: str
    price: int
    instalments: tuple[InstalmentView, ...]
    balance: int
    owed: int
    at: datetime
    collected: int = 0
    """Points of earlier instalments collected first, in the same operation."""


@dataclass(frozen=True, slots=True)
class PlanView:
    """One of an attendee's plans."""

    plan_id: int
    prize_name: str
    price: int
    state: str
    created_at: datetime
    instalments: tuple[InstalmentView, ...]


@dataclass(frozen=True, slots=True)
class CreditStatus:
    """An attendee's pay-in-four standing."""

    attendee_id: int
    plans: tuple[PlanView, ...]
    owed: int
    overdue: int
    next_due_at: datetime | None

    @property
    def paused(self) -> bool:
        """An overdue instalment pauses the attendee."""
        return self.overdue > 0

    def note(self) -> str:
        """One line for a station ("" when there is nothing to say)."""
        return paused_text(self.overdue) if self.paused else ""


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One open plan in the credit report."""

    plan_id: int
    attendee_id: int
    name: str
    code: str
    prize_name: str
    price: int
    paid: int
    owed: int
    overdue: int
    next_due_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CreditReport:
    """Every open plan, overdue ones first."""

    lines: tuple[ReportLine, ...]
    owed: int
    overdue: int
    credit_balance: int
    """The credit accounts' total: minus what is owed."""


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What ``credit close`` did."""

    plans: int
    collected: int
    written_off: int


# -- reading the attendee's standing ------------------------------------------------------------

_UNKNOWN: Any = object()

_OPEN_UNPAID = and_(
    plan_t.c.state == "open",
    inst_t.c.paid_at.is_(None),
    inst_t.c.written_off_at.is_(None),
)


def _owed(conn: Connection, attendee_id: int) -> tuple[int, int, datetime | None]:
    """(points owed, points overdue, the oldest overdue due time) of an attendee."""
    row = conn.execute(
        select(
            func.coalesce(func.sum(inst_t.c.amount), 0),
            func.coalesce(func.sum(inst_t.c.amount).filter(inst_t.c.overdue_since.is_not(None)), 0),
            func.min(inst_t.c.due_at).filter(inst_t.c.overdue_since.is_not(None)),
        )
        .select_from(inst_t.join(plan_t, plan_t.c.id == inst_t.c.plan_id))
        .where(plan_t.c.attendee_id == attendee_id, _OPEN_UNPAID)
    ).one()
    return int(row[0]), int(row[1]), row[2]


def _recompute_next_due(conn: Connection, attendee_id: int) -> datetime | None:
    """Set ``account.next_due_at`` to the attendee's earliest unpaid instalment; returns it."""
    earliest = conn.execute(
        select(func.min(inst_t.c.due_at))
        .select_from(inst_t.join(plan_t, plan_t.c.id == inst_t.c.plan_id))
        .where(plan_t.c.attendee_id == attendee_id, _OPEN_UNPAID)
    ).scalar()
    conn.execute(
        update(account_t).where(account_t.c.attendee_id == attendee_id).values(next_due_at=earliest)
    )
    return earliest  # type: ignore[no-any-return]


def _earned(conn: Connection, account_id: int) -> int:
    """Points the attendee earned (awards, pre-event points), less awards that were undone."""
    received = conn.execute(
        select(func.coalesce(func.sum(transfer_t.c.amount), 0)).where(
            transfer_t.c.credit_account_id == account_id,
            transfer_t.c.code.in_(EARNED_CODES),
        )
    ).scalar_one()
    # A correction that takes points off an attendee can only undo a credit to them: an award.
    undone = conn.execute(
        select(func.coalesce(func.sum(transfer_t.c.amount), 0)).where(
            transfer_t.c.debit_account_id == account_id,
            transfer_t.c.code == "correction",
        )
    ).scalar_one()
    return max(0, int(received) - int(undone))


def _hubs_visited(conn: Connection, account_id: int) -> int:
    """Distinct hubs where the attendee earned an activity award that was not undone."""
    undone = transfer_t.alias("undone")
    return int(
        conn.execute(
            select(func.count(func.distinct(activity_t.c.hub_id)))
            .select_from(
                transfer_t.join(
                    activity_t,
                    transfer_t.c.reference == literal("activity:") + activity_t.c.id,
                )
            )
            .where(
                transfer_t.c.credit_account_id == account_id,
                transfer_t.c.code == "activity",
                ~exists().where(undone.c.corrects_id == transfer_t.c.id),
            )
        ).scalar_one()
    )


def _paid_on_time(conn: Connection, attendee_id: int) -> int:
    """Instalments collected on the first try (never overdue); the first of each plan is not
    counted, since it is paid at the counter when the plan is taken. An instalment given back
    (the prize was returned, so its transfer was undone) does not count either."""
    refunded = transfer_t.alias("refunded")
    return int(
        conn.execute(
            select(func.count())
            .select_from(inst_t.join(plan_t, plan_t.c.id == inst_t.c.plan_id))
            .where(
                plan_t.c.attendee_id == attendee_id,
                inst_t.c.number > 1,
                inst_t.c.paid_at.is_not(None),
                inst_t.c.transfer_id.is_not(None),
                inst_t.c.overdue_since.is_(None),
                ~exists().where(refunded.c.corrects_id == inst_t.c.transfer_id),
            )
        ).scalar_one()
    )


def _person(conn: Connection, attendee_id: int) -> Any:
    row = conn.execute(
        select(
            attendee_t.c.name,
            attendee_t.c.checked_in_at,
            account_t.c.id.label("account_id"),
            account_t.c.balance,
            account_t.c.next_due_at,
        )
        .select_from(attendee_t.join(account_t, account_t.c.attendee_id == attendee_t.c.id))
        .where(attendee_t.c.id == attendee_id)
    ).first()
    if row is None:
        raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
    return row


def _assess(
    conn: Connection, attendee_id: int, prize_id: str, now: datetime, rules: CreditRules
) -> Eligibility:
    person = _person(conn, attendee_id)
    prize = prize_row(conn, prize_id)
    if not prize.pay_in_four:
        raise Refused(
            _("{prize} cannot be paid in four: the event did not mark it.").format(
                prize=prize.name
            ),
            reason="not_pay_in_four",
        )
    plan = schedule(prize.price, rules.instalments, now, timedelta(minutes=rules.interval_minutes))
    first = plan[0][1]
    owed, overdue, overdue_due = _owed(conn, attendee_id)
    balance = int(person.balance)

    hours = rules.min_hours
    if person.checked_in_at is not None:
        hours = max(hours, (now - person.checked_in_at).total_seconds() / 3600)
    earned = _earned(conn, int(person.account_id))
    parts = (
        ScorePart(
            "points_per_hour",
            _("points earned per hour since check-in"),
            round(earned / hours, 2),
            rules.weight_points_per_hour,
        ),
        ScorePart(
            "hubs_visited",
            _("hubs visited"),
            float(_hubs_visited(conn, int(person.account_id))),
            rules.weight_hubs_visited,
        ),
        ScorePart(
            "paid_on_time",
            _("instalments paid on time"),
            float(_paid_on_time(conn, attendee_id)),
            rules.weight_paid_on_time,
        ),
    )
    score = round(sum(part.points for part in parts), 2)
    after = owed + prize.price - first
    name = str(person.name)
    checks = (
        Rule(
            "overdue",
            overdue == 0,
            _("No overdue instalment.")
            if overdue == 0
            else _(
                "{name} has an overdue instalment of {points} points (due {time}): it must be "
                "paid first."
            ).format(name=name, points=overdue, time=_local(overdue_due, rules.timezone)),
        ),
        Rule(
            "first_instalment",
            balance >= first,
            _("The balance of {balance} points covers the first instalment of {first}.").format(
                balance=balance, first=first
            )
            if balance >= first
            else _("{name} has {balance} points; the first instalment is {first}.").format(
                name=name, balance=balance, first=first
            ),
        ),
        Rule(
            "limit",
            after <= rules.limit,
            _("Owed after this plan: {after} of the limit of {limit} points.").format(
                after=after, limit=rules.limit
            )
            if after <= rules.limit
            else _(
                "Owed after this plan would be {after} points, over the limit of {limit}."
            ).format(after=after, limit=rules.limit),
        ),
        Rule(
            "score",
            score >= rules.threshold,
            _("Score {score:g} reaches the threshold of {threshold:g}.").format(
                score=score, threshold=rules.threshold
            )
            if score >= rules.threshold
            else _("Score {score:g} is below the threshold of {threshold:g}.").format(
                score=score, threshold=rules.threshold
            ),
        ),
    )
    return Eligibility(
        attendee_id=attendee_id,
        name=name,
        prize_id=prize.id,
        prize_name=prize.name,
        price=prize.price,
        balance=balance,
        available=prize.available,
        rules=checks,
        parts=parts,
        score=score,
        threshold=rules.threshold,
        owed=owed,
        limit=rules.limit,
        schedule=tuple(InstalmentView(n, amount, due) for n, amount, due in plan),
    )


def eligibility(store: Store, attendee_id: int, prize_id: str) -> Eligibility:
    """Whether ``attendee_id`` may take ``prize_id`` in instalments now, rule by rule.

    A preview in a read transaction (the database clock): :func:`redeem_in_four` checks again
    inside its own transaction. Call :func:`collect` first so that due instalments are paid.
    Raises :class:`Refused` for a prize the event did not mark, :class:`NotFound` for unknown ids.
    """
    with store.db.read() as conn:
        now = store.db.now(conn)
        return _assess(conn, attendee_id, prize_id, now, credit_rules(conn))


# -- collecting ---------------------------------------------------------------------------------

_LOCK_ACCOUNT = (
    update(account_t)
    .where(account_t.c.attendee_id == bindparam("p_attendee"))
    .values(balance=account_t.c.balance)
    .returning(account_t.c.id, account_t.c.balance)
)


def collect_due(
    conn: Connection,
    actor: Actor,
    now: datetime,
    attendee_id: int,
    *,
    next_due_at: datetime | None = _UNKNOWN,
    seq: int = COLLECT_SEQ,
    claim: Callable[[], None] | None = None,
    everything: bool = False,
) -> Collected:
    """Collect the attendee's due instalments inside the caller's transaction.

    Pass ``next_due_at`` when the caller already read it with the account (then nothing is
    read when nothing is due). Due instalments are paid oldest first from the balance to this
    station's credit account; the first one the balance cannot cover, and every later due one,
    is marked overdue (collection stops there: the oldest is always paid first). ``claim`` runs
    once before the first transfer (a caller without an operation row writes it there).
    ``everything`` collects instalments not yet due too (closing at the end of the event).

    Exactly once: the account row is locked first, then each instalment is taken by a guarded
    UPDATE on ``paid_at IS NULL``; a second station collecting at the same moment waits for the
    lock and then finds nothing left to pay.
    """
    if next_due_at is _UNKNOWN:
        next_due_at = conn.execute(
            select(account_t.c.next_due_at).where(account_t.c.attendee_id == attendee_id)
        ).scalar()
    if next_due_at is None or (next_due_at > now and not everything):
        return Collected(next_due_at=next_due_at)
    locked = conn.execute(_LOCK_ACCOUNT, {"p_attendee": attendee_id}).first()
    if locked is None:
        return Collected()
    account_id, balance = int(locked.id), int(locked.balance)
    query = (
        select(inst_t.c.plan_id, inst_t.c.number, inst_t.c.amount)
        .select_from(inst_t.join(plan_t, plan_t.c.id == inst_t.c.plan_id))
        .where(plan_t.c.attendee_id == attendee_id, _OPEN_UNPAID)
        .order_by(inst_t.c.due_at, inst_t.c.plan_id, inst_t.c.number)
    )
    if not everything:
        query = query.where(inst_t.c.due_at <= now)
    due = conn.execute(query).all()
    paid = points = overdue = 0
    short = False
    touched: set[int] = set()
    credit: int | None = None
    for row in due:
        key = and_(
            inst_t.c.plan_id == row.plan_id,
            inst_t.c.number == row.number,
            inst_t.c.paid_at.is_(None),
            inst_t.c.written_off_at.is_(None),
        )
        if not short and balance >= row.amount:
            if conn.execute(update(inst_t).where(key).values(paid_at=now)).rowcount == 0:
                continue  # paid by another operation a moment ago
            if credit is None:
                credit = system_account_id(conn, "credit", actor.station)
                if claim is not None:
                    claim()
            posted = post_transfer(
                conn,
                actor,
                now,
                debit=account_id,
                credit=credit,
                amount=int(row.amount),
                code="instalment",
                reference=f"plan:{row.plan_id}:{row.number}",
                seq=seq + paid,
            )
            conn.execute(
                update(inst_t)
                .where(inst_t.c.plan_id == row.plan_id, inst_t.c.number == row.number)
                .values(transfer_id=posted.transfer_id)
            )
            balance = posted.debit_balance
            paid += 1
            points += int(row.amount)
            touched.add(int(row.plan_id))
        else:
            short = True
            if everything:
                overdue += int(row.amount)
                continue
            conn.execute(
                update(inst_t)
                .where(key, inst_t.c.overdue_since.is_(None))
                .values(overdue_since=now)
            )
            overdue += int(row.amount)
    for plan_id in touched:
        _close_if_paid(conn, actor, now, plan_id)
    next_due = _recompute_next_due(conn, attendee_id)
    if paid or overdue:
        log.info(
            "instalments collected",
            extra={"attendee_id": attendee_id, "paid": paid, "overdue": overdue},
        )
    return Collected(
        paid=paid, points=points, overdue=overdue, balance=balance, next_due_at=next_due
    )


def _close_if_paid(conn: Connection, actor: Actor, now: datetime, plan_id: int) -> None:
    unpaid = exists().where(
        inst_t.c.plan_id == plan_id,
        inst_t.c.paid_at.is_(None),
        inst_t.c.written_off_at.is_(None),
    )
    conn.execute(
        update(plan_t)
        .where(plan_t.c.id == plan_id, plan_t.c.state == "open", ~unpaid)
        .values(state="paid", closed_at=now, closed_op_id=actor.op_id)
    )


def collect(store: Store, actor: Actor, attendee_id: int) -> Collected:
    """Collect what is due for one attendee, as its own operation, only when something is due.

    For pure reads (a lookup, opening the pay-in-four screen): when ``next_due_at`` is empty or
    in the future this is one read and no operation is written.
    """
    with store.db.read() as conn:
        now = store.db.now(conn)
        due = conn.execute(
            select(account_t.c.next_due_at).where(account_t.c.attendee_id == attendee_id)
        ).scalar()
    if due is None or due > now:
        return Collected(next_due_at=due)

    def work(conn: Connection, now: datetime) -> Collected:
        return collect_due(conn, actor, now, attendee_id)

    return store.run(actor, "collect_due", work, Collected)


def collect_on_lookup(
    conn: Connection, actor: Actor, now: datetime, attendee_id: int, next_due_at: datetime
) -> Collected:
    """Collect inside a band lookup's write transaction (no operation of its own yet).

    The operation row (kind ``collect_due``, a fresh op id) is written only when a transfer is
    about to be posted, so tapping a paused attendee again writes nothing new.
    """
    collector = replace(actor, op_id=new_id())

    def claim() -> None:
        conn.execute(
            insert(operation_t).values(
                op_id=collector.op_id,
                kind="collect_due",
                station=collector.station,
                staff=collector.staff,
                correlation_id=collector.correlation_id,
                created_at=now,
                result="",
            )
        )

    return collect_due(conn, collector, now, attendee_id, next_due_at=next_due_at, claim=claim)


def require_not_paused(
    conn: Connection, attendee_id: int, now: datetime, actor: Actor | None = None
) -> None:
    """Refuse (reason ``credit_paused``) when the attendee has an overdue instalment.

    The counter's redeem calls it inside its transaction, before taking a unit. With ``actor``
    it first collects what is due (so points earned since can repay it), which is what a redeem
    should do: pass the redeem's own actor.
    """
    if actor is not None:
        collect_due(conn, actor, now, attendee_id)
    _owed_points, overdue, since = _owed(conn, attendee_id)
    if overdue:
        rules = credit_rules(conn)
        raise Refused(
            _(
                "Paused: an instalment of {points} points is overdue (due {time}). No prize and "
                "no new plan until it is paid: earn points, then tap again."
            ).format(points=overdue, time=_local(since, rules.timezone)),
            reason="credit_paused",
        )


# -- taking a plan ------------------------------------------------------------------------------


def _views(conn: Connection, plan_id: int) -> tuple[InstalmentView, ...]:
    rows = conn.execute(
        select(inst_t).where(inst_t.c.plan_id == plan_id).order_by(inst_t.c.number)
    ).all()
    return tuple(
        InstalmentView(
            number=r.number,
            amount=r.amount,
            due_at=r.due_at,
            paid_at=r.paid_at,
            overdue=r.overdue_since is not None and r.paid_at is None,
            written_off=r.written_off_at is not None,
        )
        for r in rows
    )


def redeem_in_four(store: Store, actor: Actor, attendee_id: int, prize_id: str) -> PlanResult:
    """Hand over ``prize_id`` now and open a plan for its price (one operation).

    Collects what is due first, checks every eligibility rule inside the transaction (refused
    with the first failing rule's reason), takes a unit by the guarded stock UPDATE, posts the
    first instalment attendee -> counter and the rest credit -> counter, records the redemption
    and the plan with its instalments (the first paid), and sets ``account.next_due_at``.
    """

    def work(conn: Connection, now: datetime) -> PlanResult:
        rules = credit_rules(conn)
        # Due instalments first (this locks the attendee's account row only when one is due).
        collected = collect_due(conn, actor, now, attendee_id)
        prize = prize_row(conn, prize_id)
        if not prize.pay_in_four:
            raise Refused(
                _("{prize} cannot be paid in four: the event did not mark it.").format(
                    prize=prize.name
                ),
                reason="not_pay_in_four",
            )
        # The stock, then the attendee's account: the order a plain redemption locks them in,
        # so a pay-in-four and a plain redemption for the same person cannot deadlock. A refusal
        # below rolls the unit back.
        take_regular(conn, prize_id)
        # With the account locked, a second counter serving the same person waits here and then
        # sees this plan (what is owed, the per-person count).
        if conn.execute(_LOCK_ACCOUNT, {"p_attendee": attendee_id}).first() is None:
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        assessed = _assess(conn, attendee_id, prize_id, now, rules)
        failed = assessed.first_failure
        if failed is not None:
            raise Refused(failed.reason, reason=f"credit_{failed.key}")
        taken, _last = per_person_taken(conn, prize_id, attendee_id)
        if taken >= prize.per_person:
            raise Refused(
                _("{name} already has {prize}: {limit} per person.").format(
                    name=assessed.name, prize=prize.name, limit=prize.per_person
                ),
                reason="per_person",
            )
        person = _person(conn, attendee_id)
        counter = system_account_id(conn, "counter", actor.station)
        credit = system_account_id(conn, "credit", actor.station)
        parts = assessed.schedule
        first = post_transfer(
            conn,
            actor,
            now,
            debit=int(person.account_id),
            credit=counter,
            amount=parts[0].amount,
            code="prize",
            reference=f"pay-in-four:{prize_id}:1",
        )
        rest = prize.price - parts[0].amount
        if rest:
            post_transfer(
                conn,
                actor,
                now,
                debit=credit,
                credit=counter,
                amount=rest,
                code="prize",
                reference=f"pay-in-four:{prize_id}:credit",
                seq=1,
            )
        redemption_id = record_redemption(
            conn,
            actor,
            now,
            prize_id=prize_id,
            attendee_id=attendee_id,
            price=prize.price,
            transfer_id=first.transfer_id,
        )
        detail = {
            "score": assessed.score,
            "threshold": assessed.threshold,
            "parts": [
                {"key": p.key, "value": p.value, "weight": p.weight, "points": p.points}
                for p in assessed.parts
            ],
        }
        plan_id = int(
            conn.execute(
                insert(plan_t)
                .values(
                    op_id=actor.op_id,
                    attendee_id=attendee_id,
                    redemption_id=redemption_id,
                    price=prize.price,
                    instalments=len(parts),
                    interval_minutes=rules.interval_minutes,
                    state="open" if rest else "paid",
                    score_detail=json.dumps(detail, sort_keys=True),
                    created_at=now,
                    station=actor.station,
                    staff=actor.staff,
                    closed_at=None if rest else now,
                )
                .returning(plan_t.c.id)
            ).scalar_one()
        )
        conn.execute(
            insert(inst_t),
            [
                {
                    "plan_id": plan_id,
                    "number": p.number,
                    "amount": p.amount,
                    "due_at": p.due_at,
                    "paid_at": now if p.number == 1 else None,
                    "transfer_id": first.transfer_id if p.number == 1 else None,
                }
                for p in parts
            ],
        )
        _recompute_next_due(conn, attendee_id)
        owed, _overdue, _since = _owed(conn, attendee_id)
        store.audit(
            conn,
            actor,
            now,
            "pay_in_four",
            prize_id,
            plan_id=plan_id,
            attendee_id=attendee_id,
            price=prize.price,
            score=assessed.score,
        )
        return PlanResult(
            plan_id=plan_id,
            attendee_id=attendee_id,
            name=assessed.name,
            prize_id=prize_id,
            prize_name=prize.name,
            price=prize.price,
            instalments=_views(conn, plan_id),
            balance=first.debit_balance,
            owed=owed,
            at=now,
            collected=collected.points,
        )

    return store.run(actor, "pay_in_four", work, PlanResult)


@dataclass(frozen=True, slots=True)
class PlanReturned:
    """What returning a plan's prize did to the plan (inside the counter's return)."""

    plan_id: int
    refunded: int
    """Points back to the attendee: every instalment they paid."""
    cancelled: int
    """Points no longer owed: the unpaid instalments, cancelled."""
    transfer_id: int | None
    """The correction that refunded the first instalment (None: nothing was refunded)."""
    balance: int
    """The attendee's balance afterwards."""


def return_plan(
    conn: Connection, actor: Actor, now: datetime, redemption_id: int
) -> PlanReturned | None:
    """Undo the plan that paid for ``redemption_id`` inside the caller's transaction.

    None when no plan paid for it (a plain redemption). Each paid instalment's transfer is
    undone by a correcting transfer (the first: counter -> attendee; a collected one: credit ->
    attendee), and so is the plan's credit -> counter transfer (counter -> credit); the unpaid
    instalments are cancelled (``written_off_at``, so the credit accounts still hold minus what is
    owed) and the plan is closed. A plan that ``credit close`` ended (written off) cannot be
    returned: refused, reason ``plan_closed``.

    Exactly once: the attendee's account row is locked before the plan is closed by a guarded
    UPDATE, so a collection at the same moment waits and then finds the plan closed.
    """
    plan = conn.execute(
        select(plan_t.c.id, plan_t.c.attendee_id, plan_t.c.op_id, plan_t.c.state).where(
            plan_t.c.redemption_id == redemption_id
        )
    ).first()
    if plan is None:
        return None
    refused = Refused(
        _(
            "This prize's pay-in-four plan was closed at the end of the event (what was left "
            "was written off): it cannot be returned."
        ),
        reason="plan_closed",
    )
    if plan.state not in ("open", "paid"):
        raise refused
    locked = conn.execute(_LOCK_ACCOUNT, {"p_attendee": plan.attendee_id}).first()
    if locked is None:
        raise NotFound(_("There is no attendee {id}.").format(id=plan.attendee_id))
    account_id, balance = int(locked.id), int(locked.balance)
    closed = conn.execute(
        update(plan_t)
        .where(plan_t.c.id == plan.id, plan_t.c.state.in_(("open", "paid")))
        .values(state="closed", closed_at=now, closed_op_id=actor.op_id)
    )
    if closed.rowcount == 0:
        raise refused
    # The transfers to undo: every paid instalment's (the first one first), then the credit.
    paid = conn.execute(
        select(inst_t.c.transfer_id)
        .where(
            inst_t.c.plan_id == plan.id,
            inst_t.c.paid_at.is_not(None),
            inst_t.c.transfer_id.is_not(None),
        )
        .order_by(inst_t.c.number)
    ).scalars()
    undo = [int(t) for t in paid]
    rest = conn.execute(
        select(transfer_t.c.id).where(
            transfer_t.c.op_id == plan.op_id, transfer_t.c.seq == 1, transfer_t.c.code == "prize"
        )
    ).scalar()
    if rest is not None:
        undo.append(int(rest))
    # A transfer staff already undid by hand (``points correct``) is not undone twice.
    undone = transfer_t.alias("undone")
    originals = {
        int(r.id): r
        for r in conn.execute(
            select(
                transfer_t.c.id,
                transfer_t.c.debit_account_id,
                transfer_t.c.credit_account_id,
                transfer_t.c.amount,
            ).where(
                transfer_t.c.id.in_(undo),
                ~exists().where(undone.c.corrects_id == transfer_t.c.id),
            )
        )
    }
    refunded = 0
    first_transfer: int | None = None
    for seq, transfer_id in enumerate(t for t in undo if t in originals):
        original = originals[transfer_id]
        posted = post_transfer(
            conn,
            actor,
            now,
            debit=int(original.credit_account_id),
            credit=int(original.debit_account_id),
            amount=int(original.amount),
            code="correction",
            reference=f"return:{redemption_id}",
            seq=seq,
            corrects=transfer_id,
        )
        if int(original.debit_account_id) == account_id:
            refunded += int(original.amount)
            balance = posted.credit_balance
            if first_transfer is None:
                first_transfer = posted.transfer_id
    cancelled = int(
        conn.execute(
            select(func.coalesce(func.sum(inst_t.c.amount), 0)).where(
                inst_t.c.plan_id == plan.id,
                inst_t.c.paid_at.is_(None),
                inst_t.c.written_off_at.is_(None),
            )
        ).scalar_one()
    )
    conn.execute(
        update(inst_t)
        .where(
            inst_t.c.plan_id == plan.id,
            inst_t.c.paid_at.is_(None),
            inst_t.c.written_off_at.is_(None),
        )
        .values(written_off_at=now)
    )
    _recompute_next_due(conn, plan.attendee_id)
    log.info(
        "plan returned",
        extra={"plan_id": plan.id, "refunded": refunded, "cancelled": cancelled},
    )
    return PlanReturned(
        plan_id=int(plan.id),
        refunded=refunded,
        cancelled=cancelled,
        transfer_id=first_transfer,
        balance=balance,
    )


# -- status, report, close ----------------------------------------------------------------------


def credit_status(store: Store, attendee_id: int) -> CreditStatus:
    """The attendee's plans, what they owe and whether they are paused."""
    with store.db.read() as conn:
        person = _person(conn, attendee_id)
        plans = conn.execute(
            select(plan_t.c.id, plan_t.c.price, plan_t.c.state, plan_t.c.created_at, prize_t.c.name)
            .select_from(
                plan_t.join(_redemption_t, _redemption_t.c.id == plan_t.c.redemption_id).join(
                    prize_t, prize_t.c.id == _redemption_t.c.prize_id
                )
            )
            .where(plan_t.c.attendee_id == attendee_id)
            .order_by(plan_t.c.id)
        ).all()
        views = tuple(
            PlanView(p.id, p.name, p.price, p.state, p.created_at, _views(conn, p.id))
            for p in plans
        )
        owed, overdue, _since = _owed(conn, attendee_id)
    return CreditStatus(
        attendee_id=attendee_id,
        plans=views,
        owed=owed,
        overdue=overdue,
        next_due_at=person.next_due_at,
    )


def plans_text(conn: Connection, attendee_id: int, timezone: str) -> str:
    """One line on the attendee's open plans for the wristband table ("" without any)."""
    owed, overdue, _since = _owed(conn, attendee_id)
    if not owed:
        return ""
    plans = conn.execute(
        select(func.count()).where(plan_t.c.attendee_id == attendee_id, plan_t.c.state == "open")
    ).scalar_one()
    nxt = conn.execute(
        select(inst_t.c.amount, inst_t.c.due_at)
        .select_from(inst_t.join(plan_t, plan_t.c.id == inst_t.c.plan_id))
        .where(plan_t.c.attendee_id == attendee_id, _OPEN_UNPAID)
        .order_by(inst_t.c.due_at)
        .limit(1)
    ).first()
    text = ngettext(
        "Pay in four: {n} open plan, {owed} points owed",
        "Pay in four: {n} open plans, {owed} points owed",
        int(plans),
    ).format(n=int(plans), owed=owed)
    if nxt is not None and not overdue:  # an overdue one has its own "Paused" line
        text += _("; next instalment {amount} due {time}").format(
            amount=nxt.amount, time=_local(nxt.due_at, timezone)
        )
    return text


def overdue_points(conn: Connection, attendee_id: int) -> int:
    """Points of the attendee's overdue instalments (0: not paused)."""
    return _owed(conn, attendee_id)[1]


def report(store: Store) -> CreditReport:
    """Every open plan with what was paid, what is owed and what is overdue."""
    with store.db.read() as conn:
        sums = (
            select(
                inst_t.c.plan_id,
                func.coalesce(
                    func.sum(inst_t.c.amount).filter(inst_t.c.paid_at.is_not(None)), 0
                ).label("paid"),
                func.coalesce(
                    func.sum(inst_t.c.amount).filter(
                        inst_t.c.paid_at.is_(None), inst_t.c.written_off_at.is_(None)
                    ),
                    0,
                ).label("owed"),
                func.coalesce(
                    func.sum(inst_t.c.amount).filter(
                        inst_t.c.paid_at.is_(None),
                        inst_t.c.written_off_at.is_(None),
                        inst_t.c.overdue_since.is_not(None),
                    ),
                    0,
                ).label("overdue"),
                func.min(inst_t.c.due_at)
                .filter(inst_t.c.paid_at.is_(None), inst_t.c.written_off_at.is_(None))
                .label("next_due"),
            )
            .group_by(inst_t.c.plan_id)
            .subquery()
        )
        rows = conn.execute(
            select(
                plan_t.c.id,
                plan_t.c.attendee_id,
                attendee_t.c.name,
                attendee_t.c.code,
                prize_t.c.name.label("prize"),
                plan_t.c.price,
                plan_t.c.created_at,
                sums.c.paid,
                sums.c.owed,
                sums.c.overdue,
                sums.c.next_due,
            )
            .select_from(
                plan_t.join(sums, sums.c.plan_id == plan_t.c.id)
                .join(attendee_t, attendee_t.c.id == plan_t.c.attendee_id)
                .join(_redemption_t, _redemption_t.c.id == plan_t.c.redemption_id)
                .join(prize_t, prize_t.c.id == _redemption_t.c.prize_id)
            )
            .where(plan_t.c.state == "open")
            .order_by(sums.c.overdue.desc(), sums.c.next_due, plan_t.c.id)
        ).all()
        credit_balance = conn.execute(
            select(func.coalesce(func.sum(account_t.c.balance), 0)).where(
                account_t.c.kind == "credit"
            )
        ).scalar_one()
    lines = tuple(
        ReportLine(
            plan_id=r.id,
            attendee_id=r.attendee_id,
            name=r.name,
            code=r.code,
            prize_name=r.prize,
            price=r.price,
            paid=int(r.paid),
            owed=int(r.owed),
            overdue=int(r.overdue),
            next_due_at=_as_time(r.next_due),
            created_at=r.created_at,
        )
        for r in rows
    )
    return CreditReport(
        lines=lines,
        owed=sum(line.owed for line in lines),
        overdue=sum(line.overdue for line in lines),
        credit_balance=int(credit_balance),
    )


def _as_time(value: Any) -> datetime | None:
    """An aggregate of a time column (SQLite may hand back text without the column's type)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def close_all(store: Store, actor: Actor, mode: str) -> CloseResult:
    """End every open plan, as transfers (one operation; running it again finds nothing).

    ``mode`` "collect": take every remaining instalment the balance allows (due or not, oldest
    first), then write off the rest. "write-off": write off everything left. A write-off is one
    issuer -> credit transfer per plan, so the credit accounts return to zero.
    """
    if mode not in ("collect", "write-off"):
        raise ValueError(f"unknown close mode {mode!r}")

    def work(conn: Connection, now: datetime) -> CloseResult:
        attendees = [
            int(a)
            for a in conn.execute(
                select(plan_t.c.attendee_id)
                .where(plan_t.c.state == "open")
                .distinct()
                .order_by(plan_t.c.attendee_id)
            ).scalars()
        ]
        seq = COLLECT_SEQ
        collected = written = plans = 0
        issuer = system_account_id(conn, "issuer", actor.station)
        credit = system_account_id(conn, "credit", actor.station)
        for attendee_id in attendees:
            # Lock the account first, as a return and a collection do: a return or a collection
            # of the same person at this moment waits, then finds the plans closed. What is
            # written off is what the guarded UPDATE took, never an amount read before it.
            conn.execute(_LOCK_ACCOUNT, {"p_attendee": attendee_id})
            if mode == "collect":
                got = collect_due(
                    conn, actor, now, attendee_id, next_due_at=now, seq=seq, everything=True
                )
                seq += got.paid
                collected += got.points
            open_plans = conn.execute(
                select(plan_t.c.id).where(
                    plan_t.c.attendee_id == attendee_id, plan_t.c.state == "open"
                )
            ).scalars()
            for plan_id in list(open_plans):
                closed = conn.execute(
                    update(plan_t)
                    .where(plan_t.c.id == plan_id, plan_t.c.state == "open")
                    .values(state="closed", closed_at=now, closed_op_id=actor.op_id)
                ).rowcount
                if closed == 0:
                    continue  # returned or paid off a moment ago
                left = sum(
                    int(amount)
                    for amount in conn.execute(
                        update(inst_t)
                        .where(
                            inst_t.c.plan_id == plan_id,
                            inst_t.c.paid_at.is_(None),
                            inst_t.c.written_off_at.is_(None),
                        )
                        .values(written_off_at=now)
                        .returning(inst_t.c.amount)
                    ).scalars()
                )
                if left:
                    post_transfer(
                        conn,
                        actor,
                        now,
                        debit=issuer,
                        credit=credit,
                        amount=left,
                        code="write-off",
                        reference=f"plan:{plan_id}",
                        seq=seq,
                    )
                    seq += 1
                    written += left
                plans += 1
            _recompute_next_due(conn, attendee_id)
        store.audit(
            conn,
            actor,
            now,
            "credit_close",
            mode,
            plans=plans,
            collected=collected,
            written=written,
        )
        return CloseResult(plans=plans, collected=collected, written_off=written)

    return store.run(actor, "credit_close", work, CloseResult)


# -- invariants ---------------------------------------------------------------------------------


def verify_credit(conn: Connection) -> tuple[list[str], list[str]]:
    """Pay-in-four invariants for :meth:`Store.verify`: (checked, violations)."""
    checked: list[str] = []
    violations: list[str] = []

    checked.append(_("the credit accounts hold minus what is owed"))
    owed = conn.execute(
        select(func.coalesce(func.sum(inst_t.c.amount), 0)).where(
            inst_t.c.paid_at.is_(None), inst_t.c.written_off_at.is_(None)
        )
    ).scalar_one()
    held = conn.execute(
        select(func.coalesce(func.sum(account_t.c.balance), 0)).where(account_t.c.kind == "credit")
    ).scalar_one()
    if int(held) != -int(owed):
        violations.append(
            _("The credit accounts hold {held} but {owed} points are owed.").format(
                held=held, owed=owed
            )
        )

    checked.append(_("every plan's instalments sum to its price"))
    sums = (
        select(inst_t.c.plan_id, func.sum(inst_t.c.amount).label("total"))
        .group_by(inst_t.c.plan_id)
        .subquery()
    )
    for row in conn.execute(
        select(plan_t.c.id, plan_t.c.price, sums.c.total)
        .outerjoin(sums, sums.c.plan_id == plan_t.c.id)
        .where((sums.c.total.is_(None)) | (sums.c.total != plan_t.c.price))
    ):
        violations.append(
            _("Plan {id} costs {price} but its instalments sum to {total}.").format(
                id=row.id, price=row.price, total=row.total or 0
            )
        )

    checked.append(_("every account's next due time is its earliest unpaid instalment"))
    earliest = (
        select(plan_t.c.attendee_id, func.min(inst_t.c.due_at).label("due"))
        .select_from(inst_t.join(plan_t, plan_t.c.id == inst_t.c.plan_id))
        .where(_OPEN_UNPAID)
        .group_by(plan_t.c.attendee_id)
        .subquery()
    )
    for row in conn.execute(
        select(account_t.c.attendee_id, account_t.c.next_due_at, earliest.c.due)
        .outerjoin(earliest, earliest.c.attendee_id == account_t.c.attendee_id)
        .where(
            account_t.c.kind == "attendee",
            (account_t.c.next_due_at.is_not(None)) | (earliest.c.due.is_not(None)),
        )
    ):
        if _as_time(row.next_due_at) != _as_time(row.due):
            violations.append(
                _("Attendee {id}: next due time {stored} but the earliest unpaid is {due}.").format(
                    id=row.attendee_id, stored=row.next_due_at, due=row.due
                )
            )
    return checked, violations
