"""Build the demo database: the demo event and ~800 seeded attendees, 300 already checked in.

The attendees come from the committed ``attendees.csv`` (made by ``store.demo.generate``), so
every reset gives the same people, codes and bands. Everyone gets search keys; the 300 with a
band get the check-in row and posted pre-event points the desk would have written, so the desk
sees them exactly as if it had checked them in (undo included).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Table, insert, select

from store.context import Actor
from store.desk import record_check_ins
from store.eventfile import apply_event, parse_event_file
from store.ledger import account_t, post_transfer, system_account_id
from store.models import Attendee, Band, Event, Operation, PendingPoints
from store.search import index_attendees
from store.service import Store

__all__ = ["DEMO_ATTENDEES", "DEMO_EVENT", "DemoSummary", "build_demo"]

DEMO_ATTENDEES = Path(__file__).with_name("attendees.csv")
DEMO_EVENT = Path(__file__).with_name("event.toml")
DEMO_STATION = "demo-setup"
DEMO_DESK = "desk-1"
#: Who "checked in" the demo's first 300 people: a demo desk staff member from the event file.
DEMO_DESK_STAFF = "Павел Смирнов"

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
event_t: Table = Event.__table__  # type: ignore[attr-defined]
operation_t: Table = Operation.__table__  # type: ignore[attr-defined]
pending_t: Table = PendingPoints.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo holds after a build."""

    attendees: int
    checked_in: int
    points_posted: int
    points_waiting: int


def build_demo(store: Store, csv_path: Path = DEMO_ATTENDEES) -> DemoSummary:
    """Fill an empty, migrated database with the demo event and attendees (one transaction)."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    actor = Actor(
        station=DEMO_STATION, staff="demo", correlation_id="demo-setup", op_id="demo-setup"
    )
    posted = waiting = checked_in = 0
    # Validated before the transaction: a broken demo file changes nothing.
    event = parse_event_file(DEMO_EVENT)
    with store.db.write() as conn:
        now = store.db.now(conn)
        # Through the event file's loader, inside this transaction: the demo is one unit of work.
        apply_event(store, conn, now, event, actor, source=str(DEMO_EVENT))
        conn.execute(
            insert(operation_t).values(
                op_id=actor.op_id,
                kind="demo_setup",
                station=actor.station,
                staff=actor.staff,
                correlation_id=actor.correlation_id,
                created_at=now,
                result="",
            )
        )
        conn.execute(
            insert(attendee_t),
            [
                {
                    "code": r["code"],
                    "name": r["name"],
                    "email": r["email"],
                    "company": r["company"],
                    "field": r["field"],
                    "tags": r["tags"],
                    "registered_via": r["registered_via"],
                    "colour": r["colour"] or None,
                    "checked_in_at": now if r["band_uid"] else None,
                    "checked_in_station": DEMO_DESK if r["band_uid"] else None,
                    "checked_in_staff": DEMO_DESK_STAFF if r["band_uid"] else None,
                    "active": True,
                    "created_at": now,
                }
                for r in rows
            ],
        )
        ids = dict(conn.execute(select(attendee_t.c.code, attendee_t.c.id)).all())
        conn.execute(
            insert(account_t),
            [
                {"kind": "attendee", "attendee_id": ids[r["code"]], "balance": 0, "floor": 0}
                for r in rows
            ],
        )
        issuer = system_account_id(conn, "issuer", DEMO_STATION)
        accounts = dict(
            conn.execute(
                select(account_t.c.attendee_id, account_t.c.id).where(
                    account_t.c.kind == "attendee"
                )
            ).all()
        )
        index_attendees(
            conn, ((ids[r["code"]], r["name"], r["email"], r["company"], r["code"]) for r in rows)
        )
        bands = []
        pending = []
        check_ins = []
        for seq, r in enumerate(rows):
            attendee_id = ids[r["code"]]
            points = int(r["pre_event_points"] or 0)
            if r["band_uid"]:
                checked_in += 1
                bands.append(
                    {
                        "uid": r["band_uid"],
                        "attendee_id": attendee_id,
                        "state": "active",
                        "state_reason": "",
                        "state_at": now,
                        "state_station": DEMO_DESK,
                        "state_staff": DEMO_DESK_STAFF,
                        "bound_at": now,
                    }
                )
                transfer_id = None
                if points:
                    transfer_id = post_transfer(
                        conn,
                        actor,
                        now,
                        debit=issuer,
                        credit=accounts[attendee_id],
                        amount=points,
                        code="pre-event",
                        reference="demo",
                        seq=seq,
                    ).transfer_id
                    posted += points
                    # Posted at the demo bind, as bind_band marks them: undo makes them wait again.
                    pending.append(
                        {
                            "attendee_id": attendee_id,
                            "external_id": f"demo:{r['code']}",
                            "reason": "site activity before the event",
                            "points": points,
                            "posted_op_id": actor.op_id,
                            "created_at": now,
                        }
                    )
                check_ins.append(
                    {
                        "op_id": actor.op_id,
                        "attendee_id": attendee_id,
                        "at": now,
                        "station": DEMO_DESK,
                        "staff": "demo",
                        "rule_colour": r["colour"] or None,
                        "colour": r["colour"] or None,
                        "band_uid": r["band_uid"],
                        "bind_op_id": actor.op_id,
                        "pre_event_transfer_id": transfer_id,
                        "pre_event_points": points,
                    }
                )
            elif points:
                pending.append(
                    {
                        "attendee_id": attendee_id,
                        "external_id": f"demo:{r['code']}",
                        "reason": "site activity before the event",
                        "points": points,
                        "posted_op_id": None,
                        "created_at": now,
                    }
                )
                waiting += points
        if bands:
            conn.execute(insert(band_t), bands)
        if pending:
            conn.execute(insert(pending_t), pending)
        record_check_ins(conn, check_ins)
    if csv_path == DEMO_ATTENDEES:
        # Pay in four: a few people set up for a walkthrough (real operations, after the build).
        from store.demo.credit_seed import seed_pay_in_four

        seed_pay_in_four(store)
    store.db.analyze()
    return DemoSummary(
        attendees=len(rows), checked_in=checked_in, points_posted=posted, points_waiting=waiting
    )
