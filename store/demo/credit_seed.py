"""Pay in four in the demo: four checked-in people set up for a walkthrough at the counter.

Built through the real operations (hub awards, the plan itself), so the ledger is what the
stations would have written:

- Сәуле Иманғалиева: 400 points, three hubs — eligible for every pay-in-four prize;
- Николай Петров: 300 points but no hub visits — the score stays below the threshold;
- Игорь Павлов: took headphones in four and the second instalment is overdue — paused: every
  station that taps him says so, and the counter refuses him until points repay it;
- Илья Григорьев: has a plan on time — a second plan is over the credit limit.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Table, select, update

from store import credit
from store.context import Actor
from store.hub import award_activity
from store.ledger import account_t
from store.models import Attendee, Band, Instalment
from store.points import award
from store.service import Store

__all__ = ["CREDIT_DEMO_PEOPLE", "seed_pay_in_four"]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
inst_t: Table = Instalment.__table__  # type: ignore[attr-defined]

#: code -> (the role in the walkthrough, points to reach with "bonus" after the activities).
CREDIT_DEMO_PEOPLE = {
    "92B3TK9DXA": ("eligible", 400),
    "MNNPM5RB6V": ("low score", 300),
    "5JQS7DEMH7": ("paused", 225),
    "W3ARYF8P54": ("over the limit", 600),
}
_ACTIVITIES = ("qa-bug-hunt", "backend-api-design", "infosec-ctf")


def seed_pay_in_four(store: Store) -> None:
    """Give the four demo people their history and plans (run once, after the demo is built)."""
    hubman = Actor(station="hub-demo", staff="demo")
    counter = Actor(station="counter-demo", staff="demo")
    with store.db.read() as conn:
        people = {
            row.code: (int(row.id), str(row.uid), int(row.balance))
            for row in conn.execute(
                select(attendee_t.c.code, attendee_t.c.id, band_t.c.uid, account_t.c.balance)
                .join(band_t, band_t.c.attendee_id == attendee_t.c.id)
                .join(account_t, account_t.c.attendee_id == attendee_t.c.id)
                .where(attendee_t.c.code.in_(CREDIT_DEMO_PEOPLE), band_t.c.state == "active")
            )
        }
    for code, (role, target) in CREDIT_DEMO_PEOPLE.items():
        if code not in people:
            continue  # an edited demo file: skip the walkthrough person
        attendee_id, uid, balance = people[code]
        if role != "low score":
            for activity in _ACTIVITIES:
                balance = award_activity(store, hubman.next_action(), uid, activity).balance
        if target > balance:
            award(store, hubman.next_action(), uid, target - balance, "bonus")
        if role in ("paused", "over the limit"):
            credit.redeem_in_four(store, counter.next_action(), attendee_id, "headphones")
        if role == "paused":
            _move_due_times_back(store, attendee_id)
            credit.collect(store, counter.next_action(), attendee_id)


def _move_due_times_back(store: Store, attendee_id: int) -> None:
    """Make the plan's second instalment due a few minutes ago (as if time had passed)."""
    with store.db.write() as conn:
        now = store.db.now(conn)
        plan = select(credit.plan_t.c.id).where(credit.plan_t.c.attendee_id == attendee_id)
        rows = conn.execute(
            select(inst_t.c.plan_id, inst_t.c.number, inst_t.c.due_at).where(
                inst_t.c.plan_id.in_(plan), inst_t.c.paid_at.is_(None)
            )
        ).all()
        first_due = min(row.due_at for row in rows)
        shift = first_due - (now - timedelta(minutes=5))
        for row in rows:
            conn.execute(
                update(inst_t)
                .where(inst_t.c.plan_id == row.plan_id, inst_t.c.number == row.number)
                .values(due_at=row.due_at - shift)
            )
        conn.execute(
            update(account_t)
            .where(account_t.c.attendee_id == attendee_id)
            .values(next_due_at=first_due - shift)
        )
