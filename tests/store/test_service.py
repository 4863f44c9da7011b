"""The store service: the operation runner, band lookups, audit, stations and verify."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import Connection, text

from store.context import Actor, new_id
from store.errors import Refused
from store.ledger import post_transfer, system_account_id
from store.service import Store
from tests.factories import account_of, add_attendee


@dataclass(frozen=True)
class Gift:
    transfer_id: int
    at: datetime


def give(store: Store, actor: Actor, account: int, amount: int) -> Gift:
    def work(conn: Connection, now: datetime) -> Gift:
        issuer = system_account_id(conn, "issuer", actor.station)
        tid = post_transfer(
            conn, actor, now, debit=issuer, credit=account, amount=amount, code="test"
        )
        return Gift(tid.transfer_id, now)

    return store.run(actor, "gift", work, Gift)


def balance(store: Store, account: int) -> int:
    with store.db.read() as conn:
        return int(
            conn.execute(
                text("SELECT balance FROM account WHERE id = :i"), {"i": account}
            ).scalar_one()
        )


def test_same_operation_id_applies_once(store: Store) -> None:
    account = account_of(store, add_attendee(store))
    actor = Actor(station="hub-1", staff="Bob")
    first = give(store, actor, account, 10)
    again = give(store, actor, account, 10)
    assert again == first
    assert balance(store, account) == 10
    give(store, actor.next_action(), account, 5)
    assert balance(store, account) == 15
    assert store.verify().ok


def test_operation_id_reused_for_another_kind_is_refused(store: Store) -> None:
    account = account_of(store, add_attendee(store))
    actor = Actor(station="hub-1")
    give(store, actor, account, 10)
    with pytest.raises(Exception, match="already used"):
        store.run(actor, "other", lambda conn, now: None, type(None))


def test_refused_operation_changes_nothing_and_is_audited(store: Store) -> None:
    account = account_of(store, add_attendee(store))
    actor = Actor(station="counter-1")

    def spend(conn: Connection, now: datetime) -> Gift:
        counter = system_account_id(conn, "counter", actor.station)
        return Gift(
            post_transfer(
                conn, actor, now, debit=account, credit=counter, amount=5, code="prize"
            ).transfer_id,
            now,
        )

    with pytest.raises(Refused, match="Not enough points"):
        store.run(actor, "spend", spend, Gift)
    assert balance(store, account) == 0
    rows = store.audit_trail(actor.correlation_id)
    assert [r["action"] for r in rows] == ["refused"]
    assert "insufficient_points" in rows[0]["detail"]
    # The refused operation id is free: after earning, the same action can succeed.
    give(store, Actor(station="hub-1"), account, 10)
    assert store.run(actor, "spend", spend, Gift).transfer_id > 0
    assert balance(store, account) == 5
    assert store.verify().ok


def test_identify_band_and_its_audit_row(store: Store) -> None:
    attendee = add_attendee(store, "Әсел Нұрланова", band_uid="04A1B2C3D4E580")
    actor = Actor(station="desk-2", staff="Anna")
    found = store.identify_band(actor, "04A1B2C3D4E580")
    assert (found.state, found.name, found.attendee_id, found.balance) == (
        "active",
        "Әсел Нұрланова",
        attendee,
        0,
    )
    unknown = store.identify_band(actor.next_action(), "04FFFFFFFFFFFF")
    assert unknown.state == "unbound" and unknown.name is None
    trail = store.audit_trail(actor.correlation_id)
    assert len(trail) == 1
    assert (trail[0]["action"], trail[0]["subject"], trail[0]["station"], trail[0]["staff"]) == (
        "tap",
        "04A1B2C3D4E580",
        "desk-2",
        "Anna",
    )


def test_change_sequence_advances_per_station(store: Store) -> None:
    account = account_of(store, add_attendee(store))
    before = store.change_seq()
    give(store, Actor(station="hub-1"), account, 1)
    give(store, Actor(station="hub-2"), account, 1)
    assert store.change_seq() == before + 2
    # A replay is not a change.
    actor = Actor(station="hub-1")
    give(store, actor, account, 1)
    give(store, actor, account, 1)
    assert store.change_seq() == before + 3


def test_stations_announce_and_go_silent(store: Store) -> None:
    store.announce("desk-1", "desk", None, "ready")
    store.announce("hub-3", "hub", "Bob", "ready")
    with store.db.write() as conn:
        conn.execute(
            text("UPDATE station SET last_seen = :t WHERE name = 'hub-3'"),
            {"t": "2020-01-01 00:00:00"},
        )
    listed = {s.name: s for s in store.stations()}
    assert listed["desk-1"].silent is False and listed["desk-1"].role == "desk"
    assert listed["hub-3"].silent is True


def test_verify_reports_each_broken_invariant(store: Store) -> None:
    account = account_of(store, add_attendee(store))
    give(store, Actor(station="hub-1"), account, 10)
    assert store.verify().ok
    with store.db.write() as conn:
        conn.execute(text("UPDATE account SET balance = balance + 7 WHERE id = :i"), {"i": account})
    report = store.verify()
    assert not report.ok
    text_ = "\n".join(report.violations)
    assert "sum to 7" in text_
    assert f"Account {account} holds 17 but its transfers give 10" in text_


def test_band_choices_fold_cyrillic_case(store: Store) -> None:
    add_attendee(store, "Пётр Семёнов", band_uid="04000000000001")
    add_attendee(store, "Anna Smith", band_uid="04000000000002")
    add_attendee(store, "Nobody Unbound")
    assert [c.name for c in store.band_choices("пётр")] == ["Пётр Семёнов"]
    assert [c.name for c in store.band_choices("ANNA")] == ["Anna Smith"]
    assert len(store.band_choices("")) == 2


def test_verify_reports_stock_below_zero(store: Store) -> None:
    from store.demo.build import DEMO_EVENT
    from store.eventfile import load_event

    load_event(store, DEMO_EVENT, Actor(station="setup"))
    attendee = add_attendee(store)
    with store.db.write() as conn:
        prize, supplied = conn.execute(
            text("SELECT id, supplied FROM prize ORDER BY supplied LIMIT 1")
        ).one()
        # One person takes them all here: lift the per-person limit (verify checks it too).
        conn.execute(text("UPDATE prize SET per_person = 1000 WHERE id = :p"), {"p": prize})

    def hand_out(count: int) -> None:
        with store.db.write() as conn:
            for _ in range(count):
                op = new_id()
                conn.execute(
                    text(
                        "INSERT INTO operation (op_id, kind, station, correlation_id, created_at, "
                        "result) VALUES (:op, 'redeem', 's', 'c', :t, '')"
                    ),
                    {"op": op, "t": "2026-11-27 10:00:00"},
                )
                conn.execute(
                    text(
                        "INSERT INTO redemption (op_id, prize_id, attendee_id, created_at) "
                        "VALUES (:op, :p, :a, :t)"
                    ),
                    {"op": op, "p": prize, "a": attendee, "t": "2026-11-27 10:00:00"},
                )
                # As store.stock does: the unit is counted out in the same transaction.
                conn.execute(text("UPDATE prize SET taken = taken + 1 WHERE id = :p"), {"p": prize})

    hand_out(supplied)
    assert store.verify().ok
    hand_out(1)
    report = store.verify()
    assert report.violations == (
        f"Prize {prize}: {supplied + 1} counted out, {supplied + 1} handed out (not returned), "
        f"{supplied} supplied.",
    )
