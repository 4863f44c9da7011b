"""The hub: awards for activities, quiz answers, social posts and "being cool", and their limits.

Every limit two hubs could race on is enforced by the database, not by a Python check before the
write: a guarded upsert on ``earn_limit`` (once per attendee, at most N, the hub's cool-down), a
guarded upsert on ``staff_budget`` (the hubman's daily "cool" budget) and on ``staff_rate`` (their
"cool" awards per minute). When the guard does not match, the operation is refused with what to
do, and the refusal is recorded with its reason (and the hub, for the keeper's statistics).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from store import codec
from store.context import Actor
from store.credit import collect_due
from store.driver import DriverConnection, actor_params, compact
from store.errors import NotFound, Refused
from store.i18n import _
from store.ledger import account_t, post_transfer, system_account_id, transfer_t
from store.models import (
    Activity,
    Attendee,
    Audit,
    EarnLimit,
    Event,
    Hub,
    QuizQuestion,
    StaffBudget,
    StaffMember,
    StaffRate,
    Talk,
)
from store.points import BandHolder, event_day, require_active_band
from store.service import Fallback, Store, refusal_detail_json

__all__ = [
    "ActivityChoice",
    "HubAward",
    "HubStats",
    "HubUndo",
    "QuestionChoice",
    "award_activity",
    "award_cool",
    "award_quiz",
    "award_social",
    "cool_budget_left",
    "hub_catalogue",
    "hub_stats",
    "undo_hub_award",
]

log = logging.getLogger("tapdesk.store")

activity_t: Table = Activity.__table__  # type: ignore[attr-defined]
attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
audit_t: Table = Audit.__table__  # type: ignore[attr-defined]
limit_t: Table = EarnLimit.__table__  # type: ignore[attr-defined]
event_t: Table = Event.__table__  # type: ignore[attr-defined]
hub_t: Table = Hub.__table__  # type: ignore[attr-defined]
question_t: Table = QuizQuestion.__table__  # type: ignore[attr-defined]
budget_t: Table = StaffBudget.__table__  # type: ignore[attr-defined]
staff_t: Table = StaffMember.__table__  # type: ignore[attr-defined]
rate_t: Table = StaffRate.__table__  # type: ignore[attr-defined]
talk_t: Table = Talk.__table__  # type: ignore[attr-defined]

#: A time far enough in the past that "no cool-down" always passes the guard.
_EPOCH = datetime(2000, 1, 1).astimezone()


@dataclass(frozen=True, slots=True)
class HubAward:
    """Points given at a hub: the big confirmation."""

    transfer_id: int
    attendee_id: int
    name: str
    points: int
    balance: int
    what: str
    """What it was for (the activity, the question, "social", "cool")."""
    at: datetime
    undo_until: datetime
    credit_note: str = ""
    """Pay in four: what this award collected, or "Paused: …" ("" usually)."""


@dataclass(frozen=True, slots=True)
class HubUndo:
    """An award taken back within its undo window."""

    transfer_id: int
    name: str
    points: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ActivityChoice:
    """An activity the hubman can pick."""

    id: str
    hub_id: str
    name: str
    points: int
    max_per_attendee: int | None
    cooldown_minutes: int


@dataclass(frozen=True, slots=True)
class QuestionChoice:
    """A quiz question the hubman can pick."""

    id: str
    talk_id: str
    talk_title: str
    text: str
    answer: str
    points: int


@dataclass(frozen=True, slots=True)
class HubCatalogue:
    """Everything a hub station can award."""

    hubs: tuple[tuple[str, str], ...]
    activities: tuple[ActivityChoice, ...]
    questions: tuple[QuestionChoice, ...]
    social_points: int | None
    cool_daily_budget: int


@dataclass(frozen=True, slots=True)
class HubStats:
    """The hub keeper's numbers for today."""

    visitors: int
    points_by_activity: tuple[tuple[str, int, int], ...]
    """(activity name, awards, points)."""
    top_attendees: tuple[tuple[str, int], ...]
    refusals: tuple[tuple[str, int], ...]


# -- the event's rules -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rules:
    timezone: str
    cool_daily_budget: int
    cool_rate_per_minute: int
    undo_minutes_hub: int
    social_points: int | None
    social_max: int


def _rules(conn: Connection) -> _Rules:
    row = conn.execute(select(event_t.c.timezone, event_t.c.settings).limit(1)).first()
    settings: dict[str, Any] = json.loads(row.settings) if row and row.settings else {}
    limits = settings.get("limits") or {}
    social = settings.get("social") or {}
    return _Rules(
        timezone=row.timezone if row else "UTC",
        cool_daily_budget=int(limits.get("cool_daily_budget", 200)),
        cool_rate_per_minute=int(limits.get("cool_rate_per_minute", 3)),
        undo_minutes_hub=int(limits.get("undo_minutes_hub", 2)),
        social_points=int(social["points"]) if social.get("points") else None,
        social_max=int(social.get("max_per_attendee", 1)),
    )


def hub_catalogue(store: Store) -> HubCatalogue:
    """The hubs, activities, quiz questions and rules a hub station offers."""
    with store.db.read() as conn:
        rules = _rules(conn)
        hubs = conn.execute(
            select(hub_t.c.id, hub_t.c.name).where(hub_t.c.active.is_(True)).order_by(hub_t.c.name)
        ).all()
        activities = conn.execute(
            select(activity_t)
            .where(activity_t.c.active.is_(True))
            .order_by(activity_t.c.hub_id, activity_t.c.name)
        ).all()
        questions = conn.execute(
            select(question_t, talk_t.c.title)
            .join(talk_t, talk_t.c.id == question_t.c.talk_id)
            .where(question_t.c.active.is_(True))
            .order_by(talk_t.c.starts_at, question_t.c.id)
        ).all()
    return HubCatalogue(
        hubs=tuple((h.id, h.name) for h in hubs),
        activities=tuple(
            ActivityChoice(a.id, a.hub_id, a.name, a.points, a.max_per_attendee, a.cooldown_minutes)
            for a in activities
        ),
        questions=tuple(
            QuestionChoice(q.id, q.talk_id, q.title, q.text, q.answer, q.points) for q in questions
        ),
        social_points=rules.social_points,
        cool_daily_budget=rules.cool_daily_budget,
    )


# -- guarded counters ------------------------------------------------------------------------


def _upsert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _count_earning(
    conn: Connection,
    rule: str,
    attendee_id: int,
    now: datetime,
    *,
    max_count: int | None,
    not_before: datetime,
) -> bool:
    """Count one more earning under ``rule``; False when the limit or the cool-down says no.

    One statement: a first earning inserts the row; later ones update it only while the count
    is under ``max_count`` and the last one is older than ``not_before``. Two hubs racing on
    the same attendee serialise on that row, and the second one re-checks the guard.
    """
    ins = _upsert(conn, limit_t).values(rule=rule, attendee_id=attendee_id, count=1, last_at=now)
    guard = limit_t.c.last_at <= not_before
    if max_count is not None:
        guard = and_(guard, limit_t.c.count < max_count)
    stmt = ins.on_conflict_do_update(
        index_elements=[limit_t.c.rule, limit_t.c.attendee_id],
        set_={"count": limit_t.c.count + 1, "last_at": now},
        where=guard,
    ).returning(limit_t.c.count)
    return conn.execute(stmt).first() is not None


def _limit_row(conn: Connection, rule: str, attendee_id: int) -> Any:
    return conn.execute(
        select(limit_t.c.count, limit_t.c.last_at).where(
            limit_t.c.rule == rule, limit_t.c.attendee_id == attendee_id
        )
    ).first()


def _local(moment: datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M")


def _not_self(conn: Connection, actor: Actor, holder: BandHolder, scope: str) -> None:
    """Nobody awards anything to their own band."""
    if actor.staff_id is None:
        return
    code = conn.execute(
        select(staff_t.c.attendee_code).where(staff_t.c.id == actor.staff_id)
    ).scalar()
    if code is None:
        return
    own = conn.execute(select(attendee_t.c.id).where(attendee_t.c.code == code)).scalar()
    if own == holder.attendee_id:
        raise Refused(
            _("You cannot award points to yourself: ask another hubman."),
            reason="self_award",
            scope=scope,
        )


def _give(
    conn: Connection,
    actor: Actor,
    now: datetime,
    holder: BandHolder,
    *,
    points: int,
    code: str,
    reference: str,
    what: str,
    undo_minutes: int,
) -> HubAward:
    issuer = system_account_id(conn, "issuer", actor.station)
    posted = post_transfer(
        conn,
        actor,
        now,
        debit=issuer,
        credit=holder.account_id,
        amount=points,
        code=code,
        reference=reference,
    )
    # Points earned repay due (and overdue) pay-in-four instalments first.
    collected = collect_due(conn, actor, now, holder.attendee_id, next_due_at=holder.next_due_at)
    return HubAward(
        transfer_id=posted.transfer_id,
        attendee_id=holder.attendee_id,
        name=holder.name,
        points=points,
        balance=posted.credit_balance if collected.balance is None else collected.balance,
        what=what,
        at=now,
        undo_until=now + timedelta(minutes=undo_minutes),
        credit_note=collected.note(),
    )


# -- the four kinds of award -----------------------------------------------------------------


def _activity_limit(
    name: str, activity: str, max_count: int | None, count: int, time: str, scope: str
) -> Refused:
    """An activity refused: the attendee did it as often as it counts (the last at ``time``)."""
    if max_count == 1:
        message = _("{name} already did {activity} at {time}.").format(
            name=name, activity=activity, time=time
        )
    else:
        message = _("{name} did {activity} {count} times already: the limit is {max}.").format(
            name=name, activity=activity, count=count, max=max_count
        )
    return Refused(message, reason="activity_limit", scope=scope)


def _cooling_down(name: str, wait: timedelta, scope: str) -> Refused:
    """An activity refused: the attendee earned at this hub less than its cool-down ago."""
    left = max(0, int(wait.total_seconds()))
    return Refused(
        _("Cool-down: {left} left before {name} can earn here again.").format(
            left=f"{left // 60}:{left % 60:02d}", name=name
        ),
        reason="cooldown",
        scope=scope,
    )


def _answered(name: str, time: str, scope: str) -> Refused:
    """A quiz award refused: the attendee answered this question already (at ``time``)."""
    return Refused(
        _("{name} already answered this question at {time}.").format(name=name, time=time),
        reason="already_answered",
        scope=scope,
    )


def award_activity(store: Store, actor: Actor, uid: str, activity_id: str) -> HubAward:
    """Points for an activity at a hub, within its limits and the hub's cool-down."""
    if store.one_statement:
        fast = _award_in_one_statement(store, actor, uid, "activity", activity_id)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> HubAward:
        activity = conn.execute(
            select(activity_t).where(activity_t.c.id == activity_id, activity_t.c.active.is_(True))
        ).first()
        if activity is None:
            raise NotFound(_("There is no activity {id} (any more).").format(id=activity_id))
        scope = f"hub:{activity.hub_id}"
        holder = _holder(conn, uid, scope)
        _not_self(conn, actor, holder, scope)
        rules = _rules(conn)
        rule = f"activity:{activity.id}"
        if not _count_earning(
            conn,
            rule,
            holder.attendee_id,
            now,
            max_count=activity.max_per_attendee,
            not_before=now,
        ):
            row = _limit_row(conn, rule, holder.attendee_id)
            raise _activity_limit(
                holder.name,
                activity.name,
                activity.max_per_attendee,
                row.count,
                _local(row.last_at, rules.timezone),
                scope,
            )
        if activity.cooldown_minutes:
            cooldown = timedelta(minutes=activity.cooldown_minutes)
            hub_rule = f"hub:{activity.hub_id}"
            if not _count_earning(
                conn, hub_rule, holder.attendee_id, now, max_count=None, not_before=now - cooldown
            ):
                row = _limit_row(conn, hub_rule, holder.attendee_id)
                raise _cooling_down(holder.name, row.last_at + cooldown - now, scope)
        else:
            # Still note the visit, so that a later activity with a cool-down sees it.
            _count_earning(
                conn,
                f"hub:{activity.hub_id}",
                holder.attendee_id,
                now,
                max_count=None,
                not_before=now,
            )
        return _give(
            conn,
            actor,
            now,
            holder,
            points=activity.points,
            code="activity",
            reference=rule,
            what=activity.name,
            undo_minutes=rules.undo_minutes_hub,
        )

    return store.run(actor, "award_activity", work, HubAward)


def award_quiz(store: Store, actor: Actor, uid: str, question_id: str) -> HubAward:
    """Points for a right answer: once per attendee per question (a room full is not fraud)."""
    if store.one_statement:
        fast = _award_in_one_statement(store, actor, uid, "quiz", question_id)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> HubAward:
        question = conn.execute(
            select(question_t).where(question_t.c.id == question_id, question_t.c.active.is_(True))
        ).first()
        if question is None:
            raise NotFound(_("There is no question {id} (any more).").format(id=question_id))
        scope = f"quiz:{question.talk_id}"
        holder = _holder(conn, uid, scope)
        _not_self(conn, actor, holder, scope)
        rules = _rules(conn)
        rule = f"quiz:{question.id}"
        if not _count_earning(conn, rule, holder.attendee_id, now, max_count=1, not_before=now):
            row = _limit_row(conn, rule, holder.attendee_id)
            raise _answered(holder.name, _local(row.last_at, rules.timezone), scope)
        return _give(
            conn,
            actor,
            now,
            holder,
            points=question.points,
            code="quiz",
            reference=rule,
            what=_("quiz: {question}").format(question=question.text[:60]),
            undo_minutes=rules.undo_minutes_hub,
        )

    return store.run(actor, "award_quiz", work, HubAward)


def award_social(store: Store, actor: Actor, uid: str) -> HubAward:
    """Points for a photo posted on social media, as often as the event allows (once by default)."""

    def work(conn: Connection, now: datetime) -> HubAward:
        rules = _rules(conn)
        if rules.social_points is None:
            raise Refused(_("This event gives no points for social posts."), reason="no_social")
        holder = _holder(conn, uid, "social")
        _not_self(conn, actor, holder, "social")
        if not _count_earning(
            conn, "social", holder.attendee_id, now, max_count=rules.social_max, not_before=now
        ):
            row = _limit_row(conn, "social", holder.attendee_id)
            raise Refused(
                _("{name} already got social points at {time}.").format(
                    name=holder.name, time=_local(row.last_at, rules.timezone)
                ),
                reason="social_limit",
                scope="social",
            )
        return _give(
            conn,
            actor,
            now,
            holder,
            points=rules.social_points,
            code="social",
            reference="social",
            what=_("social post"),
            undo_minutes=rules.undo_minutes_hub,
        )

    return store.run(actor, "award_social", work, HubAward)


def award_cool(store: Store, actor: Actor, uid: str, points: int, hub_id: str = "") -> HubAward:
    """Points "for being cool": from the hubman's daily budget, at most N awards a minute."""
    if points <= 0:
        raise Refused(_("Points to award must be more than zero."), reason="bad_amount")
    if actor.staff_id is None:
        raise Refused(_("Sign in first: cool points come from your own budget."), reason="no_staff")
    staff_id = actor.staff_id
    scope = f"hub:{hub_id}" if hub_id else "cool"
    if store.one_statement:
        fast = _cool_in_one_statement(store, actor, uid, points, staff_id, scope)
        if isinstance(fast, Refused):
            # Recorded by the statement itself, as Store.run records a refusal.
            log.info(
                "operation refused",
                extra={"kind": "award_cool", "op_id": actor.op_id, "reason": fast.reason},
            )
            raise fast
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> HubAward:
        rules = _rules(conn)
        holder = _holder(conn, uid, scope)
        _not_self(conn, actor, holder, scope)
        day = event_day(now, rules.timezone).isoformat()
        if points > rules.cool_daily_budget:
            raise Refused(
                _("Your daily budget is {budget} points: {points} is more than that.").format(
                    budget=rules.cool_daily_budget, points=points
                ),
                reason="cool_budget",
                scope=scope,
            )
        spent = (
            _upsert(conn, budget_t)
            .values(staff_id=staff_id, day=day, spent=points)
            .on_conflict_do_update(
                index_elements=[budget_t.c.staff_id, budget_t.c.day],
                set_={"spent": budget_t.c.spent + points},
                where=budget_t.c.spent + points <= rules.cool_daily_budget,
            )
            .returning(budget_t.c.spent)
        )
        if conn.execute(spent).first() is None:
            left = rules.cool_daily_budget - int(
                conn.execute(
                    select(budget_t.c.spent).where(
                        budget_t.c.staff_id == staff_id, budget_t.c.day == day
                    )
                ).scalar_one()
            )
            raise Refused(
                _("Your cool budget for today has {left} points left.").format(left=left),
                reason="cool_budget",
                scope=scope,
            )
        minute = int(now.timestamp() // 60)
        counted = (
            _upsert(conn, rate_t)
            .values(staff_id=staff_id, minute=minute, count=1)
            .on_conflict_do_update(
                index_elements=[rate_t.c.staff_id, rate_t.c.minute],
                set_={"count": rate_t.c.count + 1},
                where=rate_t.c.count < rules.cool_rate_per_minute,
            )
            .returning(rate_t.c.count)
        )
        if conn.execute(counted).first() is None:
            raise Refused(
                _("At most {n} cool awards a minute: wait {s} s.").format(
                    n=rules.cool_rate_per_minute, s=60 - int(now.timestamp()) % 60
                ),
                reason="cool_rate",
                scope=scope,
            )
        return _give(
            conn,
            actor,
            now,
            holder,
            points=points,
            code="cool",
            reference=f"cool:{staff_id}:{day}",
            what=_("for being cool"),
            undo_minutes=rules.undo_minutes_hub,
        )

    return store.run(actor, "award_cool", work, HubAward)


# -- the cool award in one statement (PostgreSQL) ----------------------------------------------


#: A "cool" award as ONE statement (data-modifying CTEs) on PostgreSQL, for the happy path and
#: for the two common refusals (daily budget used up, too many a minute).
#:
#: Happy path, row for row what the step-by-step path writes: the guarded upserts on
#: ``staff_budget`` and ``staff_rate``, both balances, the transfer, the operation row with its
#: result (written last, ON CONFLICT DO NOTHING) and the station's change counter. The rate upsert
#: runs only after the budget upsert returned its row, and everything after it needs the rate
#: upsert's row: when a guard fails on a row this statement could not lock first (one inserted by
#: another station a moment ago), the statement returns no result and the caller rolls the whole
#: transaction back, the budget upsert included (Fallback).
#:
#: Refusals: the budget row and then the rate row are read FOR NO KEY UPDATE before anything is
#: written (the step path's lock order). A locked read waits for a station writing the row and
#: returns its newest version, so the guards are decided on what the upserts would see, and the
#: message's numbers are the newest. When a guard fails, the statement writes nothing but the
#: "refused" audit row Store.run would record (same action, subject and detail JSON; the caller
#: builds the message with the same ``_()`` strings and checks the statement wrote exactly that)
#: — but only when the budget row it locked is the version its snapshot saw. A newer version
#: means another operation committed after the snapshot, maybe this same operation id retried
#: from another process, whose first result the step path would return: it falls back. So does
#: everything else (an inactive or unbound band, the hubman's own band, more than the daily
#: budget in one award, a retried operation id, a pay-in-four instalment due, the first award
#: of the day when a guard fails).
_COOL_CTE = text(
    compact(
        """
WITH rules AS (
    -- one row, the defaults without an event (as _rules reads them)
    SELECT COALESCE(max(e.timezone), 'UTC') AS tz,
           COALESCE(max(e.l ->> 'cool_daily_budget')::int, 200) AS budget,
           COALESCE(max(e.l ->> 'cool_rate_per_minute')::int, 3) AS rate,
           COALESCE(max(e.l ->> 'undo_minutes_hub')::int, 2) AS undo
    FROM (SELECT timezone, NULLIF(settings, '')::jsonb -> 'limits' AS l
          FROM event ORDER BY id LIMIT 1) e
), holder AS (
    SELECT a.id AS attendee_id, a.name, c.id AS account_id,
           -- a pay-in-four instalment due: the step-by-step path collects it
           (c.next_due_at IS NULL OR c.next_due_at > now()) AS nothing_due
    FROM band b
    JOIN attendee a ON a.id = b.attendee_id
    JOIN account c ON c.attendee_id = a.id
    WHERE b.uid = :uid AND b.state = 'active'
      -- not the hubman's own band
      AND a.code IS DISTINCT FROM
          (SELECT s.attendee_code FROM staff_member s WHERE s.id = :hubman)
      -- a retried operation id: the step-by-step path returns its first result
      AND NOT EXISTS (SELECT 1 FROM operation o WHERE o.op_id = :op_id)
), ok AS (
    SELECT h.*, r.*, to_char(now() AT TIME ZONE r.tz, 'YYYY-MM-DD') AS day,
           floor(extract(epoch FROM now()) / 60)::int AS minute
    FROM holder h, rules r
    WHERE :points <= r.budget
), budget_now AS MATERIALIZED (
    SELECT spent, xmin AS version FROM staff_budget
    WHERE staff_id = :hubman AND day = (SELECT day FROM ok)
    FOR NO KEY UPDATE
), rate_now AS MATERIALIZED (
    SELECT count FROM staff_rate
    WHERE staff_id = :hubman AND minute = (SELECT minute FROM ok)
      -- after the budget row (the step path's lock order), and only with it
      AND EXISTS (SELECT 1 FROM budget_now)
    FOR NO KEY UPDATE
), decided AS (
    SELECT ok.*, b.spent,
           (b.spent + :points > ok.budget) IS TRUE AS over_budget,
           (r.count >= ok.rate) IS TRUE AS over_rate,
           -- the budget row locked is the version this statement's snapshot saw
           b.version = (SELECT xmin FROM staff_budget
                         WHERE staff_id = :hubman AND day = ok.day) AS as_seen
    FROM ok LEFT JOIN budget_now b ON true LEFT JOIN rate_now r ON true
), budget_up AS (
    INSERT INTO staff_budget AS sb (staff_id, day, spent)
    SELECT :hubman, day, :points FROM decided
    WHERE nothing_due AND NOT over_budget AND NOT over_rate
    ON CONFLICT (staff_id, day) DO UPDATE SET spent = sb.spent + :points
    WHERE sb.spent + :points <= (SELECT budget FROM rules)
    RETURNING spent
), rate_up AS (
    INSERT INTO staff_rate AS sr (staff_id, minute, count)
    SELECT :hubman, d.minute, 1 FROM decided d, budget_up
    ON CONFLICT (staff_id, minute) DO UPDATE SET count = sr.count + 1
    WHERE sr.count < (SELECT rate FROM rules)
    RETURNING count
), passed AS (
    SELECT d.* FROM decided d, rate_up
), moved AS (
    UPDATE account AS c
    SET balance = c.balance + CASE WHEN c.id = p.account_id THEN :points ELSE -:points END
    FROM passed p
    WHERE c.id IN (:issuer, p.account_id)
    RETURNING c.id, c.balance
), posted AS (
    INSERT INTO transfer (op_id, seq, debit_account_id, credit_account_id, amount, code,
                          reference, station, staff, correlation_id, created_at)
    SELECT :op_id, 0, :issuer, p.account_id, :points, 'cool',
           'cool:' || :hubman || ':' || p.day, :station, :staff, :corr, now()
    FROM passed p
    RETURNING id
), op AS (
    INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
    SELECT :op_id, 'award_cool', :station, :staff, :corr, now(),
           json_build_object(
               'transfer_id', t.id, 'attendee_id', p.attendee_id, 'name', p.name,
               'points', :points, 'balance', m.balance, 'what', CAST(:what AS text),
               'at', now(), 'undo_until', now() + make_interval(mins => p.undo)
           )::text
    FROM passed p, posted t, moved m
    WHERE m.id = p.account_id
    ON CONFLICT DO NOTHING
    RETURNING result
), advanced AS (
    UPDATE station SET change_seq = change_seq + 1
    WHERE name = :station AND EXISTS (SELECT 1 FROM op)
), audited AS (
    -- the step path checks the budget first, then the rate
    INSERT INTO audit (at, station, staff, correlation_id, action, subject, detail)
    SELECT now(), :station, :staff, :corr, 'refused', :subject,
           CASE WHEN over_budget
                THEN replace(:budget_detail, :mark_n, (budget - spent)::text)
                ELSE replace(replace(:rate_detail, :mark_n, rate::text), :mark_s,
                             (60 - floor(extract(epoch FROM now()))::bigint % 60)::text)
           END
    FROM decided
    WHERE as_seen AND (over_budget OR over_rate)
    RETURNING detail
)
SELECT now(), d.tz, d.day, d.minute, d.budget, d.rate, d.spent, d.over_budget,
       (SELECT result FROM op) AS result, (SELECT detail FROM audited) AS detail
FROM decided d
"""
    )
)

#: Stand-ins for the numbers in the refusal messages, replaced by the statement (the caller
#: checks the outcome against the message it builds itself).
_MARK_N = "\u27e6n\u27e7"
_MARK_S = "\u27e6s\u27e7"


def _refusal_detail(reason: str, message: str) -> str:
    """The detail JSON of the cool award's "refused" audit row."""
    return refusal_detail_json("award_cool", reason, message)


@functools.lru_cache(maxsize=8)
def _refusal_details(budget_text: str, rate_text: str) -> tuple[str, str]:
    """The two refusals' detail JSON with stand-ins for their numbers (per language)."""
    return (
        _refusal_detail("cool_budget", budget_text.format(left=_MARK_N)),
        _refusal_detail("cool_rate", rate_text.format(n=_MARK_N, s=_MARK_S)),
    )


def _cool_in_one_statement(
    store: Store, actor: Actor, uid: str, points: int, staff_id: str, scope: str
) -> HubAward | Refused | None:
    """A cool award in one statement: the award, the refusal to raise (already recorded), or
    None to take the step-by-step path."""
    budget_text = _("Your cool budget for today has {left} points left.")
    rate_text = _("At most {n} cool awards a minute: wait {s} s.")
    budget_detail, rate_detail = _refusal_details(budget_text, rate_text)
    issuer = store.issuer_id(actor.station)

    def attempt(conn: DriverConnection) -> HubAward | Refused:
        row = conn.execute(
            _COOL_CTE,
            {
                "uid": uid,
                "hubman": staff_id,
                "points": points,
                "issuer": issuer,
                "op_id": actor.op_id,
                "station": actor.station,
                "staff": actor.staff,
                "corr": actor.correlation_id,
                "what": _("for being cool"),
                "subject": scope[:200],
                "budget_detail": budget_detail,
                "rate_detail": rate_detail,
                "mark_n": _MARK_N,
                "mark_s": _MARK_S,
            },
        ).first()
        if row is None:
            raise Fallback  # nothing written: see _COOL_CTE
        now: datetime = row.now
        # The event day and minute as the step path works them out (Python's time zones).
        if (
            event_day(now, row.tz).isoformat() != row.day
            or int(now.timestamp() // 60) != row.minute
        ):
            raise Fallback
        if row.result is not None:
            return codec.load(HubAward, row.result)
        if row.detail is None:
            raise Fallback  # nothing written
        if row.over_budget:
            reason, message = "cool_budget", budget_text.format(left=row.budget - row.spent)
        else:
            s = 60 - int(now.timestamp()) % 60
            reason, message = "cool_rate", rate_text.format(n=row.rate, s=s)
        if row.detail != _refusal_detail(reason, message):
            raise Fallback  # never seen: the recorded refusal must say what the station shows
        return Refused(message, reason=reason, scope=scope)

    return store.run_one_statement(actor, attempt)


# -- the common award in one statement (PostgreSQL) ----------------------------------------------

#: An activity or quiz award as ONE statement (data-modifying CTEs), for the hot path on
#: PostgreSQL: the holder of an active band, not the hubman themself; the guarded earn-limit
#: upserts (the activity's "at most N" and the hub's cool-down, or the question's "once"); both
#: balances; the transfer; the operation row with its result; the station's change counter.
#:
#: All or nothing by itself, so it runs without BEGIN and COMMIT (one round trip): every write
#: depends on the first one (``lim``), and ``ok`` checks in the statement's snapshot everything
#: the guards will check — the limit, the cool-down, an operation id already used — so that a
#: refusal, a limit or a retry writes nothing and returns no result: the station then takes the
#: step-by-step path, which explains the refusal (and records it) or returns the retried
#: operation's first result. So does an attendee with a pay-in-four instalment due (the step
#: path collects it). The guarded upserts still decide: when one refuses after ``lim`` wrote
#: (another station changed the row a moment ago), ``tapdesk_fallback()`` undoes the statement.
_HUB_AWARD_CTE = """
WITH what AS (
    {what}
), holder AS (
    SELECT a.id AS attendee_id, a.name, c.id AS account_id
    FROM band b
    JOIN attendee a ON a.id = b.attendee_id
    JOIN account c ON c.attendee_id = a.id
    WHERE b.uid = :uid AND b.state = 'active'
      -- a pay-in-four instalment due: the step-by-step path collects it
      AND (c.next_due_at IS NULL OR c.next_due_at > now())
      AND NOT EXISTS (
          SELECT 1 FROM staff_member s JOIN attendee sa ON sa.code = s.attendee_code
          WHERE s.id = :staff_id AND sa.id = a.id
      )
), ok AS (
    SELECT h.attendee_id, h.name, h.account_id, w.points, w.what, w.max_count, w.cooldown,
           w.hub_rule
    FROM holder h, what w
    WHERE NOT EXISTS (SELECT 1 FROM operation o WHERE o.op_id = :op_id)
      AND NOT EXISTS (
          SELECT 1 FROM earn_limit l
          WHERE l.rule = :rule AND l.attendee_id = h.attendee_id
            AND NOT (l.last_at <= now() AND l.count < COALESCE(w.max_count, 2147483647))
      )
      AND (w.hub_rule = '' OR NOT EXISTS (
          SELECT 1 FROM earn_limit v
          WHERE v.rule = w.hub_rule AND v.attendee_id = h.attendee_id
            AND v.last_at > now() - make_interval(mins => w.cooldown)
      ))
), lim AS (
    INSERT INTO earn_limit (rule, attendee_id, count, last_at)
    SELECT :rule, ok.attendee_id, 1, now() FROM ok
    ON CONFLICT (rule, attendee_id) DO UPDATE
    SET count = earn_limit.count + 1, last_at = now()
    WHERE earn_limit.last_at <= now()
      AND earn_limit.count < COALESCE((SELECT max_count FROM what), 2147483647)
    RETURNING attendee_id
), visit AS (
    INSERT INTO earn_limit (rule, attendee_id, count, last_at)
    SELECT ok.hub_rule, ok.attendee_id, 1, now() FROM ok, lim WHERE ok.hub_rule <> ''
    ON CONFLICT (rule, attendee_id) DO UPDATE
    SET count = earn_limit.count + 1, last_at = now()
    WHERE earn_limit.last_at <= now() - make_interval(mins => (SELECT cooldown FROM what))
    RETURNING attendee_id
), passed AS (
    SELECT ok.* FROM ok, lim
    WHERE ok.hub_rule = '' OR EXISTS (SELECT 1 FROM visit)
), moved AS (
    UPDATE account
    SET balance = account.balance
        + CASE WHEN account.id = p.account_id THEN p.points ELSE -p.points END
    FROM passed p
    WHERE account.id IN (:issuer, p.account_id)
    RETURNING account.id, account.balance
), tid AS (
    SELECT nextval(pg_get_serial_sequence('transfer', 'id')) AS id FROM passed
), posted AS (
    INSERT INTO transfer (id, op_id, seq, debit_account_id, credit_account_id, amount, code,
                          reference, station, staff, correlation_id, created_at)
    SELECT tid.id, :op_id, 0, :issuer, p.account_id, p.points, :code, :rule, :station, :staff,
           :correlation_id, now()
    FROM passed p, tid
    RETURNING id
), op AS (
    INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
    SELECT :op_id, :kind, :station, :staff, :correlation_id, now(),
           json_build_object(
               'transfer_id', tid.id, 'attendee_id', p.attendee_id, 'name', p.name,
               'points', p.points, 'balance', m.balance, 'what', p.what, 'at', now(),
               'undo_until', now() + make_interval(mins => (
                   SELECT COALESCE((e.settings::jsonb #>> '{{limits,undo_minutes_hub}}')::int, 2)
                   FROM event e ORDER BY e.id LIMIT 1))
           )::text
    FROM passed p, tid, moved m
    WHERE m.id = p.account_id AND EXISTS (SELECT 1 FROM posted)
    ON CONFLICT DO NOTHING
    RETURNING result
), advanced AS (
    UPDATE station SET change_seq = change_seq + 1
    WHERE name = :station AND EXISTS (SELECT 1 FROM op)
), refusal AS (
    -- nothing written because a limit or the cool-down said no (as this statement's snapshot
    -- saw them) for a person the step path would serve: what its refusal says
    SELECT h.name, w.what, w.max_count, w.cooldown, w.scope, l.count AS limit_count,
           l.last_at AS limit_at, v.last_at AS visit_at, now() AS now,
           COALESCE((SELECT e.timezone FROM event e ORDER BY e.id LIMIT 1), 'UTC') AS tz
    FROM holder h CROSS JOIN what w
    LEFT JOIN earn_limit l ON l.rule = :rule AND l.attendee_id = h.attendee_id
    LEFT JOIN earn_limit v ON v.rule = w.hub_rule AND v.attendee_id = h.attendee_id
    WHERE NOT EXISTS (SELECT 1 FROM ok)
      AND NOT EXISTS (SELECT 1 FROM operation o WHERE o.op_id = :op_id)
)
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM op) THEN (SELECT result FROM op)
    WHEN EXISTS (SELECT 1 FROM lim) THEN tapdesk_fallback()  -- a race lost after writing
END AS result, r.*
FROM (SELECT 1) AS one LEFT JOIN refusal r ON true
"""

_ACTIVITY_WHAT = """
    SELECT a.points, a.name::text AS what, a.max_per_attendee AS max_count,
           a.cooldown_minutes AS cooldown, 'hub:' || a.hub_id AS hub_rule,
           'hub:' || a.hub_id AS scope
    FROM activity a WHERE a.id = :key AND a.active
"""
_QUIZ_WHAT = """
    SELECT q.points, :what_pre || left(q.text, 60) || :what_post AS what, 1 AS max_count,
           0 AS cooldown, ''::text AS hub_rule, 'quiz:' || q.talk_id AS scope
    FROM quiz_question q WHERE q.id = :key AND q.active
"""
_FAST = {
    "activity": text(compact(_HUB_AWARD_CTE.format(what=_ACTIVITY_WHAT))),
    "quiz": text(compact(_HUB_AWARD_CTE.format(what=_QUIZ_WHAT))),
}


def _award_in_one_statement(
    store: Store, actor: Actor, uid: str, kind: str, key: str
) -> HubAward | None:
    """An activity or quiz award in one statement, or None to take the step-by-step path."""
    pre, _sep, post = _("quiz: {question}").partition("{question}")

    issuer = store.issuer_id(actor.station)

    def attempt(conn: DriverConnection) -> HubAward:
        row = conn.execute(
            _FAST[kind],
            {
                "uid": uid,
                "key": key,
                "staff_id": actor.staff_id or "",
                "rule": f"{kind}:{key}",
                "issuer": issuer,
                "code": kind,
                "kind": f"award_{kind}",
                **actor_params(actor),
                "what_pre": pre,
                "what_post": post,
            },
        ).first()
        if row is None:
            raise Fallback  # nothing was written
        if row.result is not None:
            return codec.load(HubAward, row.result)
        if row.name is not None:  # nothing written: a limit or the cool-down (see refusal)
            raise _refused_in_statement(kind, row)
        raise Fallback  # nothing was written: the step path says why

    return store.run_one_statement(actor, attempt, single=True, kind=f"award_{kind}")


def _refused_in_statement(kind: str, row: Any) -> Refused | Fallback:
    """The step path's refusal for what the award statement saw (its ``refusal`` row), checked
    in the step path's order: the limit, then the hub's cool-down. Fallback when neither says
    no (something else stopped the statement: the step path finds out)."""
    now: datetime = row.now
    limit = row.max_count if row.max_count is not None else 2**31 - 1
    if row.limit_at is not None and not (row.limit_at <= now and row.limit_count < limit):
        time = _local(row.limit_at, row.tz)
        if kind == "quiz":
            return _answered(row.name, time, row.scope)
        return _activity_limit(row.name, row.what, row.max_count, row.limit_count, time, row.scope)
    cooldown = timedelta(minutes=row.cooldown or 0)
    if cooldown and row.visit_at is not None and row.visit_at > now - cooldown:
        return _cooling_down(row.name, row.visit_at + cooldown - now, row.scope)
    return Fallback()


def _holder(conn: Connection, uid: str, scope: str) -> BandHolder:
    try:
        return require_active_band(conn, uid)
    except Refused as refusal:
        raise Refused(refusal.message, reason=refusal.reason, scope=scope) from refusal


def cool_budget_left(store: Store, staff_id: str) -> int:
    """Points the hubman may still award "for being cool" today."""
    with store.db.read() as conn:
        rules = _rules(conn)
        day = event_day(store.db.now(conn), rules.timezone).isoformat()
        spent = conn.execute(
            select(budget_t.c.spent).where(budget_t.c.staff_id == staff_id, budget_t.c.day == day)
        ).scalar()
    return rules.cool_daily_budget - int(spent or 0)


# -- undo ------------------------------------------------------------------------------------


def undo_hub_award(store: Store, actor: Actor, transfer_id: int) -> HubUndo:
    """Take back an award made at this station within the undo window (a correcting transfer).

    The limit it used is released (the attendee may earn it again) and a cool award goes back
    into the hubman's budget.
    """

    def work(conn: Connection, now: datetime) -> HubUndo:
        rules = _rules(conn)
        original = conn.execute(select(transfer_t).where(transfer_t.c.id == transfer_id)).first()
        if original is None or original.code not in ("activity", "quiz", "social", "cool"):
            raise NotFound(_("There is no hub award {id}.").format(id=transfer_id))
        if original.station != actor.station:
            raise Refused(
                _("Only the station that gave it ({station}) can undo this award.").format(
                    station=original.station
                ),
                reason="other_station",
            )
        if now - original.created_at > timedelta(minutes=rules.undo_minutes_hub):
            raise Refused(
                _("Too late to undo: awards can be undone for {minutes} minutes.").format(
                    minutes=rules.undo_minutes_hub
                ),
                reason="undo_expired",
            )
        if conn.execute(
            select(transfer_t.c.id).where(transfer_t.c.corrects_id == transfer_id)
        ).first():
            raise Refused(_("This award was already undone."), reason="already_corrected")
        attendee_id = conn.execute(
            select(account_t.c.attendee_id).where(account_t.c.id == original.credit_account_id)
        ).scalar_one()
        try:
            post_transfer(
                conn,
                actor,
                now,
                debit=original.credit_account_id,
                credit=original.debit_account_id,
                amount=original.amount,
                code="correction",
                reference=f"undo:{original.reference}",
                corrects=transfer_id,
            )
        except Refused as short:
            raise Refused(
                _("Cannot undo: the {amount} points were already spent.").format(
                    amount=original.amount
                ),
                reason=short.reason,
            ) from short
        reference: str = original.reference
        if original.code == "cool":
            _kind, staff_id, day = reference.split(":", 2)
            conn.execute(
                update(budget_t)
                .where(budget_t.c.staff_id == staff_id, budget_t.c.day == day)
                .values(spent=budget_t.c.spent - original.amount)
            )
        else:
            conn.execute(
                update(limit_t)
                .where(
                    limit_t.c.rule == reference,
                    limit_t.c.attendee_id == attendee_id,
                    limit_t.c.count > 0,
                )
                .values(count=limit_t.c.count - 1)
            )
        name = conn.execute(
            select(attendee_t.c.name).where(attendee_t.c.id == attendee_id)
        ).scalar_one()
        store.audit(conn, actor, now, "hub_undo", str(transfer_id), amount=original.amount)
        return HubUndo(transfer_id, name, original.amount, now)

    return store.run(actor, "hub_undo", work, HubUndo)


# -- statistics ------------------------------------------------------------------------------


def hub_stats(store: Store, hub_id: str) -> HubStats:
    """Today's numbers for one hub: visitors, points per activity, top attendees, refusals."""
    with store.db.read() as conn:
        rules = _rules(conn)
        now = store.db.now(conn)
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(rules.timezone)
        local = now.astimezone(zone)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        refs = [
            f"activity:{a}"
            for a in conn.execute(
                select(activity_t.c.id).where(activity_t.c.hub_id == hub_id)
            ).scalars()
        ]
        names = dict(
            conn.execute(
                select(activity_t.c.id, activity_t.c.name).where(activity_t.c.hub_id == hub_id)
            ).all()
        )
        undone = transfer_t.alias("undone")
        awarded = (
            select(transfer_t)
            .where(transfer_t.c.reference.in_(refs), transfer_t.c.created_at >= start)
            .where(~exists().where(undone.c.corrects_id == transfer_t.c.id))
            .subquery()
        )
        per_activity = conn.execute(
            select(awarded.c.reference, func.count(), func.sum(awarded.c.amount))
            .group_by(awarded.c.reference)
            .order_by(func.sum(awarded.c.amount).desc())
        ).all()
        visitors = conn.execute(
            select(func.count(func.distinct(awarded.c.credit_account_id)))
        ).scalar_one()
        top = conn.execute(
            select(attendee_t.c.name, func.sum(awarded.c.amount).label("points"))
            .join(account_t, account_t.c.id == awarded.c.credit_account_id)
            .join(attendee_t, attendee_t.c.id == account_t.c.attendee_id)
            .group_by(attendee_t.c.name)
            .order_by(func.sum(awarded.c.amount).desc(), attendee_t.c.name)
            .limit(5)
        ).all()
        refusal_rows = (
            conn.execute(
                select(audit_t.c.detail).where(
                    audit_t.c.action == "refused",
                    audit_t.c.subject == f"hub:{hub_id}",
                    audit_t.c.at >= start,
                )
            )
            .scalars()
            .all()
        )
    reasons: dict[str, int] = {}
    for detail in refusal_rows:
        reason = json.loads(detail).get("reason", "?") if detail else "?"
        reasons[reason] = reasons.get(reason, 0) + 1
    return HubStats(
        visitors=int(visitors),
        points_by_activity=tuple(
            (names.get(ref.split(":", 1)[1], ref), int(n), int(points or 0))
            for ref, n, points in per_activity
        ),
        top_attendees=tuple((name, int(points)) for name, points in top),
        refusals=tuple(sorted(reasons.items(), key=lambda item: -item[1])),
    )
